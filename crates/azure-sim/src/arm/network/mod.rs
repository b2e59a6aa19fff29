//! Microsoft.Network: virtual networks (with inline or child subnets), public IPs, NSGs and
//! NICs. PUT answers 201 with `Azure-AsyncOperation` (Network style: `{"status":...}` only);
//! VNets, NSGs and public IPs start `Updating`, NICs are `Succeeded` at once (as recorded).
//! Referencing a subnet, NSG or public IP needs its `join/action`. DELETE answers 202 and
//! refuses resources still in use, with Network's messages.

pub mod bodies;
mod nic;

pub use nic::attach_nic;

use http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{
    arm::{
        ArmError, Call, Reply, Resource, concurrency, lro, method_not_allowed,
        path::{self, key},
        rbac::linked,
        reply::put_status,
        resources::{ensure_scope, page, resource_not_found},
    },
    context::World,
};

const VNET: &str = "Microsoft.Network/virtualNetworks";
const SUBNET: &str = "Microsoft.Network/virtualNetworks/subnets";
const NSG: &str = "Microsoft.Network/networkSecurityGroups";
const PIP: &str = "Microsoft.Network/publicIPAddresses";
const NIC: &str = "Microsoft.Network/networkInterfaces";

fn kind_of(types: &[String]) -> Option<&'static str> {
    let t: Vec<String> = types.iter().map(|t| t.to_ascii_lowercase()).collect();
    match t.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["virtualnetworks"] => Some(VNET),
        ["virtualnetworks", "subnets"] => Some(SUBNET),
        ["networksecuritygroups"] => Some(NSG),
        ["publicipaddresses"] => Some(PIP),
        ["networkinterfaces"] => Some(NIC),
        _ => None,
    }
}

/// The id Network's own front end gives each call it serves (recorded on every Network answer,
/// PUT and poll alike, beside ARM's `x-ms-request-id`).
pub const SERVICE_REQUEST_ID: &str = "x-ms-arm-service-request-id";

/// Routes network calls; every answer, refusals included, carries [`SERVICE_REQUEST_ID`].
pub fn route(call: &Call<'_>, world: &mut World) -> Result<Reply, ArmError> {
    let id = crate::request::new_request_id();
    match serve(call, world) {
        Ok(reply) => Ok(reply.header(SERVICE_REQUEST_ID, id)),
        Err(e) => Err(e.header(SERVICE_REQUEST_ID, id)),
    }
}

fn serve(call: &Call<'_>, world: &mut World) -> Result<Reply, ArmError> {
    let Some(p) = &call.path.provider else {
        return Err(method_not_allowed(call));
    };
    let Some(kind) = kind_of(&p.types) else {
        return Err(ArmError::bad_request(
            "InvalidResourceType",
            format!(
                "The resource type '{}' could not be found in the namespace 'Microsoft.Network' for api version '{}'.",
                p.types.join("/"),
                call.api_version
            ),
        ));
    };
    let id = call.path.item_id();
    match (call.path.is_item(), call.req.method.clone()) {
        (false, Method::GET) => {
            call.authorize(world, &format!("{kind}/read"), &id)?;
            ensure_scope(world, &id)?;
            let items = world
                .arm
                .children(&id, kind)
                .into_iter()
                .map(|r| decorate(world, r))
                .collect();
            Ok(Reply::ok(page(call, items)))
        }
        (true, Method::GET) => {
            call.authorize(world, &format!("{kind}/read"), &id)?;
            ensure_scope(world, &path::parent_of(&id))?;
            lro::observe_resource(world, &id, call.now);
            let r = world.arm.get(&id).ok_or_else(|| resource_not_found(&id))?;
            let body = decorate(world, r);
            let etag = body["etag"].as_str().unwrap_or_default().to_owned();
            Ok(Reply::ok(body).header("etag", etag))
        }
        (true, Method::PUT) => {
            call.authorize(world, &format!("{kind}/write"), &id)?;
            let parent = path::parent_of(&id);
            ensure_scope(world, &parent)?;
            if kind == SUBNET && world.arm.get(&parent).is_none() {
                return Err(resource_not_found(&parent));
            }
            // A write while the resource's own operation runs is refused, not queued.
            concurrency::network_busy(world, &id)?;
            put(call, world, kind, &id)
        }
        (true, Method::DELETE) => {
            call.authorize(world, &format!("{kind}/delete"), &id)?;
            ensure_scope(world, &path::parent_of(&id))?;
            delete(call, world, kind, &id)
        }
        _ => Err(method_not_allowed(call)),
    }
}

/// NICs' ip configurations that use a subnet, NSG or public IP.
fn users_of(world: &World, target: &str) -> Vec<String> {
    let t = key(target);
    let mut out = vec![];
    for r in world.arm.resources.values() {
        if r.kind == NIC {
            let p = &r.body["properties"];
            if p["networkSecurityGroup"]["id"]
                .as_str()
                .is_some_and(|n| key(n) == t)
            {
                out.push(r.id.clone());
            }
            for c in p["ipConfigurations"].as_array().into_iter().flatten() {
                let cp = &c["properties"];
                if [&cp["subnet"]["id"], &cp["publicIPAddress"]["id"]]
                    .iter()
                    .any(|v| v.as_str().is_some_and(|v| key(v) == t))
                {
                    out.push(c["id"].as_str().unwrap_or_default().to_owned());
                }
            }
        } else if r.kind == SUBNET
            && r.body["properties"]["networkSecurityGroup"]["id"]
                .as_str()
                .is_some_and(|n| key(n) == t)
        {
            out.push(r.id.clone());
        }
    }
    out
}

/// A resource as GET shows it: subnets inside VNets, ip configurations inside subnets.
fn decorate(world: &World, r: &Resource) -> Value {
    let mut body = r.body.clone();
    match r.kind.as_str() {
        VNET => {
            let mut subnets: Vec<&Resource> = world.arm.children(&r.id, SUBNET);
            subnets.sort_by_key(|s| (s.created_at, s.id.clone()));
            body["properties"]["subnets"] = json!(
                subnets
                    .into_iter()
                    .map(|s| decorate(world, s))
                    .collect::<Vec<_>>()
            );
        }
        SUBNET => {
            let users: Vec<Value> = users_of(world, &r.id)
                .into_iter()
                .map(|u| json!({"id": u}))
                .collect();
            if !users.is_empty() {
                body["properties"]["ipConfigurations"] = json!(users);
            }
        }
        _ => {}
    }
    body
}

fn reference_missing(referenced: &str, by: &str) -> ArmError {
    ArmError::bad_request(
        "InvalidResourceReference",
        format!(
            "Resource {referenced} referenced by resource {by} was not found. Please make sure that the referenced resource exists, and that both resources are in the same region."
        ),
    )
}

/// A subnet's NSG, if its `properties` name one: `join/action` on it, and it must exist.
fn join_nsg(
    call: &Call<'_>,
    world: &World,
    write: &str,
    id: &str,
    properties: &Value,
) -> Result<(), ArmError> {
    let Some(nsg) = properties["networkSecurityGroup"]["id"].as_str() else {
        return Ok(());
    };
    linked::check(
        call,
        world,
        write,
        id,
        "Microsoft.Network/networkSecurityGroups/join/action",
        nsg,
    )?;
    world
        .arm
        .get(nsg)
        .map(|_| ())
        .ok_or_else(|| reference_missing(nsg, id))
}

/// The region of the resource `id` sits under (a subnet's VNet).
fn parent_location(world: &World, id: &str) -> Option<String> {
    world
        .arm
        .get(&path::parent_of(id))
        .and_then(|p| p.location().map(str::to_owned))
}

fn put(
    call: &Call<'_>,
    world: &mut World,
    kind: &'static str,
    id: &str,
) -> Result<Reply, ArmError> {
    let body = call.body()?;
    let write = format!("{kind}/write");
    let existing = world.arm.get(id).cloned();
    let location = body
        .get("location")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| {
            existing
                .as_ref()
                .and_then(|e| e.location().map(str::to_owned))
        })
        .or_else(|| parent_location(world, id));
    let Some(location) = location else {
        return Err(ArmError::bad_request(
            "LocationRequired",
            "The location property is required for this definition.",
        ));
    };
    let state = if kind == NIC { "Succeeded" } else { "Updating" };
    let props = body.get("properties").cloned().unwrap_or(Value::Null);
    let new_defaults = call.api_version.as_str() >= "2023-02-01";
    let (out, polls) = match kind {
        NSG => (
            bodies::nsg(id, &location, &props, body.get("tags"), state),
            call.ctx.scenario.arm.network_provisioning_polls,
        ),
        PIP => (
            bodies::public_ip(id, &location, &body, state),
            call.ctx.scenario.arm.network_provisioning_polls,
        ),
        SUBNET => {
            join_nsg(call, world, &write, id, &props)?;
            (bodies::subnet(id, &props, state, new_defaults), 0)
        }
        VNET => {
            let given: Vec<Value> = props["subnets"].as_array().cloned().unwrap_or_default();
            for s in &given {
                join_nsg(call, world, &write, id, &s["properties"])?;
            }
            let names: Vec<String> = given
                .iter()
                .filter_map(|s| s["name"].as_str().map(str::to_ascii_lowercase))
                .collect();
            for old in world.arm.children(id, SUBNET) {
                if !names.contains(&path::last_name(&old.id).to_ascii_lowercase())
                    && !users_of(world, &old.id).is_empty()
                {
                    return Err(subnet_in_use(world, &old.id));
                }
            }
            let stale: Vec<String> = world
                .arm
                .children(id, SUBNET)
                .into_iter()
                .map(|s| s.id.clone())
                .filter(|s| !names.contains(&path::last_name(s).to_ascii_lowercase()))
                .collect();
            for s in stale {
                world.arm.remove(&s);
            }
            let mut out = bodies::vnet(id, &location, &body, state);
            let mut listed = vec![];
            for (i, s) in given.iter().enumerate() {
                let name = s["name"].as_str().unwrap_or("default");
                let sid = format!("{id}/subnets/{name}");
                let sub_body = bodies::subnet(&sid, &s["properties"], "Succeeded", new_defaults);
                listed.push(bodies::subnet(&sid, &s["properties"], state, new_defaults));
                let created =
                    call.now + time::Duration::microseconds(i64::try_from(i).unwrap_or(0));
                world
                    .arm
                    .insert(Resource::new(&sid, SUBNET, sub_body, created));
            }
            out["properties"]["subnets"] = json!(listed);
            (out, call.ctx.scenario.arm.network_provisioning_polls)
        }
        _ => (nic::put(call, world, id, &location, &body)?, 0),
    };
    let mut stored = out.clone();
    if kind == VNET {
        stored["properties"]["subnets"] = json!([]);
    }
    if kind == NIC
        && let Some(vm) = existing
            .as_ref()
            .and_then(|e| e.body["properties"]["virtualMachine"].as_object())
    {
        stored["properties"]["virtualMachine"] = Value::Object(vm.clone());
    }
    let created_at = existing.as_ref().map_or(call.now, |e| e.created_at);
    world
        .arm
        .insert(Resource::new(id, kind, stored, created_at));
    let failure = call
        .fault()
        .and_then(|f| f.provisioning_error.as_ref())
        .map(|e| json!({"code": e.code, "message": e.message}));
    let op =
        lro::Operation::new(call, lro::Style::Network, &location, Some(id), polls).failing(failure);
    let op_id = op.id.clone();
    let urls = lro::start(world, op);
    let status = put_status(existing.is_some());
    let mut reply = Reply::json(status, out)
        .header("azure-asyncoperation", urls.async_operation)
        .header("x-ms-request-id", op_id);
    if matches!(kind, VNET | NIC) {
        reply = reply.header("azure-asyncnotification", "Enabled");
    }
    if kind != NIC {
        reply = reply.header("retry-after", call.retry_after(3));
    }
    Ok(reply)
}

fn subnet_in_use(world: &World, subnet: &str) -> ArmError {
    ArmError::bad_request(
        "InUseSubnetCannotBeDeleted",
        format!(
            "Subnet {} is in use by {} and cannot be deleted. In order to delete the subnet, delete all the resources within the subnet. See aka.ms/deletesubnet.",
            path::last_name(subnet),
            users_of(world, subnet).join(",")
        ),
    )
}

fn delete(call: &Call<'_>, world: &mut World, kind: &str, id: &str) -> Result<Reply, ArmError> {
    let Some(r) = world.arm.get(id).cloned() else {
        return Ok(Reply::empty(StatusCode::NO_CONTENT));
    };
    match kind {
        NIC => {
            if let Some(vm) = r.body["properties"]["virtualMachine"]["id"].as_str() {
                return Err(ArmError::bad_request(
                    "NicInUse",
                    format!(
                        "Network Interface {id} is used by existing resource {vm}. In order to delete the network interface, it must be dissociated from the resource. To learn more, see aka.ms/deletenic."
                    ),
                ));
            }
        }
        SUBNET if !users_of(world, id).is_empty() => return Err(subnet_in_use(world, id)),
        VNET => {
            if let Some(s) = world
                .arm
                .children(id, SUBNET)
                .into_iter()
                .find(|s| !users_of(world, &s.id).is_empty())
            {
                return Err(subnet_in_use(world, &s.id));
            }
        }
        NSG if !users_of(world, id).is_empty() => {
            return Err(ArmError::bad_request(
                "InUseNetworkSecurityGroupCannotBeDeleted",
                format!(
                    "Network security group {id} cannot be deleted because it is in use by the following resources: {}. In order to delete the Network security group, remove the association with the resource(s). To learn how to do this, see aka.ms/deletensg.",
                    users_of(world, id).join(",")
                ),
            ));
        }
        PIP if !users_of(world, id).is_empty() => {
            return Err(ArmError::bad_request(
                "PublicIPAddressInUse",
                format!(
                    "Public IP address {id} can not be deleted since it is still allocated to resource {}. In order to delete the public IP, disassociate/detach the Public IP address from the resource.  To learn how to do this, see aka.ms/deletepublicip.",
                    users_of(world, id).join(",")
                ),
            ));
        }
        _ => {}
    }
    lro::settle(world, id, call.now);
    world.arm.remove(id);
    let location = r
        .location()
        .map(str::to_owned)
        .or_else(|| parent_location(world, id))
        .unwrap_or_else(|| "eastus".into());
    let op = lro::Operation::new(call, lro::Style::Network, &location, None, 0);
    let op_id = op.id.clone();
    let urls = lro::start(world, op);
    // As on its PUTs, Network's operation id is the request id.
    Ok(Reply::empty(StatusCode::ACCEPTED)
        .header("azure-asyncoperation", urls.async_operation)
        .header("location", urls.location)
        .header("retry-after", call.retry_after(10))
        .header("x-ms-request-id", op_id))
}
