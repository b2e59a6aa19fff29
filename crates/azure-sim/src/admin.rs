//! The admin API under `/_sim/`, mirroring the [`crate::Sim`] methods for tests that drive
//! the simulator over HTTP (or a person poking at a local run).

use axum::{
    Json, Router,
    extract::{Path, State},
    response::{IntoResponse, Response},
    routing::{delete, get},
};
use http::StatusCode;
use serde::Deserialize;
use serde_json::json;

use crate::{faults::Fault, server::AppState, state};

/// The `/_sim` routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/requests", get(requests).delete(clear_requests))
        .route("/faults", get(faults).post(add_fault).delete(clear_faults))
        .route("/faults/{id}", delete(remove_fault))
        .route("/known-secrets", get(known_secrets))
        .route("/state", get(get_state))
        .route("/scenario", get(scenario))
        .route("/clock", get(clock).post(move_clock))
        .route("/consent", axum::routing::post(consent))
        .route("/role-assignments", axum::routing::post(role_assignment))
        .route("/outbox/{tenant}", get(outbox))
        .route("/redeem", axum::routing::post(redeem))
        .route("/authorize", axum::routing::post(authorize))
        .route("/throttling", get(throttling).delete(clear_throttling))
}

async fn requests(State(s): State<AppState>) -> Response {
    Json(s.ctx.recorder.all()).into_response()
}

async fn clear_requests(State(s): State<AppState>) -> StatusCode {
    s.ctx.recorder.clear();
    StatusCode::NO_CONTENT
}

async fn throttling(State(s): State<AppState>) -> Response {
    let report = s.ctx.world().throttling.report();
    Json(report).into_response()
}

async fn clear_throttling(State(s): State<AppState>) -> StatusCode {
    s.ctx.world().throttling.clear();
    StatusCode::NO_CONTENT
}

async fn faults(State(s): State<AppState>) -> Response {
    Json(s.ctx.faults.list()).into_response()
}

async fn add_fault(State(s): State<AppState>, Json(fault): Json<Fault>) -> Response {
    let id = s.ctx.faults.add(fault);
    (StatusCode::CREATED, Json(json!({"id": id}))).into_response()
}

async fn clear_faults(State(s): State<AppState>) -> StatusCode {
    s.ctx.faults.clear();
    StatusCode::NO_CONTENT
}

async fn remove_fault(State(s): State<AppState>, Path(id): Path<u64>) -> StatusCode {
    if s.ctx.faults.remove(id) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}

async fn known_secrets(State(s): State<AppState>) -> Response {
    Json(s.ctx.secrets.all()).into_response()
}

async fn get_state(State(s): State<AppState>) -> Response {
    Json(state::snapshot(&s.ctx)).into_response()
}

async fn scenario(State(s): State<AppState>) -> Response {
    Json(&s.ctx.scenario).into_response()
}

async fn clock(State(s): State<AppState>) -> Response {
    Json(json!({
        "now": s.ctx.now().format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        "offsetSeconds": s.ctx.clock.offset().as_seconds_f64(),
    }))
    .into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClockChange {
    #[serde(default)]
    advance_seconds: Option<f64>,
    #[serde(default)]
    offset_seconds: Option<f64>,
}

async fn move_clock(State(s): State<AppState>, Json(change): Json<ClockChange>) -> Response {
    if let Some(secs) = change.advance_seconds {
        if secs < 0.0 || !secs.is_finite() {
            return (
                StatusCode::BAD_REQUEST,
                "advanceSeconds must be a non-negative number",
            )
                .into_response();
        }
        s.ctx
            .clock
            .advance(std::time::Duration::from_secs_f64(secs));
    }
    if let Some(secs) = change.offset_seconds
        && let Err(e) = s.ctx.clock.set_offset(time::Duration::seconds_f64(secs))
    {
        return (StatusCode::CONFLICT, e.to_string()).into_response();
    }
    clock(State(s)).await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConsentRequest {
    tenant: String,
    app_id: String,
    admin: String,
}

async fn consent(State(s): State<AppState>, Json(c): Json<ConsentRequest>) -> Response {
    match state::consent(&s.ctx, &c.tenant, &c.app_id, &c.admin) {
        Ok(sp) => (StatusCode::CREATED, Json(sp)).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}

async fn role_assignment(
    State(s): State<AppState>,
    Json(g): Json<crate::arm::admin::RoleGrant>,
) -> Response {
    match crate::arm::admin::grant(&s.ctx, &g) {
        Ok(body) => (StatusCode::CREATED, Json(body)).into_response(),
        Err(crate::arm::admin::GrantError::Admin(e)) => {
            (StatusCode::BAD_REQUEST, e.to_string()).into_response()
        }
        Err(crate::arm::admin::GrantError::Arm(e)) => {
            (e.status, Json(json!({"error": e.body()}))).into_response()
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthorizeRequest {
    url: String,
    login: String,
    password: String,
    /// `accept` (default), `acceptForOrganization` or `cancel`.
    #[serde(default)]
    consent: Option<String>,
}

/// Plays the browser through an authorize URL (as [`crate::Sim::sign_in_and_consent`]).
async fn authorize(State(s): State<AppState>, Json(a): Json<AuthorizeRequest>) -> Response {
    let choice = match a.consent.as_deref() {
        None | Some("accept") => crate::ConsentChoice::Accept,
        Some("acceptForOrganization") => crate::ConsentChoice::AcceptForOrganization,
        Some("cancel") => crate::ConsentChoice::Cancel,
        Some(other) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("consent must be accept, acceptForOrganization or cancel, not '{other}'"),
            )
                .into_response();
        }
    };
    match crate::entra::consent::sign_in_and_consent(&s.ctx, &a.url, &a.login, &a.password, choice)
    {
        Ok(r) => {
            let params: serde_json::Map<String, serde_json::Value> = r
                .params
                .iter()
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect();
            Json(json!({
                "location": r.location(),
                "redirectUri": r.redirect_uri,
                "responseMode": r.response_mode.as_str(),
                "params": params,
            }))
            .into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RedeemRequest {
    tenant: String,
    email: String,
}

async fn redeem(State(s): State<AppState>, Json(r): Json<RedeemRequest>) -> Response {
    match state::redeem(&s.ctx, &r.tenant, &r.email) {
        Ok(guest) => (StatusCode::OK, Json(guest)).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}

async fn outbox(State(s): State<AppState>, Path(tenant): Path<String>) -> Response {
    Json(state::outbox(&s.ctx, &tenant)).into_response()
}
