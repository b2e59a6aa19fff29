//! The Resource Manager part of a scenario: gallery contents, images a VM may boot from,
//! and how ARM paces, pages and throttles.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A Compute Gallery.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GallerySpec {
    /// ARM resource id.
    pub id: String,
    /// Region.
    pub location: String,
    /// `identifier.uniqueName`; absent: `{subscriptionId}-{NAME}` as ARM forms it.
    #[serde(default)]
    pub unique_name: Option<String>,
    /// `sharingProfile.permissions`: `Private` (default) or `Groups`.
    #[serde(default = "private")]
    pub sharing_permissions: String,
    /// Subscriptions the gallery is shared with (direct shared gallery).
    #[serde(default)]
    pub shared_with_subscriptions: Vec<String>,
    /// Tenants the gallery is shared with.
    #[serde(default)]
    pub shared_with_tenants: Vec<String>,
}

fn private() -> String {
    "Private".to_owned()
}

/// A `Features` entry of an image definition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImageFeatureSpec {
    /// `SecurityType`, `IsAcceleratedNetworkSupported`, ...
    pub name: String,
    /// Its value.
    pub value: String,
}

/// A gallery image definition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GalleryImageSpec {
    /// ARM resource id (`.../galleries/{g}/images/{i}`).
    pub id: String,
    /// Region; absent: the gallery's.
    #[serde(default)]
    pub location: Option<String>,
    /// `Linux` or `Windows`.
    pub os_type: String,
    /// `Generalized` or `Specialized`.
    pub os_state: String,
    /// `V1` or `V2`.
    #[serde(default = "v1")]
    pub hyper_v_generation: String,
    /// `identifier.publisher`.
    pub publisher: String,
    /// `identifier.offer`.
    pub offer: String,
    /// `identifier.sku`.
    pub sku: String,
    /// `features`.
    #[serde(default)]
    pub features: Vec<ImageFeatureSpec>,
    /// `x64` or `Arm64`.
    #[serde(default = "x64")]
    pub architecture: String,
}

fn v1() -> String {
    "V1".to_owned()
}

fn x64() -> String {
    "x64".to_owned()
}

/// A gallery image version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GalleryImageVersionSpec {
    /// ARM resource id.
    pub id: String,
    /// Region of the gallery.
    pub location: String,
    /// Regions it is replicated to (display names, as ARM reports them).
    pub target_regions: Vec<String>,
    /// `Linux` or `Windows` (used when no image definition is declared).
    pub os_type: String,
    /// `Generalized` or `Specialized` (likewise).
    pub os_state: String,
    /// OS disk size (`storageProfile.osDiskImage.sizeInGB`); absent: 30.
    #[serde(default)]
    pub os_disk_size_gb: Option<u32>,
    /// Data disk sizes, by LUN from 0.
    #[serde(default)]
    pub data_disk_sizes_gb: Vec<u32>,
    /// A disk encryption set (customer-managed key) its OS disk image is encrypted with in
    /// every target region (`targetRegions[].encryption.osDiskImage.diskEncryptionSetId`).
    #[serde(default)]
    pub disk_encryption_set_id: Option<String>,
}

/// A managed image (`Microsoft.Compute/images`), a source for gallery image versions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ManagedImageSpec {
    /// ARM resource id.
    pub id: String,
    /// Region.
    pub location: String,
    /// `Linux` or `Windows`.
    pub os_type: String,
    /// OS disk size in GB.
    pub os_disk_size_gb: u32,
    /// Data disk sizes, by LUN from 0.
    #[serde(default)]
    pub data_disk_sizes_gb: Vec<u32>,
}

/// A marketplace (platform) image a VM may name by publisher, offer and SKU.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlatformImageSpec {
    /// Publisher (`MicrosoftWindowsServer`).
    pub publisher: String,
    /// Offer (`WindowsServer`).
    pub offer: String,
    /// SKU (`2016-Datacenter`).
    pub sku: String,
    /// The version `latest` resolves to (`exactVersion`).
    pub version: String,
    /// `Linux` or `Windows`.
    pub os_type: String,
    /// OS disk size in GB.
    pub os_disk_size_gb: u32,
}

/// ARM's per-principal request budgets (a fixed window per principal and subscription).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArmThrottling {
    /// GETs allowed per window.
    pub reads: u32,
    /// PUT, PATCH and POST requests allowed per window.
    pub writes: u32,
    /// DELETEs allowed per window.
    pub deletes: u32,
    /// Window length in seconds.
    pub window_seconds: u32,
}

impl Default for ArmThrottling {
    /// The per-hour limits behind the recorded `x-ms-ratelimit-remaining-subscription-*`
    /// values (11999 reads, 1199 writes, 14999 deletes after one request).
    fn default() -> Self {
        Self {
            reads: 12_000,
            writes: 1_200,
            deletes: 15_000,
            window_seconds: 3_600,
        }
    }
}

/// One token bucket: `bucket` tokens at most, `refillPerSecond` back each second.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Bucket {
    /// Bucket size (the burst).
    pub bucket: u32,
    /// Tokens refilled per second.
    pub refill_per_second: u32,
}

impl Bucket {
    /// `bucket` tokens, `refill_per_second` back each second.
    pub const fn new(bucket: u32, refill_per_second: u32) -> Self {
        Self {
            bucket,
            refill_per_second,
        }
    }
}

fn reads_bucket() -> Bucket {
    Bucket::new(250, 25)
}

fn writes_bucket() -> Bucket {
    Bucket::new(200, 10)
}

fn fifteen() -> u32 {
    15
}

/// Resource Manager's regional token buckets, which Microsoft moved subscriptions to in 2024
/// ("Understand how Azure Resource Manager throttles requests", learn.microsoft.com, ms.date
/// 2025-05-28): per subscription, per service principal and per operation type, a global
/// subscription bucket `globalMultiplier` times as large (and as fast) across all principals,
/// and the tenant-level buckets for requests without a subscription. Every default is the
/// documented figure; `{}` enables them as documented. When set, it replaces the hourly
/// [`ArmThrottling`] windows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArmRegionalThrottling {
    /// Subscription reads per principal (250, 25/s).
    #[serde(default = "reads_bucket")]
    pub reads: Bucket,
    /// Subscription writes per principal (200, 10/s).
    #[serde(default = "writes_bucket")]
    pub writes: Bucket,
    /// Subscription deletes per principal (200, 10/s).
    #[serde(default = "writes_bucket")]
    pub deletes: Bucket,
    /// Tenant-level reads per principal (250, 25/s).
    #[serde(default = "reads_bucket")]
    pub tenant_reads: Bucket,
    /// Tenant-level writes per principal (200, 10/s).
    #[serde(default = "writes_bucket")]
    pub tenant_writes: Bucket,
    /// Tenant-level deletes per principal (200, 10/s).
    #[serde(default = "writes_bucket")]
    pub tenant_deletes: Bucket,
    /// The global subscription bucket, across principals, per operation type: this many
    /// times the principal's bucket and refill (15).
    #[serde(default = "fifteen")]
    pub global_multiplier: u32,
}

impl Default for ArmRegionalThrottling {
    fn default() -> Self {
        Self {
            reads: reads_bucket(),
            writes: writes_bucket(),
            deletes: writes_bucket(),
            tenant_reads: reads_bucket(),
            tenant_writes: writes_bucket(),
            tenant_deletes: writes_bucket(),
            global_multiplier: fifteen(),
        }
    }
}

/// How Resource Manager paces long-running operations, pages lists and throttles.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArmSettings {
    /// `InProgress` answers a VM create gives before it ends (3 in the recording).
    #[serde(default = "three")]
    pub vm_provisioning_polls: u32,
    /// `InProgress` answers a virtual network, public IP or NSG create gives (1 recorded).
    #[serde(default = "one")]
    pub network_provisioning_polls: u32,
    /// `InProgress` answers a gallery image version create gives (1 recorded).
    #[serde(default = "one")]
    pub image_version_provisioning_polls: u32,
    /// Overrides every `Retry-After` ARM sends (absent: the recorded 3, 10 and 50 seconds).
    #[serde(default)]
    pub retry_after_seconds: Option<u32>,
    /// Items per page of a list; more come through `nextLink`.
    #[serde(default = "page_size")]
    pub page_size: u32,
    /// Request budgets per principal and subscription.
    #[serde(default)]
    pub throttling: ArmThrottling,
    /// Resource Manager's regional token buckets (absent, the default: the hourly
    /// `throttling` windows apply instead).
    #[serde(default)]
    pub regional_throttling: Option<ArmRegionalThrottling>,
    /// Whether a direct share must be accepted (`.../sharedGalleries/{g}/accept`, API
    /// 2025-12-03) before the consumer's reads and VMs may use it. Not documented either way;
    /// default `false`: a share works at once, as before that API existed.
    #[serde(default)]
    pub direct_share_requires_accept: bool,
}

fn three() -> u32 {
    3
}

fn one() -> u32 {
    1
}

fn page_size() -> u32 {
    100
}

impl Default for ArmSettings {
    fn default() -> Self {
        Self {
            vm_provisioning_polls: three(),
            network_provisioning_polls: one(),
            image_version_provisioning_polls: one(),
            retry_after_seconds: None,
            page_size: page_size(),
            throttling: ArmThrottling::default(),
            regional_throttling: None,
            direct_share_requires_accept: false,
        }
    }
}

/// VM sizes offered per region (`eastus` -> `["Standard_B2s", ...]`); empty: any size anywhere.
pub type VmSizes = BTreeMap<String, Vec<String>>;

/// Every seeded ARM resource lives in a declared subscription and resource group.
pub(super) fn validate(scenario: &super::Scenario) -> Result<(), super::ScenarioError> {
    let ids = scenario
        .galleries
        .iter()
        .map(|g| g.id.as_str())
        .chain(scenario.gallery_images.iter().map(|i| i.id.as_str()))
        .chain(
            scenario
                .gallery_image_versions
                .iter()
                .map(|v| v.id.as_str()),
        )
        .chain(scenario.managed_images.iter().map(|m| m.id.as_str()));
    for id in ids {
        let parts: Vec<&str> = id.trim_start_matches('/').split('/').collect();
        let declared = match parts.as_slice() {
            [s, sub, r, rg, ..]
                if s.eq_ignore_ascii_case("subscriptions")
                    && r.eq_ignore_ascii_case("resourceGroups") =>
            {
                scenario.subscriptions.iter().any(|x| {
                    x.id.eq_ignore_ascii_case(sub)
                        && x.resource_groups
                            .iter()
                            .any(|g| g.name.eq_ignore_ascii_case(rg))
                })
            }
            _ => false,
        };
        if !declared {
            return Err(super::ScenarioError::Invalid(format!(
                "resource '{id}' is not in a declared subscription and resource group"
            )));
        }
    }
    for a in &scenario.role_assignments {
        if crate::arm::rbac::roles::resolve(&a.role).is_none() {
            return Err(super::ScenarioError::Invalid(format!(
                "role assignment for '{}' names unknown role '{}'",
                a.principal_id, a.role
            )));
        }
    }
    Ok(())
}
