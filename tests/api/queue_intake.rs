//! Share requests from the `share-requests` queue (`ReceiveShareRequest`).

use base64::{Engine, engine::general_purpose::STANDARD};
use imageshare::{
    domain::{Origin, RequestId, Step},
    store::RequestStore,
};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, valid_document};

fn fixture() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/invocations/ReceiveShareRequest.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The fixture's envelope with another body, MessageId, content type and properties.
fn envelope(body: &[u8], message_id: &str, content_type: Option<&str>, properties: Value) -> Value {
    let mut e = fixture();
    e["Data"]["message"] = STANDARD.encode(body).into();
    e["Metadata"]["MessageId"] = serde_json::to_string(message_id).unwrap().into();
    match content_type {
        Some(ct) => e["Metadata"]["ContentType"] = serde_json::to_string(ct).unwrap().into(),
        None => {
            e["Metadata"].as_object_mut().unwrap().remove("ContentType");
        }
    }
    e["Metadata"]["ApplicationProperties"] = properties.clone();
    e["Metadata"]["UserProperties"] = properties;
    e
}

async fn deliver(app: &TestApp, envelope: &Value) -> (u16, Value) {
    let response = app
        .client
        .post(format!("{}/ReceiveShareRequest", app.url))
        .header(
            "x-azure-functions-invocationid",
            "2a7d3c1e-4b5f-4e6a-8d9c-0b1a2c3d4e5f",
        )
        .body(envelope.to_string())
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn a_queued_request_starts_the_pipeline_keyed_by_its_idempotency_property() {
    let app = spawn_app().await;

    let (status, reply) = deliver(&app, &fixture()).await;

    assert_eq!(status, 200, "{reply}");
    let id = RequestId::for_idempotency_key("ticket-4711");
    let stored = app
        .store
        .get(id)
        .await
        .unwrap()
        .expect("the request is stored under its key");
    assert_eq!(
        stored.request.origin,
        Origin::Queue {
            idempotency_key: "ticket-4711".into(),
            reply_to: Some("share-events".into()),
            correlation_id: Some("change-CHG0031337".into()),
        }
    );
    let sent = app.queue.sent();
    assert_eq!(
        (sent.len(), sent[0].message.step),
        (1, Step::IssueCredentials)
    );
    let events = app.events.published();
    let event = serde_json::to_value(&events[0]).unwrap();
    assert_eq!(event["type"], "imageshare.request.submitted");
    assert_eq!(event["correlationid"], "change-CHG0031337");
    assert_eq!(event["replyto"], "share-events");
}

#[tokio::test]
async fn the_same_message_delivered_twice_starts_one_request() {
    let app = spawn_app().await;
    let message = envelope(
        valid_document().to_string().as_bytes(),
        "msg-1",
        Some("application/json"),
        json!({}),
    );

    deliver(&app, &message).await;
    let (status, _) = deliver(&app, &message).await;

    assert_eq!(status, 200);
    assert_eq!(app.store.len(), 1);
    assert!(
        app.store
            .get(RequestId::for_idempotency_key("msg-1"))
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(app.events.published().len(), 1);
}

#[tokio::test]
async fn every_message_that_can_never_succeed_is_rejected_once_with_its_reasons() {
    let app = spawn_app().await;
    let with = |edit: fn(&mut Value)| {
        let mut d = valid_document();
        edit(&mut d);
        d.to_string().into_bytes()
    };
    let cases: Vec<(&str, Vec<u8>, Option<&str>, &str)> = vec![
        (
            "malformed JSON",
            b"{\"consumer\":".to_vec(),
            Some("application/json"),
            "#",
        ),
        ("empty body", Vec::new(), Some("application/json"), "#"),
        ("a JSON array", b"[]".to_vec(), None, "#"),
        (
            "plain text",
            b"share ubuntu with fabrikam".to_vec(),
            Some("text/plain"),
            "#",
        ),
        ("XML", b"<share/>".to_vec(), Some("application/xml"), "#"),
        (
            "bad tenant id",
            with(|d| d["consumer"]["tenantId"] = "fabrikam".into()),
            None,
            "#/consumer/tenantId",
        ),
        (
            "missing VM",
            with(|d| {
                d.as_object_mut().unwrap().remove("vm");
            }),
            Some("application/json"),
            "#/vm",
        ),
        (
            "unknown field",
            with(|d| d["priority"] = "high".into()),
            Some("application/json"),
            "#/priority",
        ),
        (
            "image not allowed",
            with(|d| d["image"] = json!({"name": "windows-2022"})),
            Some("application/json"),
            "#/image/name",
        ),
        (
            "bad SSH key",
            with(|d| d["vm"]["sshPublicKey"] = "ssh-rsa AAAA".into()),
            Some("application/json"),
            "#/vm/sshPublicKey",
        ),
        (
            "oversize",
            with(|d| d["vm"]["name"] = "x".repeat(20_000).into()),
            Some("application/json"),
            "#",
        ),
        (
            "VM size as a number",
            with(|d| d["vm"]["size"] = 2.into()),
            Some("application/json"),
            "#/vm/size",
        ),
    ];
    assert!(cases.len() >= 10);

    for (i, (name, body, content_type, pointer)) in cases.into_iter().enumerate() {
        let message_id = format!("bad-{i}");
        let (status, reply) =
            deliver(&app, &envelope(&body, &message_id, content_type, json!({}))).await;
        assert_eq!(
            status, 200,
            "{name}: a hopeless message must be completed, not retried: {reply}"
        );

        let id = RequestId::for_idempotency_key(&message_id);
        let response = app.get(&format!("/api/share-requests/{id}")).await;
        assert_eq!(response.status(), 200, "{name}");
        let document: Value = response.json().await.unwrap();
        assert_eq!(document["state"], "Rejected", "{name}");
        let pointers: Vec<&str> = document["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["pointer"].as_str().unwrap())
            .collect();
        assert!(pointers.contains(&pointer), "{name}: {pointers:?}");
        assert_eq!(document["history"][0]["event"], "rejected", "{name}");
    }

    assert!(app.store.is_empty(), "a rejected message became a request");
    assert!(
        app.queue.sent().is_empty(),
        "a rejected message started the pipeline"
    );
    let rejected_events = app
        .events
        .published()
        .iter()
        .filter(|e| e.kind == "imageshare.request.rejected")
        .count();
    assert_eq!(rejected_events, 12);
}

#[tokio::test]
async fn a_queued_document_with_a_key_given_twice_is_rejected_naming_the_key() {
    let app = spawn_app().await;
    let text = valid_document().to_string().replace(
        r#""image":{"name":"ubuntu-hardened"}"#,
        r#""image":{"name":"not-in-catalog","name":"ubuntu-hardened"}"#,
    );
    let message = envelope(
        text.as_bytes(),
        "dup-1",
        Some("application/json"),
        json!({}),
    );

    let (status, reply) = deliver(&app, &message).await;

    assert_eq!(status, 200, "{reply}");
    let id = RequestId::for_idempotency_key("dup-1");
    let document: Value = app
        .get(&format!("/api/share-requests/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(document["state"], "Rejected");
    assert_eq!(document["errors"][0]["pointer"], "#/image/name");
    assert!(app.store.is_empty(), "the document became a request");
    assert!(app.queue.sent().is_empty());
}

/// The id a message without a usable key is rejected under (README, queue section).
fn keyless_id(body: &[u8]) -> RequestId {
    use sha2::{Digest, Sha256};
    let hex: String = Sha256::digest(body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    RequestId::for_idempotency_key(&format!("sha256:{hex}"))
}

async fn rejected_document(app: &TestApp, id: RequestId) -> Value {
    let response = app.get(&format!("/api/share-requests/{id}")).await;
    assert_eq!(response.status(), 200, "no record for {id}");
    response.json().await.unwrap()
}

fn rejected_events(app: &TestApp) -> usize {
    app.events
        .published()
        .iter()
        .filter(|e| e.kind == "imageshare.request.rejected")
        .count()
}

#[tokio::test]
async fn a_body_with_a_message_id_field_and_no_key_property_is_rejected_under_its_digest() {
    let app = spawn_app().await;
    let mut document = valid_document();
    document["MessageId"] = "forged-id".into();
    let body = document.to_string().into_bytes();
    let message = envelope(
        &body,
        "real-message-id",
        Some("application/json"),
        json!({}),
    );

    let (first, reply) = deliver(&app, &message).await;
    let (second, _) = deliver(&app, &message).await;

    assert_eq!((first, second), (200, 200), "{reply}");
    let id = keyless_id(&body);
    let rejected = rejected_document(&app, id).await;
    assert_eq!(rejected["state"], "Rejected");
    let details: Vec<(&str, &str)> = rejected["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["pointer"].as_str().unwrap(),
                e["detail"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(
        details.iter().any(|(p, _)| *p == "#/MessageId"),
        "{details:?}"
    );
    assert!(
        details
            .iter()
            .any(|(p, d)| *p == "#" && d.contains("Idempotency-Key")),
        "{details:?}"
    );
    for key in ["real-message-id", "forged-id"] {
        let other = RequestId::for_idempotency_key(key);
        assert_eq!(
            app.get(&format!("/api/share-requests/{other}"))
                .await
                .status(),
            404
        );
    }
    assert_eq!(app.store.history(id).await.unwrap().len(), 1);
    assert_eq!(rejected_events(&app), 1);
    assert!(app.store.is_empty() && app.queue.sent().is_empty());
}

#[tokio::test]
async fn a_valid_document_without_a_usable_key_is_rejected_not_dropped() {
    let app = spawn_app().await;
    let body = valid_document().to_string().into_bytes();
    let message = envelope(&body, "has spaces in it", None, json!({}));

    let (status, reply) = deliver(&app, &message).await;

    assert_eq!(status, 200, "{reply}");
    let rejected = rejected_document(&app, keyless_id(&body)).await;
    assert_eq!(rejected["errors"][0]["pointer"], "#");
    assert_eq!(rejected_events(&app), 1);
    assert!(app.store.is_empty() && app.queue.sent().is_empty());
}

#[tokio::test]
async fn a_body_that_is_not_utf8_is_rejected_after_one_delivery_saying_so() {
    let app = spawn_app().await;
    let mut body = valid_document().to_string().into_bytes();
    body[20] = 0xff;
    let message = envelope(&body, "not-utf8", Some("application/json"), json!({}));

    let (status, reply) = deliver(&app, &message).await;

    assert_eq!(status, 200, "{reply}");
    let rejected = rejected_document(&app, RequestId::for_idempotency_key("not-utf8")).await;
    let detail = rejected["errors"][0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("not UTF-8") && detail.contains("offset 20"),
        "{detail}"
    );
    assert_eq!(rejected_events(&app), 1);
}

#[tokio::test]
async fn a_redelivered_rejection_is_recorded_and_announced_once() {
    let app = spawn_app().await;
    let message = envelope(
        b"not json",
        "bad-twice",
        Some("application/json"),
        json!({}),
    );

    deliver(&app, &message).await;
    deliver(&app, &message).await;

    assert_eq!(app.events.published().len(), 1);
    let id = RequestId::for_idempotency_key("bad-twice");
    assert_eq!(app.store.history(id).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_queued_request_for_a_vm_an_active_request_holds_is_rejected_with_that_reason() {
    let app = spawn_app().await;
    let response = app.submit(&valid_document(), Some("over-http")).await;
    assert_eq!(response.status(), 202);
    let holder = RequestId::for_http_idempotency_key("over-http");
    let message = envelope(
        valid_document().to_string().as_bytes(),
        "same-vm",
        Some("application/json"),
        json!({}),
    );

    let (status, reply) = deliver(&app, &message).await;

    assert_eq!(status, 200, "completed, not left to redelivery: {reply}");
    let id = RequestId::for_idempotency_key("same-vm");
    assert!(
        app.store.get(id).await.unwrap().is_none(),
        "no second request"
    );
    let rejected = app
        .store
        .get_rejected(id)
        .await
        .unwrap()
        .expect("a Rejected record");
    assert!(
        rejected.reason.contains(&holder.to_string()) && rejected.reason.contains("still active"),
        "{}",
        rejected.reason
    );
    assert_eq!(rejected.problems[0].pointer, "#/vm/name");
    let (status, _) = deliver(&app, &message).await;
    assert_eq!(status, 200);
    assert_eq!(
        app.store.history(id).await.unwrap().len(),
        1,
        "recorded once"
    );
}

#[tokio::test]
async fn a_queued_request_to_the_owners_own_tenant_is_rejected_with_that_reason() {
    let app = spawn_app().await;
    let body = crate::same_tenant::same_tenant_document().to_string();
    let message = envelope(
        body.as_bytes(),
        "same-tenant-queued",
        Some("application/json"),
        json!({}),
    );

    let (status, reply) = deliver(&app, &message).await;

    assert_eq!(status, 200, "completed, not left to redelivery: {reply}");
    let id = RequestId::for_idempotency_key("same-tenant-queued");
    assert!(app.store.get(id).await.unwrap().is_none(), "no request");
    let rejected = app
        .store
        .get_rejected(id)
        .await
        .unwrap()
        .expect("a Rejected record");
    assert_eq!(rejected.problems[0].pointer, "#/consumer/tenantId");
    assert!(app.queue.sent().is_empty(), "no step queued");
}
