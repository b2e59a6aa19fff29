//! What every [`RequestStore`] must do, as runnable properties.
//!
//! Each property is its own function so a failing store names the property it breaks; the
//! memory store runs them in this module's tests, the table store against Azurite in
//! `tests/table_store.rs`. Properties only look at requests they created themselves, so they
//! can share one store with each other and with other data.

// A test suite: panicking with a message is how a property reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashSet};

use futures::{StreamExt, stream};
use time::{Duration, OffsetDateTime, macros::datetime};

use super::{Created, RejectedCreated, RequestStore, StoreError, Stored, VmClaim};
use crate::domain::{
    Actor, AdminUsername, Consumer, EmailAddress, EventContext, FieldIssue, HistoryEntry,
    ImageVersionId, Location, Origin, RejectedRequest, RequestId, ResourceGroupName, ShareRequest,
    SshPublicKey, State, Strategy, Submission, SubscriptionId, TenantId, VmName, VmSize, VmSpec,
};

/// A valid submission (the values of the seeds' example request).
pub fn submission() -> Submission {
    Submission {
        strategy: Strategy::AppConsent,
        consumer: Consumer {
            tenant_id: TenantId::parse("22222222-2222-4222-8222-222222222222").unwrap(),
            subscription_id: SubscriptionId::parse("2b2b2b2b-2222-4222-8222-222222222222")
                .unwrap(),
            resource_group: ResourceGroupName::parse("rg-fabrikam-vms").unwrap(),
            admin_email: EmailAddress::parse("admin@fabrikam.onmicrosoft.com").unwrap(),
        },
        image: ImageVersionId::parse("/subscriptions/1a1a1a1a-1111-4111-8111-111111111111/resourceGroups/rg-images/providers/Microsoft.Compute/galleries/contosoGallery/images/ubuntu-hardened/versions/1.0.0").unwrap(),
        image_name: "ubuntu-hardened".into(),
        vm: Some(VmSpec {
            name: VmName::parse("vm-fabrikam-01").unwrap(),
            size: VmSize::parse("Standard_D2s_v5").unwrap(),
            location: Location::parse("eastus").unwrap(),
            admin_username: AdminUsername::parse("azureuser").unwrap(),
            ssh_public_key: SshPublicKey::parse("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMOVl3tuCvFLjCzvcWs4d1POvKZ4Mjxrg/KynhsrWpD2 ops@fabrikam").unwrap(),
            subnet_id: None,
        }),
        delegation: None,
        direct_share: None,
        guest: None,
    }
}

/// Sub-second precision on purpose: a store must give back the instant it was given.
const T0: OffsetDateTime = datetime!(2025-03-04 05:06:07.123_456_789 UTC);

fn ctx(step: i64) -> EventContext {
    EventContext {
        at: T0 + Duration::seconds(step),
        actor: Actor::Pipeline,
        caller: None,
        invocation_id: Some(format!("contract-{step}")),
    }
}

/// A new request with a fresh id, and its first history entry.
pub fn new_request(fingerprint: &str) -> (ShareRequest, HistoryEntry) {
    ShareRequest::submit(
        RequestId::new_random(),
        submission(),
        Origin::Http {
            idempotency_key: Some(format!("contract-{fingerprint}")),
        },
        fingerprint.to_owned(),
        &ctx(0),
    )
}

async fn created(store: &dyn RequestStore, fingerprint: &str) -> (ShareRequest, Stored) {
    let (request, first) = new_request(fingerprint);
    let etag = match store.create(&request, &[first]).await.expect("create") {
        Created::New(etag) => etag,
        Created::Existing(_) | Created::Rejected => {
            panic!("a request with a fresh id already existed")
        }
    };
    let stored = Stored {
        request: request.clone(),
        etag,
    };
    (request, stored)
}

async fn must_get(store: &dyn RequestStore, id: RequestId) -> Stored {
    store
        .get(id)
        .await
        .expect("get")
        .expect("the request exists")
}

/// `create` then `get` returns the request as stored, at the version `create` reported.
pub async fn create_then_get_returns_what_was_stored(store: &dyn RequestStore) {
    let (request, stored) = created(store, "create-get").await;
    let got = must_get(store, request.id).await;
    assert_eq!(got.request, request);
    assert_eq!(got.etag, stored.etag, "get disagrees with create's etag");
    let history = store.history(request.id).await.expect("history");
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].event, "submitted");
    assert_eq!(history[0].at, T0);
}

/// A second `create` with the same id stores nothing and returns the first request.
pub async fn creating_twice_returns_the_first_content_as_existing(store: &dyn RequestStore) {
    let (first, stored) = created(store, "first").await;
    let mut second = first.clone();
    second.fingerprint = "second".into();
    let entry = second.note("resubmitted", "a different body", &ctx(1));
    match store
        .create(&second, &[entry])
        .await
        .expect("second create")
    {
        Created::Existing(existing) => {
            assert_eq!(existing.request, first);
            assert_eq!(existing.etag, stored.etag);
        }
        Created::New(_) | Created::Rejected => {
            panic!("the second create replaced the first request")
        }
    }
    assert_eq!(must_get(store, first.id).await.request.fingerprint, "first");
    assert_eq!(store.history(first.id).await.expect("history").len(), 1);
}

/// Concurrent creates of one request store it once: one is `New`, the others `Existing`.
pub async fn concurrent_creates_of_one_request_store_it_once(store: &dyn RequestStore) {
    let (request, first) = new_request("racing");
    let results = futures::future::join_all(
        (0..4).map(|_| store.create(&request, std::slice::from_ref(&first))),
    )
    .await;
    let mut new = 0;
    for result in results {
        match result.expect("create") {
            Created::New(_) => new += 1,
            Created::Existing(existing) => assert_eq!(existing.request, request),
            Created::Rejected => panic!("a request read as a rejection"),
        }
    }
    assert_eq!(new, 1, "{new} creates claimed to be first");
    assert_eq!(store.history(request.id).await.expect("history").len(), 1);
}

/// An update at the version read succeeds, returns a new version, and `get` sees both.
pub async fn updating_at_the_current_etag_succeeds_and_changes_it(store: &dyn RequestStore) {
    let (mut request, stored) = created(store, "update").await;
    let entry = request
        .transition(
            State::CredentialsIssued,
            "credentials-issued",
            "ok",
            &ctx(1),
        )
        .unwrap();
    let etag = store
        .update(&request, &stored.etag, &[entry])
        .await
        .expect("update at the current etag");
    assert_ne!(etag, stored.etag, "the version did not change");
    let got = must_get(store, request.id).await;
    assert_eq!((got.request, got.etag), (request.clone(), etag));
    let events: Vec<_> = store
        .history(request.id)
        .await
        .expect("history")
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(events, ["submitted", "credentials-issued"]);
}

/// An update at an old version is `Conflict` and changes neither the record nor the history.
pub async fn updating_at_a_stale_etag_is_a_conflict_and_writes_no_history(
    store: &dyn RequestStore,
) {
    let (request, stale) = created(store, "stale").await;
    let mut winner = request.clone();
    let entry = winner.note("winner", "first writer", &ctx(1));
    store
        .update(&winner, &stale.etag, &[entry])
        .await
        .expect("first update");

    let mut loser = request.clone();
    let a = loser.note("loser-a", "stale writer", &ctx(2));
    let b = loser.note("loser-b", "stale writer", &ctx(3));
    match store.update(&loser, &stale.etag, &[a, b]).await {
        Err(StoreError::Conflict) => {}
        other => panic!("a stale update answered {other:?}"),
    }
    assert_eq!(must_get(store, request.id).await.request, winner);
    let events: Vec<_> = store
        .history(request.id)
        .await
        .expect("history")
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(
        events,
        ["submitted", "winner"],
        "the stale update left history behind"
    );
}

/// Updating a request that was never created is `NotFound`.
pub async fn updating_a_missing_request_is_not_found(store: &dyn RequestStore) {
    let (mut request, _) = new_request("missing");
    let entry = request.note("ghost", "never created", &ctx(1));
    let etag = super::ETag("W/\"datetime'2025-01-01T00%3A00%3A00.0000000Z'\"".into());
    match store.update(&request, &etag, &[entry]).await {
        Err(StoreError::NotFound(id)) => assert_eq!(id, request.id),
        other => panic!("updating a missing request answered {other:?}"),
    }
    assert!(store.get(request.id).await.expect("get").is_none());
}

/// A request that was never created reads as `None` with an empty history.
pub async fn a_missing_request_reads_as_none_with_no_history(store: &dyn RequestStore) {
    let id = RequestId::new_random();
    assert!(store.get(id).await.expect("get").is_none());
    assert!(store.history(id).await.expect("history").is_empty());
}

/// Writers per request and successful updates per writer in the concurrency property.
const WRITERS: usize = 8;
const ROUNDS: usize = 3;

/// Concurrent read-modify-write loops (re-read on `Conflict`) lose no update: every entry is
/// present exactly once and the seqs are contiguous.
pub async fn concurrent_read_modify_write_loops_lose_no_update(store: &dyn RequestStore) {
    let (request, _) = created(store, "concurrent").await;
    let writer = |w: usize| async move {
        let mut conflicts = 0_usize;
        for round in 0..ROUNDS {
            loop {
                let mut stored = must_get(store, request.id).await;
                let entry = stored.request.note(
                    "contract-write",
                    format!("writer {w} round {round}"),
                    &ctx(1),
                );
                // Let the other writers read the same version before this one writes.
                tokio::task::yield_now().await;
                match store.update(&stored.request, &stored.etag, &[entry]).await {
                    Ok(_) => break,
                    Err(StoreError::Conflict) => conflicts += 1,
                    Err(e) => panic!("writer {w}: {e}"),
                }
            }
        }
        conflicts
    };
    let conflicts: usize = futures::future::join_all((0..WRITERS).map(writer))
        .await
        .into_iter()
        .sum();

    let history = store.history(request.id).await.expect("history");
    let total = 1 + WRITERS * ROUNDS;
    let seqs: Vec<u32> = history.iter().map(|e| e.seq).collect();
    let expected: Vec<u32> = (1..=u32::try_from(total).unwrap()).collect();
    assert_eq!(
        seqs, expected,
        "seqs are not 1..={total} ({conflicts} conflicts)"
    );
    let mut seen = BTreeMap::new();
    for e in history.iter().skip(1) {
        *seen.entry(e.detail.clone()).or_insert(0) += 1;
    }
    for w in 0..WRITERS {
        for round in 0..ROUNDS {
            let detail = format!("writer {w} round {round}");
            assert_eq!(
                seen.get(&detail),
                Some(&1),
                "{detail} is not there exactly once"
            );
        }
    }
    let last = must_get(store, request.id).await;
    assert_eq!(last.request.history_len() as usize, total);
}

/// History comes back oldest first, including entries written together and past seq 9.
pub async fn history_comes_back_oldest_first(store: &dyn RequestStore) {
    let (mut request, mut stored) = created(store, "ordered").await;
    for step in 1..=4 {
        let entries: Vec<_> = (0..3)
            .map(|i| request.note(&format!("note-{step}-{i}"), "ordering", &ctx(step)))
            .collect();
        stored.etag = store
            .update(&request, &stored.etag, &entries)
            .await
            .expect("update");
    }
    let history = store.history(request.id).await.expect("history");
    let seqs: Vec<u32> = history.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=13).collect::<Vec<_>>());
    assert_eq!(history[12].event, "note-4-2");
    assert_eq!(history[9].event, "note-3-2");
    assert!(history.windows(2).all(|w| w[0].at <= w[1].at));
}

/// Marks everything in the request's outbox as sent, as a flush does.
pub fn settled(request: &mut ShareRequest) {
    let ids: Vec<String> = request
        .outbox
        .messages
        .iter()
        .map(|m| m.message.message_id())
        .collect();
    let through = request.history_len();
    request.outbox.sent(&ids, through);
}

/// `list_active` lists requests that can still progress, at their current version, and
/// terminal ones whose outbox still holds something; it leaves out terminal ones with an
/// empty outbox.
pub async fn list_active_excludes_terminal_requests(store: &dyn RequestStore) {
    let (active, active_stored) = created(store, "active").await;
    let (mut failed, failed_stored) = created(store, "failed").await;
    let (mut unsent, unsent_stored) = created(store, "failed-unsent").await;
    let failed_id = failed.id;
    for (request, stored) in [(&mut failed, &failed_stored), (&mut unsent, &unsent_stored)] {
        let entry = request
            .fail("image not replicated to westus", &ctx(1))
            .unwrap();
        if request.id == failed_id {
            // Everything of the failed one was sent; the other still has its events.
            settled(request);
        }
        store
            .update(request, &stored.etag, &[entry])
            .await
            .expect("fail the request");
    }

    let listed = store.list_active().await.expect("list_active");
    assert!(
        listed.iter().any(|s| s.request.id == unsent.id),
        "an ended request with unsent events is listed for the reconciler"
    );
    let mine: Vec<_> = listed
        .iter()
        .filter(|s| s.request.id == active.id || s.request.id == failed.id)
        .collect();
    assert_eq!(
        mine.len(),
        1,
        "listed: {:?}",
        mine.iter().map(|s| s.request.id).collect::<Vec<_>>()
    );
    assert_eq!(mine[0].request, active);
    assert_eq!(mine[0].etag, active_stored.etag);
    assert!(listed.iter().all(|s| s.request.needs_reconciling()));
}

/// `list_for_consumer` returns every request of that consumer tenant, ended ones included,
/// at its current version, and none of another tenant's.
pub async fn list_for_consumer_finds_that_tenants_requests_ended_or_not(store: &dyn RequestStore) {
    let fresh = || crate::domain::TenantId::parse(&uuid::Uuid::new_v4().to_string()).unwrap();
    let (tenant, other) = (fresh(), fresh());
    let mut mine = Vec::new();
    for (name, consumer) in [("a", tenant), ("b", tenant), ("c", other)] {
        let (mut request, first) = new_request(&format!("consumer-{name}"));
        request.consumer.tenant_id = consumer;
        store.create(&request, &[first]).await.expect("create");
        if consumer == tenant {
            mine.push(request.id);
        }
    }
    // One of them ends: it is still listed (its VM may still need the tenant's grants).
    let ended = must_get(store, mine[0]).await;
    let mut request = ended.request.clone();
    let entry = request.fail("stopped", &ctx(1)).unwrap();
    let etag = store
        .update(&request, &ended.etag, &[entry])
        .await
        .expect("fail");

    let listed = store.list_for_consumer(tenant).await.expect("list");
    let mut ids: Vec<RequestId> = listed.iter().map(|s| s.request.id).collect();
    ids.sort_by_key(ToString::to_string);
    mine.sort_by_key(ToString::to_string);
    assert_eq!(ids, mine);
    let failed = listed.iter().find(|s| s.request.id == request.id).unwrap();
    assert_eq!((&failed.request, &failed.etag), (&request, &etag));
    assert!(
        listed
            .iter()
            .all(|s| s.request.consumer.tenant_id == tenant)
    );
}

/// More active requests than the table service returns in one page (1000).
pub const MANY: usize = 1005;

/// `list_active` follows continuation past the service's 1000-entity page.
pub async fn list_active_returns_every_page_past_1000(store: &dyn RequestStore) {
    let ids: HashSet<RequestId> = stream::iter(0..MANY)
        .map(|i| async move { created(store, &format!("many-{i}")).await.0.id })
        .buffer_unordered(16)
        .collect()
        .await;
    assert_eq!(ids.len(), MANY);
    let listed = store.list_active().await.expect("list_active");
    let listed_ids: Vec<RequestId> = listed.iter().map(|s| s.request.id).collect();
    let unique: HashSet<_> = listed_ids.iter().copied().collect();
    assert_eq!(unique.len(), listed_ids.len(), "a request was listed twice");
    let missing = ids.difference(&unique).count();
    assert_eq!(
        missing, 0,
        "{missing} of {MANY} active requests were not listed"
    );
}

fn rejection(id: RequestId) -> (RejectedRequest, HistoryEntry) {
    let rejected = RejectedRequest {
        id,
        origin: Origin::Queue {
            idempotency_key: format!("contract-{id}"),
            reply_to: None,
            correlation_id: None,
        },
        received_at: T0,
        reason: "the document has 1 problem(s)".into(),
        problems: vec![FieldIssue {
            pointer: "#/vm/name".into(),
            detail: "a VM name is 1 to 64 characters long".into(),
        }],
    };
    let entry = HistoryEntry {
        seq: 1,
        at: T0,
        event: "rejected".into(),
        state: State::Rejected,
        actor: Actor::Queue,
        caller: None,
        detail: rejected.reason.clone(),
        invocation_id: None,
    };
    (rejected, entry)
}

/// A rejection is stored once; a second store of it returns the first; it has its history.
pub async fn a_rejection_is_stored_once_with_its_history(store: &dyn RequestStore) {
    let (rejected, entry) = rejection(RequestId::new_random());
    assert!(matches!(
        store
            .create_rejected(&rejected, &entry)
            .await
            .expect("create"),
        RejectedCreated::New
    ));
    let mut again = rejected.clone();
    again.reason = "another reason".into();
    match store
        .create_rejected(&again, &entry)
        .await
        .expect("second create")
    {
        RejectedCreated::Existing(existing) => assert_eq!(*existing, rejected),
        other => panic!("expected the first rejection back, got {other:?}"),
    }
    assert_eq!(
        store.get_rejected(rejected.id).await.expect("get"),
        Some(rejected.clone())
    );
    assert!(
        store.get(rejected.id).await.expect("get").is_none(),
        "a rejection reads as a request"
    );
    assert_eq!(
        store.history(rejected.id).await.expect("history"),
        vec![entry]
    );
    assert!(
        store
            .list_active()
            .await
            .expect("list")
            .iter()
            .all(|s| s.request.id != rejected.id)
    );
}

/// One id is either a request or a rejection, whichever came first.
pub async fn a_request_and_a_rejection_never_share_an_id(store: &dyn RequestStore) {
    let (request, _) = created(store, "taken").await;
    let (rejected, entry) = rejection(request.id);
    assert!(matches!(
        store
            .create_rejected(&rejected, &entry)
            .await
            .expect("create"),
        RejectedCreated::Taken
    ));
    assert!(store.get_rejected(request.id).await.expect("get").is_none());

    let (other, first) = new_request("after-rejection");
    let (rejected, entry) = rejection(other.id);
    store
        .create_rejected(&rejected, &entry)
        .await
        .expect("create");
    assert!(matches!(
        store.create(&other, &[first]).await.expect("create"),
        Created::Rejected
    ));
    assert!(store.get(other.id).await.expect("get").is_none());
}

/// A claim on a VM no other property names.
fn fresh_claim(request: RequestId) -> VmClaim {
    VmClaim {
        key: VmClaim::key_for(&format!(
            "/subscriptions/2b2b2b2b-2222-4222-8222-222222222222/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/{}",
            uuid::Uuid::new_v4()
        )),
        request,
        claimed_at: T0,
    }
}

pub async fn a_vm_claim_is_created_once_and_reads_back_exactly(store: &dyn RequestStore) {
    let first = fresh_claim(RequestId::new_random());
    assert!(store.get_claim(&first.key).await.expect("get").is_none());
    let etag = store.put_claim(&first, None).await.expect("first claim");

    let second = VmClaim {
        request: RequestId::new_random(),
        ..first.clone()
    };
    assert!(matches!(
        store.put_claim(&second, None).await,
        Err(StoreError::Conflict)
    ));
    let (held, held_etag) = store
        .get_claim(&first.key)
        .await
        .expect("get")
        .expect("held");
    assert_eq!(held, first, "the first claim, instant included");
    assert_eq!(held_etag, etag);
}

pub async fn a_vm_claim_is_taken_over_only_at_its_current_version(store: &dyn RequestStore) {
    let first = fresh_claim(RequestId::new_random());
    let v1 = store.put_claim(&first, None).await.expect("first claim");
    let second = VmClaim {
        request: RequestId::new_random(),
        claimed_at: T0 + Duration::seconds(60),
        ..first.clone()
    };
    let v2 = store
        .put_claim(&second, Some(&v1))
        .await
        .expect("take over at the current version");
    assert_ne!(v1, v2);
    let third = VmClaim {
        request: RequestId::new_random(),
        ..first.clone()
    };
    assert!(matches!(
        store.put_claim(&third, Some(&v1)).await,
        Err(StoreError::Conflict)
    ));
    let (held, _) = store
        .get_claim(&first.key)
        .await
        .expect("get")
        .expect("held");
    assert_eq!(held, second);
}

pub async fn concurrent_first_claims_of_one_vm_grant_exactly_one(store: &dyn RequestStore) {
    let key = fresh_claim(RequestId::new_random()).key;
    let claims: Vec<VmClaim> = (0..8)
        .map(|_| VmClaim {
            key: key.clone(),
            request: RequestId::new_random(),
            claimed_at: T0,
        })
        .collect();
    let results: Vec<_> = stream::iter(claims.iter())
        .map(|c| store.put_claim(c, None))
        .buffer_unordered(8)
        .collect()
        .await;
    let won = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(won, 1, "{results:?}");
    assert!(
        results
            .iter()
            .all(|r| r.is_ok() || matches!(r, Err(StoreError::Conflict))),
        "{results:?}"
    );
}

/// Every property, in turn.
pub async fn run_all(store: &dyn RequestStore) {
    create_then_get_returns_what_was_stored(store).await;
    creating_twice_returns_the_first_content_as_existing(store).await;
    updating_at_the_current_etag_succeeds_and_changes_it(store).await;
    updating_at_a_stale_etag_is_a_conflict_and_writes_no_history(store).await;
    updating_a_missing_request_is_not_found(store).await;
    a_missing_request_reads_as_none_with_no_history(store).await;
    concurrent_read_modify_write_loops_lose_no_update(store).await;
    concurrent_creates_of_one_request_store_it_once(store).await;
    history_comes_back_oldest_first(store).await;
    list_active_excludes_terminal_requests(store).await;
    list_active_returns_every_page_past_1000(store).await;
    list_for_consumer_finds_that_tenants_requests_ended_or_not(store).await;
    a_rejection_is_stored_once_with_its_history(store).await;
    a_request_and_a_rejection_never_share_an_id(store).await;
    a_vm_claim_is_created_once_and_reads_back_exactly(store).await;
    a_vm_claim_is_taken_over_only_at_its_current_version(store).await;
    concurrent_first_claims_of_one_vm_grant_exactly_one(store).await;
}

#[cfg(test)]
mod memory_store {
    use super::*;
    use crate::store::MemoryStore;

    #[tokio::test]
    async fn create_then_get_returns_what_was_stored() {
        super::create_then_get_returns_what_was_stored(&MemoryStore::new()).await;
    }

    #[tokio::test]
    async fn creating_twice_returns_the_first_content_as_existing() {
        super::creating_twice_returns_the_first_content_as_existing(&MemoryStore::new()).await;
    }

    #[tokio::test]
    async fn updating_at_the_current_etag_succeeds_and_changes_it() {
        super::updating_at_the_current_etag_succeeds_and_changes_it(&MemoryStore::new()).await;
    }

    #[tokio::test]
    async fn updating_at_a_stale_etag_is_a_conflict_and_writes_no_history() {
        super::updating_at_a_stale_etag_is_a_conflict_and_writes_no_history(&MemoryStore::new())
            .await;
    }

    #[tokio::test]
    async fn updating_a_missing_request_is_not_found() {
        super::updating_a_missing_request_is_not_found(&MemoryStore::new()).await;
    }

    #[tokio::test]
    async fn a_missing_request_reads_as_none_with_no_history() {
        super::a_missing_request_reads_as_none_with_no_history(&MemoryStore::new()).await;
    }

    #[tokio::test]
    async fn concurrent_read_modify_write_loops_lose_no_update() {
        super::concurrent_read_modify_write_loops_lose_no_update(&MemoryStore::new()).await;
    }

    #[tokio::test]
    async fn concurrent_creates_of_one_request_store_it_once() {
        super::concurrent_creates_of_one_request_store_it_once(&MemoryStore::new()).await;
    }

    #[tokio::test]
    async fn a_rejection_is_stored_once_with_its_history() {
        super::a_rejection_is_stored_once_with_its_history(&MemoryStore::new()).await;
    }

    #[tokio::test]
    async fn a_request_and_a_rejection_never_share_an_id() {
        super::a_request_and_a_rejection_never_share_an_id(&MemoryStore::new()).await;
    }

    #[tokio::test]
    async fn history_comes_back_oldest_first() {
        super::history_comes_back_oldest_first(&MemoryStore::new()).await;
    }

    #[tokio::test]
    async fn list_active_excludes_terminal_requests() {
        super::list_active_excludes_terminal_requests(&MemoryStore::new()).await;
    }

    #[tokio::test]
    async fn list_for_consumer_finds_that_tenants_requests_ended_or_not() {
        super::list_for_consumer_finds_that_tenants_requests_ended_or_not(&MemoryStore::new())
            .await;
    }

    #[tokio::test]
    async fn list_active_returns_every_page_past_1000() {
        super::list_active_returns_every_page_past_1000(&MemoryStore::new()).await;
    }

    #[tokio::test]
    async fn a_vm_claim_is_created_once_and_reads_back_exactly() {
        super::a_vm_claim_is_created_once_and_reads_back_exactly(&MemoryStore::new()).await;
    }

    #[tokio::test]
    async fn a_vm_claim_is_taken_over_only_at_its_current_version() {
        super::a_vm_claim_is_taken_over_only_at_its_current_version(&MemoryStore::new()).await;
    }

    #[tokio::test]
    async fn concurrent_first_claims_of_one_vm_grant_exactly_one() {
        super::concurrent_first_claims_of_one_vm_grant_exactly_one(&MemoryStore::new()).await;
    }

    #[tokio::test]
    async fn all_properties_hold_together_on_one_store() {
        run_all(&MemoryStore::new()).await;
    }
}
