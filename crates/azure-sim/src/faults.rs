//! Fault injection: answer matching requests with a chosen status, body and headers.

use std::{
    collections::BTreeMap,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use axum::response::Response;
use http::StatusCode;
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;

use crate::{
    request::{HostFamily, HostRequest, family, respond},
    timefmt,
};

/// A fault rule. Matches by host, path pattern and (optionally) method; `*` in `host` or
/// `path` matches any run of characters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fault {
    /// Host to match (`graph.microsoft.com`, `*.vault.azure.net`, `*`).
    pub host: String,
    /// Path pattern (`/v1.0/applications*`). The query is not matched.
    #[serde(default = "star")]
    pub path: String,
    /// Method to match; any when absent.
    #[serde(default)]
    pub method: Option<String>,
    /// Status to answer with. Absent: the request is only delayed, then served normally.
    #[serde(default)]
    pub status: Option<u16>,
    /// Body to answer with. Absent: the service's own error envelope for `status`.
    #[serde(default)]
    pub body: Option<String>,
    /// Extra response headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Fire at most this many times, then stop matching.
    #[serde(default)]
    pub count: Option<u32>,
    /// Fire with this probability (0..=1) per matching request.
    #[serde(default)]
    pub probability: Option<f64>,
    /// Seed for `probability`, so a test is repeatable.
    #[serde(default)]
    pub seed: Option<u64>,
    /// Delay before answering, in milliseconds.
    #[serde(default)]
    pub delay_ms: Option<u64>,
    /// `Retry-After` header value, in seconds.
    #[serde(default)]
    pub retry_after: Option<u32>,
    /// Resource Manager only, with no `status`: the request is served, but the long-running
    /// operation it starts ends `Failed` with this error (the resource's provisioningState too).
    #[serde(default)]
    pub provisioning_error: Option<ProvisioningError>,
}

/// The error a failed long-running operation reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvisioningError {
    /// `error.code` (`OSProvisioningTimedOut`, `AllocationFailed`, ...).
    pub code: String,
    /// `error.message`.
    pub message: String,
}

fn star() -> String {
    "*".to_owned()
}

impl Fault {
    /// A fault answering `status` for every request to `host` whose path matches `path`.
    pub fn new(host: &str, path: &str, status: u16) -> Self {
        Self {
            host: host.to_owned(),
            path: path.to_owned(),
            method: None,
            status: Some(status),
            body: None,
            headers: BTreeMap::new(),
            count: None,
            probability: None,
            seed: None,
            delay_ms: None,
            retry_after: None,
            provisioning_error: None,
        }
    }

    /// A Resource Manager error with its own code and message (`{"error":{"code","message"}}`).
    pub fn arm_error(path: &str, status: u16, code: &str, message: &str) -> Self {
        Self::new("management.azure.com", path, status)
            .body(&json!({"error": {"code": code, "message": message}}).to_string())
    }

    /// A VM PUT refused for regional vCPU quota, as Compute answers it (409 `QuotaExceeded`).
    pub fn quota_exceeded(vm_path: &str, location: &str) -> Self {
        Self::arm_error(
            vm_path,
            409,
            "QuotaExceeded",
            &format!(
                "Operation could not be completed as it results in exceeding approved Total Regional Cores quota. Additional details - Deployment Model: Resource Manager, Location: {location}, Current Limit: 10, Current Usage: 10, Additional Required: 2, (Minimum) New Limit Required: 12. Submit a request for Quota increase at https://aka.ms/ProdportalCRP/#blade/Microsoft_Azure_Capacity/UsageAndQuota.ReactView/Parameters/ to this subscription by specifying parameters listed in the 'Details' section for deployment to succeed. Please read more about quota limits at https://docs.microsoft.com/en-us/azure/azure-supportability/regional-quota-requests"
            ),
        )
        .method("PUT")
    }

    /// A VM PUT refused because the size is not offered there (409 `SkuNotAvailable`).
    pub fn sku_not_available(vm_path: &str, size: &str, location: &str) -> Self {
        Self::arm_error(
            vm_path,
            409,
            "SkuNotAvailable",
            &format!(
                "The requested VM size for resource 'Following SKUs have failed for Capacity Restrictions: {size}' is currently not available in location '{location}'. Please try another size or deploy to a different location or different zone. See https://aka.ms/azureskunotavailable for details."
            ),
        )
        .method("PUT")
    }

    /// The PUT is accepted, but its long-running operation ends `Failed` with `code`.
    pub fn provisioning_failure(path: &str, code: &str, message: &str) -> Self {
        let mut fault = Self::new("management.azure.com", path, 0).method("PUT");
        fault.status = None;
        fault.provisioning_error = Some(ProvisioningError {
            code: code.to_owned(),
            message: message.to_owned(),
        });
        fault
    }

    /// A 429 with `Retry-After` in the service's own error shape.
    pub fn throttle(host: &str, path: &str, retry_after_seconds: u32) -> Self {
        let mut fault = Self::new(host, path, 429);
        fault.retry_after = Some(retry_after_seconds);
        fault
    }

    /// Only for this method.
    #[must_use]
    pub fn method(mut self, method: &str) -> Self {
        self.method = Some(method.to_ascii_uppercase());
        self
    }

    /// Fire at most `n` times.
    #[must_use]
    pub fn times(mut self, n: u32) -> Self {
        self.count = Some(n);
        self
    }

    /// Fire with probability `p`, drawn from a generator seeded with `seed`.
    #[must_use]
    pub fn with_probability(mut self, p: f64, seed: u64) -> Self {
        self.probability = Some(p);
        self.seed = Some(seed);
        self
    }

    /// Answer with this body instead of the service's envelope.
    #[must_use]
    pub fn body(mut self, body: &str) -> Self {
        self.body = Some(body.to_owned());
        self
    }

    /// Wait this long before answering.
    #[must_use]
    pub fn delay(mut self, delay: std::time::Duration) -> Self {
        self.delay_ms = Some(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX));
        self
    }

    fn matches(&self, method: &str, host: &str, path: &str) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && glob(&self.host.to_ascii_lowercase(), &host.to_ascii_lowercase())
            && glob(&self.path, path)
    }

    /// The response this fault gives to `req`, with the headers its service puts on every
    /// answer (Graph's `request-id` / `client-request-id` / `x-ms-ags-diagnostic`, Resource
    /// Manager's `x-ms-request-id` / `x-ms-correlation-request-id` / `x-ms-routing-request-id`;
    /// `x-ms-request-id` elsewhere). `None` when the fault does not answer.
    pub fn response(&self, req: &HostRequest, now: OffsetDateTime) -> Option<Response> {
        let status = StatusCode::from_u16(self.status?).ok()?;
        let family = family(&req.host);
        let (content_type, default_body) = default_error(&family, status, req, now);
        let mut headers: Vec<(&str, String)> = match family {
            HostFamily::Graph => crate::graph::errors::common(req, now),
            HostFamily::ResourceManager => crate::arm::reply::standard_headers(req, now, None),
            _ => vec![("x-ms-request-id", req.request_id.clone())],
        };
        headers.push((
            "content-type",
            if self.body.is_some() {
                "application/json".to_owned()
            } else {
                content_type.to_owned()
            },
        ));
        if let Some(seconds) = self.retry_after {
            headers.push(("retry-after", seconds.to_string()));
        }
        let mut response = respond(status, &headers, self.body.clone().unwrap_or(default_body));
        for (name, value) in &self.headers {
            if let (Ok(name), Ok(value)) = (
                http::HeaderName::from_bytes(name.as_bytes()),
                http::HeaderValue::from_str(value),
            ) {
                response.headers_mut().insert(name, value);
            }
        }
        Some(response)
    }
}

/// The error envelope each service uses, for a status with no more specific cause.
fn default_error(
    family: &HostFamily,
    status: StatusCode,
    req: &HostRequest,
    now: OffsetDateTime,
) -> (&'static str, String) {
    let request_id = req.request_id.as_str();
    let code = match status.as_u16() {
        429 => "TooManyRequests",
        503 => "ServiceUnavailable",
        500 => "InternalServerError",
        502 => "BadGateway",
        504 => "GatewayTimeout",
        409 => "Conflict",
        404 => "NotFound",
        403 => "Forbidden",
        401 => "Unauthorized",
        _ => "BadRequest",
    };
    let message = status.canonical_reason().unwrap_or("Error").to_owned();
    match family {
        HostFamily::Graph => (
            "application/json",
            json!({"error": {"code": code, "message": message, "innerError": {
                "date": timefmt::graph_inner_date(now), "request-id": request_id,
                "client-request-id": req.client_request_id().unwrap_or(request_id)}}})
            .to_string(),
        ),
        HostFamily::Entra => {
            let (error, aadsts, text) = if status == StatusCode::TOO_MANY_REQUESTS {
                (
                    "temporarily_unavailable",
                    90055,
                    "TenantThrottlingError: There are too many pending requests for this tenant. Please try again later.",
                )
            } else {
                (
                    "temporarily_unavailable",
                    50001,
                    "The service is temporarily unavailable.",
                )
            };
            (
                "application/json; charset=utf-8",
                crate::entra::errors::body(error, aadsts, text, request_id, now).to_string(),
            )
        }
        HostFamily::ServiceBus(_) => (
            "application/xml; charset=utf-8",
            format!(
                "<Error><Code>{}</Code><Detail>{message}. TrackingId:{request_id}, Timestamp:{}</Detail></Error>",
                status.as_u16(),
                timefmt::graph_seconds(now)
            ),
        ),
        _ => (
            "application/json; charset=utf-8",
            json!({"error": {"code": code, "message": message}}).to_string(),
        ),
    }
}

/// `*` matches any run of characters (including `/`); everything else literally.
pub fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(part) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else if let Some(pos) = rest.find(part) {
            rest = &rest[pos + part.len()..];
        } else {
            return false;
        }
    }
    true
}

/// The id of an installed fault.
pub type FaultId = u64;

/// An installed fault and how often it fired.
#[derive(Clone, Debug, Serialize)]
pub struct FaultEntry {
    /// Its id.
    pub id: FaultId,
    /// The rule.
    pub fault: Fault,
    /// How many requests it answered.
    pub fired: u32,
}

struct Active {
    entry: FaultEntry,
    rng: StdRng,
}

/// The installed faults, first match wins.
#[derive(Default)]
pub struct Faults {
    active: Mutex<Vec<Active>>,
    next_id: AtomicU64,
}

impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Faults").finish_non_exhaustive()
    }
}

impl Faults {
    /// Installs a fault.
    pub fn add(&self, fault: Fault) -> FaultId {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst) + 1;
        let rng = StdRng::seed_from_u64(fault.seed.unwrap_or(id));
        self.active
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Active {
                entry: FaultEntry {
                    id,
                    fault,
                    fired: 0,
                },
                rng,
            });
        id
    }

    /// Every installed fault.
    pub fn list(&self) -> Vec<FaultEntry> {
        self.active
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|a| a.entry.clone())
            .collect()
    }

    /// Removes one fault; false when there was none with that id.
    pub fn remove(&self, id: FaultId) -> bool {
        let mut active = self.active.lock().unwrap_or_else(|e| e.into_inner());
        let before = active.len();
        active.retain(|a| a.entry.id != id);
        active.len() != before
    }

    /// Removes every fault.
    pub fn clear(&self) {
        self.active
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// The fault that fires for this request, if any (counting it as fired).
    pub fn pick(&self, method: &str, host: &str, path: &str) -> Option<(FaultId, Fault)> {
        let mut active = self.active.lock().unwrap_or_else(|e| e.into_inner());
        for a in active.iter_mut() {
            let fault = &a.entry.fault;
            if !fault.matches(method, host, path) {
                continue;
            }
            if fault.count.is_some_and(|n| a.entry.fired >= n) {
                continue;
            }
            if let Some(p) = fault.probability
                && a.rng.random::<f64>() >= p
            {
                continue;
            }
            a.entry.fired += 1;
            return Some((a.entry.id, a.entry.fault.clone()));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_prefixes_suffixes_and_inner_parts() {
        assert!(glob(
            "/v1.0/applications*",
            "/v1.0/applications(uniqueName='a')"
        ));
        assert!(glob("*", "/anything/at/all"));
        assert!(glob("*.vault.azure.net", "kv.vault.azure.net"));
        assert!(glob("/a/*/c", "/a/b/b/c"));
        assert!(!glob("/a/*/c", "/a/b/d"));
        assert!(!glob("/exact", "/exact/more"));
    }

    #[test]
    fn a_counted_fault_stops_after_its_count() {
        let faults = Faults::default();
        faults.add(Fault::new("graph.microsoft.com", "*", 503).times(2));
        let hit = || {
            faults
                .pick("GET", "graph.microsoft.com", "/v1.0/x")
                .is_some()
        };
        assert!(hit());
        assert!(hit());
        assert!(!hit());
    }

    #[test]
    fn a_seeded_probability_fault_is_repeatable() {
        let run = || {
            let faults = Faults::default();
            faults.add(Fault::new("*", "*", 500).with_probability(0.5, 7));
            (0..32)
                .map(|_| faults.pick("GET", "h", "/").is_some())
                .collect::<Vec<_>>()
        };
        let first = run();
        assert_eq!(first, run());
        assert!(first.iter().any(|f| *f) && first.iter().any(|f| !*f));
    }

    #[test]
    fn a_method_filter_only_matches_that_method() {
        let faults = Faults::default();
        faults.add(Fault::new("*", "*", 500).method("post"));
        assert!(faults.pick("GET", "h", "/").is_none());
        assert!(faults.pick("POST", "h", "/").is_some());
    }
}
