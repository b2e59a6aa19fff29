//! Key Vault secrets: the challenge, set/get/delete, RBAC, and token checks.

// Helpers outside #[test] functions unwrap too: this is test code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use azure_sim::{Sim, scenario::demo};
use common::*;
use reqwest::Method;
use serde_json::json;

/// The demo vault's base URL.
fn vault() -> String {
    format!("https://{}.vault.azure.net", demo::KEY_VAULT)
}

/// The demo vault as the holder of `token`.
fn vault_as(sim: &Sim, token: impl Into<String>) -> Api<'_> {
    Api::new(sim, vault(), token)
}

/// The demo vault as `app`, signed in to `tenant` with its secret.
async fn vault_as_app<'a>(sim: &'a Sim, app: &CreatedApp, tenant: &str) -> Api<'a> {
    let (_, _, body) = secret_grant(
        sim,
        tenant,
        &app.app_id,
        &app.secret,
        "https://vault.azure.net/.default",
    )
    .await;
    vault_as(sim, body["access_token"].as_str().unwrap())
}

#[tokio::test]
async fn a_request_without_a_token_gets_the_recorded_challenge() {
    let sim = start_demo().await;
    let url = format!("{}/secrets/app-secret/?api-version=7.4", vault());
    let (status, headers, body) = json_call(&sim, Method::GET, &url, None, None, &[]).await;
    assert_eq!(status, 401);
    assert_eq!(
        headers["www-authenticate"],
        format!("Bearer authorization=\"https://login.windows.net/{}\", resource=\"https://vault.azure.net\"", demo::CONTOSO_TENANT).as_str()
    );
    assert_eq!(
        body,
        json!({"error": {"code": "Unauthorized", "message": "AKV10000: Request is missing a Bearer or PoP token."}})
    );
}

#[tokio::test]
async fn a_secrets_officer_sets_reads_and_deletes_a_secret() {
    let sim = start_demo().await;
    let officer = vault_as(&sim, operator_token(&sim, "https://vault.azure.net").await);
    let (status, headers, set) = officer.put("/secrets/share-42?api-version=7.4",
        json!({"value": "s3cr3t-value", "contentType": "text/plain", "attributes": {"exp": 1_900_000_000}})).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/json; charset=utf-8");
    assert!(headers.contains_key("x-ms-keyvault-rbac-assignment-id"));
    let id = set["id"].as_str().unwrap();
    let version = id.rsplit('/').next().unwrap();
    assert_eq!(version.len(), 32);
    assert!(id.starts_with("https://kv-imageshare-demo.vault.azure.net/secrets/share-42/"));
    assert!(set["attributes"]["created"].is_i64());
    assert_eq!(set["attributes"]["exp"], 1_900_000_000);
    assert_eq!(
        set["attributes"]["recoveryLevel"],
        "CustomizedRecoverable+Purgeable"
    );
    assert!(
        set.get("tags").is_none(),
        "unset tags are omitted, not null"
    );

    for path in [
        "/secrets/share-42/?api-version=7.4",
        "/secrets/share-42?api-version=7.4",
        &format!("/secrets/share-42/{version}?api-version=7.4"),
    ] {
        let (status, _, got) = officer.get(path).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(got["value"], "s3cr3t-value");
        assert_eq!(got["contentType"], "text/plain");
    }

    let (status, _, deleted) = officer.delete("/secrets/share-42?api-version=7.4").await;
    assert_eq!(status, 200);
    assert_eq!(
        deleted["recoveryId"],
        "https://kv-imageshare-demo.vault.azure.net/deletedsecrets/share-42"
    );
    assert!(deleted["deletedDate"].is_i64() && deleted["scheduledPurgeDate"].is_i64());
    assert!(deleted.get("value").is_none());

    let (status, _, missing) = officer.get("/secrets/share-42/?api-version=7.4").await;
    assert_eq!(status, 404);
    assert_eq!(missing["error"]["code"], "SecretNotFound");
    let again = || {
        officer.put(
            "/secrets/share-42?api-version=7.4",
            json!({"value": "again"}),
        )
    };
    let (status, _, conflict) = again().await;
    assert_eq!(status, 409, "a deleted name is reserved until purged");
    assert_eq!(
        conflict["error"]["innererror"]["code"],
        "ObjectIsDeletedButRecoverable"
    );
    let (status, _, _) = officer
        .delete("/deletedsecrets/share-42?api-version=7.4")
        .await;
    assert_eq!(status, 204);
    let (status, _, _) = again().await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_principal_without_a_vault_role_is_forbidden_by_rbac() {
    let sim = start_demo().await;
    let app = operator_creates_app(&sim, "no-vault-role", true).await;
    let app = vault_as_app(&sim, &app, demo::CONTOSO_TENANT).await;
    let (status, _, err) = app.get("/secrets/x?api-version=7.4").await;
    assert_eq!(status, 403);
    assert_eq!(err["error"]["code"], "Forbidden");
    assert_eq!(err["error"]["innererror"]["code"], "ForbiddenByRbac");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Microsoft.KeyVault/vaults/secrets/getSecret/action")
    );
}

#[tokio::test]
async fn a_token_for_another_resource_or_tenant_is_refused_with_a_challenge() {
    let sim = start_demo().await;
    let graph_token = operator_token(&sim, "https://graph.microsoft.com").await;
    let (status, headers, err) = vault_as(&sim, graph_token)
        .get("/secrets/x?api-version=7.4")
        .await;
    assert_eq!(status, 401);
    assert!(headers.contains_key("www-authenticate"));
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("AKV10022: Invalid audience.")
    );

    let app = operator_creates_app(&sim, "fabrikam-vault", true).await;
    sim.consent(demo::FABRIKAM_TENANT, &app.app_id, demo::FABRIKAM_ADMIN_UPN)
        .unwrap();
    let fabrikam = vault_as_app(&sim, &app, demo::FABRIKAM_TENANT).await;
    let (status, _, err) = fabrikam.get("/secrets/x?api-version=7.4").await;
    assert_eq!(status, 401);
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("AKV10032: Invalid issuer.")
    );
}

#[tokio::test]
async fn a_request_without_api_version_is_refused() {
    let sim = start_demo().await;
    let officer = vault_as(&sim, operator_token(&sim, "https://vault.azure.net").await);
    let (status, _, err) = officer.get("/secrets/x").await;
    assert_eq!(status, 400);
    assert_eq!(err["error"]["code"], "BadParameter");
}
