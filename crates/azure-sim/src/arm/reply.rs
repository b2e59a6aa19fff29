//! ARM answers: the JSON body, the error envelope `{"error":{"code","message","target"?,"details"?}}`,
//! and the headers every ARM response carries (as recorded).

use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::request::{HostRequest, new_request_id, respond};

/// The header that follows one call through ARM and the resource providers.
pub const CORRELATION_HEADER: &str = "x-ms-correlation-request-id";

/// A successful (or accepted) answer.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status.
    pub status: StatusCode,
    /// JSON body; `None`: empty body.
    pub body: Option<Value>,
    /// Extra headers (LRO headers, resource rate limits).
    pub headers: Vec<(&'static str, String)>,
}

impl Reply {
    /// A JSON answer.
    pub fn json(status: StatusCode, body: Value) -> Self {
        Self {
            status,
            body: Some(body),
            headers: vec![],
        }
    }

    /// 200 with a JSON body.
    pub fn ok(body: Value) -> Self {
        Self::json(StatusCode::OK, body)
    }

    /// An empty answer.
    pub fn empty(status: StatusCode) -> Self {
        Self {
            status,
            body: None,
            headers: vec![],
        }
    }

    /// Adds a header.
    #[must_use]
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

/// The status a PUT answers: 200 when it replaced a resource, 201 when it created one.
pub fn put_status(replaced: bool) -> StatusCode {
    if replaced {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    }
}

/// An ARM error answer.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ArmError {
    /// Status.
    pub status: StatusCode,
    /// `error.code`.
    pub code: String,
    /// `error.message`.
    pub message: String,
    /// `error.target`.
    pub target: Option<String>,
    /// `error.details`.
    pub details: Option<Value>,
    /// Extra headers (`WWW-Authenticate`, `Retry-After`).
    pub headers: Vec<(&'static str, String)>,
}

impl ArmError {
    /// An error with a code and a message.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_owned(),
            message: message.into(),
            target: None,
            details: None,
            headers: vec![],
        }
    }

    /// 400 with a code.
    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 404 with a code.
    pub fn not_found(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// Sets `error.target`.
    #[must_use]
    pub fn target(mut self, target: &str) -> Self {
        self.target = Some(target.to_owned());
        self
    }

    /// Adds a header.
    #[must_use]
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// The `{"code","message",...}` object.
    pub fn body(&self) -> Value {
        let mut e = json!({"code": self.code, "message": self.message});
        if let Some(o) = e.as_object_mut() {
            if let Some(t) = &self.target {
                o.insert("target".into(), json!(t));
            }
            if let Some(d) = &self.details {
                o.insert("details".into(), d.clone());
            }
        }
        e
    }
}

/// The request rate class ARM reports remaining budget for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateClass {
    /// GET.
    Reads,
    /// PUT, PATCH, POST.
    Writes,
    /// DELETE.
    Deletes,
}

impl RateClass {
    /// `reads`, `writes`, `deletes`.
    pub fn word(self) -> &'static str {
        match self {
            Self::Reads => "reads",
            Self::Writes => "writes",
            Self::Deletes => "deletes",
        }
    }
}

/// What remains in the buckets a request was charged to, for the `x-ms-ratelimit-remaining-*`
/// headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Remaining {
    /// The operation type.
    pub class: RateClass,
    /// Left in the principal's bucket (or hourly window).
    pub left: u32,
    /// Left in the global subscription bucket (regional throttling only).
    pub global: Option<u32>,
    /// A tenant-level request (no subscription in the path; regional throttling only).
    pub tenant_level: bool,
}

impl Remaining {
    /// The headers: `x-ms-ratelimit-remaining-{subscription|tenant}-{class}` and, with a
    /// global bucket, `x-ms-ratelimit-remaining-subscription-global-{class}`.
    pub fn headers(self) -> Vec<(&'static str, String)> {
        let name = match (self.tenant_level, self.class) {
            (false, RateClass::Reads) => "x-ms-ratelimit-remaining-subscription-reads",
            (false, RateClass::Writes) => "x-ms-ratelimit-remaining-subscription-writes",
            (false, RateClass::Deletes) => "x-ms-ratelimit-remaining-subscription-deletes",
            (true, RateClass::Reads) => "x-ms-ratelimit-remaining-tenant-reads",
            (true, RateClass::Writes) => "x-ms-ratelimit-remaining-tenant-writes",
            // Not in the doc's header table (it lists tenant reads and writes); assumed.
            (true, RateClass::Deletes) => "x-ms-ratelimit-remaining-tenant-deletes",
        };
        let mut h = vec![(name, self.left.to_string())];
        if let Some(g) = self.global {
            let name = match self.class {
                RateClass::Reads => "x-ms-ratelimit-remaining-subscription-global-reads",
                RateClass::Writes => "x-ms-ratelimit-remaining-subscription-global-writes",
                RateClass::Deletes => "x-ms-ratelimit-remaining-subscription-global-deletes",
            };
            h.push((name, g.to_string()));
        }
        h
    }
}

fn routing_id(now: OffsetDateTime, correlation: &str) -> String {
    format!(
        "EASTUS:{:04}{:02}{:02}T{:02}{:02}{:02}Z:{correlation}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    )
}

/// The call's correlation id: the caller's `x-ms-correlation-request-id`, else a new GUID.
/// ARM makes its own when the caller sends none; the recorded answers never reuse the
/// request id (`x-ms-request-id`) for it.
pub fn correlation_id(req: &HostRequest) -> String {
    req.header(CORRELATION_HEADER)
        .filter(|c| !c.trim().is_empty())
        .map_or_else(new_request_id, str::to_owned)
}

/// Gives the request the correlation id its answer, its long-running operation and the
/// resources a deployment PUTs on its behalf all carry (see [`correlation_id`]).
pub fn ensure_correlation_id(req: &mut HostRequest) {
    if req
        .header(CORRELATION_HEADER)
        .is_some_and(|c| !c.trim().is_empty())
    {
        return;
    }
    if let Ok(v) = http::HeaderValue::from_str(&new_request_id()) {
        req.headers.insert(CORRELATION_HEADER, v);
    }
}

/// The headers on every ARM answer (success, error, LRO poll, injected fault): `x-ms-request-id`
/// (this request's id), `x-ms-correlation-request-id` ([`correlation_id`]) and
/// `x-ms-routing-request-id` ending with it, the cache headers and the remaining budget.
pub fn standard_headers(
    req: &HostRequest,
    now: OffsetDateTime,
    remaining: Option<Remaining>,
) -> Vec<(&'static str, String)> {
    let correlation = correlation_id(req);
    let mut h = vec![
        ("cache-control", "no-cache".to_owned()),
        ("pragma", "no-cache".to_owned()),
        ("expires", "-1".to_owned()),
        (
            "strict-transport-security",
            "max-age=31536000; includeSubDomains".to_owned(),
        ),
        ("x-content-type-options", "nosniff".to_owned()),
        ("x-ms-request-id", req.request_id.clone()),
        (CORRELATION_HEADER, correlation.clone()),
        ("x-ms-routing-request-id", routing_id(now, &correlation)),
    ];
    if let Some(r) = remaining {
        h.extend(r.headers());
    }
    h
}

/// Assembles a response; headers the handler set replace the standard ones of the same name.
pub fn assemble(
    status: StatusCode,
    body: Option<&Value>,
    standard: Vec<(&'static str, String)>,
    extra: &[(&'static str, String)],
) -> Response {
    let mut headers: Vec<(&str, String)> = standard
        .into_iter()
        .filter(|(n, _)| !extra.iter().any(|(e, _)| e.eq_ignore_ascii_case(n)))
        .collect();
    headers.extend(extra.iter().cloned());
    if let Some(v) = body {
        headers.push(("content-type", "application/json; charset=utf-8".to_owned()));
        respond(status, &headers, v.to_string())
    } else {
        respond(status, &headers, "")
    }
}

/// An error as a response.
pub fn error_response(
    e: &ArmError,
    req: &HostRequest,
    now: OffsetDateTime,
    remaining: Option<Remaining>,
) -> Response {
    assemble(
        e.status,
        Some(&json!({"error": e.body()})),
        standard_headers(req, now, remaining),
        &e.headers,
    )
}

/// Compute's timestamps: `2022-06-07T12:28:18.7432489+00:00` (trailing zeros of the fraction dropped).
pub fn compute_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let fraction = format!("{:07}", t.nanosecond() / 100);
    let fraction = fraction.trim_end_matches('0');
    let base = crate::timefmt::graph_seconds(t);
    let base = base.trim_end_matches('Z');
    if fraction.is_empty() {
        format!("{base}+00:00")
    } else {
        format!("{base}.{fraction}+00:00")
    }
}

/// ARM's `2022-05-07T06:56:51.7166966Z` form.
pub fn arm_time(t: OffsetDateTime) -> String {
    crate::timefmt::graph_precise(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compute_times_use_an_offset_and_drop_trailing_zeros() {
        let t = time::macros::datetime!(2021-10-27 02:22:41.2522380 UTC);
        assert_eq!(compute_time(t), "2021-10-27T02:22:41.252238+00:00");
        let t = time::macros::datetime!(2022-06-07 12:28:18.7432489 UTC);
        assert_eq!(compute_time(t), "2022-06-07T12:28:18.7432489+00:00");
    }
}
