//! Microsoft's resource-group delegation template (assets/lighthouse, with its source) and
//! the parameters a request gives it, as the seed's parameters file does: `mspOfferName`,
//! `mspOfferDescription`, `managedByTenantId` (the consumer's tenant), `rgName` and the
//! `authorizations` (Reader and the Registration Assignment Delete Role for each principal).

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::domain::ShareRequest;

/// The template, embedded unchanged.
const TEMPLATE: &str =
    include_str!("../../../assets/lighthouse/rgDelegatedResourceManagement.json");

/// Microsoft.Resources deployments (`az deployment sub` sends this version too).
pub(super) const DEPLOYMENTS_API: &str = "2024-03-01";
/// Microsoft.ManagedServices, the spec's newest stable version.
pub(super) const MANAGED_SERVICES_API: &str = "2022-10-01";
/// Microsoft.Resources resource groups and their resources.
pub(super) const RESOURCES_API: &str = "2021-04-01";

/// Reader: read the gallery, its image definitions and versions.
pub(super) const READER: &str = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
/// Managed Services Registration assignment Delete Role: lets the consumer's principals remove
/// the delegation themselves once their VMs exist (the seed grants it too).
pub(super) const DELETE_ROLE: &str = "91c1777a-f3dc-4fae-b103-61d183457e46";

/// The delegated resource group: the gallery's.
pub(super) fn scope(request: &ShareRequest) -> String {
    request.image.as_resource_id().resource_group_id()
}

/// The offer's name: one per consumer tenant and resource group, so the template's
/// `guid(mspOfferName)` gives every rerun and every request of the pair the same definition.
pub(super) fn offer_name(request: &ShareRequest) -> String {
    format!(
        "imageshare {} for {}",
        request.image.as_resource_id().resource_group(),
        request.consumer.tenant_id
    )
}

/// The subscription-scope deployment's resource id: a deterministic name (ARM allows 64
/// characters) from the tenant and the group, so a rerun updates the same deployment.
pub(super) fn deployment_id(request: &ShareRequest) -> String {
    let digest = Sha256::digest(
        format!(
            "{}|{}",
            request.consumer.tenant_id,
            scope(request).to_ascii_lowercase()
        )
        .as_bytes(),
    );
    let short: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!(
        "/subscriptions/{}/providers/Microsoft.Resources/deployments/imageshare-lighthouse-{short}",
        request.image.as_resource_id().subscription()
    )
}

/// The `authorizations` parameter: Reader and the Delete Role for each principal.
pub(super) fn authorizations(request: &ShareRequest) -> Value {
    let principals = request
        .delegation
        .as_ref()
        .map(|d| d.principals.as_slice())
        .unwrap_or_default();
    Value::Array(
        principals
            .iter()
            .flat_map(|p| {
                [READER, DELETE_ROLE].map(|role| {
                    json!({
                        "principalId": p.object_id,
                        "roleDefinitionId": role,
                        "principalIdDisplayName": p.display_name,
                    })
                })
            })
            .collect(),
    )
}

/// The PUT body of the deployment. `location` is where ARM keeps the deployment's metadata
/// (the resource group's region).
pub(super) fn deployment_body(request: &ShareRequest, location: &str) -> Result<Value, String> {
    let template: Value = serde_json::from_str(TEMPLATE)
        .map_err(|e| format!("the embedded Lighthouse template is not JSON: {e}"))?;
    Ok(json!({
        "location": location,
        "properties": {
            "mode": "Incremental",
            "template": template,
            "parameters": {
                "mspOfferName": {"value": offer_name(request)},
                "mspOfferDescription": {"value": format!(
                    "Read access to the VM image '{}' shared by imageshare (request {}).",
                    request.image_name, request.id
                )},
                "managedByTenantId": {"value": request.consumer.tenant_id},
                "rgName": {"value": request.image.as_resource_id().resource_group().as_str()},
                "authorizations": {"value": authorizations(request)},
            },
        },
    }))
}

/// The principal ids an `authorizations` value names, sorted (to compare delegations).
pub(super) fn principal_ids(authorizations: &Value) -> Vec<String> {
    let mut ids: Vec<String> = authorizations
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.get("principalId").and_then(Value::as_str))
                .map(str::to_ascii_lowercase)
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids.dedup();
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_template_is_microsofts_resource_group_delegation() {
        let template: Value = serde_json::from_str(TEMPLATE).unwrap();
        assert_eq!(
            template["variables"]["mspAssignmentName"],
            "[guid(parameters('rgName'))]"
        );
        for p in [
            "mspOfferName",
            "mspOfferDescription",
            "managedByTenantId",
            "authorizations",
            "rgName",
        ] {
            assert!(template["parameters"].get(p).is_some(), "{p}");
        }
    }
}
