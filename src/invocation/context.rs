//! The invocation id the host puts on every request, carried into every log line.

use std::convert::Infallible;

use axum::{
    extract::{FromRequestParts, Request},
    http::request::Parts,
    middleware::Next,
    response::Response,
};
use tracing::Instrument;

/// The header the host sends with every invocation (HTTP-forwarded ones included).
pub const INVOCATION_ID_HEADER: &str = "x-azure-functions-invocationid";

/// The invocation id of the current request, if the host sent one (direct calls don't).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InvocationId(pub Option<String>);

impl InvocationId {
    fn from_parts(parts: &Parts) -> Self {
        Self(
            parts
                .headers
                .get(INVOCATION_ID_HEADER)
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty() && v.len() <= 64)
                .map(str::to_owned),
        )
    }
}

impl<S: Send + Sync> FromRequestParts<S> for InvocationId {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(Self::from_parts(parts))
    }
}

/// Middleware: runs the request inside a span carrying the invocation id, so the JSON log
/// formatter prints it on every line the request causes.
pub async fn invocation_span(request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let id = InvocationId::from_parts(&parts);
    let span = tracing::info_span!(
        "invocation",
        invocation_id = id.0.as_deref().unwrap_or(""),
        method = %parts.method,
        path = %parts.uri.path(),
    );
    let request = Request::from_parts(parts, body);
    async move {
        let response = next.run(request).await;
        tracing::debug!(status = response.status().as_u16(), "handled");
        response
    }
    .instrument(span)
    .await
}
