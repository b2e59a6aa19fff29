//! Azure RBAC as Resource Manager runs it: built-in role definitions, role assignments at
//! any scope (inherited downwards), and the evaluation of a caller's effective actions.

pub mod assignments;
pub mod evaluate;
pub mod linked;
pub mod roles;

use serde::Serialize;
use time::OffsetDateTime;

/// One role assignment (direct; Lighthouse delegations are derived, see [`evaluate`]).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleAssignment {
    /// The assignment's name (a GUID).
    pub name: String,
    /// Scope as written when it was created.
    pub scope: String,
    /// Role definition GUID.
    pub role_definition: String,
    /// `roleDefinitionId` as the creator wrote it (echoed back).
    pub role_definition_id: String,
    /// The role's name (`Reader`), for the data planes.
    pub role_name: String,
    /// Principal object id.
    pub principal_id: String,
    /// `User`, `ServicePrincipal`, `Group`.
    pub principal_type: String,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_on: OffsetDateTime,
    /// Last updated.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_on: OffsetDateTime,
    /// Object id of the creator (null in the PUT answer, as recorded).
    pub created_by: Option<String>,
    /// When authorization starts to see it (creation + the replication window).
    #[serde(with = "time::serde::rfc3339")]
    pub effective_from: OffsetDateTime,
    /// Description.
    pub description: Option<String>,
    /// ABAC condition (kept, not evaluated).
    pub condition: Option<String>,
    /// Condition version.
    pub condition_version: Option<String>,
}

impl RoleAssignment {
    /// `{scope}/providers/Microsoft.Authorization/roleAssignments/{name}`.
    pub fn id(&self) -> String {
        format!(
            "{}/providers/Microsoft.Authorization/roleAssignments/{}",
            self.scope.trim_end_matches('/'),
            self.name
        )
    }

    /// True once the replication window has passed.
    pub fn is_effective(&self, now: OffsetDateTime) -> bool {
        self.effective_from <= now
    }
}

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
