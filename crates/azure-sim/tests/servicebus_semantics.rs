//! Service Bus behaviour over plain REST: locks, redelivery, dead-lettering, duplicate
//! detection, scheduling, long-polling and authorization.

// Helpers outside #[test] functions unwrap too: this is test code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use azure_sim::{
    Scenario, Sim,
    scenario::{EntitySpec, Replication, SasPolicySpec, demo},
    timefmt,
};
use common::{
    authorized, call, demo_sas, header, operator_token, sas, sb_url, start_demo, transport,
};
use reqwest::Method;

async fn send(
    sim: &Sim,
    queue: &str,
    body: &str,
    broker_properties: Option<&str>,
) -> reqwest::Response {
    let auth = demo_sas(sim);
    let mut headers = vec![("authorization", auth.as_str())];
    if let Some(bp) = broker_properties {
        headers.push(("brokerproperties", bp));
    }
    call(
        &transport(sim),
        Method::POST,
        &sb_url(&format!("{queue}/messages")),
        &headers,
        body.to_owned(),
    )
    .await
}

/// Sends `body` to `entity` with `Authorization: auth`.
async fn send_as(sim: &Sim, auth: &str, entity: &str, body: &'static str) -> reqwest::Response {
    let url = sb_url(&format!("{entity}/messages"));
    authorized(sim, Method::POST, &url, auth, body).await
}

/// Peek-locks the head of `entity` with `Authorization: auth`, waiting up to `timeout` seconds.
async fn peek_as(sim: &Sim, auth: &str, entity: &str, timeout: u32) -> reqwest::Response {
    let url = sb_url(&format!("{entity}/messages/head?timeout={timeout}"));
    authorized(sim, Method::POST, &url, auth, "").await
}

async fn peek(sim: &Sim, entity: &str, timeout: u32) -> reqwest::Response {
    peek_as(sim, &demo_sas(sim), entity, timeout).await
}

/// Completes (DELETE), renews (POST) or abandons (PUT) the message a lock URL names.
async fn on_lock(sim: &Sim, method: Method, lock: &str) -> reqwest::Response {
    authorized(sim, method, lock, &demo_sas(sim), "").await
}

/// A SAS token for `scope` signed with `policy`'s `key`, valid for ten minutes.
fn sas_for(sim: &Sim, scope: &str, key: &str, policy: &str) -> String {
    sas(scope, key, policy, sim.now().unix_timestamp() + 600)
}

/// `Bearer {the operator's managed identity token for resource}`.
async fn operator_bearer(sim: &Sim, resource: &str) -> String {
    format!("Bearer {}", operator_token(sim, resource).await)
}

fn broker_properties(response: &reqwest::Response) -> serde_json::Value {
    serde_json::from_str(&header(response, "brokerproperties").expect("BrokerProperties")).unwrap()
}

fn scenario_with_queue(max_delivery_count: u32) -> Scenario {
    let mut s = Scenario::demo().with_replication(Replication::none());
    s.service_bus_namespaces[0].queues.push(EntitySpec {
        name: "fragile".into(),
        lock_duration: "PT30S".into(),
        max_delivery_count,
        duplicate_detection_window: None,
    });
    s
}

#[tokio::test]
async fn send_answers_201_with_an_empty_xml_typed_body() {
    let sim = start_demo().await;
    let r = send(&sim, "create-vm", "hello", None).await;
    assert_eq!(r.status(), 201);
    assert_eq!(
        header(&r, "content-type").unwrap(),
        "application/xml; charset=utf-8"
    );
    assert!(header(&r, "etag").is_some());
    assert_eq!(r.text().await.unwrap(), "");
}

#[tokio::test]
async fn peek_lock_answers_201_with_broker_properties_and_an_https_lock_location() {
    let sim = start_demo().await;
    send(
        &sim,
        "create-vm",
        "hello",
        Some(r#"{"MessageId":"m-1","Label":"l"}"#),
    )
    .await;
    let r = peek(&sim, "create-vm", 5).await;
    assert_eq!(r.status(), 201);
    let bp = broker_properties(&r);
    assert_eq!(bp["MessageId"], "m-1");
    assert_eq!(bp["Label"], "l");
    assert_eq!(bp["DeliveryCount"], 1);
    assert_eq!(bp["State"], "Active");
    assert!(bp["TimeToLive"].is_f64());
    let locked = timefmt::parse_http_date(bp["LockedUntilUtc"].as_str().unwrap()).unwrap();
    assert!(bp["LockedUntilUtc"].as_str().unwrap().ends_with(" GMT"));
    assert!(locked > sim.now() + time::Duration::seconds(25));
    let location = header(&r, "location").unwrap();
    assert_eq!(
        location,
        sb_url(&format!(
            "create-vm/messages/{}/{}",
            bp["SequenceNumber"],
            bp["LockToken"].as_str().unwrap()
        ))
    );
}

#[tokio::test]
async fn a_message_whose_lock_expires_is_delivered_again_with_a_higher_delivery_count() {
    let sim = start_demo().await;
    send(&sim, "create-vm", "m", None).await;
    let first = peek(&sim, "create-vm", 0).await;
    let first_bp = broker_properties(&first);
    let old_lock = header(&first, "location").unwrap();
    assert_eq!(
        peek(&sim, "create-vm", 0).await.status(),
        204,
        "locked messages are invisible"
    );

    sim.advance_clock(Duration::from_secs(31));
    let again = peek(&sim, "create-vm", 0).await;
    assert_eq!(again.status(), 201);
    let bp = broker_properties(&again);
    assert_eq!(bp["DeliveryCount"], 2);
    assert_eq!(bp["SequenceNumber"], first_bp["SequenceNumber"]);
    assert_ne!(bp["LockToken"], first_bp["LockToken"]);

    let stale = on_lock(&sim, Method::DELETE, &old_lock).await;
    assert_eq!(
        stale.status(),
        404,
        "completing with an expired lock is refused"
    );
    assert!(
        stale
            .text()
            .await
            .unwrap()
            .contains("The lock supplied is invalid")
    );
}

#[tokio::test]
async fn renewing_a_lock_keeps_the_message_invisible_past_the_first_expiry() {
    let sim = start_demo().await;
    send(&sim, "create-vm", "m", None).await;
    let first = peek(&sim, "create-vm", 0).await;
    let lock = header(&first, "location").unwrap();
    sim.advance_clock(Duration::from_secs(20));
    let renewed = on_lock(&sim, Method::POST, &lock).await;
    assert_eq!(renewed.status(), 200);
    sim.advance_clock(Duration::from_secs(20));
    assert_eq!(peek(&sim, "create-vm", 0).await.status(), 204);
    let done = on_lock(&sim, Method::DELETE, &lock).await;
    assert_eq!(done.status(), 200);
}

#[tokio::test]
async fn a_message_past_max_delivery_count_moves_to_the_dead_letter_queue() {
    let sim = Sim::start(scenario_with_queue(2)).await.unwrap();
    send(&sim, "fragile", "poison", Some(r#"{"MessageId":"p-1"}"#)).await;
    for _ in 0..2 {
        assert_eq!(peek(&sim, "fragile", 0).await.status(), 201);
        sim.advance_clock(Duration::from_secs(31));
    }
    assert_eq!(peek(&sim, "fragile", 0).await.status(), 204);

    let dead = peek(&sim, "fragile/$DeadLetterQueue", 0).await;
    assert_eq!(dead.status(), 201);
    assert_eq!(
        header(&dead, "deadletterreason").unwrap(),
        "\"MaxDeliveryCountExceeded\""
    );
    assert!(
        header(&dead, "location")
            .unwrap()
            .contains("/fragile/$DeadLetterQueue/messages/")
    );
    let bp = broker_properties(&dead);
    assert_eq!(bp["MessageId"], "p-1");
    assert_eq!(dead.text().await.unwrap(), "poison");
}

#[tokio::test]
async fn abandoning_the_last_allowed_delivery_dead_letters_at_once() {
    let sim = Sim::start(scenario_with_queue(1)).await.unwrap();
    send(&sim, "fragile", "poison", None).await;
    let r = peek(&sim, "fragile", 0).await;
    let lock = header(&r, "location").unwrap();
    let unlocked = on_lock(&sim, Method::PUT, &lock).await;
    assert_eq!(unlocked.status(), 200);
    assert_eq!(peek(&sim, "fragile", 0).await.status(), 204);
    assert_eq!(
        peek(&sim, "fragile/$deadletterqueue", 0).await.status(),
        201
    );
}

#[tokio::test]
async fn a_duplicate_message_id_within_the_window_is_accepted_and_dropped() {
    let sim = start_demo().await;
    let bp = r#"{"MessageId":"req-7-issue-credentials-1"}"#;
    assert_eq!(
        send(&sim, "issue-credentials", "first", Some(bp))
            .await
            .status(),
        201
    );
    assert_eq!(
        send(&sim, "issue-credentials", "second", Some(bp))
            .await
            .status(),
        201
    );
    let got = peek(&sim, "issue-credentials", 0).await;
    let lock = header(&got, "location").unwrap();
    assert_eq!(got.text().await.unwrap(), "first");
    assert_eq!(peek(&sim, "issue-credentials", 0).await.status(), 204);
    let done = on_lock(&sim, Method::DELETE, &lock).await;
    assert_eq!(done.status(), 200);

    // After the ten-minute window the same id is a new message.
    sim.advance_clock(Duration::from_secs(11 * 60));
    assert_eq!(
        send(&sim, "issue-credentials", "third", Some(bp))
            .await
            .status(),
        201
    );
    let third = peek(&sim, "issue-credentials", 0).await;
    assert_eq!(third.status(), 201);
    assert_eq!(third.text().await.unwrap(), "third");
}

#[tokio::test]
async fn a_scheduled_message_in_rfc1123_form_waits_for_its_time() {
    let sim = start_demo().await;
    let due = timefmt::rfc1123(sim.now() + time::Duration::minutes(10));
    let bp = format!(r#"{{"ScheduledEnqueueTimeUtc":"{due}"}}"#);
    assert_eq!(
        send(&sim, "confirm-consent", "re-check", Some(&bp))
            .await
            .status(),
        201
    );
    assert_eq!(peek(&sim, "confirm-consent", 0).await.status(), 204);
    sim.advance_clock(Duration::from_secs(9 * 60));
    assert_eq!(peek(&sim, "confirm-consent", 0).await.status(), 204);
    sim.advance_clock(Duration::from_secs(61));
    let r = peek(&sim, "confirm-consent", 0).await;
    assert_eq!(r.status(), 201);
    assert_eq!(broker_properties(&r)["ScheduledEnqueueTimeUtc"], due);
}

#[tokio::test]
async fn peek_lock_on_an_empty_queue_answers_204_after_the_timeout() {
    let sim = start_demo().await;
    let r = peek(&sim, "send-consent-link", 1).await;
    assert_eq!(r.status(), 204);
    assert!(header(&r, "brokerproperties").is_none());
}

#[tokio::test]
async fn a_waiting_peek_lock_is_answered_by_a_message_sent_meanwhile() {
    let sim = start_demo().await;
    let waiting = {
        let t = transport(&sim);
        let auth = demo_sas(&sim);
        let url = sb_url("send-consent-link/messages/head?timeout=60");
        tokio::spawn(
            async move { call(&t, Method::POST, &url, &[("authorization", &auth)], "").await },
        )
    };
    send(&sim, "send-consent-link", "wake up", None).await;
    let r = waiting.await.unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.text().await.unwrap(), "wake up");
}

#[tokio::test]
async fn receive_and_delete_answers_200_without_a_lock() {
    let sim = start_demo().await;
    send(&sim, "create-vm", "gone", None).await;
    let head = sb_url("create-vm/messages/head?timeout=1");
    let r = authorized(&sim, Method::DELETE, &head, &demo_sas(&sim), "").await;
    assert_eq!(r.status(), 200);
    let bp = broker_properties(&r);
    assert!(bp.get("LockToken").is_none() && bp.get("LockedUntilUtc").is_none());
    assert!(header(&r, "location").is_none());
}

#[tokio::test]
async fn an_unknown_queue_answers_404_in_the_service_bus_error_shape() {
    let sim = start_demo().await;
    let r = send(&sim, "no-such-queue", "x", None).await;
    assert_eq!(r.status(), 404);
    let body = r.text().await.unwrap();
    assert!(
        body.starts_with("<Error><Code>404</Code><Detail>The messaging entity"),
        "{body}"
    );
}

#[tokio::test]
async fn a_sas_token_with_a_bad_signature_is_refused_with_401() {
    let sim = start_demo().await;
    let forged = sas_for(
        &sim,
        &sb_url("create-vm/messages"),
        "d3Jvbmcta2V5",
        demo::SAS_POLICY,
    );
    let r = send_as(&sim, &forged, "create-vm", "x").await;
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().contains("InvalidSignature"));
}

#[tokio::test]
async fn an_expired_sas_token_is_refused_with_401() {
    let sim = start_demo().await;
    let url = sb_url("create-vm/messages");
    let token = sas(
        &url,
        demo::SAS_KEY,
        demo::SAS_POLICY,
        sim.now().unix_timestamp() + 60,
    );
    sim.advance_clock(Duration::from_secs(61));
    let r = send_as(&sim, &token, "create-vm", "x").await;
    assert_eq!(r.status(), 401);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("ExpiredToken: The token is expired.")
    );
}

#[tokio::test]
async fn a_sas_token_for_another_queue_is_refused() {
    let sim = start_demo().await;
    let token = sas_for(
        &sim,
        &sb_url("share-requests"),
        demo::SAS_KEY,
        demo::SAS_POLICY,
    );
    let r = send_as(&sim, &token, "create-vm", "x").await;
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn a_request_without_authorization_is_refused() {
    let sim = start_demo().await;
    let r = call(
        &transport(&sim),
        Method::POST,
        &sb_url("create-vm/messages"),
        &[],
        "x",
    )
    .await;
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().contains("MissingToken"));
}

#[tokio::test]
async fn a_listen_only_policy_cannot_send() {
    let mut s = Scenario::demo();
    s.service_bus_namespaces[0]
        .sas_policies
        .push(SasPolicySpec {
            name: "listen".into(),
            primary_key: "bGlzdGVuLWtleQ==".into(),
            secondary_key: None,
            rights: vec!["Listen".into()],
        });
    let sim = Sim::start(s).await.unwrap();
    let token = sas_for(
        &sim,
        &sb_url("create-vm/messages"),
        "bGlzdGVuLWtleQ==",
        "listen",
    );
    let r = send_as(&sim, &token, "create-vm", "x").await;
    assert_eq!(r.status(), 401);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("'Send' claim(s) are required")
    );
    let listen = sas_for(&sim, &sb_url("create-vm"), "bGlzdGVuLWtleQ==", "listen");
    let peeked = peek_as(&sim, &listen, "create-vm", 0).await;
    assert_eq!(peeked.status(), 204);
}

#[tokio::test]
async fn an_entra_token_of_a_data_owner_may_send_and_receive() {
    let sim = start_demo().await;
    let auth = operator_bearer(&sim, "https://servicebus.azure.net").await;
    let sent = send_as(&sim, &auth, "create-vm", "via entra").await;
    assert_eq!(sent.status(), 201);
    let got = peek_as(&sim, &auth, "create-vm", 0).await;
    assert_eq!(got.status(), 201);
}

#[tokio::test]
async fn an_entra_token_for_another_audience_is_refused() {
    let sim = start_demo().await;
    let auth = operator_bearer(&sim, "https://graph.microsoft.com").await;
    let r = send_as(&sim, &auth, "create-vm", "x").await;
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().contains("InvalidAudience"));
}

#[tokio::test]
async fn an_entity_scoped_data_sender_may_send_to_its_topic_only() {
    let mut s = Scenario::demo().with_replication(Replication::none());
    let namespace_id = s.service_bus_namespaces[0].resource_id.clone();
    s.role_assignments
        .retain(|a| a.role != "Azure Service Bus Data Owner");
    s.role_assignments
        .push(azure_sim::scenario::RoleAssignmentSpec {
            principal_id: demo::OPERATOR_PRINCIPAL_ID.into(),
            role: "Azure Service Bus Data Sender".into(),
            scope: format!("{namespace_id}/topics/{}", demo::TOPIC),
            ..Default::default()
        });
    let sim = Sim::start(s).await.unwrap();
    let auth = operator_bearer(&sim, "https://servicebus.azure.net").await;
    let to_topic = send_as(&sim, &auth, "share-events", "e").await;
    assert_eq!(to_topic.status(), 201);
    let to_queue = send_as(&sim, &auth, "create-vm", "q").await;
    assert_eq!(to_queue.status(), 401);
    let receive = peek_as(&sim, &auth, "share-events/subscriptions/all", 0).await;
    assert_eq!(receive.status(), 401, "a sender cannot listen");
    assert!(
        receive
            .text()
            .await
            .unwrap()
            .contains("'Listen' claim(s) are required")
    );
}
