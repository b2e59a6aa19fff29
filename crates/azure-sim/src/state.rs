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
    /// Answers consumers gave to direct share invitations (accept / reject).
    pub shared_gallery_invitations: Vec<InvitationView>,
    /// B2B guest users (invited through Graph) of every tenant.
    pub guests: Vec<crate::directory::GuestView>,
}

impl StateSnapshot {
    /// Resources of one type (`Microsoft.Compute/virtualMachines`), case-insensitively.
    pub fn resources_of_type(&self, kind: &str) -> Vec<&ResourceView> {
        self.resources
            .iter()
            .filter(|r| r.kind.eq_ignore_ascii_case(kind))
            .collect()
    }

    /// The sharing profile of the gallery `id` (compared case-insensitively).
    pub fn gallery_sharing(&self, id: &str) -> Option<&SharingProfileView> {
        self.resources
            .iter()
            .find(|r| r.id.eq_ignore_ascii_case(id))
            .and_then(|r| r.sharing_profile.as_ref())
    }
}

/// A gallery's `sharingProfile` with its groups (what `$select=Permissions` answers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SharingProfileView {
    /// `Private`, `Groups` or `Community`.
    pub permissions: String,
    /// Non-empty groups, `Subscriptions` first.
    pub groups: Vec<SharingGroupView>,
}

impl SharingProfileView {
    /// The ids of the group of `kind` (`AADTenants`, `Subscriptions`); empty when none.
    pub fn ids(&self, kind: &str) -> Vec<String> {
        self.groups
            .iter()
            .filter(|g| g.kind.eq_ignore_ascii_case(kind))
            .flat_map(|g| g.ids.iter().cloned())
            .collect()
    }

    /// The tenants the gallery is shared with.
    pub fn tenants(&self) -> Vec<String> {
        self.ids("AADTenants")
    }

    /// The subscriptions the gallery is shared with.
    pub fn subscriptions(&self) -> Vec<String> {
        self.ids("Subscriptions")
    }
}

/// One sharing group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SharingGroupView {
    /// `Subscriptions` or `AADTenants`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Subscription or tenant ids.
    pub ids: Vec<String>,
}

/// A consumer's answer to a direct share invitation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InvitationView {
    /// The gallery (lower-case id).
    pub gallery_id: String,
    /// `Subscriptions` or `AADTenants`.
    pub grantee_type: String,
    /// The subscription or tenant id (lower case).
    pub grantee_id: String,
    /// `Accepted` or `Rejected`.
    pub status: String,
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
    /// Galleries only: `sharingProfile` with the groups it is shared with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sharing_profile: Option<SharingProfileView>,
}

/// The current state.
/// Message counts of every Service Bus entity.
pub fn queue_counts(ctx: &SimContext) -> Vec<EntityCounts> {
    let now = ctx.now();
    ctx.world()
        .namespaces
        .values_mut()
        .flat_map(|ns| ns.counts(now))
        .collect()
}

pub fn snapshot(ctx: &SimContext) -> StateSnapshot {
    let queues = queue_counts(ctx);
    let now = ctx.now();
    let world = ctx.world();
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
                sharing_profile: (r.kind == crate::arm::compute::gallery::GALLERY)
                    .then(|| sharing_view(r)),
            })
            .collect(),
        shared_gallery_invitations: world
            .arm
            .invitations
            .iter()
            .filter_map(|(k, status)| {
                let mut parts = k.rsplitn(3, '|');
                let (id, kind, gallery) = (parts.next()?, parts.next()?, parts.next()?);
                Some(InvitationView {
                    gallery_id: gallery.to_owned(),
                    grantee_type: if kind == "aadtenants" {
                        "AADTenants"
                    } else {
                        "Subscriptions"
                    }
                    .to_owned(),
                    grantee_id: id.to_owned(),
                    status: status.clone(),
                })
            })
            .collect(),
        guests: world.directory.guest_views(),
    }
}

fn sharing_view(r: &crate::arm::Resource) -> SharingProfileView {
    let (subscriptions, tenants) = crate::arm::compute::shared::groups(r);
    let groups = [("Subscriptions", subscriptions), ("AADTenants", tenants)]
        .into_iter()
        .filter(|(_, ids)| !ids.is_empty())
        .map(|(kind, ids)| SharingGroupView {
            kind: kind.to_owned(),
            ids,
        })
        .collect();
    SharingProfileView {
        permissions: r.body["properties"]["sharingProfile"]["permissions"]
            .as_str()
            .unwrap_or("Private")
            .to_owned(),
        groups,
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
    /// No guest invited with that address in the tenant.
    #[error("no invitation of '{0}' in that tenant")]
    NoInvitation(String),
    /// No account of another tenant has that address (nothing to redeem with).
    #[error("no home account of another tenant has the address '{0}'")]
    NoHomeAccount(String),
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

/// Redeems the invitation of `address` into `tenant` with the address's home account.
pub fn redeem(
    ctx: &SimContext,
    tenant: &str,
    address: &str,
) -> Result<crate::directory::GuestView, AdminError> {
    let now = ctx.now();
    ctx.world().directory.redeem(tenant, address, now)
}

/// Mail sent from users of `tenant`.
pub fn outbox(ctx: &SimContext, tenant: &str) -> Vec<Mail> {
    ctx.world().directory.outbox(tenant)
}

/// That mail after its first `seen`.
pub fn outbox_since(ctx: &SimContext, tenant: &str, seen: usize) -> Vec<Mail> {
    ctx.world().directory.outbox_since(tenant, seen)
}
