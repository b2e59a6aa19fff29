//! The Azure clients the pipeline uses, built once from the settings.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use azure_transport::Transport;
use tokio::sync::OnceCell;

use crate::{
    azure::{
        AzureError, HttpStack, RetryPolicy, Service, Tokens, arm::ArmClient, graph::GraphClient,
        keyvault::KeyVaultClient, scopes, service_bus::ServiceBusSender,
    },
    config::Settings,
};

/// Graph, ARM, Key Vault and Service Bus, sharing one transport, one HTTP stack and one
/// token provider.
#[derive(Debug)]
pub struct Cloud {
    /// Tokens.
    pub tokens: Arc<Tokens>,
    /// The HTTP stack (webhooks use it too).
    pub http: HttpStack,
    /// Microsoft Graph as the operator.
    pub graph: GraphClient,
    /// Resource Manager.
    pub arm: ArmClient,
    /// Key Vault, when client secrets are used.
    pub key_vault: Option<KeyVaultClient>,
    /// Service Bus.
    pub service_bus: ServiceBusSender,
    operator_principal: OnceCell<String>,
    /// Gallery image definitions read lately, by id (lowercase), with when they were read.
    image_definitions: Mutex<HashMap<String, (time::OffsetDateTime, serde_json::Value)>>,
}

/// How long a gallery image definition read serves other requests: its OS type and state
/// cannot change, its features only by the owner's deliberate update (`allowUpdateImage`),
/// so one read per instance every few minutes serves every request for that image.
pub const IMAGE_DEFINITION_FRESH: time::Duration = time::Duration::minutes(5);

impl Cloud {
    /// Builds the clients over `transport` with `tokens`.
    pub fn new(
        settings: &Settings,
        transport: Transport,
        tokens: Arc<Tokens>,
        policy: RetryPolicy,
    ) -> Self {
        let http = HttpStack::new(transport, policy);
        Self {
            graph: GraphClient::new(http.clone(), tokens.clone()),
            arm: ArmClient::new(http.clone(), tokens.clone()),
            key_vault: settings
                .key_vault
                .clone()
                .map(|url| KeyVaultClient::new(http.clone(), tokens.clone(), url)),
            service_bus: ServiceBusSender::new(
                settings.service_bus.clone(),
                http.clone(),
                tokens.clone(),
            ),
            tokens,
            http,
            operator_principal: OnceCell::new(),
            image_definitions: Mutex::default(),
        }
    }

    /// The image definition `id` as read less than [`IMAGE_DEFINITION_FRESH`] before `now`.
    pub fn recent_image_definition(
        &self,
        id: &str,
        now: time::OffsetDateTime,
    ) -> Option<serde_json::Value> {
        let known = self
            .image_definitions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        known
            .get(&id.to_ascii_lowercase())
            .filter(|(at, _)| *at <= now && now - *at < IMAGE_DEFINITION_FRESH)
            .map(|(_, definition)| definition.clone())
    }

    /// Remembers the image definition `id` as read at `at`.
    pub fn remember_image_definition(
        &self,
        id: &str,
        at: time::OffsetDateTime,
        definition: serde_json::Value,
    ) {
        self.image_definitions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id.to_ascii_lowercase(), (at, definition));
    }

    /// The operator identity's object id: the subject its federated credentials trust. Read
    /// from its own token's `oid` claim, so it needs no setting.
    pub async fn operator_principal_id(&self) -> Result<String, AzureError> {
        self.operator_principal
            .get_or_try_init(|| async {
                let token = self.tokens.operator(scopes::ARM).await?;
                token
                    .unverified_claim("oid")
                    .ok_or_else(|| AzureError::Unexpected {
                        service: Service::Entra,
                        detail: "the managed identity's token has no oid claim".into(),
                    })
            })
            .await
            .cloned()
    }
}
