//! Directory reads a signed-in user makes: `GET /me` (the caller's own user object, in the
//! default property set of Graph v1.0's "Get user": businessPhones, displayName, givenName,
//! jobTitle, mail, mobilePhone, officeLocation, preferredLanguage, surname,
//! userPrincipalName, id) and `POST /directoryObjects/getByIds` ("directoryObject: getByIds":
//! users and service principals of the caller's tenant by object id, each with its
//! `@odata.type`, unknown ids left out).

use axum::response::Response;
use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Call, READ, errors, model};
use crate::directory::{Directory, User};

fn user_json(u: &User) -> Value {
    json!({
        "businessPhones": [],
        "displayName": u.display_name,
        "givenName": null,
        "jobTitle": null,
        "mail": null,
        "mobilePhone": null,
        "officeLocation": null,
        "preferredLanguage": null,
        "surname": null,
        "userPrincipalName": u.upn,
        "id": u.id,
    })
}

/// `GET /me`: only with a delegated (user) token.
pub fn me(call: &Call<'_>, delegated: bool) -> Response {
    let (req, now) = (call.req, call.now);
    if req.method != Method::GET {
        return errors::error(
            StatusCode::METHOD_NOT_ALLOWED,
            "Request_BadRequest",
            "Specified HTTP method is not allowed for the request target.",
            None,
            req,
            now,
        );
    }
    if !delegated {
        return errors::bad_request(
            "/me request is only valid with delegated authentication flow.",
            req,
            now,
        );
    }
    let world = call.ctx.world();
    match world.directory.user(&call.caller.tenant, &call.caller.oid) {
        Some(u) => {
            let mut body = user_json(u);
            body["@odata.context"] =
                json!("https://graph.microsoft.com/v1.0/$metadata#users/$entity");
            errors::ok(StatusCode::OK, &body, None, req, now)
        }
        None => errors::not_found(&call.caller.oid, req, now),
    }
}

fn object(directory: &Directory, tenant: &str, id: &str, types: &[String]) -> Option<Value> {
    let wants = |t: &str| types.is_empty() || types.iter().any(|x| x.eq_ignore_ascii_case(t));
    if wants("user")
        && let Some(u) = directory
            .users
            .iter()
            .find(|u| u.tenant.eq_ignore_ascii_case(tenant) && u.id.eq_ignore_ascii_case(id))
    {
        let mut v = user_json(u);
        v["@odata.type"] = json!("#microsoft.graph.user");
        return Some(v);
    }
    if wants("servicePrincipal")
        && let Some(sp) = directory
            .service_principals
            .iter()
            .find(|s| s.tenant.eq_ignore_ascii_case(tenant) && s.id.eq_ignore_ascii_case(id))
    {
        let mut v = model::service_principal_json(sp);
        if let Some(o) = v.as_object_mut() {
            o.remove("@odata.context");
        }
        v["@odata.type"] = json!("#microsoft.graph.servicePrincipal");
        return Some(v);
    }
    None
}

/// `POST /directoryObjects/getByIds` with `{"ids": [...], "types": [...]}`.
pub fn get_by_ids(call: &Call<'_>) -> Response {
    let (req, now) = (call.req, call.now);
    if req.method != Method::POST {
        return errors::bad_request("Resource not found for the segment 'getByIds'.", req, now);
    }
    if !call.caller.has_any(&READ) {
        return errors::denied(req, now);
    }
    let body = match call.body() {
        Ok(b) => b,
        Err(e) => return e,
    };
    let strings = |k: &str| -> Vec<String> {
        body.get(k)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    };
    let (ids, types) = (strings("ids"), strings("types"));
    let world = call.ctx.world();
    let value: Vec<Value> = ids
        .iter()
        .filter_map(|id| object(&world.directory, &call.caller.tenant, id, &types))
        .collect();
    errors::ok(
        StatusCode::OK,
        &json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#directoryObjects",
            "value": value,
        }),
        None,
        req,
        now,
    )
}
