//! Nothing stuck, nothing lost: outages longer than Service Bus' ten deliveries, messages that
//! die, an events topic that is gone, consumers that do not exist, waits with no end. Each
//! ends with the request `Completed`, or terminal with the true reason, within its deadline
//! plus one reconcile period; counted from what the simulator saw.

use std::time::Duration;

use azure_sim::{Fault, Scenario, scenario::demo};
use imageshare::domain::Step;
use serde_json::Value;

use crate::{
    happy_path::{assert_one_of_everything, complete},
    harness::{Harness, RECONCILE_EVERY, document, is_terminal},
};

fn history_events(status: &Value) -> Vec<String> {
    status["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_owned())
        .collect()
}

fn seconds_between(status: &Value, step: &str) -> i64 {
    let at = |k: &str| {
        time::OffsetDateTime::parse(
            status["steps"][step][k].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    (at("completedAt") - at("startedAt")).whole_seconds()
}

#[tokio::test]
async fn a_four_minute_graph_outage_is_ridden_out_with_one_of_everything() {
    let h = Harness::start(Scenario::demo(), &[]).await;
    // Longer than ten immediate redeliveries, and than the HTTP stack's own retries.
    h.outage(
        Fault::new("graph.microsoft.com", "*", 503),
        Duration::from_secs(240),
    );

    let (_, done) = complete(&h).await;

    assert_eq!(done["state"], "Completed", "{done:#}");
    assert_one_of_everything(&h);
    assert!(h.queue.dead_letters.lock().unwrap().is_empty());
    assert!(
        h.sim
            .requests()
            .iter()
            .filter(|r| r.fault.is_some())
            .count()
            > 10,
        "the outage was felt"
    );
}

#[tokio::test]
async fn a_dead_lettered_step_message_is_sent_again_by_the_reconciler() {
    let h = Harness::start(Scenario::demo(), &[]).await;
    h.queue.lose_next(|m| m.step == Step::CreateVm);

    let (_, done) = complete(&h).await;

    assert_eq!(done["state"], "Completed", "{done:#}");
    assert_one_of_everything(&h);
    assert_eq!(h.queue.dead_letters.lock().unwrap().len(), 1);
    assert!(
        history_events(&done).contains(&"step-resent".to_owned()),
        "{done:#}"
    );
    // The grace (10 min) plus one reconcile period, plus the VM's own provisioning.
    let grace_and_tick = 600 + RECONCILE_EVERY.as_secs() as i64;
    assert!(
        seconds_between(&done, "create-vm") <= grace_and_tick + 600,
        "{done:#}"
    );
}

#[tokio::test]
async fn a_lost_role_grant_recheck_is_sent_again_and_the_request_completes() {
    let h = Harness::start(Scenario::demo(), &[]).await;
    let id = h.submit(&document()).await;
    h.until_state(id, "AwaitingConsent").await;
    h.consent().await;
    let waiting = h.until_state(id, "AwaitingRoleGrant").await;
    // The scheduled re-check never arrives (lost with an instance, expired, purged). All of
    // them: the consent callback's trigger and the poll's schedule can both be waiting, and
    // losing only the stale one of the two would test nothing.
    let lost = h.queue.lose_pending(|m| m.step == Step::ConfirmConsent);
    assert!(lost >= 1, "a re-check was scheduled");
    h.grant_contributor(waiting["app"]["appId"].as_str().unwrap())
        .await;

    let done = h.until_state(id, "Completed").await;

    assert_eq!(done["state"], "Completed", "{done:#}");
    assert_one_of_everything(&h);
    assert!(
        history_events(&done).contains(&"step-resent".to_owned()),
        "{done:#}"
    );
}

#[tokio::test]
async fn an_events_topic_that_is_gone_delays_the_events_but_neither_the_request_nor_loses_one() {
    let h = Harness::start(Scenario::demo(), &[]).await;
    h.events.set_down(true);

    let (id, done) = complete(&h).await;

    assert_eq!(done["state"], "Completed", "{done:#}");
    assert_one_of_everything(&h);
    assert!(h.events.published().is_empty());
    assert!(h.events.refused.load(std::sync::atomic::Ordering::SeqCst) > 0);

    // The topic is back: the next reconcile sends every event, in order, once.
    h.events.set_down(false);
    h.reconcile().await;
    let ids: Vec<String> = h.events.published().iter().map(|e| e.id.clone()).collect();
    let entries = done["history"].as_array().unwrap().len();
    let expected: Vec<String> = (1..=entries).map(|seq| format!("{id}:{seq}")).collect();
    assert_eq!(ids, expected);
    let last = h.events.published().last().unwrap().clone();
    assert_eq!(last.kind, "imageshare.request.completed");
    // Published late, each event still carries the state of its own change.
    let first = h.events.published()[0].clone();
    assert_eq!(first.kind, "imageshare.request.submitted");
    assert_eq!(first.data["state"], "Submitted");

    // And a second pass has nothing left to send.
    h.reconcile().await;
    assert_eq!(h.events.published().len(), entries);
}

#[tokio::test]
async fn a_consumer_tenant_that_does_not_exist_fails_at_once_and_nothing_is_created() {
    let h = Harness::start(Scenario::demo(), &[]).await;
    let mut doc = document();
    doc["consumer"]["tenantId"] = "33333333-3333-4333-8333-333333333333".into();
    let id = h.submit(&doc).await;

    let done = h.run_until(id, is_terminal).await;

    assert_eq!(done["state"], "Failed", "{done:#}");
    let failure = done["failure"].as_str().unwrap();
    assert!(failure.contains("does not exist"), "{failure}");
    assert!(failure.contains("AADSTS90002"), "{failure}");
    let graph_writes = h
        .sim
        .requests()
        .iter()
        .filter(|r| r.host == "graph.microsoft.com" && r.method != "GET")
        .count();
    assert_eq!(
        graph_writes, 0,
        "no app was created for a tenant that does not exist"
    );
    let deliveries = h
        .queue
        .sent
        .lock()
        .unwrap()
        .iter()
        .filter(|q| q.message.request_id == id)
        .count();
    assert_eq!(deliveries, 1, "one delivery, no retries");
}

#[tokio::test]
async fn a_subscription_of_another_tenant_or_none_at_all_fails_at_once_saying_which() {
    let h = Harness::start(Scenario::demo(), &[]).await;
    let mut foreign = document();
    foreign["consumer"]["subscriptionId"] = demo::CONTOSO_SUBSCRIPTION.into();
    foreign["vm"]["name"] = "vm-foreign".into();
    let mut missing = document();
    missing["consumer"]["subscriptionId"] = "4c4c4c4c-4444-4444-8444-444444444444".into();
    missing["vm"]["name"] = "vm-missing".into();
    let a = h.submit(&foreign).await;
    let b = h.submit(&missing).await;

    let done = h
        .run_all_until(&[a, b], |all| all.iter().all(is_terminal))
        .await;

    assert_eq!(done[0]["state"], "Failed", "{:#}", done[0]);
    let failure = done[0]["failure"].as_str().unwrap();
    assert!(
        failure.contains(&format!("belongs to tenant {}", demo::CONTOSO_TENANT)),
        "{failure}"
    );
    assert_eq!(done[1]["state"], "Failed", "{:#}", done[1]);
    let failure = done[1]["failure"].as_str().unwrap();
    assert!(failure.contains("SubscriptionNotFound"), "{failure}");
    assert!(h.sim.state().applications.is_empty(), "nothing was created");
}

#[tokio::test]
async fn a_vm_creation_that_keeps_failing_with_5xx_fails_at_its_deadline_naming_the_error() {
    let h = Harness::start(
        Scenario::demo(),
        &[("IMAGESHARE_DEADLINE_CREATING_VM_MINUTES", "30")],
    )
    .await;
    h.sim
        .add_fault(Fault::new("management.azure.com", "*/virtualMachines/*", 503).method("PUT"));

    let id = h.submit(&document()).await;
    h.admin_consents_and_grants(id).await;
    let done = h.run_until(id, is_terminal).await;

    assert_eq!(done["state"], "Failed", "{done:#}");
    let failure = done["failure"].as_str().unwrap();
    assert!(
        failure.contains("CreatingVm for more than 30 minutes"),
        "{failure}"
    );
    assert!(
        failure.contains("503") || failure.contains("ServiceUnavailable"),
        "{failure}"
    );
    let took = seconds_between_started(&done, "create-vm");
    assert!(
        took <= 30 * 60 + RECONCILE_EVERY.as_secs() as i64 + 120,
        "failed within its deadline plus one reconcile period: {took} s"
    );
}

fn seconds_between_started(status: &Value, step: &str) -> i64 {
    let started = time::OffsetDateTime::parse(
        status["steps"][step]["startedAt"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let ended = time::OffsetDateTime::parse(
        status["updatedAt"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    (ended - started).whole_seconds()
}

#[tokio::test]
async fn a_federated_credential_that_stops_matching_fails_as_a_credential_fault_not_as_expired() {
    let h = Harness::start(Scenario::demo(), &[]).await;
    let id = h.submit(&document()).await;
    let waiting = h.until_state(id, "AwaitingConsent").await;
    // Someone edits the app's federated credential in the owner's tenant.
    let app_id = waiting["app"]["appId"].as_str().unwrap().to_owned();
    {
        let mut world = h.sim.context().world();
        let app = world
            .directory
            .applications
            .iter_mut()
            .find(|a| a.app_id == app_id)
            .unwrap();
        app.federated[0].subject = "someone-else".into();
    }
    h.consent().await;

    let done = h.run_until(id, is_terminal).await;

    assert_eq!(done["state"], "Failed", "{done:#}");
    let failure = done["failure"].as_str().unwrap();
    assert!(failure.contains("AADSTS700213"), "{failure}");
    assert!(failure.contains("federated credential"), "{failure}");
}

#[tokio::test]
async fn two_reconcilers_at_once_send_one_message_and_write_one_entry() {
    let h = Harness::start(Scenario::demo(), &[]).await;
    let id = h.submit(&document()).await;
    // The first step's message is lost; nothing else will ever run it.
    h.queue.lose_next(|m| m.step == Step::IssueCredentials);
    h.run_until(id, |s| {
        s["state"] == "Submitted" && h.queue.dead_letters.lock().unwrap().len() == 1
    })
    .await;
    h.sim.advance_clock(Duration::from_secs(11 * 60));
    let sent_before = h.queue.sent.lock().unwrap().len();

    let (a, b) = tokio::join!(h.reconcile(), h.reconcile());

    let status = h.status(id).await;
    let resent = history_events(&status)
        .iter()
        .filter(|e| *e == "step-resent")
        .count();
    assert_eq!(resent, 1, "{a} / {b}");
    let sent: Vec<_> = h.queue.sent.lock().unwrap()[sent_before..].to_vec();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].message.step, Step::IssueCredentials);
    assert_eq!(sent[0].message.attempt, 1);

    let done = h.until_state(id, "AwaitingConsent").await;
    assert_eq!(done["state"], "AwaitingConsent", "{done:#}");
}

#[tokio::test]
async fn a_consent_mail_whose_fate_is_unknown_is_not_sent_twice_and_the_status_says_so() {
    let h = Harness::start(Scenario::demo(), &[]).await;
    // A gateway timeout: Graph may or may not have sent the mail.
    h.sim.add_fault(
        Fault::new("graph.microsoft.com", "*/sendMail", 504)
            .method("POST")
            .times(1),
    );
    let id = h.submit(&document()).await;

    let waiting = h.until_state(id, "AwaitingConsent").await;

    assert_eq!(waiting["state"], "AwaitingConsent", "{waiting:#}");
    assert_eq!(waiting["consent"]["deliveryUncertain"], true, "{waiting:#}");
    // Only the state's hash is stored, so the status cannot show the link; the history tells
    // the operator how to re-send a fresh one.
    assert!(waiting["consent"].get("url").is_none(), "{waiting:#}");
    assert!(
        waiting.to_string().contains("/consent-link"),
        "the way to re-send is named: {waiting:#}"
    );
    let mails = h
        .sim
        .requests()
        .iter()
        .filter(|r| r.path_and_query.contains("/sendMail"))
        .count();
    assert_eq!(mails, 1, "the uncertain mail is not sent a second time");
}

#[tokio::test]
async fn a_consent_mail_that_surely_failed_while_another_run_waited_is_sent_once() {
    let h = Harness::start(Scenario::demo(), &[]).await;
    h.sim.add_fault(
        Fault::new("graph.microsoft.com", "*/sendMail", 503)
            .method("POST")
            .times(1),
    );
    h.set_concurrent_duplicates(true);
    let id = h.submit(&document()).await;

    let waiting = h.until_state(id, "AwaitingConsent").await;

    assert_eq!(waiting["state"], "AwaitingConsent", "{waiting:#}");
    let delivered = h
        .sim
        .outbox(demo::CONTOSO_TENANT)
        .iter()
        .filter(|m| m.content.contains("/api/approval?"))
        .count();
    assert_eq!(delivered, 1, "{waiting:#}");
    assert!(
        waiting["consent"]["deliveryUncertain"].is_null(),
        "{waiting:#}"
    );
}

#[tokio::test]
async fn sixteen_requests_for_tenants_that_do_not_exist_end_at_once_and_leave_nothing_behind() {
    let h = Harness::start(Scenario::demo(), &[]).await;
    let mut bogus = Vec::new();
    for n in 0..16 {
        let mut doc = document();
        doc["consumer"]["tenantId"] = format!("33333333-3333-4333-8333-{n:012}").into();
        doc["vm"]["name"] = format!("vm-bogus-{n:02}").into();
        bogus.push(h.submit(&doc).await);
    }
    let good = h.submit(&document()).await;

    let ended = h
        .run_all_until(&bogus, |all| all.iter().all(is_terminal))
        .await;
    for status in &ended {
        assert_eq!(status["state"], "Failed", "{status:#}");
    }
    // One discovery call per bogus tenant: each was handled by one delivery, no retries.
    let discoveries = h
        .sim
        .requests()
        .iter()
        .filter(|r| {
            r.path_and_query.contains("33333333-3333-4333-8333-")
                && r.path_and_query.contains("openid-configuration")
        })
        .count();
    assert_eq!(discoveries, 16);
    assert!(
        h.sim.state().applications.iter().all(|a| !a
            .unique_name
            .as_deref()
            .unwrap_or("")
            .contains("33333333")),
        "no app was left behind for a tenant that does not exist"
    );

    // The unrelated request goes its way.
    h.admin_consents_and_grants(good).await;
    let done = h.until_state(good, "Completed").await;
    assert_eq!(done["state"], "Completed", "{done:#}");
    assert_one_of_everything(&h);
}

#[tokio::test]
async fn a_retry_after_longer_than_an_invocation_becomes_a_retry_scheduled_that_late() {
    let h = Harness::start(Scenario::demo(), &[]).await;
    h.sim
        .add_fault(Fault::throttle("graph.microsoft.com", "/v1.0/applications*", 900).times(1));
    let id = h.submit(&document()).await;
    let submitted = h.status(id).await;
    let created = time::OffsetDateTime::parse(
        submitted["createdAt"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();

    let waiting = h.until_state(id, "AwaitingConsent").await;

    assert_eq!(waiting["state"], "AwaitingConsent", "{waiting:#}");
    let retry = h
        .queue
        .sent
        .lock()
        .unwrap()
        .iter()
        .find(|q| q.message.step == Step::IssueCredentials && q.message.retry == 1)
        .cloned()
        .expect("a scheduled retry");
    let after = retry.not_before.unwrap() - created;
    assert!(
        after >= time::Duration::seconds(900),
        "the retry honours the 900 s Retry-After: {after}"
    );
    assert!(h.queue.dead_letters.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_completed_requests_lost_release_is_sent_again_by_the_reconciler_and_the_credential_goes()
{
    let h = Harness::start(Scenario::demo(), &[]).await;
    // The end's ReleaseAccess never arrives: nothing else would remove the credential.
    h.queue.lose_next(|m| m.step == Step::ReleaseAccess);

    let (id, done) = complete(&h).await;
    assert_eq!(done["state"], "Completed", "{done:#}");
    assert!(done["accessRelease"].is_null(), "{done:#}");

    let released = h.run_until(id, |s| s["accessRelease"].is_object()).await;

    assert!(
        history_events(&released).contains(&"step-resent".to_owned()),
        "{released:#}"
    );
    let removed = &released["accessRelease"]["removed"];
    assert_eq!(removed.as_array().map(Vec::len), Some(1), "{released:#}");
    let app = released["app"]["appId"].as_str().unwrap();
    let (code, _) = crate::revocation::consumer_token_status(&h, app).await;
    assert_ne!(
        code, 200,
        "the operator can still sign in to the consumer's tenant"
    );
}
