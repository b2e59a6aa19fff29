//! What one request read from Azure serves the tenant's other requests for a while, counted
//! by what the simulator saw: a role grant another request just confirmed, and the "not yet"
//! of requests waiting for the same grant.

use azure_sim::Scenario;
use imageshare::domain::RequestId;

use crate::{
    approval::{completed_first_request, mailed_link, second_document},
    harness::{Harness, document},
};

/// Permission reads on the consumer's resource group the simulator answered.
fn permission_reads(h: &Harness) -> usize {
    h.sim
        .requests()
        .iter()
        .filter(|r| {
            r.host == "management.azure.com"
                && r.path_and_query
                    .contains("/providers/Microsoft.Authorization/permissions")
        })
        .count()
}

#[tokio::test]
async fn a_second_request_approved_minutes_after_the_first_completed_reuses_its_confirmed_grant() {
    let h = Harness::start(Scenario::demo(), &[]).await;
    completed_first_request(&h).await;
    assert!(
        permission_reads(&h) >= 1,
        "the first request read its grant"
    );
    h.sim.clear_requests();

    let second = h.submit(&second_document()).await;
    h.until_state(second, "AwaitingConsent").await;
    local_run::demo::consent_in_browser(&h.transport, &mailed_link(&h))
        .await
        .unwrap();
    let done = h.until_state(second, "Completed").await;

    assert_eq!(done["state"], "Completed", "{done:#}");
    assert_eq!(
        permission_reads(&h),
        0,
        "the grant the first request confirmed minutes ago was read again"
    );
}

/// Approves `ids` (each through its own mailed link) and lets them wait for
/// the role grant for `seconds` of simulated time; the permission reads of that time.
async fn reads_while_waiting_for_the_grant(h: &Harness, ids: &[RequestId], seconds: i64) -> usize {
    for id in ids {
        h.until_state(*id, "AwaitingConsent").await;
    }
    for link in local_run::demo::consent_links_from_mail(&h.sim) {
        local_run::demo::consent_in_browser(&h.transport, &link)
            .await
            .unwrap();
    }
    let before = permission_reads(h);
    let until = h.sim.now() + time::Duration::seconds(seconds);
    let all = h.run_all_until(ids, |_| h.sim.now() >= until).await;
    assert!(
        all.iter().all(|s| s["state"] == "AwaitingRoleGrant"),
        "{all:#?}"
    );
    permission_reads(h) - before
}

#[tokio::test]
async fn requests_waiting_for_the_same_grant_share_their_checks_of_it() {
    let alone = Harness::start(Scenario::demo(), &[]).await;
    let one = alone.submit(&document()).await;
    let reads_of_one = reads_while_waiting_for_the_grant(&alone, &[one], 120).await;

    let h = Harness::start(Scenario::demo(), &[]).await;
    let a = h.submit(&document()).await;
    let b = h.submit(&second_document()).await;
    let reads_of_two = reads_while_waiting_for_the_grant(&h, &[a, b], 120).await;

    assert!(
        reads_of_one >= 3,
        "one request kept checking: {reads_of_one}"
    );
    assert!(
        reads_of_two < 2 * reads_of_one,
        "two requests waiting for one grant read it {reads_of_two} times, one alone {reads_of_one}"
    );

    // The grant is still seen, by both.
    let app = h.status(a).await["app"]["appId"]
        .as_str()
        .unwrap()
        .to_owned();
    h.grant_contributor(&app).await;
    let done = h
        .run_all_until(&[a, b], |all| all.iter().all(|s| s["state"] == "Completed"))
        .await;
    assert!(done.iter().all(|s| s["state"] == "Completed"), "{done:#?}");
}
