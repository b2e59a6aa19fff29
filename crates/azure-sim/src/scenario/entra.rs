//! The Entra part of a scenario: tenants, users, app registrations with their credentials,
//! service principals and managed identities.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An Entra tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantSpec {
    /// Tenant id (GUID).
    pub id: String,
    /// Verified domain (`contoso.onmicrosoft.com`).
    pub domain: String,
    /// Display name (`Contoso`).
    pub display_name: String,
}

/// A user.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserSpec {
    /// Object id.
    pub id: String,
    /// Home tenant id.
    pub tenant: String,
    /// Sign-in name.
    pub user_principal_name: String,
    /// Display name.
    #[serde(default)]
    pub display_name: String,
    /// Password for the simulated sign-in page (absent: cannot sign in).
    #[serde(default)]
    pub password: Option<String>,
    /// Entra directory roles (`Global Administrator`, `Cloud Application Administrator`, ...).
    #[serde(default)]
    pub directory_roles: Vec<String>,
}

impl UserSpec {
    /// A member of `tenant` who signs in with `password` and holds no directory role (its
    /// display name is the UPN's local part).
    pub fn member(id: &str, tenant: &str, upn: &str, password: &str) -> Self {
        Self {
            id: id.to_owned(),
            tenant: tenant.to_owned(),
            user_principal_name: upn.to_owned(),
            display_name: upn.split('@').next().unwrap_or(upn).to_owned(),
            password: Some(password.to_owned()),
            directory_roles: vec![],
        }
    }

    /// The same user holding the Entra directory `roles` (`Global Administrator`, ...).
    #[must_use]
    pub fn with_directory_roles(mut self, roles: &[&str]) -> Self {
        self.directory_roles = roles.iter().map(|r| (*r).to_owned()).collect();
        self
    }

    /// The same user with another display name.
    #[must_use]
    pub fn with_display_name(mut self, name: &str) -> Self {
        name.clone_into(&mut self.display_name);
        self
    }
}

impl fmt::Debug for UserSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserSpec")
            .field("id", &self.id)
            .field("tenant", &self.tenant)
            .field("user_principal_name", &self.user_principal_name)
            .field("directory_roles", &self.directory_roles)
            .finish_non_exhaustive()
    }
}

/// An application registration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApplicationSpec {
    /// Object id.
    pub id: String,
    /// Client (application) id.
    pub app_id: String,
    /// Home tenant id.
    pub tenant: String,
    /// Display name.
    pub display_name: String,
    /// Alternate key for upserts.
    #[serde(default)]
    pub unique_name: Option<String>,
    /// `AzureADMyOrg`, `AzureADMultipleOrgs`, ...
    #[serde(default = "default_audience")]
    pub sign_in_audience: String,
    /// Web redirect URIs.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Object ids of owners.
    #[serde(default)]
    pub owners: Vec<String>,
    /// Client secrets.
    #[serde(default)]
    pub password_credentials: Vec<PasswordCredentialSpec>,
    /// Federated identity credentials.
    #[serde(default)]
    pub federated_identity_credentials: Vec<FederatedCredentialSpec>,
}

fn default_audience() -> String {
    "AzureADMultipleOrgs".to_owned()
}

/// A client secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PasswordCredentialSpec {
    /// Credential id.
    pub key_id: String,
    /// The secret value.
    pub secret_text: String,
    /// Display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// RFC 3339 expiry (absent: two years from start).
    #[serde(default)]
    pub end_date_time: Option<String>,
}

impl fmt::Debug for PasswordCredentialSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordCredentialSpec")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// A federated identity credential.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FederatedCredentialSpec {
    /// Unique name on the app.
    pub name: String,
    /// Expected `iss` of the assertion.
    pub issuer: String,
    /// Expected `sub` of the assertion.
    pub subject: String,
    /// Expected `aud` values.
    pub audiences: Vec<String>,
}

/// A service principal (an application's instance in a tenant).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServicePrincipalSpec {
    /// Object id.
    pub id: String,
    /// The application's client id.
    pub app_id: String,
    /// Tenant the principal lives in.
    pub tenant: String,
    /// Microsoft Graph application permissions granted (`Application.ReadWrite.OwnedBy`).
    #[serde(default)]
    pub graph_permissions: Vec<String>,
}

/// A user-assigned managed identity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ManagedIdentitySpec {
    /// Resource name.
    pub name: String,
    /// ARM resource id.
    pub resource_id: String,
    /// Client id.
    pub client_id: String,
    /// Principal (object) id.
    pub principal_id: String,
    /// Tenant id.
    pub tenant: String,
    /// Microsoft Graph application permissions granted.
    #[serde(default)]
    pub graph_permissions: Vec<String>,
}
