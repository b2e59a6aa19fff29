//! Azure Lighthouse: `{scope}/providers/Microsoft.ManagedServices/registrationDefinitions/{id}`
//! (PUT 201 `Succeeded` at once, no async header; DELETE 200 empty) and
//! `registrationAssignments/{id}` (PUT 201 `Accepted` + an opaque `operationStatuses` poller
//! answering `{"status":"Succeeded"}`; DELETE 202 + `Location`), as recorded. Once an
//! assignment has succeeded, the definition's authorizations act as role assignments at the
//! assignment's scope for principals of the managing tenant (see [`super::rbac::evaluate`]).

use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::{
    ArmError, Call, Reply, Resource, lro, method_not_allowed,
    path::{self, key},
    rbac::roles,
    reply::put_status,
    resources::{ensure_scope, page, resource_not_found},
};
use crate::context::World;

const DEFINITION: &str = "Microsoft.ManagedServices/registrationDefinitions";
const ASSIGNMENT: &str = "Microsoft.ManagedServices/registrationAssignments";

fn invalid(message: String) -> ArmError {
    // The code is assumed; Lighthouse documents the rule, not the error body.
    ArmError::bad_request("InvalidRegistrationDefinition", message)
}

/// Creates or replaces a registration definition (authorized as the caller).
pub fn write_definition(
    call: &Call<'_>,
    world: &mut World,
    id: &str,
    properties: &Value,
) -> Result<(StatusCode, Value), ArmError> {
    call.authorize(
        world,
        "Microsoft.ManagedServices/registrationDefinitions/write",
        id,
    )?;
    let scope = path::parent_of(id);
    ensure_scope(world, &scope)?;
    let sub = path::subscription_of(id).unwrap_or_default();
    let customer = call.subscription_tenant(&sub).unwrap_or_default();
    let Some(managing) = properties["managedByTenantId"].as_str() else {
        return Err(invalid(
            "The managedByTenantId property is required.".into(),
        ));
    };
    if managing.eq_ignore_ascii_case(&customer) {
        return Err(invalid(format!(
            "The managedByTenantId '{managing}' must differ from the tenant '{customer}' of the subscription."
        )));
    }
    let authorizations = properties["authorizations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if authorizations.is_empty() {
        return Err(invalid("At least one authorization is required.".into()));
    }
    for a in &authorizations {
        let role = a["roleDefinitionId"].as_str().unwrap_or_default();
        if roles::guid_of(role).eq_ignore_ascii_case(roles::OWNER) {
            return Err(invalid(
                "The Owner role cannot be delegated through Azure Lighthouse.".into(),
            ));
        }
        if roles::resolve(role).is_some_and(|r| !r.data_actions.is_empty()) {
            return Err(invalid(format!(
                "The role '{role}' has DataActions and cannot be delegated through Azure Lighthouse."
            )));
        }
    }
    let mut props = json!({
        "registrationDefinitionName": properties["registrationDefinitionName"],
        "managedByTenantId": managing,
        "authorizations": authorizations,
        "provisioningState": "Succeeded",
    });
    if let Some(d) = properties.get("description").filter(|d| !d.is_null()) {
        props["description"] = d.clone();
    }
    if let Some(name) = world
        .directory
        .tenant(managing)
        .map(|t| t.display_name.clone())
    {
        props["managedByTenantName"] = json!(name);
    }
    let body =
        json!({"properties": props, "id": id, "type": DEFINITION, "name": path::last_name(id)});
    let status = put_status(world.arm.get(id).is_some());
    let created = world.arm.get(id).map_or(call.now, |r| r.created_at);
    world
        .arm
        .insert(Resource::new(id, DEFINITION, body.clone(), created));
    Ok((status, body))
}

/// Creates a registration assignment (`Accepted`, provisioned by a ManagedServices operation).
pub fn write_assignment(
    call: &Call<'_>,
    world: &mut World,
    id: &str,
    properties: &Value,
) -> Result<(StatusCode, Value, lro::Urls), ArmError> {
    call.authorize(
        world,
        "Microsoft.ManagedServices/registrationAssignments/write",
        id,
    )?;
    let scope = path::parent_of(id);
    // Onboarding delegates access, which only a principal that may assign roles can do.
    call.authorize(
        world,
        "Microsoft.Authorization/roleAssignments/write",
        &scope,
    )?;
    ensure_scope(world, &scope)?;
    let Some(def_id) = properties["registrationDefinitionId"].as_str() else {
        return Err(ArmError::bad_request(
            "InvalidRegistrationAssignment",
            "The registrationDefinitionId property is required.",
        ));
    };
    if world.arm.get(def_id).is_none_or(|d| d.kind != DEFINITION) {
        return Err(ArmError::not_found(
            "RegistrationDefinitionNotFound",
            format!("The registration definition '{def_id}' could not be found."),
        ));
    }
    let body = json!({
        "properties": {"registrationDefinitionId": def_id, "provisioningState": "Accepted"},
        "id": id,
        "type": ASSIGNMENT,
        "name": path::last_name(id),
    });
    let status = put_status(world.arm.get(id).is_some());
    world
        .arm
        .insert(Resource::new(id, ASSIGNMENT, body.clone(), call.now));
    let sub_scope = format!(
        "/subscriptions/{}",
        path::subscription_of(id).unwrap_or_default()
    );
    let op = lro::Operation::new(
        call,
        lro::Style::ManagedServices { scope: sub_scope },
        "",
        Some(id),
        0,
    );
    let urls = lro::start(world, op);
    Ok((status, body, urls))
}

fn with_definition(world: &World, body: &Value) -> Value {
    let mut body = body.clone();
    if let Some(def) = body["properties"]["registrationDefinitionId"]
        .as_str()
        .and_then(|d| world.arm.get(d))
    {
        let mut d = def.body.clone();
        if let Some(o) = d.as_object_mut() {
            o.remove("type");
        }
        body["properties"]["registrationDefinition"] = d;
    }
    body
}

/// Routes Lighthouse calls.
pub fn route(call: &Call<'_>, world: &mut World) -> Result<Reply, ArmError> {
    let kind = if call.path.full_type().eq_ignore_ascii_case(DEFINITION) {
        DEFINITION
    } else {
        ASSIGNMENT
    };
    let scope = call.path.scope.clone();
    let id = call.path.item_id();
    let action = |verb: &str| format!("{kind}/{verb}");
    match (call.path.is_item(), call.req.method.clone()) {
        (false, Method::GET) => {
            call.authorize(world, &action("read"), &scope)?;
            ensure_scope(world, &scope)?;
            let expand = call
                .req
                .query_param("$expandRegistrationDefinition")
                .is_some_and(|v| v == "true");
            let items = world
                .arm
                .children(&scope, kind)
                .into_iter()
                .map(|r| {
                    if expand {
                        with_definition(world, &r.body)
                    } else {
                        r.body.clone()
                    }
                })
                .collect();
            Ok(Reply::ok(page(call, items)))
        }
        (true, Method::GET) => {
            call.authorize(world, &action("read"), &id)?;
            ensure_scope(world, &scope)?;
            lro::observe_resource(world, &id, call.now);
            let r = world.arm.get(&id).ok_or_else(|| resource_not_found(&id))?;
            let expand = call
                .req
                .query_param("$expandRegistrationDefinition")
                .is_some_and(|v| v == "true");
            Ok(Reply::ok(if expand {
                with_definition(world, &r.body)
            } else {
                r.body.clone()
            }))
        }
        (true, Method::PUT) => {
            let body = call.body()?;
            let props = body.get("properties").cloned().unwrap_or(Value::Null);
            if kind == DEFINITION {
                let (status, out) = write_definition(call, world, &id, &props)?;
                Ok(Reply::json(status, out))
            } else {
                let (status, out, urls) = write_assignment(call, world, &id, &props)?;
                Ok(Reply::json(status, out).header("azure-asyncoperation", urls.async_operation))
            }
        }
        (true, Method::DELETE) => {
            call.authorize(world, &action("delete"), &id)?;
            ensure_scope(world, &scope)?;
            if world.arm.get(&id).is_none() {
                return Ok(Reply::empty(StatusCode::NO_CONTENT));
            }
            if kind == DEFINITION {
                let in_use = world.arm.resources.values().any(|r| {
                    r.kind == ASSIGNMENT
                        && r.body["properties"]["registrationDefinitionId"]
                            .as_str()
                            .is_some_and(|d| key(d) == key(&id))
                });
                if in_use {
                    // Wording assumed: a definition cannot go while an assignment uses it.
                    return Err(ArmError::new(
                        StatusCode::CONFLICT,
                        "RegistrationDefinitionInUse",
                        format!(
                            "The registration definition '{}' is referenced by a registration assignment and cannot be deleted.",
                            path::last_name(&id)
                        ),
                    ));
                }
                world.arm.remove(&id);
                return Ok(Reply::empty(StatusCode::OK));
            }
            lro::settle(world, &id, call.now);
            world.arm.remove(&id);
            let sub_scope = format!(
                "/subscriptions/{}",
                path::subscription_of(&id).unwrap_or_default()
            );
            let op = lro::Operation::new(
                call,
                lro::Style::ManagedServices { scope: sub_scope },
                "",
                Some(&id),
                0,
            );
            let urls = lro::start(world, op);
            Ok(Reply::empty(StatusCode::ACCEPTED).header("location", urls.location))
        }
        _ => Err(method_not_allowed(call)),
    }
}
