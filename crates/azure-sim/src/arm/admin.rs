//! Acting as a tenant admin in the portal: granting a role on a scope to a principal (by
//! object id, or an application's service principal by appId), authorized by the admin's own
//! role assignments through the same RBAC evaluation and creation code as the ARM API.

use serde::Deserialize;
use serde_json::Value;

use super::{
    ArmError, Caller, authorization_failed,
    path::subscription_of,
    rbac::{
        assignments::{self, NewAssignment},
        evaluate::{self, Principal},
        roles,
    },
    resources::ensure_scope,
};
use crate::{context::SimContext, state::AdminError};

/// Who to grant the role to.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PrincipalRef {
    /// An object id (user, service principal, managed identity).
    ObjectId(String),
    /// The service principal of an application in the admin's tenant.
    App {
        /// The application's client id.
        #[serde(rename = "appId")]
        app_id: String,
    },
}

/// A role grant as an admin makes it in the portal.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleGrant {
    /// Tenant id or domain.
    pub tenant: String,
    /// The admin's UPN or object id.
    pub admin: String,
    /// ARM scope.
    pub scope: String,
    /// Role name (`Contributor`) or role definition id.
    pub role: String,
    /// The principal.
    pub principal: PrincipalRef,
    /// `principalType`; absent: what the directory says (the portal always sends it).
    #[serde(default)]
    pub principal_type: Option<String>,
}

/// Why a grant was refused.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    /// The request names something the scenario lacks.
    #[error(transparent)]
    Admin(#[from] AdminError),
    /// Resource Manager refused it (authorization, conflicts, ...).
    #[error(transparent)]
    Arm(#[from] ArmError),
}

/// Grants the role; the ARM answer for the new (or existing) assignment.
pub fn grant(ctx: &SimContext, g: &RoleGrant) -> Result<Value, GrantError> {
    let now = ctx.now();
    let mut world = ctx.world();
    let tenant = world
        .directory
        .tenant(&g.tenant)
        .map(|t| t.id.clone())
        .ok_or_else(|| AdminError::UnknownTenant(g.tenant.clone()))?;
    let admin = world
        .directory
        .user(&tenant, &g.admin)
        .cloned()
        .ok_or_else(|| AdminError::UnknownUser(g.admin.clone()))?;
    let sub = subscription_of(&g.scope).unwrap_or_default();
    let in_tenant = ctx
        .scenario
        .subscriptions
        .iter()
        .any(|s| s.id.eq_ignore_ascii_case(&sub) && s.tenant.eq_ignore_ascii_case(&tenant));
    if !in_tenant {
        return Err(AdminError::ScopeOutsideTenant(g.scope.clone()).into());
    }
    let role = roles::resolve(&g.role).ok_or_else(|| AdminError::UnknownRole(g.role.clone()))?;
    let principal_id = match &g.principal {
        PrincipalRef::ObjectId(id) => id.clone(),
        PrincipalRef::App { app_id } => world
            .directory
            .service_principal(&tenant, app_id)
            .map(|s| s.id.clone())
            .ok_or_else(|| AdminError::UnknownPrincipal(app_id.clone()))?,
    };
    let caller = Caller {
        tenant: tenant.clone(),
        object_id: admin.id.clone(),
        app_id: super::super::entra::password::AZURE_CLI.to_owned(),
        upn: Some(admin.upn.clone()),
    };
    let who = Principal {
        tenant: &tenant,
        object_id: &admin.id,
    };
    let action = "Microsoft.Authorization/roleAssignments/write";
    if !evaluate::allowed(&world, now, who, action, &g.scope) {
        return Err(authorization_failed(&caller, action, &g.scope).into());
    }
    ensure_scope(&world, &g.scope)?;
    let principal_type = g.principal_type.clone().or_else(|| {
        assignments::principal_kind(&world, &ctx.scenario, &tenant, &principal_id)
            .map(|(k, _)| k.to_owned())
    });
    let (_, body) = assignments::create(
        &mut world,
        &ctx.scenario,
        now,
        &tenant,
        &admin.id,
        NewAssignment {
            scope: g.scope.clone(),
            name: uuid::Uuid::new_v4().to_string(),
            role_definition_id: format!(
                "/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{}",
                role.id
            ),
            principal_id,
            principal_type,
            description: None,
            condition: None,
            condition_version: None,
        },
    )?;
    Ok(body)
}
