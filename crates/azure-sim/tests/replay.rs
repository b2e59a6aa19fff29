//! Replays of real recorded Azure traffic (`tests/recordings/`, sources in its README):
//! each recorded request is sent to the simulator (authenticated with what the simulator
//! issued, since recordings scrub credentials), and the answer is compared with the
//! recorded one: status, the headers that matter, and the JSON shape (keys and value
//! types, recursively). Ids the service generated are learned as the replay goes, so later
//! requests address the simulator's objects.

// Helpers outside #[test] functions unwrap too: this is test code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;

use azure_sim::{
    Scenario, Sim,
    scenario::{
        ApplicationSpec, EntitySpec, KeyVaultSpec, ManagedIdentitySpec, NamespaceSpec,
        PasswordCredentialSpec, RoleAssignmentSpec, SasPolicySpec, ServicePrincipalSpec,
        TenantSpec, demo,
    },
};
use common::{demo_scenario, operator_token, sas, transport};
use serde_json::Value;

/// One recorded exchange, whatever the recording format.
#[derive(Debug, Clone)]
struct Interaction {
    method: String,
    uri: String,
    request_headers: Vec<(String, String)>,
    request_body: Option<String>,
    status: u16,
    response_headers: Vec<(String, String)>,
    response_body: String,
}

impl Interaction {
    fn request_header(&self, name: &str) -> Option<&str> {
        self.request_headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn response_header(&self, name: &str) -> Option<&str> {
        self.response_headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn path(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/recordings")
        .join(file)
}

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn header_list(v: &Value) -> Vec<(String, String)> {
    v.as_object()
        .into_iter()
        .flatten()
        .flat_map(|(k, v)| match v {
            Value::Array(values) => values
                .iter()
                .filter_map(|x| text_of(x).map(|t| (k.clone(), t)))
                .collect::<Vec<_>>(),
            other => text_of(other)
                .map(|t| vec![(k.clone(), t)])
                .unwrap_or_default(),
        })
        .collect()
}

/// vcrpy YAML (azure-cli, legacy Python SDK).
fn load_yaml(file: &str) -> Vec<Interaction> {
    let yaml: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(path(file)).unwrap()).unwrap();
    let doc = serde_json::to_value(yaml).unwrap();
    doc["interactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| Interaction {
            method: i["request"]["method"].as_str().unwrap().to_owned(),
            uri: i["request"]["uri"].as_str().unwrap().to_owned(),
            request_headers: header_list(&i["request"]["headers"]),
            request_body: text_of(&i["request"]["body"]),
            status: u16::try_from(i["response"]["status"]["code"].as_u64().unwrap()).unwrap(),
            response_headers: header_list(&i["response"]["headers"]),
            response_body: text_of(&i["response"]["body"]["string"]).unwrap_or_default(),
        })
        .collect()
}

/// Azure SDK test-proxy JSON.
fn load_json(file: &str) -> Vec<Interaction> {
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path(file)).unwrap()).unwrap();
    doc["Entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| Interaction {
            method: e["RequestMethod"].as_str().unwrap().to_owned(),
            uri: e["RequestUri"].as_str().unwrap().to_owned(),
            request_headers: header_list(&e["RequestHeaders"]),
            request_body: text_of(&e["RequestBody"]),
            status: u16::try_from(e["StatusCode"].as_u64().unwrap()).unwrap(),
            response_headers: header_list(&e["ResponseHeaders"]),
            response_body: text_of(&e["ResponseBody"]).unwrap_or_default(),
        })
        .collect()
}

/// GUIDs (with or without dashes) in the order they appear.
fn guids(s: &str) -> Vec<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let take = |len: usize, dashed: bool| -> bool {
            if i + len > bytes.len() || (i > 0 && bytes[i - 1].is_ascii_hexdigit()) {
                return false;
            }
            if i + len < bytes.len() && bytes[i + len].is_ascii_hexdigit() {
                return false;
            }
            bytes[i..i + len].iter().enumerate().all(|(j, b)| {
                if dashed && matches!(j, 8 | 13 | 18 | 23) {
                    *b == b'-'
                } else {
                    b.is_ascii_hexdigit()
                }
            })
        };
        if take(36, true) {
            out.push(s[i..i + 36].to_owned());
            i += 36;
        } else if take(32, false) {
            out.push(s[i..i + 32].to_owned());
            i += 32;
        } else {
            i += 1;
        }
    }
    out
}

fn normalize_guids(s: &str) -> String {
    guids(s)
        .iter()
        .fold(s.to_owned(), |acc, g| acc.replace(g, "{guid}"))
}

/// Recorded id -> simulator id, learned from answers.
#[derive(Default)]
struct Ids(Vec<(String, String)>);

impl Ids {
    fn learn_str(&mut self, recorded: &str, actual: &str) {
        let (r, a) = (guids(recorded), guids(actual));
        if r.len() == a.len() {
            for (r, a) in r.into_iter().zip(a) {
                if r != a && !self.0.iter().any(|(x, _)| *x == r) {
                    self.0.push((r, a));
                }
            }
        }
    }
    fn learn(&mut self, recorded: &Value, actual: &Value) {
        match (recorded, actual) {
            (Value::Object(r), Value::Object(a)) => {
                for (k, rv) in r {
                    if let Some(av) = a.get(k) {
                        self.learn(rv, av);
                    }
                }
            }
            (Value::Array(r), Value::Array(a)) => {
                for (rv, av) in r.iter().zip(a) {
                    self.learn(rv, av);
                }
            }
            (Value::String(r), Value::String(a)) => self.learn_str(r, a),
            _ => {}
        }
    }
    fn apply(&self, s: &str) -> String {
        self.0
            .iter()
            .fold(s.to_owned(), |acc, (r, a)| acc.replace(r, a))
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Differences in keys and value types, recursively (arrays: their first elements).
fn shape_diff(
    at: &str,
    recorded: &Value,
    actual: &Value,
    allowed_extra: &[&str],
    out: &mut Vec<String>,
) {
    if kind(recorded) != kind(actual) {
        out.push(format!(
            "{at}: recorded {} but got {} ({actual})",
            kind(recorded),
            kind(actual)
        ));
        return;
    }
    match (recorded, actual) {
        (Value::Object(r), Value::Object(a)) => {
            for (k, rv) in r {
                match a.get(k) {
                    Some(av) => shape_diff(&format!("{at}.{k}"), rv, av, allowed_extra, out),
                    None => out.push(format!("{at}.{k}: missing")),
                }
            }
            for k in a.keys() {
                if !r.contains_key(k) && !allowed_extra.contains(&k.as_str()) {
                    out.push(format!("{at}.{k}: not in the recording"));
                }
            }
        }
        (Value::Array(r), Value::Array(a)) => match (r.first(), a.first()) {
            (Some(rf), Some(af)) => shape_diff(&format!("{at}[0]"), rf, af, allowed_extra, out),
            (Some(_), None) => out.push(format!("{at}: empty, recorded non-empty")),
            _ => {}
        },
        _ => {}
    }
}

/// How to replay one recording.
struct Replay<'a> {
    sim: &'a Sim,
    /// `Authorization` to send for an interaction whose recorded request carried one.
    authorization: Box<dyn Fn(&Interaction, &str) -> Option<String> + 'a>,
    /// Interactions to skip, with the reason.
    skip: Box<dyn Fn(&Interaction) -> Option<&'static str> + 'a>,
    /// Keys the simulator may add that postdate the recording.
    allowed_extra: &'a [&'a str],
    /// Response headers whose recorded value must be reproduced (GUIDs aside).
    exact_headers: &'a [&'a str],
    /// Response headers that must be present when recorded.
    present_headers: &'a [&'a str],
}

const DROP_REQUEST_HEADERS: [&str; 6] = [
    "authorization",
    "content-length",
    "connection",
    "accept-encoding",
    "host",
    "transfer-encoding",
];

impl Replay<'_> {
    async fn run(&self, interactions: &[Interaction]) -> (usize, Vec<String>) {
        let t = transport(self.sim);
        let mut ids = Ids::default();
        let mut diffs = Vec::new();
        let mut replayed = 0;
        for (n, i) in interactions.iter().enumerate() {
            if let Some(reason) = (self.skip)(i) {
                eprintln!("interaction {n} ({} {}) skipped: {reason}", i.method, i.uri);
                continue;
            }
            replayed += 1;
            let uri = ids.apply(&i.uri);
            let mut b = t.client().request(
                reqwest::Method::from_bytes(i.method.as_bytes()).unwrap(),
                &uri,
            );
            for (k, v) in &i.request_headers {
                if !DROP_REQUEST_HEADERS.contains(&k.to_ascii_lowercase().as_str()) {
                    b = b.header(k.as_str(), v.as_str());
                }
            }
            if i.request_header("authorization").is_some()
                && let Some(auth) = (self.authorization)(i, &uri)
            {
                b = b.header("authorization", auth);
            }
            if let Some(body) = &i.request_body {
                b = b.body(ids.apply(body));
            }
            let r = t.execute(b.build().unwrap()).await.unwrap();
            let status = r.status().as_u16();
            let headers: Vec<(String, String)> = r
                .headers()
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        v.to_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect();
            let body = r.text().await.unwrap();
            let here = format!("interaction {n} {} {}", i.method, i.uri);
            if status != i.status {
                diffs.push(format!(
                    "{here}: status {status}, recorded {} ({body})",
                    i.status
                ));
                continue;
            }
            let actual_header = |name: &str| {
                headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.clone())
            };
            for name in self.exact_headers {
                if let Some(recorded) = i.response_header(name) {
                    match actual_header(name) {
                        Some(a) if normalize_guids(&a) == normalize_guids(recorded) => {
                            ids.learn_str(recorded, &a)
                        }
                        Some(a) => diffs.push(format!(
                            "{here}: header {name} is '{a}', recorded '{recorded}'"
                        )),
                        None => diffs.push(format!("{here}: header {name} missing")),
                    }
                }
            }
            for name in self.present_headers {
                if i.response_header(name).is_some() && actual_header(name).is_none() {
                    diffs.push(format!("{here}: header {name} missing"));
                }
            }
            // Service Bus puts JSON in a header; compare it like a body.
            if let (Some(recorded), Some(actual)) = (
                i.response_header("brokerproperties"),
                actual_header("brokerproperties"),
            ) {
                let (r, a): (Value, Value) = (
                    serde_json::from_str(recorded).unwrap(),
                    serde_json::from_str(&actual).unwrap(),
                );
                shape_diff(
                    &format!("{here}: BrokerProperties"),
                    &r,
                    &a,
                    &[],
                    &mut diffs,
                );
                ids.learn(&r, &a);
                for key in [
                    "DeliveryCount",
                    "SequenceNumber",
                    "State",
                    "EnqueuedSequenceNumber",
                    "TimeToLive",
                ] {
                    if r[key] != a[key] {
                        diffs.push(format!(
                            "{here}: BrokerProperties.{key} is {}, recorded {}",
                            a[key], r[key]
                        ));
                    }
                }
            } else if i.response_header("brokerproperties").is_some() {
                diffs.push(format!("{here}: BrokerProperties missing"));
            }
            match serde_json::from_str::<Value>(&i.response_body) {
                Ok(recorded @ (Value::Object(_) | Value::Array(_))) => {
                    match serde_json::from_str::<Value>(&body) {
                        Ok(actual) => {
                            shape_diff(
                                &format!("{here}: body"),
                                &recorded,
                                &actual,
                                self.allowed_extra,
                                &mut diffs,
                            );
                            ids.learn(&recorded, &actual);
                        }
                        Err(_) => diffs.push(format!("{here}: body is not JSON: {body}")),
                    }
                }
                _ => {
                    if body != i.response_body {
                        diffs.push(format!(
                            "{here}: body '{body}', recorded '{}'",
                            i.response_body
                        ));
                    }
                }
            }
        }
        (replayed, diffs)
    }
}

fn assert_clean(replayed: usize, expected: usize, diffs: &[String]) {
    assert!(
        diffs.is_empty(),
        "differences from the recording:\n{}",
        diffs.join("\n")
    );
    assert_eq!(replayed, expected, "interactions replayed");
}

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
    };
    let (n, diffs) = replay.run(&load_json("recording_authenticates.json")).await;
    assert_clean(n, 3, &diffs);
}

async fn vault_token(sim: &Sim) -> String {
    let url = format!(
        "{}?api-version=2019-08-01&resource=https://vault.azure.net&client_id=d0d0d0d0-0000-4000-8000-000000000000",
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
                .then_some("Resource Manager is simulated by a later part")
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
