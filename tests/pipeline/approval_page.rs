//! imageshare's approval page: the consumer's admin sees the request and approves or declines
//! it there. Opening it changes nothing; only its forms act, once, with the request's state;
//! a first share goes on to Microsoft's consent page.

use azure_sim::{Scenario, scenario::demo};
use serde_json::Value;

use crate::{
    approval::{
        completed_first_request, consumer_tenant_calls, mailed_link, resend, second_document,
        state_of, stored, vms,
    },
    harness::{Harness, document},
};

/// `GET /api/approval` with `query`: status, headers' CSP and the page.
async fn open_page(h: &Harness, query: &[(&str, &str)]) -> (u16, String, String) {
    let response = h
        .client
        .get(format!("{}/api/approval", h.url))
        .query(query)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let csp = response
        .headers()
        .get("content-security-policy")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, csp, response.text().await.unwrap())
}

/// `POST /api/approval` with `form` fields as a browser sends them.
async fn answer(h: &Harness, form: &[(&str, &str)]) -> (u16, String) {
    let response = h
        .client
        .post(format!("{}/api/approval", h.url))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

fn adminconsent_calls(h: &Harness) -> usize {
    h.sim
        .requests()
        .iter()
        .filter(|r| r.path_and_query.contains("/adminconsent"))
        .count()
}

fn history_events(status: &Value) -> Vec<String> {
    status["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[tokio::test]
async fn the_page_shows_the_request_and_opening_it_changes_nothing() {
    let h = Harness::start(Scenario::demo(), &[]).await;
    let id = h.submit(&document()).await;
    h.until_state(id, "AwaitingConsent").await;
    let state = state_of(&mailed_link(&h));
    let before = stored(&h, id).await;
    let events = h.events.published().len();

    for _ in 0..3 {
        let (status, csp, page) = open_page(&h, &[("state", &state)]).await;
        assert_eq!(status, 200, "{page}");
        for shown in [
            "ubuntu-hardened",
            "vm-fabrikam-01",
            "Standard_D2s_v5",
            "eastus",
            demo::FABRIKAM_RESOURCE_GROUP,
            demo::FABRIKAM_SUBSCRIPTION,
            "Requested by",
            "a function key",
            "Link valid until",
            &id.to_string(),
        ] {
            assert!(page.contains(shown), "{shown} is not shown: {page}");
        }
        assert!(csp.contains("form-action 'self'"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(csp.contains("default-src 'none'"), "{csp}");
        assert!(!page.contains("<script"), "{page}");
    }
    assert_eq!(stored(&h, id).await, before, "opening the page changed it");
    assert_eq!(
        h.events.published().len(),
        events,
        "opening the page sent events"
    );
}

#[tokio::test]
async fn a_first_share_is_approved_through_microsoft_s_consent_page_not_by_the_form() {
    let h = Harness::start(Scenario::demo(), &[]).await;
    let id = h.submit(&document()).await;
    h.until_state(id, "AwaitingConsent").await;
    let state = state_of(&mailed_link(&h));

    let (_, _, page) = open_page(&h, &[("state", &state)]).await;
    assert!(!page.contains("id=\"approve\""), "{page}");
    assert!(page.contains("id=\"consent\""), "{page}");
    assert!(page.contains("/v2.0/adminconsent"), "{page}");

    // A posted approval (no such form on this page) asks for consent first and changes nothing.
    let before = stored(&h, id).await;
    let (status, page) = answer(&h, &[("state", &state), ("decision", "approve")]).await;
    assert_eq!(status, 409, "{page}");
    assert!(page.contains("adminconsent"), "{page}");
    assert_eq!(stored(&h, id).await, before);

    h.consent().await;
    let waiting = h.until_state(id, "AwaitingRoleGrant").await;
    assert_eq!(waiting["state"], "AwaitingRoleGrant", "{waiting:#}");
}

#[tokio::test]
async fn a_second_share_is_approved_on_the_page_alone_and_only_then_acts_in_the_tenant() {
    let h = Harness::start(Scenario::demo(), &[]).await;
    completed_first_request(&h).await;
    h.sim.clear_requests();
    let second = h.submit(&second_document()).await;
    h.until_state(second, "AwaitingConsent").await;
    let state = state_of(&mailed_link(&h));

    let (_, _, page) = open_page(&h, &[("state", &state)]).await;
    assert!(page.contains("id=\"approve\""), "{page}");
    assert_eq!(consumer_tenant_calls(&h), 0, "acted before the approval");

    let (status, page) = answer(&h, &[("state", &state), ("decision", "approve")]).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("request approved"), "{page}");
    let done = h.until_state(second, "Completed").await;
    assert_eq!(done["state"], "Completed", "{done:#}");
    assert!(
        history_events(&done).contains(&"approved".to_owned()),
        "{done:#}"
    );
    assert_eq!(
        adminconsent_calls(&h),
        0,
        "Microsoft's consent page was needed"
    );
    assert_eq!(vms(&h), 2);

    // The form's state worked once.
    let (status, page) = answer(&h, &[("state", &state), ("decision", "approve")]).await;
    assert_eq!(status, 410, "{page}");
    assert!(page.contains("already used"), "{page}");
}

#[tokio::test]
async fn a_decline_on_the_page_ends_the_request_declined_with_the_reason_bounded_and_escaped() {
    let h = Harness::start(Scenario::demo(), &[]).await;
    let id = h.submit(&document()).await;
    h.until_state(id, "AwaitingConsent").await;
    let state = state_of(&mailed_link(&h));
    h.sim.clear_requests();
    let reason = format!(
        "<script>alert(1)</script>Not this VM size{}",
        "x".repeat(8_000)
    );

    let (status, page) = answer(
        &h,
        &[
            ("state", &state),
            ("decision", "decline"),
            ("reason", &reason),
        ],
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("You declined this request"), "{page}");
    assert!(!page.contains("<script>"), "{page}");

    // One step: Declined at once, the reason kept as bounded plain text.
    let status = h.status(id).await;
    assert_eq!(status["state"], "Declined", "{status:#}");
    let failure = status["failure"].as_str().unwrap();
    assert!(
        failure.contains("<script>alert(1)</script>Not this VM size"),
        "{failure}"
    );
    assert!(failure.len() < 700, "{}", failure.len());
    assert!(history_events(&status).contains(&"declined".to_owned()));
    assert_eq!(consumer_tenant_calls(&h), 0);
    assert_eq!(vms(&h), 0);

    // The status page shows the reason escaped.
    let html = h
        .client
        .get(format!("{}/api/share-requests/{id}", h.url))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("&lt;script&gt;"), "{html}");
    assert!(!html.contains("<script>"), "{html}");

    // A replay changes nothing.
    let before = stored(&h, id).await;
    let (status, _) = answer(&h, &[("state", &state), ("decision", "decline")]).await;
    assert_eq!(status, 410);
    let (status, _, _) = open_page(&h, &[("state", &state)]).await;
    assert_eq!(status, 410);
    assert_eq!(stored(&h, id).await, before);
}

#[tokio::test]
async fn bad_states_and_answers_on_the_page_change_nothing_and_reflect_nothing_unescaped() {
    let h = Harness::start(Scenario::demo(), &[]).await;
    let a = h.submit(&document()).await;
    h.until_state(a, "AwaitingConsent").await;
    let state_a = state_of(&mailed_link(&h));
    let b = h.submit(&second_document()).await;
    h.until_state(b, "AwaitingConsent").await;
    let state_b = state_of(&mailed_link(&h));
    let (id_a, _) = state_a.split_once('.').unwrap();
    let (_, secret_b) = state_b.split_once('.').unwrap();
    let before = (stored(&h, a).await, stored(&h, b).await);
    let events = h.events.published().len();

    let script = "<script>alert(1)</script>";
    let forged = format!("{id_a}.{}", "A".repeat(43));
    let truncated = state_a[..state_a.len() - 1].to_owned();
    let cross = format!("{id_a}.{secret_b}");
    let states: Vec<(&str, &str)> = vec![
        ("forged", &forged),
        ("truncated", &truncated),
        ("cross-request", &cross),
        ("script", script),
        ("empty", ""),
    ];
    for (name, state) in &states {
        let (status, _, page) = open_page(&h, &[("state", state)]).await;
        assert!((400..500).contains(&status), "GET {name}: {status} {page}");
        assert!(!page.contains("<script>"), "GET {name}: {page}");
        for decision in ["approve", "decline"] {
            let (status, page) = answer(
                &h,
                &[("state", state), ("decision", decision), ("reason", script)],
            )
            .await;
            assert!(
                (400..500).contains(&status),
                "POST {name} {decision}: {status}"
            );
            assert!(!page.contains("<script>"), "POST {name}: {page}");
        }
    }
    let bad_forms: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("no state", vec![("decision", "decline")]),
        (
            "unknown decision",
            vec![("state", &state_a), ("decision", script)],
        ),
        ("no decision", vec![("state", &state_a)]),
        (
            "two states",
            vec![
                ("state", &state_a),
                ("state", &state_b),
                ("decision", "decline"),
            ],
        ),
        (
            "two decisions",
            vec![
                ("state", &state_a),
                ("decision", "approve"),
                ("decision", "decline"),
            ],
        ),
    ];
    for (name, form) in &bad_forms {
        let (status, page) = answer(&h, form).await;
        assert!((400..500).contains(&status), "{name}: {status} {page}");
        assert!(!page.contains("<script>"), "{name}: {page}");
    }
    let (status, _, _) = open_page(&h, &[("state", &state_a), ("state", &state_b)]).await;
    assert_eq!(status, 400, "two states on the page");
    // A body far beyond any answer is not read.
    let flood = "f".repeat(64 * 1024);
    let (status, _) = answer(
        &h,
        &[
            ("state", &state_a),
            ("decision", "decline"),
            ("reason", &flood),
        ],
    )
    .await;
    assert_eq!(status, 413);

    assert_eq!(
        (stored(&h, a).await, stored(&h, b).await),
        before,
        "a bad answer changed a request"
    );
    assert_eq!(h.events.published().len(), events);
    // The genuine state still works after all that.
    let (status, _, page) = open_page(&h, &[("state", &state_a)]).await;
    assert_eq!(status, 200, "{page}");
}

#[tokio::test]
async fn a_superseded_or_expired_link_opens_a_page_that_changes_nothing() {
    let h = Harness::start(
        Scenario::demo(),
        &[("IMAGESHARE_CONSENT_DEADLINE_HOURS", "1")],
    )
    .await;
    let id = h.submit(&document()).await;
    h.until_state(id, "AwaitingConsent").await;
    let old = state_of(&mailed_link(&h));
    let (status, body) = resend(&h, id).await;
    assert_eq!(status, 202, "{body:#}");
    h.run_until(id, |s| {
        history_events(s).contains(&"consent-link-resent".to_owned())
    })
    .await;
    let new = state_of(&mailed_link(&h));
    assert_ne!(old, new);
    let before = stored(&h, id).await;

    let (status, _, page) = open_page(&h, &[("state", &old)]).await;
    assert_eq!(status, 410, "{page}");
    assert!(page.contains("newer link"), "{page}");
    let (status, page) = answer(&h, &[("state", &old), ("decision", "decline")]).await;
    assert_eq!(status, 410, "{page}");
    assert_eq!(
        stored(&h, id).await,
        before,
        "the old link changed something"
    );

    // Past the deadline, before the expiring re-check has run.
    h.sim.advance_clock(std::time::Duration::from_secs(3700));
    let before = stored(&h, id).await;
    let (status, _, page) = open_page(&h, &[("state", &new)]).await;
    assert_eq!(status, 410, "{page}");
    assert!(page.contains("expired"), "{page}");
    let (status, page) = answer(&h, &[("state", &new), ("decision", "decline")]).await;
    assert_eq!(status, 410, "{page}");
    assert_eq!(stored(&h, id).await, before);
}

#[tokio::test]
async fn the_page_of_a_completed_request_is_already_used_and_shows_nothing_of_it() {
    let h = Harness::start(Scenario::demo(), &[]).await;
    let id = completed_first_request(&h).await;
    let state = state_of(&mailed_link(&h));
    let before = stored(&h, id).await;

    let (status, _, page) = open_page(&h, &[("state", &state)]).await;
    assert_eq!(status, 410, "{page}");
    assert!(page.contains("already used"), "{page}");
    assert!(!page.contains("vm-fabrikam-01"), "{page}");
    let (status, _) = answer(&h, &[("state", &state), ("decision", "decline")]).await;
    assert_eq!(status, 410);
    assert_eq!(stored(&h, id).await, before);
}
