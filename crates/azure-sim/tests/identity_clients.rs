//! azure_identity 1.0 credentials, unchanged, against the simulator through azure-transport.

// Helpers outside #[test] functions unwrap too: this is test code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use azure_core::{
    credentials::{Secret, TokenCredential},
    http::{ClientMethodOptions, ClientOptions, Transport as CoreTransport},
};
use azure_identity::{
    ClientAssertion, ClientAssertionCredential, ClientAssertionCredentialOptions,
    ClientSecretCredential, ClientSecretCredentialOptions, ManagedIdentityCredential,
    ManagedIdentityCredentialOptions, UserAssignedId,
};
use azure_sim::scenario::demo;
use common::*;

fn client_options(sim: &azure_sim::Sim) -> ClientOptions {
    ClientOptions {
        transport: Some(CoreTransport::new(transport(sim).for_azure_core())),
        ..Default::default()
    }
}

fn secret_credential(
    sim: &azure_sim::Sim,
    tenant: &str,
    app: &CreatedApp,
) -> std::sync::Arc<ClientSecretCredential> {
    ClientSecretCredential::new(
        tenant,
        app.app_id.clone(),
        Secret::new(app.secret.clone()),
        Some(ClientSecretCredentialOptions {
            client_options: client_options(sim),
        }),
    )
    .unwrap()
}

#[tokio::test]
async fn client_secret_credential_gets_tokens_in_the_home_and_the_consenting_tenant() {
    let sim = start_demo().await;
    let app = operator_creates_app(&sim, "secret-credential", true).await;
    let home = secret_credential(&sim, demo::CONTOSO_TENANT, &app);
    let token = home
        .get_token(&["https://management.azure.com/.default"], None)
        .await
        .unwrap();
    assert_eq!(claims(token.token.secret())["tid"], demo::CONTOSO_TENANT);
    assert!(token.expires_on > time::OffsetDateTime::now_utc());

    let consumer = secret_credential(&sim, demo::FABRIKAM_TENANT, &app);
    let err = consumer
        .get_token(&["https://management.azure.com/.default"], None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("AADSTS700016"), "{err}");
    sim.consent(demo::FABRIKAM_TENANT, &app.app_id, demo::FABRIKAM_ADMIN_UPN)
        .unwrap();
    let token = consumer
        .get_token(&["https://management.azure.com/.default"], None)
        .await
        .unwrap();
    assert_eq!(claims(token.token.secret())["tid"], demo::FABRIKAM_TENANT);
}

/// The operator's managed identity token for the token exchange, fetched over the App Service protocol.
#[derive(Debug)]
struct OperatorAssertion {
    endpoint: String,
}

#[async_trait::async_trait]
impl ClientAssertion for OperatorAssertion {
    async fn secret(
        &self,
        _options: Option<ClientMethodOptions<'_>>,
    ) -> azure_core::Result<String> {
        let url = format!(
            "{}?api-version=2019-08-01&resource=api://AzureADTokenExchange&client_id={}",
            self.endpoint,
            demo::OPERATOR_CLIENT_ID
        );
        let r = reqwest::Client::new()
            .get(url)
            .header("x-identity-header", demo::IDENTITY_HEADER)
            .send()
            .await
            .unwrap();
        let v: serde_json::Value = r.json().await.unwrap();
        Ok(v["access_token"].as_str().unwrap().to_owned())
    }
}

#[tokio::test]
async fn client_assertion_credential_exchanges_the_managed_identity_token() {
    let sim = start_demo().await;
    let app = operator_creates_app(&sim, "assertion-credential", true).await;
    let (status, _, _) = graph_as_operator(&sim).await.post(&format!("/applications/{}/federatedIdentityCredentials", app.id),
        serde_json::json!({"name": "operator", "issuer": format!("https://login.microsoftonline.com/{}/v2.0", demo::CONTOSO_TENANT),
            "subject": demo::OPERATOR_PRINCIPAL_ID, "audiences": ["api://AzureADTokenExchange"]})).await;
    assert_eq!(status, 201);
    let credential = ClientAssertionCredential::new(
        demo::CONTOSO_TENANT.to_owned(),
        app.app_id.clone(),
        OperatorAssertion {
            endpoint: sim.identity_endpoint(),
        },
        Some(ClientAssertionCredentialOptions {
            client_options: client_options(&sim),
        }),
    )
    .unwrap();
    let token = credential
        .get_token(&["https://vault.azure.net/.default"], None)
        .await
        .unwrap();
    let c = claims(token.token.secret());
    assert_eq!(c["appid"], app.app_id.as_str());
    assert_eq!(c["aud"], "https://vault.azure.net");
}

/// `ManagedIdentityCredential` reads IDENTITY_ENDPOINT/IDENTITY_HEADER from the process
/// environment only, so this test re-runs itself in a child process with them set (never
/// `set_var` in the test process). In the child, the variables are present and it does the call.
#[tokio::test]
async fn managed_identity_credential_gets_a_token_from_the_app_service_endpoint() {
    const CHILD: &str = "AZURE_SIM_MI_CHILD";
    if std::env::var_os(CHILD).is_some() {
        let credential = ManagedIdentityCredential::new(Some(ManagedIdentityCredentialOptions {
            user_assigned_id: Some(UserAssignedId::ClientId(
                demo::OPERATOR_CLIENT_ID.to_owned(),
            )),
            ..Default::default()
        }))
        .unwrap();
        let token = credential
            .get_token(&["https://servicebus.azure.net/.default"], None)
            .await
            .unwrap();
        let c = claims(token.token.secret());
        println!(
            "\nMI-CLAIMS {}",
            serde_json::json!({"oid": c["oid"], "aud": c["aud"], "tid": c["tid"]})
        );
        let by_object = ManagedIdentityCredential::new(Some(ManagedIdentityCredentialOptions {
            user_assigned_id: Some(UserAssignedId::ObjectId(
                demo::OPERATOR_PRINCIPAL_ID.to_owned(),
            )),
            ..Default::default()
        }))
        .unwrap();
        by_object
            .get_token(&["https://vault.azure.net/.default"], None)
            .await
            .unwrap();
        return;
    }
    let sim = Arc::new(start_demo().await);
    let output = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "managed_identity_credential_gets_a_token_from_the_app_service_endpoint",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .env("IDENTITY_ENDPOINT", sim.identity_endpoint())
        .env("IDENTITY_HEADER", demo::IDENTITY_HEADER)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("MI-CLAIMS ").map(|(_, rest)| rest))
        .unwrap_or_else(|| panic!("the child printed no claims:\n{stdout}"));
    let c: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(c["oid"], demo::OPERATOR_PRINCIPAL_ID);
    assert_eq!(c["aud"], "https://servicebus.azure.net");
    assert_eq!(c["tid"], demo::CONTOSO_TENANT);
    let calls: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.host == "_identity")
        .collect();
    assert_eq!(calls.len(), 2);
    assert!(calls.iter().all(|r| r.status == 200));
    assert!(calls[0].path_and_query.contains("client_id="));
    assert!(calls[1].path_and_query.contains("object_id="));
}
