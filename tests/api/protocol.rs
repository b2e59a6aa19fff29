//! The host's invocation encodings: fixtures round-trip, decode and are answered by the rules.

use std::path::{Path, PathBuf};

use imageshare::{
    functions::QUEUE_BINDING,
    invocation::{BodyEncoding, InvocationRequest, ServiceBusMessage},
    steps::StepMessage,
};
use serde_json::Value;

use crate::helpers::spawn_app;

fn fixture(name: &str) -> (PathBuf, Value) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/invocations")
        .join(name);
    let value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    (path, value)
}

const QUEUE_FIXTURES: [(&str, &str, BodyEncoding); 5] = [
    (
        "IssueCredentials.json",
        "IssueCredentials",
        BodyEncoding::Binary,
    ),
    (
        "SendConsentLink.json",
        "SendConsentLink",
        BodyEncoding::Binary,
    ),
    (
        "ConfirmConsent.json",
        "ConfirmConsent",
        BodyEncoding::Binary,
    ),
    ("CreateVm.json", "CreateVm", BodyEncoding::Binary),
    (
        "ConfirmConsent.string-encoded.json",
        "ConfirmConsent",
        BodyEncoding::Binary,
    ),
];

#[test]
fn queue_fixtures_round_trip_through_the_envelope_type() {
    for (name, _, _) in QUEUE_FIXTURES {
        let (_, original) = fixture(name);
        let envelope: InvocationRequest = serde_json::from_value(original.clone()).unwrap();
        let back = serde_json::json!({"Data": envelope.data, "Metadata": envelope.metadata});
        assert_eq!(back, original, "{name}");
    }
}

#[test]
fn queue_fixtures_decode_to_a_step_message_and_its_service_bus_properties() {
    for (name, function, encoding) in QUEUE_FIXTURES {
        let (_, original) = fixture(name);
        let envelope = InvocationRequest::from_slice(original.to_string().as_bytes()).unwrap();
        let message = ServiceBusMessage::decode(&envelope, QUEUE_BINDING, encoding).unwrap();
        let step: StepMessage = message.body_json().unwrap();
        assert_eq!(step.step.function_name(), function, "{name}");
        assert_eq!(
            message.message_id.as_deref(),
            Some(step.message_id().as_str()),
            "{name}"
        );
        assert!(message.delivery_count.unwrap() >= 1, "{name}");
        assert!(message.enqueued_time.is_some(), "{name}");
        assert_eq!(
            message.content_type.as_deref(),
            Some("application/json"),
            "{name}"
        );
    }
}

#[test]
fn the_string_encoded_fixture_shows_the_body_merge_quirk_and_it_is_not_trusted() {
    let (_, original) = fixture("ConfirmConsent.string-encoded.json");
    assert_eq!(
        original["Metadata"]["requestId"],
        "\"0f8fad5b-d9cb-469f-a165-70867728950e\""
    );
    let envelope = InvocationRequest::from_slice(original.to_string().as_bytes()).unwrap();
    let message =
        ServiceBusMessage::decode(&envelope, QUEUE_BINDING, BodyEncoding::String).unwrap();
    assert_eq!(message.delivery_count, Some(2));
    assert!(
        message.shadowed_keys.is_empty(),
        "no Service Bus key collides with a step message field"
    );
}

#[tokio::test]
async fn a_host_encoded_step_invocation_for_an_unknown_request_is_completed_with_a_full_envelope() {
    let app = spawn_app().await;
    for (name, function, _) in QUEUE_FIXTURES {
        let (_, body) = fixture(name);
        let response = app
            .client
            .post(format!("{}/{function}", app.url))
            .header("content-type", "application/json; charset=utf-8")
            .header(
                "x-azure-functions-invocationid",
                "6f2c2a4e-9b7d-4c1e-8a3f-0d5e7b9c1a24",
            )
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        // Retrying cannot make an unknown request appear: the message is completed.
        assert_eq!(response.status(), 200, "{name}");
        assert_eq!(
            response.headers()["content-type"],
            "application/json",
            "{name}"
        );
        let reply: Value = response.json().await.unwrap();
        assert!(reply["Outputs"].as_object().unwrap().is_empty(), "{name}");
        assert!(reply["ReturnValue"].is_null(), "{name}");
        let logs = reply["Logs"].as_array().unwrap();
        assert!(
            logs[0].as_str().unwrap().contains("nothing to do"),
            "{name}: {logs:?}"
        );
    }
}

#[tokio::test]
async fn a_step_that_cannot_reach_azure_schedules_its_retry_and_completes_the_delivery() {
    let app = spawn_app().await;
    let submitted: Value = app
        .submit(&crate::helpers::valid_document(), None)
        .await
        .json()
        .await
        .unwrap();
    let (_, mut body) = fixture("IssueCredentials.json");
    let message = format!(
        r#"{{"requestId":"{}","step":"issue-credentials","attempt":0}}"#,
        submitted["id"].as_str().unwrap()
    );
    body["Data"]["message"] = base64_encode(message.as_bytes()).into();

    let response = app
        .client
        .post(format!("{}/IssueCredentials", app.url))
        .body(body.to_string())
        .send()
        .await
        .unwrap();

    // The delivery is completed at once (no invocation held for a pause) and a copy of the
    // message is scheduled as retry 1.
    assert_eq!(response.status(), 200);
    let reply: Value = response.json().await.unwrap();
    assert!(
        reply["Logs"][0].as_str().unwrap().contains("retryable"),
        "{reply}"
    );
    let retries: Vec<_> = app
        .queue
        .sent()
        .into_iter()
        .filter(|s| {
            s.message.step == imageshare::domain::Step::IssueCredentials && s.message.retry == 1
        })
        .collect();
    assert_eq!(retries.len(), 1, "{retries:?}");
    assert!(
        retries[0].not_before.is_some(),
        "the retry is scheduled, not immediate"
    );
    let status: Value = app
        .get(&format!(
            "/api/share-requests/{}",
            submitted["id"].as_str().unwrap()
        ))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        status["lastError"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("no Azure clients")),
        "the status says why it waits: {status:#}"
    );
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test]
async fn a_step_message_on_the_wrong_queue_is_not_completed() {
    let app = spawn_app().await;
    let (_, body) = fixture("CreateVm.json");
    let response = app
        .client
        .post(format!("{}/IssueCredentials", app.url))
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
}

#[tokio::test]
async fn an_undecodable_invocation_is_not_completed() {
    let app = spawn_app().await;
    for body in [
        "",
        "null",
        "[]",
        r#"{"Data":{}}"#,
        r#"{"Data":{"message":"bm90IGpzb24="}}"#,
    ] {
        let response = app
            .client
            .post(format!("{}/IssueCredentials", app.url))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 500, "{body}");
        let reply: Value = response.json().await.unwrap();
        assert!(reply.get("Logs").is_some(), "{body}");
    }
}

/// Replays a forwarded-HTTP fixture against the app.
async fn replay_http(app: &crate::helpers::TestApp, name: &str) -> reqwest::Response {
    let (_, f) = fixture(name);
    let mut url = format!("{}{}", app.url, f["path"].as_str().unwrap());
    if let Some(q) = f["query"].as_str().filter(|q| !q.is_empty()) {
        url = format!("{url}?{q}");
    }
    let mut request = app
        .client
        .request(f["method"].as_str().unwrap().parse().unwrap(), url);
    for (k, v) in f["headers"].as_object().unwrap() {
        if !k.eq_ignore_ascii_case("host") && !k.eq_ignore_ascii_case("content-length") {
            request = request.header(k, v.as_str().unwrap());
        }
    }
    if !f["body"].is_null() {
        request = request.body(f["body"].to_string());
    }
    request.send().await.unwrap()
}

#[test]
fn http_fixtures_round_trip() {
    for name in [
        "SubmitShareRequest.http.json",
        "GetShareRequest.http.json",
        "ConsentCallback.http.json",
    ] {
        let (_, original) = fixture(name);
        let text = serde_json::to_string(&original).unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap(),
            original,
            "{name}"
        );
        assert!(
            original["headers"]["X-Azure-Functions-InvocationId"].is_string(),
            "{name}"
        );
    }
}

#[tokio::test]
async fn forwarded_http_fixtures_are_answered_on_their_original_paths() {
    let app = spawn_app().await;

    let submitted = replay_http(&app, "SubmitShareRequest.http.json").await;
    assert_eq!(submitted.status(), 202);
    let body: Value = submitted.json().await.unwrap();
    assert_eq!(
        body["history"][0]["invocationId"],
        "6f2c2a4e-9b7d-4c1e-8a3f-0d5e7b9c1a24"
    );

    let unknown = replay_http(&app, "GetShareRequest.http.json").await;
    assert_eq!(unknown.status(), 404);

    let callback = replay_http(&app, "ConsentCallback.http.json").await;
    assert_ne!(callback.status(), 404);
}
