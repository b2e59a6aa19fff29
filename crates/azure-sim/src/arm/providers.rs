//! Resource providers as a subscription sees them: `GET /subscriptions/{s}/providers/{ns}`
//! (Providers_Get: `{id, namespace, registrationState, registrationPolicy, resourceTypes:
//! [{resourceType, locations, apiVersions}]}`), for the namespaces the simulator serves,
//! with the api-versions of [`super::apiversions`], newest first, and the simulated regions.
//! Every provider is `Registered`. Reading a provider needs no role beyond being a principal
//! the subscription's tenant admits (assumed: Azure lets any principal of the subscription
//! read provider registrations).

use serde_json::{Value, json};

use super::{
    ArmError, Call, Reply, apiversions,
    compute::{REGIONS, region_display},
};

/// The resource types listed per namespace.
const TYPES: &[(&str, &[&str])] = &[
    (
        "Microsoft.Compute",
        &[
            "virtualMachines",
            "locations/vmSizes",
            "skus",
            "images",
            "galleries",
            "galleries/images",
            "galleries/images/versions",
            "locations/sharedGalleries",
            "locations/operations",
        ],
    ),
    (
        "Microsoft.Network",
        &[
            "virtualNetworks",
            "virtualNetworks/subnets",
            "networkInterfaces",
            "publicIPAddresses",
            "networkSecurityGroups",
            "locations/operations",
        ],
    ),
    (
        "Microsoft.ManagedServices",
        &["registrationDefinitions", "registrationAssignments"],
    ),
    (
        "Microsoft.Authorization",
        &["roleAssignments", "roleDefinitions", "permissions"],
    ),
    ("Microsoft.Resources", &["deployments"]),
];

fn provider(sub: &str, namespace: &str, types: &[&str]) -> Value {
    let locations: Vec<String> = REGIONS.iter().map(|(r, _)| region_display(r)).collect();
    let resource_types: Vec<Value> = types
        .iter()
        .map(|t| {
            let versions: Vec<&str> = apiversions::supported(&format!("{namespace}/{t}"))
                .unwrap_or_default()
                .iter()
                .rev()
                .copied()
                .collect();
            json!({"resourceType": t, "locations": locations, "apiVersions": versions})
        })
        .collect();
    json!({
        "id": format!("/subscriptions/{sub}/providers/{namespace}"),
        "namespace": namespace,
        "registrationState": "Registered",
        "registrationPolicy": "RegistrationRequired",
        "resourceTypes": resource_types,
    })
}

/// `GET /subscriptions/{s}/providers/{namespace}`.
pub fn show(call: &Call<'_>, namespace: &str) -> Result<Reply, ArmError> {
    let sub = call.path.subscription.clone().unwrap_or_default();
    TYPES
        .iter()
        .find(|(ns, _)| ns.eq_ignore_ascii_case(namespace))
        .map(|(ns, types)| Reply::ok(provider(&sub, ns, types)))
        .ok_or_else(|| {
            ArmError::not_found(
                "InvalidResourceNamespace",
                format!("The resource namespace '{namespace}' is invalid."),
            )
        })
}
