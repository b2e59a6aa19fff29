"""A TLS-terminating HTTPS proxy for the Azure CLI test: what reaches it as
`CONNECT {host}:443` is answered with a certificate for `{host}` signed by a CA of its own,
and every request inside the tunnel, `https://{host}/{path}`, is sent on to the simulator
as `{sim}/{host}/{path}` (DESIGN.md section 5: the simulator serves Azure's hosts under
their names and answers with absolute https URLs, which come back through this proxy).

It runs in the CLI's own venv and uses only `cryptography` (an azure-cli dependency) and the
standard library. Usage: proxy.py SIM_URL STATE_DIR; it writes STATE_DIR/ca.pem (the bundle
the CLI trusts through REQUESTS_CA_BUNDLE) and prints `proxy listening on PORT`, then serves
until its stdin closes.
"""

import datetime
import http.client
import os
import socket
import socketserver
import ssl
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SIM = urllib.parse.urlsplit(sys.argv[1])
STATE = sys.argv[2]
NOW = datetime.datetime.now(datetime.timezone.utc)


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write_key(path, key):
    with open(path, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )


CA_KEY = ec.generate_private_key(ec.SECP256R1())
CA_CERT = (
    x509.CertificateBuilder()
    .subject_name(_name("azure-sim test proxy CA"))
    .issuer_name(_name("azure-sim test proxy CA"))
    .public_key(CA_KEY.public_key())
    .serial_number(x509.random_serial_number())
    .not_valid_before(NOW - datetime.timedelta(days=1))
    .not_valid_after(NOW + datetime.timedelta(days=30))
    .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
    .add_extension(
        x509.KeyUsage(False, False, False, False, False, True, True, False, False),
        critical=True,
    )
    .add_extension(
        x509.SubjectKeyIdentifier.from_public_key(CA_KEY.public_key()), critical=False
    )
    .sign(CA_KEY, hashes.SHA256())
)
os.makedirs(STATE, exist_ok=True)
with open(os.path.join(STATE, "ca.pem"), "wb") as f:
    f.write(CA_CERT.public_bytes(serialization.Encoding.PEM))

_contexts = {}
_contexts_lock = threading.Lock()


def context_for(host):
    """A server TLS context presenting a certificate for `host`, made once per host."""
    with _contexts_lock:
        if host in _contexts:
            return _contexts[host]
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(host))
            .issuer_name(CA_CERT.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - datetime.timedelta(days=1))
            .not_valid_after(NOW + datetime.timedelta(days=30))
            .add_extension(
                x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False
            )
            .add_extension(
                x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(CA_KEY.public_key()),
                critical=False,
            )
            .sign(CA_KEY, hashes.SHA256())
        )
        base = os.path.join(STATE, "hosts")
        os.makedirs(base, exist_ok=True)
        cert_path = os.path.join(base, host + ".pem")
        key_path = os.path.join(base, host + ".key")
        with open(cert_path, "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(key_path, key)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert_path, key_path)
        _contexts[host] = ctx
        return ctx


# Hop-by-hop headers (RFC 9110 section 7.6.1) are not forwarded.
HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
}


class Tunnelled(BaseHTTPRequestHandler):
    """One request inside a CONNECT tunnel, forwarded to the simulator."""

    protocol_version = "HTTP/1.1"
    host = ""

    def log_message(self, *args):
        pass

    def _forward(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                body += self.rfile.read(size)
                self.rfile.readline()
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        headers["Host"] = self.host
        if body is not None:
            headers["Content-Length"] = str(len(body))
        conn = http.client.HTTPConnection(SIM.hostname, SIM.port, timeout=300)
        try:
            conn.request(self.command, "/" + self.host + self.path, body, headers)
            resp = conn.getresponse()
            data = resp.read()
            self.send_response_only(resp.status, resp.reason)
            for k, v in resp.getheaders():
                if k.lower() not in HOP and k.lower() != "content-length":
                    self.send_header(k, v)
            if self.command != "HEAD":
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
        finally:
            conn.close()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _forward


class Proxy(socketserver.StreamRequestHandler):
    """The proxy's own connection: a CONNECT, then the tunnelled HTTP/1.1 requests."""

    def handle(self):
        line = self.rfile.readline(65536).decode("latin-1")
        while self.rfile.readline(65536) not in (b"\r\n", b"\n", b""):
            pass
        parts = line.split()
        if len(parts) < 2 or parts[0].upper() != "CONNECT":
            self.wfile.write(
                b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n"
                b"Connection: close\r\n\r\n"
            )
            return
        host = parts[1].rsplit(":", 1)[0]
        self.wfile.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        self.wfile.flush()
        try:
            tls = context_for(host).wrap_socket(self.connection, server_side=True)
        except (ssl.SSLError, OSError):
            return
        handler = type("Tunnel", (Tunnelled,), {"host": host})
        try:
            handler(tls, self.client_address, self.server)
        except (ssl.SSLError, ConnectionError, OSError):
            pass
        finally:
            try:
                tls.close()
            except OSError:
                pass


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    server = Server(("127.0.0.1", 0), Proxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print("proxy listening on %d" % server.server_address[1], flush=True)
    sys.stdin.read()
    server.shutdown()


if __name__ == "__main__":
    main()
