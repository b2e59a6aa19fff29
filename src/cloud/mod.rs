//! The Azure clients the pipeline uses, built once from the settings.

pub mod recent;

use std::sync::Arc;

use azure_transport::Transport;
use tokio::sync::OnceCell;

use crate::{
    azure::{
        AzureError, HttpStack, RetryPolicy, Service, Tokens,
        arm::{ArmClient, Permission},
        graph::GraphClient,
        keyvault::KeyVaultClient,
        scopes,
        service_bus::ServiceBusSender,
    },
    config::Settings,
    domain::RequestId,
};
use recent::Recent;

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
    /// Gallery image definitions read lately, by id.
    pub image_definitions: Recent<serde_json::Value>,
    /// A share app's permissions at a resource group read lately, by `{appId}{group id}`.
    pub permissions: Recent<PermissionsRead>,
}

/// A share app's permissions at a resource group as one request read them.
#[derive(Clone, Debug)]
pub struct PermissionsRead {
    /// The request whose check read them.
    pub by: RequestId,
    /// `None` when Resource Manager refused the read (no role there at all).
    pub permissions: Option<Vec<Permission>>,
}

/// How long a gallery image definition read serves other requests: its OS type and state
/// cannot change, its features only by the owner's deliberate update (`allowUpdateImage`),
/// so one read per instance every few minutes serves every request for that image.
pub const IMAGE_DEFINITION_FRESH: time::Duration = time::Duration::minutes(5);

/// How long a share app's permissions at a resource group that allow the VM serve its other
/// requests there: a role removed meanwhile is met by CreateVm's first write
/// (`AuthorizationFailed`, which ends the request with that reason after the RBAC grace).
pub const PERMISSIONS_GRANTED_FRESH: time::Duration = time::Duration::minutes(5);

/// How long permissions that do not (yet) allow the VM serve the other requests waiting for
/// the same grant: each would otherwise read them at its own re-check. The first read that
/// finds the grant passes it on to the tenant's other waiting requests
/// (`steps::app_consent::grant_seen`), so this is about how late a whole tenant sees a grant
/// (at 15 s the fleet run's last request saw its tenant's grant 16 s after it applied), against
/// one read per instance and tenant this often while its requests wait.
pub const PERMISSIONS_MISSING_FRESH: time::Duration = time::Duration::seconds(5);

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
            image_definitions: Recent::default(),
            permissions: Recent::default(),
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
