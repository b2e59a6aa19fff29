//! Through the local Functions host: the host passes App Service Authentication's
//! `X-MS-CLIENT-PRINCIPAL` on to the handler as the real host does, so the principal is
//! recorded on its change and its app roles are enforced.

use base64::{Engine, engine::general_purpose::STANDARD};
use std::time::{Duration, Instant};

use azure_sim::scenario::demo::CONTOSO_TENANT;
use local_run::stack::demo_request;
use serde_json::{Value, json};

use crate::stack::start;

const OID: &str = "5b0c9e2d-7a41-4c3e-9f10-2d3e4f5a6b7c";

fn principal(role: &str) -> String {
    STANDARD.encode(
        json!({
            "auth_typ": "aad",
            "claims": [
                {"typ": "http://schemas.microsoft.com/identity/claims/objectidentifier", "val": OID},
                {"typ": "name", "val": "Operations pipeline"},
                {"typ": "roles", "val": role}
            ],
            "name_typ": "name",
            "role_typ": "roles"
        })
        .to_string(),
    )
}

#[tokio::test]
async fn through_the_host_a_principal_is_recorded_and_one_without_the_role_is_refused() {
    let (stack, _scratch) = start(&[("WEBSITE_AUTH_ENABLED", "True")]).await;
    let client = reqwest::Client::new();
    let submit = |role: &str, key: &str| {
        client
            .post(format!("{}/api/share-requests", stack.base_url))
            .header("X-MS-CLIENT-PRINCIPAL", principal(role))
            .header("Idempotency-Key", key)
            .json(&demo_request())
            .send()
    };

    let refused = submit("ShareRequests.Read", "callers-refused")
        .await
        .unwrap();
    let accepted = submit("ShareRequests.Submit", "callers-accepted")
        .await
        .unwrap();

    assert_eq!(refused.status(), 403);
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["type"], "urn:imageshare:problem:missing-role");
    assert_eq!(accepted.status(), 202);
    let body: Value = accepted.json().await.unwrap();
    assert_eq!(
        body["history"][0]["caller"],
        json!({"kind": "principal", "objectId": OID, "name": "Operations pipeline"})
    );
    // The consumer's admin reads who asked before approving.
    let id = body["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mail = loop {
        let mails = stack.sim.outbox(CONTOSO_TENANT);
        if let Some(mail) = mails.into_iter().find(|m| m.content.contains(&id)) {
            break mail;
        }
        assert!(Instant::now() < deadline, "no consent mail for {id}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        mail.content
            .contains(&format!("by Operations pipeline (object id {OID})")),
        "{}",
        mail.content
    );
}
