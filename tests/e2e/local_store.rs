//! Where the local run keeps share requests: Table Storage on Azurite by default, so killing
//! the handler loses nothing; the handler's memory with `--memory`, which a restart empties.

use std::time::{Duration, Instant};

use imageshare::domain::RequestId;
use local_run::stack::{LocalStore, Stack, demo_request};

use crate::stack::start_with;

/// Submits the demo request under `key`; a 503 while the handler creates its table at
/// start-up is retried, as the problem document says to.
async fn submit(stack: &Stack, key: &str) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let response = client
            .post(format!("{}/api/share-requests", stack.base_url))
            .header("Idempotency-Key", key)
            .json(&demo_request())
            .send()
            .await
            .unwrap();
        match response.status().as_u16() {
            202 => return,
            503 if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(500)).await
            }
            other => panic!(
                "submit answered {other}: {}",
                response.text().await.unwrap()
            ),
        }
    }
}

/// Kills the handler process and waits for func-host to start the next one.
async fn restart_handler(stack: &Stack) {
    let worker = stack.host.worker();
    let before = worker.endpoint().await.unwrap();
    worker.restart(before.generation);
    let after = worker.endpoint().await.unwrap();
    assert!(
        after.generation > before.generation,
        "the handler was not restarted"
    );
}

async fn status_after_restart(store: LocalStore, key: &str) -> u16 {
    let (stack, _scratch) = start_with(store, &[]).await;
    assert_eq!(stack.azurite.is_some(), store == LocalStore::Azurite);
    submit(&stack, key).await;

    restart_handler(&stack).await;

    let id = RequestId::for_http_idempotency_key(key);
    let status = reqwest::get(format!("{}/api/share-requests/{id}", stack.base_url))
        .await
        .unwrap()
        .status()
        .as_u16();
    stack.shutdown().await.unwrap();
    status
}

#[tokio::test]
async fn a_request_survives_a_handler_restart_in_the_default_azurite_table_store() {
    assert_eq!(
        status_after_restart(LocalStore::Azurite, "local-kept").await,
        200
    );
}

#[tokio::test]
async fn with_memory_asked_for_a_handler_restart_loses_the_request() {
    assert_eq!(
        status_after_restart(LocalStore::Memory, "local-lost").await,
        404
    );
}
