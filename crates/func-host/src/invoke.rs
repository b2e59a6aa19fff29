//! Calling the handler for one invocation and judging its reply
//! (H `DefaultHttpWorkerService.ProcessDefaultInvocationRequest`).

use std::time::Duration;

use serde_json::{Map, Value};

use crate::worker::{Endpoint, Worker, WorkerError};

/// The host version the local host reports (a 4.x host).
pub const HOST_VERSION: &str = "4.1037.0.0";

/// Headers every invocation carries.
pub const HEADER_INVOCATION_ID: &str = "X-Azure-Functions-InvocationId";
/// The host version header.
pub const HEADER_HOST_VERSION: &str = "X-Azure-Functions-HostVersion";

/// Why an invocation failed. Every variant fails it: the message is abandoned, the HTTP
/// caller gets 500.
#[derive(Debug, thiserror::Error)]
pub enum InvocationError {
    /// No handler process to call.
    #[error(transparent)]
    Worker(#[from] WorkerError),
    /// Connecting or talking to the handler failed (refused, reset, killed).
    #[error("request to the handler failed")]
    Request(#[source] reqwest::Error),
    /// `EnsureSuccessStatusCode` failed.
    #[error("the handler answered {status}")]
    Status {
        /// The status code.
        status: u16,
    },
    /// `ReadAsAsync` needs a JSON media type.
    #[error("the handler answered with content type {0:?}, not JSON")]
    ContentType(Option<String>),
    /// An empty body or `null`: no result. (The real host then never completes the
    /// invocation until functionTimeout, inferred; here it fails at once.)
    #[error("the handler answered with an empty or null body")]
    NoResult,
    /// The body is not an invocation result object.
    #[error("the handler's reply is not a JSON object")]
    InvalidJson(#[source] Option<serde_json::Error>),
    /// functionTimeout passed: the handler is restarted.
    #[error("the invocation exceeded functionTimeout ({0:?}); the handler is restarted")]
    Timeout(Duration),
    /// An output binding could not be applied after a 2xx.
    #[error("output binding '{binding}' failed: {message}")]
    Output {
        /// The binding name.
        binding: String,
        /// What failed.
        message: String,
    },
}

/// A successful reply: `{"Outputs":{…},"Logs":[…],"ReturnValue":…}`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InvocationResult {
    /// `Outputs` by binding name.
    pub outputs: Map<String, Value>,
    /// `Logs`.
    pub logs: Vec<Value>,
    /// `ReturnValue` (null when absent).
    pub return_value: Value,
}

/// Sends invocations to the handler.
#[derive(Clone, Debug)]
pub struct Invoker {
    worker: Worker,
    client: reqwest::Client,
    function_timeout: Option<Duration>,
}

impl Invoker {
    /// An invoker with the host's HttpClient timeout (functionTimeout + 1 min).
    pub fn new(worker: Worker, function_timeout: Option<Duration>) -> Result<Self, reqwest::Error> {
        let mut builder = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(64);
        if let Some(t) = function_timeout {
            builder = builder.timeout(t + Duration::from_secs(60));
        }
        Ok(Self {
            worker,
            client: builder.build()?,
            function_timeout,
        })
    }

    /// The supervised handler.
    pub fn worker(&self) -> &Worker {
        &self.worker
    }

    /// The raw HTTP client (no redirects, host timeout), for forwarding.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Runs `call` against the ready handler under functionTimeout; on timeout the
    /// handler process is restarted, failing every invocation in flight.
    pub async fn with_timeout<T, F, Fut>(&self, call: F) -> Result<T, InvocationError>
    where
        F: FnOnce(Endpoint) -> Fut,
        Fut: Future<Output = Result<T, InvocationError>>,
    {
        let endpoint = self.worker.endpoint().await?;
        let Some(limit) = self.function_timeout else {
            return call(endpoint).await;
        };
        if let Ok(result) = tokio::time::timeout(limit, call(endpoint)).await {
            return result;
        }
        tracing::error!(timeout = ?limit, "invocation exceeded functionTimeout");
        self.worker.restart(endpoint.generation);
        Err(InvocationError::Timeout(limit))
    }

    /// `POST /{function}` with the invocation body; judges the reply as §3 says.
    pub async fn invoke(
        &self,
        function: &str,
        invocation_id: &str,
        body: String,
    ) -> Result<InvocationResult, InvocationError> {
        self.with_timeout(|endpoint| async move {
            let url = format!("http://127.0.0.1:{}/{function}", endpoint.port);
            // ObjectContent has no precomputed length: the body goes out chunked.
            let stream = futures::stream::once(async move { Ok::<_, std::io::Error>(body) });
            let response = self
                .client
                .post(url)
                .header(HEADER_INVOCATION_ID, invocation_id)
                .header(HEADER_HOST_VERSION, HOST_VERSION)
                .header(http::header::USER_AGENT, user_agent())
                .header(
                    http::header::CONTENT_TYPE,
                    "application/json; charset=utf-8",
                )
                .body(reqwest::Body::wrap_stream(stream))
                .send()
                .await
                .map_err(InvocationError::Request)?;
            let status = response.status();
            if !status.is_success() {
                return Err(InvocationError::Status {
                    status: status.as_u16(),
                });
            }
            let content_type = response
                .headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let bytes = response.bytes().await.map_err(InvocationError::Request)?;
            parse_result(content_type.as_deref(), &bytes)
        })
        .await
    }
}

/// `User-Agent: Azure-Functions-Host/<version>`.
pub fn user_agent() -> String {
    format!("Azure-Functions-Host/{HOST_VERSION}")
}

/// True for the media types `JsonMediaTypeFormatter` reads: application/json, text/json.
pub fn is_json_media_type(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else {
        return false;
    };
    let media = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    media == "application/json" || media == "text/json"
}

/// Reads `HttpScriptInvocationResult` from a 2xx reply.
pub fn parse_result(
    content_type: Option<&str>,
    body: &[u8],
) -> Result<InvocationResult, InvocationError> {
    if !is_json_media_type(content_type) {
        return Err(InvocationError::ContentType(
            content_type.map(str::to_owned),
        ));
    }
    let text = String::from_utf8_lossy(body);
    let text = crate::settings::strip_bom(text.trim());
    if text.is_empty() {
        return Err(InvocationError::NoResult);
    }
    let value: Value =
        serde_json::from_str(text).map_err(|e| InvocationError::InvalidJson(Some(e)))?;
    let object = match value {
        Value::Null => return Err(InvocationError::NoResult),
        Value::Object(o) => o,
        _ => return Err(InvocationError::InvalidJson(None)),
    };
    // Json.NET binds properties case-insensitively.
    let field = |name: &str| crate::json_ci::get(&object, name).cloned();
    let outputs = match field("Outputs") {
        Some(Value::Object(o)) => o,
        None | Some(Value::Null) => Map::new(),
        Some(_) => return Err(InvocationError::InvalidJson(None)),
    };
    let logs = match field("Logs") {
        Some(Value::Array(items)) => items,
        None | Some(Value::Null) => Vec::new(),
        Some(_) => return Err(InvocationError::InvalidJson(None)),
    };
    Ok(InvocationResult {
        outputs,
        logs,
        return_value: field("ReturnValue").unwrap_or(Value::Null),
    })
}

/// Logs the handler's `Logs` at Information, as the function's logger does.
pub fn log_handler_logs(function: &str, invocation_id: &str, logs: &[Value]) {
    for entry in logs {
        match entry {
            Value::String(s) => {
                tracing::info!(target: "func_host::function", function, invocation_id, "{s}");
            }
            other => {
                tracing::info!(target: "func_host::function", function, invocation_id, "{other}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_json_media_types_are_read() {
        assert!(is_json_media_type(Some("application/json; charset=utf-8")));
        assert!(is_json_media_type(Some("text/json")));
        assert!(!is_json_media_type(Some("text/plain")));
        assert!(!is_json_media_type(None));
    }

    #[test]
    fn empty_null_and_non_object_replies_fail() {
        let ct = Some("application/json");
        assert!(matches!(
            parse_result(ct, b""),
            Err(InvocationError::NoResult)
        ));
        assert!(matches!(
            parse_result(ct, b"null"),
            Err(InvocationError::NoResult)
        ));
        assert!(matches!(
            parse_result(ct, b"{oops"),
            Err(InvocationError::InvalidJson(_))
        ));
        assert!(matches!(
            parse_result(ct, b"[1]"),
            Err(InvocationError::InvalidJson(_))
        ));
        assert!(matches!(
            parse_result(Some("text/plain"), b"{}"),
            Err(InvocationError::ContentType(_))
        ));
    }

    #[test]
    fn a_minimal_object_succeeds() {
        let r = parse_result(
            Some("application/json"),
            br#"{"outputs":{"out":[1]},"Logs":["hi"]}"#,
        )
        .unwrap();
        assert_eq!(r.outputs["out"], serde_json::json!([1]));
        assert_eq!(r.logs.len(), 1);
        assert_eq!(r.return_value, Value::Null);
        assert!(parse_result(Some("application/json"), b"{}").is_ok());
    }
}
