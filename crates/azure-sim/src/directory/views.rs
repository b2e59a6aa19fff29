//! The directory as the admin API's state view shows it: applications with their secrets'
//! metadata only, and service principals.

use serde::Serialize;
use serde_json::Value;

use super::{Directory, FederatedCredential, ServicePrincipal};

/// An application as the state views show it (no secret values).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationView {
    /// Object id.
    pub id: String,
    /// Client id.
    pub app_id: String,
    /// Home tenant.
    pub tenant: String,
    /// Display name.
    pub display_name: String,
    /// Alternate key.
    pub unique_name: Option<String>,
    /// Sign-in audience.
    pub sign_in_audience: Option<String>,
    /// Owners.
    pub owners: Vec<String>,
    /// Client secrets' metadata.
    pub password_credentials: Vec<CredentialView>,
    /// Federated credentials.
    pub federated_identity_credentials: Vec<FederatedCredential>,
}

/// A client secret's metadata.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialView {
    /// Credential id.
    pub key_id: String,
    /// Display name.
    pub display_name: Option<String>,
    /// First three characters.
    pub hint: String,
    /// Start.
    pub start_date_time: String,
    /// End.
    pub end_date_time: String,
}

/// A service principal as the state views show it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePrincipalView {
    /// Object id.
    pub id: String,
    /// Client id.
    pub app_id: String,
    /// Tenant.
    pub tenant: String,
    /// Display name.
    pub display_name: Option<String>,
    /// Granted Graph application permissions.
    pub graph_permissions: Vec<String>,
}

impl Directory {
    /// Applications without secret values.
    pub fn application_views(&self) -> Vec<ApplicationView> {
        self.applications
            .iter()
            .map(|a| ApplicationView {
                id: a.id.clone(),
                app_id: a.app_id.clone(),
                tenant: a.tenant.clone(),
                display_name: a.display_name().to_owned(),
                unique_name: a.prop("uniqueName").map(str::to_owned),
                sign_in_audience: a.prop("signInAudience").map(str::to_owned),
                owners: a.owners.clone(),
                password_credentials: a
                    .passwords
                    .iter()
                    .map(|p| CredentialView {
                        key_id: p.key_id.clone(),
                        display_name: p.display_name.clone(),
                        hint: p.hint.clone(),
                        start_date_time: p.start_text.clone(),
                        end_date_time: p.end_text.clone(),
                    })
                    .collect(),
                federated_identity_credentials: a.federated.clone(),
            })
            .collect()
    }

    /// Service principals.
    pub fn service_principal_views(&self) -> Vec<ServicePrincipalView> {
        self.service_principals
            .iter()
            .map(service_principal)
            .collect()
    }
}

/// A service principal as the state views show it.
pub(super) fn service_principal(sp: &ServicePrincipal) -> ServicePrincipalView {
    ServicePrincipalView {
        id: sp.id.clone(),
        app_id: sp.app_id.clone(),
        tenant: sp.tenant.clone(),
        display_name: sp
            .props
            .get("displayName")
            .and_then(Value::as_str)
            .map(str::to_owned),
        graph_permissions: sp.graph_permissions.clone(),
    }
}
