//! Users: `GET /users/{id | userPrincipalName}`, `GET /users` (with `$filter` and
//! `$select`), `DELETE /users/{id | userPrincipalName}`; `GET /me` (the caller's own user
//! object) and `POST /directoryObjects/getByIds` ("directoryObject: getByIds": users and
//! service principals of the caller's tenant by object id, each with its `@odata.type`,
//! unknown ids left out).
//!
//! Without `$select` a user is Graph v1.0's default property set ("Get user": businessPhones,
//! displayName, givenName, jobTitle, mail, mobilePhone, officeLocation, preferredLanguage,
//! surname, userPrincipalName, id). `userType`, `creationType`, `externalUserState`,
//! `identities`, `otherMails`, ... are "returned only on `$select`" (the user resource), so a
//! client asks for them by name; `$filter` sees every property. A `$select` naming a
//! property this simulator does not model answers it as null.
//!
//! Permissions: reads need `User.Read.All`, `User.ReadWrite.All`, `Directory.Read.All` or
//! `Directory.ReadWrite.All`; `DELETE` needs `User.ReadWrite.All`, the only permission "Delete
//! a user" lists (least and most privileged), and app-only it "isn't enough privilege to
//! delete users with administrative roles" (403). A deleted user is gone: the simulator
//! keeps no deleted-items container (Graph moves users there for 30 days).

use axum::response::Response;
use http::{Method, StatusCode};
use serde_json::{Map, Value, json};

use super::{Call, READ, errors, model};
use crate::{
    directory::{Directory, User},
    timefmt,
};

/// The permissions that read users.
const USER_READ: [&str; 5] = [
    "User.Read.All",
    "User.ReadWrite.All",
    "User.ReadBasic.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];

/// The default property set.
fn user_json(u: &User) -> Value {
    json!({
        "businessPhones": [],
        "displayName": u.display_name,
        "givenName": null,
        "jobTitle": null,
        "mail": u.mail,
        "mobilePhone": null,
        "officeLocation": null,
        "preferredLanguage": null,
        "surname": null,
        "userPrincipalName": u.upn,
        "id": u.id,
    })
}

/// Every property the simulator models (the default set and the `$select`-only ones).
pub fn full_user_json(u: &User, tenant_domain: &str) -> Value {
    let mut v = user_json(u);
    let guest = u.guest.as_ref();
    let nickname = u.upn.split('@').next().unwrap_or_default().to_owned();
    let extra = json!({
        "deletedDateTime": null,
        "accountEnabled": true,
        "createdDateTime": timefmt::graph_seconds(u.created_at),
        "creationType": guest.map(|_| "Invitation"),
        "externalUserState": guest.map(|g| g.state.as_str()),
        "externalUserStateChangeDateTime": u.external_state_changed(),
        "identities": u.identities(tenant_domain),
        "mailNickname": nickname,
        "otherMails": guest.map_or_else(Vec::new, |g| vec![g.invited_address.clone()]),
        "proxyAddresses": guest.map_or_else(Vec::new, |g| vec![format!("SMTP:{}", g.invited_address)]),
        "userType": u.user_type,
    });
    if let (Some(o), Value::Object(e)) = (v.as_object_mut(), extra) {
        o.extend(e);
    }
    v
}

/// The `$select` list, if any.
fn selected(call: &Call<'_>) -> Option<Vec<String>> {
    call.req.query_param("$select").map(|s| {
        s.split(',')
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty())
            .collect()
    })
}

/// `full` narrowed to `select` (in the order asked), or the default set.
fn project(full: &Value, select: Option<&[String]>) -> Value {
    let Some(select) = select else {
        let mut out = Map::new();
        for k in [
            "businessPhones",
            "displayName",
            "givenName",
            "jobTitle",
            "mail",
            "mobilePhone",
            "officeLocation",
            "preferredLanguage",
            "surname",
            "userPrincipalName",
            "id",
        ] {
            out.insert(k.to_owned(), full.get(k).cloned().unwrap_or(Value::Null));
        }
        return Value::Object(out);
    };
    let mut out = Map::new();
    for k in select {
        // Graph's property names are case-insensitive in `$select`.
        let value = full
            .as_object()
            .and_then(|o| o.iter().find(|(name, _)| name.eq_ignore_ascii_case(k)))
            .map(|(name, v)| (name.clone(), v.clone()))
            .unwrap_or_else(|| (k.clone(), Value::Null));
        out.insert(value.0, value.1);
    }
    Value::Object(out)
}

fn context_url(select: Option<&[String]>, entity: bool) -> String {
    let sel = select
        .map(|s| format!("({})", s.join(",")))
        .unwrap_or_default();
    let suffix = if entity { "/$entity" } else { "" };
    format!("https://graph.microsoft.com/v1.0/$metadata#users{sel}{suffix}")
}

fn domain_of(directory: &Directory, tenant: &str) -> String {
    directory
        .tenant(tenant)
        .map(|t| t.domain.clone())
        .unwrap_or_default()
}

/// Routes `/v1.0/users` and `/v1.0/users/{id | userPrincipalName}`.
pub fn route(call: &Call<'_>, segments: &[&str]) -> Response {
    let (req, now) = (call.req, call.now);
    match (segments, &req.method) {
        (["users"], &Method::GET) => list(call),
        (["users", key], &Method::GET) => get(call, &crate::request::decode_segment(key)),
        (["users", key], &Method::DELETE) => delete(call, &crate::request::decode_segment(key)),
        (["users"] | ["users", _], _) => errors::method_not_allowed(req, now),
        _ => errors::error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "azure-sim serves GET /users, GET and DELETE /users/{id} and POST /users/{id}/sendMail under /users.",
            None,
            req,
            now,
        ),
    }
}

fn get(call: &Call<'_>, key: &str) -> Response {
    let (req, now) = (call.req, call.now);
    if !call.caller.has_any(&USER_READ) {
        return errors::denied(req, now);
    }
    let select = selected(call);
    let world = call.ctx.world();
    let d = &world.directory;
    let Some(u) = d.user(&call.caller.tenant, key) else {
        return errors::not_found(key, req, now);
    };
    let mut body = project(
        &full_user_json(u, &domain_of(d, &call.caller.tenant)),
        select.as_deref(),
    );
    body["@odata.context"] = json!(context_url(select.as_deref(), true));
    errors::ok(StatusCode::OK, &body, None, req, now)
}

fn list(call: &Call<'_>) -> Response {
    let (req, now) = (call.req, call.now);
    if !call.caller.has_any(&USER_READ) {
        return errors::denied(req, now);
    }
    let filter = match req.query_param("$filter") {
        Some(text) => match super::filter::Filter::parse(&text) {
            Some(f) => Some(f),
            None => return errors::unsupported_filter(req, now),
        },
        None => None,
    };
    let select = selected(call);
    let world = call.ctx.world();
    let d = &world.directory;
    let domain = domain_of(d, &call.caller.tenant);
    let value: Vec<Value> = d
        .users
        .iter()
        .filter(|u| u.tenant.eq_ignore_ascii_case(&call.caller.tenant))
        .map(|u| full_user_json(u, &domain))
        .filter(|v| filter.as_ref().is_none_or(|f| f.matches(v)))
        .map(|v| project(&v, select.as_deref()))
        .collect();
    errors::ok(
        StatusCode::OK,
        &json!({"@odata.context": context_url(select.as_deref(), false), "value": value}),
        None,
        req,
        now,
    )
}

fn delete(call: &Call<'_>, key: &str) -> Response {
    let (req, now) = (call.req, call.now);
    let mut world = call.ctx.world();
    let d = &mut world.directory;
    let Some(index) = d.users.iter().position(|u| {
        u.tenant.eq_ignore_ascii_case(&call.caller.tenant)
            && (u.id.eq_ignore_ascii_case(key) || u.upn.eq_ignore_ascii_case(key))
    }) else {
        return errors::not_found(key, req, now);
    };
    if !call.caller.has_any(&["User.ReadWrite.All"]) {
        return errors::denied(req, now);
    }
    if !call.caller.delegated && !d.users[index].roles.is_empty() {
        return errors::denied(req, now);
    }
    let user = d.users.remove(index);
    d.invitations
        .retain(|i| !i.user_id.eq_ignore_ascii_case(&user.id));
    errors::empty(StatusCode::NO_CONTENT, req, now)
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
