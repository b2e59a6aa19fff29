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
