//! What the image says about itself (regions, OS, security type), and the VM body it calls for.

use serde_json::{Value, json};

use super::super::Run;
use crate::{
    azure::{
        AzureError, Service,
        arm::{ArmIdentity, api_versions},
    },
    cloud::IMAGE_DEFINITION_FRESH,
    domain::{ShareRequest, VmChecks, VmSpec},
};

/// What the image definition says about the OS.
pub(super) struct ImageFacts {
    pub(super) regions: Vec<String>,
    pub(super) specialized: bool,
    pub(super) trusted_launch: bool,
    pub(super) linux: bool,
}

pub(super) async fn image_facts(
    run: &Run<'_>,
    request: &ShareRequest,
    identity: &ArmIdentity,
) -> Result<ImageFacts, AzureError> {
    let cloud = run.cloud().map_err(|e| AzureError::Unexpected {
        service: Service::ResourceManager,
        detail: e.to_string(),
    })?;
    let version = cloud
        .arm
        .get(identity, &request.image.to_string(), api_versions::GALLERY)
        .await?
        .unwrap_or(Value::Null);
    // The definition's OS facts are the same for every request of the image: one read per
    // instance serves them for a few minutes (the version is read each time: it says where
    // the image is replicated, and the read proves this app may read it).
    let definition_id = request.image.image_definition_id().to_string();
    let now = run.ctx.clock.now();
    let definition = if let Some((_, known)) =
        cloud
            .image_definitions
            .get(&definition_id, now, IMAGE_DEFINITION_FRESH)
    {
        known
    } else {
        let read = cloud
            .arm
            .get(identity, &definition_id, api_versions::GALLERY)
            .await?;
        if let Some(found) = &read {
            cloud.image_definitions.remember(
                &definition_id,
                now,
                found.clone(),
                IMAGE_DEFINITION_FRESH,
            );
        }
        read.unwrap_or(Value::Null)
    };
    let regions = version
        .pointer("/properties/publishingProfile/targetRegions")
        .and_then(Value::as_array)
        .map(|rs| {
            rs.iter()
                .filter_map(|r| r.get("name")?.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let features = definition
        .pointer("/properties/features")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let trusted_launch = features.iter().any(|f| {
        f.get("name").and_then(Value::as_str) == Some("SecurityType")
            && f.get("value").and_then(Value::as_str) == Some("TrustedLaunch")
    });
    Ok(ImageFacts {
        regions,
        specialized: definition
            .pointer("/properties/osState")
            .and_then(Value::as_str)
            == Some("Specialized"),
        trusted_launch,
        linux: definition
            .pointer("/properties/osType")
            .and_then(Value::as_str)
            .is_none_or(|t| t.eq_ignore_ascii_case("Linux")),
    })
}

pub(super) fn vm_body(
    request: &ShareRequest,
    vm: &VmSpec,
    nic: &str,
    image: &VmChecks,
    image_reference: &Value,
) -> Value {
    let user = vm.admin_username.as_str();
    let mut properties = json!({
        "hardwareProfile": {"vmSize": vm.size.as_str()},
        "storageProfile": {
            "imageReference": image_reference,
            "osDisk": {"createOption": "FromImage", "deleteOption": "Delete", "managedDisk": {"storageAccountType": "StandardSSD_LRS"}}
        },
        "networkProfile": {"networkInterfaces": [{"id": nic, "properties": {"primary": true, "deleteOption": "Delete"}}]},
    });
    // A specialized image keeps its own OS profile: ARM refuses one.
    if !image.specialized {
        properties["osProfile"] = json!({
            "computerName": vm.name.as_str(),
            "adminUsername": user,
            "linuxConfiguration": {
                "disablePasswordAuthentication": true,
                "ssh": {"publicKeys": [{"path": format!("/home/{user}/.ssh/authorized_keys"), "keyData": vm.ssh_public_key.as_str()}]}
            }
        });
    }
    if image.trusted_launch {
        properties["securityProfile"] = json!({"securityType": "TrustedLaunch", "uefiSettings": {"secureBootEnabled": true, "vTpmEnabled": true}});
    }
    json!({
        "location": vm.location.as_str(),
        "tags": {"imageshare-request": request.id.to_string()},
        "properties": properties,
    })
}
