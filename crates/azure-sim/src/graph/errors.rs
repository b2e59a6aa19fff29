//! Graph's response headers and error envelope
//! (`{"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}`).

use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::{
    request::{HostRequest, respond},
    timefmt,
    tokens::AuthError,
};

/// The OData content type of successful JSON answers.
pub const ODATA_JSON: &str = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

/// The headers on every Graph answer, success or error (as recorded): `request-id` (this
/// request's id), `client-request-id` (the caller's, else the request-id), `x-ms-ags-diagnostic`
/// (a JSON string), `x-ms-resource-unit` and the rest. Injected faults carry them too.
pub fn common(req: &HostRequest, now: OffsetDateTime) -> Vec<(&'static str, String)> {
    vec![
        ("cache-control", "no-cache".to_owned()),
        ("request-id", req.request_id.clone()),
        (
            "client-request-id",
            req.client_request_id().unwrap_or(&req.request_id).to_owned(),
        ),
        ("strict-transport-security", "max-age=31536000".to_owned()),
        ("vary", "Accept-Encoding".to_owned()),
        (
            "x-ms-ags-diagnostic",
            r#"{"ServerInfo":{"DataCenter":"azure-sim","Slice":"E","Ring":"5","ScaleUnit":"000","RoleInstance":"SIM"}}"#.to_owned(),
        ),
        ("x-ms-resource-unit", "1".to_owned()),
        ("date", timefmt::rfc1123(now)),
    ]
}

/// A successful JSON answer with OData headers.
pub fn ok(
    status: StatusCode,
    value: &Value,
    location: Option<String>,
    req: &HostRequest,
    now: OffsetDateTime,
) -> Response {
    let mut headers = common(req, now);
    headers.push(("content-type", ODATA_JSON.to_owned()));
    headers.push(("odata-version", "4.0".to_owned()));
    if let Some(l) = location {
        headers.push(("location", l));
    }
    respond(status, &headers, value.to_string())
}

/// An empty answer (204 after PATCH/DELETE, 202 after sendMail).
pub fn empty(status: StatusCode, req: &HostRequest, now: OffsetDateTime) -> Response {
    respond(status, &common(req, now), Vec::<u8>::new())
}

/// An error in Graph's envelope (plain `application/json`, as recorded).
pub fn error(
    status: StatusCode,
    code: &str,
    message: &str,
    details: Option<Value>,
    req: &HostRequest,
    now: OffsetDateTime,
) -> Response {
    let mut error = json!({
        "code": code,
        "message": message,
        "innerError": {
            "date": timefmt::graph_inner_date(now),
            "request-id": req.request_id,
            "client-request-id": req.client_request_id().unwrap_or(&req.request_id),
        },
    });
    if let (Some(d), Some(obj)) = (details, error.as_object_mut()) {
        obj.insert("details".into(), d);
    }
    let mut headers = common(req, now);
    headers.push(("content-type", "application/json".to_owned()));
    respond(status, &headers, json!({ "error": error }).to_string())
}

/// 401 InvalidAuthenticationToken, worded by cause.
pub fn unauthenticated(e: &AuthError, req: &HostRequest, now: OffsetDateTime) -> Response {
    let message = match e {
        AuthError::Missing => "Access token is empty.".to_owned(),
        AuthError::Malformed => {
            "IDX14100: JWT is not well formed, there are no dots (.).".to_owned()
        }
        AuthError::Expired { .. } => "Lifetime validation failed, the token is expired.".to_owned(),
        AuthError::NotYetValid => {
            "Lifetime validation failed, the token is not yet valid.".to_owned()
        }
        AuthError::BadSignature => "Access token validation failure.".to_owned(),
        AuthError::WrongAudience { .. } => {
            "Access token validation failure. Invalid audience.".to_owned()
        }
        AuthError::WrongTenant { .. } => {
            "Access token validation failure. Invalid issuer.".to_owned()
        }
    };
    error(
        StatusCode::UNAUTHORIZED,
        "InvalidAuthenticationToken",
        &message,
        None,
        req,
        now,
    )
}

/// 403 Authorization_RequestDenied, as recorded.
pub fn denied(req: &HostRequest, now: OffsetDateTime) -> Response {
    error(
        StatusCode::FORBIDDEN,
        "Authorization_RequestDenied",
        "Insufficient privileges to complete the operation.",
        None,
        req,
        now,
    )
}

/// 404 Request_ResourceNotFound.
pub fn not_found(id: &str, req: &HostRequest, now: OffsetDateTime) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
        &format!(
            "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
        ),
        None,
        req,
        now,
    )
}

/// 400 Request_BadRequest.
pub fn bad_request(message: &str, req: &HostRequest, now: OffsetDateTime) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "Request_BadRequest",
        message,
        None,
        req,
        now,
    )
}

/// 400 for a body that is not a JSON object.
pub fn unreadable_body(req: &HostRequest, now: OffsetDateTime) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "BadRequest",
        "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
        None,
        req,
        now,
    )
}

/// 405 for a method the path does not take.
pub fn method_not_allowed(req: &HostRequest, now: OffsetDateTime) -> Response {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        "Request_BadRequest",
        "Method not allowed.",
        None,
        req,
        now,
    )
}

/// 400 BadRequest naming the path segment Graph cannot resolve.
pub fn segment_not_found(segment: &str, req: &HostRequest, now: OffsetDateTime) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "BadRequest",
        &format!("Resource not found for the segment '{segment}'."),
        None,
        req,
        now,
    )
}

/// 400 Request_UnsupportedQuery for a `$filter` outside the subset azure-sim evaluates.
pub fn unsupported_filter(req: &HostRequest, now: OffsetDateTime) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "Request_UnsupportedQuery",
        "Unsupported or invalid query filter clause specified (azure-sim supports 'eq' and 'startswith').",
        None,
        req,
        now,
    )
}
