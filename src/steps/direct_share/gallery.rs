//! The gallery calls of `direct-share`, as the Compute Gallery REST API defines them
//! (`GalleryRP/stable/2025-03-03`: `Galleries_Get`, `GallerySharingProfile_Update`).

use serde_json::{Value, json};

use super::{Run, StepError};
use crate::{azure::arm::ArmIdentity, domain::ShareRequest};

/// The Compute Gallery api-version of the gallery reads and the `share` action.
pub(super) const GALLERY_API: &str = "2025-03-03";

/// The gallery of the request's image.
pub(super) fn gallery_id(request: &ShareRequest) -> String {
    request.image.gallery_id().to_string()
}

/// The gallery with its sharing groups: a plain GET leaves `sharingProfile.groups` out, and
/// `$expand=SharingProfile/Groups` brings them (`Gallery_Get_WithExpandSharingProfileGroups`).
pub(super) async fn read(run: &Run<'_>, id: &str) -> Result<Option<Value>, StepError> {
    Ok(run
        .cloud()?
        .arm
        .get(
            &ArmIdentity::Operator,
            &format!("{id}?$expand=SharingProfile/Groups"),
            GALLERY_API,
        )
        .await?)
}

/// The body of `POST {gallery}/share` for this tenant only: `Add` or `Remove` (never `Reset`,
/// which would drop every other tenant's share).
pub(super) fn share_body(operation: &str, tenant: &str) -> Value {
    json!({
        "operationType": operation,
        "groups": [{"type": "AADTenants", "ids": [tenant]}]
    })
}

/// `properties.sharingProfile.permissions` (`Private` when absent, as Azure defaults).
pub(super) fn permissions(gallery: &Value) -> &str {
    gallery
        .pointer("/properties/sharingProfile/permissions")
        .and_then(Value::as_str)
        .unwrap_or("Private")
}

/// The ids of one group type in the gallery's sharing profile.
pub(super) fn shared_with<'a>(gallery: &'a Value, group_type: &str) -> Vec<&'a str> {
    gallery
        .pointer("/properties/sharingProfile/groups")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|g| {
            g["type"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case(group_type))
        })
        .filter_map(|g| g["ids"].as_array())
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// Whether `tenant` is in the gallery's `AADTenants` group.
pub(super) fn shares_with_tenant(gallery: &Value, tenant: &str) -> bool {
    shared_with(gallery, "AADTenants")
        .iter()
        .any(|t| t.eq_ignore_ascii_case(tenant))
}

/// `properties.identifier.uniqueName`: the consumer's `/SharedGalleries/{uniqueName}` id.
pub(super) fn unique_name(gallery: &Value) -> Option<&str> {
    gallery
        .pointer("/properties/identifier/uniqueName")
        .and_then(Value::as_str)
}
