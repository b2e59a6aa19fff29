//! `storageProfile.imageReference` of a VM: a gallery image version or definition (`id`,
//! with linked authorization — cross-tenant through an auxiliary token), a direct shared
//! gallery image (`sharedGalleryImageId`, no RBAC: the share is the permission), a managed
//! image, or a marketplace image (`publisher`/`offer`/`sku`/`version`).

use http::StatusCode;
use serde_json::Value;

use super::{
    gallery::{IMAGE, MANAGED_IMAGE, VERSION},
    region_key, shared,
};
use crate::{
    arm::{
        ArmError, Call, path,
        rbac::linked,
        resources::{ensure_scope, resource_not_found},
    },
    context::World,
};

/// What the VM gets from its image.
#[derive(Debug, Clone)]
pub struct ResolvedImage {
    /// `Linux` / `Windows`.
    pub os_type: String,
    /// `Generalized` / `Specialized`.
    pub os_state: String,
    /// OS disk size.
    pub os_disk_gb: u32,
    /// Data disk sizes by LUN (created `FromImage`).
    pub data_disks_gb: Vec<u32>,
    /// `exactVersion` to report.
    pub exact_version: Option<String>,
}

fn version_order(name: &str) -> Vec<u64> {
    name.split('.').map(|p| p.parse().unwrap_or(0)).collect()
}

fn gallery_image(world: &World, version_id: &str) -> Result<ResolvedImage, ArmError> {
    let version = world
        .arm
        .get(version_id)
        .ok_or_else(|| resource_not_found(version_id))?;
    let image = world
        .arm
        .get(&path::parent_of(version_id))
        .ok_or_else(|| resource_not_found(&path::parent_of(version_id)))?;
    let sp = &version.body["properties"]["storageProfile"];
    Ok(ResolvedImage {
        os_type: image.body["properties"]["osType"]
            .as_str()
            .unwrap_or("Linux")
            .to_owned(),
        os_state: image.body["properties"]["osState"]
            .as_str()
            .unwrap_or("Generalized")
            .to_owned(),
        os_disk_gb: u32::try_from(sp["osDiskImage"]["sizeInGB"].as_u64().unwrap_or(30))
            .unwrap_or(30),
        data_disks_gb: sp["dataDiskImages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d["sizeInGB"].as_u64())
            .filter_map(|g| u32::try_from(g).ok())
            .collect(),
        exact_version: Some(path::last_name(&version.id).to_owned()),
    })
}

fn not_in_region(shown_id: &str, location: &str) -> ArmError {
    ArmError::not_found(
        "GalleryImageNotFound",
        format!(
            "The gallery image {shown_id} is not available in {location} region. Please contact image owner to replicate to this region, or change your requested region."
        ),
    )
    .target("imageReference")
}

fn check_region(
    world: &World,
    version_id: &str,
    shown_id: &str,
    location: &str,
) -> Result<(), ArmError> {
    let replicated = world.arm.get(version_id).is_some_and(|v| {
        v.body["properties"]["publishingProfile"]["targetRegions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|t| {
                t["name"]
                    .as_str()
                    .is_some_and(|n| region_key(n) == region_key(location))
            })
    });
    if replicated {
        Ok(())
    } else {
        Err(not_in_region(shown_id, location))
    }
}

/// The latest version of an image definition (not excluded from latest).
fn latest(world: &World, image_id: &str) -> Option<String> {
    let mut versions: Vec<_> = world
        .arm
        .children(image_id, VERSION)
        .into_iter()
        .filter(|v| v.body["properties"]["publishingProfile"]["excludeFromLatest"] != true)
        .map(|v| v.id.clone())
        .collect();
    versions.sort_by_key(|id| version_order(path::last_name(id)));
    versions.pop()
}

/// Checks and resolves a VM's image reference (`vm_id` is the VM being written).
pub fn resolve(
    call: &Call<'_>,
    world: &World,
    vm_id: &str,
    location: &str,
    image: &Value,
) -> Result<ResolvedImage, ArmError> {
    const WRITE: &str = "Microsoft.Compute/virtualMachines/write";
    if let Some(unique_id) = image["sharedGalleryImageId"].as_str() {
        let sub = call.path.subscription.clone().unwrap_or_default();
        let tenant = call.subscription_tenant(&sub).unwrap_or_default();
        // Wording assumed: the image is unknown to, or not shared with, this subscription (the
        // share is checked for the VM's subscription and that subscription's tenant; no RBAC).
        let not_shared = || {
            ArmError::not_found(
                "GalleryImageNotFound",
                format!("The gallery image {unique_id} is not available or is not shared with subscription '{sub}'."),
            )
            .target("imageReference")
        };
        let accept = call.ctx.scenario.arm.direct_share_requires_accept;
        let (image_id, version) =
            shared::resolve(world, accept, unique_id, &sub, &tenant).ok_or_else(not_shared)?;
        let version_id = if version.eq_ignore_ascii_case("latest") {
            latest(world, &image_id).ok_or_else(|| not_in_region(unique_id, location))?
        } else {
            world
                .arm
                .get(&format!("{image_id}/versions/{version}"))
                .map(|v| v.id.clone())
                .ok_or_else(not_shared)?
        };
        check_region(world, &version_id, unique_id, location)?;
        return gallery_image(world, &version_id);
    }
    if let Some(id) = image["id"].as_str() {
        if !id
            .trim_start()
            .to_ascii_lowercase()
            .starts_with("/subscriptions/")
        {
            return Err(ArmError::bad_request(
                "LinkedInvalidPropertyId",
                format!(
                    "Property id '{id}' at path 'properties.storageProfile.imageReference.id' is invalid. Expect fully qualified resource Id that start with '/subscriptions/{{subscriptionId}}' or '/providers/{{resourceProviderNamespace}}/'."
                ),
            ));
        }
        let kind = path::type_of(id);
        let action = if kind.eq_ignore_ascii_case(VERSION) {
            "Microsoft.Compute/galleries/images/versions/read"
        } else if kind.eq_ignore_ascii_case(IMAGE) {
            "Microsoft.Compute/galleries/images/read"
        } else if kind.eq_ignore_ascii_case(MANAGED_IMAGE) {
            "Microsoft.Compute/images/read"
        } else {
            return Err(ArmError::bad_request(
                "InvalidParameter",
                format!("The value of parameter imageReference.id '{id}' is invalid."),
            )
            .target("imageReference.id"));
        };
        linked::check(call, world, WRITE, vm_id, action, id)?;
        ensure_scope(world, &path::parent_of(id))?;
        if kind.eq_ignore_ascii_case(MANAGED_IMAGE) {
            let m = world.arm.get(id).ok_or_else(|| resource_not_found(id))?;
            let os = &m.body["properties"]["storageProfile"]["osDisk"];
            return Ok(ResolvedImage {
                os_type: os["osType"].as_str().unwrap_or("Linux").to_owned(),
                os_state: os["osState"].as_str().unwrap_or("Generalized").to_owned(),
                os_disk_gb: u32::try_from(os["diskSizeGB"].as_u64().unwrap_or(30)).unwrap_or(30),
                data_disks_gb: vec![],
                exact_version: None,
            });
        }
        let version_id = if kind.eq_ignore_ascii_case(IMAGE) {
            if world.arm.get(id).is_none() {
                return Err(resource_not_found(id));
            }
            latest(world, id).ok_or_else(|| not_in_region(id, location))?
        } else {
            world
                .arm
                .get(id)
                .map(|v| v.id.clone())
                .ok_or_else(|| resource_not_found(id))?
        };
        check_region(world, &version_id, id, location)?;
        return gallery_image(world, &version_id);
    }
    let field = |k: &str| image[k].as_str().unwrap_or_default().to_owned();
    let (publisher, offer, sku, version) = (
        field("publisher"),
        field("offer"),
        field("sku"),
        field("version"),
    );
    if publisher.is_empty() {
        return Err(ArmError::bad_request(
            "InvalidParameter",
            "Required parameter 'imageReference' is missing (null).",
        )
        .target("imageReference"));
    }
    let found = call.ctx.scenario.platform_images.iter().find(|p| {
        p.publisher.eq_ignore_ascii_case(&publisher)
            && p.offer.eq_ignore_ascii_case(&offer)
            && p.sku.eq_ignore_ascii_case(&sku)
            && (version.eq_ignore_ascii_case("latest") || p.version.eq_ignore_ascii_case(&version))
    });
    let Some(p) = found else {
        return Err(ArmError::new(
            StatusCode::NOT_FOUND,
            "PlatformImageNotFound",
            format!("The platform image '{publisher}:{offer}:{sku}:{version}' is not available. Verify that all fields in the storage profile are correct. For more details about storage profile information, please refer to https://aka.ms/storageprofile"),
        )
        .target("imageReference"));
    };
    Ok(ResolvedImage {
        os_type: p.os_type.clone(),
        os_state: "Generalized".into(),
        os_disk_gb: p.os_disk_size_gb,
        data_disks_gb: vec![],
        exact_version: Some(p.version.clone()),
    })
}
