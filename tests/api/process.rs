//! The built `handler` executable, started the way the host starts it.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;

use crate::helpers::settings_pairs;

struct Handler {
    child: Child,
    port: u16,
}

impl Drop for Handler {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(port_variable: &str) -> Handler {
    let port = free_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_handler"));
    command.env_clear();
    for (k, v) in settings_pairs()
        .into_iter()
        .filter(|(k, _)| !k.starts_with("FUNCTIONS_"))
    {
        command.env(k, v);
    }
    // App Service's managed identity endpoint; never called by these tests.
    let child = command
        .env("IDENTITY_ENDPOINT", "http://127.0.0.1:9/msi/token")
        .env("IDENTITY_HEADER", "unused")
        .env(port_variable, port.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    Handler { child, port }
}

/// Polls `GET /` as the host does, every 25 ms.
async fn wait_ready(handler: &Handler) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if client
            .get(format!("http://127.0.0.1:{}/", handler.port))
            .send()
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the handler never answered GET /");
}

#[tokio::test]
async fn the_handler_binds_the_custom_handler_port_and_answers_readiness() {
    let handler = start("FUNCTIONS_CUSTOMHANDLER_PORT");
    wait_ready(&handler).await;
    let response = reqwest::get(format!("http://127.0.0.1:{}/", handler.port))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn the_handler_falls_back_to_the_legacy_port_variable() {
    let handler = start("FUNCTIONS_HTTPWORKER_PORT");
    wait_ready(&handler).await;
}

#[tokio::test]
async fn the_handler_logs_json_lines_carrying_the_invocation_id() {
    let mut handler = start("FUNCTIONS_CUSTOMHANDLER_PORT");
    wait_ready(&handler).await;
    let body = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/invocations/IssueCredentials.json"),
    )
    .unwrap();
    let response = reqwest::Client::new()
        .post(format!(
            "http://127.0.0.1:{}/IssueCredentials",
            handler.port
        ))
        .header(
            "x-azure-functions-invocationid",
            "0d6c4b8e-7a51-4b2e-9f03-5c1e2d4a6b7c",
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let _ = handler.child.kill();
    let _ = handler.child.wait();

    // Information goes to stdout (the host logs it at Information); warnings and errors go
    // to stderr.
    let stderr = BufReader::new(handler.child.stderr.take().unwrap());
    let errors: Vec<Value> = stderr
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str(&l).ok())
        .collect();
    assert!(
        errors
            .iter()
            .all(|l| l["level"] == "WARN" || l["level"] == "ERROR"),
        "{errors:?}"
    );
    let stdout = BufReader::new(handler.child.stdout.take().unwrap());
    let lines: Vec<Value> = stdout
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str(&l).ok())
        .collect();
    let tagged: Vec<&Value> = lines
        .iter()
        .filter(|l| {
            l["spans"].as_array().is_some_and(|spans| {
                spans
                    .iter()
                    .any(|s| s["invocation_id"] == "0d6c4b8e-7a51-4b2e-9f03-5c1e2d4a6b7c")
            })
        })
        .collect();
    assert!(
        !tagged.is_empty(),
        "no log line carries the invocation id: {lines:?}"
    );
    assert!(
        tagged
            .iter()
            .all(|l| l["level"] == "INFO" || l["level"] == "DEBUG")
    );
}

#[tokio::test]
async fn a_handler_without_its_settings_exits_non_zero_saying_which() {
    let output = Command::new(env!("CARGO_BIN_EXE_handler"))
        .env_clear()
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("FUNCTIONS_CUSTOMHANDLER_PORT"), "{stderr}");
}
