//! What a simulated cloud contains at start: tenants, principals, vaults, namespaces, faults.
//! Loaded from JSON (see the crate README) or built in ([`Scenario::demo`]).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::faults::Fault;

pub mod arm;
pub mod demo;
pub mod entra;
pub mod fleet;
pub mod servicebus;

pub use arm::{
    ArmRegionalThrottling, ArmSettings, ArmThrottling, Bucket, GalleryImageSpec,
    GalleryImageVersionSpec, GallerySpec, ImageFeatureSpec, ManagedImageSpec, PlatformImageSpec,
    VmSizes,
};
pub use entra::{
    ApplicationSpec, FederatedCredentialSpec, ManagedIdentitySpec, PasswordCredentialSpec,
    ServicePrincipalSpec, TenantSpec, UserSpec,
};
pub use servicebus::{EntitySpec, NamespaceSpec, SasPolicySpec, TopicSpec};

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
    /// Microsoft Graph's identity and access limits (resource units and writes per
    /// application + tenant, per application and per tenant); absent, the default: off. When
    /// set, it replaces `graphThrottling` on the identity paths.
    #[serde(default)]
    pub graph_identity_throttling: Option<GraphIdentityThrottling>,
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
            .field("graph_identity_throttling", &self.graph_identity_throttling)
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
            graph_identity_throttling: None,
            faults: vec![],
        }
    }
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
    /// Preview features registered in the subscription, as `{namespace}/{name}`
    /// (`Microsoft.Compute/SIGSharing`, which publishing to a direct shared gallery needs);
    /// every other feature is `NotRegistered` there.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub registered_features: Vec<String>,
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

/// A quota of `units` per `windowSeconds`, kept as a token bucket of that size refilled at
/// `units / windowSeconds` per second (Graph: "Throttling is based on a token bucket
/// algorithm"; the even refill is this simulator's reading).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Quota {
    /// Units (resource units or writes) per window.
    pub units: u32,
    /// Window length in seconds.
    pub window_seconds: u32,
}

impl Quota {
    /// `units` per `window_seconds`.
    pub const fn new(units: u32, window_seconds: u32) -> Self {
        Self {
            units,
            window_seconds,
        }
    }
}

fn app_tenant_writes() -> Quota {
    Quota::new(3_000, 150)
}
fn app_resource_units() -> Quota {
    Quota::new(150_000, 20)
}
fn app_writes() -> Quota {
    Quota::new(70_000, 300)
}
fn tenant_writes() -> Quota {
    Quota::new(18_000, 300)
}
fn ten() -> u32 {
    10
}

/// Microsoft Graph "Identity and access service limits" (learn.microsoft.com/graph/throttling-limits).
/// Every default is the documented figure; `{}` enables them as documented.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GraphIdentityThrottling {
    /// Resource units per application + tenant pair per `appTenantResourceUnitWindowSeconds`;
    /// absent: by the tenant's size, 3,500 (S, under 50 users), 5,000 (M, 50 to 500) or
    /// 8,000 (L, above 500).
    #[serde(default)]
    pub app_tenant_resource_units: Option<u32>,
    /// The window of that quota (10 seconds).
    #[serde(default = "ten")]
    pub app_tenant_resource_unit_window_seconds: u32,
    /// Writes per application + tenant pair (3,000 per 150 seconds).
    #[serde(default = "app_tenant_writes")]
    pub app_tenant_writes: Quota,
    /// Resource units per application across tenants (150,000 per 20 seconds).
    #[serde(default = "app_resource_units")]
    pub app_resource_units: Quota,
    /// Writes per application across tenants (70,000 per 5 minutes).
    #[serde(default = "app_writes")]
    pub app_writes: Quota,
    /// Writes per tenant across applications (18,000 per 5 minutes).
    #[serde(default = "tenant_writes")]
    pub tenant_writes: Quota,
}

impl Default for GraphIdentityThrottling {
    fn default() -> Self {
        Self {
            app_tenant_resource_units: None,
            app_tenant_resource_unit_window_seconds: ten(),
            app_tenant_writes: app_tenant_writes(),
            app_resource_units: app_resource_units(),
            app_writes: app_writes(),
            tenant_writes: tenant_writes(),
        }
    }
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

    /// The same scenario with `permissions` (Microsoft Graph application permissions such as
    /// `User.Invite.All`, `User.ReadWrite.All`) added to every managed identity's
    /// `graphPermissions` (in the demo: the operator `id-imageshare`). The demo grants none of
    /// the user permissions by default.
    #[must_use]
    pub fn with_operator_graph_permissions(mut self, permissions: &[&str]) -> Self {
        for identity in &mut self.managed_identities {
            for p in permissions {
                if !identity
                    .graph_permissions
                    .iter()
                    .any(|g| g.eq_ignore_ascii_case(p))
                {
                    identity.graph_permissions.push((*p).to_owned());
                }
            }
        }
        self
    }

    /// The same scenario with one more user (a [`UserSpec::member`], say).
    #[must_use]
    pub fn with_user(mut self, user: UserSpec) -> Self {
        self.users.push(user);
        self
    }

    /// The same scenario with one more Azure RBAC role assignment: `role` (a built-in role's
    /// name, such as `Owner` or `Reader`, or its id) for `principal_id` at `scope`
    /// (`/subscriptions/{id}`, a resource group, a resource). Checked when the simulator
    /// starts, as every scenario assignment is.
    #[must_use]
    pub fn with_role_assignment(mut self, principal_id: &str, role: &str, scope: &str) -> Self {
        self.role_assignments.push(RoleAssignmentSpec {
            principal_id: principal_id.to_owned(),
            role: role.to_owned(),
            scope: scope.to_owned(),
            ..RoleAssignmentSpec::default()
        });
        self
    }

    /// The same scenario with Fabrikam's non-privileged user (`demo::FABRIKAM_READER_UPN`,
    /// no directory role, Reader on the Fabrikam subscription), beside its admin (Global
    /// Administrator, Owner there).
    #[must_use]
    pub fn with_fabrikam_reader(self) -> Self {
        self.with_user(
            UserSpec::member(
                demo::FABRIKAM_READER_ID,
                demo::FABRIKAM_TENANT,
                demo::FABRIKAM_READER_UPN,
                demo::FABRIKAM_READER_PASSWORD,
            )
            .with_display_name("Fabrikam Reader"),
        )
        .with_role_assignment(
            demo::FABRIKAM_READER_ID,
            "Reader",
            &format!("/subscriptions/{}", demo::FABRIKAM_SUBSCRIPTION),
        )
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
    fn the_fabrikam_reader_is_a_member_with_reader_on_the_fabrikam_subscription() {
        let s = Scenario::demo().with_fabrikam_reader();
        s.validate().unwrap();
        let user = s
            .users
            .iter()
            .find(|u| u.user_principal_name == demo::FABRIKAM_READER_UPN)
            .unwrap();
        assert!(user.directory_roles.is_empty());
        assert_eq!(user.tenant, demo::FABRIKAM_TENANT);
        assert!(
            s.role_assignments
                .iter()
                .any(|a| a.principal_id == demo::FABRIKAM_READER_ID
                    && a.role == "Reader"
                    && a.scope == format!("/subscriptions/{}", demo::FABRIKAM_SUBSCRIPTION))
        );
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
