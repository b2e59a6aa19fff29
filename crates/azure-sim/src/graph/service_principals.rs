//! `/servicePrincipals`: create, upsert by appId, read, list, delete. Creating one for an
//! application that has not replicated yet fails with NoBackingApplicationObject.

use axum::response::Response;
use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Call, errors, key_value, model};
use crate::directory::ServicePrincipal;

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
            _ => errors::method_not_allowed(req, now),
        };
    }
    let Some((key, rest)) = split(segments) else {
        return errors::bad_request("Invalid object identifier.", req, now);
    };
    if let Some(segment) = rest.first() {
        return errors::segment_not_found(segment, req, now);
    }
    match req.method {
        Method::GET => get(call, &key),
        Method::PATCH => patch(call, &key),
        Method::DELETE => delete(call, &key),
        _ => errors::method_not_allowed(req, now),
    }
}

fn list(call: &Call<'_>) -> Response {
    super::list(call, "servicePrincipals", |directory, tenant| {
        directory
            .service_principals
            .iter()
            .filter(|s| s.tenant.eq_ignore_ascii_case(tenant))
            .map(model::service_principal_json)
            .collect()
    })
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
    if !call.caller.may_write(&app.owners) {
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
    super::read(call, key.text(), |directory, tenant| {
        find(&directory.service_principals, tenant, key).map(model::service_principal_json)
    })
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
        return match key {
            Key::AppId(app_id) if call.create_if_missing() => create(call, app_id, &body),
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
    if !call.caller.may_write(&sp.owners) {
        return errors::denied(req, now);
    }
    let mut body = body;
    body.remove("appId");
    sp.props = model::merge(std::mem::take(&mut sp.props), &body);
    errors::empty(StatusCode::NO_CONTENT, req, now)
}

fn delete(call: &Call<'_>, key: &Key) -> Response {
    let mut world = call.ctx.world();
    super::remove(
        call,
        key.text(),
        &mut world.directory.service_principals,
        |s, tenant| s.tenant.eq_ignore_ascii_case(tenant) && key.matches(s),
        |s| &s.owners,
    )
}
