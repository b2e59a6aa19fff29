//! Read-only views of the simulated state, and admin actions (consent), shared by the
//! library API and the `/_sim/` HTTP API.

use serde::Serialize;

use crate::{
    context::SimContext,
    directory::{ApplicationView, Mail, ServicePrincipalView},
    servicebus::broker::EntityCounts,
};

/// Everything a test may want to assert on, without secret values.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StateSnapshot {
    /// Applications with their credentials' metadata.
    pub applications: Vec<ApplicationView>,
    /// Service principals.
    pub service_principals: Vec<ServicePrincipalView>,
    /// Queues, subscriptions and dead-letter queues with message counts.
    pub queues: Vec<EntityCounts>,
    /// Azure RBAC role assignments.
    pub role_assignments: Vec<RoleAssignmentView>,
    /// Resource Manager resources (resource groups, galleries, network, VMs, Lighthouse...).
    pub resources: Vec<ResourceView>,
}

impl StateSnapshot {
    /// Resources of one type (`Microsoft.Compute/virtualMachines`), case-insensitively.
    pub fn resources_of_type(&self, kind: &str) -> Vec<&ResourceView> {
        self.resources
            .iter()
            .filter(|r| r.kind.eq_ignore_ascii_case(kind))
            .collect()
    }
}

/// A role assignment as the state view shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleAssignmentView {
    /// Full id.
    pub id: String,
    /// Name (GUID).
    pub name: String,
    /// Scope.
    pub scope: String,
    /// Role definition GUID.
    pub role_definition_id: String,
    /// Role name.
    pub role_name: String,
    /// Principal object id.
    pub principal_id: String,
    /// Principal type.
    pub principal_type: String,
    /// False while the replication window lasts.
    pub effective: bool,
}

/// A resource as the state view shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceView {
    /// Id.
    pub id: String,
    /// Type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Region.
    pub location: Option<String>,
    /// `properties.provisioningState`.
    pub provisioning_state: Option<String>,
}

/// The current state.
pub fn snapshot(ctx: &SimContext) -> StateSnapshot {
    let now = ctx.now();
    let mut world = ctx.world();
    let queues = world
        .namespaces
        .values_mut()
        .flat_map(|ns| ns.counts(now))
        .collect();
    StateSnapshot {
        applications: world.directory.application_views(),
        service_principals: world.directory.service_principal_views(),
        queues,
        role_assignments: world
            .role_assignments
            .iter()
            .map(|a| RoleAssignmentView {
                id: a.id(),
                name: a.name.clone(),
                scope: a.scope.clone(),
                role_definition_id: a.role_definition.clone(),
                role_name: a.role_name.clone(),
                principal_id: a.principal_id.clone(),
                principal_type: a.principal_type.clone(),
                effective: a.is_effective(now),
            })
            .collect(),
        resources: world
            .arm
            .resources
            .values()
            .map(|r| ResourceView {
                id: r.id.clone(),
                kind: r.kind.clone(),
                location: r.location().map(str::to_owned),
                provisioning_state: r.provisioning_state().map(str::to_owned),
            })
            .collect(),
    }
}

/// Errors of admin actions.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The tenant is not in the scenario.
    #[error("unknown tenant '{0}'")]
    UnknownTenant(String),
    /// No application with that appId.
    #[error("unknown application '{0}'")]
    UnknownApplication(String),
    /// No such user in the tenant.
    #[error("unknown user '{0}' in that tenant")]
    UnknownUser(String),
    /// The user holds no admin directory role.
    #[error("user '{0}' is not an administrator of the tenant")]
    NotAnAdmin(String),
    /// A single-tenant app cannot be consented to elsewhere.
    #[error("application '{0}' is not multi-tenant")]
    NotMultiTenant(String),
    /// No such principal (or no service principal of that app) in the tenant.
    #[error("unknown principal '{0}' in that tenant")]
    UnknownPrincipal(String),
    /// The scope is not in a subscription of the tenant.
    #[error("scope '{0}' is not in a subscription of that tenant")]
    ScopeOutsideTenant(String),
    /// No built-in role by that name or id.
    #[error("unknown role '{0}'")]
    UnknownRole(String),
}

/// Acts as an admin of `tenant` consenting to `app_id`: creates its service principal there.
pub fn consent(
    ctx: &SimContext,
    tenant: &str,
    app_id: &str,
    admin: &str,
) -> Result<ServicePrincipalView, AdminError> {
    let now = ctx.now();
    ctx.world()
        .directory
        .admin_consent(tenant, app_id, admin, now)
}

/// Mail sent from users of `tenant`.
pub fn outbox(ctx: &SimContext, tenant: &str) -> Vec<Mail> {
    ctx.world().directory.outbox(tenant)
}
