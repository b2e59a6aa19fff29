//! Direct shared galleries: `POST .../galleries/{g}/share` (Add, Remove, Reset for
//! subscriptions and tenants; 202 with both an `Azure-AsyncOperation` and a `monitor=true`
//! `Location`, as recorded) and the consumer view under
//! `/subscriptions/{s}/providers/Microsoft.Compute/locations/{loc}/sharedGalleries/...`
//! (minimal objects: `identifier.uniqueId`, no `id`, no provisioningState).
//!
//! The share is the permission: a consumer reads the proxy resources and boots VMs from them
//! with its own token and no RBAC on the gallery, when its subscription or its subscription's
//! tenant is in the gallery's groups and — with `arm.directShareRequiresAccept` — has accepted
//! the invitation (see [`super::invites`]). A rejected invitation hides the gallery until it
//! is accepted again; removing a grantee forgets its answer.

use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::{
    gallery::{GALLERY, IMAGE, VERSION},
    region_key,
};
use crate::{
    arm::{
        ArmError, Call, Reply, Resource, features, lro, method_not_allowed,
        path::{self, key},
        resources::{page, resource_not_found},
        throttle,
    },
    context::World,
};

/// At most this many tenants in a gallery's `AADTenants` group (preview limit, docs).
pub const MAX_TENANTS: usize = 5;
/// At most this many subscriptions in its `Subscriptions` group (preview limit, docs).
pub const MAX_SUBSCRIPTIONS: usize = 30;

/// Who a gallery is shared with: a subscription or a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grantee<'a> {
    /// A `Subscriptions` group member.
    Subscription(&'a str),
    /// An `AADTenants` group member.
    Tenant(&'a str),
}

/// The key of a grantee's answer to a gallery's invitation in `ArmState::invitations`.
pub fn invitation_key(gallery_id: &str, grantee: Grantee<'_>) -> String {
    let (kind, id) = match grantee {
        Grantee::Subscription(s) => ("subscriptions", s),
        Grantee::Tenant(t) => ("aadtenants", t),
    };
    format!("{}|{kind}|{}", key(gallery_id), id.to_ascii_lowercase())
}

/// The subscriptions and tenants a gallery is shared with.
pub fn groups(gallery: &Resource) -> (Vec<String>, Vec<String>) {
    (
        ids(&gallery.internal, "subscriptions"),
        ids(&gallery.internal, "tenants"),
    )
}

/// `sharingProfile` with its groups, as `$select=Permissions` shows it.
pub fn sharing_profile(gallery: &Resource) -> Value {
    let mut profile = gallery.body["properties"]["sharingProfile"].clone();
    if !profile.is_object() {
        profile = json!({"permissions": "Private"});
    }
    let (subscriptions, tenants) = groups(gallery);
    let mut list = vec![];
    for (ty, members) in [("Subscriptions", subscriptions), ("AADTenants", tenants)] {
        if !members.is_empty() {
            list.push(json!({"type": ty, "ids": members}));
        }
    }
    profile["groups"] = json!(list);
    profile
}

fn ids(internal: &Value, group: &str) -> Vec<String> {
    internal[group]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// Adds `sharingProfile.groups` to a gallery body (`$select=Permissions`,
/// `$expand=SharingProfile/Groups`).
pub fn add_groups(world: &World, id: &str, body: &mut Value) {
    let Some(r) = world.arm.get(id) else {
        return;
    };
    body["properties"]["sharingProfile"] = sharing_profile(r);
}

/// 400 for a subscription that is not admitted to the direct sharing preview. The sentence up
/// to the feature name is what Compute answers (quoted in a 2025 walkthrough of `az sig
/// create --permissions Groups`); the code and the tail are Resource Manager's for a feature
/// gate (`SubscriptionNotRegisteredForFeature`, as Network answers) — assumed for Compute.
pub fn feature_not_registered(subscription: &str) -> ArmError {
    ArmError::bad_request(
        "SubscriptionNotRegisteredForFeature",
        format!(
            "Subscription {subscription} is not registered for feature {} required to carry out the requested operation.",
            features::SIG_SHARING
        ),
    )
}

/// 400 when an Add would exceed the preview's limits (the limits are documented; the code and
/// wording are assumed).
fn too_many(gallery_id: &str, what: &str, limit: usize, count: usize) -> ArmError {
    ArmError::bad_request(
        "OperationNotAllowed",
        format!(
            "The gallery '{}' can be shared with at most {limit} {what}; this request would share it with {count}.",
            path::last_name(gallery_id)
        ),
    )
}

/// `POST .../galleries/{g}/share`.
pub fn share(call: &Call<'_>, world: &mut World, gallery_id: &str) -> Result<Reply, ArmError> {
    call.authorize(
        world,
        "Microsoft.Compute/galleries/share/action",
        gallery_id,
    )?;
    crate::arm::resources::ensure_scope(world, &path::parent_of(gallery_id))?;
    let Some(gallery) = world.arm.get(gallery_id).cloned() else {
        return Err(resource_not_found(gallery_id));
    };
    let body = call.body()?;
    let operation = body
        .get("operationType")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let permissions = gallery.body["properties"]["sharingProfile"]["permissions"]
        .as_str()
        .unwrap_or("Private");
    if !matches!(
        operation.as_str(),
        "Add" | "Remove" | "Reset" | "EnableCommunity"
    ) {
        return Err(ArmError::bad_request(
            "InvalidParameter",
            format!("The value '{operation}' of parameter 'operationType' is not allowed. Allowed values are 'Add', 'Remove', 'Reset', 'EnableCommunity'."),
        )
        .target("operationType"));
    }
    if operation != "EnableCommunity" && !permissions.eq_ignore_ascii_case("Groups") {
        // Wording assumed; Compute refuses to share a gallery created with Private permissions.
        return Err(ArmError::bad_request(
            "OperationNotAllowed",
            format!(
                "Gallery sharing profile update is only allowed for a gallery whose sharingProfile.permissions is 'Groups'; '{}' has '{permissions}'.",
                path::last_name(gallery_id)
            ),
        ));
    }
    let sub = call.path.subscription.clone().unwrap_or_default();
    // Not documented which operations the preview gate covers; assumed all of them (the
    // subscription could not have made the gallery `Groups` without the feature).
    if operation != "EnableCommunity"
        && !features::is_registered(world, &sub, features::SIG_SHARING)
    {
        return Err(feature_not_registered(&sub));
    }
    let quota = throttle::charge_compute(world, &sub, throttle::SHARE_GALLERY, call.now)?;
    let (before_subscriptions, before_tenants) = groups(&gallery);
    let mut subscriptions = before_subscriptions.clone();
    let mut tenants = before_tenants.clone();
    if operation == "Reset" {
        subscriptions.clear();
        tenants.clear();
    }
    for g in body
        .get("groups")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let list = match g["type"].as_str() {
            Some(t) if t.eq_ignore_ascii_case("Subscriptions") => &mut subscriptions,
            Some(t) if t.eq_ignore_ascii_case("AADTenants") => &mut tenants,
            other => {
                return Err(ArmError::bad_request(
                    "InvalidParameter",
                    format!(
                        "The value '{}' of parameter 'groups.type' is not allowed. Allowed values are 'Subscriptions', 'AADTenants'.",
                        other.unwrap_or_default()
                    ),
                ));
            }
        };
        for id in g["ids"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            let present = list.iter().position(|x| x.eq_ignore_ascii_case(id));
            match (operation.as_str(), present) {
                ("Add", None) => list.push(id.to_owned()),
                ("Remove", Some(i)) => {
                    list.remove(i);
                }
                _ => {}
            }
        }
    }
    if tenants.len() > MAX_TENANTS {
        return Err(too_many(gallery_id, "tenants", MAX_TENANTS, tenants.len()));
    }
    if subscriptions.len() > MAX_SUBSCRIPTIONS {
        return Err(too_many(
            gallery_id,
            "subscriptions",
            MAX_SUBSCRIPTIONS,
            subscriptions.len(),
        ));
    }
    // A grantee that is no longer in the groups gets a new invitation if it is added again.
    let gone = before_subscriptions
        .iter()
        .filter(|s| !subscriptions.iter().any(|x| x.eq_ignore_ascii_case(s)))
        .map(|s| invitation_key(gallery_id, Grantee::Subscription(s)))
        .chain(
            before_tenants
                .iter()
                .filter(|t| !tenants.iter().any(|x| x.eq_ignore_ascii_case(t)))
                .map(|t| invitation_key(gallery_id, Grantee::Tenant(t))),
        )
        .collect::<Vec<_>>();
    for k in gone {
        world.arm.invitations.remove(&k);
    }
    if let Some(r) = world.arm.get_mut(gallery_id) {
        r.internal = json!({"subscriptions": subscriptions, "tenants": tenants});
    }
    let location = gallery.location().unwrap_or("eastus").to_owned();
    let op = lro::Operation::new(call, lro::Style::Caps, &location, None, 0);
    let urls = lro::start(world, op);
    Ok(Reply::empty(StatusCode::ACCEPTED)
        .header("azure-asyncoperation", urls.async_operation)
        .header("location", urls.location)
        .header("x-ms-ratelimit-remaining-resource", quota))
}

/// True when `grantee` is in the gallery's groups and may use the share: it has not rejected
/// the invitation and, when the scenario requires it, has accepted it.
pub fn admits(
    world: &World,
    requires_accept: bool,
    gallery: &Resource,
    grantee: Grantee<'_>,
) -> bool {
    let (subscriptions, tenants) = groups(gallery);
    let member = match grantee {
        Grantee::Subscription(s) => subscriptions.iter().any(|x| x.eq_ignore_ascii_case(s)),
        Grantee::Tenant(t) => tenants.iter().any(|x| x.eq_ignore_ascii_case(t)),
    };
    if !member {
        return false;
    }
    match world
        .arm
        .invitations
        .get(&invitation_key(&gallery.id, grantee))
        .map(String::as_str)
    {
        Some(super::invites::ACCEPTED) => true,
        Some(_) => false,
        None => !requires_accept,
    }
}

/// True when `gallery` may be used from `subscription` (with `tenant`, also through a share
/// with that tenant).
pub fn shared_with(
    world: &World,
    requires_accept: bool,
    gallery: &Resource,
    subscription: &str,
    tenant: Option<&str>,
) -> bool {
    (!subscription.is_empty()
        && admits(
            world,
            requires_accept,
            gallery,
            Grantee::Subscription(subscription),
        ))
        || tenant.is_some_and(|t| admits(world, requires_accept, gallery, Grantee::Tenant(t)))
}

/// The gallery with this `identifier.uniqueName`.
pub fn by_unique_name<'a>(world: &'a World, unique: &str) -> Option<&'a Resource> {
    world.arm.resources.values().find(|r| {
        r.kind == GALLERY
            && r.body["properties"]["identifier"]["uniqueName"]
                .as_str()
                .is_some_and(|u| u.eq_ignore_ascii_case(unique))
    })
}

/// Resolves `/SharedGalleries/{u}/Images/{i}/Versions/{v}` to the image definition's ARM id and
/// the version's name (`latest` as given), when the gallery may be used from `subscription`
/// (or its `tenant`).
pub fn resolve(
    world: &World,
    requires_accept: bool,
    unique_id: &str,
    subscription: &str,
    tenant: &str,
) -> Option<(String, String)> {
    let parts: Vec<&str> = unique_id.trim_matches('/').split('/').collect();
    let [sg, unique, im, image, ve, version] = parts.as_slice() else {
        return None;
    };
    if !sg.eq_ignore_ascii_case("SharedGalleries")
        || !im.eq_ignore_ascii_case("Images")
        || !ve.eq_ignore_ascii_case("Versions")
    {
        return None;
    }
    let gallery = by_unique_name(world, unique)?;
    if !shared_with(world, requires_accept, gallery, subscription, Some(tenant)) {
        return None;
    }
    let image_id = world
        .arm
        .get(&format!("{}/images/{image}", gallery.id))?
        .id
        .clone();
    Some((image_id, (*version).to_owned()))
}

fn visible_at(world: &World, gallery: &Resource, location: &str) -> bool {
    let loc = region_key(location);
    if gallery.location().is_some_and(|l| region_key(l) == loc) {
        return true;
    }
    let prefix = format!("{}/", key(&gallery.id));
    world.arm.resources.iter().any(|(k, r)| {
        k.starts_with(&prefix)
            && r.kind == VERSION
            && r.body["properties"]["publishingProfile"]["targetRegions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|t| t["name"].as_str().is_some_and(|n| region_key(n) == loc))
    })
}

fn shared_gallery_json(unique: &str, location: &str) -> Value {
    json!({"name": unique, "location": location, "identifier": {"uniqueId": format!("/SharedGalleries/{unique}")}})
}

fn shared_image_json(unique: &str, image: &Resource, location: &str) -> Value {
    let name = path::last_name(&image.id);
    let p = &image.body["properties"];
    let mut props = json!({
        "osType": p["osType"],
        "osState": p["osState"],
        "identifier": p["identifier"],
        "recommended": {},
        "hyperVGeneration": p["hyperVGeneration"],
        "architecture": p["architecture"],
    });
    if let Some(f) = p.get("features") {
        props["features"] = f.clone();
    }
    json!({
        "identifier": {"uniqueId": format!("/SharedGalleries/{unique}/Images/{name}")},
        "properties": props,
        "location": location,
        "name": name,
    })
}

fn shared_version_json(unique: &str, image: &str, version: &Resource, location: &str) -> Value {
    let name = path::last_name(&version.id);
    json!({
        "identifier": {"uniqueId": format!("/SharedGalleries/{unique}/Images/{image}/Versions/{name}")},
        "properties": {"publishedDate": version.body["properties"]["publishingProfile"]["publishedDate"]},
        "location": location,
        "name": name,
    })
}

fn not_shared(unique: &str) -> ArmError {
    // Wording assumed: the gallery is unknown to, or not shared with, the caller's subscription.
    ArmError::not_found(
        "ResourceNotFound",
        format!(
            "The shared gallery '{unique}' was not found or is not shared with this subscription."
        ),
    )
}

/// `GET /subscriptions/{s}/providers/Microsoft.Compute/locations/{loc}/sharedGalleries/...`.
pub fn route(call: &Call<'_>, world: &mut World) -> Result<Reply, ArmError> {
    if call.req.method != Method::GET {
        return Err(method_not_allowed(call));
    }
    let Some(p) = &call.path.provider else {
        return Err(method_not_allowed(call));
    };
    let sub = call.path.subscription.clone().unwrap_or_default();
    let root = format!("/subscriptions/{sub}");
    call.authorize(
        world,
        "Microsoft.Compute/locations/sharedGalleries/read",
        &root,
    )?;
    let tenant = call.subscription_tenant(&sub).unwrap_or_default();
    let accept = call.ctx.scenario.arm.direct_share_requires_accept;
    let location = p.names.first().cloned().unwrap_or_default();
    let names = &p.names[1..];
    let to_tenant = call
        .req
        .query_param("sharedTo")
        .is_some_and(|s| s.eq_ignore_ascii_case("tenant"));
    match names {
        [] => {
            let items = world
                .arm
                .resources
                .values()
                .filter(|g| g.kind == GALLERY && visible_at(world, g, &location))
                .filter(|g| {
                    if to_tenant {
                        shared_with(world, accept, g, "", Some(&tenant))
                    } else {
                        shared_with(world, accept, g, &sub, None)
                    }
                })
                .filter_map(|g| g.body["properties"]["identifier"]["uniqueName"].as_str())
                .map(|u| shared_gallery_json(u, &location))
                .collect();
            Ok(Reply::ok(page(call, items)))
        }
        [unique, rest @ ..] => {
            let gallery = by_unique_name(world, unique)
                .filter(|g| shared_with(world, accept, g, &sub, Some(&tenant)))
                .cloned()
                .ok_or_else(|| not_shared(unique))?;
            let unique = gallery.body["properties"]["identifier"]["uniqueName"]
                .as_str()
                .unwrap_or(unique)
                .to_owned();
            let want_list = p.types.len() > p.names.len();
            match rest {
                [] if want_list => {
                    let items = world
                        .arm
                        .children(&gallery.id, IMAGE)
                        .into_iter()
                        .map(|i| shared_image_json(&unique, i, &location))
                        .collect();
                    Ok(Reply::ok(page(call, items)))
                }
                [] => Ok(Reply::ok(shared_gallery_json(&unique, &location))),
                [image] => {
                    let image_id = format!("{}/images/{image}", gallery.id);
                    let img = world
                        .arm
                        .get(&image_id)
                        .ok_or_else(|| not_shared(&unique))?;
                    if want_list {
                        let items = world
                            .arm
                            .children(&image_id, VERSION)
                            .into_iter()
                            .map(|v| {
                                shared_version_json(&unique, path::last_name(&img.id), v, &location)
                            })
                            .collect();
                        return Ok(Reply::ok(page(call, items)));
                    }
                    Ok(Reply::ok(shared_image_json(&unique, img, &location)))
                }
                [image, version] => {
                    let image_id = format!("{}/images/{image}", gallery.id);
                    let v = world
                        .arm
                        .get(&format!("{image_id}/versions/{version}"))
                        .ok_or_else(|| not_shared(&unique))?;
                    let image_name = world
                        .arm
                        .get(&image_id)
                        .map_or((*image).clone(), |i| path::last_name(&i.id).to_owned());
                    Ok(Reply::ok(shared_version_json(
                        &unique,
                        &image_name,
                        v,
                        &location,
                    )))
                }
                _ => Err(method_not_allowed(call)),
            }
        }
    }
}
