//! Replays of real recorded Azure traffic (`tests/recordings/`, sources in its README):
//! each recorded request is sent to the simulator (authenticated with what the simulator
//! issued, since recordings scrub credentials), and the answer is compared with the
//! recorded one: status, the headers that matter, and the JSON shape (keys and value
//! types, recursively). Ids the service generated are learned as the replay goes, so later
//! requests address the simulator's objects.

// Helpers outside #[test] functions unwrap too: this is test code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod arm;
#[path = "../common/mod.rs"]
mod common;
mod harness;

use azure_sim::{
    Scenario, Sim,
    scenario::{
        ApplicationSpec, EntitySpec, KeyVaultSpec, ManagedIdentitySpec, NamespaceSpec,
        PasswordCredentialSpec, RoleAssignmentSpec, SasPolicySpec, ServicePrincipalSpec,
        TenantSpec, demo,
    },
};
use common::{demo_scenario, operator_token, sas};
use harness::{Ids, Interaction, Replay, assert_clean, guids, load_json, load_yaml, shape_diff};
use serde_json::Value;

/// The tenant id the recordings' sanitizers write.
const SANITIZED_TENANT: &str = "12345678-1234-1234-1234-123456789012";

fn sanitized_tenant_scenario() -> Scenario {
    let mut s = Scenario {
        tenants: vec![TenantSpec {
            id: SANITIZED_TENANT.into(),
            domain: "sanitized.onmicrosoft.com".into(),
            display_name: "Sanitized".into(),
        }],
        ..Scenario::default()
    };
    s.applications.push(ApplicationSpec {
        id: "a0a0a0a0-0000-4000-8000-000000000000".into(),
        app_id: "azure_client_id".into(),
        tenant: SANITIZED_TENANT.into(),
        display_name: "recorded client".into(),
        unique_name: None,
        sign_in_audience: "AzureADMyOrg".into(),
        redirect_uris: vec![],
        owners: vec![],
        password_credentials: vec![PasswordCredentialSpec {
            key_id: "b0b0b0b0-0000-4000-8000-000000000000".into(),
            secret_text: "azure_client_secret".into(),
            display_name: None,
            end_date_time: None,
        }],
        federated_identity_credentials: vec![],
    });
    s.service_principals.push(ServicePrincipalSpec {
        id: "c0c0c0c0-0000-4000-8000-000000000000".into(),
        app_id: "azure_client_id".into(),
        tenant: SANITIZED_TENANT.into(),
        graph_permissions: vec![],
    });
    s.managed_identities.push(ManagedIdentitySpec {
        name: "replayer".into(),
        resource_id: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/replayer".into(),
        client_id: "d0d0d0d0-0000-4000-8000-000000000000".into(),
        principal_id: "e0e0e0e0-0000-4000-8000-000000000000".into(),
        tenant: SANITIZED_TENANT.into(),
        graph_permissions: vec![],
    });
    s.identity_header = "replay-identity-header".into();
    s.key_vaults.push(KeyVaultSpec {
        name: "keyvault_name".into(),
        tenant: SANITIZED_TENANT.into(),
        resource_id:
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/keyvault_name"
                .into(),
    });
    s.role_assignments.push(RoleAssignmentSpec {
        principal_id: "e0e0e0e0-0000-4000-8000-000000000000".into(),
        role: "Key Vault Secrets Officer".into(),
        scope: "/subscriptions/s".into(),
        ..RoleAssignmentSpec::default()
    });
    s
}

#[tokio::test]
async fn entra_discovery_and_client_credentials_token_replay_like_the_recording() {
    let sim = Sim::start(sanitized_tenant_scenario()).await.unwrap();
    let replay = Replay {
        sim: &sim,
        authorization: Box::new(|_, _| None),
        skip: Box::new(|_| None),
        allowed_extra: &[],
        exact_headers: &["cache-control", "pragma", "content-type"],
        present_headers: &["x-ms-request-id"],
        url_headers: &[],
        ignored: &[],
    };
    let (n, diffs) = replay.run(&load_json("recording_authenticates.json")).await;
    assert_clean(n, 3, &diffs);
}

async fn vault_token(sim: &Sim) -> String {
    managed_identity_token(sim, "https://vault.azure.net").await
}

/// A token of the replayer identity (`e0e0...`) for `resource`.
async fn managed_identity_token(sim: &Sim, resource: &str) -> String {
    let url = format!(
        "{}?api-version=2019-08-01&resource={resource}&client_id=d0d0d0d0-0000-4000-8000-000000000000",
        sim.identity_endpoint()
    );
    let r = reqwest::Client::new()
        .get(url)
        .header("x-identity-header", "replay-identity-header")
        .send()
        .await
        .unwrap();
    r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

const KV_EXACT: [&str; 5] = [
    "content-type",
    "cache-control",
    "pragma",
    "expires",
    "www-authenticate",
];
const KV_PRESENT: [&str; 5] = [
    "x-ms-request-id",
    "x-ms-keyvault-region",
    "x-ms-keyvault-service-version",
    "x-ms-client-request-id",
    "x-ms-keyvault-rbac-assignment-id",
];

#[tokio::test]
async fn key_vault_challenge_set_and_get_replay_like_the_recording() {
    let sim = Sim::start(sanitized_tenant_scenario()).await.unwrap();
    let token = vault_token(&sim).await;
    let replay = Replay {
        sim: &sim,
        authorization: Box::new(|_, _| Some(format!("Bearer {token}"))),
        skip: Box::new(|_| None),
        allowed_extra: &[],
        exact_headers: &KV_EXACT,
        present_headers: &KV_PRESENT,
        url_headers: &[],
        ignored: &[],
    };
    let (n, diffs) = replay
        .run(&load_json("recording_can_get_a_secret.json"))
        .await;
    assert_clean(n, 3, &diffs);
}

#[tokio::test]
async fn key_vault_missing_secret_replays_like_the_recording() {
    let sim = Sim::start(sanitized_tenant_scenario()).await.unwrap();
    let token = vault_token(&sim).await;
    let replay = Replay {
        sim: &sim,
        authorization: Box::new(|_, _| Some(format!("Bearer {token}"))),
        skip: Box::new(|_| None),
        allowed_extra: &[],
        exact_headers: &KV_EXACT,
        present_headers: &KV_PRESENT,
        url_headers: &[],
        ignored: &[],
    };
    let interactions = load_json("recording_can_get_a_secret_non_existing.json");
    let (n, diffs) = replay.run(&interactions).await;
    assert_clean(n, 2, &diffs);
    assert!(interactions[1].response_body.contains("SecretNotFound"));
}

const GRAPH_EXACT: [&str; 3] = ["content-type", "odata-version", "location"];
const GRAPH_PRESENT: [&str; 4] = [
    "request-id",
    "x-ms-ags-diagnostic",
    "x-ms-resource-unit",
    "cache-control",
];

#[tokio::test]
async fn graph_application_password_and_service_principal_creation_replay_like_the_recording() {
    let sim = Sim::start(demo_scenario()).await.unwrap();
    let token = operator_token(&sim, "https://graph.microsoft.com").await;
    let replay = Replay {
        sim: &sim,
        authorization: Box::new(|_, _| Some(format!("Bearer {token}"))),
        skip: Box::new(|i| {
            i.uri
                .starts_with("https://management.azure.com/")
                .then_some("replayed with Resource Manager in arm::role_definitions_and_a_role_assignment_replay_like_the_create_for_rbac_recording")
        }),
        // Properties Graph added to v1.0 after this 2022 recording.
        allowed_extra: &[
            "uniqueName",
            "nativeAuthenticationApisEnabled",
            "samlMetadataUrl",
            "servicePrincipalLockConfiguration",
            "requestSignatureVerification",
            "redirectUriSettings",
        ],
        exact_headers: &GRAPH_EXACT,
        present_headers: &GRAPH_PRESENT,
        url_headers: &[],
        ignored: &[],
    };
    // The recorded calls carry no Authorization (the CLI's is scrubbed); every Graph call needs one.
    let interactions: Vec<Interaction> =
        load_yaml("test_create_for_rbac_with_password_with_assignment.yaml")
            .into_iter()
            .map(|mut i| {
                i.request_headers
                    .push(("Authorization".into(), "scrubbed".into()));
                i
            })
            .collect();
    let (n, diffs) = replay.run(&interactions).await;
    assert_clean(n, 5, &diffs);
    let state = sim.state();
    let app = state
        .applications
        .iter()
        .find(|a| a.display_name == "cli_sp_create_for_rbac000001")
        .unwrap();
    assert_eq!(app.password_credentials.len(), 1);
    assert!(
        state
            .service_principals
            .iter()
            .any(|s| s.app_id == app.app_id)
    );
}

#[tokio::test]
async fn graph_insufficient_privileges_replays_like_the_recording() {
    let mut scenario = demo_scenario();
    scenario.applications.push(ApplicationSpec {
        id: "f1f1f1f1-0000-4000-8000-000000000000".into(),
        app_id: "f2f2f2f2-0000-4000-8000-000000000000".into(),
        tenant: demo::CONTOSO_TENANT.into(),
        display_name: "unprivileged".into(),
        unique_name: None,
        sign_in_audience: "AzureADMyOrg".into(),
        redirect_uris: vec![],
        owners: vec![],
        password_credentials: vec![PasswordCredentialSpec {
            key_id: "f3f3f3f3-0000-4000-8000-000000000000".into(),
            secret_text: "unprivileged-secret-0123456789".into(),
            display_name: None,
            end_date_time: None,
        }],
        federated_identity_credentials: vec![],
    });
    scenario.service_principals.push(ServicePrincipalSpec {
        id: "f4f4f4f4-0000-4000-8000-000000000000".into(),
        app_id: "f2f2f2f2-0000-4000-8000-000000000000".into(),
        tenant: demo::CONTOSO_TENANT.into(),
        graph_permissions: vec![],
    });
    let sim = Sim::start(scenario).await.unwrap();
    let (_, _, body) = common::token_request(
        &sim,
        demo::CONTOSO_TENANT,
        &[
            ("client_id", "f2f2f2f2-0000-4000-8000-000000000000"),
            ("client_secret", "unprivileged-secret-0123456789"),
            ("grant_type", "client_credentials"),
            ("scope", "https://graph.microsoft.com/.default"),
        ],
    )
    .await;
    let token = body["access_token"].as_str().unwrap().to_owned();
    let replay = Replay {
        sim: &sim,
        authorization: Box::new(|_, _| Some(format!("Bearer {token}"))),
        skip: Box::new(|_| None),
        allowed_extra: &[],
        exact_headers: &["content-type", "cache-control"],
        present_headers: &["request-id", "x-ms-ags-diagnostic"],
        url_headers: &[],
        ignored: &[],
    };
    let interactions: Vec<Interaction> = load_yaml("test_app_credential.yaml")
        .into_iter()
        .map(|mut i| {
            i.request_headers
                .push(("Authorization".into(), "scrubbed".into()));
            i
        })
        .collect();
    let (n, diffs) = replay.run(&interactions).await;
    assert_clean(n, 1, &diffs);
}

const SB_KEY: &str = "cmVwbGF5LWtleQ==";

fn service_bus_scenario(queues: &[&str]) -> Scenario {
    let mut s = demo_scenario();
    s.service_bus_namespaces.push(NamespaceSpec {
        name: "fakesbnamespace".into(),
        tenant: demo::CONTOSO_TENANT.into(),
        resource_id: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ServiceBus/namespaces/fakesbnamespace".into(),
        sas_policies: vec![SasPolicySpec { name: "RootManageSharedAccessKey".into(), primary_key: SB_KEY.into(), secondary_key: None, rights: vec!["Manage".into()] }],
        // As the recorded queue descriptions say: PT1M locks, 10 deliveries, no duplicate detection.
        queues: queues
            .iter()
            .map(|q| EntitySpec { name: (*q).into(), lock_duration: "PT1M".into(), max_delivery_count: 10, duplicate_detection_window: None })
            .collect(),
        topics: vec![],
    });
    s
}

fn service_bus_replay<'a>(sim: &'a Sim) -> Replay<'a> {
    Replay {
        sim,
        authorization: Box::new(move |_, uri| {
            Some(sas(
                uri,
                SB_KEY,
                "RootManageSharedAccessKey",
                sim.now().unix_timestamp() + 600,
            ))
        }),
        skip: Box::new(|i| {
            (i.method == "PUT" && !i.uri.contains("/messages"))
                .then_some("entity management (queue PUT) is not simulated; the queue is declared in the scenario")
        }),
        allowed_extra: &[],
        exact_headers: &["content-type", "location"],
        present_headers: &["etag", "date", "server"],
        url_headers: &[],
        ignored: &[],
    }
}

/// The recordings scrub Authorization from Service Bus calls; each one carried a SAS token.
fn with_sas_placeholder(interactions: Vec<Interaction>) -> Vec<Interaction> {
    interactions
        .into_iter()
        .map(|mut i| {
            i.request_headers
                .push(("Authorization".into(), "scrubbed".into()));
            i
        })
        .collect()
}

#[tokio::test]
async fn service_bus_send_peek_lock_renew_unlock_and_complete_replay_like_the_recording() {
    let sim = Sim::start(service_bus_scenario(&["utqueuef8dd18d8"]))
        .await
        .unwrap();
    let interactions = with_sas_placeholder(load_yaml(
        "test_servicebus_servicebus.test_receive_queue_message_unlock.yaml",
    ));
    let (n, diffs) = service_bus_replay(&sim).run(&interactions).await;
    assert_clean(n, 6, &diffs);
}

#[tokio::test]
async fn service_bus_receive_and_delete_replays_like_the_recording() {
    let sim = Sim::start(service_bus_scenario(&["utqueue2f0623eb"]))
        .await
        .unwrap();
    let interactions = with_sas_placeholder(load_yaml(
        "test_servicebus_servicebus.test_receive_queue_message_read_delete_mode_throws_on_unlock.yaml",
    ));
    let (n, diffs) = service_bus_replay(&sim).run(&interactions).await;
    assert_clean(n, 2, &diffs);
}

#[tokio::test]
async fn service_bus_custom_properties_replay_like_the_recording() {
    let sim = Sim::start(service_bus_scenario(&["utqueue652e21b9"]))
        .await
        .unwrap();
    let interactions = with_sas_placeholder(load_yaml(
        "test_servicebus_servicebus.test_send_queue_message_with_custom_message_properties.yaml",
    ));
    let mut replay = service_bus_replay(&sim);
    replay.exact_headers = &[
        "content-type",
        "location",
        "active",
        "deceased",
        "dob",
        "floating",
        "hello",
        "large",
        "number",
        "quote_message",
    ];
    let (n, diffs) = replay.run(&interactions).await;
    assert_clean(n, 3, &diffs);
}

#[test]
fn guid_learning_maps_recorded_ids_to_simulated_ones() {
    let mut ids = Ids::default();
    ids.learn_str(
        "https://x/messages/1/c00df4d6-b5b5-42c2-9435-1ba3c528b823",
        "https://x/messages/1/0b5e6f54-0c0c-4c0c-8c0c-0c0c0c0c0c0c",
    );
    assert_eq!(
        ids.apply("DELETE /messages/1/c00df4d6-b5b5-42c2-9435-1ba3c528b823"),
        "DELETE /messages/1/0b5e6f54-0c0c-4c0c-8c0c-0c0c0c0c0c0c"
    );
    assert_eq!(
        guids("id c64d7c15effb4e78924f3a5ea37cf68c end"),
        vec!["c64d7c15effb4e78924f3a5ea37cf68c"]
    );
}

#[test]
fn shape_diff_reports_missing_keys_and_type_changes() {
    let mut out = vec![];
    shape_diff(
        "$",
        &serde_json::json!({"a": 1, "b": "x", "c": [{"d": null}]}),
        &serde_json::json!({"a": 1.5, "c": [{"d": null}], "e": true}),
        &[],
        &mut out,
    );
    assert_eq!(out.len(), 3, "{out:?}");
}
