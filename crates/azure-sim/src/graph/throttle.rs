//! Graph's own throttling: a write budget per application and tenant
//! (`Scenario::graph_throttling`), answered with 429, `Retry-After` and the
//! `x-ms-throttle-*` headers Graph sends.

use std::collections::{HashMap, VecDeque};

use axum::response::Response;
use http::{HeaderValue, Method, StatusCode};
use time::{Duration, OffsetDateTime};

use super::{Call, errors};

/// Write timestamps per (tenant, application).
#[derive(Debug, Default)]
pub struct GraphUsage(HashMap<(String, String), VecDeque<OffsetDateTime>>);

/// `Some(429)` when this write exceeds the caller's budget.
pub fn check(call: &Call<'_>, app_id: &str) -> Option<Response> {
    let budget = call.ctx.scenario.graph_throttling?;
    if !matches!(
        call.req.method,
        Method::POST | Method::PATCH | Method::DELETE
    ) {
        return None;
    }
    let window = Duration::seconds(i64::from(budget.window_seconds));
    let now = call.now;
    let retry_after = {
        let mut world = call.ctx.world();
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
        ((oldest + window) - now).whole_seconds().max(1)
    };
    let mut response = errors::error(
        StatusCode::TOO_MANY_REQUESTS,
        "TooManyRequests",
        "Too many requests.",
        None,
        call.req,
        now,
    );
    let headers = response.headers_mut();
    for (name, value) in [
        ("retry-after", retry_after.to_string()),
        (
            "x-ms-throttle-scope",
            format!("Tenant_Application/Write/{app_id}/{}", call.caller.tenant),
        ),
        ("x-ms-throttle-information", "WriteLimitExceeded".to_owned()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    }
    Some(response)
}
