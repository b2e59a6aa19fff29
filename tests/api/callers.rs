//! Who did it: behind App Service Authentication the caller's principal is recorded on the
//! change it made and its app roles are enforced; a function key is recorded as such.

use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::{Value, json};

use crate::helpers::{TestApp, settings_with, spawn_app, spawn_app_with, valid_document};

const OID: &str = "7f3c2b1a-5d4e-4f60-8a9b-0c1d2e3f4a5b";

/// The header App Service Authentication sends for a signed-in user with `roles`.
fn principal(roles: &[&str]) -> String {
    let mut claims = vec![
        json!({"typ": "http://schemas.microsoft.com/identity/claims/objectidentifier", "val": OID}),
        json!({"typ": "name", "val": "Ada Operator"}),
    ];
    claims.extend(roles.iter().map(|r| json!({"typ": "roles", "val": r})));
    STANDARD.encode(
        json!({"auth_typ": "aad", "claims": claims, "name_typ": "name", "role_typ": "roles"})
            .to_string(),
    )
}

async fn behind_authentication() -> TestApp {
    spawn_app_with(settings_with(&[("WEBSITE_AUTH_ENABLED", "True")])).await
}

async fn submit_as(app: &TestApp, header: &str) -> reqwest::Response {
    app.client
        .post(format!("{}/api/share-requests", app.url))
        .header("X-MS-CLIENT-PRINCIPAL", header)
        .header("X-MS-CLIENT-PRINCIPAL-ID", OID)
        .header("X-MS-CLIENT-PRINCIPAL-NAME", "Ada Operator")
        .json(&valid_document())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_signed_in_principal_is_recorded_as_the_actor_of_its_submission() {
    let app = behind_authentication().await;

    let response = submit_as(&app, &principal(&["ShareRequests.Submit"])).await;

    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["history"][0]["actor"], "api");
    assert_eq!(
        body["history"][0]["caller"],
        json!({"kind": "principal", "objectId": OID, "name": "Ada Operator"})
    );
}

#[tokio::test]
async fn a_principal_without_the_submit_role_is_refused_with_403_and_nothing_is_stored() {
    let app = behind_authentication().await;

    let response = submit_as(&app, &principal(&["ShareRequests.Read"])).await;

    assert_eq!(response.status(), 403);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["type"], "urn:imageshare:problem:missing-role");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("ShareRequests.Submit")
    );
    assert_eq!(app.store.len(), 0);
    assert!(app.queue.sent().is_empty());
}

#[tokio::test]
async fn reading_a_status_needs_the_read_role_when_a_principal_calls() {
    let app = behind_authentication().await;
    let submitted: Value = submit_as(&app, &principal(&["ShareRequests.Submit"]))
        .await
        .json()
        .await
        .unwrap();
    let path = format!("/api/share-requests/{}", submitted["id"].as_str().unwrap());
    let get_as = |roles: &'static [&'static str]| {
        app.client
            .get(format!("{}{path}", app.url))
            .header("X-MS-CLIENT-PRINCIPAL", principal(roles))
            .send()
    };

    assert_eq!(
        get_as(&["ShareRequests.Submit"]).await.unwrap().status(),
        403
    );
    assert_eq!(get_as(&["ShareRequests.Read"]).await.unwrap().status(), 200);
}

#[tokio::test]
async fn re_sending_a_consent_link_needs_the_submit_role_and_a_refusal_changes_nothing() {
    let app = behind_authentication().await;
    let submitted: Value = submit_as(&app, &principal(&["ShareRequests.Submit"]))
        .await
        .json()
        .await
        .unwrap();
    let id = submitted["id"].as_str().unwrap();
    let stored_before = app.store.len();
    let sent_before = app.queue.sent().len();

    let response = app
        .client
        .post(format!("{}/api/share-requests/{id}/consent-link", app.url))
        .header("X-MS-CLIENT-PRINCIPAL", principal(&["ShareRequests.Read"]))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 403);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["type"], "urn:imageshare:problem:missing-role");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("ShareRequests.Submit")
    );
    assert_eq!(app.store.len(), stored_before);
    assert_eq!(app.queue.sent().len(), sent_before);
}

#[tokio::test]
async fn a_function_key_call_is_recorded_as_one() {
    let app = behind_authentication().await;

    let body: Value = app
        .submit(&valid_document(), None)
        .await
        .json()
        .await
        .unwrap();

    assert_eq!(
        body["history"][0]["caller"],
        json!({"kind": "function-key"})
    );
}

#[tokio::test]
async fn without_app_service_authentication_a_client_sent_principal_is_not_believed() {
    let app = spawn_app().await;

    // Read-only roles would be refused if the header were trusted.
    let response = submit_as(&app, &principal(&["ShareRequests.Read"])).await;

    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["history"][0]["caller"],
        json!({"kind": "function-key"})
    );
}

#[tokio::test]
async fn an_unreadable_principal_header_is_refused_with_401() {
    let app = behind_authentication().await;

    let response = submit_as(&app, "not base64 at all!").await;

    assert_eq!(response.status(), 401);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["type"], "urn:imageshare:problem:unauthenticated");
    assert_eq!(app.store.len(), 0);
}
