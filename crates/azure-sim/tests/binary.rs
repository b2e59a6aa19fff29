//! The `azure-sim` binary: its first stdout line is a contract scripts wait for.

// Helpers outside #[test] functions unwrap too: this is test code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};

struct Child(tokio::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.start_kill();
    }
}

async fn start(scenario: &str) -> (Child, String) {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_azure-sim"))
        .args(["--listen", "127.0.0.1:0", "--scenario", scenario])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next_line().await.unwrap().unwrap();
    (Child(child), first)
}

/// The scenario the simulator at `url` serves, from its admin API.
async fn scenario_served_at(url: &str) -> serde_json::Value {
    reqwest::get(format!("{url}/_sim/scenario"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_binary_announces_its_address_first_and_serves_the_demo() {
    let (_child, first) = start("demo").await;
    let url = first
        .strip_prefix("azure-sim listening on http://127.0.0.1:")
        .map(|port| format!("http://127.0.0.1:{port}"));
    let url = url.unwrap_or_else(|| panic!("unexpected first line: {first}"));
    let scenario = scenario_served_at(&url).await;
    assert_eq!(scenario["tenants"][1]["domain"], "fabrikam.onmicrosoft.com");
}

#[tokio::test]
async fn the_binary_loads_a_scenario_file() {
    let readme = include_str!("../README.md");
    let marker = "<!-- scenario-example -->\n```json\n";
    let start_at = readme.find(marker).unwrap() + marker.len();
    let json = &readme[start_at..start_at + readme[start_at..].find("```").unwrap()];
    let path = std::env::temp_dir().join(format!("azure-sim-scenario-{}.json", std::process::id()));
    std::fs::write(&path, json).unwrap();
    let (_child, first) = start(path.to_str().unwrap()).await;
    std::fs::remove_file(&path).unwrap();
    let url = first
        .strip_prefix("azure-sim listening on ")
        .unwrap()
        .to_owned();
    let scenario = scenario_served_at(&url).await;
    assert_eq!(scenario["keyVaults"][0]["name"], "kv-example");
}

#[tokio::test]
async fn an_invalid_scenario_file_exits_with_status_2_and_says_why() {
    let path = std::env::temp_dir().join(format!("azure-sim-bad-{}.json", std::process::id()));
    std::fs::write(
        &path,
        r#"{"tenants": [], "users": [{"id": "u", "tenant": "missing", "userPrincipalName": "x"}]}"#,
    )
    .unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_azure-sim"))
        .args(["--scenario", path.to_str().unwrap()])
        .output()
        .await
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown tenant 'missing'"));
    assert!(output.stdout.is_empty());
}
