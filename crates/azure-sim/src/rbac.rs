//! Azure RBAC data-plane checks shared by the simulated services (and, later, ARM).

use crate::scenario::RoleAssignmentSpec;

/// True when `scope` covers `resource_id` (same id, or an ancestor at a `/` boundary).
pub fn scope_covers(scope: &str, resource_id: &str) -> bool {
    let scope = scope.trim_end_matches('/').to_ascii_lowercase();
    let resource = resource_id.trim_end_matches('/').to_ascii_lowercase();
    scope.is_empty()
        || resource == scope
        || resource
            .strip_prefix(&scope)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// The first assignment giving `principal` one of `roles` on `resource_id`.
pub fn find_assignment<'a>(
    assignments: &'a [RoleAssignmentSpec],
    principal: &str,
    resource_id: &str,
    roles: &[&str],
) -> Option<&'a RoleAssignmentSpec> {
    assignments.iter().find(|a| {
        a.principal_id.eq_ignore_ascii_case(principal)
            && roles.iter().any(|r| r.eq_ignore_ascii_case(&a.role))
            && scope_covers(&a.scope, resource_id)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resource_group_scope_covers_its_resources_but_not_a_sibling_prefix() {
        assert!(scope_covers(
            "/subscriptions/s/resourceGroups/rg",
            "/subscriptions/s/resourceGroups/RG/providers/x/y/z"
        ));
        assert!(!scope_covers(
            "/subscriptions/s/resourceGroups/rg",
            "/subscriptions/s/resourceGroups/rg2"
        ));
    }
}
