//! Evaluating what a caller may do at a scope: every effective role assignment covering the
//! scope (direct ones, and Lighthouse delegations for principals of a managing tenant), each
//! granting its actions minus its own notActions, with `*` wildcards matched case-insensitively.

use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

use super::{roles, roles::RoleDefinition, scope_covers};
use crate::{arm::path::key, context::World, faults::glob};

/// Who is asking: the token's tenant and object id.
#[derive(Debug, Clone, Copy)]
pub struct Principal<'a> {
    /// Tenant of the token.
    pub tenant: &'a str,
    /// Object id.
    pub object_id: &'a str,
}

/// A role that applies to a principal at a scope.
#[derive(Debug, Clone)]
pub struct Grant {
    /// The role.
    pub role: &'static RoleDefinition,
    /// The scope of the assignment (or registration assignment) it comes from.
    pub scope: String,
    /// True for a Lighthouse delegation.
    pub delegated: bool,
}

/// ARM action wildcards: `*` matches any run of characters, case-insensitively.
pub fn action_matches(pattern: &str, action: &str) -> bool {
    glob(&pattern.to_ascii_lowercase(), &action.to_ascii_lowercase())
}

/// True when `role` grants `action` (an action of its own, not removed by its notActions).
pub fn role_allows(role: &RoleDefinition, action: &str) -> bool {
    role.actions.iter().any(|a| action_matches(a, action))
        && !role.not_actions.iter().any(|n| action_matches(n, action))
}

/// The Lighthouse delegations in force: (registration assignment scope, managing tenant,
/// principal id, role GUID), for succeeded assignments past the replication window.
pub fn delegations(world: &World, now: OffsetDateTime) -> Vec<(String, String, String, String)> {
    let delay = Duration::seconds(i64::from(
        world.directory.replication.role_assignment_seconds,
    ));
    let mut out = vec![];
    for r in world.arm.resources.values() {
        if !r
            .kind
            .eq_ignore_ascii_case("Microsoft.ManagedServices/registrationAssignments")
        {
            continue;
        }
        let props = &r.body["properties"];
        if props["provisioningState"] != "Succeeded" || r.created_at + delay > now {
            continue;
        }
        let Some(def_id) = props["registrationDefinitionId"].as_str() else {
            continue;
        };
        let Some(def) = world.arm.resources.get(&key(def_id)) else {
            continue;
        };
        let tenant = def.body["properties"]["managedByTenantId"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        // `{scope}/providers/Microsoft.ManagedServices/registrationAssignments/{name}`
        let scope = crate::arm::path::parent_of(&r.id);
        for a in def.body["properties"]["authorizations"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if let (Some(p), Some(role)) =
                (a["principalId"].as_str(), a["roleDefinitionId"].as_str())
            {
                out.push((
                    scope.clone(),
                    tenant.clone(),
                    p.to_owned(),
                    roles::guid_of(role).to_owned(),
                ));
            }
        }
    }
    out
}

/// True when some Lighthouse delegation in `subscription` lets principals of `tenant` in.
pub fn tenant_is_delegated(
    world: &World,
    now: OffsetDateTime,
    subscription: &str,
    tenant: &str,
) -> bool {
    let prefix = format!("/subscriptions/{}", subscription.to_ascii_lowercase());
    delegations(world, now)
        .iter()
        .any(|(scope, t, _, _)| t.eq_ignore_ascii_case(tenant) && scope_covers(&prefix, scope))
}

/// Every role that applies to `who` at `scope`.
pub fn grants(world: &World, now: OffsetDateTime, who: Principal<'_>, scope: &str) -> Vec<Grant> {
    let mut out: Vec<Grant> = world
        .role_assignments
        .iter()
        .filter(|a| {
            a.principal_id.eq_ignore_ascii_case(who.object_id)
                && a.is_effective(now)
                && scope_covers(&a.scope, scope)
        })
        .filter_map(|a| {
            Some(Grant {
                role: roles::resolve(&a.role_definition)?,
                scope: a.scope.clone(),
                delegated: false,
            })
        })
        .collect();
    for (d_scope, tenant, principal, role) in delegations(world, now) {
        if tenant.eq_ignore_ascii_case(who.tenant)
            && principal.eq_ignore_ascii_case(who.object_id)
            && scope_covers(&d_scope, scope)
            && let Some(role) = roles::resolve(&role)
        {
            out.push(Grant {
                role,
                scope: d_scope,
                delegated: true,
            });
        }
    }
    out
}

/// True when `who` may perform `action` at `scope`.
pub fn allowed(
    world: &World,
    now: OffsetDateTime,
    who: Principal<'_>,
    action: &str,
    scope: &str,
) -> bool {
    grants(world, now, who, scope)
        .iter()
        .any(|g| role_allows(g.role, action))
}

/// The `permissions` answer: one entry per applying role, as ARM lists them.
pub fn permissions(
    world: &World,
    now: OffsetDateTime,
    who: Principal<'_>,
    scope: &str,
) -> Vec<Value> {
    grants(world, now, who, scope)
        .iter()
        .map(|g| {
            json!({
                "actions": g.role.actions,
                "notActions": g.role.not_actions,
                "dataActions": g.role.data_actions,
                "notDataActions": g.role.not_data_actions,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contributor_may_write_vms_but_not_role_assignments_or_share_galleries() {
        let c = roles::resolve("Contributor").unwrap();
        assert!(role_allows(c, "Microsoft.Compute/virtualMachines/write"));
        assert!(role_allows(
            c,
            "Microsoft.Network/networkInterfaces/join/action"
        ));
        assert!(!role_allows(
            c,
            "Microsoft.Authorization/roleAssignments/write"
        ));
        assert!(!role_allows(
            c,
            "microsoft.authorization/roleassignments/delete"
        ));
        assert!(!role_allows(c, "Microsoft.Compute/galleries/share/action"));
        assert!(role_allows(
            c,
            "Microsoft.Authorization/roleAssignments/read"
        ));
    }

    #[test]
    fn reader_reads_everything_and_writes_nothing() {
        let r = roles::resolve(roles::READER).unwrap();
        assert!(role_allows(
            r,
            "Microsoft.Compute/galleries/images/versions/read"
        ));
        assert!(role_allows(r, "Microsoft.Authorization/permissions/read"));
        assert!(!role_allows(r, "Microsoft.Compute/virtualMachines/write"));
    }

    #[test]
    fn the_rbac_administrator_assigns_roles_but_cannot_create_resources() {
        let r = roles::resolve("Role Based Access Control Administrator").unwrap();
        assert!(role_allows(
            r,
            "Microsoft.Authorization/roleAssignments/write"
        ));
        assert!(!role_allows(r, "Microsoft.Compute/virtualMachines/write"));
    }
}
