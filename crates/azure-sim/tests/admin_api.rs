//! The `/_sim/` admin API and the request log, over HTTP.

// Helpers outside #[test] functions unwrap too: this is test code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use azure_sim::{SecretKind, scenario::demo};
use common::*;
use reqwest::Method;
use serde_json::{Value, json};

async fn admin(
    sim: &azure_sim::Sim,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut b = reqwest::Client::new().request(method, format!("{}/_sim{path}", sim.url()));
    if let Some(body) = body {
        b = b.json(&body);
    }
    let r = b.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
async fn the_request_log_flags_where_a_known_secret_appeared() {
    let sim = start_demo().await;
    let app = operator_creates_app(&sim, "logged", true).await;
    sim.clear_requests();
    let (status, _, _) = secret_grant(
        &sim,
        demo::CONTOSO_TENANT,
        &app.app_id,
        &app.secret,
        "https://graph.microsoft.com/.default",
    )
    .await;
    assert_eq!(status, 200);
    let (_, log) = admin(&sim, Method::GET, "/requests", None).await;
    let entries = log.as_array().unwrap();
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    assert_eq!(e["method"], "POST");
    assert_eq!(e["host"], "login.microsoftonline.com");
    assert_eq!(
        e["pathAndQuery"].as_str().unwrap(),
        format!("/{}/oauth2/v2.0/token", demo::CONTOSO_TENANT)
    );
    assert_eq!(e["status"], 200);
    assert_eq!(e["containsKnownSecret"], true);
    assert_eq!(
        e["secretsSeen"],
        json!([{"kind": "client_secret", "place": "body"}])
    );
}

#[tokio::test]
async fn known_secrets_include_sas_keys_the_identity_header_and_issued_tokens() {
    let sim = start_demo().await;
    let token = operator_token(&sim, "https://graph.microsoft.com").await;
    let (_, secrets) = admin(&sim, Method::GET, "/known-secrets", None).await;
    let has = |kind: &str, value: &str| {
        secrets
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["kind"] == kind && s["value"] == value)
    };
    assert!(has("sas_key", demo::SAS_KEY));
    assert!(has("identity_header", demo::IDENTITY_HEADER));
    assert!(has("access_token", &token));
    assert!(sim.contains_known_secret(&format!("log line with Bearer {token} inside")));
    assert!(!sim.contains_known_secret("a harmless log line"));
    assert!(
        sim.known_secrets()
            .iter()
            .any(|k| k.kind == SecretKind::Password)
    );
}

#[tokio::test]
async fn faults_are_added_listed_and_cleared_over_http() {
    let sim = start_demo().await;
    let (status, added) = admin(&sim, Method::POST, "/faults", Some(json!({
        "host": "*.servicebus.windows.net", "path": "/create-vm/messages", "method": "POST", "status": 503, "count": 1}))).await;
    assert_eq!(status, 201);
    let (_, list) = admin(&sim, Method::GET, "/faults", None).await;
    assert_eq!(list[0]["id"], added["id"]);
    let url = sb_url("create-vm/messages");
    let r = authorized(&sim, Method::POST, &url, &demo_sas(&sim), "x").await;
    assert_eq!(r.status(), 503);
    assert!(
        r.text()
            .await
            .unwrap()
            .starts_with("<Error><Code>503</Code>"),
        "the fault speaks Service Bus"
    );
    let (status, _) = admin(&sim, Method::DELETE, "/faults", None).await;
    assert_eq!(status, 204);
    assert!(sim.faults().is_empty());
}

#[tokio::test]
async fn the_clock_moves_forward_only() {
    let sim = start_demo().await;
    let before = sim.now();
    let (status, _) = admin(
        &sim,
        Method::POST,
        "/clock",
        Some(json!({"advanceSeconds": 600})),
    )
    .await;
    assert_eq!(status, 200);
    assert!(sim.now() - before >= time::Duration::seconds(600));
    let (status, _) = admin(
        &sim,
        Method::POST,
        "/clock",
        Some(json!({"offsetSeconds": 10})),
    )
    .await;
    assert_eq!(status, 409);
    assert!(sim.set_clock_offset(time::Duration::seconds(5)).is_err());
}

#[tokio::test]
async fn consent_state_scenario_and_outbox_are_readable() {
    let sim = start_demo().await;
    let app = operator_creates_app(&sim, "admin-consent", true).await;
    let (status, sp) = admin(
        &sim,
        Method::POST,
        "/consent",
        Some(json!({
        "tenant": demo::FABRIKAM_DOMAIN, "appId": app.app_id, "admin": demo::FABRIKAM_ADMIN_UPN})),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(sp["tenant"], demo::FABRIKAM_TENANT);
    let (_, state) = admin(&sim, Method::GET, "/state", None).await;
    assert!(
        state["servicePrincipals"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["tenant"] == demo::FABRIKAM_TENANT)
    );
    let creds = &state["applications"][0]["passwordCredentials"];
    assert_eq!(creds.as_array().unwrap().len(), 1);
    assert!(
        !state.to_string().contains(&app.secret),
        "the state view never shows a secret"
    );
    assert!(
        state["queues"]
            .as_array()
            .unwrap()
            .iter()
            .any(|q| q["path"] == "share-events/subscriptions/all/$DeadLetterQueue")
    );
    let (_, scenario) = admin(&sim, Method::GET, "/scenario", None).await;
    assert_eq!(scenario["tenants"][0]["id"], demo::CONTOSO_TENANT);
    let (_, outbox) = admin(
        &sim,
        Method::GET,
        &format!("/outbox/{}", demo::CONTOSO_TENANT),
        None,
    )
    .await;
    assert_eq!(outbox, json!([]));
    let (status, _) = admin(&sim, Method::POST, "/consent", Some(json!({
        "tenant": demo::FABRIKAM_TENANT, "appId": app.app_id, "admin": "nobody@fabrikam.onmicrosoft.com"}))).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn an_unknown_host_answers_404_with_a_clear_body() {
    let sim = start_demo().await;
    let r = reqwest::get(format!("{}/storage.example.net/x", sim.url()))
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("unknown host 'storage.example.net'")
    );
    let r = reqwest::get(format!("{}/management.azure.com/subscriptions", sim.url()))
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        401,
        "Resource Manager is simulated and wants a token"
    );
    assert!(r.text().await.unwrap().contains("AuthenticationFailed"));
}
