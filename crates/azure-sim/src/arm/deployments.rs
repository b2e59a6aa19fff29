//! Template deployments at subscription (`/subscriptions/{s}/providers/Microsoft.Resources/deployments/{name}`,
//! what `az deployment sub create` sends) or resource group scope: 201 `Accepted` with an
//! `Azure-AsyncOperation` that reports `Running` then `Succeeded`/`Failed`. The template is
//! validated first (400 `InvalidTemplate`); its resources are then deployed as the caller,
//! each authorized as if the caller wrote it: Lighthouse registrations, role assignments,
//! nested deployments into a resource group, and the network resources and virtual machines
//! `az vm create` puts in its template. Those are PUT through their own providers in
//! `dependsOn` order, at the resource's `apiVersion`, with the deployment's own
//! `x-ms-authorization-auxiliary` tokens ("Authenticate requests across tenants": ARM
//! carries the deployment's auxiliary tokens to the resource providers, so a VM from another
//! tenant's gallery image passes its linked check inside a deployment as it does alone); each
//! provider's operation is waited for before the next resource.

use http::{Method, StatusCode};
use serde_json::{Map, Value, json};

use super::{
    ArmError, Call, Reply, Resource, apiversions, lighthouse, lro, method_not_allowed,
    path::{self, ArmPath, key},
    rbac::assignments::{self, NewAssignment},
    reply::{arm_time, correlation_id, put_status},
    resources::{ensure_scope, page, resource_not_found},
    template::{self, Scope, TemplateError},
};
use crate::context::World;

const DEPLOYMENT: &str = "Microsoft.Resources/deployments";

fn invalid_template(e: &TemplateError) -> ArmError {
    ArmError::bad_request(
        "InvalidTemplate",
        format!("Deployment template validation failed: '{e}'."),
    )
}

fn param_type(t: &str) -> String {
    match t.to_ascii_lowercase().as_str() {
        "string" => "String",
        "securestring" => "SecureString",
        "int" => "Int",
        "bool" => "Bool",
        "array" => "Array",
        "object" => "Object",
        "secureobject" => "SecureObject",
        _ => "String",
    }
    .to_owned()
}

/// Parameter values (given or defaulted) and their `{type, value}` echo.
fn parameters(
    template: &Value,
    given: &Value,
    scope: &Scope,
) -> Result<(Map<String, Value>, Value), TemplateError> {
    let mut values = Map::new();
    let mut echo = Map::new();
    for (name, def) in template["parameters"].as_object().into_iter().flatten() {
        let value = match given.get(name).and_then(|p| p.get("value")) {
            Some(v) => v.clone(),
            None => match def.get("defaultValue") {
                Some(d) => template::evaluate(d, scope)?,
                None => {
                    return Err(TemplateError(format!(
                        "The value for the template parameter '{name}' at line '1' and column '1' is not provided. Please see https://aka.ms/arm-create-parameter-file for usage details."
                    )));
                }
            },
        };
        let ty = param_type(def["type"].as_str().unwrap_or("string"));
        let shown = if ty.starts_with("Secure") {
            json!({"type": ty})
        } else {
            json!({"type": ty, "value": value})
        };
        echo.insert(name.clone(), shown);
        values.insert(name.clone(), value);
    }
    for name in given.as_object().into_iter().flatten().map(|(k, _)| k) {
        if !values.contains_key(name) {
            return Err(TemplateError(format!(
                "The following parameters were supplied, but do not correspond to any parameters defined in the template: '{name}'."
            )));
        }
    }
    Ok((values, Value::Object(echo)))
}

/// A resource to deploy, evaluated.
#[derive(Debug, Clone)]
struct Planned {
    kind: String,
    id: String,
    body: Value,
    depends_on: Vec<String>,
    /// For nested deployments: the resource group and the (already evaluated) inner resources.
    nested: Option<(String, Vec<Self>)>,
}

const DEPLOYABLE: [&str; 4] = [
    "microsoft.managedservices/registrationdefinitions",
    "microsoft.managedservices/registrationassignments",
    "microsoft.authorization/roleassignments",
    "microsoft.resources/deployments",
];

/// Resource types deployed by a PUT through their own provider (the simulated ones).
fn provider_resource(kind: &str) -> bool {
    let k = kind.to_ascii_lowercase();
    k.starts_with("microsoft.network/") || k == "microsoft.compute/virtualmachines"
}

/// `/subscriptions/{s}/resourcegroups/{rg}` as ARM writes ids: `resourceGroups`.
fn canonical_scope(at: &str) -> String {
    let parsed = ArmPath::parse(at);
    match (
        &parsed.subscription,
        &parsed.resource_group,
        parsed.segments.len(),
    ) {
        (Some(sub), Some(rg), 4) => format!("/subscriptions/{sub}/resourceGroups/{rg}"),
        _ => at.to_owned(),
    }
}

/// The parts of a template resource that make its PUT body (ARM's template resource
/// properties minus the deployment-only `type`, `apiVersion`, `dependsOn`, `condition`,
/// `copy` and `comments`).
fn put_body(resource: &Value) -> Value {
    let mut body = Map::new();
    for k in [
        "name",
        "location",
        "tags",
        "properties",
        "sku",
        "zones",
        "identity",
        "plan",
        "extendedLocation",
        "kind",
    ] {
        if let Some(v) = resource.get(k).filter(|v| !v.is_null()) {
            body.insert(k.to_owned(), v.clone());
        }
    }
    Value::Object(body)
}

/// PUTs one template resource through its provider as the deploying caller, with the
/// deployment's auxiliary tokens, and waits for the provider's operation.
fn deploy_through_provider(
    call: &Call<'_>,
    world: &mut World,
    p: &Planned,
) -> Result<(), ArmError> {
    let api_version = p.body["apiVersion"].as_str().unwrap_or_default().to_owned();
    let mut headers = call.req.headers.clone();
    // The deployment's own preconditions and framing are not the resource's.
    for h in ["if-match", "if-none-match", "content-length"] {
        headers.remove(h);
    }
    let req = crate::request::HostRequest {
        method: Method::PUT,
        host: call.req.host.clone(),
        path: p.id.clone(),
        query: Some(format!("api-version={api_version}")),
        headers,
        body: bytes::Bytes::from(put_body(&p.body).to_string()),
        request_id: call.req.request_id.clone(),
        fault: None,
    };
    let inner = Call {
        ctx: call.ctx,
        req: &req,
        now: call.now,
        caller: call.caller.clone(),
        api_version,
        path: ArmPath::parse(&p.id),
        aux: call.aux.clone(),
    };
    apiversions::check_supported(&inner)?;
    super::route(&inner, world)?;
    lro::settle(world, &p.id, call.now);
    let state = world
        .arm
        .get(&p.id)
        .and_then(|r| r.body["properties"]["provisioningState"].as_str())
        .unwrap_or("Succeeded")
        .to_owned();
    if state.eq_ignore_ascii_case("Failed") {
        return Err(ArmError::bad_request(
            "ResourceDeploymentFailure",
            format!(
                "The resource write operation failed to complete successfully, because it reached terminal provisioning state '{state}'."
            ),
        ));
    }
    Ok(())
}

fn plan(resources: &Value, scope: &Scope, at: &str) -> Result<Vec<Planned>, TemplateError> {
    let mut out = vec![];
    for raw in resources.as_array().into_iter().flatten() {
        let kind = raw["type"].as_str().unwrap_or_default().to_owned();
        if !DEPLOYABLE.contains(&kind.to_ascii_lowercase().as_str()) && !provider_resource(&kind) {
            return Err(TemplateError(format!(
                "The resource type '{kind}' is not deployable through azure-sim templates."
            )));
        }
        let inner_scope = raw["properties"]["expressionEvaluationOptions"]["scope"]
            .as_str()
            .is_some_and(|s| s.eq_ignore_ascii_case("inner"));
        let mut shell = raw.clone();
        let inner_template = shell
            .get_mut("properties")
            .and_then(|p| p.as_object_mut())
            .and_then(|p| p.remove("template"));
        let body = template::evaluate(&shell, scope)?;
        let name = body["name"].as_str().unwrap_or_default().to_owned();
        let depends_on = body["dependsOn"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d.as_str().map(str::to_owned))
            .collect();
        if kind.eq_ignore_ascii_case(DEPLOYMENT) {
            let rg = body["resourceGroup"].as_str().map(str::to_owned).or_else(|| scope.resource_group.clone()).ok_or_else(|| TemplateError(format!("The nested deployment '{name}' needs a resourceGroup at subscription scope.")))?;
            let inner = inner_template.unwrap_or(Value::Null);
            let rg_at = format!("/subscriptions/{}/resourceGroups/{rg}", scope.subscription);
            let nested = if inner_scope {
                let mut s = Scope {
                    resource_group: Some(rg.clone()),
                    ..scope.clone()
                };
                s.variables = inner["variables"].as_object().cloned().unwrap_or_default();
                let (values, _) = parameters(&inner, &body["properties"]["parameters"], &s)?;
                s.parameters = values;
                plan(&inner["resources"], &s, &rg_at)?
            } else {
                // Outer scope (the default): inner expressions see the parent's parameters,
                // variables and scope functions.
                plan(&inner["resources"], scope, &rg_at)?
            };
            let id = format!("{rg_at}/providers/{DEPLOYMENT}/{name}");
            out.push(Planned {
                kind,
                id,
                body,
                depends_on,
                nested: Some((rg, nested)),
            });
            continue;
        }
        let id = format!("{}/providers/{kind}/{name}", canonical_scope(at));
        out.push(Planned {
            kind,
            id,
            body,
            depends_on,
            nested: None,
        });
    }
    Ok(out)
}

fn order(planned: Vec<Planned>) -> Vec<Planned> {
    let mut left = planned;
    let mut done: Vec<Planned> = vec![];
    while !left.is_empty() {
        let ready = left.iter().position(|p| {
            p.depends_on.iter().all(|d| {
                // A dependency names a full id, `{type}/{name}` (what `az vm create`
                // writes) or a bare name.
                let waits_for = |q: &Planned| {
                    key(&q.id) == key(d)
                        || key(&q.id).ends_with(&format!("/providers/{}", key(d)))
                        || path::last_name(&q.id).eq_ignore_ascii_case(d)
                };
                !left.iter().any(|q| !std::ptr::eq(q, p) && waits_for(q))
            })
        });
        done.push(left.remove(ready.unwrap_or(0)));
    }
    done
}

fn deploy(
    call: &Call<'_>,
    world: &mut World,
    planned: Vec<Planned>,
    outputs: &mut Vec<String>,
) -> Result<(), ArmError> {
    for p in order(planned) {
        let props = p.body.get("properties").cloned().unwrap_or(Value::Null);
        if provider_resource(&p.kind) {
            deploy_through_provider(call, world, &p)?;
            outputs.push(p.id);
            continue;
        }
        match p.kind.to_ascii_lowercase().as_str() {
            "microsoft.managedservices/registrationdefinitions" => {
                lighthouse::write_definition(call, world, &p.id, &props)?;
            }
            "microsoft.managedservices/registrationassignments" => {
                lighthouse::write_assignment(call, world, &p.id, &props)?;
                // The deployment waits for the assignment's own operation to finish.
                lro::settle(world, &p.id, call.now);
            }
            "microsoft.authorization/roleassignments" => {
                let scope = path::parent_of(&p.id);
                let scope = p.body["scope"].as_str().map_or(scope, str::to_owned);
                call.authorize(
                    world,
                    "Microsoft.Authorization/roleAssignments/write",
                    &scope,
                )?;
                let tenant = call
                    .subscription_tenant(&path::subscription_of(&scope).unwrap_or_default())
                    .unwrap_or_default();
                let text = |k: &str| props[k].as_str().map(str::to_owned);
                assignments::create(
                    world,
                    &call.ctx.scenario,
                    call.now,
                    &tenant,
                    &call.caller.object_id,
                    NewAssignment::with_properties(
                        scope,
                        path::last_name(&p.id).to_owned(),
                        text("roleDefinitionId").unwrap_or_default(),
                        text("principalId").unwrap_or_default(),
                        &props,
                    ),
                )?;
            }
            _ => {
                let Some((rg, inner)) = p.nested else {
                    continue;
                };
                let rg_id = format!(
                    "/subscriptions/{}/resourceGroups/{rg}",
                    path::subscription_of(&p.id).unwrap_or_default()
                );
                call.authorize(world, "Microsoft.Resources/deployments/write", &p.id)?;
                ensure_scope(world, &rg_id)?;
                deploy(call, world, inner, outputs)?;
                let body = json!({
                    "id": p.id, "name": path::last_name(&p.id), "type": DEPLOYMENT,
                    "properties": {"mode": "Incremental", "provisioningState": "Succeeded", "timestamp": arm_time(call.now), "duration": "PT1S", "correlationId": correlation_id(call.req)},
                });
                world
                    .arm
                    .insert(Resource::new(&p.id, DEPLOYMENT, body, call.now));
            }
        }
        outputs.push(p.id);
    }
    Ok(())
}

/// A deployment request that passed template validation.
struct Validated {
    scope: Scope,
    location: Option<String>,
    props: Value,
    template: Value,
    echo: Value,
    planned: Vec<Planned>,
}

/// Validates the request body of a deployment (`PUT` or `POST .../validate`) at `id`.
fn validate_request(call: &Call<'_>, id: &str) -> Result<Validated, ArmError> {
    let scope_id = path::parent_of(id);
    let body = call.body()?;
    let sub = call.path.subscription.clone().unwrap_or_default();
    let rg = call.path.resource_group.clone();
    let location = body
        .get("location")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if rg.is_none() && location.is_none() {
        return Err(ArmError::bad_request(
            "LocationRequired",
            "The location property is required for this definition.",
        ));
    }
    let props = body.get("properties").cloned().unwrap_or(Value::Null);
    let Some(template_json) = props.get("template").filter(|t| t.is_object()) else {
        return Err(ArmError::bad_request(
            "InvalidTemplate",
            "Deployment template validation failed: 'The template is missing; templateLink is not simulated.'.",
        ));
    };
    let given = props.get("parameters").cloned().unwrap_or(Value::Null);
    let mut scope = Scope {
        subscription: sub.clone(),
        tenant: call.subscription_tenant(&sub).unwrap_or_default(),
        resource_group: rg,
        deployment: path::last_name(id).to_owned(),
        ..Scope::default()
    };
    scope.variables = template_json["variables"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let (values, echo) =
        parameters(template_json, &given, &scope).map_err(|e| invalid_template(&e))?;
    scope.parameters = values;
    let planned =
        plan(&template_json["resources"], &scope, &scope_id).map_err(|e| invalid_template(&e))?;
    Ok(Validated {
        scope,
        location,
        template: template_json.clone(),
        props,
        echo,
        planned,
    })
}

/// The deployment body both answers share.
fn deployment_body(call: &Call<'_>, id: &str, v: &Validated, state: &str) -> Value {
    let hash = uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        v.template.to_string().as_bytes(),
    )
    .as_u128()
        % 10_u128.pow(19);
    let mut base = json!({
        "id": id,
        "name": path::last_name(id),
        "type": DEPLOYMENT,
        "properties": {
            "templateHash": hash.to_string(),
            "parameters": v.echo,
            "mode": v.props["mode"].as_str().unwrap_or("Incremental"),
            "provisioningState": state,
            "timestamp": arm_time(call.now),
            "duration": "PT0.0009876S",
            "correlationId": correlation_id(call.req),
            "providers": [],
            "dependencies": [],
        },
    });
    if let Some(l) = &v.location {
        base["location"] = json!(l);
    }
    base
}

/// `POST {deployment}/validate` (Deployments_Validate*): the template checked as a `PUT`
/// would check it, nothing deployed; 200 with the deployment, `provisioningState`
/// `Succeeded` and the `validatedResources`, or 400 `InvalidTemplate`.
fn validate(call: &Call<'_>, world: &World, id: &str) -> Result<Reply, ArmError> {
    call.authorize(world, "Microsoft.Resources/deployments/validate/action", id)?;
    ensure_scope(world, &path::parent_of(id))?;
    let v = validate_request(call, id)?;
    let mut body = deployment_body(call, id, &v, "Succeeded");
    body["properties"]["validatedResources"] = json!(
        v.planned
            .iter()
            .map(|p| json!({"id": p.id}))
            .collect::<Vec<_>>()
    );
    Ok(Reply::ok(body))
}

fn put(call: &Call<'_>, world: &mut World, id: &str) -> Result<Reply, ArmError> {
    call.authorize(world, "Microsoft.Resources/deployments/write", id)?;
    ensure_scope(world, &path::parent_of(id))?;
    let v = validate_request(call, id)?;
    let outputs_def = v.template["outputs"].clone();
    let scope = v.scope.clone();
    let location = v.location.clone();
    let planned = v.planned.clone();

    let mut created = vec![];
    let result = deploy(call, world, planned, &mut created);
    let base = deployment_body(call, id, &v, "Accepted");
    let mut done = base.clone();
    done["properties"]["duration"] = json!("PT2.5S");
    let failure = match result {
        Ok(()) => {
            let mut outs = Map::new();
            for (name, def) in outputs_def.as_object().into_iter().flatten() {
                let value =
                    template::evaluate(&def["value"], &scope).map_err(|e| invalid_template(&e))?;
                outs.insert(name.clone(), json!({"type": param_type(def["type"].as_str().unwrap_or("string")), "value": value}));
            }
            done["properties"]["provisioningState"] = json!("Succeeded");
            done["properties"]["outputs"] = Value::Object(outs);
            done["properties"]["outputResources"] =
                json!(created.iter().map(|i| json!({"id": i})).collect::<Vec<_>>());
            None
        }
        Err(e) => {
            let error = json!({
                "code": "DeploymentFailed",
                "message": "At least one resource deployment operation failed. Please list deployment operations for details. Please see https://aka.ms/arm-deployment-operations for usage details.",
                "details": [e.body()],
            });
            done["properties"]["provisioningState"] = json!("Failed");
            done["properties"]["error"] = error.clone();
            Some(error)
        }
    };
    let status = put_status(world.arm.get(id).is_some());
    world
        .arm
        .insert(Resource::new(id, DEPLOYMENT, base.clone(), call.now));
    let failed = failure.is_some();
    let mut op = lro::Operation::new(
        call,
        lro::Style::Deployment {
            deployment: id.to_owned(),
        },
        location.as_deref().unwrap_or("eastus"),
        Some(id),
        1,
    )
    .failing(failure);
    if failed {
        op.failure_body = Some(done);
    } else {
        op.success_body = Some(done);
    }
    let urls = lro::start(world, op);
    Ok(Reply::json(status, base).header("azure-asyncoperation", urls.async_operation))
}

/// `POST {deployment}/validate`.
pub fn route_validate(call: &Call<'_>, world: &mut World) -> Result<Reply, ArmError> {
    if call.req.method != Method::POST {
        return Err(method_not_allowed(call));
    }
    // The id without the trailing action segment: the deployment's.
    validate(call, world, &call.path.item_id())
}

/// Routes deployment calls.
pub fn route(call: &Call<'_>, world: &mut World) -> Result<Reply, ArmError> {
    let id = call.path.item_id();
    match (call.path.is_item(), call.req.method.clone()) {
        (false, Method::GET) => {
            call.authorize(
                world,
                "Microsoft.Resources/deployments/read",
                &call.path.scope,
            )?;
            ensure_scope(world, &call.path.scope)?;
            let items = world
                .arm
                .children(&call.path.scope, DEPLOYMENT)
                .into_iter()
                .map(|r| r.body.clone())
                .collect();
            Ok(Reply::ok(page(call, items)))
        }
        (true, Method::GET) => {
            call.authorize(world, "Microsoft.Resources/deployments/read", &id)?;
            ensure_scope(world, &call.path.scope)?;
            lro::observe_resource(world, &id, call.now);
            let r = world.arm.get(&id).ok_or_else(|| {
                ArmError::not_found(
                    "DeploymentNotFound",
                    format!("Deployment '{}' could not be found.", path::last_name(&id)),
                )
            })?;
            Ok(Reply::ok(r.body.clone()))
        }
        (true, Method::PUT) => put(call, world, &id),
        (true, Method::DELETE) => {
            call.authorize(world, "Microsoft.Resources/deployments/delete", &id)?;
            if world.arm.remove(&id).is_none() {
                return Err(resource_not_found(&id));
            }
            Ok(Reply::empty(StatusCode::NO_CONTENT))
        }
        _ => Err(method_not_allowed(call)),
    }
}
