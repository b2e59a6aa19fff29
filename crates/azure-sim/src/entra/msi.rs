//! The managed identity endpoint as App Service exposes it (protocol version 2019-08-01):
//! `GET {IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=..&client_id=..|principal_id=..`
//! with `X-IDENTITY-HEADER: {IDENTITY_HEADER}`.

use axum::{
    body::Body,
    extract::{Request, State},
    response::Response,
};
use http::StatusCode;
use serde_json::json;

use crate::{
    context::{SimContext, TokenRequest},
    request::{HostRequest, respond},
    server::{AppState, buffer, serve_recorded},
};

/// Graph's resource id; only Graph tokens carry application permissions as `roles`.
pub const GRAPH_RESOURCE: &str = "https://graph.microsoft.com";

fn answer(status: StatusCode, value: &serde_json::Value) -> Response {
    respond(
        status,
        &[("content-type", "application/json; charset=utf-8".to_owned())],
        value.to_string(),
    )
}

/// The axum handler (recorded under the host name `_identity`).
pub async fn token(State(state): State<AppState>, request: Request<Body>) -> Response {
    let req = match buffer(request, "_identity".to_owned(), "/msi/token".to_owned()).await {
        Ok(r) => r,
        Err(response) => return response,
    };
    let ctx = state.ctx.clone();
    serve_recorded(&state.ctx, req, move |req| async move { issue(&ctx, &req) }).await
}

fn issue(ctx: &SimContext, req: &HostRequest) -> Response {
    let expected = &ctx.scenario.identity_header;
    if expected.is_empty() || req.header("x-identity-header") != Some(expected.as_str()) {
        // App Service refuses a missing or wrong header before looking at anything else.
        return answer(
            StatusCode::UNAUTHORIZED,
            &json!({"statusCode": 401, "message": "The X-IDENTITY-HEADER header is missing or invalid."}),
        );
    }
    if req.query_param("api-version").as_deref() != Some("2019-08-01") {
        return answer(
            StatusCode::BAD_REQUEST,
            &json!({"statusCode": 400, "message": "The api-version is missing or not supported; use 2019-08-01."}),
        );
    }
    let Some(resource) = req.query_param("resource").filter(|r| !r.is_empty()) else {
        return answer(
            StatusCode::BAD_REQUEST,
            &json!({"statusCode": 400, "message": "The resource parameter is required."}),
        );
    };
    let client_id = req.query_param("client_id");
    // The protocol names it principal_id; azure_identity 1.0 sends object_id.
    let principal_id = req
        .query_param("principal_id")
        .or_else(|| req.query_param("object_id"));
    let mi_res_id = req
        .query_param("mi_res_id")
        .or_else(|| req.query_param("msi_res_id"));
    let identity = ctx.scenario.managed_identities.iter().find(|m| {
        client_id
            .as_deref()
            .is_some_and(|c| c.eq_ignore_ascii_case(&m.client_id))
            || principal_id
                .as_deref()
                .is_some_and(|p| p.eq_ignore_ascii_case(&m.principal_id))
            || mi_res_id
                .as_deref()
                .is_some_and(|r| r.eq_ignore_ascii_case(&m.resource_id))
    });
    let Some(identity) = identity else {
        return answer(
            StatusCode::BAD_REQUEST,
            &json!({"statusCode": 400, "message": "No managed identity found for specified ClientId/ResourceId/PrincipalId.", "correlationId": req.request_id}),
        );
    };
    let audience = resource.trim_end_matches("/.default").to_owned();
    let roles = if crate::tokens::audience_matches(&audience, &[GRAPH_RESOURCE]) {
        identity.graph_permissions.clone()
    } else {
        vec![]
    };
    let (token, claims) = ctx.issue_token(TokenRequest {
        tenant: identity.tenant.clone(),
        object_id: identity.principal_id.clone(),
        app_id: identity.client_id.clone(),
        audience,
        roles,
        mi_resource_id: Some(identity.resource_id.clone()),
        lifetime_seconds: None,
        upn: None,
        guest: None,
        scopes: None,
    });
    answer(
        StatusCode::OK,
        &json!({
            "access_token": token,
            "expires_on": claims.exp.to_string(),
            "resource": resource,
            "token_type": "Bearer",
            "client_id": identity.client_id,
        }),
    )
}
