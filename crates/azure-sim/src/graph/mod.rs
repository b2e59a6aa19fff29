//! Microsoft Graph v1.0 (`graph.microsoft.com`): applications (with passwords and federated
//! credentials), service principals, users (members and B2B guests: read, list, delete),
//! B2B invitations, sendMail, `/me` and `directoryObjects/getByIds`.

mod applications;
mod credentials;
pub mod errors;
mod filter;
mod invitations;
mod mail;
pub mod model;
mod service_principals;
pub mod throttle;
mod users;

use axum::response::Response;
use http::StatusCode;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::{
    context::SimContext,
    directory::Directory,
    request::{HostFamily, HostRequest, family},
    service::HostService,
};

/// Graph's audiences: the URI and the well-known app id.
pub const AUDIENCES: [&str; 2] = [
    "https://graph.microsoft.com",
    "00000003-0000-0000-c000-000000000000",
];

/// The application permissions that read applications and service principals.
pub(crate) const READ: [&str; 5] = [
    "Application.Read.All",
    "Application.ReadWrite.All",
    "Application.ReadWrite.OwnedBy",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];

/// The authenticated caller of a Graph request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Tenant of the token (Graph acts in that tenant).
    pub tenant: String,
    /// Object id of the calling principal.
    pub oid: String,
    /// Granted application permissions (or, for a signed-in user, what its roles allow).
    pub roles: Vec<String>,
    /// True for a signed-in user's (delegated) token.
    pub delegated: bool,
}

impl Caller {
    /// True when any of `roles` was granted.
    pub fn has_any(&self, roles: &[&str]) -> bool {
        self.roles
            .iter()
            .any(|r| roles.iter().any(|x| x.eq_ignore_ascii_case(r)))
    }

    /// True when the caller may change an object with these owners: with a `ReadWrite.All`
    /// permission, or with `Application.ReadWrite.OwnedBy` as one of the owners.
    pub fn may_write(&self, owners: &[String]) -> bool {
        self.has_any(&["Application.ReadWrite.All", "Directory.ReadWrite.All"])
            || (self.has_any(&["Application.ReadWrite.OwnedBy"])
                && owners.iter().any(|o| o.eq_ignore_ascii_case(&self.oid)))
    }
}

/// A request being served, with its caller.
#[derive(Debug)]
pub struct Call<'a> {
    /// Shared state.
    pub ctx: &'a SimContext,
    /// The request.
    pub req: &'a HostRequest,
    /// Who is calling.
    pub caller: Caller,
    /// Simulated time of the call.
    pub now: OffsetDateTime,
}

impl Call<'_> {
    /// The body as a JSON object (empty body: empty object).
    pub fn body(&self) -> Result<Map<String, Value>, Response> {
        if self.req.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Map::new());
        }
        match serde_json::from_slice::<Value>(&self.req.body) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(errors::unreadable_body(self.req, self.now)),
        }
    }

    /// True when `Prefer: create-if-missing` turns a PATCH of a missing object into a create.
    pub fn create_if_missing(&self) -> bool {
        self.req.header("prefer").is_some_and(|p| {
            p.split(',')
                .any(|v| v.trim().eq_ignore_ascii_case("create-if-missing"))
        })
    }
}

/// `GET` of one object: the entity JSON `find` gives in the caller's tenant, or 404 naming `key`.
pub(crate) fn read(
    call: &Call<'_>,
    key: &str,
    find: impl FnOnce(&Directory, &str) -> Option<Value>,
) -> Response {
    let (req, now) = (call.req, call.now);
    if !call.caller.has_any(&READ) {
        return errors::denied(req, now);
    }
    let world = call.ctx.world();
    match find(&world.directory, &call.caller.tenant) {
        Some(json) => errors::ok(StatusCode::OK, &json, None, req, now),
        None => errors::not_found(key, req, now),
    }
}

/// `DELETE` of one object: the first of `objects` that `pick` chooses in the caller's tenant,
/// when the caller may write an object with its `owners`; 404 naming `key` when there is none.
pub(crate) fn remove<T>(
    call: &Call<'_>,
    key: &str,
    objects: &mut Vec<T>,
    pick: impl Fn(&T, &str) -> bool,
    owners: fn(&T) -> &[String],
) -> Response {
    let (req, now) = (call.req, call.now);
    let Some(index) = objects.iter().position(|o| pick(o, &call.caller.tenant)) else {
        return errors::not_found(key, req, now);
    };
    if !call.caller.may_write(owners(&objects[index])) {
        return errors::denied(req, now);
    }
    objects.remove(index);
    errors::empty(StatusCode::NO_CONTENT, req, now)
}

/// `GET /{collection}`: the objects `in_tenant` picks for the caller's tenant, each as its
/// entity JSON without the entity's `@odata.context`, narrowed by `$filter`.
pub(crate) fn list(
    call: &Call<'_>,
    collection: &str,
    in_tenant: impl FnOnce(&Directory, &str) -> Vec<Value>,
) -> Response {
    let (req, now) = (call.req, call.now);
    if !call.caller.has_any(&READ) {
        return errors::denied(req, now);
    }
    let filter = match req.query_param("$filter") {
        Some(text) => match filter::Filter::parse(&text) {
            Some(f) => Some(f),
            None => return errors::unsupported_filter(req, now),
        },
        None => None,
    };
    let world = call.ctx.world();
    let value: Vec<Value> = in_tenant(&world.directory, &call.caller.tenant)
        .into_iter()
        .map(|mut v| {
            if let Some(o) = v.as_object_mut() {
                o.remove("@odata.context");
            }
            v
        })
        .filter(|v| filter.as_ref().is_none_or(|f| f.matches(v)))
        .collect();
    errors::ok(
        StatusCode::OK,
        &json!({
            "@odata.context": format!("https://graph.microsoft.com/v1.0/$metadata#{collection}"),
            "value": value,
        }),
        None,
        req,
        now,
    )
}

/// The simulated Microsoft Graph.
#[derive(Debug, Default)]
pub struct Graph;

/// What a signed-in user may do through a first-party client (the Azure CLI consents to
/// `Directory.AccessAsUser.All`): what the user's directory roles allow. Every member reads
/// the directory; application administrators (and Global Administrators) manage applications;
/// Global and User Administrators manage users, and they and Guest Inviters invite guests.
/// Guests get nothing: their default directory permissions are restricted ("Properties of a
/// B2B guest user": they "can't read all directory information"); `/me` still works.
pub fn delegated_roles(ctx: &SimContext, tenant: &str, user: &str) -> Vec<String> {
    let world = ctx.world();
    let Some(u) = world.directory.user(tenant, user) else {
        return vec![];
    };
    if u.is_external() {
        return vec![];
    }
    let mut roles = vec!["Directory.Read.All".to_owned()];
    if u.is_admin() {
        roles.push("Application.ReadWrite.All".to_owned());
    }
    if u.has_role(&["Global Administrator", "User Administrator"]) {
        roles.push("User.ReadWrite.All".to_owned());
    }
    if u.has_role(&[
        "Global Administrator",
        "User Administrator",
        "Guest Inviter",
    ]) {
        roles.push("User.Invite.All".to_owned());
    }
    roles
}

/// `x('y')` or `x(k='y')` -> `y` (Graph's key syntax), quotes optional, percent-decoded.
pub fn key_value(inner: &str) -> String {
    let v = inner.split_once('=').map_or(inner, |(_, v)| v);
    crate::request::decode_segment(v)
        .trim_matches('\'')
        .to_owned()
}

#[async_trait::async_trait]
impl HostService for Graph {
    fn name(&self) -> &'static str {
        "graph"
    }

    fn serves(&self, host: &str) -> bool {
        family(host) == HostFamily::Graph
    }

    async fn handle(&self, ctx: SimContext, req: HostRequest) -> Response {
        let now = ctx.now();
        let segments: Vec<&str> = req.segments();
        if segments.first() != Some(&"v1.0") {
            return errors::error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "Invalid version: azure-sim serves Microsoft Graph v1.0 only.",
                None,
                &req,
                now,
            );
        }
        let claims = match ctx.authenticate(&req, &AUDIENCES, None) {
            Ok(c) => c,
            Err(e) => return errors::unauthenticated(&e, &req, now),
        };
        let delegated = claims.is_user();
        let roles = if delegated {
            delegated_roles(&ctx, &claims.tid, &claims.oid)
        } else {
            claims.roles
        };
        let call = Call {
            ctx: &ctx,
            req: &req,
            caller: Caller {
                tenant: claims.tid,
                oid: claims.oid,
                roles,
                delegated,
            },
            now,
        };
        let charged = match throttle::check(&call, &claims.appid) {
            Ok(c) => c,
            Err(throttled) => return throttled,
        };
        let mut response = route(&call, &segments, delegated);
        if let Some(c) = charged {
            c.decorate(&mut response);
        }
        response
    }
}

fn route(call: &Call<'_>, segments: &[&str], delegated: bool) -> Response {
    let req = call.req;
    let now = call.now;
    {
        let rest = &segments[1..];
        let Some(first) = rest.first() else {
            return errors::bad_request("Resource not found for the segment ''.", req, now);
        };
        if *first == "applications" || first.starts_with("applications(") {
            applications::route(call, rest)
        } else if *first == "servicePrincipals" || first.starts_with("servicePrincipals(") {
            service_principals::route(call, rest)
        } else if *first == "users" {
            if rest.get(2) == Some(&"sendMail") {
                mail::route(call, rest)
            } else {
                users::route(call, rest)
            }
        } else if *first == "invitations" {
            invitations::route(call, rest)
        } else if *first == "me" && rest.len() == 1 {
            users::me(call, delegated)
        } else if *first == "directoryObjects" && rest.get(1) == Some(&"getByIds") {
            users::get_by_ids(call)
        } else {
            errors::segment_not_found(first, req, now)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_are_unquoted_and_percent_decoded() {
        assert_eq!(super::key_value("uniqueName='share%20t2'"), "share t2");
        assert_eq!(super::key_value("appId=%27abc%27"), "abc");
        assert_eq!(super::key_value("'id'"), "id");
    }
}
