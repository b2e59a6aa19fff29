//! The JSON of network resources as Microsoft.Network answers (recorded 2021-05-01 shapes).

use serde_json::{Map, Value, json};

use crate::arm::path;

/// `W/"{guid}"`.
pub fn etag() -> String {
    format!("W/\"{}\"", uuid::Uuid::new_v4())
}

/// The six rules every NSG carries.
fn default_rules(nsg_id: &str, state: &str) -> Vec<Value> {
    let rules = [
        (
            "AllowVnetInBound",
            "Allow inbound traffic from all VMs in VNET",
            "VirtualNetwork",
            "VirtualNetwork",
            "Allow",
            65000,
            "Inbound",
        ),
        (
            "AllowAzureLoadBalancerInBound",
            "Allow inbound traffic from azure load balancer",
            "AzureLoadBalancer",
            "*",
            "Allow",
            65001,
            "Inbound",
        ),
        (
            "DenyAllInBound",
            "Deny all inbound traffic",
            "*",
            "*",
            "Deny",
            65500,
            "Inbound",
        ),
        (
            "AllowVnetOutBound",
            "Allow outbound traffic from all VMs to all VMs in VNET",
            "VirtualNetwork",
            "VirtualNetwork",
            "Allow",
            65000,
            "Outbound",
        ),
        (
            "AllowInternetOutBound",
            "Allow outbound traffic from all VMs to Internet",
            "*",
            "Internet",
            "Allow",
            65001,
            "Outbound",
        ),
        (
            "DenyAllOutBound",
            "Deny all outbound traffic",
            "*",
            "*",
            "Deny",
            65500,
            "Outbound",
        ),
    ];
    rules
        .iter()
        .map(
            |(name, description, source, destination, access, priority, direction)| {
                json!({
                    "name": name,
                    "id": format!("{nsg_id}/defaultSecurityRules/{name}"),
                    "etag": etag(),
                    "type": "Microsoft.Network/networkSecurityGroups/defaultSecurityRules",
                    "properties": {
                        "provisioningState": state,
                        "description": description,
                        "protocol": "*",
                        "sourcePortRange": "*",
                        "destinationPortRange": "*",
                        "sourceAddressPrefix": source,
                        "destinationAddressPrefix": destination,
                        "access": access,
                        "priority": priority,
                        "direction": direction,
                        "sourcePortRanges": [],
                        "destinationPortRanges": [],
                        "sourceAddressPrefixes": [],
                        "destinationAddressPrefixes": [],
                    },
                })
            },
        )
        .collect()
}

fn base(id: &str, kind: &str, location: &str, tags: Option<&Value>) -> Value {
    let mut v = json!({
        "name": path::last_name(id),
        "id": id,
        "etag": etag(),
        "type": kind,
        "location": location,
    });
    if let Some(t) = tags {
        v["tags"] = t.clone();
    }
    v
}

/// An NSG.
pub fn nsg(id: &str, location: &str, given: &Value, tags: Option<&Value>, state: &str) -> Value {
    let rules: Vec<Value> = given["securityRules"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let name = r["name"].as_str().unwrap_or_default();
            let mut props = r["properties"].as_object().cloned().unwrap_or_default();
            props.insert("provisioningState".into(), json!(state));
            for k in [
                "sourcePortRanges",
                "destinationPortRanges",
                "sourceAddressPrefixes",
                "destinationAddressPrefixes",
            ] {
                props.entry(k).or_insert(json!([]));
            }
            json!({
                "name": name,
                "id": format!("{id}/securityRules/{name}"),
                "etag": etag(),
                "type": "Microsoft.Network/networkSecurityGroups/securityRules",
                "properties": props,
            })
        })
        .collect();
    let mut v = base(
        id,
        "Microsoft.Network/networkSecurityGroups",
        location,
        tags,
    );
    v["properties"] = json!({
        "provisioningState": state,
        "resourceGuid": uuid::Uuid::new_v4().to_string(),
        "securityRules": rules,
        "defaultSecurityRules": default_rules(id, state),
    });
    v
}

/// A public IP address (`ipAddress` appears once it is provisioned).
pub fn public_ip(id: &str, location: &str, body: &Map<String, Value>, state: &str) -> Value {
    let given = body.get("properties").cloned().unwrap_or(Value::Null);
    let sku = body
        .get("sku")
        .and_then(|s| s["name"].as_str())
        .unwrap_or("Standard")
        .to_owned();
    let method = given["publicIPAllocationMethod"]
        .as_str()
        .unwrap_or(if sku.eq_ignore_ascii_case("Standard") {
            "Static"
        } else {
            "Dynamic"
        })
        .to_owned();
    let mut v = base(
        id,
        "Microsoft.Network/publicIPAddresses",
        location,
        body.get("tags"),
    );
    v["sku"] = json!({"name": sku, "tier": body.get("sku").and_then(|s| s["tier"].as_str()).unwrap_or("Regional")});
    v["properties"] = json!({
        "provisioningState": state,
        "resourceGuid": uuid::Uuid::new_v4().to_string(),
        "publicIPAddressVersion": given["publicIPAddressVersion"].as_str().unwrap_or("IPv4"),
        "publicIPAllocationMethod": method,
        "idleTimeoutInMinutes": given["idleTimeoutInMinutes"].as_u64().unwrap_or(4),
        "ipTags": [],
    });
    v
}

/// A subnet.
pub fn subnet(id: &str, given: &Value, state: &str, new_defaults: bool) -> Value {
    let mut props = json!({
        "provisioningState": state,
        "addressPrefix": given["addressPrefix"],
        "delegations": [],
        // Network 2023-02-01 and later default private endpoint policies to Disabled.
        "privateEndpointNetworkPolicies": if new_defaults { "Disabled" } else { "Enabled" },
        "privateLinkServiceNetworkPolicies": "Enabled",
    });
    if let Some(n) = given["networkSecurityGroup"]["id"].as_str() {
        props["networkSecurityGroup"] = json!({"id": n});
    }
    json!({
        "name": path::last_name(id),
        "id": id,
        "etag": etag(),
        "properties": props,
        "type": "Microsoft.Network/virtualNetworks/subnets",
    })
}

/// A virtual network (its `subnets` are filled in from the subnet resources).
pub fn vnet(id: &str, location: &str, body: &Map<String, Value>, state: &str) -> Value {
    let given = body.get("properties").cloned().unwrap_or(Value::Null);
    let mut v = base(
        id,
        "Microsoft.Network/virtualNetworks",
        location,
        body.get("tags"),
    );
    v["properties"] = json!({
        "provisioningState": state,
        "resourceGuid": uuid::Uuid::new_v4().to_string(),
        "addressSpace": given["addressSpace"],
        "subnets": [],
        "virtualNetworkPeerings": [],
        "enableDdosProtection": given["enableDdosProtection"].as_bool().unwrap_or(false),
    });
    v
}

/// A network interface with its addresses allocated.
pub fn nic(id: &str, location: &str, body: &Map<String, Value>, addresses: &[String]) -> Value {
    let given = body.get("properties").cloned().unwrap_or(Value::Null);
    let configs: Vec<Value> = given["ipConfigurations"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, c)| {
            let name = c["name"].as_str().unwrap_or("ipconfig1");
            let p = &c["properties"];
            let mut props = json!({
                "provisioningState": "Succeeded",
                "privateIPAddress": addresses.get(i).cloned().unwrap_or_default(),
                "privateIPAllocationMethod": p["privateIPAllocationMethod"].as_str().unwrap_or("Dynamic"),
                "subnet": {"id": p["subnet"]["id"]},
                "primary": p["primary"].as_bool().unwrap_or(i == 0),
                "privateIPAddressVersion": "IPv4",
            });
            if let Some(pip) = p["publicIPAddress"]["id"].as_str() {
                props["publicIPAddress"] = json!({"id": pip});
            }
            json!({
                "name": name,
                "id": format!("{id}/ipConfigurations/{name}"),
                "etag": etag(),
                "type": "Microsoft.Network/networkInterfaces/ipConfigurations",
                "properties": props,
            })
        })
        .collect();
    let suffix: String = uuid::Uuid::new_v4()
        .simple()
        .to_string()
        .chars()
        .take(26)
        .collect();
    let mut v = base(
        id,
        "Microsoft.Network/networkInterfaces",
        location,
        body.get("tags"),
    );
    v["properties"] = json!({
        "provisioningState": "Succeeded",
        "resourceGuid": uuid::Uuid::new_v4().to_string(),
        "ipConfigurations": configs,
        "dnsSettings": {"dnsServers": [], "appliedDnsServers": [], "internalDomainNameSuffix": format!("{suffix}.bx.internal.cloudapp.net")},
        "enableAcceleratedNetworking": given["enableAcceleratedNetworking"].as_bool().unwrap_or(false),
        "vnetEncryptionSupported": false,
        "enableIPForwarding": given["enableIPForwarding"].as_bool().unwrap_or(false),
        "hostedWorkloads": [],
        "tapConfigurations": [],
        "nicType": "Standard",
    });
    if let Some(n) = given["networkSecurityGroup"]["id"].as_str() {
        v["properties"]["networkSecurityGroup"] = json!({"id": n});
    }
    v
}

/// The `n`th address a subnet hands out (Azure reserves the first four).
pub fn address_in(prefix: &str, n: u32) -> Option<String> {
    let (ip, _) = prefix.split_once('/')?;
    let octets: Vec<u32> = ip
        .split('.')
        .map(|o| o.parse().ok())
        .collect::<Option<_>>()?;
    let [a, b, c, d] = octets.as_slice() else {
        return None;
    };
    if [a, b, c, d].iter().any(|o| **o > 255) {
        return None;
    }
    let value = (a << 24 | b << 16 | c << 8 | d)
        .checked_add(4)?
        .checked_add(n)?;
    Some(format!(
        "{}.{}.{}.{}",
        value >> 24,
        (value >> 16) & 255,
        (value >> 8) & 255,
        value & 255
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn subnets_hand_out_addresses_from_the_fifth() {
        assert_eq!(
            super::address_in("10.0.0.0/24", 0).as_deref(),
            Some("10.0.0.4")
        );
        assert_eq!(
            super::address_in("10.1.2.0/24", 3).as_deref(),
            Some("10.1.2.7")
        );
    }
}
