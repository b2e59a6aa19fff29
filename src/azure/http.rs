//! One HTTP stack for Graph, ARM and Key Vault: bearer auth, bounded retries with jittered
//! exponential backoff that honour `Retry-After`, and error envelopes parsed into
//! [`AzureError`]s. Requests are built with real Azure URLs; the transport routes them.

use std::{
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use azure_transport::Transport;
use bytes::Bytes;
use reqwest::{
    Method, StatusCode,
    header::{HeaderMap, HeaderName, HeaderValue},
};
use serde::de::DeserializeOwned;
use serde_json::Value;
use url::Url;

use super::{
    AzureError, Service,
    throttle_gate::{Admission, Answer, Bucket, ThrottleGates},
};

/// How hard to retry inside one invocation. Beyond this budget the step fails retryably and
/// Service Bus redelivery (or a scheduled re-check) takes over, so invocations stay short.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Tries per call, the first included.
    pub max_attempts: u32,
    /// First backoff; doubles each retry.
    pub base_delay: Duration,
    /// Longest single backoff.
    pub max_delay: Duration,
    /// Longest total time spent waiting between tries of one call.
    pub budget: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(16),
            budget: Duration::from_secs(45),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (1-based), with full jitter in [d/2, d].
    fn backoff(&self, retry: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1 << retry.saturating_sub(1).min(16));
        let capped = exp.min(self.max_delay);
        let half = capped / 2;
        half + half.mul_f64(rand::random::<f64>())
    }
}

/// How often a call waiting for a throttled bucket's next answer looks again.
const GATE_LOOK_AGAIN: Duration = Duration::from_millis(100);

/// A request body.
#[derive(Clone)]
pub enum Body {
    /// JSON.
    Json(Value),
    /// Bytes of a given content type.
    Raw {
        /// `Content-Type`.
        content_type: String,
        /// The bytes.
        bytes: Bytes,
    },
}

/// One call.
pub struct ApiCall {
    /// Which service (for error messages and classification).
    pub service: Service,
    /// Method.
    pub method: Method,
    /// The real Azure URL.
    pub url: Url,
    /// Extra headers (the bearer token goes in here, set by the client).
    pub headers: HeaderMap,
    /// The body, if any.
    pub body: Option<Body>,
    /// Whether resending after an ambiguous failure (5xx, broken connection) is safe.
    /// A 429 is always retried: the service did not process the request.
    pub idempotent: bool,
}

impl ApiCall {
    /// A call without a body.
    pub fn new(service: Service, method: Method, url: Url) -> Self {
        let idempotent = method != Method::POST;
        Self {
            service,
            method,
            url,
            headers: HeaderMap::new(),
            body: None,
            idempotent,
        }
    }

    /// Adds a JSON body.
    #[must_use]
    pub fn json(mut self, body: Value) -> Self {
        self.body = Some(Body::Json(body));
        self
    }

    /// Adds a body of another content type.
    #[must_use]
    pub fn raw(mut self, content_type: impl Into<String>, bytes: impl Into<Bytes>) -> Self {
        self.body = Some(Body::Raw {
            content_type: content_type.into(),
            bytes: bytes.into(),
        });
        self
    }

    /// Adds a header. Invalid values are dropped (they come from our own constants).
    #[must_use]
    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        if let Ok(value) = HeaderValue::from_str(value) {
            self.headers.insert(HeaderName::from_static(name), value);
        }
        self
    }

    /// Marks a POST as safe to resend (it has a natural key).
    #[must_use]
    pub fn idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = idempotent;
        self
    }
}

/// A successful answer.
#[derive(Clone)]
pub struct ApiResponse {
    /// Status (2xx).
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
}

impl ApiResponse {
    /// The body as JSON.
    pub fn json<T: DeserializeOwned>(&self, service: Service) -> Result<T, AzureError> {
        serde_json::from_slice(&self.body).map_err(|e| AzureError::Unexpected {
            service,
            detail: format!("body is not the expected JSON: {e}"),
        })
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A header that holds a URL (`Location`, `Azure-AsyncOperation`).
    pub fn url_header(&self, name: &str) -> Option<Url> {
        self.header(name).and_then(|v| Url::parse(v).ok())
    }

    /// `Retry-After` in seconds.
    pub fn retry_after(&self) -> Option<Duration> {
        retry_after(&self.headers)
    }

    /// The service's id of this call (see [`service_request_id`]).
    pub fn service_request_id(&self, service: Service) -> Option<String> {
        service_request_id(service, &self.headers)
    }
}

/// The id a service gives each call, which its support asks for: Graph's `request-id`, Resource
/// Manager's `x-ms-correlation-request-id` (the one that follows the call through the resource
/// providers), Key Vault's `x-ms-request-id`.
pub fn service_request_id(service: Service, headers: &HeaderMap) -> Option<String> {
    let name = match service {
        Service::Graph => "request-id",
        Service::ResourceManager => "x-ms-correlation-request-id",
        Service::KeyVault | Service::ServiceBus => "x-ms-request-id",
        Service::Entra | Service::Webhook => return None,
    };
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.chars().take(100).collect())
}

// Hand-written Debug: headers carry bearer tokens and bodies carry client secrets and Key
// Vault values (addPassword, secret set/get), so neither is ever printed.
impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Json(_) => f.write_str("Json(..)"),
            Self::Raw {
                content_type,
                bytes,
            } => {
                write!(f, "Raw({content_type}, {} bytes)", bytes.len())
            }
        }
    }
}

impl std::fmt::Debug for ApiCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiCall")
            .field("service", &self.service)
            .field("method", &self.method)
            .field("url", &self.url.as_str())
            .field("body", &self.body)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ApiResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiResponse")
            .field("status", &self.status)
            .field("body_bytes", &self.body.len())
            .finish_non_exhaustive()
    }
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// Parses `{"error":{"code","message"}}` (Graph, ARM, Key Vault) into an [`AzureError`].
fn api_error(service: Service, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> AzureError {
    let envelope: Option<Value> = serde_json::from_slice(body).ok();
    let error = envelope.as_ref().and_then(|v| v.get("error"));
    let text = |key: &str| {
        error
            .and_then(|e| e.get(key))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    AzureError::Api {
        service,
        status: status.as_u16(),
        code: text("code").unwrap_or_else(|| {
            status
                .canonical_reason()
                .unwrap_or("Error")
                .replace(' ', "")
        }),
        message: text("message")
            .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned()),
        retry_after: retry_after(headers),
        details: error
            .and_then(|e| e.get("details"))
            .and_then(Value::as_array)
            .map(|ds| {
                ds.iter()
                    .filter_map(|d| d.get("code")?.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        request_id: service_request_id(service, headers),
    }
}

/// Sends calls with retries.
#[derive(Clone, Debug)]
pub struct HttpStack {
    transport: Transport,
    policy: RetryPolicy,
    gates: ThrottleGates,
}

impl HttpStack {
    /// A stack over `transport`.
    pub fn new(transport: Transport, policy: RetryPolicy) -> Self {
        Self {
            transport,
            policy,
            gates: ThrottleGates::default(),
        }
    }

    /// Now on the clock the services' `Retry-After` counts on: the simulator's when every call
    /// goes to it (its buckets refill on its clock), the system's otherwise.
    fn now(&self) -> SystemTime {
        SystemTime::now() + self.transport.simulated_offset()
    }

    /// Shares this stack's 429s with other instances through `board`, and theirs with it,
    /// for as long as the runtime runs (`throttle_board`).
    pub fn share_throttling(&self, board: Arc<dyn super::throttle_board::ThrottleBoard>) {
        let stack = self.clone();
        tokio::spawn(super::throttle_board::share(
            self.gates.clone(),
            board,
            move || stack.now(),
        ));
    }

    /// The transport (for clients that need it directly).
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// Sends `call`, retrying what is safe to retry within the policy's budget.
    pub async fn send(&self, call: &ApiCall) -> Result<ApiResponse, AzureError> {
        let started = Instant::now();
        let bucket = Bucket::of(call.service, &call.method, &call.url, &call.headers);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let tracked = match &bucket {
                Some(bucket) => self.wait_for_gate(call, bucket, started).await?,
                None => false,
            };
            let outcome = self.send_once(call).await;
            if let Some(bucket) = &bucket {
                let answer = match &outcome {
                    Ok(response) => Answer::Succeeded {
                        remaining: bucket.remaining(&response.headers),
                    },
                    Err(AzureError::Api {
                        status: 429,
                        code,
                        message,
                        retry_after: Some(wait),
                        ..
                    }) => Answer::Throttled {
                        retry_after: *wait,
                        code,
                        message,
                    },
                    Err(_) => Answer::Failed,
                };
                self.gates.answered(bucket, tracked, self.now(), &answer);
            }
            let error = match outcome {
                Ok(response) => return Ok(response),
                Err(e) => e,
            };
            let throttled = error.status() == Some(429);
            let safe = call.idempotent || throttled;
            if !error.is_retryable() || !safe || attempt >= self.policy.max_attempts {
                return Err(error);
            }
            let wait = error
                .retry_after()
                .unwrap_or_else(|| self.policy.backoff(attempt));
            if started.elapsed() + wait > self.policy.budget {
                // Waiting longer would keep the invocation open; let the step reschedule.
                return Err(error);
            }
            tracing::info!(
                service = %call.service,
                status = error.status(),
                code = error.code(),
                wait_ms = wait.as_millis() as u64,
                attempt,
                "retrying"
            );
            tokio::time::sleep(wait).await;
        }
    }

    /// Waits while another call's 429 holds `bucket` closed, or while the tokens it has left
    /// are taken by calls still out, when the retry budget allows; otherwise answers as a 429
    /// would, without sending, so that the step reschedules itself after the `Retry-After`
    /// instead of spending a request on an empty bucket. True when the gate counts this call.
    async fn wait_for_gate(
        &self,
        call: &ApiCall,
        bucket: &Bucket,
        started: Instant,
    ) -> Result<bool, AzureError> {
        let mut synced = false;
        loop {
            let now = self.now();
            let (wait, closed) = match self.gates.admit(bucket, now) {
                Admission::Go { tracked } => return Ok(tracked),
                Admission::Closed(closed) => (
                    closed.until.duration_since(now).unwrap_or_default()
                        // Retry-After counts whole seconds: not a moment before it opens.
                        + Duration::from_millis(50),
                    Some(closed),
                ),
                Admission::WaitForAnswer => (GATE_LOOK_AGAIN, None),
            };
            if started.elapsed() + wait > self.policy.budget {
                // Against the simulator the clock may lag a jump a test just made: read it
                // before answering that the gate is still closed.
                if self.transport.is_simulated() && !synced {
                    synced = true;
                    self.transport.sync_simulator_clock().await;
                    continue;
                }
                let (code, said) = closed.map_or_else(
                    || ("TooManyRequests".to_owned(), "no tokens left".to_owned()),
                    |c| (c.code, c.message),
                );
                return Err(AzureError::Api {
                    service: call.service,
                    status: 429,
                    code,
                    message: format!(
                        "not sent: an earlier call of this instance was answered 429 for the same bucket ({said})"
                    ),
                    retry_after: Some(wait.max(Duration::from_secs(1))),
                    details: Vec::new(),
                    request_id: None,
                });
            }
            tokio::time::sleep(wait).await;
        }
    }

    async fn send_once(&self, call: &ApiCall) -> Result<ApiResponse, AzureError> {
        let mut builder = self
            .transport
            .client()
            .request(call.method.clone(), call.url.clone());
        builder = builder.headers(call.headers.clone());
        if let Some(body) = &call.body {
            builder = match body {
                Body::Json(value) => builder.json(value),
                Body::Raw {
                    content_type,
                    bytes,
                } => builder
                    .header(reqwest::header::CONTENT_TYPE, content_type.as_str())
                    .body(bytes.clone()),
            };
        } else if matches!(call.method, Method::POST | Method::PUT | Method::PATCH) {
            builder = builder.header(reqwest::header::CONTENT_LENGTH, "0");
        }
        let request = builder.build().map_err(|e| AzureError::Unexpected {
            service: call.service,
            detail: format!("could not build the request: {e}"),
        })?;
        let response =
            self.transport
                .execute(request)
                .await
                .map_err(|e| AzureError::Transport {
                    service: call.service,
                    detail: e.without_url().to_string(),
                })?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(|e| AzureError::Transport {
            service: call.service,
            detail: format!("reading the body: {}", e.without_url()),
        })?;
        if status.is_success() {
            Ok(ApiResponse {
                status,
                headers,
                body,
            })
        } else {
            Err(api_error(call.service, status, &headers, &body))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    };

    use axum::{Router, http::StatusCode as S, response::IntoResponse, routing::any};

    use super::*;

    /// A server answering each request with the next scripted status (the last repeats).
    async fn scripted(script: Vec<(u16, Option<&'static str>)>) -> (Url, Arc<AtomicU32>) {
        let hits = Arc::new(AtomicU32::new(0));
        let counter = hits.clone();
        let app = Router::new().fallback(any(move || {
            let n = counter.fetch_add(1, Ordering::SeqCst) as usize;
            let (status, retry_after) = script[n.min(script.len() - 1)];
            async move {
                let body = format!(r#"{{"error":{{"code":"Code{status}","message":"scripted"}}}}"#);
                let mut response = (S::from_u16(status).unwrap(), body).into_response();
                if let Some(r) = retry_after {
                    response
                        .headers_mut()
                        .insert("retry-after", r.parse().unwrap());
                }
                response
            }
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}/x", listener.local_addr().unwrap())).unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, hits)
    }

    fn stack() -> HttpStack {
        let policy = RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(20),
            budget: Duration::from_secs(5),
        };
        HttpStack::new(Transport::direct().unwrap(), policy)
    }

    #[tokio::test]
    async fn a_throttled_call_is_retried_after_retry_after_and_succeeds() {
        let (url, hits) = scripted(vec![(429, Some("0")), (503, None), (200, None)]).await;
        let response = stack()
            .send(&ApiCall::new(Service::Graph, Method::GET, url))
            .await
            .unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(hits.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_non_idempotent_post_is_not_resent_after_a_5xx() {
        let (url, hits) = scripted(vec![(503, None), (200, None)]).await;
        let err = stack()
            .send(&ApiCall::new(Service::Graph, Method::POST, url))
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(503));
        assert!(err.is_retryable(), "the step may still retry it");
        assert_eq!(hits.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_non_idempotent_post_is_resent_after_a_429() {
        let (url, hits) = scripted(vec![(429, Some("0")), (200, None)]).await;
        stack()
            .send(&ApiCall::new(Service::Graph, Method::POST, url))
            .await
            .unwrap();
        assert_eq!(hits.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_client_error_is_not_retried_and_keeps_its_code() {
        let (url, hits) = scripted(vec![(409, None)]).await;
        let err = stack()
            .send(&ApiCall::new(Service::ResourceManager, Method::PUT, url))
            .await
            .unwrap_err();
        assert!(err.has_code("Code409"));
        assert!(!err.is_retryable());
        assert_eq!(hits.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_retry_after_beyond_the_budget_is_returned_instead_of_waited() {
        let (url, hits) = scripted(vec![(429, Some("3600"))]).await;
        let err = stack()
            .send(&ApiCall::new(Service::ResourceManager, Method::GET, url))
            .await
            .unwrap_err();
        assert_eq!(err.retry_after(), Some(Duration::from_secs(3600)));
        assert_eq!(hits.load(Ordering::SeqCst), 1);
    }

    fn call_as(method: Method, url: &Url, token: &str) -> ApiCall {
        let path = url.join("/subscriptions/s1/resourceGroups/rg").unwrap();
        ApiCall::new(Service::ResourceManager, method, path)
            .header("authorization", &format!("Bearer {token}"))
    }

    #[tokio::test]
    async fn after_a_429_beyond_the_budget_the_same_bucket_is_not_called_again_before_retry_after()
    {
        let (url, hits) = scripted(vec![(429, Some("3600")), (200, None)]).await;
        let stack = stack();
        let first = stack
            .send(&call_as(Method::PUT, &url, "a"))
            .await
            .unwrap_err();
        assert_eq!(first.status(), Some(429));
        let second = stack
            .send(&call_as(Method::PATCH, &url, "a"))
            .await
            .unwrap_err();
        assert_eq!(
            hits.load(Ordering::SeqCst),
            1,
            "the second write was not sent"
        );
        assert_eq!(second.status(), Some(429));
        assert!(second.is_retryable());
        let wait = second.retry_after().unwrap();
        assert!(
            wait > Duration::from_secs(3590) && wait <= Duration::from_secs(3601),
            "{wait:?}"
        );
        // Another bucket of the same principal (reads) and another principal's writes go out.
        stack.send(&call_as(Method::GET, &url, "a")).await.unwrap();
        stack.send(&call_as(Method::PUT, &url, "b")).await.unwrap();
        assert_eq!(hits.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_call_finding_its_bucket_closed_for_less_than_the_budget_waits_and_then_goes_out() {
        let (url, hits) = scripted(vec![(429, Some("1")), (200, None)]).await;
        let stack = HttpStack::new(
            Transport::direct().unwrap(),
            RetryPolicy {
                max_attempts: 1,
                ..stack().policy
            },
        );
        stack
            .send(&call_as(Method::PUT, &url, "a"))
            .await
            .unwrap_err();
        let started = Instant::now();
        let response = stack.send(&call_as(Method::PUT, &url, "a")).await.unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(hits.load(Ordering::SeqCst), 2);
        assert!(
            started.elapsed() >= Duration::from_millis(900),
            "it waited for Retry-After"
        );
    }

    #[tokio::test]
    async fn retries_stop_at_the_attempt_limit() {
        let (url, hits) = scripted(vec![(500, None)]).await;
        let err = stack()
            .send(&ApiCall::new(Service::KeyVault, Method::GET, url))
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(500));
        assert_eq!(hits.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn a_call_or_answer_never_prints_its_token_or_body() {
        let call = ApiCall::new(
            Service::KeyVault,
            Method::PUT,
            Url::parse("https://kv.vault.azure.net/secrets/s").unwrap(),
        )
        .header("authorization", "Bearer eyJ-token")
        .json(serde_json::json!({"value": "s3cr3t"}));
        let response = ApiResponse {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: Bytes::from_static(br#"{"secretText":"s3cr3t"}"#),
        };
        let shown = format!("{call:?} {response:?}");
        assert!(
            !shown.contains("eyJ-token") && !shown.contains("s3cr3t"),
            "{shown}"
        );
        assert!(shown.contains("kv.vault.azure.net"), "{shown}");
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let p = RetryPolicy::default();
        for retry in 1..10 {
            let d = p.backoff(retry);
            let full = (p.base_delay * (1 << (retry - 1))).min(p.max_delay);
            assert!(
                d >= full / 2 && d <= full,
                "retry {retry}: {d:?} outside [{:?}, {full:?}]",
                full / 2
            );
        }
    }
}
