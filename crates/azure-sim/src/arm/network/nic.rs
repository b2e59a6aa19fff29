//! Network interfaces: a NIC PUT joins its subnets, public IPs and NSG and gets a private
//! address per IP configuration; a VM attaching it gives it a MAC address.

use serde_json::{Map, Value, json};

use super::{bodies, reference_missing};
use crate::{
    arm::{ArmError, Call, rbac::linked},
    context::World,
};

/// A NIC's body after a PUT, its links checked and its addresses allocated (kept across PUTs).
pub(super) fn put(
    call: &Call<'_>,
    world: &mut World,
    id: &str,
    location: &str,
    body: &Map<String, Value>,
) -> Result<Value, ArmError> {
    let write = "Microsoft.Network/networkInterfaces/write";
    let props = body.get("properties").cloned().unwrap_or(Value::Null);
    let configs: Vec<Value> = props["ipConfigurations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if configs.is_empty() {
        return Err(ArmError::bad_request(
            "NetworkInterfaceMustHaveAtLeastOneIpConfiguration",
            format!("Network interface {id} must have one or more IP configurations."),
        ));
    }
    let mut links: Vec<(&str, String)> = vec![];
    for c in &configs {
        let p = &c["properties"];
        let Some(subnet) = p["subnet"]["id"].as_str() else {
            return Err(ArmError::bad_request(
                "InvalidRequestFormat",
                "Cannot parse the request: subnet is required in an IP configuration.",
            ));
        };
        links.push((
            "Microsoft.Network/virtualNetworks/subnets/join/action",
            subnet.to_owned(),
        ));
        if let Some(pip) = p["publicIPAddress"]["id"].as_str() {
            links.push((
                "Microsoft.Network/publicIPAddresses/join/action",
                pip.to_owned(),
            ));
        }
    }
    if let Some(nsg) = props["networkSecurityGroup"]["id"].as_str() {
        links.push((
            "Microsoft.Network/networkSecurityGroups/join/action",
            nsg.to_owned(),
        ));
    }
    for (action, linked_id) in &links {
        linked::check(call, world, write, id, action, linked_id)?;
    }
    for (_, linked_id) in &links {
        world
            .arm
            .get(linked_id)
            .ok_or_else(|| reference_missing(linked_id, id))?;
    }
    let existing_addresses: Vec<String> = world
        .arm
        .get(id)
        .map(|e| {
            e.body["properties"]["ipConfigurations"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| {
                    c["properties"]["privateIPAddress"]
                        .as_str()
                        .map(str::to_owned)
                })
                .collect()
        })
        .unwrap_or_default();
    let mut addresses = vec![];
    for (i, c) in configs.iter().enumerate() {
        if let Some(a) = existing_addresses.get(i) {
            addresses.push(a.clone());
            continue;
        }
        let subnet = c["properties"]["subnet"]["id"].as_str().unwrap_or_default();
        let Some(s) = world.arm.get_mut(subnet) else {
            continue;
        };
        let n = u32::try_from(s.internal["allocated"].as_u64().unwrap_or(0)).unwrap_or(0);
        s.internal = json!({"allocated": n + 1});
        let prefix = s.body["properties"]["addressPrefix"]
            .as_str()
            .unwrap_or("10.0.0.0/24")
            .to_owned();
        addresses.push(bodies::address_in(&prefix, n).unwrap_or_default());
    }
    Ok(bodies::nic(id, location, body, &addresses))
}

/// Records (or clears) the VM a NIC is attached to; an attached NIC gets a MAC address.
pub fn attach_nic(world: &mut World, nic: &str, vm: Option<&str>) {
    let Some(r) = world.arm.get_mut(nic) else {
        return;
    };
    match vm {
        Some(vm) => {
            r.body["properties"]["virtualMachine"] = json!({"id": vm});
            let b = uuid::Uuid::new_v4().into_bytes();
            r.body["properties"]["macAddress"] =
                json!(format!("00-22-48-{:02X}-{:02X}-{:02X}", b[0], b[1], b[2]));
            r.body["properties"]["primary"] = json!(true);
        }
        None => {
            if let Some(p) = r.body["properties"].as_object_mut() {
                p.remove("virtualMachine");
                p.remove("primary");
            }
        }
    }
}
