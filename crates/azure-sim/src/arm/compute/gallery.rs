//! Compute Gallery: galleries, image definitions and image versions (PUT as caps operations,
//! GET with `publishingProfile.targetRegions` as display names and `storageProfile`, lists,
//! DELETE), and managed images as version sources.

use http::{Method, StatusCode};
use serde_json::{Map, Value, json};

pub use super::model::{
    GALLERY, IMAGE, ImageFacts, MANAGED_IMAGE, VERSION, VersionFacts, gallery_body, image_body,
    seed, unique_name_for, version_body,
};
use super::shared;
use crate::{
    arm::{
        ArmError, Call, Reply, Resource, features, lro, method_not_allowed,
        path::{self, key},
        reply::put_status,
        resources::{ensure_scope, page, resource_not_found},
        throttle,
    },
    context::World,
};

/// GET of one resource: read permission, resource group, existence; the GET counts as an
/// observation of a running provisioning operation.
pub fn read_one(
    call: &Call<'_>,
    world: &mut World,
    id: &str,
    action: &str,
) -> Result<Value, ArmError> {
    call.authorize(world, action, id)?;
    ensure_scope(world, &path::parent_of(id))?;
    lro::observe_resource(world, id, call.now);
    world
        .arm
        .get(id)
        .map(|r| r.body.clone())
        .ok_or_else(|| resource_not_found(id))
}

/// GET of a collection under `parent`.
pub fn read_list(
    call: &Call<'_>,
    world: &World,
    parent: &str,
    kind: &str,
    action: &str,
) -> Result<Reply, ArmError> {
    call.authorize(world, action, parent)?;
    ensure_scope(world, parent)?;
    let items = world
        .arm
        .children(parent, kind)
        .into_iter()
        .map(|r| r.body.clone())
        .collect();
    Ok(Reply::ok(page(call, items)))
}

fn parent_missing(parent: &str) -> ArmError {
    ArmError::not_found(
        "ParentResourceNotFound",
        format!(
            "Can not perform requested operation on nested resource. Parent resource '{}' not found.",
            path::last_name(parent)
        ),
    )
}

fn location_of(body: &Map<String, Value>) -> Result<String, ArmError> {
    body.get("location")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| {
            ArmError::bad_request(
                "LocationRequired",
                "The location property is required for this definition.",
            )
        })
}

/// Routes gallery, image, version and managed image calls.
pub fn route(call: &Call<'_>, world: &mut World) -> Result<Reply, ArmError> {
    let Some(p) = &call.path.provider else {
        return Err(method_not_allowed(call));
    };
    let types: Vec<String> = p.types.iter().map(|t| t.to_ascii_lowercase()).collect();
    let types: Vec<&str> = types.iter().map(String::as_str).collect();
    let id = call.path.item_id();
    let m = call.req.method.clone();
    match (types.as_slice(), p.names.len(), m) {
        (["galleries"], 0, Method::GET) => read_list(
            call,
            world,
            &call.path.scope,
            GALLERY,
            "Microsoft.Compute/galleries/read",
        ),
        (["galleries", "share"], 1, Method::POST) => shared::share(call, world, &id),
        (["galleries"], 1, Method::GET) => {
            let mut body = read_one(call, world, &id, "Microsoft.Compute/galleries/read")?;
            // The groups show only when asked for (`az sig show --sharing-groups` sends the
            // `$expand`; older clients `$select=Permissions`), as the specs' examples do.
            let select = call
                .req
                .query_param("$select")
                .is_some_and(|s| s.eq_ignore_ascii_case("Permissions"));
            let expand = call
                .req
                .query_param("$expand")
                .is_some_and(|s| s.eq_ignore_ascii_case("SharingProfile/Groups"));
            if select || expand {
                shared::add_groups(world, &id, &mut body);
            }
            Ok(Reply::ok(body))
        }
        (["galleries"], 1, Method::PUT) => put_gallery(call, world, &id),
        (["galleries", "images"], 1, Method::GET) => read_list(
            call,
            world,
            &id,
            IMAGE,
            "Microsoft.Compute/galleries/images/read",
        ),
        (["galleries", "images"], 2, Method::GET) => Ok(Reply::ok(read_one(
            call,
            world,
            &id,
            "Microsoft.Compute/galleries/images/read",
        )?)),
        (["galleries", "images"], 2, Method::PUT) => put_image(call, world, &id),
        (["galleries", "images", "versions"], 2, Method::GET) => read_list(
            call,
            world,
            &id,
            VERSION,
            "Microsoft.Compute/galleries/images/versions/read",
        ),
        (["galleries", "images", "versions"], 3, Method::GET) => {
            let body = read_one(
                call,
                world,
                &id,
                "Microsoft.Compute/galleries/images/versions/read",
            )?;
            Ok(Reply::ok(body).header(
                "x-ms-ratelimit-remaining-resource",
                "Microsoft.Compute/GetGalleryImageVersion3Min;1999,Microsoft.Compute/GetGalleryImageVersion30Min;9999",
            ))
        }
        (["galleries", "images", "versions"], 3, Method::PUT) => put_version(call, world, &id),
        (
            ["galleries"] | ["galleries", "images"] | ["galleries", "images", "versions"],
            n,
            Method::DELETE,
        ) if n == types.len() => delete(call, world, &id),
        (["images"], 0, Method::GET) => read_list(
            call,
            world,
            &call.path.scope,
            MANAGED_IMAGE,
            "Microsoft.Compute/images/read",
        ),
        (["images"], 1, Method::GET) => Ok(Reply::ok(read_one(
            call,
            world,
            &id,
            "Microsoft.Compute/images/read",
        )?)),
        _ => Err(method_not_allowed(call)),
    }
}

fn caps_reply(
    call: &Call<'_>,
    world: &mut World,
    id: &str,
    location: &str,
    polls: u32,
    status: StatusCode,
    body: Value,
) -> Reply {
    let op = lro::Operation::new(call, lro::Style::Caps, location, Some(id), polls);
    let urls = lro::start(world, op);
    Reply::json(status, body).header("azure-asyncoperation", urls.async_operation)
}

fn put_gallery(call: &Call<'_>, world: &mut World, id: &str) -> Result<Reply, ArmError> {
    call.authorize(world, "Microsoft.Compute/galleries/write", id)?;
    ensure_scope(world, &path::parent_of(id))?;
    let body = call.body()?;
    let location = location_of(&body)?;
    let permissions = body
        .get("properties")
        .and_then(|p| p["sharingProfile"]["permissions"].as_str())
        .unwrap_or("Private")
        .to_owned();
    let sub = call.path.subscription.clone().unwrap_or_default();
    if permissions.eq_ignore_ascii_case("Groups")
        && !features::is_registered(world, &sub, features::SIG_SHARING)
    {
        return Err(shared::feature_not_registered(&sub));
    }
    let quota = throttle::charge_compute(world, &sub, throttle::CREATE_GALLERY, call.now)?;
    let existing = world.arm.get(id).cloned();
    let (status, unique, internal, state) = match &existing {
        Some(r) => (
            StatusCode::OK,
            r.body["properties"]["identifier"]["uniqueName"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            r.internal.clone(),
            "Updating",
        ),
        None => (
            StatusCode::CREATED,
            unique_name_for(id),
            json!({"subscriptions": [], "tenants": []}),
            "Creating",
        ),
    };
    let mut out = gallery_body(id, &location, &unique, &permissions, state);
    if let Some(tags) = body.get("tags") {
        out["tags"] = tags.clone();
    }
    if let Some(d) = body.get("properties").and_then(|p| p.get("description")) {
        out["properties"]["description"] = d.clone();
    }
    let mut r = Resource::new(
        id,
        GALLERY,
        out.clone(),
        existing.map_or(call.now, |e| e.created_at),
    );
    r.internal = internal;
    world.arm.insert(r);
    Ok(caps_reply(call, world, id, &location, 0, status, out)
        .header("x-ms-ratelimit-remaining-resource", quota))
}

fn put_image(call: &Call<'_>, world: &mut World, id: &str) -> Result<Reply, ArmError> {
    call.authorize(world, "Microsoft.Compute/galleries/images/write", id)?;
    let gallery = path::parent_of(id);
    ensure_scope(world, &path::parent_of(&gallery))?;
    if world.arm.get(&gallery).is_none() {
        return Err(parent_missing(&gallery));
    }
    let body = call.body()?;
    let location = location_of(&body)?;
    let p = body.get("properties").cloned().unwrap_or(Value::Null);
    let s = |v: &Value, d: &str| v.as_str().unwrap_or(d).to_owned();
    let (Some(os_type), Some(os_state)) = (p["osType"].as_str(), p["osState"].as_str()) else {
        return Err(ArmError::bad_request(
            "InvalidParameter",
            "Required parameter 'osType' is missing (null).",
        )
        .target("osType"));
    };
    let facts = ImageFacts {
        os_type: os_type.to_owned(),
        os_state: os_state.to_owned(),
        hyper_v_generation: s(&p["hyperVGeneration"], "V1"),
        architecture: s(&p["architecture"], "x64"),
        identifier: (
            s(&p["identifier"]["publisher"], ""),
            s(&p["identifier"]["offer"], ""),
            s(&p["identifier"]["sku"], ""),
        ),
        features: p["features"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| (s(&f["name"], ""), s(&f["value"], "")))
            .collect(),
    };
    let status = put_status(world.arm.get(id).is_some());
    let state = if status == StatusCode::OK {
        "Updating"
    } else {
        "Creating"
    };
    let out = image_body(id, &location, &facts, state);
    world
        .arm
        .insert(Resource::new(id, IMAGE, out.clone(), call.now));
    Ok(caps_reply(call, world, id, &location, 0, status, out))
}

fn put_version(call: &Call<'_>, world: &mut World, id: &str) -> Result<Reply, ArmError> {
    call.authorize(
        world,
        "Microsoft.Compute/galleries/images/versions/write",
        id,
    )?;
    let image = path::parent_of(id);
    ensure_scope(world, &path::parent_of(&path::parent_of(&image)))?;
    if world.arm.get(&image).is_none() {
        return Err(parent_missing(&image));
    }
    let body = call.body()?;
    let location = location_of(&body)?;
    let p = body.get("properties").cloned().unwrap_or(Value::Null);
    let mut regions: Vec<String> = p["publishingProfile"]["targetRegions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["name"].as_str().map(str::to_owned))
        .collect();
    if regions.is_empty() {
        regions.push(location.clone());
    }
    let source = p["storageProfile"]["source"]["id"]
        .as_str()
        .map(str::to_owned);
    let (os_gb, data) = match source.as_deref().and_then(|s| world.arm.get(s)) {
        Some(src) if src.kind.eq_ignore_ascii_case(MANAGED_IMAGE) => {
            let sp = &src.body["properties"]["storageProfile"];
            (
                u32::try_from(sp["osDisk"]["diskSizeGB"].as_u64().unwrap_or(30)).unwrap_or(30),
                sp["dataDisks"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|d| d["diskSizeGB"].as_u64())
                    .filter_map(|g| u32::try_from(g).ok())
                    .collect(),
            )
        }
        _ => {
            // Assumed wording: the simulator holds managed images only as sources.
            return Err(ArmError::bad_request(
                "InvalidParameter",
                format!("Source '{}' not found.", source.unwrap_or_default()),
            )
            .target("galleryImageVersion.properties.storageProfile.source.id"));
        }
    };
    let facts = VersionFacts {
        target_regions: regions,
        source,
        os_disk_gb: os_gb,
        data_disks_gb: data,
        exclude_from_latest: p["publishingProfile"]["excludeFromLatest"]
            .as_bool()
            .unwrap_or(false),
        published: call.now,
        disk_encryption_set_id: p["publishingProfile"]["targetRegions"]
            .as_array()
            .and_then(|rs| {
                rs.iter().find_map(|r| {
                    r.pointer("/encryption/osDiskImage/diskEncryptionSetId")
                        .and_then(serde_json::Value::as_str)
                        .map(str::to_owned)
                })
            }),
    };
    let status = put_status(world.arm.get(id).is_some());
    let creating = version_body(
        id,
        &location,
        &facts,
        if status == StatusCode::OK {
            "Updating"
        } else {
            "Creating"
        },
    );
    world
        .arm
        .insert(Resource::new(id, VERSION, creating.clone(), call.now));
    let polls = call.ctx.scenario.arm.image_version_provisioning_polls;
    let mut op = lro::Operation::new(call, lro::Style::Caps, &location, Some(id), polls);
    op.success_body = Some(version_body(id, &location, &facts, "Succeeded"));
    let urls = lro::start(world, op);
    Ok(Reply::json(status, creating).header("azure-asyncoperation", urls.async_operation))
}

fn delete(call: &Call<'_>, world: &mut World, id: &str) -> Result<Reply, ArmError> {
    let kind = path::type_of(id);
    call.authorize(world, &format!("{kind}/delete"), id)?;
    ensure_scope(world, &path::parent_of(id))?;
    let Some(r) = world.arm.get(id).cloned() else {
        return Ok(Reply::empty(StatusCode::NO_CONTENT));
    };
    let prefix = format!("{}/", key(id));
    if world.arm.resources.keys().any(|k| k.starts_with(&prefix)) {
        return Err(ArmError::new(
            StatusCode::CONFLICT,
            "CannotDeleteResource",
            "Can not delete resource before nested resources are deleted.",
        ));
    }
    lro::settle(world, id, call.now);
    world.arm.remove(id);
    let op = lro::Operation::new(
        call,
        lro::Style::Caps,
        r.location().unwrap_or("eastus"),
        None,
        0,
    );
    let urls = lro::start(world, op);
    Ok(Reply::empty(StatusCode::ACCEPTED)
        .header("azure-asyncoperation", urls.async_operation)
        .header("location", urls.location))
}
