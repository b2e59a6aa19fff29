//! `api-version`: required on every ARM call (400 `MissingApiVersionParameter`), well formed
//! (400 `InvalidApiVersionParameter`), and one the resource provider serves for the type
//! (400 `NoRegisteredProviderFound`). The lists follow the stable and preview folders of
//! Azure/azure-rest-api-specs for the types simulated here.

use super::{ArmError, Call};
use crate::request::HostRequest;

const COMPUTE: &[&str] = &[
    "2015-06-15",
    "2016-03-30",
    "2016-04-30-preview",
    "2017-03-30",
    "2017-12-01",
    "2018-04-01",
    "2018-06-01",
    "2018-10-01",
    "2019-03-01",
    "2019-07-01",
    "2019-12-01",
    "2020-06-01",
    "2020-12-01",
    "2021-03-01",
    "2021-04-01",
    "2021-07-01",
    "2021-11-01",
    "2022-03-01",
    "2022-08-01",
    "2022-11-01",
    "2023-03-01",
    "2023-07-01",
    "2023-09-01",
    "2024-03-01",
    "2024-07-01",
    "2024-11-01",
    "2025-04-01",
    // Compute/stable/2026-04-01 (ComputeRP.json): what azure-cli 2.91's VM commands send.
    "2026-04-01",
];
/// Compute's resource SKUs (ResourceSkus, `skus.json`), versioned apart from the rest of
/// Compute: `az vm list-skus` sends 2019-04-01.
const COMPUTE_SKUS: &[&str] = &["2017-03-30", "2017-09-01", "2019-04-01", "2021-07-01"];
const GALLERY: &[&str] = &[
    "2018-06-01",
    "2019-03-01",
    "2019-07-01",
    "2019-12-01",
    "2020-09-30",
    "2021-07-01",
    "2021-10-01",
    "2022-01-03",
    "2022-03-03",
    "2022-08-03",
    "2023-07-03",
    "2024-03-03",
    "2025-03-03",
    // GalleryRP/stable/2025-12-03: the newest, with the shared gallery invitations.
    "2025-12-03",
];
/// The direct share invitations (`sharedGallerySubscriptions` and
/// `tenantLevelSharedGallerySubscriptions` accept/reject), new in GalleryRP 2025-12-03.
const GALLERY_INVITES: &[&str] = &["2025-12-03"];
/// `Microsoft.Features` (the `features` spec folders: stable 2015-12-01, 2021-07-01, 2025-03-01).
const FEATURES: &[&str] = &["2015-12-01", "2021-07-01", "2025-03-01"];
const NETWORK: &[&str] = &[
    "2015-06-15",
    "2016-03-30",
    "2016-09-01",
    "2016-12-01",
    "2017-03-01",
    "2017-06-01",
    "2017-08-01",
    "2017-09-01",
    "2017-10-01",
    "2017-11-01",
    "2018-01-01",
    "2018-02-01",
    "2018-04-01",
    "2018-06-01",
    "2018-07-01",
    "2018-08-01",
    "2018-10-01",
    "2018-11-01",
    "2018-12-01",
    "2019-02-01",
    "2019-04-01",
    "2019-06-01",
    "2019-07-01",
    "2019-08-01",
    "2019-09-01",
    "2019-11-01",
    "2019-12-01",
    "2020-03-01",
    "2020-04-01",
    "2020-05-01",
    "2020-06-01",
    "2020-07-01",
    "2020-08-01",
    "2020-11-01",
    "2021-02-01",
    "2021-03-01",
    "2021-05-01",
    "2021-08-01",
    "2022-01-01",
    "2022-05-01",
    "2022-07-01",
    "2022-09-01",
    "2022-11-01",
    "2023-02-01",
    "2023-04-01",
    "2023-05-01",
    "2023-06-01",
    "2023-09-01",
    "2023-11-01",
    "2024-01-01",
    "2024-03-01",
    "2024-05-01",
    "2024-07-01",
    "2024-10-01",
    // Network/stable folders with virtualNetwork.json, checked in the specs repository.
    "2025-01-01",
    "2025-03-01",
    "2025-05-01",
    "2025-07-01",
];
const ROLE_ASSIGNMENTS: &[&str] = &[
    "2015-07-01",
    "2017-10-01-preview",
    "2018-01-01-preview",
    "2018-09-01-preview",
    "2020-03-01-preview",
    "2020-04-01-preview",
    "2020-08-01-preview",
    "2020-10-01-preview",
    "2022-01-01-preview",
    "2022-04-01",
];
const ROLE_DEFINITIONS: &[&str] = &[
    "2015-07-01",
    "2018-01-01-preview",
    "2022-04-01",
    "2022-05-01-preview",
];
const MANAGED_SERVICES: &[&str] = &[
    "2018-06-01-preview",
    "2019-04-01-preview",
    "2019-06-01",
    "2019-09-01",
    "2020-02-01-preview",
    "2022-01-01-preview",
    "2022-10-01",
];
const RESOURCES: &[&str] = &[
    "2016-02-01",
    "2016-07-01",
    "2016-09-01",
    "2017-05-10",
    "2018-02-01",
    "2018-05-01",
    "2019-03-01",
    "2019-05-01",
    "2019-05-10",
    "2019-07-01",
    "2019-08-01",
    "2019-10-01",
    "2020-06-01",
    "2020-08-01",
    "2020-10-01",
    "2021-01-01",
    "2021-04-01",
    "2022-09-01",
    "2023-07-01",
    "2024-03-01",
    "2024-07-01",
    "2024-11-01",
    "2025-03-01",
    "2025-04-01",
];

/// `Microsoft.Resources` subscriptions, tenants and locations (their own spec folder,
/// `specification/resources/resource-manager/Microsoft.Resources/subscriptions/stable`).
const SUBSCRIPTIONS: &[&str] = &[
    "2015-11-01",
    "2016-06-01",
    "2018-06-01",
    "2019-06-01",
    "2019-11-01",
    "2020-01-01",
    "2021-01-01",
    "2022-12-01",
];

/// The versions served for a (lower-case) type, if the simulator tracks them.
pub fn supported(full_type: &str) -> Option<&'static [&'static str]> {
    let t = full_type.to_ascii_lowercase();
    if t.starts_with("microsoft.compute/locations/sharedgallerysubscriptions")
        || t.starts_with("microsoft.compute/locations/tenantlevelsharedgallerysubscriptions")
    {
        Some(GALLERY_INVITES)
    } else if t.starts_with("microsoft.features/") {
        Some(FEATURES)
    } else if t.starts_with("microsoft.compute/galleries")
        || t.starts_with("microsoft.compute/locations/sharedgalleries")
        || t.starts_with("microsoft.compute/locations/capsoperations")
    {
        Some(GALLERY)
    } else if t == "microsoft.compute/skus" {
        Some(COMPUTE_SKUS)
    } else if t.starts_with("microsoft.compute/") {
        Some(COMPUTE)
    } else if t.starts_with("microsoft.network/") {
        Some(NETWORK)
    } else if t == "microsoft.authorization/roleassignments" {
        Some(ROLE_ASSIGNMENTS)
    } else if t.starts_with("microsoft.authorization/") {
        Some(ROLE_DEFINITIONS)
    } else if t.starts_with("microsoft.managedservices/") {
        Some(MANAGED_SERVICES)
    } else if t.is_empty() || t.starts_with("microsoft.resources/") {
        Some(RESOURCES)
    } else {
        None
    }
}

fn well_formed(v: &str) -> bool {
    let (date, suffix) = v.split_at(v.len().min(10));
    let b = date.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        })
        && (suffix.is_empty()
            || ["-preview", "-beta", "-privatepreview", "-alpha"]
                .iter()
                .any(|s| suffix.eq_ignore_ascii_case(s)))
}

/// The `api-version`, present and well formed.
pub fn require(req: &HostRequest) -> Result<String, ArmError> {
    let Some(v) = req.query_param("api-version").filter(|v| !v.is_empty()) else {
        return Err(ArmError::bad_request(
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        ));
    };
    if !well_formed(&v) {
        return Err(ArmError::bad_request(
            "InvalidApiVersionParameter",
            format!(
                "The api-version '{v}' is invalid. The supported versions are '{}'.",
                RESOURCES
                    .iter()
                    .rev()
                    .copied()
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        ));
    }
    Ok(v)
}

/// 400 when the provider does not serve this version for the type.
pub fn check_supported(call: &Call<'_>) -> Result<(), ArmError> {
    let full = call.path.full_type();
    let segments = &call.path.segments;
    // `/tenants`, `/subscriptions`, `/subscriptions/{s}` and `/subscriptions/{s}/locations`
    // are the subscriptions API, versioned apart from resource groups and deployments.
    let subscriptions_api = call.path.provider.is_none()
        && match segments.first().map(|s| s.to_ascii_lowercase()).as_deref() {
            Some("tenants") => segments.len() == 1,
            Some("subscriptions") => {
                segments.len() <= 2
                    || (segments.len() == 3 && segments[2].eq_ignore_ascii_case("locations"))
            }
            _ => false,
        };
    // Resource Manager answers these paths itself; the subscriptions spec's versions are
    // served beside Microsoft.Resources' own (assumed: the subscriptions type is registered
    // with both lists; the CLI sends the subscriptions spec's 2022-12-01).
    if subscriptions_api
        && SUBSCRIPTIONS
            .iter()
            .any(|v| v.eq_ignore_ascii_case(&call.api_version))
    {
        return Ok(());
    }
    // `/subscriptions/{s}/providers/{namespace}` is Microsoft.Resources' Providers API.
    let provider_read = call
        .path
        .provider
        .as_ref()
        .is_some_and(|p| p.types.is_empty());
    let list = if provider_read {
        Some(RESOURCES)
    } else if super::features::serves(call) {
        // `.../providers/Microsoft.Features/providers/{ns}/features/...` is Microsoft.Features'.
        Some(FEATURES)
    } else {
        supported(&full)
    };
    let Some(list) = list else {
        return Ok(());
    };
    if list
        .iter()
        .any(|v| v.eq_ignore_ascii_case(&call.api_version))
    {
        return Ok(());
    }
    let versions = list.iter().rev().copied().collect::<Vec<_>>().join(",");
    let Some(p) = call.path.provider.as_ref() else {
        return Err(ArmError::bad_request(
            "InvalidApiVersionParameter",
            format!(
                "The api-version '{}' is invalid. The supported versions are '{versions}'.",
                call.api_version
            ),
        ));
    };
    Err(ArmError::bad_request(
        "NoRegisteredProviderFound",
        format!(
            "No registered resource provider found for location 'eastus' and API version '{}' for type '{}'. The supported api-versions are '{versions}'. The supported locations are 'eastus, eastus2, westus, westus2, westus3, centralus, northeurope, westeurope, japaneast, japanwest'.",
            call.api_version,
            p.types.join("/")
        ),
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn versions_are_dates_with_an_optional_preview_suffix() {
        assert!(super::well_formed("2024-07-01"));
        assert!(super::well_formed("2018-01-01-preview"));
        assert!(!super::well_formed("2024-7-1"));
        assert!(!super::well_formed("latest"));
        assert!(!super::well_formed("2024-07-01-foo"));
    }
}
