//! Starting the whole local stack for a test.

use std::{net::SocketAddr, path::PathBuf};

use azure_sim::Scenario;
use local_run::stack::{LocalStore, Stack, StackOptions};

/// A scratch directory removed when dropped.
pub struct Scratch(pub PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The demo scenario with Resource Manager asking for 1 s between polls instead of the
/// recorded 10-50 s: the handler honours `Retry-After`, and these tests run in real time.
pub fn fast_demo() -> Scenario {
    let mut scenario = Scenario::demo();
    scenario.arm.retry_after_seconds = Some(1);
    scenario
}

/// The stack with the demo scenario, on free ports, requests in the handler's memory.
pub async fn start(extra_settings: &[(&str, &str)]) -> (Stack, Scratch) {
    start_with(LocalStore::Memory, extra_settings).await
}

/// The stack with the demo scenario, on free ports, requests kept in `store`.
pub async fn start_with(store: LocalStore, extra_settings: &[(&str, &str)]) -> (Stack, Scratch) {
    start_scenario(fast_demo(), store, extra_settings).await
}

/// The stack with `scenario`, on free ports, requests kept in `store`.
pub async fn start_scenario(
    scenario: Scenario,
    store: LocalStore,
    extra_settings: &[(&str, &str)],
) -> (Stack, Scratch) {
    crate::logs::capture();
    let scratch =
        Scratch(std::env::temp_dir().join(format!("imageshare-e2e-{}", uuid::Uuid::new_v4())));
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let stack = Stack::start(StackOptions {
        source_root: PathBuf::from(env!("CARGO_MANIFEST_DIR")),
        handler_binary: PathBuf::from(env!("CARGO_BIN_EXE_handler")),
        app_dir: scratch.0.join("app"),
        listen: any,
        sim_listen: any,
        scenario,
        store,
        extra_settings: extra_settings
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    })
    .await
    .unwrap();
    (stack, scratch)
}

/// Every known secret value that occurs in `text`, by kind (never printing the value).
pub fn secrets_in(stack: &Stack, text: &str) -> Vec<String> {
    stack
        .sim
        .known_secrets()
        .into_iter()
        .filter(|s| s.value.len() >= 8 && text.contains(&s.value))
        .map(|s| format!("{:?}", s.kind))
        .collect()
}
