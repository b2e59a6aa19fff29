//! Compute's discovery reads: `GET .../providers/Microsoft.Compute/locations/{loc}/vmSizes`
//! (VirtualMachineSizes_List: `{name, numberOfCores, osDiskSizeInMB, resourceDiskSizeInMB,
//! memoryInMB, maxDataDiskCount}`) and `GET .../providers/Microsoft.Compute/skus`
//! (ResourceSkus_List: `virtualMachines` SKUs with their locations and capabilities), both
//! answering what the subscription's `vmSizes` offer (every catalogued size everywhere when
//! the scenario names none). The figures are those of Microsoft's size pages (B-series,
//! Dv3/Dsv3, Dv5/Dsv5: vCPUs, memory, temporary storage, max data disks).

use serde_json::{Value, json};

use super::{REGIONS, region_key};
use crate::{
    arm::{ArmError, Call, Reply},
    context::World,
};

/// (name, vCPUs, memory MiB, temporary disk MiB, max data disks)
const SIZES: &[(&str, u32, u32, u32, u32)] = &[
    ("Standard_B1s", 1, 1024, 4096, 2),
    ("Standard_B2s", 2, 4096, 8192, 4),
    ("Standard_D2s_v3", 2, 8192, 16384, 4),
    ("Standard_D2s_v5", 2, 8192, 0, 4),
    ("Standard_D4s_v5", 4, 16384, 0, 8),
];

/// The sizes the subscription offers in `location` (`None` when that is every size).
fn offered(call: &Call<'_>, location: &str) -> Vec<String> {
    let sub = call.path.subscription.clone().unwrap_or_default();
    let spec = call
        .ctx
        .scenario
        .subscriptions
        .iter()
        .find(|s| s.id.eq_ignore_ascii_case(&sub));
    match spec {
        Some(s) if !s.vm_sizes.is_empty() => s
            .vm_sizes
            .iter()
            .filter(|(loc, _)| region_key(loc) == region_key(location))
            .flat_map(|(_, sizes)| sizes.iter().cloned())
            .collect(),
        _ => SIZES.iter().map(|s| s.0.to_owned()).collect(),
    }
}

fn catalogued(name: &str) -> Option<&'static (&'static str, u32, u32, u32, u32)> {
    SIZES.iter().find(|s| s.0.eq_ignore_ascii_case(name))
}

/// `locations/{loc}/vmSizes`: any principal of the subscription may list them.
pub fn vm_sizes(call: &Call<'_>, _world: &World, location: &str) -> Result<Reply, ArmError> {
    let value: Vec<Value> = offered(call, location)
        .iter()
        .filter_map(|n| catalogued(n))
        .map(|(name, cores, memory, temp, disks)| {
            json!({
                "name": name,
                "numberOfCores": cores,
                "osDiskSizeInMB": 1_047_552,
                "resourceDiskSizeInMB": temp,
                "memoryInMB": memory,
                "maxDataDiskCount": disks,
            })
        })
        .collect();
    Ok(Reply::ok(json!({ "value": value })))
}

/// `skus`: one entry per size and region offered.
pub fn skus(call: &Call<'_>, _world: &World) -> Result<Reply, ArmError> {
    let mut value = vec![];
    for (region, _) in REGIONS {
        for name in offered(call, region) {
            let Some((name, cores, memory, _, disks)) = catalogued(&name) else {
                continue;
            };
            let family = name
                .trim_start_matches("Standard_")
                .chars()
                .take_while(char::is_ascii_alphabetic)
                .collect::<String>();
            value.push(json!({
                "resourceType": "virtualMachines",
                "name": name,
                "tier": "Standard",
                "size": name.trim_start_matches("Standard_"),
                "family": format!("standard{family}Family"),
                // Short region names, as the spec's ResourceSkus examples show.
                "locations": [region],
                "locationInfo": [{"location": region, "zones": [], "zoneDetails": []}],
                "capabilities": [
                    {"name": "vCPUs", "value": cores.to_string()},
                    {"name": "MemoryGB", "value": (f64::from(*memory) / 1024.0).to_string()},
                    {"name": "MaxDataDiskCount", "value": disks.to_string()},
                    {"name": "HyperVGenerations", "value": "V1,V2"},
                ],
                "restrictions": [],
            }));
        }
    }
    Ok(Reply::ok(json!({ "value": value })))
}
