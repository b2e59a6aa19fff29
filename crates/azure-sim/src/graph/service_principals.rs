//! `/servicePrincipals`: create, upsert by appId, read, list, delete. Creating one for an
//! application that has not replicated yet fails with NoBackingApplicationObject.

use axum::response::Response;
use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Call, errors, filter::Filter, key_value, model};
use crate::directory::ServicePrincipal;

const READ: [&str; 5] = [
    "Application.Read.All",
    "Application.ReadWrite.All",
    "Application.ReadWrite.OwnedBy",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];

#[derive(Debug, Clone)]
enum Key {
    Id(String),
    AppId(String),
}

impl Key {
    fn text(&self) -> &str {
        match self {
            Self::Id(v) | Self::AppId(v) => v,
        }
    }
    fn matches(&self, sp: &ServicePrincipal) -> bool {
        match self {
            Self::Id(id) => sp.id.eq_ignore_ascii_case(id),
            Self::AppId(id) => sp.app_id.eq_ignore_ascii_case(id),
        }
    }
}

fn split<'a>(segments: &'a [&'a str]) -> Option<(Key, &'a [&'a str])> {
    let first = segments.first()?;
    if let Some(inner) = first
        .strip_prefix("servicePrincipals(")
        .and_then(|s| s.strip_suffix(')'))
    {
        let value = key_value(inner);
        let key = if inner.starts_with("appId=") {
            Key::AppId(value)
        } else {
            Key::Id(value)
        };
        return Some((key, &segments[1..]));
    }
    Some((Key::Id((*segments.get(1)?).to_owned()), &segments[2..]))
}

/// Routes `/v1.0/servicePrincipals...`.
pub fn route(call: &Call<'_>, segments: &[&str]) -> Response {
    let (req, now) = (call.req, call.now);
    if segments == ["servicePrincipals"] {
        return match req.method {
            Method::GET => list(call),
            Method::POST => {
                let body = match call.body() {
                    Ok(b) => b,
                    Err(r) => return r,
                };
                match body.get("appId").and_then(Value::as_str) {
                    Some(app_id) => create(call, app_id, &body),
                    None => errors::bad_request("Property 'appId' is required.", req, now),
                }
            }
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
    if !rest.is_empty() {
        return errors::error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &format!("Resource not found for the segment '{}'.", rest[0]),
            None,
            req,
            now,
        );
    }
    match req.method {
        Method::GET => get(call, &key),
        Method::PATCH => patch(call, &key),
        Method::DELETE => delete(call, &key),
        _ => errors::error(
            StatusCode::METHOD_NOT_ALLOWED,
            "Request_BadRequest",
            "Method not allowed.",
            None,
            req,
            now,
        ),
    }
}

fn list(call: &Call<'_>) -> Response {
    let (req, now) = (call.req, call.now);
    if !call.caller.has_any(&READ) {
        return errors::denied(req, now);
    }
    let filter = match req.query_param("$filter").map(|f| Filter::parse(&f)) {
        Some(None) => {
            return errors::error(
                StatusCode::BAD_REQUEST,
                "Request_UnsupportedQuery",
                "Unsupported or invalid query filter clause specified (azure-sim supports 'eq' and 'startswith').",
                None,
                req,
                now,
            );
        }
        Some(f) => f,
        None => None,
    };
    let world = call.ctx.world();
    let value: Vec<Value> = world
        .directory
        .service_principals
        .iter()
        .filter(|s| s.tenant.eq_ignore_ascii_case(&call.caller.tenant))
        .map(|s| {
            let mut v = model::service_principal_json(s);
            if let Some(o) = v.as_object_mut() {
                o.remove("@odata.context");
            }
            v
        })
        .filter(|v| filter.as_ref().is_none_or(|f| f.matches(v)))
        .collect();
    errors::ok(
        StatusCode::OK,
        &json!({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#servicePrincipals", "value": value}),
        None,
        req,
        now,
    )
}

fn create(call: &Call<'_>, app_id: &str, body: &serde_json::Map<String, Value>) -> Response {
    let (req, now) = (call.req, call.now);
    let tenant = call.caller.tenant.clone();
    let mut world = call.ctx.world();
    let directory = &mut world.directory;
    let app = directory.application_by_app_id(app_id).cloned();
    let backed = app.as_ref().filter(|a| {
        directory.replicated(
            a.created_at,
            directory.replication.new_application_seconds,
            now,
        ) && (a.tenant.eq_ignore_ascii_case(&tenant) || a.is_multi_tenant())
    });
    let Some(app) = backed else {
        let message = format!(
            "The appId '{app_id}' of the service principal does not reference a valid application object."
        );
        return errors::error(
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            &message,
            Some(
                json!([{"code": "NoBackingApplicationObject", "target": "appId", "message": message}]),
            ),
            req,
            now,
        );
    };
    let owns = app
        .owners
        .iter()
        .any(|o| o.eq_ignore_ascii_case(&call.caller.oid));
    let allowed = call
        .caller
        .has_any(&["Application.ReadWrite.All", "Directory.ReadWrite.All"])
        || (owns && call.caller.has_any(&["Application.ReadWrite.OwnedBy"]));
    if !allowed {
        return errors::denied(req, now);
    }
    if directory.service_principal(&tenant, app_id).is_some() {
        return errors::error(
            StatusCode::CONFLICT,
            "Request_MultipleObjectsWithSameKeyValue",
            "Another object with the same value for property servicePrincipalNames already exists.",
            None,
            req,
            now,
        );
    }
    let mut sp =
        directory.new_service_principal(app, &tenant, now, std::slice::from_ref(&call.caller.oid));
    sp.props = model::merge(sp.props, body);
    sp.props.remove("appId");
    let json = model::service_principal_json(&sp);
    let location = format!(
        "https://graph.microsoft.com/v2/{tenant}/directoryObjects/{}/Microsoft.DirectoryServices.ServicePrincipal",
        sp.id
    );
    directory.service_principals.push(sp);
    errors::ok(StatusCode::CREATED, &json, Some(location), req, now)
}

fn find<'a>(sps: &'a [ServicePrincipal], tenant: &str, key: &Key) -> Option<&'a ServicePrincipal> {
    sps.iter()
        .find(|s| s.tenant.eq_ignore_ascii_case(tenant) && key.matches(s))
}

fn get(call: &Call<'_>, key: &Key) -> Response {
    let (req, now) = (call.req, call.now);
    if !call.caller.has_any(&READ) {
        return errors::denied(req, now);
    }
    let world = call.ctx.world();
    match find(
        &world.directory.service_principals,
        &call.caller.tenant,
        key,
    ) {
        Some(sp) => errors::ok(
            StatusCode::OK,
            &model::service_principal_json(sp),
            None,
            req,
            now,
        ),
        None => errors::not_found(key.text(), req, now),
    }
}

fn can_write(call: &Call<'_>, sp: &ServicePrincipal) -> bool {
    call.caller
        .has_any(&["Application.ReadWrite.All", "Directory.ReadWrite.All"])
        || (call.caller.has_any(&["Application.ReadWrite.OwnedBy"])
            && sp
                .owners
                .iter()
                .any(|o| o.eq_ignore_ascii_case(&call.caller.oid)))
}

fn patch(call: &Call<'_>, key: &Key) -> Response {
    let (req, now) = (call.req, call.now);
    let body = match call.body() {
        Ok(b) => b,
        Err(r) => return r,
    };
    let tenant = call.caller.tenant.clone();
    let exists = find(&call.ctx.world().directory.service_principals, &tenant, key).is_some();
    if !exists {
        let create_if_missing = req.header("prefer").is_some_and(|p| {
            p.split(',')
                .any(|v| v.trim().eq_ignore_ascii_case("create-if-missing"))
        });
        return match key {
            Key::AppId(app_id) if create_if_missing => create(call, app_id, &body),
            _ => errors::not_found(key.text(), req, now),
        };
    }
    let mut world = call.ctx.world();
    let Some(sp) = world
        .directory
        .service_principals
        .iter_mut()
        .find(|s| s.tenant.eq_ignore_ascii_case(&tenant) && key.matches(s))
    else {
        return errors::not_found(key.text(), req, now);
    };
    if !can_write(call, sp) {
        return errors::denied(req, now);
    }
    let mut body = body;
    body.remove("appId");
    sp.props = model::merge(std::mem::take(&mut sp.props), &body);
    errors::empty(StatusCode::NO_CONTENT, req, now)
}

fn delete(call: &Call<'_>, key: &Key) -> Response {
    let (req, now) = (call.req, call.now);
    let tenant = call.caller.tenant.clone();
    let mut world = call.ctx.world();
    let sps = &mut world.directory.service_principals;
    let Some(index) = sps
        .iter()
        .position(|s| s.tenant.eq_ignore_ascii_case(&tenant) && key.matches(s))
    else {
        return errors::not_found(key.text(), req, now);
    };
    if !can_write(call, &sps[index]) {
        return errors::denied(req, now);
    }
    sps.remove(index);
    errors::empty(StatusCode::NO_CONTENT, req, now)
}
