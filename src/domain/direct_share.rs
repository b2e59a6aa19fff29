//! What a `direct-share` request shares, for how long, and what the sharing became in Azure:
//! the consumer's tenant in the gallery's sharing profile (an `AADTenants` group), added by
//! `POST {gallery}/share` and removed by the same call with `operationType: Remove`.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{Intent, Removal};

/// The share a `direct-share` request asks for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectSharePlan {
    /// How long the tenant stays in the gallery's sharing profile, in days.
    pub lifetime_days: u32,
}

/// What the ShareGallery and UnshareGallery steps found or made.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectShareRecord {
    /// The gallery's unique name (`properties.identifier.uniqueName`): the consumer's
    /// `/SharedGalleries/{uniqueName}/...` ids are made from it.
    pub unique_name: String,
    /// The gallery's region: the consumer lists and accepts shared galleries per region.
    #[serde(default)]
    pub location: String,
    /// The share operation's status URL while it runs (ARM's `Location`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// When the tenant was confirmed in the sharing profile.
    #[serde(
        with = "time::serde::rfc3339::option",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub shared_at: Option<OffsetDateTime>,
    /// When the tenant is removed again (the lifetime from `shared_at`).
    #[serde(
        with = "time::serde::rfc3339::option",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub expires_at: Option<OffsetDateTime>,
    /// When CreateVm accepted the share for the tenant on the admin's behalf (a request with
    /// a `vm` section), or was refused the accept and went on without it.
    #[serde(
        with = "time::serde::rfc3339::option",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub accept_tried_at: Option<OffsetDateTime>,
    /// A notice delivery under way (a mail is not sent twice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice_intent: Option<Intent>,
    /// When the admin's notice went out.
    #[serde(
        with = "time::serde::rfc3339::option",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub notice_sent_at: Option<OffsetDateTime>,
    /// What was removed when it ended.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<Removal>,
}

impl DirectShareRecord {
    /// The consumer's id of the shared image version (`sharedGalleryImageId`).
    pub fn shared_image_id(&self, image: &str, version: &str) -> String {
        format!(
            "/SharedGalleries/{}/Images/{image}/Versions/{version}",
            self.unique_name
        )
    }
}
