//! `{scope}/providers/Microsoft.Authorization/roleAssignments[/{name}]`: PUT (201 new, 200
//! unchanged, 409 `RoleAssignmentExists` for the same principal, role and scope under another
//! name, 400 `RoleAssignmentUpdateNotPermitted`, 400 `PrincipalNotFound` while a new principal
//! replicates unless `principalType` is given), GET, DELETE and lists with `$filter`.

use http::{Method, StatusCode};
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

use super::{RoleAssignment, roles, scope_covers};
use crate::{
    arm::{
        ArmError, Call, Reply, method_not_allowed,
        path::{key, subscription_of},
        reply::arm_time,
        resources::{ensure_scope, page},
    },
    context::World,
    scenario::Scenario,
};

/// The JSON ARM answers for an assignment; the PUT answer leaves `createdBy` null (as recorded).
pub fn json(a: &RoleAssignment, in_put_answer: bool) -> Value {
    json!({
        "properties": {
            "roleDefinitionId": a.role_definition_id,
            "principalId": a.principal_id,
            "principalType": a.principal_type,
            "scope": a.scope,
            "condition": a.condition,
            "conditionVersion": a.condition_version,
            "createdOn": arm_time(a.created_on),
            "updatedOn": arm_time(a.updated_on),
            "createdBy": if in_put_answer { None } else { a.created_by.clone() },
            "updatedBy": a.created_by,
            "delegatedManagedIdentityResourceId": null,
            "description": a.description,
        },
        "id": a.id(),
        "type": "Microsoft.Authorization/roleAssignments",
        "name": a.name,
    })
}

/// The deterministic name the scenario's assignments get (as the docs advise for names).
pub fn derived_name(scope: &str, principal: &str, role: &str) -> String {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_URL,
        format!(
            "{}|{}|{}",
            key(scope),
            principal.to_ascii_lowercase(),
            role.to_ascii_lowercase()
        )
        .as_bytes(),
    )
    .to_string()
}

/// What the directory says of a principal: its type and when it was created.
pub fn principal_kind(
    world: &World,
    scenario: &Scenario,
    tenant: &str,
    id: &str,
) -> Option<(&'static str, Option<OffsetDateTime>)> {
    let d = &world.directory;
    // A guest an invitation just created replicates like a new service principal; the
    // scenario's users exist from long before the start.
    if let Some(u) = d
        .users
        .iter()
        .find(|u| u.tenant.eq_ignore_ascii_case(tenant) && u.id.eq_ignore_ascii_case(id))
    {
        return Some(("User", Some(u.created_at)));
    }
    if let Some(sp) = d
        .service_principals
        .iter()
        .find(|s| s.tenant.eq_ignore_ascii_case(tenant) && s.id.eq_ignore_ascii_case(id))
    {
        return Some(("ServicePrincipal", Some(sp.created_at)));
    }
    if scenario
        .managed_identities
        .iter()
        .any(|m| m.tenant.eq_ignore_ascii_case(tenant) && m.principal_id.eq_ignore_ascii_case(id))
    {
        return Some(("ServicePrincipal", None));
    }
    None
}

/// The scenario's assignments, fully replicated.
pub fn from_scenario(scenario: &Scenario, now: OffsetDateTime) -> Vec<RoleAssignment> {
    let long_ago = now - Duration::days(30);
    scenario
        .role_assignments
        .iter()
        .filter_map(|spec| {
            let role = roles::resolve(&spec.role)?;
            let principal_type = spec.principal_type.clone().unwrap_or_else(|| {
                if scenario
                    .users
                    .iter()
                    .any(|u| u.id.eq_ignore_ascii_case(&spec.principal_id))
                {
                    "User".to_owned()
                } else {
                    "ServicePrincipal".to_owned()
                }
            });
            let sub = subscription_of(&spec.scope)
                .map(|s| format!("/subscriptions/{s}"))
                .unwrap_or_default();
            Some(RoleAssignment {
                name: spec
                    .name
                    .clone()
                    .unwrap_or_else(|| derived_name(&spec.scope, &spec.principal_id, role.id)),
                scope: spec.scope.clone(),
                role_definition: role.id.to_owned(),
                role_definition_id: format!(
                    "{sub}/providers/Microsoft.Authorization/roleDefinitions/{}",
                    role.id
                ),
                role_name: role.name.to_owned(),
                principal_id: spec.principal_id.clone(),
                principal_type,
                created_on: long_ago,
                updated_on: long_ago,
                created_by: None,
                effective_from: long_ago,
                description: None,
                condition: None,
                condition_version: None,
            })
        })
        .collect()
}

/// A role assignment to create.
#[derive(Debug, Clone)]
pub struct NewAssignment {
    /// Scope.
    pub scope: String,
    /// Name (GUID).
    pub name: String,
    /// `roleDefinitionId` as sent.
    pub role_definition_id: String,
    /// Principal object id.
    pub principal_id: String,
    /// `principalType`, if sent.
    pub principal_type: Option<String>,
    /// `description`.
    pub description: Option<String>,
    /// `condition`.
    pub condition: Option<String>,
    /// `conditionVersion`.
    pub condition_version: Option<String>,
}

impl NewAssignment {
    /// `role_definition_id` for `principal_id` at `scope` under `name`, with whichever of
    /// `principalType`, `description`, `condition` and `conditionVersion` `properties` sends.
    pub fn with_properties(
        scope: String,
        name: String,
        role_definition_id: String,
        principal_id: String,
        properties: &Value,
    ) -> Self {
        let text = |k: &str| properties.get(k).and_then(Value::as_str).map(str::to_owned);
        Self {
            scope,
            name,
            role_definition_id,
            principal_id,
            principal_type: text("principalType"),
            description: text("description"),
            condition: text("condition"),
            condition_version: text("conditionVersion"),
        }
    }
}

/// Creates (or confirms) an assignment; the caller has been authorized already.
/// `tenant` is the tenant of the scope's subscription, `creator` the caller's object id.
pub fn create(
    world: &mut World,
    scenario: &Scenario,
    now: OffsetDateTime,
    tenant: &str,
    creator: &str,
    new: NewAssignment,
) -> Result<(StatusCode, Value), ArmError> {
    let guid = roles::guid_of(&new.role_definition_id).to_owned();
    let role = roles::resolve(&guid)
        .filter(|r| r.id.eq_ignore_ascii_case(&guid))
        .ok_or_else(|| {
            ArmError::bad_request(
                "RoleDefinitionDoesNotExist",
                format!("The specified role definition with ID '{guid}' does not exist."),
            )
        })?;
    let known = principal_kind(world, scenario, tenant, &new.principal_id);
    let replicated = known.is_some_and(|(_, created)| {
        created.is_none_or(|c| {
            c + Duration::seconds(i64::from(scenario.replication.arm_principal_seconds)) <= now
        })
    });
    let principal_type = match (&new.principal_type, known) {
        (None, _) if !replicated => {
            return Err(ArmError::bad_request(
                "PrincipalNotFound",
                format!(
                    "Principal {} does not exist in the directory {tenant}. Check that you have the correct principal ID. If you are creating this principal and then immediately assigning a role, this error might be related to a replication delay. In this case, set the role assignment principalType property to a value, such as ServicePrincipal, User, or Group.  See https://aka.ms/docs-principaltype",
                    new.principal_id.replace('-', "")
                ),
            ));
        }
        (Some(given), Some((actual, _))) if replicated && !given.eq_ignore_ascii_case(actual) => {
            return Err(ArmError::bad_request(
                "UnmatchedPrincipalType",
                format!(
                    "The PrincipalId '{}' has type '{actual}' , which is different from specified PrincipalType '{given}'.",
                    new.principal_id.replace('-', "")
                ),
            ));
        }
        (Some(given), _) => given.clone(),
        (None, Some((actual, _))) => actual.to_owned(),
        (None, None) => "ServicePrincipal".to_owned(),
    };
    if let Some(existing) = world
        .role_assignments
        .iter()
        .find(|a| a.name.eq_ignore_ascii_case(&new.name))
    {
        let same = key(&existing.scope) == key(&new.scope)
            && existing
                .principal_id
                .eq_ignore_ascii_case(&new.principal_id)
            && existing.role_definition.eq_ignore_ascii_case(role.id);
        if !same {
            return Err(ArmError::bad_request(
                "RoleAssignmentUpdateNotPermitted",
                "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.",
            ));
        }
        return Ok((StatusCode::OK, json(existing, false)));
    }
    if world.role_assignments.iter().any(|a| {
        key(&a.scope) == key(&new.scope)
            && a.principal_id.eq_ignore_ascii_case(&new.principal_id)
            && a.role_definition.eq_ignore_ascii_case(role.id)
    }) {
        return Err(ArmError::new(
            StatusCode::CONFLICT,
            "RoleAssignmentExists",
            "The role assignment already exists.",
        ));
    }
    let delay = Duration::seconds(i64::from(scenario.replication.role_assignment_seconds));
    let a = RoleAssignment {
        name: new.name,
        scope: new.scope,
        role_definition: role.id.to_owned(),
        role_definition_id: new.role_definition_id,
        role_name: role.name.to_owned(),
        principal_id: new.principal_id,
        principal_type,
        created_on: now,
        // As recorded, `updatedOn` trails `createdOn` a little within one create.
        updated_on: now + Duration::milliseconds(406),
        created_by: Some(creator.to_owned()),
        effective_from: now + delay,
        description: new.description,
        condition: new.condition,
        condition_version: new.condition_version,
    };
    let body = json(&a, true);
    world.role_assignments.push(a);
    Ok((StatusCode::CREATED, body))
}

fn not_found(name: &str) -> ArmError {
    ArmError::not_found(
        "RoleAssignmentNotFound",
        format!("The role assignment '{name}' is not found."),
    )
}

/// Routes role assignment calls.
pub fn route(call: &Call<'_>, world: &mut World) -> Result<Reply, ArmError> {
    let scope = call.path.scope.clone();
    let Some(name) = call.path.name().map(str::to_owned) else {
        if call.req.method != Method::GET {
            return Err(method_not_allowed(call));
        }
        return list(call, world, &scope);
    };
    // ARM authorizes (and names in its refusals) the assignment's full id.
    let id = call.path.item_id();
    match call.req.method {
        Method::PUT => {
            call.authorize(world, "Microsoft.Authorization/roleAssignments/write", &id)?;
            ensure_scope(world, &scope)?;
            let body = call.body()?;
            let props = body.get("properties").cloned().unwrap_or(Value::Null);
            let text = |k: &str| props.get(k).and_then(Value::as_str).map(str::to_owned);
            let (Some(role), Some(principal)) = (text("roleDefinitionId"), text("principalId"))
            else {
                return Err(ArmError::bad_request(
                    "InvalidCreateRoleAssignmentRequest",
                    "The request to create role assignment is invalid: roleDefinitionId and principalId are required.",
                ));
            };
            if uuid::Uuid::parse_str(&name).is_err() {
                return Err(ArmError::bad_request(
                    "InvalidRoleAssignmentId",
                    format!(
                        "The role assignment ID '{name}' is not valid. The role assignment ID must be a GUID."
                    ),
                ));
            }
            let tenant = call
                .path
                .subscription
                .as_deref()
                .and_then(|s| call.subscription_tenant(s))
                .unwrap_or_else(|| call.caller.tenant.clone());
            let (status, body) = create(
                world,
                &call.ctx.scenario,
                call.now,
                &tenant,
                &call.caller.object_id,
                NewAssignment::with_properties(scope, name, role, principal, &props),
            )?;
            Ok(Reply::json(status, body))
        }
        Method::GET => {
            call.authorize(world, "Microsoft.Authorization/roleAssignments/read", &id)?;
            world
                .role_assignments
                .iter()
                .find(|a| a.name.eq_ignore_ascii_case(&name) && key(&a.scope) == key(&scope))
                .map(|a| Reply::ok(json(a, false)))
                .ok_or_else(|| not_found(&name))
        }
        Method::DELETE => {
            call.authorize(world, "Microsoft.Authorization/roleAssignments/delete", &id)?;
            let Some(i) = world
                .role_assignments
                .iter()
                .position(|a| a.name.eq_ignore_ascii_case(&name) && key(&a.scope) == key(&scope))
            else {
                return Ok(Reply::empty(StatusCode::NO_CONTENT));
            };
            let a = world.role_assignments.remove(i);
            Ok(Reply::ok(json(&a, false)))
        }
        _ => Err(method_not_allowed(call)),
    }
}

/// The principal a `$filter` names (`principalId eq '..'` or `assignedTo('..')`).
fn filtered_principal(filter: &str) -> Option<String> {
    let quoted = |s: &str| {
        s.split_once('\'')
            .and_then(|(_, r)| r.split_once('\''))
            .map(|(v, _)| v.to_owned())
    };
    if let Some((_, rest)) = filter.split_once("principalId eq") {
        return quoted(rest);
    }
    if let Some((_, rest)) = filter.split_once("assignedTo(") {
        return quoted(rest);
    }
    None
}

fn list(call: &Call<'_>, world: &World, scope: &str) -> Result<Reply, ArmError> {
    call.authorize(world, "Microsoft.Authorization/roleAssignments/read", scope)?;
    let filter = call.req.query_param("$filter").unwrap_or_default();
    let at_scope = filter.contains("atScope()");
    let principal = filtered_principal(&filter);
    let items = world
        .role_assignments
        .iter()
        .filter(|a| {
            let above = scope_covers(&a.scope, scope);
            let below = scope_covers(scope, &a.scope);
            (above || (!at_scope && below))
                && principal
                    .as_deref()
                    .is_none_or(|p| a.principal_id.eq_ignore_ascii_case(p))
        })
        .map(|a| json(a, false))
        .collect();
    Ok(Reply::ok(page(call, items)))
}
