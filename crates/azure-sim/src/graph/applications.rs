//! `/applications`: create, upsert by uniqueName, read, list, update, delete, addPassword,
//! removePassword and federatedIdentityCredentials.

use axum::response::Response;
use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Call, credentials, errors, filter::Filter, key_value, model};
use crate::directory::Application;

pub(super) const READ: [&str; 5] = [
    "Application.Read.All",
    "Application.ReadWrite.All",
    "Application.ReadWrite.OwnedBy",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
const CREATE: [&str; 2] = ["Application.ReadWrite.All", "Application.ReadWrite.OwnedBy"];

/// How the request names an application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Key {
    Id(String),
    AppId(String),
    UniqueName(String),
}

impl Key {
    pub(super) fn text(&self) -> &str {
        match self {
            Self::Id(v) | Self::AppId(v) | Self::UniqueName(v) => v,
        }
    }

    pub(super) fn matches(&self, app: &Application) -> bool {
        match self {
            Self::Id(id) => app.id.eq_ignore_ascii_case(id),
            Self::AppId(id) => app.app_id.eq_ignore_ascii_case(id),
            Self::UniqueName(n) => app
                .prop("uniqueName")
                .is_some_and(|u| u.eq_ignore_ascii_case(n)),
        }
    }
}

/// `[applications, id, ...]` or `[applications(appId='x'), ...]` -> key and the rest.
fn split<'a>(segments: &'a [&'a str]) -> Option<(Key, &'a [&'a str])> {
    let first = segments.first()?;
    if let Some(inner) = first
        .strip_prefix("applications(")
        .and_then(|s| s.strip_suffix(')'))
    {
        let value = key_value(inner);
        let key = if inner.starts_with("uniqueName=") {
            Key::UniqueName(value)
        } else if inner.starts_with("appId=") {
            Key::AppId(value)
        } else {
            Key::Id(value)
        };
        return Some((key, &segments[1..]));
    }
    let id = segments.get(1)?;
    Some((Key::Id((*id).to_owned()), &segments[2..]))
}

/// True when the caller may change `app`.
pub(super) fn can_write(call: &Call<'_>, app: &Application) -> bool {
    call.caller
        .has_any(&["Application.ReadWrite.All", "Directory.ReadWrite.All"])
        || (call.caller.has_any(&["Application.ReadWrite.OwnedBy"])
            && app
                .owners
                .iter()
                .any(|o| o.eq_ignore_ascii_case(&call.caller.oid)))
}

/// Routes `/v1.0/applications...`.
pub fn route(call: &Call<'_>, segments: &[&str]) -> Response {
    let (req, now) = (call.req, call.now);
    if segments == ["applications"] {
        return match req.method {
            Method::GET => list(call),
            Method::POST => create(call, None),
            _ => errors::error(
                StatusCode::METHOD_NOT_ALLOWED,
                "Request_BadRequest",
                "Method not allowed.",
                None,
                req,
                now,
            ),
        };
    }
    let Some((key, rest)) = split(segments) else {
        return errors::bad_request("Invalid object identifier.", req, now);
    };
    match (&req.method, rest) {
        (&Method::GET, []) => get(call, &key),
        (&Method::PATCH, []) => patch(call, &key),
        (&Method::DELETE, []) => delete(call, &key),
        (&Method::POST, ["addPassword"]) => credentials::add_password(call, &key),
        (&Method::POST, ["removePassword"]) => credentials::remove_password(call, &key),
        (_, ["federatedIdentityCredentials", more @ ..]) => {
            credentials::federated(call, &key, more)
        }
        _ => errors::error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &format!(
                "Resource not found for the segment '{}'.",
                rest.first().unwrap_or(&"")
            ),
            None,
            req,
            now,
        ),
    }
}

pub(super) fn in_tenant<'a>(
    apps: &'a [Application],
    tenant: &str,
    key: &Key,
) -> Option<&'a Application> {
    apps.iter()
        .find(|a| a.tenant.eq_ignore_ascii_case(tenant) && key.matches(a))
}

fn list(call: &Call<'_>) -> Response {
    let (req, now) = (call.req, call.now);
    if !call.caller.has_any(&READ) {
        return errors::denied(req, now);
    }
    let filter = match req.query_param("$filter") {
        Some(text) => match Filter::parse(&text) {
            Some(f) => Some(f),
            None => {
                return errors::error(
                    StatusCode::BAD_REQUEST,
                    "Request_UnsupportedQuery",
                    "Unsupported or invalid query filter clause specified (azure-sim supports 'eq' and 'startswith').",
                    None,
                    req,
                    now,
                );
            }
        },
        None => None,
    };
    let world = call.ctx.world();
    let value: Vec<Value> = world
        .directory
        .applications
        .iter()
        .filter(|a| a.tenant.eq_ignore_ascii_case(&call.caller.tenant))
        .map(|a| {
            let mut v = model::application_json(a, false);
            if let Some(o) = v.as_object_mut() {
                o.remove("@odata.context");
            }
            v
        })
        .filter(|v| filter.as_ref().is_none_or(|f| f.matches(v)))
        .collect();
    errors::ok(
        StatusCode::OK,
        &json!({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#applications", "value": value}),
        None,
        req,
        now,
    )
}

/// Creates an application (POST, or an upsert by `unique_name` that found none).
fn create(call: &Call<'_>, unique_name: Option<&str>) -> Response {
    let (req, now) = (call.req, call.now);
    if !call.caller.has_any(&CREATE) {
        return errors::denied(req, now);
    }
    let mut body = match call.body() {
        Ok(b) => b,
        Err(r) => return r,
    };
    if body
        .get("displayName")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return errors::bad_request(
            "Property 'displayName' is required and cannot be empty.",
            req,
            now,
        );
    }
    if let Some(u) = unique_name {
        body.insert("uniqueName".into(), u.into());
    }
    let mut world = call.ctx.world();
    let directory = &mut world.directory;
    if let Some(u) = body.get("uniqueName").and_then(Value::as_str)
        && in_tenant(
            &directory.applications,
            &call.caller.tenant,
            &Key::UniqueName(u.to_owned()),
        )
        .is_some()
    {
        return errors::bad_request(
            &format!(
                "Another object with the same value for property uniqueName already exists: '{u}'."
            ),
            req,
            now,
        );
    }
    let publisher = directory
        .tenant(&call.caller.tenant)
        .map(|t| t.domain.clone())
        .unwrap_or_default();
    let app = Application {
        id: uuid::Uuid::new_v4().to_string(),
        app_id: uuid::Uuid::new_v4().to_string(),
        tenant: call.caller.tenant.clone(),
        created_at: now,
        props: model::new_application_props(&body, &publisher),
        // An app-only caller becomes the owner: that is what OwnedBy later checks.
        owners: vec![call.caller.oid.clone()],
        passwords: vec![],
        federated: vec![],
    };
    let json = model::application_json(&app, true);
    let location = format!(
        "https://graph.microsoft.com/v2/{}/directoryObjects/{}/Microsoft.DirectoryServices.Application",
        app.tenant, app.id
    );
    directory.applications.push(app);
    errors::ok(StatusCode::CREATED, &json, Some(location), req, now)
}

fn get(call: &Call<'_>, key: &Key) -> Response {
    let (req, now) = (call.req, call.now);
    if !call.caller.has_any(&READ) {
        return errors::denied(req, now);
    }
    let world = call.ctx.world();
    match in_tenant(&world.directory.applications, &call.caller.tenant, key) {
        Some(app) => errors::ok(
            StatusCode::OK,
            &model::application_json(app, false),
            None,
            req,
            now,
        ),
        None => errors::not_found(key.text(), req, now),
    }
}

fn patch(call: &Call<'_>, key: &Key) -> Response {
    let (req, now) = (call.req, call.now);
    let body = match call.body() {
        Ok(b) => b,
        Err(r) => return r,
    };
    let exists = {
        let world = call.ctx.world();
        in_tenant(&world.directory.applications, &call.caller.tenant, key).is_some()
    };
    if !exists {
        let create_if_missing = req.header("prefer").is_some_and(|p| {
            p.split(',')
                .any(|v| v.trim().eq_ignore_ascii_case("create-if-missing"))
        });
        return match key {
            Key::UniqueName(name) if create_if_missing => create(call, Some(name)),
            _ if !call.caller.has_any(&READ) => errors::denied(req, now),
            _ => errors::not_found(key.text(), req, now),
        };
    }
    let mut world = call.ctx.world();
    let tenant = call.caller.tenant.clone();
    let Some(app) = world
        .directory
        .applications
        .iter_mut()
        .find(|a| a.tenant.eq_ignore_ascii_case(&tenant) && key.matches(a))
    else {
        return errors::not_found(key.text(), req, now);
    };
    if !can_write(call, app) {
        return errors::denied(req, now);
    }
    if let (Some(new), Some(old)) = (
        body.get("uniqueName").and_then(Value::as_str),
        app.prop("uniqueName"),
    ) && !new.eq_ignore_ascii_case(old)
    {
        return errors::bad_request("Property 'uniqueName' is immutable.", req, now);
    }
    app.props = model::merge(std::mem::take(&mut app.props), &body);
    errors::empty(StatusCode::NO_CONTENT, req, now)
}

fn delete(call: &Call<'_>, key: &Key) -> Response {
    let (req, now) = (call.req, call.now);
    let mut world = call.ctx.world();
    let tenant = call.caller.tenant.clone();
    let Some(index) = world
        .directory
        .applications
        .iter()
        .position(|a| a.tenant.eq_ignore_ascii_case(&tenant) && key.matches(a))
    else {
        return errors::not_found(key.text(), req, now);
    };
    if !can_write(call, &world.directory.applications[index]) {
        return errors::denied(req, now);
    }
    world.directory.applications.remove(index);
    errors::empty(StatusCode::NO_CONTENT, req, now)
}
