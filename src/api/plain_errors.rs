//! The safety net under every route: an error answered in plain text becomes problem+json.
//!
//! Our handlers answer errors with [`Problem`]s, but axum's extractors answer their own
//! rejections (a path segment that is not UTF-8 once percent-decoded, a body over the
//! extractor's limit, ...) as `text/plain`, before any handler runs. Rather than wrap each
//! extractor and hope none is missed, this rewrites any error response that is plain text or
//! has no content type; the status stays, the text becomes the detail. JSON replies (the queue
//! functions' envelopes, which the host reads) and HTML pages (the consent callback) pass
//! untouched.

use axum::{
    body::to_bytes,
    extract::Request,
    http::{StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};

use super::Problem;

/// axum's rejection texts are one line; anything longer is cut, not buffered.
const MAX_DETAIL_BYTES: usize = 4 * 1024;

fn is_plain(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|ct| {
            ct.trim_start()
                .to_ascii_lowercase()
                .starts_with("text/plain")
        })
}

/// Middleware: see the module documentation.
pub async fn problem_for_plain_errors(request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || !is_plain(&response) {
        return response;
    }
    let text = to_bytes(response.into_body(), MAX_DETAIL_BYTES)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let title = status.canonical_reason().unwrap_or("Error");
    let detail = if text.is_empty() {
        title.to_owned()
    } else {
        text
    };
    let slug = if status == StatusCode::PAYLOAD_TOO_LARGE {
        "too-large"
    } else if status.is_client_error() {
        "bad-request"
    } else {
        "internal"
    };
    Problem::new(status, slug, title, detail)
        .at(&path)
        .into_response()
}
