//! Graph's own throttling, two models:
//!
//! - `Scenario::graph_throttling` (older): a write budget per application and tenant over a
//!   sliding window, refused writes counting too;
//! - `Scenario::graph_identity_throttling`: the "Identity and access service limits" of
//!   learn.microsoft.com/graph/throttling-limits — token buckets of resource units and writes
//!   per application + tenant, per application and per tenant, request costs by method, path
//!   and `$select` / `$expand` / `$top`. It takes the place of the older model on identity
//!   paths (everything simulated but `invitations` and `sendMail`, which have limits of their
//!   own).
//!
//! Both answer 429 with `Retry-After`, `x-ms-throttle-scope` and `x-ms-throttle-information`.
//! Every request's `x-ms-throttle-priority` is recorded; the doc says it decides which requests
//! are throttled first under load and "does not change the limits", so nothing else reads it.

use std::collections::{HashMap, VecDeque};

use axum::response::Response;
use http::{HeaderValue, Method, StatusCode};
use time::{Duration, OffsetDateTime};

use super::{Call, errors};
use crate::{
    scenario::{GraphIdentityThrottling, Quota},
    throttling::TokenBucket,
};

/// Write timestamps per (tenant, application), and the identity buckets by key.
#[derive(Debug, Default)]
pub struct GraphUsage(
    HashMap<(String, String), VecDeque<OffsetDateTime>>,
    HashMap<String, TokenBucket>,
);

/// What a served request cost, for the answer's headers.
#[derive(Debug, Clone, Copy)]
pub struct Charged {
    resource_units: u32,
    /// The most used bucket's share of its limit, when above 0.8.
    limit_share: Option<f64>,
}

impl Charged {
    /// Adds `x-ms-resource-unit` and, above 80 % of a limit, `x-ms-throttle-limit-percentage`.
    pub fn decorate(self, response: &mut Response) {
        let headers = response.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&self.resource_units.to_string()) {
            headers.insert("x-ms-resource-unit", v);
        }
        if let Some(share) = self.limit_share {
            // The doc gives the range (0.8 to 1.8), not the format; two decimals assumed.
            if let Ok(v) = HeaderValue::from_str(&format!("{share:.2}")) {
                headers.insert("x-ms-throttle-limit-percentage", v);
            }
        }
    }
}

/// `Err(429)` when the request is over a limit; `Ok(Some(..))` when the identity limits
/// charged it (the answer gets its headers).
pub fn check(call: &Call<'_>, app_id: &str) -> Result<Option<Charged>, Response> {
    let rest: Vec<&str> = call.req.segments().into_iter().skip(1).collect();
    {
        let mut world = call.ctx.world();
        world
            .throttling
            .priority(call.req.header("x-ms-throttle-priority"));
    }
    let identity_path = !matches!(rest.first(), Some(&"invitations") | None)
        && rest.last().is_none_or(|s| *s != "sendMail");
    if let Some(limits) = call.ctx.scenario.graph_identity_throttling
        && identity_path
    {
        return identity(call, app_id, &rest, &limits).map(Some);
    }
    write_window(call, app_id).map_or(Ok(None), Err)
}

/// The older model: `Some(429)` when this write exceeds the caller's budget.
fn write_window(call: &Call<'_>, app_id: &str) -> Option<Response> {
    let budget = call.ctx.scenario.graph_throttling?;
    let bucket = format!("graph/{}/{app_id}", call.caller.tenant.to_ascii_lowercase());
    let now = call.now;
    if !matches!(
        call.req.method,
        Method::POST | Method::PATCH | Method::DELETE
    ) {
        call.ctx.world().throttling.observe(&bucket, now);
        return None;
    }
    let window = Duration::seconds(i64::from(budget.window_seconds));
    let retry_after = {
        let mut world = call.ctx.world();
        world.throttling.observe(&bucket, now);
        let writes = world
            .graph_usage
            .0
            .entry((call.caller.tenant.clone(), app_id.to_owned()))
            .or_default();
        while writes.front().is_some_and(|t| *t + window <= now) {
            writes.pop_front();
        }
        // Graph keeps counting while a client is throttled, so a refused write still counts.
        writes.push_back(now);
        if writes.len() <= usize::try_from(budget.writes).unwrap_or(usize::MAX) {
            return None;
        }
        let oldest = writes.front().copied().unwrap_or(now);
        let wait = ((oldest + window) - now).whole_seconds().max(1);
        world.throttling.throttled("graph", bucket, wait, now);
        wait
    };
    Some(too_many(
        call,
        retry_after,
        &format!("Tenant_Application/Write/{app_id}/{}", call.caller.tenant),
        "WriteLimitExceeded",
    ))
}

fn too_many(call: &Call<'_>, retry_after: i64, scope: &str, information: &str) -> Response {
    // The message is assumed (Graph's docs show the code, not this service's wording).
    let mut response = errors::error(
        StatusCode::TOO_MANY_REQUESTS,
        "TooManyRequests",
        "Too many requests.",
        None,
        call.req,
        call.now,
    );
    let headers = response.headers_mut();
    for (name, value) in [
        ("retry-after", retry_after.to_string()),
        ("x-ms-throttle-scope", scope.to_owned()),
        ("x-ms-throttle-information", information.to_owned()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    }
    response
}

/// Resource units and writes a request costs (the doc's table of base costs; any request
/// not listed costs 1, and a write 1 write), then `$select` −1, `$expand` +1, `$top` under
/// 20 −1, never below 1.
pub fn cost(
    method: &Method,
    rest: &[&str],
    query: &dyn Fn(&str) -> bool,
    top: Option<u32>,
) -> (u32, u32) {
    // `users/{id}/...` costs what `me/...` does; `applications(appId='..')` is an item.
    let mut path: Vec<&str> = rest.to_vec();
    if let Some(first) = path.first_mut()
        && let Some((collection, _)) = first.split_once('(')
    {
        *first = collection;
        path.insert(1, "{id}");
    }
    if path.first() == Some(&"users") && path.len() > 2 {
        path.splice(0..2, ["me"]);
    }
    let write = u32::from(!matches!(*method, Method::GET | Method::HEAD));
    let p: Vec<&str> = path
        .iter()
        .enumerate()
        .map(|(i, s)| {
            // Item ids become `{id}` (the second segment of a collection path).
            if i == 1 && path.first() != Some(&"me") && path.first() != Some(&"directoryObjects") {
                "{id}"
            } else {
                s
            }
        })
        .collect();
    let (base, writes) = match (method.as_str(), p.as_slice()) {
        ("GET", ["applications"] | ["applications", "{id}", "extensionProperties"]) => (2, 0),
        ("GET", ["contracts" | "subscribedSkus"]) => (3, 0),
        ("POST", ["directoryObjects", "getByIds"] | ["getObjectsById"]) => (3, 0),
        ("GET", ["domains", "{id}", "domainNameReferences"]) => (4, 0),
        ("GET", ["groups", "{id}", "members"]) => (3, 0),
        ("GET", ["groups", "{id}", "transitiveMembers"]) => (5, 0),
        ("POST", [.., "isMemberOf"]) => (4, 0),
        ("POST", ["me", "checkMemberGroups" | "checkMemberObjects"]) => (4, 0),
        ("POST", ["me", "getMemberGroups" | "getMemberObjects"]) => (2, 0),
        (
            "GET",
            [
                "me",
                "licenseDetails" | "memberOf" | "ownedObjects" | "transitiveMemberOf",
            ],
        ) => (2, 0),
        ("GET", ["oauth2PermissionGrants"] | ["oauth2PermissionGrants", "{id}"]) => (2, 0),
        ("GET", ["servicePrincipals", "{id}", "appRoleAssignments"]) => (2, 0),
        ("GET", ["users"]) => (2, 0),
        _ => (1, write),
    };
    let mut units: i64 = base;
    if query("$select") {
        units -= 1;
    }
    if query("$expand") {
        units += 1;
    }
    if top.is_some_and(|t| t < 20) {
        units -= 1;
    }
    (u32::try_from(units.max(1)).unwrap_or(1), writes)
}

struct Limit {
    key: String,
    size: u32,
    rate: f64,
    cost: u32,
    scope: String,
    information: &'static str,
}

fn quota_limit(
    key: String,
    quota: Quota,
    cost: u32,
    scope: String,
    information: &'static str,
) -> Limit {
    Limit {
        key,
        size: quota.units,
        rate: f64::from(quota.units) / f64::from(quota.window_seconds.max(1)),
        cost,
        scope,
        information,
    }
}

fn identity(
    call: &Call<'_>,
    app_id: &str,
    rest: &[&str],
    limits: &GraphIdentityThrottling,
) -> Result<Charged, Response> {
    let req = call.req;
    let has = |name: &str| {
        req.query_param(name).is_some() || req.query_param(name.trim_start_matches('$')).is_some()
    };
    let top = req
        .query_param("$top")
        .and_then(|t| t.trim().parse::<u32>().ok());
    let (units, writes) = cost(&req.method, rest, &has, top);
    let tenant = call.caller.tenant.to_ascii_lowercase();
    let app = app_id.to_ascii_lowercase();
    let now = call.now;
    let mut world = call.ctx.world();
    let client_bucket = format!("graph/{tenant}/{app}");
    world.throttling.observe(&client_bucket, now);
    let pair_units = limits.app_tenant_resource_units.unwrap_or_else(|| {
        let users = world
            .directory
            .users
            .iter()
            .filter(|u| u.tenant.eq_ignore_ascii_case(&tenant))
            .count();
        match users {
            0..50 => 3_500,
            50..=500 => 5_000,
            _ => 8_000,
        }
    });
    let mut checks = vec![];
    if writes > 0 {
        checks.push(quota_limit(
            format!("{client_bucket}/writes"),
            limits.app_tenant_writes,
            writes,
            format!("Tenant_Application/Write/{app_id}/{}", call.caller.tenant),
            "WriteLimitExceeded",
        ));
        checks.push(quota_limit(
            format!("graph/tenant/{tenant}/writes"),
            limits.tenant_writes,
            writes,
            format!("Tenant/Write/{app_id}/{}", call.caller.tenant),
            "WriteLimitExceeded",
        ));
        checks.push(quota_limit(
            format!("graph/app/{app}/writes"),
            limits.app_writes,
            writes,
            format!("Application/Write/{app_id}/{}", call.caller.tenant),
            "WriteLimitExceeded",
        ));
    }
    checks.push(quota_limit(
        format!("{client_bucket}/units"),
        Quota::new(pair_units, limits.app_tenant_resource_unit_window_seconds),
        units,
        format!(
            "Tenant_Application/ReadWrite/{app_id}/{}",
            call.caller.tenant
        ),
        "ResourceUnitLimitExceeded",
    ));
    checks.push(quota_limit(
        format!("graph/app/{app}/units"),
        limits.app_resource_units,
        units,
        format!("Application/ReadWrite/{app_id}/{}", call.caller.tenant),
        "ResourceUnitLimitExceeded",
    ));
    let buckets = &mut world.graph_usage.1;
    let mut looked: Vec<TokenBucket> = checks
        .iter()
        .map(|l| {
            let mut b = *buckets
                .entry(l.key.clone())
                .or_insert_with(|| TokenBucket::full(l.size, now));
            b.refill(l.size, l.rate, now);
            b
        })
        .collect();
    let empty: Vec<usize> = (0..checks.len())
        .filter(|i| !looked[*i].has(f64::from(checks[*i].cost)))
        .collect();
    if let Some(first) = empty.first().copied() {
        let wait = empty
            .iter()
            .map(|i| looked[*i].seconds_until(f64::from(checks[*i].cost), checks[*i].rate))
            .max()
            .unwrap_or(1);
        for (l, b) in checks.iter().zip(&looked) {
            buckets.insert(l.key.clone(), *b);
        }
        world
            .throttling
            .throttled("graph", client_bucket, wait, now);
        drop(world);
        // A refused request takes nothing from the buckets (assumed: the doc says only that
        // "the requests exceeding the limits will be throttled").
        return Err(too_many(
            call,
            wait,
            &checks[first].scope,
            checks[first].information,
        ));
    }
    let mut share: f64 = 0.0;
    for (l, b) in checks.iter().zip(looked.iter_mut()) {
        b.take(f64::from(l.cost));
        buckets.insert(l.key.clone(), *b);
        let used = 1.0 - f64::from(b.remaining()) / f64::from(l.size.max(1));
        share = share.max(used);
    }
    Ok(Charged {
        resource_units: units,
        limit_share: (share > 0.8).then_some(share),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: &str) -> bool {
        false
    }

    #[test]
    fn costs_follow_the_documented_table() {
        assert_eq!(cost(&Method::GET, &["applications"], &none, None), (2, 0));
        assert_eq!(
            cost(&Method::GET, &["applications"], &|q| q == "$select", None),
            (1, 0)
        );
        assert_eq!(
            cost(&Method::GET, &["applications", "x"], &none, None),
            (1, 0)
        );
        assert_eq!(
            cost(
                &Method::GET,
                &["applications(appId='a')"],
                &|q| q == "$select",
                None
            ),
            (1, 0),
            "never below 1"
        );
        assert_eq!(cost(&Method::POST, &["applications"], &none, None), (1, 1));
        assert_eq!(
            cost(
                &Method::POST,
                &["directoryObjects", "getByIds"],
                &none,
                None
            ),
            (3, 0)
        );
        assert_eq!(cost(&Method::GET, &["users"], &none, Some(5)), (1, 0));
        assert_eq!(
            cost(
                &Method::GET,
                &["users", "u", "memberOf"],
                &|q| q == "$expand",
                None
            ),
            (3, 0)
        );
    }
}
