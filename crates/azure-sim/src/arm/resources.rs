//! Subscriptions, resource groups, role definitions, the caller's permissions, paging, and
//! the checks every resource handler shares (scope exists, 404 shapes).

use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::{
    ArmError, Call, Reply, Resource, lro, method_not_allowed,
    path::{self, ArmPath, key},
    rbac::{evaluate, roles, scope_covers},
};
use crate::context::World;

/// The JSON of a resource group.
pub fn resource_group_body(id: &str, name: &str, location: &str, tags: Option<&Value>) -> Value {
    let mut body = json!({
        "id": id,
        "name": name,
        "type": "Microsoft.Resources/resourceGroups",
        "location": location,
        "properties": {"provisioningState": "Succeeded"},
    });
    if let Some(t) = tags {
        body["tags"] = t.clone();
    }
    body
}

/// A page of `items` as `{"value":[...],"nextLink"?}` (`$skiptoken` carries the offset).
pub fn page(call: &Call<'_>, items: Vec<Value>) -> Value {
    let size = usize::try_from(call.ctx.scenario.arm.page_size.max(1)).unwrap_or(100);
    let skip: usize = call
        .req
        .query_param("$skiptoken")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let total = items.len();
    let value: Vec<Value> = items.into_iter().skip(skip).take(size).collect();
    let mut body = json!({ "value": value });
    if skip + size < total {
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(
                url::form_urlencoded::parse(
                    call.req.query.as_deref().unwrap_or_default().as_bytes(),
                )
                .filter(|(k, _)| k != "$skiptoken"),
            )
            .append_pair("$skiptoken", &(skip + size).to_string())
            .finish();
        body["nextLink"] = json!(format!(
            "https://management.azure.com{}?{query}",
            call.req.path
        ));
    }
    body
}

/// 404 for a missing resource group.
pub fn resource_group_not_found(name: &str) -> ArmError {
    ArmError::not_found(
        "ResourceGroupNotFound",
        format!("Resource group '{name}' could not be found."),
    )
}

/// 404 for a missing resource, in ARM's generic wording.
pub fn resource_not_found(id: &str) -> ArmError {
    let parsed = ArmPath::parse(id);
    let mut name = parsed.full_type();
    if let Some(p) = &parsed.provider {
        name = p.namespace.clone();
        for (t, n) in p.types.iter().zip(&p.names) {
            name.push('/');
            name.push_str(t);
            name.push('/');
            name.push_str(n);
        }
    }
    ArmError::not_found(
        "ResourceNotFound",
        format!(
            "The Resource '{name}' under resource group '{}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
            parsed.resource_group.unwrap_or_default()
        ),
    )
}

/// Types the simulator holds; a scope naming another type is taken on trust.
fn simulated(kind: &str) -> bool {
    let k = kind.to_ascii_lowercase();
    k.starts_with("microsoft.compute/")
        || k.starts_with("microsoft.network/")
        || k.starts_with("microsoft.managedservices/")
        || k.starts_with("microsoft.resources/")
}

/// 404 unless the resource group of `scope` and (for simulated types) the resource exist.
pub fn ensure_scope(world: &World, scope: &str) -> Result<(), ArmError> {
    let parsed = ArmPath::parse(scope);
    if let Some(rg_id) = parsed.resource_group_id()
        && world.arm.get(&rg_id).is_none()
    {
        return Err(resource_group_not_found(
            parsed.resource_group.as_deref().unwrap_or_default(),
        ));
    }
    if parsed.provider.is_some() && simulated(&parsed.full_type()) && world.arm.get(scope).is_none()
    {
        return Err(resource_not_found(scope));
    }
    Ok(())
}

fn subscription_body(call: &Call<'_>, world: &World, id: &str) -> Option<Value> {
    let sub = call
        .ctx
        .scenario
        .subscriptions
        .iter()
        .find(|s| s.id.eq_ignore_ascii_case(id))?;
    let managed_by: Vec<Value> = evaluate::delegations(world, call.now)
        .into_iter()
        .filter(|(scope, ..)| scope_covers(&format!("/subscriptions/{}", sub.id), scope))
        .map(|(_, tenant, ..)| tenant)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .map(|t| json!({"tenantId": t}))
        .collect();
    Some(json!({
        "id": format!("/subscriptions/{}", sub.id),
        "authorizationSource": "RoleBased",
        "managedByTenants": managed_by,
        "subscriptionId": sub.id,
        "tenantId": sub.tenant,
        "displayName": sub.display_name,
        "state": "Enabled",
        "subscriptionPolicies": {
            "locationPlacementId": "Public_2014-09-01",
            "quotaId": "PayAsYouGo_2014-09-01",
            "spendingLimit": "Off",
        },
    }))
}

/// True when the caller holds any role at or under the subscription (what ARM requires to see it).
fn sees_subscription(call: &Call<'_>, world: &World, sub: &str) -> bool {
    let root = format!("/subscriptions/{sub}");
    let me = call.caller.principal();
    world.role_assignments.iter().any(|a| {
        a.principal_id.eq_ignore_ascii_case(me.object_id)
            && a.is_effective(call.now)
            && (scope_covers(&root, &a.scope) || scope_covers(&a.scope, &root))
    }) || evaluate::delegations(world, call.now)
        .iter()
        .any(|(scope, t, p, _)| {
            t.eq_ignore_ascii_case(me.tenant)
                && p.eq_ignore_ascii_case(me.object_id)
                && scope_covers(&root, scope)
        })
}

/// `GET /tenants` (Tenants_List, 2022-12-01 example `GetTenants.json`): the caller's own
/// tenant, category `Home`. Directory guests (other tenants a user belongs to) are not
/// simulated, so that is the only tenant a token's principal belongs to.
fn tenants(call: &Call<'_>, world: &World) -> Vec<Value> {
    world
        .directory
        .tenant(&call.caller.tenant)
        .map(|t| {
            json!({
                "id": format!("/tenants/{}", t.id),
                "tenantId": t.id,
                "countryCode": "US",
                "displayName": t.display_name,
                "domains": [t.domain],
                "tenantCategory": "Home",
                "defaultDomain": t.domain,
                "tenantType": "AAD",
            })
        })
        .into_iter()
        .collect()
}

/// Paths without a provider part: subscriptions, resource groups, operation results.
pub fn route(call: &Call<'_>, world: &mut World) -> Result<Reply, ArmError> {
    let segs: Vec<String> = call
        .path
        .segments
        .iter()
        .map(|s| s.to_ascii_lowercase())
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let m = &call.req.method;
    match (m, segs.as_slice()) {
        (&Method::GET, ["subscriptions"]) => {
            let items = call
                .ctx
                .scenario
                .subscriptions
                .iter()
                .filter(|s| sees_subscription(call, world, &s.id))
                .filter_map(|s| subscription_body(call, world, &s.id))
                .collect();
            Ok(Reply::ok(page(call, items)))
        }
        (&Method::GET, ["tenants"]) => Ok(Reply::ok(page(call, tenants(call, world)))),
        (&Method::GET, ["subscriptions", _]) => {
            let sub = call.path.subscription.clone().unwrap_or_default();
            if !sees_subscription(call, world, &sub) {
                return Err(super::authorization_failed(
                    &call.caller,
                    "Microsoft.Resources/subscriptions/read",
                    &format!("/subscriptions/{sub}"),
                ));
            }
            subscription_body(call, world, &sub)
                .map(Reply::ok)
                .ok_or_else(|| {
                    ArmError::not_found(
                        "SubscriptionNotFound",
                        "The subscription could not be found.",
                    )
                })
        }
        (&Method::GET, ["subscriptions", _, "resourcegroups"]) => {
            let sub = call.path.subscription.clone().unwrap_or_default();
            let prefix = key(&format!("/subscriptions/{sub}/resourceGroups/"));
            let items = world
                .arm
                .resources
                .iter()
                .filter(|(k, r)| {
                    k.starts_with(&prefix)
                        && r.kind == "Microsoft.Resources/resourceGroups"
                        && evaluate::allowed(
                            world,
                            call.now,
                            call.caller.principal(),
                            "Microsoft.Resources/subscriptions/resourceGroups/read",
                            &r.id,
                        )
                })
                .map(|(_, r)| r.body.clone())
                .collect();
            Ok(Reply::ok(page(call, items)))
        }
        (&Method::GET, ["subscriptions", _, "resourcegroups", _, "resources"]) => {
            resources_in_group(call, world)
        }
        (_, ["subscriptions", _, "resourcegroups", _]) => resource_group(call, world),
        (&Method::GET, ["subscriptions", _, "operationresults", _]) => {
            let id = call.path.segments[3].clone();
            lro::status_of(call, world, &id, true)
        }
        _ => Err(ArmError::bad_request(
            "InvalidRequestUri",
            format!("The request URI '{}' is not valid.", call.req.path),
        )),
    }
}

/// Resources - List By Resource Group (`GET {rg}/resources`, Microsoft.Resources
/// `resources.json`): the group's tracked resources, nested ones such as gallery image
/// definitions and versions included, each as `{id, name, type, location, tags}`. Extension
/// resources (role assignments, Lighthouse assignments) and deployments are not resources of
/// the group and are not listed. Needs `.../resourceGroups/resources/read` (Reader's
/// `*/read`).
fn resources_in_group(call: &Call<'_>, world: &World) -> Result<Reply, ArmError> {
    let sub = call.path.subscription.clone().unwrap_or_default();
    let rg = call.path.segments.get(3).cloned().unwrap_or_default();
    let rg_id = format!("/subscriptions/{sub}/resourceGroups/{rg}");
    call.authorize(
        world,
        "Microsoft.Resources/subscriptions/resourceGroups/resources/read",
        &rg_id,
    )?;
    if world.arm.get(&rg_id).is_none() {
        return Err(resource_group_not_found(&rg));
    }
    let prefix = key(&format!("{rg_id}/providers/"));
    let items = world
        .arm
        .resources
        .iter()
        .filter(|(k, r)| {
            let kind = r.kind.to_ascii_lowercase();
            k.starts_with(&prefix)
                && !kind.starts_with("microsoft.authorization/")
                && !kind.starts_with("microsoft.resources/")
                && !kind.starts_with("microsoft.managedservices/")
        })
        .map(|(_, r)| {
            let mut item = json!({
                "id": r.id,
                "name": r.body.get("name").cloned().unwrap_or_else(|| json!(path::last_name(&r.id))),
                "type": r.kind,
            });
            for field in ["location", "tags", "kind", "sku"] {
                if let Some(v) = r.body.get(field) {
                    item[field] = v.clone();
                }
            }
            item
        })
        .collect();
    Ok(Reply::ok(page(call, items)))
}

fn resource_group(call: &Call<'_>, world: &mut World) -> Result<Reply, ArmError> {
    let sub = call.path.subscription.clone().unwrap_or_default();
    let name = call.path.resource_group.clone().unwrap_or_default();
    let id = format!("/subscriptions/{sub}/resourceGroups/{name}");
    let m = call.req.method.clone();
    match m {
        Method::GET | Method::HEAD => {
            call.authorize(
                world,
                "Microsoft.Resources/subscriptions/resourceGroups/read",
                &id,
            )?;
            let r = world
                .arm
                .get(&id)
                .ok_or_else(|| resource_group_not_found(&name))?;
            if m == Method::HEAD {
                return Ok(Reply::empty(StatusCode::NO_CONTENT));
            }
            Ok(Reply::ok(r.body.clone()))
        }
        Method::PUT => {
            call.authorize(
                world,
                "Microsoft.Resources/subscriptions/resourceGroups/write",
                &id,
            )?;
            let body = call.body()?;
            let Some(location) = body.get("location").and_then(Value::as_str) else {
                return Err(ArmError::bad_request(
                    "LocationRequired",
                    "The location property is required for this definition.",
                ));
            };
            let existing = world
                .arm
                .get(&id)
                .map(|r| (r.id.clone(), r.location().unwrap_or_default().to_owned()));
            if let Some((existing_id, existing_location)) = existing {
                if !existing_location.eq_ignore_ascii_case(location) {
                    return Err(ArmError::new(
                        StatusCode::CONFLICT,
                        "InvalidResourceGroupLocation",
                        format!(
                            "Invalid resource group location '{location}'. The Resource group already exists in location '{existing_location}'."
                        ),
                    ));
                }
                let rg_name = path::last_name(&existing_id).to_owned();
                let body = resource_group_body(
                    &existing_id,
                    &rg_name,
                    &existing_location,
                    body.get("tags"),
                );
                if let Some(r) = world.arm.get_mut(&id) {
                    r.body = body.clone();
                }
                return Ok(Reply::ok(body));
            }
            let body = resource_group_body(&id, &name, location, body.get("tags"));
            world.arm.insert(Resource::new(
                &id,
                "Microsoft.Resources/resourceGroups",
                body.clone(),
                call.now,
            ));
            Ok(Reply::json(StatusCode::CREATED, body))
        }
        Method::DELETE => {
            call.authorize(
                world,
                "Microsoft.Resources/subscriptions/resourceGroups/delete",
                &id,
            )?;
            if world.arm.get(&id).is_none() {
                return Err(resource_group_not_found(&name));
            }
            let prefix = format!("{}/", key(&id));
            let inside: Vec<String> = world
                .arm
                .resources
                .iter()
                .filter(|(k, _)| k.starts_with(&prefix))
                .map(|(_, r)| r.id.clone())
                .collect();
            for r in &inside {
                lro::settle(world, r, call.now);
            }
            world.arm.remove(&id);
            let op = lro::Operation::new(call, lro::Style::Subscription, "", None, 0);
            let urls = lro::start(world, op);
            Ok(Reply::empty(StatusCode::ACCEPTED)
                .header("location", urls.location)
                .header("retry-after", call.retry_after(15)))
        }
        _ => Err(method_not_allowed(call)),
    }
}

/// `GET {scope}/providers/Microsoft.Authorization/roleDefinitions[/{id}]`.
pub fn role_definitions(call: &Call<'_>, world: &World) -> Result<Reply, ArmError> {
    if call.req.method != Method::GET {
        // Custom roles are not simulated.
        return Err(method_not_allowed(call));
    }
    if !call.path.scope.is_empty() {
        call.authorize(
            world,
            "Microsoft.Authorization/roleDefinitions/read",
            &call.path.scope,
        )?;
    }
    let sub_scope = call
        .path
        .subscription
        .as_ref()
        .map(|s| format!("/subscriptions/{s}"))
        .unwrap_or_default();
    if let Some(name) = call.path.name() {
        let role = roles::resolve(name)
            .filter(|r| r.id.eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                ArmError::not_found(
                    "RoleDefinitionDoesNotExist",
                    format!("The specified role definition with ID '{name}' does not exist."),
                )
            })?;
        return Ok(Reply::ok(roles::json(role, &sub_scope)));
    }
    let filter = call.req.query_param("$filter").unwrap_or_default();
    let wanted_name = filter
        .split_once("roleName eq '")
        .and_then(|(_, rest)| rest.split_once('\''))
        .map(|(n, _)| n.to_owned());
    let items = roles::BUILT_IN
        .iter()
        .filter(|r| {
            wanted_name
                .as_deref()
                .is_none_or(|n| r.name.eq_ignore_ascii_case(n))
        })
        .map(|r| roles::json(r, &sub_scope))
        .collect();
    Ok(Reply::ok(page(call, items)))
}

/// `GET {scope}/providers/Microsoft.Authorization/permissions`: the caller's effective
/// permissions there, one entry per applying role. ARM authorizes this call like any other:
/// the action `Microsoft.Authorization/permissions/read` ("Lists all the permissions the
/// caller has at a given scope") must be granted at the scope, so a principal with no role
/// there gets 403 `AuthorizationFailed` rather than an empty list.
pub fn permissions(call: &Call<'_>, world: &World) -> Result<Reply, ArmError> {
    let scope = call.path.scope.clone();
    call.authorize(
        world,
        "Microsoft.Authorization/permissions/read",
        &format!("{scope}/providers/Microsoft.Authorization/permissions"),
    )?;
    ensure_scope(world, &scope)?;
    let items = evaluate::permissions(world, call.now, call.caller.principal(), &scope);
    Ok(Reply::ok(page(call, items)))
}
