//! The JSON of galleries, image definitions, image versions and managed images as Compute
//! answers them (the recorded 2021-07-01 shapes), and the scenario's seed of them.

use serde_json::{Value, json};
use time::OffsetDateTime;

use super::region_display;
use crate::{
    arm::{
        Resource,
        path::{self, key},
        reply::compute_time,
    },
    scenario::{GalleryImageVersionSpec, Scenario},
};

pub const GALLERY: &str = "Microsoft.Compute/galleries";
/// Image definitions' type.
pub const IMAGE: &str = "Microsoft.Compute/galleries/images";
/// Image versions' type.
pub const VERSION: &str = "Microsoft.Compute/galleries/images/versions";
/// Managed images' type.
pub const MANAGED_IMAGE: &str = "Microsoft.Compute/images";

/// `{subscriptionId}-{GALLERYNAME}`, as Compute forms `identifier.uniqueName`.
pub fn unique_name_for(id: &str) -> String {
    format!(
        "{}-{}",
        path::subscription_of(id).unwrap_or_default(),
        path::last_name(id).to_ascii_uppercase()
    )
}

/// The JSON of a gallery.
pub fn gallery_body(
    id: &str,
    location: &str,
    unique_name: &str,
    permissions: &str,
    state: &str,
) -> Value {
    json!({
        "name": path::last_name(id),
        "id": id,
        "type": GALLERY,
        "location": location,
        "tags": {},
        "properties": {
            "identifier": {"uniqueName": unique_name},
            "sharingProfile": {"permissions": permissions},
            "provisioningState": state,
            "softDeletePolicy": {"isSoftDeleteEnabled": false},
        },
    })
}

/// What an image definition says.
#[derive(Debug, Clone)]
pub struct ImageFacts {
    /// `Linux` / `Windows`.
    pub os_type: String,
    /// `Generalized` / `Specialized`.
    pub os_state: String,
    /// `V1` / `V2`.
    pub hyper_v_generation: String,
    /// `x64` / `Arm64`.
    pub architecture: String,
    /// Publisher, offer, sku.
    pub identifier: (String, String, String),
    /// `features`.
    pub features: Vec<(String, String)>,
}

/// The JSON of an image definition.
pub fn image_body(id: &str, location: &str, facts: &ImageFacts, state: &str) -> Value {
    let mut props = json!({
        "hyperVGeneration": facts.hyper_v_generation,
        "architecture": facts.architecture,
        "osType": facts.os_type,
        "osState": facts.os_state,
        "identifier": {
            "publisher": facts.identifier.0,
            "offer": facts.identifier.1,
            "sku": facts.identifier.2,
        },
        "recommended": {},
        "provisioningState": state,
    });
    if !facts.features.is_empty() {
        props["features"] = json!(
            facts
                .features
                .iter()
                .map(|(n, v)| json!({"name": n, "value": v}))
                .collect::<Vec<_>>()
        );
    }
    json!({
        "name": path::last_name(id),
        "id": id,
        "type": IMAGE,
        "location": location,
        "tags": {},
        "properties": props,
    })
}

/// What an image version holds.
#[derive(Debug, Clone)]
pub struct VersionFacts {
    /// Target region names as sent or declared.
    pub target_regions: Vec<String>,
    /// Source id, if created from one.
    pub source: Option<String>,
    /// OS disk size.
    pub os_disk_gb: u32,
    /// Data disk sizes by LUN.
    pub data_disks_gb: Vec<u32>,
    /// Excluded from `latest`.
    pub exclude_from_latest: bool,
    /// Published.
    pub published: OffsetDateTime,
    /// The disk encryption set of every target region, if encrypted with a customer key.
    pub disk_encryption_set_id: Option<String>,
}

/// The JSON of an image version (the recorded GET shape).
pub fn version_body(id: &str, location: &str, facts: &VersionFacts, state: &str) -> Value {
    let regions: Vec<Value> = facts
        .target_regions
        .iter()
        .map(|r| {
            let mut region = json!({"name": region_display(r), "regionalReplicaCount": 1, "storageAccountType": "Standard_LRS"});
            if let Some(des) = &facts.disk_encryption_set_id {
                region["encryption"] = json!({"osDiskImage": {"diskEncryptionSetId": des}});
            }
            region
        })
        .collect();
    let mut storage = json!({
        "osDiskImage": {"sizeInGB": facts.os_disk_gb, "hostCaching": "ReadWrite", "source": {}},
        "dataDiskImages": facts.data_disks_gb.iter().enumerate().map(|(lun, gb)| json!({"lun": lun, "sizeInGB": gb, "hostCaching": "None"})).collect::<Vec<_>>(),
    });
    if let Some(s) = &facts.source {
        storage["source"] = json!({"id": s});
    }
    json!({
        "name": path::last_name(id),
        "id": id,
        "type": VERSION,
        "location": location,
        "tags": {},
        "properties": {
            "publishingProfile": {
                "targetRegions": regions,
                "replicaCount": 1,
                "excludeFromLatest": facts.exclude_from_latest,
                "publishedDate": compute_time(facts.published),
                "storageAccountType": "Standard_LRS",
            },
            "storageProfile": storage,
            "provisioningState": state,
        },
    })
}

fn managed_image_body(id: &str, location: &str, os_type: &str, os_gb: u32, data: &[u32]) -> Value {
    json!({
        "name": path::last_name(id),
        "id": id,
        "type": MANAGED_IMAGE,
        "location": location,
        "properties": {
            "storageProfile": {
                "osDisk": {"osType": os_type, "osState": "Generalized", "diskSizeGB": os_gb, "caching": "ReadWrite", "storageAccountType": "Standard_LRS"},
                "dataDisks": data.iter().enumerate().map(|(lun, gb)| json!({"lun": lun, "diskSizeGB": gb, "caching": "None", "storageAccountType": "Standard_LRS"})).collect::<Vec<_>>(),
                "zoneResilient": false,
            },
            "provisioningState": "Succeeded",
            "hyperVGeneration": "V1",
        },
    })
}

fn implied_facts(v: &GalleryImageVersionSpec) -> ImageFacts {
    let image = path::last_name(&path::parent_of(&v.id)).to_owned();
    ImageFacts {
        os_type: v.os_type.clone(),
        os_state: v.os_state.clone(),
        hyper_v_generation: "V1".into(),
        architecture: "x64".into(),
        identifier: ("azure-sim".into(), image.clone(), image),
        features: vec![],
    }
}

/// The scenario's galleries, images, versions and managed images.
pub fn seed(scenario: &Scenario, now: OffsetDateTime) -> Vec<Resource> {
    let published = now - time::Duration::days(7);
    let mut out: Vec<Resource> = vec![];
    let has = |out: &Vec<Resource>, id: &str| out.iter().any(|r| key(&r.id) == key(id));
    for g in &scenario.galleries {
        let unique = g
            .unique_name
            .clone()
            .unwrap_or_else(|| unique_name_for(&g.id));
        let mut r = Resource::new(
            &g.id,
            GALLERY,
            gallery_body(
                &g.id,
                &g.location,
                &unique,
                &g.sharing_permissions,
                "Succeeded",
            ),
            now,
        );
        r.internal =
            json!({"subscriptions": g.shared_with_subscriptions, "tenants": g.shared_with_tenants});
        out.push(r);
    }
    for i in &scenario.gallery_images {
        let gallery_id = path::parent_of(&i.id);
        let location = i.location.clone().or_else(|| {
            scenario
                .galleries
                .iter()
                .find(|g| key(&g.id) == key(&gallery_id))
                .map(|g| g.location.clone())
        });
        let location = location.unwrap_or_else(|| "eastus".into());
        if !has(&out, &gallery_id) {
            let body = gallery_body(
                &gallery_id,
                &location,
                &unique_name_for(&gallery_id),
                "Private",
                "Succeeded",
            );
            out.push(Resource::new(&gallery_id, GALLERY, body, now));
        }
        let facts = ImageFacts {
            os_type: i.os_type.clone(),
            os_state: i.os_state.clone(),
            hyper_v_generation: i.hyper_v_generation.clone(),
            architecture: i.architecture.clone(),
            identifier: (i.publisher.clone(), i.offer.clone(), i.sku.clone()),
            features: i
                .features
                .iter()
                .map(|f| (f.name.clone(), f.value.clone()))
                .collect(),
        };
        out.push(Resource::new(
            &i.id,
            IMAGE,
            image_body(&i.id, &location, &facts, "Succeeded"),
            now,
        ));
    }
    for v in &scenario.gallery_image_versions {
        let image_id = path::parent_of(&v.id);
        let gallery_id = path::parent_of(&image_id);
        if !has(&out, &gallery_id) {
            let body = gallery_body(
                &gallery_id,
                &v.location,
                &unique_name_for(&gallery_id),
                "Private",
                "Succeeded",
            );
            out.push(Resource::new(&gallery_id, GALLERY, body, now));
        }
        if !has(&out, &image_id) {
            out.push(Resource::new(
                &image_id,
                IMAGE,
                image_body(&image_id, &v.location, &implied_facts(v), "Succeeded"),
                now,
            ));
        }
        let facts = VersionFacts {
            target_regions: v.target_regions.clone(),
            source: None,
            os_disk_gb: v.os_disk_size_gb.unwrap_or(30),
            data_disks_gb: v.data_disk_sizes_gb.clone(),
            exclude_from_latest: false,
            published,
            disk_encryption_set_id: v.disk_encryption_set_id.clone(),
        };
        out.push(Resource::new(
            &v.id,
            VERSION,
            version_body(&v.id, &v.location, &facts, "Succeeded"),
            now,
        ));
    }
    for m in &scenario.managed_images {
        let body = managed_image_body(
            &m.id,
            &m.location,
            &m.os_type,
            m.os_disk_size_gb,
            &m.data_disk_sizes_gb,
        );
        out.push(Resource::new(&m.id, MANAGED_IMAGE, body, now));
    }
    out
}
