//! Entra's flat OAuth error envelope.

use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::{request::respond, timefmt};

/// `{error, error_description: "AADSTSnnnn: ...", error_codes, timestamp, trace_id, correlation_id, error_uri}`.
pub fn body(error: &str, code: u32, message: &str, trace_id: &str, now: OffsetDateTime) -> Value {
    let timestamp = timefmt::entra_timestamp(now);
    let correlation_id = uuid::Uuid::new_v4().to_string();
    json!({
        "error": error,
        "error_description": format!(
            "AADSTS{code}: {message} Trace ID: {trace_id} Correlation ID: {correlation_id} Timestamp: {timestamp}"
        ),
        "error_codes": [code],
        "timestamp": timestamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
    })
}

/// The headers every token endpoint answer carries.
pub fn token_headers(request_id: &str, now: OffsetDateTime) -> Vec<(&'static str, String)> {
    vec![
        ("cache-control", "no-store, no-cache".to_owned()),
        ("pragma", "no-cache".to_owned()),
        ("content-type", "application/json; charset=utf-8".to_owned()),
        ("expires", "-1".to_owned()),
        (
            "strict-transport-security",
            "max-age=31536000; includeSubDomains".to_owned(),
        ),
        ("x-content-type-options", "nosniff".to_owned()),
        ("p3p", "CP=\"DSP CUR OTPi IND OTRi ONL FIN\"".to_owned()),
        ("x-ms-ests-server", "2.1.0 - azure-sim".to_owned()),
        ("x-ms-request-id", request_id.to_owned()),
        ("date", timefmt::rfc1123(now)),
    ]
}

/// An error answer of the token endpoint.
pub fn response(
    status: StatusCode,
    error: &str,
    code: u32,
    message: &str,
    request_id: &str,
    now: OffsetDateTime,
) -> Response {
    respond(
        status,
        &token_headers(request_id, now),
        body(error, code, message, request_id, now).to_string(),
    )
}
