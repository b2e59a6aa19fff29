//! Every step delivered twice, concurrently, and after a crash between its Azure calls and its
//! state write: still exactly one of everything.

use azure_sim::Scenario;

use crate::{
    happy_path::{assert_one_of_everything, complete},
    harness::{Harness, Queued},
};

/// Delivers every message sent so far once more (a redelivery after a lost completion).
async fn redeliver_everything(h: &Harness) {
    let sent: Vec<Queued> = h.queue.sent.lock().unwrap().clone();
    for q in sent {
        h.deliver(&q).await;
    }
}

#[tokio::test]
async fn every_step_delivered_a_second_time_changes_nothing() {
    let h = Harness::start(Scenario::demo(), &[]).await;
    let (id, _) = complete(&h).await;
    // The end releases the tenant's credential in a step of its own; let it run first.
    let before = h.run_until(id, |s| s["accessRelease"].is_object()).await;

    redeliver_everything(&h).await;

    let after = h.status(id).await;
    assert_eq!(after["state"], "Completed");
    assert_eq!(
        after["history"], before["history"],
        "a re-run wrote history"
    );
    assert_one_of_everything(&h);
}

#[tokio::test]
async fn every_step_delivered_twice_at_once_ends_with_one_of_everything() {
    let h = Harness::start(Scenario::demo(), &[]).await;
    // Each message goes out twice concurrently before the pump carries on.
    h.set_concurrent_duplicates(true);
    let (_, done) = complete(&h).await;
    assert_eq!(done["state"], "Completed");
    assert_one_of_everything(&h);
}

#[tokio::test]
async fn a_crash_between_each_steps_azure_calls_and_its_state_write_is_repaired_by_the_rerun() {
    let h = Harness::start(Scenario::demo(), &[]).await;
    // One crash per step, at the write that records its result.
    h.store.crash_once(|r, _| {
        r.progress.app.is_some() && r.state() == imageshare::domain::State::CredentialsIssued
    });
    h.store.crash_once(|r, _| {
        r.state() == imageshare::domain::State::AwaitingConsent
            && r.progress
                .consent
                .as_ref()
                .is_some_and(|c| c.delivered_at.is_some())
    });
    h.store.crash_once(|r, _| {
        r.state() == imageshare::domain::State::CreatingVm
            && r.progress.access.role_confirmed_at.is_some()
            && r.progress.vm.vm_id.is_none()
    });
    h.store
        .crash_once(|r, _| r.progress.vm.operation_url.is_some());
    h.store
        .crash_once(|r, _| r.state() == imageshare::domain::State::Completed);

    let (_, done) = complete(&h).await;

    assert_eq!(done["state"], "Completed", "{done:#}");
    assert_eq!(
        *h.store.crashed.lock().unwrap(),
        5,
        "every planned crash happened"
    );
    assert_one_of_everything(&h);
}
