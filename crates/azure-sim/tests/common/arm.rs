//! Resource Manager: who calls it, the demo's scopes, role assignments and a small network.

use azure_sim::{Sim, scenario::demo};
use serde_json::{Value, json};

use super::{
    api::Api,
    entra::{operator_token, user_arm_token},
};

/// Resource Manager's host.
pub const ARM: &str = "https://management.azure.com";

/// The scope a client-credentials token for Resource Manager asks for.
pub const ARM_SCOPE: &str = "https://management.azure.com/.default";

/// The built-in Reader role's GUID.
pub const READER: &str = "acdd72a7-3385-48ef-bd42-f606fba81ae7";

/// The demo operator's managed identity on Resource Manager.
pub async fn arm_as_operator(sim: &Sim) -> Api<'_> {
    Api::arm(sim, operator_token(sim, ARM).await)
}

/// Contoso's admin (the image owner's tenant), signed in through the Azure CLI.
pub async fn arm_as_contoso_admin(sim: &Sim) -> Api<'_> {
    let token = user_arm_token(
        sim,
        demo::CONTOSO_TENANT,
        demo::CONTOSO_ADMIN_UPN,
        demo::CONTOSO_ADMIN_PASSWORD,
    )
    .await;
    Api::arm(sim, token)
}

/// Fabrikam's admin (the consumer's tenant), signed in through the Azure CLI.
pub async fn arm_as_fabrikam_admin(sim: &Sim) -> Api<'_> {
    let token = user_arm_token(
        sim,
        demo::FABRIKAM_TENANT,
        demo::FABRIKAM_ADMIN_UPN,
        demo::FABRIKAM_ADMIN_PASSWORD,
    )
    .await;
    Api::arm(sim, token)
}

/// Fabrikam's resource group, where the consumer's VMs go.
pub fn fabrikam_rg() -> String {
    format!(
        "/subscriptions/{}/resourceGroups/{}",
        demo::FABRIKAM_SUBSCRIPTION,
        demo::FABRIKAM_RESOURCE_GROUP
    )
}

/// Contoso's resource group holding the gallery.
pub fn images_rg() -> String {
    format!(
        "/subscriptions/{}/resourceGroups/{}",
        demo::CONTOSO_SUBSCRIPTION,
        demo::IMAGES_RESOURCE_GROUP
    )
}

/// The URL of the role assignment `name` at `scope`.
pub fn role_assignment(scope: &str, name: impl std::fmt::Display) -> String {
    format!(
        "{scope}/providers/Microsoft.Authorization/roleAssignments/{name}?api-version=2022-04-01"
    )
}

/// A role assignment PUT body: Contoso's role definition `role` for `principal`, with
/// `principalType` when given.
pub fn assignment_body(role: &str, principal: &str, principal_type: Option<&str>) -> Value {
    let mut p = json!({
        "roleDefinitionId": format!("/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions/{role}", demo::CONTOSO_SUBSCRIPTION),
        "principalId": principal,
    });
    if let Some(t) = principal_type {
        p["principalType"] = json!(t);
    }
    json!({"properties": p})
}

/// VNet `v` (`{prefix}.0.0/16`, one subnet `{prefix}.0.0/24`) and NIC `n` on it in `rg`;
/// the NIC as created.
pub async fn vnet_and_nic(arm: &Api<'_>, rg: &str, prefix: &str) -> Value {
    let net = format!("{rg}/providers/Microsoft.Network");
    let vnet = json!({"location": "eastus", "properties": {"addressSpace": {"addressPrefixes": [format!("{prefix}.0.0/16")]}, "subnets": [{"name": "default", "properties": {"addressPrefix": format!("{prefix}.0.0/24")}}]}});
    let (s, _, vnet) = arm
        .put(
            &format!("{net}/virtualNetworks/v?api-version=2024-05-01"),
            vnet,
        )
        .await;
    assert_eq!(s, 201, "{vnet}");
    let nic = json!({"location": "eastus", "properties": {"ipConfigurations": [{"name": "ip", "properties": {"subnet": {"id": vnet["properties"]["subnets"][0]["id"]}}}]}});
    let (s, _, nic) = arm
        .put(
            &format!("{net}/networkInterfaces/n?api-version=2024-05-01"),
            nic,
        )
        .await;
    assert_eq!(s, 201, "{nic}");
    nic
}
