//! What ShareGallery checks before touching the gallery, each refusal with what to do: the
//! preview's rules for direct shared galleries (`share-gallery-direct.md`) and the operator
//! identity's right to share.

use serde_json::Value;

use super::{
    Run, StepError,
    gallery::{self, GALLERY_API},
};
use crate::{
    azure::arm::{ArmIdentity, allows},
    domain::ShareRequest,
};

/// The most tenants one gallery may be shared with during the preview.
pub(super) const MAX_TENANTS: usize = 5;

/// The action sharing needs on the gallery (Compute Gallery Sharing Admin, or Owner).
pub(super) const SHARE_ACTION: &str = "Microsoft.Compute/galleries/share/action";

/// The preview feature that gates publishing to a direct shared gallery. Microsoft's doc
/// names only the sign-up form (aka.ms/directsharedgallery-preview); the feature's name is
/// the one Azure's refusal names ("... is not registered for feature
/// Microsoft.Compute/SIGSharing"), as seen when creating a `Groups` gallery.
pub(super) const PREVIEW_FEATURE: &str = "SIGSharing";

const FEATURES_API: &str = "2021-07-01";

/// The refusal for a subscription without the preview, in `state` (as the features API says,
/// or as the share call's `SubscriptionNotRegisteredForFeature` implies).
pub(super) fn not_registered(request: &ShareRequest, state: &str) -> StepError {
    let sub = request.image.as_resource_id().subscription();
    StepError::terminal(format!(
        "Direct sharing is in preview and subscription {sub} is not registered for it (feature Microsoft.Compute/{PREVIEW_FEATURE} is {state}). Microsoft enables it on request: submit the form at https://aka.ms/directsharedgallery-preview for this subscription, check with az feature show --namespace Microsoft.Compute --name {PREVIEW_FEATURE} --subscription {sub} until it says Registered, then submit the request again."
    ))
}

/// Every check, for a request that shares later (with a `vm` section, after the approval).
pub(in crate::steps) async fn gallery_ready(
    run: &Run<'_>,
    request: &ShareRequest,
) -> Result<(), StepError> {
    check(run, request).await.map(|_| ())
}

/// The gallery, once every check passed.
pub(super) async fn check(run: &Run<'_>, request: &ShareRequest) -> Result<Value, StepError> {
    let arm = &run.cloud()?.arm;
    let id = gallery::gallery_id(request);
    let Some(found) = gallery::read(run, &id).await? else {
        return Err(StepError::terminal(format!(
            "The gallery {id} does not exist (or the operator identity cannot read it)."
        )));
    };
    let permissions = gallery::permissions(&found);
    if !permissions.eq_ignore_ascii_case("Groups") {
        return Err(StepError::terminal(format!(
            "The gallery {id} is not shared by groups (sharingProfile.permissions is '{permissions}'); direct sharing needs 'Groups', which during the preview is set when a gallery is created (az sig create --permissions groups). Create a gallery for direct sharing and publish the image there."
        )));
    }
    let tenant = request.consumer.tenant_id.to_string();
    let tenants = gallery::shared_with(&found, "AADTenants");
    if !gallery::shares_with_tenant(&found, &tenant) && tenants.len() >= MAX_TENANTS {
        return Err(StepError::terminal(format!(
            "The gallery {id} is already shared with {} tenants, the preview's limit of {MAX_TENANTS}; remove one (revoke its request) before sharing with another.",
            tenants.len()
        )));
    }

    let subscription = format!(
        "/subscriptions/{}",
        request.image.as_resource_id().subscription()
    );
    let feature = format!(
        "{subscription}/providers/Microsoft.Features/providers/Microsoft.Compute/features/{PREVIEW_FEATURE}"
    );
    // Reading features needs Microsoft.Features/providers/features/read on the subscription,
    // which a least-privilege operator (rights on the gallery's group only) lacks: then the
    // share call itself answers SubscriptionNotRegisteredForFeature, with the same advice.
    let state = match arm
        .get(&ArmIdentity::Operator, &feature, FEATURES_API)
        .await
    {
        Ok(found) => Some(
            found
                .and_then(|f| {
                    f.pointer("/properties/state")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
                .unwrap_or_else(|| "NotRegistered".to_owned()),
        ),
        Err(e) if e.status() == Some(403) => None,
        Err(e) => return Err(e.into()),
    };
    if let Some(state) = state.filter(|s| !s.eq_ignore_ascii_case("Registered")) {
        return Err(not_registered(request, &state));
    }

    let version = request.image.to_string();
    let Some(image) = arm
        .get(&ArmIdentity::Operator, &version, GALLERY_API)
        .await?
    else {
        return Err(StepError::terminal(format!(
            "The image version {version} does not exist (or the operator identity cannot read it)."
        )));
    };
    let region = |v: &Value| {
        v["location"]
            .as_str()
            .unwrap_or_default()
            .replace(' ', "")
            .to_ascii_lowercase()
    };
    if region(&image) != region(&found) {
        return Err(StepError::terminal(format!(
            "The image version {version} is in {}, not in its gallery's home region {}; direct sharing needs the version published in the gallery's region (it may then be replicated elsewhere).",
            image["location"].as_str().unwrap_or("an unknown region"),
            found["location"].as_str().unwrap_or("an unknown region")
        )));
    }
    let encrypted = image
        .pointer("/properties/publishingProfile/targetRegions")
        .and_then(Value::as_array)
        .is_some_and(|regions| regions.iter().any(|r| !r["encryption"].is_null()));
    if encrypted {
        return Err(StepError::terminal(format!(
            "The image version {version} is encrypted with a customer-managed key in at least one region; direct shared galleries do not take encrypted versions during the preview."
        )));
    }

    let rights = match arm.permissions(&ArmIdentity::Operator, &id).await {
        Ok(p) => p,
        Err(e) if e.status() == Some(403) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    if !allows(&rights, SHARE_ACTION) {
        return Err(StepError::terminal(format!(
            "The operator identity may not share the gallery: it lacks {SHARE_ACTION} on {id}. Grant it Compute Gallery Sharing Admin on the gallery (infra: directShareAdmin=true) or Owner."
        )));
    }
    Ok(found)
}
