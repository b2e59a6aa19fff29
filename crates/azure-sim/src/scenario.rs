//! What a simulated cloud contains at start: tenants, principals, vaults, namespaces, faults.
//! Loaded from JSON (see the crate README) or built in ([`Scenario::demo`]).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::faults::Fault;

pub mod arm;
pub mod demo;

pub use arm::{
    ArmSettings, ArmThrottling, GalleryImageSpec, GalleryImageVersionSpec, GallerySpec,
    ImageFeatureSpec, ManagedImageSpec, PlatformImageSpec, VmSizes,
};

/// A whole simulated cloud.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Scenario {
    /// Entra tenants.
    #[serde(default)]
    pub tenants: Vec<TenantSpec>,
    /// Users (for consent sign-in and as mail senders).
    #[serde(default)]
    pub users: Vec<UserSpec>,
    /// Application registrations that exist at start.
    #[serde(default)]
    pub applications: Vec<ApplicationSpec>,
    /// Service principals that exist at start.
    #[serde(default)]
    pub service_principals: Vec<ServicePrincipalSpec>,
    /// User-assigned managed identities.
    #[serde(default)]
    pub managed_identities: Vec<ManagedIdentitySpec>,
    /// The App Service `IDENTITY_HEADER` value the managed identity endpoint demands.
    #[serde(default)]
    pub identity_header: String,
    /// Subscriptions and their resource groups.
    #[serde(default)]
    pub subscriptions: Vec<SubscriptionSpec>,
    /// Azure RBAC role assignments (Resource Manager and the data planes of vaults and namespaces).
    #[serde(default)]
    pub role_assignments: Vec<RoleAssignmentSpec>,
    /// Compute galleries (absent ones are implied by their images and versions).
    #[serde(default)]
    pub galleries: Vec<GallerySpec>,
    /// Gallery image definitions (absent ones are implied by their versions).
    #[serde(default)]
    pub gallery_images: Vec<GalleryImageSpec>,
    /// Gallery image versions.
    #[serde(default)]
    pub gallery_image_versions: Vec<GalleryImageVersionSpec>,
    /// Managed images (sources for image versions created while running).
    #[serde(default)]
    pub managed_images: Vec<ManagedImageSpec>,
    /// Marketplace images a VM may name by publisher, offer and SKU.
    #[serde(default)]
    pub platform_images: Vec<PlatformImageSpec>,
    /// Resource Manager pacing, paging and throttling.
    #[serde(default)]
    pub arm: ArmSettings,
    /// Key Vaults.
    #[serde(default)]
    pub key_vaults: Vec<KeyVaultSpec>,
    /// Service Bus namespaces.
    #[serde(default)]
    pub service_bus_namespaces: Vec<NamespaceSpec>,
    /// Eventual-consistency windows.
    #[serde(default)]
    pub replication: Replication,
    /// Lifetime of issued access tokens, in seconds (Entra issues ~3599).
    #[serde(default = "default_token_lifetime")]
    pub token_lifetime_seconds: u32,
    /// A per-application Microsoft Graph write budget; absent: Graph never throttles on its own.
    #[serde(default)]
    pub graph_throttling: Option<GraphThrottling>,
    /// Faults installed at start.
    #[serde(default)]
    pub faults: Vec<Fault>,
}

impl fmt::Debug for Scenario {
    /// Everything but `identity_header`, which is a secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scenario")
            .field("tenants", &self.tenants)
            .field("users", &self.users)
            .field("applications", &self.applications)
            .field("service_principals", &self.service_principals)
            .field("managed_identities", &self.managed_identities)
            .field("subscriptions", &self.subscriptions)
            .field("role_assignments", &self.role_assignments)
            .field("galleries", &self.galleries)
            .field("gallery_images", &self.gallery_images)
            .field("gallery_image_versions", &self.gallery_image_versions)
            .field("managed_images", &self.managed_images)
            .field("platform_images", &self.platform_images)
            .field("arm", &self.arm)
            .field("key_vaults", &self.key_vaults)
            .field("service_bus_namespaces", &self.service_bus_namespaces)
            .field("replication", &self.replication)
            .field("token_lifetime_seconds", &self.token_lifetime_seconds)
            .field("graph_throttling", &self.graph_throttling)
            .field("faults", &self.faults)
            .finish_non_exhaustive()
    }
}

fn default_token_lifetime() -> u32 {
    3599
}

impl Default for Scenario {
    /// An empty cloud with Entra's usual token lifetime.
    fn default() -> Self {
        Self {
            tenants: vec![],
            users: vec![],
            applications: vec![],
            service_principals: vec![],
            managed_identities: vec![],
            identity_header: String::new(),
            subscriptions: vec![],
            role_assignments: vec![],
            galleries: vec![],
            gallery_images: vec![],
            gallery_image_versions: vec![],
            managed_images: vec![],
            platform_images: vec![],
            arm: ArmSettings::default(),
            key_vaults: vec![],
            service_bus_namespaces: vec![],
            replication: Replication::none(),
            token_lifetime_seconds: default_token_lifetime(),
            graph_throttling: None,
            faults: vec![],
        }
    }
}

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

/// A subscription.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubscriptionSpec {
    /// Subscription id.
    pub id: String,
    /// Display name.
    pub display_name: String,
    /// Tenant the subscription trusts.
    pub tenant: String,
    /// Resource groups.
    #[serde(default)]
    pub resource_groups: Vec<ResourceGroupSpec>,
    /// VM sizes offered per region; empty: any size in any region.
    #[serde(default)]
    pub vm_sizes: VmSizes,
}

/// A resource group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceGroupSpec {
    /// Name.
    pub name: String,
    /// Region (`eastus`).
    pub location: String,
}

/// An Azure RBAC role assignment.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoleAssignmentSpec {
    /// Principal object id.
    pub principal_id: String,
    /// Built-in role name (`Key Vault Secrets Officer`, `Reader`) or role definition GUID.
    pub role: String,
    /// ARM scope (`/subscriptions/.../resourceGroups/...`).
    pub scope: String,
    /// The assignment's name (a GUID); absent: derived from scope, role and principal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `User`, `ServicePrincipal`, `Group`; absent: looked up in the directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_type: Option<String>,
}

/// A Key Vault (RBAC authorization model).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeyVaultSpec {
    /// Vault name (the host label).
    pub name: String,
    /// Tenant whose tokens the vault accepts.
    pub tenant: String,
    /// ARM resource id (the scope role assignments name).
    pub resource_id: String,
}

/// A Service Bus namespace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NamespaceSpec {
    /// Namespace name (the host label).
    pub name: String,
    /// Tenant whose tokens the namespace accepts.
    pub tenant: String,
    /// ARM resource id (the scope role assignments name).
    pub resource_id: String,
    /// Shared access policies.
    #[serde(default)]
    pub sas_policies: Vec<SasPolicySpec>,
    /// Queues.
    #[serde(default)]
    pub queues: Vec<EntitySpec>,
    /// Topics.
    #[serde(default)]
    pub topics: Vec<TopicSpec>,
}

/// A shared access policy.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SasPolicySpec {
    /// Key name (`RootManageSharedAccessKey`).
    pub name: String,
    /// Primary key (the base64 text is the HMAC key, used as its UTF-8 bytes).
    pub primary_key: String,
    /// Secondary key.
    #[serde(default)]
    pub secondary_key: Option<String>,
    /// `Manage`, `Send`, `Listen`.
    pub rights: Vec<String>,
}

impl fmt::Debug for SasPolicySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SasPolicySpec")
            .field("name", &self.name)
            .field("rights", &self.rights)
            .finish_non_exhaustive()
    }
}

/// A queue or a topic subscription.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EntitySpec {
    /// Name.
    pub name: String,
    /// ISO 8601 lock duration (`PT30S`; Service Bus default `PT1M`).
    #[serde(default = "default_lock")]
    pub lock_duration: String,
    /// Deliveries before dead-lettering (default 10).
    #[serde(default = "default_max_delivery")]
    pub max_delivery_count: u32,
    /// ISO 8601 duplicate-detection window; absent: no duplicate detection.
    #[serde(default)]
    pub duplicate_detection_window: Option<String>,
}

fn default_lock() -> String {
    "PT1M".to_owned()
}

fn default_max_delivery() -> u32 {
    10
}

/// A topic and its subscriptions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TopicSpec {
    /// Name.
    pub name: String,
    /// ISO 8601 duplicate-detection window of the topic.
    #[serde(default)]
    pub duplicate_detection_window: Option<String>,
    /// Subscriptions (each gets a copy of every message).
    #[serde(default)]
    pub subscriptions: Vec<EntitySpec>,
}

/// Graph's write budget per application and tenant: more writes than `writes` within
/// `windowSeconds` get 429 with `Retry-After` (throttled requests count too, as Graph's do).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GraphThrottling {
    /// Writes (POST, PATCH, DELETE) allowed per window.
    pub writes: u32,
    /// Window length in seconds.
    pub window_seconds: u32,
}

/// Eventual-consistency windows, in seconds (zero: immediately consistent).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Replication {
    /// After an app is created, creating its service principal fails with NoBackingApplicationObject.
    #[serde(default)]
    pub new_application_seconds: u32,
    /// After addPassword, the token endpoint refuses the new secret (AADSTS7000215).
    #[serde(default)]
    pub new_secret_seconds: u32,
    /// After a service principal is created, the token endpoint does not know it (AADSTS700016).
    #[serde(default)]
    pub new_service_principal_seconds: u32,
    /// After a role assignment is created, authorization does not see it yet (403).
    #[serde(default)]
    pub role_assignment_seconds: u32,
    /// After a principal is created, Resource Manager does not know it (400 PrincipalNotFound
    /// when a role assignment names it without `principalType`).
    #[serde(default)]
    pub arm_principal_seconds: u32,
}

impl Replication {
    /// Immediately consistent.
    pub fn none() -> Self {
        Self::default()
    }
}

/// Errors loading a scenario.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("cannot read scenario file {path}")]
    Read {
        /// The path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The JSON is not a scenario.
    #[error("invalid scenario JSON")]
    Json(#[from] serde_json::Error),
    /// A cross-reference does not resolve.
    #[error("invalid scenario: {0}")]
    Invalid(String),
}

impl Scenario {
    /// The same scenario with other replication windows.
    #[must_use]
    pub fn with_replication(mut self, replication: Replication) -> Self {
        self.replication = replication;
        self
    }

    /// Parses a scenario from JSON text and checks its cross-references.
    pub fn from_json(text: &str) -> Result<Self, ScenarioError> {
        let scenario: Self = serde_json::from_str(text)?;
        scenario.validate()?;
        Ok(scenario)
    }

    /// Reads `demo` or a JSON file.
    pub fn load(name_or_path: &str) -> Result<Self, ScenarioError> {
        if name_or_path == "demo" {
            return Ok(Self::demo());
        }
        let text = std::fs::read_to_string(name_or_path).map_err(|source| ScenarioError::Read {
            path: name_or_path.to_owned(),
            source,
        })?;
        Self::from_json(&text)
    }

    /// Checks that every tenant reference names a declared tenant.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        let known = |t: &str| self.tenants.iter().any(|x| x.id.eq_ignore_ascii_case(t));
        let refs = self
            .users
            .iter()
            .map(|u| ("user", u.user_principal_name.as_str(), u.tenant.as_str()))
            .chain(
                self.applications
                    .iter()
                    .map(|a| ("application", a.display_name.as_str(), a.tenant.as_str())),
            )
            .chain(
                self.service_principals
                    .iter()
                    .map(|s| ("service principal", s.id.as_str(), s.tenant.as_str())),
            )
            .chain(
                self.managed_identities
                    .iter()
                    .map(|m| ("managed identity", m.name.as_str(), m.tenant.as_str())),
            )
            .chain(
                self.subscriptions
                    .iter()
                    .map(|s| ("subscription", s.id.as_str(), s.tenant.as_str())),
            )
            .chain(
                self.key_vaults
                    .iter()
                    .map(|k| ("key vault", k.name.as_str(), k.tenant.as_str())),
            )
            .chain(
                self.service_bus_namespaces
                    .iter()
                    .map(|n| ("namespace", n.name.as_str(), n.tenant.as_str())),
            );
        for (kind, name, tenant) in refs {
            if !known(tenant) {
                return Err(ScenarioError::Invalid(format!(
                    "{kind} '{name}' names unknown tenant '{tenant}'"
                )));
            }
        }
        for sp in &self.service_principals {
            if !self.applications.iter().any(|a| a.app_id == sp.app_id) {
                return Err(ScenarioError::Invalid(format!(
                    "service principal '{}' names unknown appId '{}'",
                    sp.id, sp.app_id
                )));
            }
        }
        arm::validate(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_scenario_round_trips_through_json() {
        let demo = Scenario::demo();
        let text = serde_json::to_string(&demo).unwrap();
        assert_eq!(Scenario::from_json(&text).unwrap(), demo);
    }

    #[test]
    fn debug_output_never_shows_a_secret() {
        let text = format!("{:?}", Scenario::demo());
        for secret in [
            demo::IDENTITY_HEADER,
            demo::SAS_KEY,
            demo::FABRIKAM_ADMIN_PASSWORD,
        ] {
            assert!(!text.contains(secret), "{secret} leaked into Debug output");
        }
    }

    #[test]
    fn an_unknown_tenant_reference_is_refused() {
        let mut s = Scenario::demo();
        s.users[0].tenant = "99999999-9999-4999-8999-999999999999".into();
        assert!(matches!(s.validate(), Err(ScenarioError::Invalid(_))));
    }

    #[test]
    fn the_readme_example_is_a_valid_complete_scenario() {
        let readme = include_str!("../README.md");
        let marker = "<!-- scenario-example -->\n```json\n";
        let start = readme.find(marker).unwrap() + marker.len();
        let end = start + readme[start..].find("```").unwrap();
        let s = Scenario::from_json(&readme[start..end]).unwrap();
        assert_eq!(s.tenants.len(), 2);
        assert_eq!(s.applications[0].federated_identity_credentials.len(), 1);
        assert_eq!(
            s.service_bus_namespaces[0].topics[0].subscriptions[0].name,
            "all"
        );
        assert_eq!(s.faults[0].retry_after, Some(3));
        assert_eq!(s.replication.new_secret_seconds, 5);
        assert_eq!(s.graph_throttling.map(|t| t.writes), Some(3000));
        assert_eq!(s.replication.role_assignment_seconds, 10);
        assert_eq!(s.galleries[0].shared_with_subscriptions.len(), 1);
        assert_eq!(s.arm.retry_after_seconds, Some(1));
        assert_eq!(s.subscriptions[1].vm_sizes["eastus"].len(), 2);
        assert!(s.faults[1].provisioning_error.is_some());
    }

    #[test]
    fn a_role_the_simulator_does_not_know_is_refused() {
        let mut s = Scenario::demo();
        s.role_assignments[0].role = "Reeder".into();
        assert!(matches!(s.validate(), Err(ScenarioError::Invalid(m)) if m.contains("Reeder")));
    }

    #[test]
    fn a_gallery_outside_the_declared_resource_groups_is_refused() {
        let mut s = Scenario::demo();
        s.galleries[0].id = s.galleries[0].id.replace("rg-images", "rg-missing");
        assert!(matches!(s.validate(), Err(ScenarioError::Invalid(_))));
    }

    #[test]
    fn unknown_fields_are_refused_rather_than_ignored() {
        let err = Scenario::from_json(r#"{"tenantz": []}"#).unwrap_err();
        assert!(matches!(err, ScenarioError::Json(_)));
    }
}
