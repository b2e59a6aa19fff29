//! Every share is approved by the consumer's admin through its own link, a decline ends it at
//! once, and the link's state is never seen anywhere but in the link.

use azure_sim::{Scenario, scenario::demo};
use imageshare::{domain::RequestId, store::RequestStore};
use serde_json::Value;
use url::Url;

use crate::harness::{Harness, document};

/// The `state` of a consent link.
pub(crate) fn state_of(link: &Url) -> String {
    link.query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("a state in the link")
}

/// The newest consent link the demo admin was mailed.
pub(crate) fn mailed_link(h: &Harness) -> Url {
    local_run::demo::consent_link_from_mail(&h.sim).expect("a consent mail")
}

/// Calls the consent callback as a browser would, with `query` as given.
async fn callback(h: &Harness, query: &[(&str, &str)]) -> (u16, String) {
    let response = h
        .client
        .get(format!("{}/api/consent/callback", h.url))
        .query(query)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// A second demo request: another VM in the same tenant and resource group.
pub(crate) fn second_document() -> Value {
    let mut doc = document();
    doc["vm"]["name"] = "vm-fabrikam-02".into();
    doc
}

/// Requests the simulator saw acting in the consumer's tenant: a token for it, or an ARM call
/// on its subscription that was let in (the tenant-discovery probe, answered 401 without a
/// token, acts on nothing).
pub(crate) fn consumer_tenant_calls(h: &Harness) -> usize {
    h.sim
        .requests()
        .iter()
        .filter(|r| {
            let token = r.host == "login.microsoftonline.com"
                && r.path_and_query.contains(demo::FABRIKAM_TENANT)
                && r.path_and_query.contains("/token");
            let arm = r.host == "management.azure.com"
                && r.path_and_query.contains(demo::FABRIKAM_SUBSCRIPTION)
                && r.status != 401;
            token || arm
        })
        .count()
}

pub(crate) fn vms(h: &Harness) -> usize {
    h.sim
        .state()
        .resources_of_type("Microsoft.Compute/virtualMachines")
        .len()
}

/// The stored document's JSON, for before/after comparisons.
pub(crate) async fn stored(h: &Harness, id: RequestId) -> Value {
    let mut status = h.status(id).await;
    // The document names the time it was read nowhere; it is compared whole.
    status.as_object_mut().map(|o| o.remove("waitingFor"));
    status
}

pub(crate) async fn completed_first_request(h: &Harness) -> RequestId {
    let id = h.submit(&document()).await;
    h.admin_consents_and_grants(id).await;
    let done = h.until_state(id, "Completed").await;
    assert_eq!(done["state"], "Completed", "{done:#}");
    id
}

#[tokio::test]
async fn a_second_request_to_a_consented_tenant_creates_nothing_until_its_own_link_is_answered() {
    let h = Harness::start(Scenario::demo(), &[]).await;
    completed_first_request(&h).await;
    let first_link = mailed_link(&h);
    h.sim.clear_requests();

    let second = h.submit(&second_document()).await;
    let waiting = h
        .run_until(second, |s| {
            s["waitingFor"]
                .as_str()
                .is_some_and(|w| w.contains("approve"))
        })
        .await;
    assert_eq!(waiting["state"], "AwaitingConsent", "{waiting:#}");
    assert_eq!(
        consumer_tenant_calls(&h),
        0,
        "the earlier consent was used for the new request: {:#?}",
        h.sim.requests()
    );
    assert_eq!(vms(&h), 1, "a VM was created without approval");
    let second_link = mailed_link(&h);
    assert_ne!(state_of(&first_link), state_of(&second_link));

    // The first request's used link approves nothing for the second one.
    local_run::demo::consent_in_browser(&h.transport, &first_link)
        .await
        .unwrap_err();
    assert_eq!(h.status(second).await["state"], "AwaitingConsent");

    local_run::demo::consent_in_browser(&h.transport, &second_link)
        .await
        .unwrap();
    let done = h.until_state(second, "Completed").await;
    assert_eq!(done["state"], "Completed", "{done:#}");
    assert_eq!(vms(&h), 2);
}

#[tokio::test]
async fn a_decline_on_the_consent_page_ends_the_request_declined_in_one_step_and_creates_nothing() {
    let h = Harness::start(Scenario::demo(), &[]).await;
    let id = h.submit(&document()).await;
    h.until_state(id, "AwaitingConsent").await;
    let state = state_of(&mailed_link(&h));
    let reason = format!("<script>alert(1)</script>{}", "x".repeat(8_000));

    let (status, page) = callback(
        &h,
        &[
            ("error", "access_denied"),
            ("error_description", &reason),
            ("state", &state),
        ],
    )
    .await;

    assert_eq!(status, 200, "{page}");
    assert!(!page.contains("<script>"), "{page}");
    let declined = h.status(id).await;
    assert_eq!(declined["state"], "Declined", "{declined:#}");
    let failure = declined["failure"].as_str().unwrap();
    assert!(
        failure.len() < 700,
        "the reason is bounded: {}",
        failure.len()
    );
    let history = declined["history"].as_array().unwrap();
    assert_eq!(
        history.iter().filter(|e| e["event"] == "declined").count(),
        1
    );
    assert!(
        h.events
            .published()
            .iter()
            .any(|e| e.kind == "imageshare.request.declined"),
        "an event for the decline"
    );
    assert_eq!(vms(&h), 0);

    // A replay of the decline is "already used" and changes nothing.
    let before = stored(&h, id).await;
    let (status, _) = callback(&h, &[("error", "access_denied"), ("state", &state)]).await;
    assert_eq!(status, 410);
    assert_eq!(stored(&h, id).await, before);
}

#[tokio::test]
async fn bad_callbacks_change_nothing_and_reflect_nothing_unescaped() {
    let h = Harness::start(Scenario::demo(), &[]).await;
    let a = h.submit(&document()).await;
    h.until_state(a, "AwaitingConsent").await;
    let state_a = state_of(&mailed_link(&h));
    let b = h.submit(&second_document()).await;
    h.until_state(b, "AwaitingConsent").await;
    let state_b = state_of(&mailed_link(&h));
    let (id_a, secret_a) = state_a.split_once('.').unwrap();
    let (_, secret_b) = state_b.split_once('.').unwrap();
    let before = (stored(&h, a).await, stored(&h, b).await);

    let script = "<script>alert(1)</script>";
    let huge = "y".repeat(33_000);
    let forged = format!("{id_a}.{}", "A".repeat(43));
    let truncated = state_a[..state_a.len() - 1].to_owned();
    let cross = format!("{id_a}.{secret_b}");
    let other_tenant = demo::CONTOSO_TENANT;
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        (
            "forged",
            vec![("admin_consent", "True"), ("state", &forged)],
        ),
        (
            "truncated",
            vec![("admin_consent", "True"), ("state", &truncated)],
        ),
        (
            "cross-request",
            vec![("admin_consent", "True"), ("state", &cross)],
        ),
        (
            "tenant mismatch",
            vec![
                ("admin_consent", "True"),
                ("tenant", other_tenant),
                ("state", &state_a),
            ],
        ),
        (
            "script tenant",
            vec![
                ("admin_consent", "True"),
                ("tenant", script),
                ("state", &state_a),
            ],
        ),
        ("script error", vec![("error", script), ("state", &state_a)]),
        (
            "oversized decline of another request",
            vec![
                ("error", "access_denied"),
                ("error_description", &huge),
                ("state", &cross),
            ],
        ),
        (
            "script state",
            vec![("admin_consent", "True"), ("state", script)],
        ),
    ];
    for (name, query) in &cases {
        let (status, page) = callback(&h, query).await;
        assert!((400..500).contains(&status), "{name}: {status} {page}");
        assert!(!page.contains("<script>"), "{name}: {page}");
        assert_eq!(
            (stored(&h, a).await, stored(&h, b).await),
            before,
            "{name} changed a request"
        );
    }
    // The genuine state still works after all that: none of it consumed it.
    assert!(!secret_a.is_empty());
    let (status, page) = callback(
        &h,
        &[
            ("admin_consent", "True"),
            ("tenant", demo::FABRIKAM_TENANT),
            ("state", &state_a),
        ],
    )
    .await;
    assert_eq!(status, 200, "{page}");
}

#[tokio::test]
async fn an_oversized_error_description_is_bounded_and_the_page_still_works() {
    let h = Harness::start(Scenario::demo(), &[]).await;
    let id = h.submit(&document()).await;
    h.until_state(id, "AwaitingConsent").await;
    let state = state_of(&mailed_link(&h));
    let huge = format!("<b>{}</b>", "z".repeat(33_000));

    for _ in 0..3 {
        let (status, page) = callback(
            &h,
            &[
                ("error", "server_error"),
                ("error_description", &huge),
                ("state", &state),
            ],
        )
        .await;
        assert_eq!(status, 200, "{page}");
        assert!(!page.contains("<b>"), "{page}");
        assert!(page.len() < 5_000, "{}", page.len());
    }
    let status = h.status(id).await;
    assert_eq!(status["state"], "AwaitingConsent");
    let notes = status["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "consent-error")
        .count();
    assert_eq!(notes, 1, "a replayed error is noted once");
    assert!(status.to_string().len() < 20_000, "the record did not grow");
}

#[tokio::test]
async fn the_callback_of_a_completed_request_is_already_used_and_changes_nothing() {
    let h = Harness::start(Scenario::demo(), &[]).await;
    let id = completed_first_request(&h).await;
    let state = state_of(&mailed_link(&h));
    let before = stored(&h, id).await;
    let events = h.events.published().len();
    let decline = "d".repeat(8_000);

    for query in [
        vec![
            ("error", "access_denied"),
            ("error_description", decline.as_str()),
            ("state", &state),
        ],
        vec![("admin_consent", "True"), ("state", &state)],
    ] {
        let (status, page) = callback(&h, &query).await;
        assert_eq!(status, 410, "{page}");
        assert!(page.contains("already used"), "{page}");
    }
    assert_eq!(stored(&h, id).await, before);
    assert_eq!(h.events.published().len(), events, "no event for a replay");
}

#[tokio::test]
async fn no_status_document_event_or_queue_message_holds_a_consent_state() {
    let h = Harness::start(Scenario::demo(), &[]).await;
    let id = h.submit(&document()).await;
    let waiting = h.until_state(id, "AwaitingConsent").await;
    let state = state_of(&mailed_link(&h));
    let (_, secret) = state.split_once('.').unwrap();

    assert!(!waiting.to_string().contains(secret), "{waiting:#}");
    h.admin_consents_and_grants(id).await;
    let done = h.until_state(id, "Completed").await;
    assert!(!done.to_string().contains(secret), "{done:#}");
    for event in h.events.published() {
        let text = serde_json::to_string(&event).unwrap();
        assert!(!text.contains(secret), "an event holds the state: {text}");
    }
    for message in h.queue.sent.lock().unwrap().iter() {
        let text = serde_json::to_string(&message.message).unwrap();
        assert!(!text.contains(secret), "a queue message holds the state");
    }
    let record = serde_json::to_string(&h.store.get(id).await.unwrap().unwrap().request).unwrap();
    assert!(!record.contains(secret), "the store holds the state");
}

#[tokio::test]
async fn a_status_only_deployment_shows_the_link_in_the_status_document_but_not_in_events() {
    let h = Harness::start(Scenario::demo(), &[("IMAGESHARE_NOTIFY", "status")]).await;
    let id = h.submit(&document()).await;
    let waiting = h.until_state(id, "AwaitingConsent").await;
    let link = waiting["consent"]["url"].as_str().expect("the link");
    let state = state_of(&Url::parse(link).unwrap());
    let (_, secret) = state.split_once('.').unwrap();
    for event in h.events.published() {
        let text = serde_json::to_string(&event).unwrap();
        assert!(!text.contains(secret), "an event holds the state: {text}");
    }
}

/// Asks for a fresh consent link; the status code and the body.
pub(crate) async fn resend(h: &Harness, id: RequestId) -> (u16, Value) {
    let response = h
        .client
        .post(format!("{}/api/share-requests/{id}/consent-link", h.url))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn a_re_sent_link_works_and_the_old_one_is_superseded_and_changes_nothing() {
    let h = Harness::start(Scenario::demo(), &[]).await;
    let id = h.submit(&document()).await;
    h.until_state(id, "AwaitingConsent").await;
    let old = mailed_link(&h);

    let (status, body) = resend(&h, id).await;
    assert_eq!(status, 202, "{body:#}");
    let resent = h
        .run_until(id, |s| {
            s["history"]
                .as_array()
                .is_some_and(|e| e.iter().any(|e| e["event"] == "consent-link-resent"))
        })
        .await;
    assert_eq!(resent["state"], "AwaitingConsent", "{resent:#}");
    let new = mailed_link(&h);
    assert_ne!(state_of(&old), state_of(&new), "a new state");
    assert_eq!(local_run::demo::consent_links_from_mail(&h.sim).len(), 2);

    let before = stored(&h, id).await;
    let old_state = state_of(&old);
    for query in [
        [("admin_consent", "True"), ("state", old_state.as_str())],
        [("error", "access_denied"), ("state", old_state.as_str())],
    ] {
        let (status, page) = callback(&h, &query).await;
        assert_eq!(status, 410, "{page}");
        assert!(page.contains("newer link"), "{page}");
    }
    assert_eq!(
        stored(&h, id).await,
        before,
        "the old link changed something"
    );

    local_run::demo::consent_in_browser(&h.transport, &new)
        .await
        .unwrap();
    let waiting = h.until_state(id, "AwaitingRoleGrant").await;
    assert_eq!(waiting["state"], "AwaitingRoleGrant", "{waiting:#}");
}

#[tokio::test]
async fn a_re_send_moves_the_deadline_but_never_past_the_maximum() {
    let h = Harness::start(
        Scenario::demo(),
        &[
            ("IMAGESHARE_CONSENT_DEADLINE_HOURS", "2"),
            ("IMAGESHARE_CONSENT_DEADLINE_MAX_HOURS", "3"),
        ],
    )
    .await;
    let id = h.submit(&document()).await;
    let waiting = h.until_state(id, "AwaitingConsent").await;
    let parse = |v: &Value| {
        time::OffsetDateTime::parse(
            v.as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    let created = parse(&waiting["createdAt"]);
    let first = parse(&waiting["deadline"]);

    h.sim.advance_clock(std::time::Duration::from_secs(1800));
    let (status, body) = resend(&h, id).await;
    assert_eq!(status, 202, "{body:#}");
    let moved = parse(&body["deadline"]);
    assert!(moved > first, "{first} -> {moved}");

    h.sim.advance_clock(std::time::Duration::from_secs(3600));
    let (_, body) = resend(&h, id).await;
    let capped = parse(&body["deadline"]);
    assert_eq!(
        capped,
        created + time::Duration::hours(3),
        "capped at the maximum"
    );
}

#[tokio::test]
async fn a_link_cannot_be_re_sent_for_a_request_that_is_not_waiting_for_it() {
    let h = Harness::start(Scenario::demo(), &[]).await;
    let id = completed_first_request(&h).await;
    let before = stored(&h, id).await;

    let response = h
        .client
        .post(format!("{}/api/share-requests/{id}/consent-link", h.url))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 409);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    assert_eq!(stored(&h, id).await, before);
    let (missing, _) = resend(&h, RequestId::new_random()).await;
    assert_eq!(missing, 404);
}

#[tokio::test]
async fn an_expired_link_changes_nothing() {
    let h = Harness::start(
        Scenario::demo(),
        &[("IMAGESHARE_CONSENT_DEADLINE_HOURS", "1")],
    )
    .await;
    let id = h.submit(&document()).await;
    h.until_state(id, "AwaitingConsent").await;
    let state = state_of(&mailed_link(&h));
    // Past the deadline, before the expiring re-check has run.
    h.sim.advance_clock(std::time::Duration::from_secs(3700));
    let before = stored(&h, id).await;

    for query in [
        [("admin_consent", "True"), ("state", state.as_str())],
        [("error", "access_denied"), ("state", state.as_str())],
    ] {
        let (status, page) = callback(&h, &query).await;
        assert_eq!(status, 410, "{page}");
        assert!(page.contains("expired"), "{page}");
    }
    assert_eq!(stored(&h, id).await, before);
}

#[tokio::test]
async fn a_reminder_with_a_fresh_link_goes_out_once_before_the_deadline() {
    let h = Harness::start(
        Scenario::demo(),
        &[
            ("IMAGESHARE_CONSENT_DEADLINE_HOURS", "3"),
            ("IMAGESHARE_CONSENT_REMINDER_HOURS", "1"),
        ],
    )
    .await;
    let id = h.submit(&document()).await;
    h.until_state(id, "AwaitingConsent").await;
    let first = mailed_link(&h);

    let reminded = h
        .run_until(id, |s| {
            s["history"]
                .as_array()
                .is_some_and(|e| e.iter().any(|e| e["event"] == "consent-link-resent"))
        })
        .await;
    assert_eq!(reminded["state"], "AwaitingConsent", "{reminded:#}");
    let reminder = mailed_link(&h);
    assert_ne!(state_of(&first), state_of(&reminder));

    // Nobody answers: it expires, and the reminder was sent once.
    let expired = h.until_state(id, "Expired").await;
    assert_eq!(expired["state"], "Expired", "{expired:#}");
    assert_eq!(
        local_run::demo::consent_links_from_mail(&h.sim).len(),
        2,
        "the link and one reminder"
    );
}

#[tokio::test]
async fn when_one_request_sees_the_grant_the_tenants_other_waiting_requests_check_at_once() {
    let h = Harness::start(Scenario::demo(), &[]).await;
    let first = h.submit(&document()).await;
    h.until_state(first, "AwaitingConsent").await;
    let first_link = mailed_link(&h);
    let second = h.submit(&second_document()).await;
    h.until_state(second, "AwaitingConsent").await;
    let second_link = mailed_link(&h);
    for link in [&first_link, &second_link] {
        local_run::demo::consent_in_browser(&h.transport, link)
            .await
            .unwrap();
    }
    let both = [first, second];
    let waiting = h
        .run_all_until(&both, |all| {
            all.iter().all(|s| s["state"] == "AwaitingRoleGrant")
        })
        .await;
    // Five minutes of checks without a grant: each request's next check is now tens of
    // seconds away, on its own jittered cadence.
    let approved = h.sim.now();
    h.run_all_until(&both, |_| {
        h.sim.now() - approved >= time::Duration::minutes(5)
    })
    .await;
    h.grant_contributor(waiting[0]["app"]["appId"].as_str().unwrap())
        .await;
    h.sim.clear_requests();

    let moved_on = |s: &Value| s["state"] != "AwaitingRoleGrant";
    h.run_all_until(&both, |all| all.iter().any(moved_on)).await;
    let seen_at = h.sim.now();
    let all = h.run_all_until(&both, |all| all.iter().all(moved_on)).await;
    // The simulator's clock also runs in real time: well under the 5 s a cadence takes at
    // the least (and the tens of seconds it takes here).
    let later = h.sim.now() - seen_at;
    assert!(
        later < time::Duration::seconds(1),
        "the other request waited {later} for its own next check: {all:#?}"
    );
    let permission_reads: Vec<_> = h
        .sim
        .requests()
        .into_iter()
        .filter(|r| {
            r.path_and_query
                .contains("/providers/Microsoft.Authorization/permissions")
                && r.status == 200
        })
        .collect();
    // (Reads before it may still be refused: a grant takes a while to apply.)
    assert_eq!(
        permission_reads.len(),
        1,
        "the grant is read once for both requests: {permission_reads:#?}"
    );
    for id in both {
        let done = h.until_state(id, "Completed").await;
        assert_eq!(done["state"], "Completed", "{done:#}");
    }
    assert_eq!(vms(&h), 2);
}
