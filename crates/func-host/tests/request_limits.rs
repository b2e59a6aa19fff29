//! HTTP request bodies the host refuses, as Kestrel refuses them: over the limit (413),
//! broken framing (400); and bodies it forwards as a stream.

#![allow(clippy::unwrap_used)]

mod common;

use common::{App, host_json, start};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn forwarding_app() -> App {
    App::new(
        &host_json(json!({"customHandler": {"enableForwardingHttpRequest": true}})),
        &[(
            "Submit",
            json!({"bindings": [
                {"type": "httpTrigger", "direction": "in", "name": "req", "methods": ["post"], "route": "submit"},
                {"type": "http", "direction": "out", "name": "res"}]}),
        )],
        &json!({"functions": {"*": {"kind": "forward_echo"}}}),
    )
}

fn default_mode_app() -> App {
    App::new(
        &host_json(json!({})),
        &[(
            "Submit",
            json!({"bindings": [
                {"type": "httpTrigger", "direction": "in", "name": "req", "methods": ["post"], "route": "submit"},
                {"type": "http", "direction": "out", "name": "res"}]}),
        )],
        &json!({"functions": {"Submit": {"kind": "echo"}}}),
    )
}

/// Sends `head` (and `body`) on a raw connection and returns the status code the host
/// answers, or 0 when it closed the connection without one.
async fn raw_status(addr: std::net::SocketAddr, head: &str, body: &[u8]) -> u16 {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    // The host may answer (and close) before it has read all of this: that is the point.
    let _ = stream.write_all(body).await;
    let mut reply = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut reply),
    )
    .await;
    let text = String::from_utf8_lossy(&reply);
    text.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_declared_body_over_the_default_limit_is_refused_with_413_before_it_is_sent() {
    let app = forwarding_app();
    let host = start(&app, &[], None).await;

    let head = format!(
        "POST /api/submit HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        func_host::request_body::DEFAULT_LIMIT + 1
    );
    // Nothing of the 100 MiB is sent: the answer must not wait for it.
    let status = raw_status(host.addr(), &head, b"").await;

    assert_eq!(status, 413);
    assert!(
        app.requests_to("/api/submit").is_empty(),
        "the handler was called"
    );
    host.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_body_over_the_configured_limit_is_refused_with_413_in_both_modes_and_however_sent() {
    for (mode, app) in [
        ("forwarding", forwarding_app()),
        ("default", default_mode_app()),
    ] {
        let host = start(&app, &[("FUNCTIONS_REQUEST_BODY_SIZE_LIMIT", "1024")], None).await;
        let url = format!("http://{}/api/submit", host.addr());
        let client = reqwest::Client::new();

        let declared = client
            .post(&url)
            .body(vec![b'x'; 1025])
            .send()
            .await
            .unwrap();
        let chunks =
            futures::stream::iter((0..8).map(|_| Ok::<_, std::io::Error>(vec![b'x'; 512])));
        let chunked = client
            .post(&url)
            .body(reqwest::Body::wrap_stream(chunks))
            .send()
            .await
            .unwrap();
        let at_limit = client
            .post(&url)
            .body(vec![b'x'; 1024])
            .send()
            .await
            .unwrap();

        assert_eq!(
            declared.status(),
            413,
            "{mode}: Content-Length over the limit"
        );
        assert_eq!(chunked.status(), 413, "{mode}: chunked over the limit");
        assert!(
            at_limit.status().is_success(),
            "{mode}: {}",
            at_limit.status()
        );
        host.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn a_malformed_chunked_body_is_refused_with_400_not_an_empty_500() {
    for (mode, app) in [
        ("forwarding", forwarding_app()),
        ("default", default_mode_app()),
    ] {
        let host = start(&app, &[], None).await;
        let head =
            "POST /api/submit HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n";

        let status = raw_status(
            host.addr(),
            head,
            b"4\r\nabcd\r\nzz\r\nnot a chunk\r\n0\r\n\r\n",
        )
        .await;

        assert_eq!(status, 400, "{mode}");
        host.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn a_forwarded_body_reaches_the_handler_whole() {
    let app = forwarding_app();
    let host = start(&app, &[], None).await;
    let body: String = (0..64 * 1024)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();

    let reply = reqwest::Client::new()
        .post(format!("http://{}/api/submit", host.addr()))
        .body(body.clone())
        .send()
        .await
        .unwrap();

    assert_eq!(reply.status(), 201);
    let seen: Value = reply.json().await.unwrap();
    assert_eq!(seen["body"], body);
    assert_eq!(seen["headers"]["content-length"], "65536", "not re-chunked");
    host.shutdown().await.unwrap();
}
