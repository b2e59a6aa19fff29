//! The Azure clients on their own against the simulator: Service Bus sending both ways,
//! Graph upserts, Key Vault, ARM role assignments and Entra's refusals as typed errors.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use azure_messaging_servicebus::service_bus::QueueClient;
use azure_sim::{Scenario, Sim, scenario::demo};
use azure_transport::Transport;
use imageshare::{
    azure::{
        AppCredential, HttpStack, RetryPolicy, Secret, Tokens,
        arm::{ArmClient, ArmIdentity, roles},
        graph::GraphClient,
        keyvault::KeyVaultClient,
        scopes,
        service_bus::{Entity, Outgoing, ServiceBusSender},
    },
    config::ServiceBusConnection,
    domain::TenantId,
};
use serde_json::json;

use crate::harness::SimManagedIdentity;

struct Clients {
    sim: Sim,
    transport: Transport,
    tokens: Arc<Tokens>,
    http: HttpStack,
}

async fn clients() -> Clients {
    let sim = Sim::start(Scenario::demo()).await.unwrap();
    let transport = Transport::simulated(&sim.url()).unwrap();
    let operator = Arc::new(SimManagedIdentity {
        endpoint: sim.identity_endpoint(),
        client: reqwest::Client::new(),
    });
    let tokens = Arc::new(Tokens::with_operator(&transport, operator));
    let http = HttpStack::new(transport.clone(), RetryPolicy::default());
    Clients {
        sim,
        transport,
        tokens,
        http,
    }
}

async fn receive(c: &Clients, queue: &str) -> (String, serde_json::Value) {
    let client = QueueClient::new(
        c.transport.for_azure_core_legacy(),
        demo::SERVICE_BUS_NAMESPACE,
        queue,
        demo::SAS_POLICY,
        demo::SAS_KEY,
    )
    .unwrap();
    let message = client
        .peek_lock_message2(Some(Duration::from_secs(1)))
        .await
        .unwrap();
    assert_eq!(u16::from(*message.status()), 201, "nothing on {queue}");
    let properties: serde_json::Value = message
        .broker_properties()
        .map(|b| json!({"MessageId": b.message_id}))
        .unwrap_or_default();
    message.delete_message().await.unwrap();
    (message.body(), properties)
}

fn outgoing(id: &str) -> Outgoing {
    Outgoing {
        body: json!({"requestId": id}).to_string(),
        message_id: format!("msg-{id}"),
        correlation_id: Some("corr".into()),
        subject: Some("issue-credentials".into()),
        properties: BTreeMap::from([("source".to_owned(), "test".to_owned())]),
        ..Outgoing::default()
    }
}

#[tokio::test]
async fn service_bus_sends_with_a_shared_key_and_with_the_managed_identity_alike() {
    let c = clients().await;
    let shared_key = ServiceBusConnection::from_connection_string(&format!(
        "Endpoint=sb://{}.servicebus.windows.net/;SharedAccessKeyName={};SharedAccessKey={}",
        demo::SERVICE_BUS_NAMESPACE,
        demo::SAS_POLICY,
        demo::SAS_KEY
    ))
    .unwrap();
    let identity = ServiceBusConnection::from_namespace_host(&format!(
        "{}.servicebus.windows.net",
        demo::SERVICE_BUS_NAMESPACE
    ))
    .unwrap();

    for (name, connection) in [("sas", shared_key), ("identity", identity)] {
        let sender = ServiceBusSender::new(connection, c.http.clone(), c.tokens.clone());
        sender
            .send(Entity::Queue("issue-credentials"), &outgoing(name))
            .await
            .unwrap();
        let (body, properties) = receive(&c, "issue-credentials").await;
        assert_eq!(body, json!({"requestId": name}).to_string(), "{name}");
        assert_eq!(properties["MessageId"], format!("msg-{name}"), "{name}");
    }
    // The identity path carried a bearer token, never a key.
    let sends: Vec<_> = c
        .sim
        .requests()
        .into_iter()
        .filter(|r| {
            r.path_and_query.starts_with("/issue-credentials/messages")
                && r.method == "POST"
                && !r.path_and_query.contains("head")
        })
        .collect();
    assert_eq!(sends.len(), 2);
    assert!(sends.iter().all(|r| r.status == 201));
}

#[tokio::test]
async fn a_scheduled_message_stays_invisible_until_its_time_and_a_repeat_is_dropped() {
    let c = clients().await;
    let identity = ServiceBusConnection::from_namespace_host(&format!(
        "{}.servicebus.windows.net",
        demo::SERVICE_BUS_NAMESPACE
    ))
    .unwrap();
    let sender = ServiceBusSender::new(identity, c.http.clone(), c.tokens.clone());
    let mut message = outgoing("later");
    message.scheduled = Some(c.sim.now() + time::Duration::minutes(5));
    sender
        .send(Entity::Queue("confirm-consent"), &message)
        .await
        .unwrap();
    sender
        .send(Entity::Queue("confirm-consent"), &message)
        .await
        .unwrap();

    let client = QueueClient::new(
        c.transport.for_azure_core_legacy(),
        demo::SERVICE_BUS_NAMESPACE,
        "confirm-consent",
        demo::SAS_POLICY,
        demo::SAS_KEY,
    )
    .unwrap();
    let early = client
        .peek_lock_message2(Some(Duration::from_secs(1)))
        .await
        .unwrap();
    assert_eq!(
        u16::from(*early.status()),
        204,
        "a scheduled message was visible early"
    );
    c.sim.advance_clock(Duration::from_secs(301));
    let (body, _) = receive(&c, "confirm-consent").await;
    assert_eq!(body, json!({"requestId": "later"}).to_string());
    let again = client
        .peek_lock_message2(Some(Duration::from_secs(1)))
        .await
        .unwrap();
    assert_eq!(
        u16::from(*again.status()),
        204,
        "the repeat with the same MessageId was delivered"
    );
}

#[tokio::test]
async fn the_app_upsert_creates_once_and_then_updates() {
    let c = clients().await;
    let graph = GraphClient::new(c.http.clone(), c.tokens.clone());
    let body = json!({"displayName": "imageshare test", "signInAudience": "AzureADMultipleOrgs"});
    let first = graph
        .upsert_application("imageshare-upsert-test", body.clone())
        .await
        .unwrap();
    let second = graph
        .upsert_application("imageshare-upsert-test", body)
        .await
        .unwrap();
    assert_eq!((first.id, first.app_id), (second.id, second.app_id));
    let state = c.sim.state();
    assert_eq!(
        state
            .applications
            .iter()
            .filter(|a| a.unique_name.as_deref() == Some("imageshare-upsert-test"))
            .count(),
        1
    );
}

#[tokio::test]
async fn key_vault_keeps_a_secret_with_its_tags_and_expiry() {
    let c = clients().await;
    let vault = KeyVaultClient::new(
        c.http.clone(),
        c.tokens.clone(),
        url::Url::parse("https://kv-imageshare-demo.vault.azure.net").unwrap(),
    );
    assert!(vault.get("imageshare-missing").await.unwrap().is_none());
    let expires =
        time::OffsetDateTime::from_unix_timestamp(c.sim.now().unix_timestamp() + 86_400).unwrap();
    let tags = BTreeMap::from([("keyId".to_owned(), "k-1".to_owned())]);
    vault
        .set(
            "imageshare-test",
            &Secret::new("s3cr3t-value-0001"),
            expires,
            &tags,
        )
        .await
        .unwrap();
    let got = vault.get("imageshare-test").await.unwrap().unwrap();
    assert_eq!(got.value.expose(), "s3cr3t-value-0001");
    assert_eq!(got.tags["keyId"], "k-1");
    assert_eq!(got.expires, Some(expires));
}

#[tokio::test]
async fn assigning_the_same_role_twice_is_one_assignment() {
    let c = clients().await;
    let graph = GraphClient::new(c.http.clone(), c.tokens.clone());
    let app = graph
        .upsert_application(
            "imageshare-role-test",
            json!({"displayName": "r", "signInAudience": "AzureADMultipleOrgs"}),
        )
        .await
        .unwrap();
    c.sim.advance_clock(Duration::from_secs(60)); // past the demo's replication window
    let sp = graph.upsert_service_principal(&app.app_id).await.unwrap();
    let principal = sp.id.as_str();
    let arm = ArmClient::new(c.http.clone(), c.tokens.clone());
    let scope = format!(
        "/subscriptions/{}/resourceGroups/rg-images/providers/Microsoft.Compute/galleries/contosoGallery/images/ubuntu-hardened",
        demo::CONTOSO_SUBSCRIPTION
    );
    let a = arm
        .assign_role(&ArmIdentity::Operator, &scope, roles::READER, principal)
        .await
        .unwrap();
    let b = arm
        .assign_role(&ArmIdentity::Operator, &scope, roles::READER, principal)
        .await
        .unwrap();
    assert_eq!(a, b);
    let count = c
        .sim
        .state()
        .role_assignments
        .iter()
        .filter(|r| r.principal_id == principal && r.scope.eq_ignore_ascii_case(&scope))
        .count();
    assert_eq!(count, 1);
}

#[tokio::test]
async fn a_token_for_an_app_the_tenant_never_consented_to_is_refused_with_aadsts700016() {
    let c = clients().await;
    let graph = GraphClient::new(c.http.clone(), c.tokens.clone());
    let app = graph
        .upsert_application(
            "imageshare-token-test",
            json!({"displayName": "t", "signInAudience": "AzureADMultipleOrgs"}),
        )
        .await
        .unwrap();
    let fabrikam = TenantId::parse(demo::FABRIKAM_TENANT).unwrap();
    let err = c
        .tokens
        .app(
            &app.app_id,
            fabrikam,
            &AppCredential::Federated,
            scopes::ARM,
        )
        .await
        .unwrap_err();
    assert!(err.has_aadsts(700016), "{err}");
    assert!(
        !err.is_retryable(),
        "a missing consent is not a transient failure: {err}"
    );
}
