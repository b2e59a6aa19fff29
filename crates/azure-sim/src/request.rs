//! A request addressed to one simulated Azure host, and response helpers.

use axum::{body::Body, response::Response};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};

/// A buffered request for `https://{host}{path}?{query}`, as the simulator received it at
/// `{sim}/{host}{path}?{query}`.
#[derive(Clone)]
pub struct HostRequest {
    /// HTTP method.
    pub method: Method,
    /// The Azure host, lower-cased (`graph.microsoft.com`).
    pub host: String,
    /// The path on that host, starting with `/`.
    pub path: String,
    /// The raw query string, if any.
    pub query: Option<String>,
    /// Request headers.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
    /// The id this simulator gave the request (echoed in `x-ms-request-id` and error bodies).
    pub request_id: String,
    /// A fault that matched without answering (a delay, or a provisioning failure to inject).
    pub fault: Option<crate::faults::Fault>,
}

impl std::fmt::Debug for HostRequest {
    /// Headers, query and body can carry tokens and secrets: only the route is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostRequest")
            .field("method", &self.method)
            .field("host", &self.host)
            .field("path", &self.path)
            .field("request_id", &self.request_id)
            .finish_non_exhaustive()
    }
}

impl HostRequest {
    /// A header as text, if present and valid.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The first value of query parameter `name`, percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        let query = self.query.as_deref()?;
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// Path segments without the leading empty one (a trailing `/` yields a final `""`).
    pub fn segments(&self) -> Vec<&str> {
        self.path.trim_start_matches('/').split('/').collect()
    }

    /// The real Azure URL this request names.
    pub fn azure_url(&self) -> String {
        match &self.query {
            Some(q) => format!("https://{}{}?{}", self.host, self.path, q),
            None => format!("https://{}{}", self.host, self.path),
        }
    }

    /// The bearer token of the `Authorization` header, if it is one.
    pub fn bearer(&self) -> Option<&str> {
        let value = self.header("authorization")?;
        let (scheme, token) = value.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim())
            .filter(|t| !t.is_empty())
    }

    /// The body parsed as `application/x-www-form-urlencoded`.
    pub fn form(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(&self.body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    /// The `x-ms-client-request-id` / `client-request-id` the caller sent, if any.
    pub fn client_request_id(&self) -> Option<&str> {
        self.header("client-request-id")
            .or_else(|| self.header("x-ms-client-request-id"))
    }
}

/// Which Azure service a host belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostFamily {
    /// `login.microsoftonline.com`
    Entra,
    /// `graph.microsoft.com`
    Graph,
    /// `{vault}.vault.azure.net`
    KeyVault(String),
    /// `{namespace}.servicebus.windows.net`
    ServiceBus(String),
    /// `management.azure.com`
    ResourceManager,
    /// Anything else.
    Other,
}

/// Classifies a host name.
pub fn family(host: &str) -> HostFamily {
    let host = host.to_ascii_lowercase();
    if host == "login.microsoftonline.com" {
        HostFamily::Entra
    } else if host == "graph.microsoft.com" {
        HostFamily::Graph
    } else if host == "management.azure.com" {
        HostFamily::ResourceManager
    } else if let Some(vault) = host.strip_suffix(".vault.azure.net") {
        HostFamily::KeyVault(vault.to_owned())
    } else if let Some(ns) = host.strip_suffix(".servicebus.windows.net") {
        HostFamily::ServiceBus(ns.to_owned())
    } else {
        HostFamily::Other
    }
}

/// Builds a response; header values that are not valid are skipped rather than panicking.
pub fn respond(status: StatusCode, headers: &[(&str, String)], body: impl Into<Body>) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    let map = response.headers_mut();
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            map.append(name, value);
        }
    }
    response
}

/// A JSON response with the given content type.
pub fn json(
    status: StatusCode,
    content_type: &str,
    mut headers: Vec<(&str, String)>,
    value: &serde_json::Value,
) -> Response {
    headers.push((header::CONTENT_TYPE.as_str(), content_type.to_owned()));
    respond(status, &headers, value.to_string())
}

/// A plain-text diagnostic answer for things the simulator does not serve.
pub fn plain(status: StatusCode, text: impl Into<String>) -> Response {
    respond(
        status,
        &[("content-type", "text/plain; charset=utf-8".to_owned())],
        text.into(),
    )
}

/// Percent-decodes one path segment (`%20` -> space; `+` stays `+`, as in paths).
pub fn decode_segment(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A fresh request id (a GUID, as every Azure front door uses).
pub fn new_request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
