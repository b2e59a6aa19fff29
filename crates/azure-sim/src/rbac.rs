//! Azure RBAC checks the data planes (Key Vault, Service Bus) share with Resource Manager:
//! the same role assignments, the same scope inheritance, the same replication delay.

use time::OffsetDateTime;

pub use crate::arm::rbac::{RoleAssignment, scope_covers};

/// The first effective assignment giving `principal` one of `roles` (by name) on `resource_id`.
pub fn find_assignment<'a>(
    assignments: &'a [RoleAssignment],
    principal: &str,
    resource_id: &str,
    roles: &[&str],
    now: OffsetDateTime,
) -> Option<&'a RoleAssignment> {
    assignments.iter().find(|a| {
        a.principal_id.eq_ignore_ascii_case(principal)
            && a.is_effective(now)
            && roles.iter().any(|r| r.eq_ignore_ascii_case(&a.role_name))
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
