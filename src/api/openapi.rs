//! `GET /api/openapi.json`: the OpenAPI 3.1 document of the HTTP API, as kept in the repository
//! (`openapi/openapi.json`). `tests/api/openapi.rs` keeps it in step with the function table,
//! and the test command runs schemathesis with it against the running app.

use axum::{
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};

/// The document, compiled in so the served copy is the reviewed one.
pub const OPENAPI_DOCUMENT: &str = include_str!("../../openapi/openapi.json");

/// Serves [`OPENAPI_DOCUMENT`].
pub async fn openapi() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        OPENAPI_DOCUMENT,
    )
        .into_response()
}
