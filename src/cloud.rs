//! The Azure clients the pipeline uses, built once from the settings.

use std::sync::Arc;

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
}

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
        }
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
