//! Spawning the app on a free port with in-memory dependencies.

use std::sync::Arc;

use azure_transport::Transport;
use imageshare::{
    app::Application,
    config::{Env, Settings},
    context::{AppContext, SystemClock},
    events::MemoryEvents,
    queue::MemoryQueue,
    store::MemoryStore,
};
use serde_json::{Value, json};

pub const IMAGE_ID: &str = "/subscriptions/1a1a1a1a-1111-4111-8111-111111111111/resourceGroups/rg-images/providers/Microsoft.Compute/galleries/contosoGallery/images/ubuntu-hardened/versions/1.0.0";
pub const SSH_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMOVl3tuCvFLjCzvcWs4d1POvKZ4Mjxrg/KynhsrWpD2 ops@fabrikam";
pub const PUBLIC_BASE_URL: &str = "https://func-imageshare.azurewebsites.net";

/// The settings of a complete deployment, as app settings.
pub fn settings_pairs() -> Vec<(&'static str, String)> {
    vec![
        ("FUNCTIONS_CUSTOMHANDLER_PORT", "7071".into()),
        (
            "IMAGESHARE_IMAGE_CATALOG",
            format!(r#"{{"ubuntu-hardened":"{IMAGE_ID}"}}"#),
        ),
        ("IMAGESHARE_PUBLIC_BASE_URL", PUBLIC_BASE_URL.into()),
        (
            "IMAGESHARE_OWNER_TENANT_ID",
            "11111111-1111-4111-8111-111111111111".into(),
        ),
        (
            "IMAGESHARE_IDENTITY_CLIENT_ID",
            "3c3c3c3c-3333-4333-8333-333333333333".into(),
        ),
        (
            "ServiceBusConnection__fullyQualifiedNamespace",
            "sb-imageshare-demo.servicebus.windows.net".into(),
        ),
        ("IMAGESHARE_STORE", "memory".into()),
        ("IMAGESHARE_NOTIFY", "status".into()),
        ("IMAGESHARE_REDELIVERY_PAUSE_MAX_SECONDS", "0".into()),
    ]
}

pub fn settings() -> Settings {
    settings_with(&[])
}

/// The settings with `extra` added (or replacing a default).
pub fn settings_with(extra: &[(&'static str, &str)]) -> Settings {
    let mut pairs = settings_pairs();
    for (k, v) in extra {
        pairs.retain(|(name, _)| name != k);
        pairs.push((k, (*v).to_owned()));
    }
    Settings::from_env(&Env::from_pairs(
        pairs.iter().map(|(k, v)| (*k, v.as_str())),
    ))
    .unwrap()
}

/// A running app and handles on its in-memory dependencies.
pub struct TestApp {
    pub url: String,
    pub client: reqwest::Client,
    pub store: Arc<MemoryStore>,
    pub queue: Arc<MemoryQueue>,
    pub events: Arc<MemoryEvents>,
}

/// The app without Azure clients: the HTTP API and the host protocol only.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(settings()).await
}

/// The app with these settings.
pub async fn spawn_app_with(settings: Settings) -> TestApp {
    let store = Arc::new(MemoryStore::new());
    let queue = Arc::new(MemoryQueue::default());
    let events = Arc::new(MemoryEvents::default());
    let ctx = AppContext {
        settings: Arc::new(settings),
        store: store.clone(),
        queue: queue.clone(),
        events: events.clone(),
        clock: Arc::new(SystemClock),
        cloud: None,
        transport: Transport::direct().unwrap(),
    };
    let app = Application::build(ctx, 0).await.unwrap();
    let url = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    TestApp {
        url,
        client: reqwest::Client::new(),
        store,
        queue,
        events,
    }
}

/// A document that passes every check.
pub fn valid_document() -> Value {
    json!({
        "consumer": {
            "tenantId": "22222222-2222-4222-8222-222222222222",
            "subscriptionId": "2b2b2b2b-2222-4222-8222-222222222222",
            "resourceGroup": "rg-fabrikam-vms",
            "adminEmail": "admin@fabrikam.onmicrosoft.com"
        },
        "image": {"name": "ubuntu-hardened"},
        "vm": {
            "name": "vm-fabrikam-01",
            "size": "Standard_D2s_v5",
            "location": "eastus",
            "adminUsername": "azureuser",
            "sshPublicKey": SSH_KEY
        }
    })
}

impl TestApp {
    pub async fn submit(&self, body: &Value, key: Option<&str>) -> reqwest::Response {
        let mut request = self
            .client
            .post(format!("{}/api/share-requests", self.url))
            .json(body);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        request.send().await.unwrap()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap()
    }

    /// GETs the path of an absolute link the app handed out (Location, links.self).
    pub async fn follow(&self, link: &str) -> reqwest::Response {
        let path = link.strip_prefix(PUBLIC_BASE_URL).unwrap_or(link);
        self.get(path).await
    }
}
