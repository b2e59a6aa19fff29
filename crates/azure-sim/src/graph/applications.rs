//! `/applications`: create, upsert by uniqueName, read, list, update, delete, addPassword,
//! removePassword and federatedIdentityCredentials.

use axum::response::Response;
use http::{Method, StatusCode};
use rand::Rng;
use serde_json::{Value, json};

use super::{Call, errors, filter::Filter, key_value, model};
use crate::{
    directory::{Application, FederatedCredential, PasswordCredential},
    secrets::SecretKind,
    timefmt,
};

const READ: [&str; 5] = [
    "Application.Read.All",
    "Application.ReadWrite.All",
    "Application.ReadWrite.OwnedBy",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
const CREATE: [&str; 2] = ["Application.ReadWrite.All", "Application.ReadWrite.OwnedBy"];
/// Graph allows at most 20 federated identity credentials per application.
const MAX_FEDERATED: usize = 20;

/// How the request names an application.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Key {
    Id(String),
    AppId(String),
    UniqueName(String),
}

impl Key {
    fn text(&self) -> &str {
        match self {
            Self::Id(v) | Self::AppId(v) | Self::UniqueName(v) => v,
        }
    }

    fn matches(&self, app: &Application) -> bool {
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
        let value = key_value(inner).to_owned();
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
fn can_write(call: &Call<'_>, app: &Application) -> bool {
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
        (&Method::POST, ["addPassword"]) => add_password(call, &key),
        (&Method::POST, ["removePassword"]) => remove_password(call, &key),
        (_, ["federatedIdentityCredentials", more @ ..]) => federated(call, &key, more),
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

fn in_tenant<'a>(apps: &'a [Application], tenant: &str, key: &Key) -> Option<&'a Application> {
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

/// 40 characters like Entra's: three, the `8Q~` marker, then 34 of `[A-Za-z0-9._~-]`.
fn new_secret_text() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~-";
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let mut s: String = (0..3)
        .map(|_| char::from(ALNUM[rng.random_range(0..ALNUM.len())]))
        .collect();
    s.push_str("8Q~");
    s.extend((0..34).map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())])));
    s
}

/// Runs `f` on the caller-writable application named by `key`.
fn with_writable<T>(
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
    if !can_write(call, app) {
        return Err(errors::denied(req, now));
    }
    f(app)
}

fn add_password(call: &Call<'_>, key: &Key) -> Response {
    let (req, now) = (call.req, call.now);
    let body = match call.body() {
        Ok(b) => b,
        Err(r) => return r,
    };
    let requested = body
        .get("passwordCredential")
        .cloned()
        .unwrap_or(Value::Null);
    let text = |name: &str| {
        requested
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let (start, start_text) = match text("startDateTime") {
        Some(t) => match timefmt::parse_iso(&t) {
            Some(d) => (d, t),
            None => {
                return errors::bad_request(
                    "Invalid value specified for property 'startDateTime'.",
                    req,
                    now,
                );
            }
        },
        None => (now, timefmt::graph_precise(now)),
    };
    let default_end = start + time::Duration::days(730);
    let end_text = text("endDateTime").unwrap_or_else(|| timefmt::graph_precise(default_end));
    let Some(end) = timefmt::parse_iso(&end_text) else {
        return errors::bad_request(
            "Invalid value specified for property 'endDateTime'.",
            req,
            now,
        );
    };
    if end <= start {
        return errors::bad_request("Key credential end date is invalid.", req, now);
    }
    let secret = new_secret_text();
    let credential = PasswordCredential {
        key_id: uuid::Uuid::new_v4().to_string(),
        display_name: text("displayName"),
        hint: secret.chars().take(3).collect(),
        secret: secret.clone(),
        start,
        end,
        start_text,
        end_text,
        added_at: now,
    };
    let response = json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#microsoft.graph.passwordCredential",
        "customKeyIdentifier": null,
        "displayName": credential.display_name,
        "endDateTime": credential.end_text,
        "hint": credential.hint,
        "keyId": credential.key_id,
        "secretText": secret,
        "startDateTime": credential.start_text,
    });
    match with_writable(call, key, |app| {
        app.passwords.push(credential);
        Ok(())
    }) {
        Ok(()) => {
            call.ctx.secrets.add(SecretKind::ClientSecret, &secret);
            // Graph answers addPassword with the bare host as Location (recorded).
            errors::ok(
                StatusCode::OK,
                &response,
                Some("https://graph.microsoft.com".to_owned()),
                req,
                now,
            )
        }
        Err(r) => r,
    }
}

fn remove_password(call: &Call<'_>, key: &Key) -> Response {
    let (req, now) = (call.req, call.now);
    let body = match call.body() {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(key_id) = body.get("keyId").and_then(Value::as_str).map(str::to_owned) else {
        return errors::bad_request("Property 'keyId' is required.", req, now);
    };
    match with_writable(call, key, |app| {
        let before = app.passwords.len();
        app.passwords
            .retain(|p| !p.key_id.eq_ignore_ascii_case(&key_id));
        if app.passwords.len() == before {
            return Err(errors::bad_request(
                &format!(
                    "No password credential with keyId '{key_id}' was found on the application."
                ),
                req,
                now,
            ));
        }
        Ok(())
    }) {
        Ok(()) => errors::empty(StatusCode::NO_CONTENT, req, now),
        Err(r) => r,
    }
}

fn fic_json(app_id: &str, f: &FederatedCredential, entity: bool) -> Value {
    let mut v = json!({
        "audiences": f.audiences,
        "description": f.description,
        "id": f.id,
        "issuer": f.issuer,
        "name": f.name,
        "subject": f.subject,
    });
    if entity && let Some(o) = v.as_object_mut() {
        o.insert(
            "@odata.context".into(),
            format!("https://graph.microsoft.com/v1.0/$metadata#applications('{app_id}')/federatedIdentityCredentials/$entity").into(),
        );
    }
    v
}

fn federated(call: &Call<'_>, key: &Key, rest: &[&str]) -> Response {
    let (req, now) = (call.req, call.now);
    match (&req.method, rest) {
        (&Method::GET, []) => {
            if !call.caller.has_any(&READ) {
                return errors::denied(req, now);
            }
            let world = call.ctx.world();
            let Some(app) = in_tenant(&world.directory.applications, &call.caller.tenant, key)
            else {
                return errors::not_found(key.text(), req, now);
            };
            let value: Vec<Value> = app
                .federated
                .iter()
                .map(|f| fic_json(&app.id, f, false))
                .collect();
            errors::ok(
                StatusCode::OK,
                &json!({
                    "@odata.context": format!("https://graph.microsoft.com/v1.0/$metadata#applications('{}')/federatedIdentityCredentials", app.id),
                    "value": value,
                }),
                None,
                req,
                now,
            )
        }
        (&Method::GET, [id]) => {
            if !call.caller.has_any(&READ) {
                return errors::denied(req, now);
            }
            let world = call.ctx.world();
            let Some(app) = in_tenant(&world.directory.applications, &call.caller.tenant, key)
            else {
                return errors::not_found(key.text(), req, now);
            };
            match app
                .federated
                .iter()
                .find(|f| f.id.eq_ignore_ascii_case(id) || f.name == *id)
            {
                Some(f) => errors::ok(StatusCode::OK, &fic_json(&app.id, f, true), None, req, now),
                None => errors::not_found(id, req, now),
            }
        }
        (&Method::POST, []) => {
            let body = match call.body() {
                Ok(b) => b,
                Err(r) => return r,
            };
            let field = |n: &str| body.get(n).and_then(Value::as_str).map(str::to_owned);
            let (Some(name), Some(issuer), Some(subject)) =
                (field("name"), field("issuer"), field("subject"))
            else {
                return errors::bad_request(
                    "Properties 'name', 'issuer' and 'subject' are required.",
                    req,
                    now,
                );
            };
            let audiences: Vec<String> = body
                .get("audiences")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            if audiences.len() != 1 {
                return errors::bad_request(
                    "Property 'audiences' must contain exactly one value.",
                    req,
                    now,
                );
            }
            if name.len() < 3 || name.len() > 120 {
                return errors::bad_request(
                    "Property 'name' must be between 3 and 120 characters.",
                    req,
                    now,
                );
            }
            let credential = FederatedCredential {
                id: uuid::Uuid::new_v4().to_string(),
                name,
                issuer,
                subject,
                audiences,
                description: field("description"),
            };
            match with_writable(call, key, |app| {
                if app
                    .federated
                    .iter()
                    .any(|f| f.name.eq_ignore_ascii_case(&credential.name))
                {
                    return Err(errors::error(
                        StatusCode::CONFLICT,
                        "Request_MultipleObjectsWithSameKeyValue",
                        &format!(
                            "FederatedIdentityCredential with name {} already exists.",
                            credential.name
                        ),
                        None,
                        req,
                        now,
                    ));
                }
                if app
                    .federated
                    .iter()
                    .any(|f| f.issuer == credential.issuer && f.subject == credential.subject)
                {
                    return Err(errors::error(
                        StatusCode::CONFLICT,
                        "Request_MultipleObjectsWithSameKeyValue",
                        "FederatedIdentityCredential with the same issuer and subject already exists.",
                        None,
                        req,
                        now,
                    ));
                }
                if app.federated.len() >= MAX_FEDERATED {
                    return Err(errors::bad_request(
                        "Maximum number of federated identity credentials (20) reached for this application.",
                        req,
                        now,
                    ));
                }
                let json = fic_json(&app.id, &credential, true);
                app.federated.push(credential);
                Ok(json)
            }) {
                Ok(json) => errors::ok(StatusCode::CREATED, &json, None, req, now),
                Err(r) => r,
            }
        }
        (&Method::DELETE, [id]) => match with_writable(call, key, |app| {
            let before = app.federated.len();
            app.federated
                .retain(|f| !(f.id.eq_ignore_ascii_case(id) || f.name == *id));
            if app.federated.len() == before {
                return Err(errors::not_found(id, req, now));
            }
            Ok(())
        }) {
            Ok(()) => errors::empty(StatusCode::NO_CONTENT, req, now),
            Err(r) => r,
        },
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
