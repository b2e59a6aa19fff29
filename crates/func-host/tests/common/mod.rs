//! Shared test scaffolding: a staged app around the test handler, and the host on port 0.

#![allow(dead_code, clippy::unwrap_used)] // test support: panics are the failure report

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use func_host::{HostOptions, RunningHost, StageOptions, stage_app};
use serde_json::{Value, json};

/// A staged app directory in a temporary folder.
pub struct App {
    _root: tempfile::TempDir,
    pub dir: PathBuf,
}

impl App {
    /// Stages `host.json` + `functions/<Name>/function.json` with the test handler, and
    /// writes the handler's `behaviour.json`.
    pub fn new(host_json: &Value, functions: &[(&str, Value)], behaviour: &Value) -> Self {
        let root = tempfile::tempdir().unwrap();
        let src = root.path().join("src");
        std::fs::create_dir_all(src.join("functions")).unwrap();
        std::fs::write(src.join("host.json"), host_json.to_string()).unwrap();
        for (name, function_json) in functions {
            let dir = src.join("functions").join(name);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("function.json"), function_json.to_string()).unwrap();
        }
        let dir = root.path().join("app");
        stage_app(&StageOptions {
            source_root: src,
            handler_binary: PathBuf::from(env!("CARGO_BIN_EXE_func-host-test-handler")),
            out_dir: dir.clone(),
            local_settings: None,
        })
        .unwrap();
        std::fs::write(dir.join("behaviour.json"), behaviour.to_string()).unwrap();
        Self { _root: root, dir }
    }

    /// Every request the handler recorded (probes excluded), in order.
    pub fn requests(&self) -> Vec<Value> {
        read_lines(&self.dir.join("requests.jsonl"))
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Requests to `path`.
    pub fn requests_to(&self, path: &str) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|r| r["path"] == path)
            .collect()
    }

    /// How many times the handler process started.
    pub fn starts(&self) -> usize {
        read_lines(&self.dir.join("starts.log")).len()
    }
}

fn read_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .map(|t| t.lines().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// host.json for the test handler with extra top-level settings merged in.
pub fn host_json(extra: Value) -> Value {
    let mut base = json!({
        "version": "2.0",
        "customHandler": {"description": {"defaultExecutablePath": "bin/handler"}},
        "extensionBundle": {"id": "Microsoft.Azure.Functions.ExtensionBundle", "version": "[4.*, 5.0.0)"}
    });
    merge(&mut base, extra);
    base
}

fn merge(base: &mut Value, extra: Value) {
    match (base, extra) {
        (Value::Object(b), Value::Object(e)) => {
            for (k, v) in e {
                match b.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

/// Starts the host for `app` on a free port.
pub async fn start(app: &App, settings: &[(&str, &str)], azure_sim: Option<String>) -> RunningHost {
    let mut options = HostOptions::new(&app.dir);
    options.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    options.azure_sim = azure_sim;
    options.settings = settings
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    options.shutdown_grace = Duration::from_secs(2);
    func_host::start(options).await.unwrap()
}

/// Polls `check` until it returns Some; fails after a generous deadline (not a timing
/// assertion: it only bounds a hung test).
pub async fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Parses an invocation body the handler recorded.
pub fn body_of(request: &Value) -> Value {
    serde_json::from_str(request["body"].as_str().unwrap()).unwrap()
}
