//! Spawning the app on a free port with in-memory dependencies.

use std::sync::Arc;

use imageshare::{
    app::Application,
    config::Settings,
    context::{AppContext, SystemClock},
    domain::{ImageCatalog, ImageVersionId},
    steps::MemoryQueue,
    store::MemoryStore,
};
use serde_json::{Value, json};

pub const IMAGE_ID: &str = "/subscriptions/1a1a1a1a-1111-4111-8111-111111111111/resourceGroups/rg-images/providers/Microsoft.Compute/galleries/contosoGallery/images/ubuntu-hardened/versions/1.0.0";
pub const SSH_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMOVl3tuCvFLjCzvcWs4d1POvKZ4Mjxrg/KynhsrWpD2 ops@fabrikam";

/// A running app and handles on its in-memory dependencies.
pub struct TestApp {
    pub url: String,
    pub client: reqwest::Client,
    pub store: Arc<MemoryStore>,
    pub queue: Arc<MemoryQueue>,
}

pub fn catalog() -> ImageCatalog {
    ImageCatalog::from_entries([(
        "ubuntu-hardened".to_owned(),
        ImageVersionId::parse(IMAGE_ID).unwrap(),
    )])
}

pub async fn spawn_app() -> TestApp {
    let store = Arc::new(MemoryStore::new());
    let queue = Arc::new(MemoryQueue::default());
    let ctx = AppContext {
        settings: Arc::new(Settings {
            port: 0,
            catalog: catalog(),
            public_base_url: None,
        }),
        store: store.clone(),
        queue: queue.clone(),
        clock: Arc::new(SystemClock),
    };
    let app = Application::build(ctx, 0).await.unwrap();
    let url = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    TestApp {
        url,
        client: reqwest::Client::new(),
        store,
        queue,
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
}
