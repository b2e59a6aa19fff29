//! Accepting a direct share for the consumer's tenant (GalleryRP 2025-12-03,
//! `TenantLevelGallerySharing_Accept`). Whether a share must be accepted before
//! `sharedGalleryImageId` works is not documented (azure-facts §3); the notice tells the admin
//! how, and with a `vm` section, whose approval covers using the share, CreateVm accepts on
//! the admin's behalf as the app before it creates the VM. The call is idempotent: accepting
//! an accepted share answers `Accepted` again.

use serde_json::json;

use super::{Run, StepError};
use crate::{
    azure::arm::ArmIdentity,
    domain::{DirectShareRecord, ShareRequest},
};

/// The api-version that added accepting a share invitation.
pub(super) const ACCEPT_API: &str = "2025-12-03";

/// The tenant-level accept action's path for the request's gallery.
pub(super) fn accept_path(request: &ShareRequest, record: &DirectShareRecord) -> String {
    format!(
        "/providers/Microsoft.Compute/locations/{}/tenantLevelSharedGallerySubscriptions/{}/sharedGalleries/{}/accept",
        record.location.replace(' ', "").to_ascii_lowercase(),
        request.image.as_resource_id().subscription(),
        request.image.gallery()
    )
}

/// What accepting on the admin's behalf came to.
pub(in crate::steps) enum Accepted {
    /// Azure says the share is accepted.
    Yes,
    /// Azure refused the app the accept (a 403: the admin must accept, or need not); the VM
    /// is tried all the same, and its refusal says what to do.
    Refused(String),
}

/// Accepts the share for the consumer's tenant as `who` (the app, signed in there).
pub(in crate::steps) async fn on_behalf(
    run: &Run<'_>,
    request: &ShareRequest,
    who: &ArmIdentity,
) -> Result<Accepted, StepError> {
    let record = request.progress.direct_share.clone().unwrap_or_default();
    let path = accept_path(request, &record);
    match run
        .cloud()?
        .arm
        .post_action(who, &path, ACCEPT_API, json!({}))
        .await
    {
        Ok(_) => Ok(Accepted::Yes),
        Err(e) if e.status() == Some(403) => Ok(Accepted::Refused(e.to_string())),
        Err(e) => Err(e.into()),
    }
}
