//! The real Azure CLI, from PyPI, against the simulator.
//!
//! The first use installs the pinned `azure-cli` into a venv under the workspace `target`
//! directory (`{target}/azure-cli/{version}/venv`), under a file lock so parallel test binaries
//! do not race, and writes a marker once the install succeeded. Each [`AzEnv`] starts the
//! TLS-terminating proxy `proxy.py` (in that venv, using the `cryptography` package azure-cli
//! depends on) in front of a simulator, and runs `az` with exactly four variables set:
//! `HTTPS_PROXY`, `REQUESTS_CA_BUNDLE` (the proxy's CA), `AZURE_CONFIG_DIR` (one per person
//! at the keyboard) and `AZURE_CORE_COLLECT_TELEMETRY=false`. Nothing in the CLI is patched
//! and no cloud is registered: it talks to `https://login.microsoftonline.com`,
//! `https://graph.microsoft.com` and `https://management.azure.com` as it does in Azure.
//!
//! Missing Python 3 (with `venv`) or a failed install is a test failure that says so.

#![allow(dead_code, clippy::expect_used, clippy::unwrap_used)]

use std::{
    fs::File,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, ChildStdin, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;

/// The azure-cli release the tests pin.
pub const AZURE_CLI_VERSION: &str = "2.91.0";

/// The workspace `target` directory: `CARGO_TARGET_DIR`, else the test binary's
/// `{target}/{profile}/deps/` grandparent.
fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .expect("the test binary lives in {target}/{profile}/deps")
}

fn install_dir() -> PathBuf {
    target_dir().join("azure-cli").join(AZURE_CLI_VERSION)
}

fn venv_bin(name: &str) -> PathBuf {
    install_dir().join("venv").join("bin").join(name)
}

fn run_checked(cmd: &mut Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("the Azure CLI tests need Python 3 with venv: {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Installs the pinned CLI unless its marker is there; returns the `az` entry point.
pub fn ensure_installed() -> PathBuf {
    let dir = install_dir();
    let marker = dir.join("installed");
    let az = venv_bin("az");
    if marker.exists() && az.exists() {
        return az;
    }
    std::fs::create_dir_all(&dir).expect("create the Azure CLI install directory");
    let lock = File::create(dir.join("install.lock")).expect("create the install lock");
    lock.lock().expect("lock the Azure CLI install");
    if !marker.exists() {
        let started = Instant::now();
        run_checked(
            Command::new("python3")
                .args(["-m", "venv", "--clear"])
                .arg(dir.join("venv")),
            "python3 -m venv",
        );
        run_checked(
            Command::new(venv_bin("python"))
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--disable-pip-version-check",
                    "--no-input",
                    "--quiet",
                ])
                .arg(format!("azure-cli=={AZURE_CLI_VERSION}")),
            &format!("pip install azure-cli=={AZURE_CLI_VERSION}"),
        );
        std::fs::write(&marker, AZURE_CLI_VERSION).expect("write the install marker");
        eprintln!(
            "installed azure-cli {AZURE_CLI_VERSION} in {:.0?}",
            started.elapsed()
        );
    }
    az
}

/// The proxy in front of one simulator.
pub struct Proxy {
    child: Child,
    _stdin: ChildStdin,
    port: u16,
    ca: PathBuf,
}

impl Proxy {
    fn start(sim_url: &str, dir: &Path) -> Self {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/azcli/proxy.py");
        let mut child = Command::new(venv_bin("python"))
            .arg(script)
            .arg(sim_url)
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the proxy");
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the proxy's first line");
        let port = line
            .trim()
            .strip_prefix("proxy listening on ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("the proxy did not start: {line:?}"));
        Self {
            child,
            _stdin: stdin,
            port,
            ca: dir.join("ca.pem"),
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one `az` command did.
#[derive(Debug)]
pub struct Outcome {
    /// The command line, for messages.
    pub command: String,
    /// Exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// How long it took.
    pub took: Duration,
}

impl Outcome {
    /// Standard output as JSON (`-o json` is the CLI's default).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "`{}` printed no JSON ({e}):\n{}\n{}",
                self.command, self.stdout, self.stderr
            )
        })
    }
}

/// The CLI wired to one simulator, with a config directory per person.
pub struct AzEnv {
    az: PathBuf,
    proxy: Proxy,
    dir: PathBuf,
}

impl AzEnv {
    /// Installs the CLI if needed and starts a proxy to `sim_url` (`http://127.0.0.1:PORT`).
    pub fn new(sim_url: &str, name: &str) -> Self {
        let az = ensure_installed();
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("azcli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the test's directory");
        let proxy = Proxy::start(sim_url, &dir.join("proxy"));
        Self { az, proxy, dir }
    }

    /// Runs `az {args}` as `person` (their own `AZURE_CONFIG_DIR`).
    pub async fn run(&self, person: &str, args: &[&str]) -> Outcome {
        let config = self.dir.join(format!("config-{person}"));
        let mut cmd = tokio::process::Command::new(&self.az);
        cmd.args(args)
            // Only these four are set; proxy settings the machine may have are not ours.
            .env(
                "HTTPS_PROXY",
                format!("http://127.0.0.1:{}", self.proxy.port),
            )
            .env("REQUESTS_CA_BUNDLE", &self.proxy.ca)
            .env("AZURE_CONFIG_DIR", &config)
            .env("AZURE_CORE_COLLECT_TELEMETRY", "false")
            .env_remove("HTTP_PROXY")
            .env_remove("http_proxy")
            .env_remove("https_proxy")
            .env_remove("ALL_PROXY")
            .env_remove("all_proxy")
            .env_remove("NO_PROXY")
            .env_remove("no_proxy")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let started = Instant::now();
        let out = cmd.output().await.expect("run az");
        let outcome = Outcome {
            command: format!("az {}", redact(args).join(" ")),
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            took: started.elapsed(),
        };
        eprintln!(
            "{} -> {} in {:.1?}",
            outcome.command, outcome.code, outcome.took
        );
        outcome
    }

    /// Runs `az {args}` and insists on exit code 0.
    pub async fn ok(&self, person: &str, args: &[&str]) -> Outcome {
        let outcome = self.run(person, args).await;
        assert_eq!(
            outcome.code, 0,
            "`{}` failed:\n{}\n{}",
            outcome.command, outcome.stdout, outcome.stderr
        );
        outcome
    }

    /// Runs `az {args}` and insists that it fails, printing `expected` on stderr.
    pub async fn fails_with(&self, person: &str, args: &[&str], expected: &str) -> Outcome {
        let outcome = self.run(person, args).await;
        assert_ne!(
            outcome.code, 0,
            "`{}` should have failed:\n{}",
            outcome.command, outcome.stdout
        );
        assert!(
            outcome.stderr.contains(expected),
            "`{}` failed without {expected:?}:\n{}",
            outcome.command,
            outcome.stderr
        );
        outcome
    }
}

impl Drop for AzEnv {
    /// The configuration directories hold the simulator's tokens and the app's secret:
    /// they go with the test.
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The arguments with the value after `-p`/`--password` hidden (for messages).
fn redact(args: &[&str]) -> Vec<String> {
    let mut out = vec![];
    let mut hide = false;
    for a in args {
        out.push(if hide {
            "***".to_owned()
        } else {
            (*a).to_owned()
        });
        hide = matches!(*a, "-p" | "--password");
    }
    out
}
