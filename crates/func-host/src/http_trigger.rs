//! HTTP triggers: routing under the route prefix, forwarding mode and the default
//! `Data.req` / `Outputs.res` mode (§4).

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
};

use axum::{
    Router,
    body::Body,
    extract::{Request, State},
    response::{IntoResponse, Response},
};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::{
    error::ConfigError,
    function_json::{BindingDef, FunctionDef},
    invocation_body::{InvocationBody, wire},
    invoke::{InvocationError, InvocationResult, Invoker, log_handler_logs, user_agent},
    netjson,
    request_body::{self, BodyError},
    route::RouteTemplate,
    servicebus::output::OutputSet,
    timer::TimerRunner,
};

/// An HTTP-triggered function.
#[derive(Clone, Debug)]
pub struct HttpFunction {
    /// The function name.
    pub name: String,
    /// The trigger binding name (`req`).
    pub binding: String,
    /// Allowed methods (upper case); `None` = any.
    pub methods: Option<Vec<String>>,
    /// The full route (prefix included).
    pub route: RouteTemplate,
    /// `authLevel` (not enforced locally, like `func start`).
    pub auth_level: String,
    /// Forwarding mode applies (flag set and exactly one http in, one http out).
    pub forwarding: bool,
    /// The `http` output binding name (`res`, or `$return`).
    pub response_binding: Option<String>,
    /// Service Bus outputs of the function.
    pub outputs: OutputSet,
}

impl HttpFunction {
    /// Reads an `httpTrigger` function.
    pub fn from_function(
        function: &FunctionDef,
        trigger: &BindingDef,
        route_prefix: &str,
        forwarding_enabled: bool,
        outputs: OutputSet,
    ) -> Result<Self, ConfigError> {
        let route_text = trigger
            .string("route")
            .filter(|r| !r.trim().is_empty())
            .unwrap_or_else(|| function.name.clone());
        let route =
            RouteTemplate::parse(route_prefix, &route_text).map_err(|e| ConfigError::Binding {
                function: function.name.clone(),
                message: e.to_string(),
            })?;
        let methods = crate::json_ci::get(&trigger.props, "methods")
            .and_then(Value::as_array)
            .map(|m| {
                m.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_ascii_uppercase)
                    .collect::<Vec<_>>()
            })
            .filter(|m| !m.is_empty());
        Ok(Self {
            name: function.name.clone(),
            binding: trigger.name.clone(),
            methods,
            route,
            auth_level: trigger
                .string("authLevel")
                .unwrap_or_else(|| "function".to_owned()),
            forwarding: forwarding_enabled && function.is_http_in_and_out(),
            response_binding: function
                .outputs()
                .find(|b| b.is("http"))
                .map(|b| b.name.clone()),
            outputs,
        })
    }

    /// `[GET,POST] /api/orders/{id}`.
    pub fn describe(&self) -> String {
        let methods = self.methods.as_ref().map_or_else(
            || "GET,POST,PUT,DELETE,HEAD,PATCH,OPTIONS".to_owned(),
            |m| m.join(","),
        );
        format!("[{methods}] {}", self.route.display())
    }
}

#[derive(Clone, Debug)]
struct AppState {
    functions: Arc<Vec<HttpFunction>>,
    /// Timer functions by lower-cased name, for the admin API.
    timers: Arc<HashMap<String, TimerRunner>>,
    invoker: Invoker,
    body_limit: u64,
}

/// The host's admin API for a function that is not HTTP-triggered
/// (`POST /admin/functions/{name}`, body `{"input": ...}`): a timer function runs once at
/// once and the call answers 202 Accepted without waiting for it, as the Functions host does
/// (keys are not enforced locally, as with `func start`). Other functions: 404.
fn admin_invoke(state: &AppState, method: &str, path: &str) -> Option<Response> {
    let name = path.strip_prefix("/admin/functions/")?;
    if method != "POST" || name.is_empty() || name.contains('/') {
        return None;
    }
    let Some(runner) = state.timers.get(&name.to_ascii_lowercase()).cloned() else {
        return Some(StatusCode::NOT_FOUND.into_response());
    };
    tokio::spawn(async move { runner.fire_on_request().await });
    Some(StatusCode::ACCEPTED.into_response())
}

/// Why an HTTP invocation produced no handler reply.
#[derive(Debug, thiserror::Error)]
enum Failure {
    /// The client's body was refused (413 or 400), as Kestrel refuses it.
    #[error(transparent)]
    Body(#[from] BodyError),
    /// The invocation failed (500).
    #[error(transparent)]
    Invocation(#[from] InvocationError),
}

/// The HTTP front end: every request is routed to a function or answered 404. Bodies over
/// `body_limit` bytes are refused (see [`request_body`]).
pub fn router(
    mut functions: Vec<HttpFunction>,
    timers: Vec<TimerRunner>,
    invoker: Invoker,
    body_limit: u64,
) -> Router {
    functions.sort_by_key(|f| std::cmp::Reverse(f.route.precedence()));
    let timers = timers
        .into_iter()
        .map(|t| (t.function.to_ascii_lowercase(), t))
        .collect();
    Router::new().fallback(handle).with_state(AppState {
        functions: Arc::new(functions),
        timers: Arc::new(timers),
        invoker,
        body_limit,
    })
}

async fn handle(State(state): State<AppState>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    let method = request.method().as_str().to_ascii_uppercase();
    let found = state.functions.iter().find_map(|f| {
        let allowed = f.methods.as_ref().is_none_or(|m| m.contains(&method));
        if !allowed {
            return None;
        }
        f.route.matches(&path).map(|values| (f, values))
    });
    let Some((function, route_values)) = found else {
        if let Some(answer) = admin_invoke(&state, &method, &path) {
            return answer;
        }
        if path == "/" && method == "GET" {
            return (
                [(http::header::CONTENT_TYPE, "text/html; charset=utf-8")],
                "<html><body>Your Functions 4.0 app is up and running (func-host)</body></html>",
            )
                .into_response();
        }
        return StatusCode::NOT_FOUND.into_response();
    };
    if let Err(e) = request_body::declared_length(request.headers(), state.body_limit) {
        tracing::warn!(function = %function.name, %method, %path, error = %e, "request body refused");
        return e.into_response();
    }
    let invocation_id = uuid::Uuid::new_v4().to_string();
    tracing::info!(function = %function.name, invocation_id, %method, %path, "Executing 'Functions.{}' (Reason='This function was programmatically called via the host APIs.')", function.name);
    let result = if function.forwarding {
        forward(&state.invoker, &invocation_id, request, state.body_limit).await
    } else {
        default_mode(
            &state.invoker,
            function,
            &invocation_id,
            request,
            &route_values,
            state.body_limit,
        )
        .await
    };
    match result {
        Ok(response) => {
            tracing::info!(function = %function.name, invocation_id, status = response.status().as_u16(), "Executed 'Functions.{}' (Succeeded)", function.name);
            response
        }
        Err(Failure::Body(e)) => {
            tracing::warn!(function = %function.name, invocation_id, error = %e, "request body refused");
            e.into_response()
        }
        Err(Failure::Invocation(e)) => {
            tracing::error!(function = %function.name, invocation_id, error = %e, "Executed 'Functions.{}' (Failed)", function.name);
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "upgrade",
    "proxy-connection",
    "content-length",
    "host",
];

/// Forwarding: same method, original path (prefix included) and query, all headers plus
/// the invocation headers; the body only if Content-Length > 0, streamed as it arrives. The
/// reply goes back as is, streamed too.
async fn forward(
    invoker: &Invoker,
    invocation_id: &str,
    request: Request,
    body_limit: u64,
) -> Result<Response, Failure> {
    let (parts, body) = request.into_parts();
    let content_length = request_body::declared_length(&parts.headers, body_limit)?.unwrap_or(0);
    let (body, outcome) = if content_length > 0 {
        let (stream, outcome) = request_body::forward(body, body_limit);
        (Some(stream), Some(outcome))
    } else {
        // Not forwarded (a chunked upload arrives without a body, reference §4), but its
        // size and framing still decide whether the request is answered at all.
        request_body::drain(body, body_limit).await?;
        (None, None)
    };
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let response = invoker
        .with_timeout(|endpoint| async move {
            let url = format!("http://127.0.0.1:{}{path_and_query}", endpoint.port);
            let mut headers = HeaderMap::new();
            for (name, value) in &parts.headers {
                if !HOP_BY_HOP.contains(&name.as_str()) {
                    headers.append(name.clone(), value.clone());
                }
            }
            headers.insert(
                HeaderName::from_static("x-azure-functions-invocationid"),
                header_value(invocation_id),
            );
            headers.insert(
                HeaderName::from_static("x-azure-functions-hostversion"),
                header_value(crate::invoke::HOST_VERSION),
            );
            // UserAgent.ParseAdd appends the host's product to the caller's.
            let agent = match parts
                .headers
                .get(http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
            {
                Some(existing) if !existing.is_empty() => format!("{existing} {}", user_agent()),
                _ => user_agent(),
            };
            headers.insert(http::header::USER_AGENT, header_value(&agent));
            let mut builder = invoker
                .client()
                .request(parts.method.clone(), url)
                .headers(headers);
            if let Some(body) = body {
                // A stream has no length of its own; the handler gets the client's, as the
                // host copies it, instead of a chunked body.
                builder = builder
                    .header(http::header::CONTENT_LENGTH, content_length)
                    .body(body);
            }
            let reply = match builder.send().await {
                Ok(reply) => reply,
                // A failed upload is the client's fault when its body broke it.
                Err(e) => {
                    return match outcome.and_then(|o| o.error()) {
                        Some(body_error) => Ok(Err(body_error)),
                        None => Err(InvocationError::Request(e)),
                    };
                }
            };
            let status = reply.status();
            let mut response_headers = HeaderMap::new();
            for (name, value) in reply.headers() {
                if !matches!(
                    name.as_str(),
                    "transfer-encoding" | "connection" | "keep-alive"
                ) {
                    response_headers.append(name.clone(), value.clone());
                }
            }
            let mut response = Response::new(Body::from_stream(reply.bytes_stream()));
            *response.status_mut() = status;
            *response.headers_mut() = response_headers;
            Ok(Ok(response))
        })
        .await??;
    Ok(response)
}

fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Default mode: POST /{Function} with `Data.<req>`, answer from `Outputs.res`.
async fn default_mode(
    invoker: &Invoker,
    function: &HttpFunction,
    invocation_id: &str,
    request: Request,
    route_values: &BTreeMap<String, String>,
    body_limit: u64,
) -> Result<Response, Failure> {
    let (parts, body) = request.into_parts();
    // Buffered: the host puts the body into the invocation's JSON.
    let bytes = request_body::read(body, body_limit).await?;
    let invocation = request_invocation(function, &parts, &bytes, route_values);
    let result = invoker
        .invoke(&function.name, invocation_id, invocation.to_json())
        .await?;
    log_handler_logs(&function.name, invocation_id, &result.logs);
    function.outputs.send(&result).await?;
    Ok(response_from(function, &result)?)
}

fn request_invocation(
    function: &HttpFunction,
    parts: &http::request::Parts,
    body: &[u8],
    route_values: &BTreeMap<String, String>,
) -> InvocationBody {
    let host = parts
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut query = Map::new();
    for (k, v) in url::form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes()) {
        let entry = query
            .entry(k.into_owned())
            .or_insert_with(|| Value::String(String::new()));
        if let Value::String(existing) = entry {
            if !existing.is_empty() {
                existing.push(',');
            }
            existing.push_str(&v);
        }
    }
    let mut headers = Map::new();
    let mut flat_headers = Map::new();
    for name in parts.headers.keys() {
        let values: Vec<String> = parts
            .headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        flat_headers.insert(name.as_str().to_owned(), Value::String(values.join(", ")));
        headers.insert(name.as_str().to_owned(), json!(values));
    }
    let content_type = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let body_text = if body.is_empty() {
        None
    } else if content_type.starts_with("application/octet-stream")
        || content_type.starts_with("multipart/")
    {
        Some(wire::bytes(body))
    } else {
        Some(Value::String(String::from_utf8_lossy(body).into_owned()))
    };

    let mut req = Map::new();
    req.insert(
        "Url".to_owned(),
        json!(format!("http://{host}{path_and_query}")),
    );
    req.insert("Method".to_owned(), json!(parts.method.as_str()));
    req.insert("Query".to_owned(), Value::Object(query.clone()));
    req.insert("Headers".to_owned(), Value::Object(headers));
    if !route_values.is_empty() {
        req.insert("Params".to_owned(), json!(route_values));
    }
    req.insert("Identities".to_owned(), json!([local_identity()]));
    if let Some(b) = &body_text {
        req.insert("Body".to_owned(), b.clone());
    }

    let mut invocation = InvocationBody::new();
    invocation.set_data(&function.binding, Value::Object(req));
    invocation.set_metadata("Query", Value::Object(query));
    invocation.set_metadata("Headers", Value::Object(flat_headers));
    for (k, v) in route_values {
        invocation.set_metadata(k, wire::string(v));
    }
    invocation.set_sys(&function.name, OffsetDateTime::now_utc());
    if let Some(Value::String(text)) = &body_text {
        invocation.merge_trigger_string(text);
    }
    invocation
}

/// The identity `func start` attaches locally, where keys are not checked: admin level.
fn local_identity() -> Value {
    json!({
        "AuthenticationType": "WebJobsAuthLevel",
        "IsAuthenticated": true,
        "Actor": null,
        "BootstrapContext": null,
        "Claims": [{
            "Issuer": "LOCAL AUTHORITY", "OriginalIssuer": "LOCAL AUTHORITY", "Properties": {},
            "Subject": null, "Type": "http://schemas.microsoft.com/2017/07/functions/claims/authlevel",
            "Value": "Admin", "ValueType": "http://www.w3.org/2001/XMLSchema#string"
        }],
        "Label": null,
        "Name": null,
        "NameClaimType": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
        "RoleClaimType": "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"
    })
}

/// Builds the client response from `Outputs.<res>` (or `ReturnValue` for `$return`).
fn response_from(
    function: &HttpFunction,
    result: &InvocationResult,
) -> Result<Response, InvocationError> {
    let value = match function.response_binding.as_deref() {
        Some("$return") => Some(result.return_value.clone()),
        Some(name) => result.outputs.get(name).cloned(),
        None => None,
    };
    let fail = |message: &str| InvocationError::Output {
        binding: function.response_binding.clone().unwrap_or_default(),
        message: message.to_owned(),
    };
    let res = match value {
        None | Some(Value::Null) => {
            return Ok((
                StatusCode::OK,
                [(
                    http::header::CONTENT_TYPE,
                    "application/json; charset=utf-8",
                )],
                "{}",
            )
                .into_response());
        }
        Some(Value::Object(o)) => o,
        // The host deserializes the value's text, so a string holding a JSON object works.
        Some(Value::String(s)) => match serde_json::from_str::<Value>(&s) {
            Ok(Value::Object(o)) => o,
            _ => {
                return Err(fail(
                    "Output body should have 'StatusCode', 'Status', 'Body', and 'Headers'",
                ));
            }
        },
        Some(_) => {
            return Err(fail(
                "Output body should have 'StatusCode', 'Status', 'Body', and 'Headers'",
            ));
        }
    };
    let status_value =
        crate::json_ci::get(&res, "statusCode").or_else(|| crate::json_ci::get(&res, "status"));
    let status = match status_value {
        None | Some(Value::Null) => 200,
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| u16::try_from(n).ok())
            .ok_or_else(|| fail("statusCode is not a status code"))?,
        Some(Value::String(s)) if s.trim().is_empty() => 200,
        Some(Value::String(s)) => s
            .trim()
            .parse::<u16>()
            .map_err(|_| fail("statusCode is not a status code"))?,
        Some(_) => return Err(fail("statusCode is not a status code")),
    };
    let status =
        StatusCode::from_u16(status).map_err(|_| fail("statusCode is not a status code"))?;
    let mut headers = HeaderMap::new();
    if let Some(Value::Object(h)) = crate::json_ci::get(&res, "headers") {
        for (k, v) in h {
            let text = match v {
                Value::String(s) => s.clone(),
                other => netjson::to_string(other),
            };
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(k.as_bytes()),
                HeaderValue::from_str(&text),
            ) {
                headers.insert(name, value);
            }
        }
    }
    let (bytes, default_type) = match crate::json_ci::get(&res, "body") {
        None | Some(Value::Null) => (Vec::new(), None),
        Some(Value::String(s)) => (s.clone().into_bytes(), Some("text/plain; charset=utf-8")),
        Some(other) => (
            netjson::to_string(other).into_bytes(),
            Some("application/json; charset=utf-8"),
        ),
    };
    if let Some(ct) = default_type
        && !headers.contains_key(http::header::CONTENT_TYPE)
    {
        headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    Ok(response)
}
