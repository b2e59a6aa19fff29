//! Direct share invitations (GalleryRP 2025-12-03): a consumer accepts or rejects a gallery
//! shared with its tenant or subscription.
//!
//! - Tenant level (`TenantLevelGallerySharing_Accept` / `_Reject`):
//!   `POST /providers/Microsoft.Compute/locations/{loc}/tenantLevelSharedGallerySubscriptions/{publisherSubscriptionId}/sharedGalleries/{galleryName}/accept|reject`
//!   answers for the caller's tenant (an `AADTenants` share).
//! - Subscription level (`GallerySharing_Accept` / `_Reject`):
//!   `POST /subscriptions/{s}/providers/Microsoft.Compute/locations/{loc}/sharedGallerySubscriptions/{publisherSubscriptionId}/sharedGalleries/{galleryName}/accept|reject`
//!   answers for subscription `{s}` (a `Subscriptions` share).
//!
//! Both answer 200 as the examples do: accept with `{"type", "sharedGallerySubscriptionId",
//! "sharedGalleryName", "location", "status": "Accepted"}`, reject with `{}` (the examples'
//! other answer, 202 + `Location`, is not used). `{galleryName}` is the publisher's gallery
//! name, not its unique name. Not documented, and assumed here: the subscription-level call
//! needs `Microsoft.Compute/locations/sharedGallerySubscriptions/sharedGalleries/{accept|reject}/action`
//! on the subscription (Owner and Contributor hold it through `*`), the tenant-level call needs
//! no role (there is no tenant scope an ordinary principal holds roles at), a gallery not
//! shared with the caller is 404 `ResourceNotFound`, and a rejected share is hidden from the
//! consumer until accepted again.

use http::{Method, StatusCode};
use serde_json::json;

use super::{gallery::GALLERY, shared, shared::Grantee};
use crate::{
    arm::{ArmError, Call, Reply, method_not_allowed, path},
    context::World,
};

/// An accepted invitation.
pub const ACCEPTED: &str = "Accepted";
/// A rejected invitation.
pub const REJECTED: &str = "Rejected";

fn not_found(publisher: &str, gallery: &str, grantee: Grantee<'_>) -> ArmError {
    let to = match grantee {
        Grantee::Subscription(s) => format!("subscription '{s}'"),
        Grantee::Tenant(t) => format!("tenant '{t}'"),
    };
    // Wording assumed.
    ArmError::new(
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        format!(
            "The gallery '{gallery}' of subscription '{publisher}' was not found or is not shared with {to}."
        ),
    )
}

/// Routes the accept and reject calls.
pub fn route(call: &Call<'_>, world: &mut World) -> Result<Reply, ArmError> {
    let Some(p) = &call.path.provider else {
        return Err(method_not_allowed(call));
    };
    let types: Vec<String> = p.types.iter().map(|t| t.to_ascii_lowercase()).collect();
    let types: Vec<&str> = types.iter().map(String::as_str).collect();
    let (tenant_level, action) = match types.as_slice() {
        [
            "locations",
            level @ ("sharedgallerysubscriptions" | "tenantlevelsharedgallerysubscriptions"),
            "sharedgalleries",
            action @ ("accept" | "reject"),
        ] if p.names.len() == 3 && call.req.method == Method::POST => {
            (*level == "tenantlevelsharedgallerysubscriptions", *action)
        }
        _ => return Err(method_not_allowed(call)),
    };
    let [location, publisher, gallery_name] = p.names.as_slice() else {
        return Err(method_not_allowed(call));
    };
    let subscription = call.path.subscription.clone().unwrap_or_default();
    if tenant_level != subscription.is_empty() {
        // A tenant-level path inside a subscription, or a subscription-level one outside.
        return Err(method_not_allowed(call));
    }
    let grantee = if tenant_level {
        Grantee::Tenant(&call.caller.tenant)
    } else {
        call.authorize(
            world,
            &format!("Microsoft.Compute/locations/sharedGallerySubscriptions/sharedGalleries/{action}/action"),
            &format!("/subscriptions/{subscription}"),
        )?;
        Grantee::Subscription(&subscription)
    };
    let gallery = world
        .arm
        .resources
        .values()
        .find(|r| {
            r.kind == GALLERY
                && path::subscription_of(&r.id).is_some_and(|s| s.eq_ignore_ascii_case(publisher))
                && path::last_name(&r.id).eq_ignore_ascii_case(gallery_name)
        })
        .filter(|g| {
            let (subscriptions, tenants) = shared::groups(g);
            match grantee {
                Grantee::Subscription(s) => subscriptions.iter().any(|x| x.eq_ignore_ascii_case(s)),
                Grantee::Tenant(t) => tenants.iter().any(|x| x.eq_ignore_ascii_case(t)),
            }
        })
        .cloned()
        .ok_or_else(|| not_found(publisher, gallery_name, grantee))?;
    let status = if action == "accept" {
        ACCEPTED
    } else {
        REJECTED
    };
    world.arm.invitations.insert(
        shared::invitation_key(&gallery.id, grantee),
        status.to_owned(),
    );
    if action == "reject" {
        return Ok(Reply::ok(json!({})));
    }
    Ok(Reply::ok(json!({
        "type": if tenant_level { "AADTenants" } else { "Subscriptions" },
        "sharedGallerySubscriptionId": path::subscription_of(&gallery.id).unwrap_or_default(),
        "sharedGalleryName": path::last_name(&gallery.id),
        "location": location,
        "status": ACCEPTED,
    })))
}
