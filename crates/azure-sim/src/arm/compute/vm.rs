//! Virtual machines: PUT (201 + Compute-style `Azure-AsyncOperation` with `p=`, `Retry-After`,
//! provisioningState `Creating` -> `Succeeded`, disk names and ids filled in once created,
//! `adminPassword` never echoed), GET, DELETE (202), lists. The write needs
//! `virtualMachines/write` on the VM, `networkInterfaces/join/action` on each NIC, and read
//! on the image (see [`super::image_ref`]).

use http::{Method, StatusCode};
use serde_json::{Map, Value, json};

use super::{image_ref, image_ref::ResolvedImage, region_key};
use crate::{
    arm::{
        ArmError, Call, Reply, Resource, concurrency, lro, method_not_allowed,
        network::attach_nic,
        path::{self, key},
        rbac::linked,
        reply::{compute_time, put_status},
        resources::{ensure_scope, page, resource_not_found},
        throttle,
    },
    context::World,
};

/// VMs' type.
pub const VM: &str = "Microsoft.Compute/virtualMachines";
const WRITE: &str = "Microsoft.Compute/virtualMachines/write";

/// The first api-version whose VMs carry an `etag`.
const ETAG_API_VERSION: &str = "2024-07-01";

/// 1 for a new VM, the stored etag plus one on an update.
fn next_etag(existing: Option<&Resource>) -> u64 {
    existing
        .and_then(|r| r.body["etag"].as_str())
        .and_then(|e| e.trim_matches('"').parse::<u64>().ok())
        .map_or(1, |n| n + 1)
}

fn hex32() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Routes VM calls.
pub fn route(call: &Call<'_>, world: &mut World) -> Result<Reply, ArmError> {
    let id = call.path.item_id();
    match (call.path.is_item(), call.req.method.clone()) {
        (false, Method::GET) if call.path.resource_group.is_none() => {
            // A subscription-wide list answers what the caller may read, not 403: ARM
            // filters such lists by RBAC ("List all VMs in a subscription" works for a
            // principal holding a role on one resource group only).
            let sub = key(&call.path.scope);
            let items = world
                .arm
                .resources
                .values()
                .filter(|r| {
                    r.kind.eq_ignore_ascii_case(VM)
                        && key(&r.id).starts_with(&format!("{sub}/"))
                        && call
                            .authorize(world, "Microsoft.Compute/virtualMachines/read", &r.id)
                            .is_ok()
                })
                .map(|r| r.body.clone())
                .collect();
            Ok(Reply::ok(page(call, items)))
        }
        (false, Method::GET) => {
            let rg = call.path.scope.clone();
            call.authorize(world, "Microsoft.Compute/virtualMachines/read", &rg)?;
            ensure_scope(world, &rg)?;
            let items = world
                .arm
                .children(&rg, VM)
                .into_iter()
                .map(|r| r.body.clone())
                .collect();
            Ok(Reply::ok(page(call, items)))
        }
        (true, Method::GET) => {
            call.authorize(world, "Microsoft.Compute/virtualMachines/read", &id)?;
            ensure_scope(world, &call.path.scope)?;
            lro::observe_resource(world, &id, call.now);
            let mut body = world
                .arm
                .get(&id)
                .map(|r| r.body.clone())
                .ok_or_else(|| resource_not_found(&id))?;
            if call
                .req
                .query_param("$expand")
                .is_some_and(|e| e.eq_ignore_ascii_case("instanceView"))
            {
                body = super::instance_view::expanded(&body);
            }
            Ok(Reply::ok(body).header(
                "x-ms-ratelimit-remaining-resource",
                "Microsoft.Compute/LowCostGet3Min;3999,Microsoft.Compute/LowCostGet30Min;31999",
            ))
        }
        (true, Method::PUT) => put(call, world, &id),
        (true, Method::DELETE) => delete(call, world, &id),
        _ => Err(method_not_allowed(call)),
    }
}

fn invalid(message: &str, target: &str) -> ArmError {
    ArmError::bad_request("InvalidParameter", message).target(target)
}

fn check_size(call: &Call<'_>, size: &str, location: &str, vm_id: &str) -> Result<(), ArmError> {
    let sub = call.path.subscription.clone().unwrap_or_default();
    let Some(spec) = call
        .ctx
        .scenario
        .subscriptions
        .iter()
        .find(|s| s.id.eq_ignore_ascii_case(&sub))
    else {
        return Ok(());
    };
    if spec.vm_sizes.is_empty() {
        return Ok(());
    }
    let offered = spec
        .vm_sizes
        .iter()
        .find(|(loc, _)| region_key(loc) == region_key(location))
        .is_some_and(|(_, sizes)| sizes.iter().any(|s| s.eq_ignore_ascii_case(size)));
    if offered {
        return Ok(());
    }
    Err(ArmError::new(
        StatusCode::CONFLICT,
        "SkuNotAvailable",
        format!(
            "The requested VM size for resource 'Following SKUs have failed for Capacity Restrictions: {size}' is currently not available in location '{location}'. Please try another size or deploy to a different location or different zone. See https://aka.ms/azureskunotavailable for details."
        ),
    )
    .target(&format!("{}/hardwareProfile", path::last_name(vm_id))))
}

/// The NIC ids the VM names.
fn nic_ids(props: &Value) -> Vec<String> {
    props["networkProfile"]["networkInterfaces"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n["id"].as_str().map(str::to_owned))
        .collect()
}

/// Each NIC exists, is in the VM's region and is not another VM's.
fn check_nics(world: &World, vm_id: &str, location: &str, nics: &[String]) -> Result<(), ArmError> {
    if nics.is_empty() {
        return Err(invalid(
            "Required parameter 'networkProfile' is missing (null).",
            "networkProfile",
        ));
    }
    for nic in nics {
        let found = world.arm.get(nic);
        if found.is_none_or(|n| {
            n.location()
                .is_some_and(|l| region_key(l) != region_key(location))
        }) {
            return Err(ArmError::bad_request(
                "InvalidResourceReference",
                format!(
                    "Resource {nic} referenced by resource {vm_id} was not found. Please make sure that the referenced resource exists, and that both resources are in the same region."
                ),
            ));
        }
        if let Some(other) =
            found.and_then(|n| n.body["properties"]["virtualMachine"]["id"].as_str())
            && key(other) != key(vm_id)
        {
            return Err(ArmError::bad_request(
                "NicInUse",
                format!(
                    "Network Interface {nic} is used by existing resource {other}. In order to delete the network interface, it must be dissociated from the resource. To learn more, see aka.ms/deletenic."
                ),
            ));
        }
    }
    Ok(())
}

fn os_profile(given: &Value, image: &ResolvedImage) -> Value {
    let mut p = given.as_object().cloned().unwrap_or_default();
    // Compute never echoes secrets it was given.
    p.remove("adminPassword");
    p.remove("customData");
    let merge = |given: Option<&Value>, defaults: Value| {
        let mut out = defaults;
        if let (Some(Value::Object(g)), Some(o)) = (given, out.as_object_mut()) {
            for (k, v) in g {
                o.insert(k.clone(), v.clone());
            }
        }
        out
    };
    if image.os_type.eq_ignore_ascii_case("Windows") {
        let w = merge(
            p.get("windowsConfiguration"),
            json!({
                "provisionVMAgent": true,
                "enableAutomaticUpdates": true,
                "patchSettings": {"patchMode": "AutomaticByOS", "assessmentMode": "ImageDefault"},
                "enableVMAgentPlatformUpdates": false,
            }),
        );
        p.insert("windowsConfiguration".into(), w);
    } else {
        let l = merge(
            p.get("linuxConfiguration"),
            json!({
                "disablePasswordAuthentication": false,
                "provisionVMAgent": true,
                "patchSettings": {"patchMode": "ImageDefault", "assessmentMode": "ImageDefault"},
                "enableVMAgentPlatformUpdates": false,
            }),
        );
        p.insert("linuxConfiguration".into(), l);
    }
    for (k, v) in [
        ("secrets", json!([])),
        ("allowExtensionOperations", json!(true)),
        ("requireGuestProvisionSignal", json!(true)),
    ] {
        p.entry(k).or_insert(v);
    }
    Value::Object(p)
}

/// The storage profile while creating and once created (disk names and ids filled in).
fn storage(vm_id: &str, given: &Value, image: &ResolvedImage) -> (Value, Value) {
    let vm_name = path::last_name(vm_id);
    let rg_prefix = format!(
        "/subscriptions/{}/resourceGroups/{}",
        path::subscription_of(vm_id).unwrap_or_default(),
        path::resource_group_of(vm_id).unwrap_or_default()
    );
    let mut image_ref = given["imageReference"].clone();
    if let Some(v) = &image.exact_version {
        image_ref["exactVersion"] = json!(v);
    }
    let g = &given["osDisk"];
    let os_name = g["name"]
        .as_str()
        .map_or_else(|| format!("{vm_name}_OsDisk_1_{}", hex32()), str::to_owned);
    let mut os = json!({
        "osType": image.os_type,
        "name": os_name,
        "createOption": g["createOption"].as_str().unwrap_or("FromImage"),
        "caching": g["caching"].as_str().unwrap_or("ReadWrite"),
        "managedDisk": {"storageAccountType": g["managedDisk"]["storageAccountType"].as_str().unwrap_or("Standard_LRS")},
        "deleteOption": g["deleteOption"].as_str().unwrap_or("Detach"),
        "diskSizeGB": g["diskSizeGB"].as_u64().unwrap_or(u64::from(image.os_disk_gb)),
    });
    let mut data: Vec<Value> = image
        .data_disks_gb
        .iter()
        .enumerate()
        .map(|(lun, gb)| json!({"lun": lun, "createOption": "FromImage", "caching": "None", "managedDisk": {"storageAccountType": "Standard_LRS"}, "deleteOption": "Detach", "diskSizeGB": gb, "toBeDetached": false}))
        .collect();
    for d in given["dataDisks"].as_array().into_iter().flatten() {
        let lun = d["lun"].as_u64().unwrap_or(0);
        data.retain(|x| x["lun"].as_u64() != Some(lun));
        let mut disk = json!({
            "lun": lun,
            "createOption": d["createOption"].as_str().unwrap_or("Empty"),
            "caching": d["caching"].as_str().unwrap_or("None"),
            "managedDisk": {"storageAccountType": d["managedDisk"]["storageAccountType"].as_str().unwrap_or("Standard_LRS")},
            "deleteOption": d["deleteOption"].as_str().unwrap_or("Detach"),
            "diskSizeGB": d["diskSizeGB"],
            "toBeDetached": false,
        });
        if let Some(n) = d["name"].as_str() {
            disk["name"] = json!(n);
        }
        data.push(disk);
    }
    data.sort_by_key(|d| d["lun"].as_u64());
    let creating =
        json!({"imageReference": image_ref, "osDisk": os.clone(), "dataDisks": data.clone()});
    os["managedDisk"]["id"] = json!(format!(
        "{rg_prefix}/providers/Microsoft.Compute/disks/{os_name}"
    ));
    for (n, d) in data.iter_mut().enumerate() {
        let name = d["name"].as_str().map_or_else(
            || format!("{vm_name}_disk{}_{}", n + 2, hex32()),
            str::to_owned,
        );
        d["managedDisk"]["id"] = json!(format!(
            "{rg_prefix}/providers/Microsoft.Compute/disks/{name}"
        ));
        d["name"] = json!(name);
    }
    let created =
        json!({"imageReference": creating["imageReference"], "osDisk": os, "dataDisks": data});
    (creating, created)
}

fn put(call: &Call<'_>, world: &mut World, id: &str) -> Result<Reply, ArmError> {
    call.authorize(world, WRITE, id)?;
    ensure_scope(world, &call.path.scope)?;
    // Preconditions first (a 412 says more than a 409), then a running operation refuses.
    let stored = world.arm.get(id);
    let stored_etag = stored.and_then(|r| r.body["etag"].as_str());
    concurrency::preconditions(call, stored, stored_etag)?;
    concurrency::compute_busy(world, id)?;
    let body = call.body()?;
    let Some(location) = body
        .get("location")
        .and_then(Value::as_str)
        .map(str::to_owned)
    else {
        return Err(ArmError::bad_request(
            "LocationRequired",
            "The location property is required for this definition.",
        ));
    };
    let props = body.get("properties").cloned().unwrap_or(Value::Null);
    // Linked authorization (NICs, then the image) precedes Compute's own validation.
    let nics = nic_ids(&props);
    for nic in &nics {
        linked::check(
            call,
            world,
            WRITE,
            id,
            "Microsoft.Network/networkInterfaces/join/action",
            nic,
        )?;
    }
    let image_ref = &props["storageProfile"]["imageReference"];
    let image = image_ref::resolve(call, world, id, &location, image_ref)?;
    check_nics(world, id, &location, &nics)?;
    let Some(size) = props["hardwareProfile"]["vmSize"].as_str() else {
        return Err(invalid(
            "Required parameter 'hardwareProfile.vmSize' is missing (null).",
            "hardwareProfile.vmSize",
        ));
    };
    let generalized = image.os_state.eq_ignore_ascii_case("Generalized");
    match (
        generalized,
        props.get("osProfile").is_some_and(|p| !p.is_null()),
    ) {
        (true, false) => {
            return Err(invalid(
                "Required parameter 'osProfile' is missing (null).",
                "osProfile",
            ));
        }
        (false, true) => {
            return Err(invalid(
                "Parameter 'osProfile' is not allowed.",
                "osProfile",
            ));
        }
        _ => {}
    }
    if generalized
        && props["osProfile"]["adminUsername"]
            .as_str()
            .is_none_or(str::is_empty)
    {
        return Err(invalid(
            "Required parameter 'osProfile.adminUsername' is missing (null).",
            "osProfile.adminUsername",
        ));
    }
    check_size(call, size, &location, id)?;
    let sub = call.path.subscription.clone().unwrap_or_default();
    let quota = throttle::charge_compute(world, &sub, throttle::PUT_VM, call.now)?;

    let existing = world.arm.get(id).cloned();
    let vm_id = existing
        .as_ref()
        .and_then(|e| e.body["properties"]["vmId"].as_str().map(str::to_owned))
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let time_created = existing
        .as_ref()
        .and_then(|e| {
            e.body["properties"]["timeCreated"]
                .as_str()
                .map(str::to_owned)
        })
        .unwrap_or_else(|| compute_time(call.now));
    let (creating_storage, created_storage) = storage(id, &props["storageProfile"], &image);
    let mut out_props: Map<String, Value> = props.as_object().cloned().unwrap_or_default();
    out_props.insert("vmId".into(), json!(vm_id));
    if generalized {
        out_props.insert("osProfile".into(), os_profile(&props["osProfile"], &image));
    }
    out_props.insert("timeCreated".into(), json!(time_created));
    let state = if existing.is_some() {
        "Updating"
    } else {
        "Creating"
    };
    let mut top: Map<String, Value> = body;
    top.remove("id");
    top.remove("properties");
    let make = |storage: Value, state: &str| {
        let mut p = out_props.clone();
        p.insert("storageProfile".into(), storage);
        p.insert("provisioningState".into(), json!(state));
        let mut v =
            json!({"name": path::last_name(id), "id": id, "type": VM, "location": location});
        for (k, val) in &top {
            if !matches!(k.as_str(), "name" | "type" | "location") {
                v[k] = val.clone();
            }
        }
        v["properties"] = Value::Object(p);
        v
    };
    let mut creating = make(creating_storage, state);
    let mut created = make(created_storage, "Succeeded");
    // The VM's etag (a counter, as Compute sends it) exists from 2024-07-01, the first
    // version whose spec declares `etag` and the conditional headers together.
    if call.api_version.as_str() >= ETAG_API_VERSION {
        let etag = format!("\"{}\"", next_etag(existing.as_ref()));
        creating["etag"] = json!(etag);
        created["etag"] = json!(etag);
    }
    let created_at = existing.as_ref().map_or(call.now, |e| e.created_at);
    world
        .arm
        .insert(Resource::new(id, VM, creating.clone(), created_at));
    for nic in &nics {
        attach_nic(world, nic, Some(id));
    }
    let failure = call
        .fault()
        .and_then(|f| f.provisioning_error.as_ref())
        .map(|e| json!({"code": e.code, "message": e.message}));
    let polls = if existing.is_some() {
        0
    } else {
        call.ctx.scenario.arm.vm_provisioning_polls
    };
    let p = uuid::Uuid::new_v4().to_string();
    let mut op = lro::Operation::new(call, lro::Style::Compute { p }, &location, Some(id), polls)
        .failing(failure);
    op.success_body = Some(created);
    let op_id = op.id.clone();
    let urls = lro::start(world, op);
    let status = put_status(existing.is_some());
    Ok(Reply::json(status, creating)
        .header("azure-asyncoperation", urls.async_operation)
        .header("azure-asyncnotification", "Enabled")
        .header("retry-after", call.retry_after(10))
        .header("x-ms-request-id", op_id)
        .header("x-ms-ratelimit-remaining-resource", quota))
}

fn delete(call: &Call<'_>, world: &mut World, id: &str) -> Result<Reply, ArmError> {
    call.authorize(world, "Microsoft.Compute/virtualMachines/delete", id)?;
    ensure_scope(world, &call.path.scope)?;
    let Some(vm) = world.arm.get(id).cloned() else {
        return Ok(Reply::empty(StatusCode::NO_CONTENT));
    };
    lro::settle(world, id, call.now);
    for nic in vm.body["properties"]["networkProfile"]["networkInterfaces"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if let Some(n) = nic["id"].as_str() {
            attach_nic(world, n, None);
        }
    }
    world.arm.remove(id);
    let p = uuid::Uuid::new_v4().to_string();
    let op = lro::Operation::new(
        call,
        lro::Style::Compute { p },
        vm.location().unwrap_or("eastus"),
        None,
        0,
    );
    let op_id = op.id.clone();
    let urls = lro::start(world, op);
    Ok(Reply::empty(StatusCode::ACCEPTED)
        .header("azure-asyncoperation", urls.async_operation)
        .header("location", urls.location)
        .header("retry-after", call.retry_after(10))
        .header("x-ms-request-id", op_id))
}
