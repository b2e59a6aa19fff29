//! `/applications`: create, upsert by uniqueName, read, list, update, delete, addPassword,
//! removePassword and federatedIdentityCredentials.

use axum::response::Response;
use http::{Method, StatusCode};
use serde_json::Value;

use super::{Call, READ, credentials, errors, key_value, model};
use crate::directory::Application;

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

/// Routes `/v1.0/applications...`.
pub fn route(call: &Call<'_>, segments: &[&str]) -> Response {
    let (req, now) = (call.req, call.now);
    if segments == ["applications"] {
        return match req.method {
            Method::GET => list(call),
            Method::POST => create(call, None),
            _ => errors::method_not_allowed(req, now),
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
        _ => errors::segment_not_found(rest.first().unwrap_or(&""), req, now),
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

/// Runs `f` on the caller-writable application named by `key`.
pub(super) fn with_writable<T>(
    call: &Call<'_>,
    key: &Key,
    f: impl FnOnce(&mut Application) -> Result<T, Response>,
) -> Result<T, Response> {
    let (req, now) = (call.req, call.now);
    let mut world = call.ctx.world();
    let tenant = call.caller.tenant.clone();
    let app = world
        .directory
        .applications
        .iter_mut()
        .find(|a| a.tenant.eq_ignore_ascii_case(&tenant) && key.matches(a))
        .ok_or_else(|| errors::not_found(key.text(), req, now))?;
    if !call.caller.may_write(&app.owners) {
        return Err(errors::denied(req, now));
    }
    f(app)
}

fn list(call: &Call<'_>) -> Response {
    super::list(call, "applications", |directory, tenant| {
        directory
            .applications
            .iter()
            .filter(|a| a.tenant.eq_ignore_ascii_case(tenant))
            .map(|a| model::application_json(a, false))
            .collect()
    })
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
    super::read(call, key.text(), |directory, tenant| {
        in_tenant(&directory.applications, tenant, key).map(|a| model::application_json(a, false))
    })
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
        return match key {
            Key::UniqueName(name) if call.create_if_missing() => create(call, Some(name)),
            _ if !call.caller.has_any(&READ) => errors::denied(req, now),
            _ => errors::not_found(key.text(), req, now),
        };
    }
    let written = with_writable(call, key, |app| {
        if let (Some(new), Some(old)) = (
            body.get("uniqueName").and_then(Value::as_str),
            app.prop("uniqueName"),
        ) && !new.eq_ignore_ascii_case(old)
        {
            return Err(errors::bad_request(
                "Property 'uniqueName' is immutable.",
                req,
                now,
            ));
        }
        app.props = model::merge(std::mem::take(&mut app.props), &body);
        Ok(())
    });
    match written {
        Ok(()) => errors::empty(StatusCode::NO_CONTENT, req, now),
        Err(r) => r,
    }
}

fn delete(call: &Call<'_>, key: &Key) -> Response {
    let mut world = call.ctx.world();
    super::remove(
        call,
        key.text(),
        &mut world.directory.applications,
        |a, tenant| a.tenant.eq_ignore_ascii_case(tenant) && key.matches(a),
        |a| &a.owners,
    )
}
