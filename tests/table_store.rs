//! The table store against Azurite, the real emulator: the store contract, plus what only a
//! table can get wrong (signing, paging, limits, errors).
//!
//! Every test gets a table of its own in the one emulator the binary shares.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/azurite.rs"]
mod azurite;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use azure_transport::Transport;
use imageshare::{
    domain::State,
    store::{
        RequestStore, StoreError, TableStore,
        contract::{self, new_request, settled},
        table::{BearerSource, TokenError},
    },
};

fn transport() -> Transport {
    Transport::direct().expect("build the transport")
}

fn unique_table() -> String {
    format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..20])
}

/// A store on a fresh table of the shared emulator.
async fn fresh_store() -> TableStore {
    let store = TableStore::from_connection_string(
        &azurite::shared().connection_string(),
        &unique_table(),
        transport(),
    )
    .expect("a valid connection string");
    store.ensure_table().await.expect("create the table");
    store
}

macro_rules! contract_tests {
    ($($property:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $property() {
            contract::$property(&fresh_store().await).await;
        }
    )*};
}

contract_tests!(
    create_then_get_returns_what_was_stored,
    creating_twice_returns_the_first_content_as_existing,
    updating_at_the_current_etag_succeeds_and_changes_it,
    updating_at_a_stale_etag_is_a_conflict_and_writes_no_history,
    updating_a_missing_request_is_not_found,
    a_missing_request_reads_as_none_with_no_history,
    concurrent_read_modify_write_loops_lose_no_update,
    concurrent_creates_of_one_request_store_it_once,
    history_comes_back_oldest_first,
    list_active_excludes_terminal_requests,
    list_active_returns_every_page_past_1000,
    list_for_consumer_finds_that_tenants_requests_ended_or_not,
    a_rejection_is_stored_once_with_its_history,
    a_request_and_a_rejection_never_share_an_id,
    a_vm_claim_is_created_once_and_reads_back_exactly,
    a_vm_claim_is_taken_over_only_at_its_current_version,
    concurrent_first_claims_of_one_vm_grant_exactly_one,
);

#[tokio::test]
async fn ensuring_an_existing_table_is_fine() {
    let store = fresh_store().await;
    store.ensure_table().await.expect("a second ensure_table");
}

#[tokio::test]
async fn list_active_follows_continuation_tokens_page_by_page() {
    let store = fresh_store().await.with_page_size(2);
    let mut active = Vec::new();
    for i in 0..5 {
        let (request, first) = new_request(&format!("page-{i}"));
        store.create(&request, &[first]).await.expect("create");
        active.push(request.id);
    }
    let (mut failed, first) = new_request("page-failed");
    store.create(&failed, &[first]).await.expect("create");
    let stored = store.get(failed.id).await.unwrap().unwrap();
    let entry = failed.fail("gave up", &contract_ctx()).unwrap();
    settled(&mut failed);
    store.update(&failed, &stored.etag, &[entry]).await.unwrap();

    let mut listed: Vec<_> = store
        .list_active()
        .await
        .expect("list_active")
        .into_iter()
        .map(|s| s.request.id)
        .collect();
    listed.sort();
    active.sort();
    assert_eq!(
        listed, active,
        "pages of 2 must add up to all 5 active requests"
    );
}

#[tokio::test]
async fn history_follows_continuation_tokens_page_by_page() {
    let store = fresh_store().await.with_page_size(3);
    let (mut request, first) = new_request("history-pages");
    store.create(&request, &[first]).await.expect("create");
    let mut etag = store.get(request.id).await.unwrap().unwrap().etag;
    let entries: Vec<_> = (0..9)
        .map(|i| request.note(&format!("n{i}"), "paged", &contract_ctx()))
        .collect();
    etag = store
        .update(&request, &etag, &entries)
        .await
        .expect("update");
    assert!(!etag.0.is_empty());
    let seqs: Vec<u32> = store
        .history(request.id)
        .await
        .expect("history")
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(seqs, (1..=10).collect::<Vec<_>>());
}

/// The record replace is the transaction's first operation and succeeds on its own; the
/// history insert after it collides. The emulator must roll the replace back.
#[tokio::test]
async fn a_transaction_failing_after_its_first_write_leaves_the_record_unchanged() {
    let store = fresh_store().await;
    let (request, first) = new_request("rollback");
    store
        .create(&request, std::slice::from_ref(&first))
        .await
        .unwrap();
    let before = store.get(request.id).await.unwrap().unwrap();

    let mut changed = request.clone();
    changed.note("ignored", "never lands", &contract_ctx());
    // Re-sending entry 1, which exists, makes the second operation fail.
    match store.update(&changed, &before.etag, &[first]).await {
        Err(StoreError::Conflict) => {}
        other => panic!("a colliding history row answered {other:?}"),
    }
    let after = store.get(request.id).await.unwrap().unwrap();
    assert_eq!(after.etag, before.etag, "the record was replaced");
    assert_eq!(after.request, request);
    assert_eq!(store.history(request.id).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_document_over_64_kib_is_refused_and_nothing_is_stored() {
    let store = fresh_store().await;
    let (mut request, first) = new_request("huge");
    request.failure = Some("x".repeat(40 * 1024));
    match store.create(&request, &[first]).await {
        Err(StoreError::Corrupt(message)) => assert!(message.contains("Document"), "{message}"),
        other => panic!("a 40K-character document answered {other:?}"),
    }
    assert!(store.get(request.id).await.expect("get").is_none());
}

#[tokio::test]
async fn a_request_signed_with_the_wrong_key_is_refused_as_unavailable() {
    let emulator = azurite::shared();
    let wrong = emulator
        .connection_string()
        .replace(azurite::DEV_KEY, "AAECAwQFBgcICQoLDA0ODw==");
    let store = TableStore::from_connection_string(&wrong, &unique_table(), transport()).unwrap();
    match store.ensure_table().await {
        Err(StoreError::Unavailable(message)) => {
            assert!(message.contains("403"), "{message}");
        }
        other => panic!("a bad signature answered {other:?}"),
    }
}

/// A missing table is a broken deployment, not a missing request: `get` must not say `None`.
#[tokio::test]
async fn a_missing_table_is_unavailable_rather_than_an_absent_request() {
    let store = TableStore::from_connection_string(
        &azurite::shared().connection_string(),
        &unique_table(),
        transport(),
    )
    .unwrap();
    let (mut request, first) = new_request("no-table");
    let read = store.get(request.id).await;
    assert!(
        matches!(&read, Err(StoreError::Unavailable(m)) if m.contains("TableNotFound")),
        "{read:?}"
    );
    let entry = request.note("x", "y", &contract_ctx());
    let etag = imageshare::store::ETag("W/\"datetime'2025-01-01T00%3A00%3A00.0000000Z'\"".into());
    let update = store.update(&request, &etag, &[first, entry]).await;
    assert!(
        matches!(&update, Err(StoreError::Unavailable(_))),
        "{update:?}"
    );
}

#[tokio::test]
async fn an_unreachable_service_is_unavailable() {
    // Bind then drop: nothing listens on this port any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let store = TableStore::from_connection_string(
        &format!(
            "AccountName=devstoreaccount1;AccountKey={};TableEndpoint=http://127.0.0.1:{port}/devstoreaccount1",
            azurite::DEV_KEY
        ),
        "ShareRequests",
        transport(),
    )
    .unwrap();
    assert!(matches!(
        store.get(imageshare::domain::RequestId::new_random()).await,
        Err(StoreError::Unavailable(_))
    ));
}

#[tokio::test]
async fn stored_state_columns_match_the_document_after_a_terminal_update() {
    let store = fresh_store().await;
    let (mut request, first) = new_request("columns");
    store.create(&request, &[first]).await.unwrap();
    let etag = store.get(request.id).await.unwrap().unwrap().etag;
    let entry = request.fail("stopped", &contract_ctx()).unwrap();
    store.update(&request, &etag, &[entry]).await.unwrap();
    let got = store.get(request.id).await.unwrap().unwrap();
    assert_eq!(got.request.state(), State::Failed);
    // Ended with its events still to send: the reconciler must find it.
    assert!(
        store
            .list_active()
            .await
            .unwrap()
            .iter()
            .any(|s| s.request.id == request.id)
    );
    // Once its outbox is sent, it is off the list.
    let mut sent = got.request.clone();
    settled(&mut sent);
    store.update(&sent, &got.etag, &[]).await.unwrap();
    assert!(
        store
            .list_active()
            .await
            .unwrap()
            .iter()
            .all(|s| s.request.id != request.id)
    );
}

fn contract_ctx() -> imageshare::domain::EventContext {
    imageshare::domain::EventContext {
        at: time::OffsetDateTime::now_utc(),
        actor: imageshare::domain::Actor::Pipeline,
        caller: None,
        invocation_id: None,
    }
}

/// A fixed token, standing in for `azure_identity`.
struct FixedToken;

#[async_trait]
impl BearerSource for FixedToken {
    async fn token(&self) -> Result<String, TokenError> {
        Ok("eyJ0eXAiOiJKV1QifQ.test-token".to_owned())
    }
}

/// Azurite refuses bearer tokens over plain http, so a loopback server records what an
/// identity-based store sends instead.
#[tokio::test]
async fn an_identity_based_store_sends_a_bearer_token_with_an_oauth_capable_version() {
    use axum::{Router, http::HeaderMap, http::StatusCode, routing::post};

    let seen: Arc<Mutex<Vec<HeaderMap>>> = Arc::default();
    let record = seen.clone();
    let app = Router::new().route(
        "/Tables",
        post(move |headers: HeaderMap| {
            let record = record.clone();
            async move {
                record.lock().unwrap().push(headers);
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let store = TableStore::with_bearer(
        &format!("http://{addr}"),
        "ShareRequests",
        Arc::new(FixedToken),
        transport(),
    )
    .unwrap();
    store.ensure_table().await.expect("create the table");

    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    let h = &seen[0];
    assert_eq!(
        h["authorization"].to_str().unwrap(),
        "Bearer eyJ0eXAiOiJKV1QifQ.test-token"
    );
    assert_eq!(h["x-ms-version"].to_str().unwrap(), "2019-02-02");
    assert!(h.contains_key("x-ms-date"));
    assert!(!format!("{store:?}").contains("test-token"));
}

mod throttle_board {
    use std::time::{Duration, SystemTime};

    use imageshare::azure::throttle_board::{Closed, SharedGate, ThrottleBoard};

    use super::fresh_store;

    fn gate(bucket: &str, until: SystemTime, code: &str) -> SharedGate {
        SharedGate {
            bucket: bucket.to_owned(),
            closed: Closed {
                until,
                code: code.to_owned(),
                message: format!("{code}: try again later"),
            },
        }
    }

    #[tokio::test]
    async fn a_bucket_posted_twice_keeps_the_later_end_and_only_closed_gates_are_read() {
        let store = fresh_store().await;
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let writes = "Azure Resource Manager|subscriptions/s|writes|t/o";
        let reads = "Azure Resource Manager|subscriptions/s|reads|t/o";

        store
            .post(&gate(writes, t0 + Duration::from_secs(30), "later"))
            .await
            .unwrap();
        // An instance whose 429 said less does not shorten it.
        store
            .post(&gate(writes, t0 + Duration::from_secs(5), "sooner"))
            .await
            .unwrap();
        store
            .post(&gate(reads, t0 + Duration::from_secs(2), "reads"))
            .await
            .unwrap();

        let mut at_1 = store.closed_at(t0 + Duration::from_secs(1)).await.unwrap();
        at_1.sort_by(|a, b| a.bucket.cmp(&b.bucket));
        assert_eq!(
            at_1,
            vec![
                gate(reads, t0 + Duration::from_secs(2), "reads"),
                gate(writes, t0 + Duration::from_secs(30), "later"),
            ]
        );
        let at_10 = store.closed_at(t0 + Duration::from_secs(10)).await.unwrap();
        assert_eq!(
            at_10,
            vec![gate(writes, t0 + Duration::from_secs(30), "later")]
        );
        // A longer 429 moves it on.
        store
            .post(&gate(writes, t0 + Duration::from_secs(60), "longer"))
            .await
            .unwrap();
        let at_40 = store.closed_at(t0 + Duration::from_secs(40)).await.unwrap();
        assert_eq!(
            at_40,
            vec![gate(writes, t0 + Duration::from_secs(60), "longer")]
        );
    }

    #[tokio::test]
    async fn two_instances_posting_one_bucket_at_once_keep_the_later_end() {
        let store = fresh_store().await;
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let bucket = "Microsoft Graph||any|t/o";
        let posts = (1..=8u64).map(|s| {
            let store = store.clone();
            async move {
                store
                    .post(&gate(bucket, t0 + Duration::from_secs(s), "x"))
                    .await
            }
        });
        for posted in futures::future::join_all(posts).await {
            posted.unwrap();
        }
        let closed = store.closed_at(t0).await.unwrap();
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].closed.until, t0 + Duration::from_secs(8));
    }
}
