//! The HTTP front: `/{azure-host}/{path}` is dispatched to the service for that host, with
//! fault injection, secret scanning and recording around it; `/_sim/` is the admin API and
//! `/_identity/` the App Service managed identity endpoint.

use std::sync::Arc;

use axum::{
    Router,
    body::{Body, to_bytes},
    extract::{Request, State},
    response::Response,
};
use http::StatusCode;

use crate::{
    admin,
    context::SimContext,
    record::RequestRecord,
    request::{HostRequest, new_request_id, plain},
    secrets::SecretSighting,
    service::HostService,
};

/// Largest request body accepted (Service Bus premium allows 100 MB; nothing here needs more than a few).
const BODY_LIMIT: usize = 16 * 1024 * 1024;

/// What the router shares.
#[derive(Clone)]
pub struct AppState {
    /// Simulator state.
    pub ctx: SimContext,
    /// Services by host.
    pub services: Arc<Vec<Arc<dyn HostService>>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

/// The whole router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .nest("/_sim", admin::router())
        .route(
            "/_identity/msi/token",
            axum::routing::get(crate::entra::msi::token),
        )
        .fallback(dispatch)
        .with_state(state)
}

fn sightings(ctx: &SimContext, req: &HostRequest) -> Vec<SecretSighting> {
    let mut seen = Vec::new();
    let url = req.azure_url();
    for kind in ctx.secrets.find_in(&url) {
        seen.push(SecretSighting {
            kind,
            place: "url".to_owned(),
        });
    }
    for (name, value) in &req.headers {
        if let Ok(value) = value.to_str() {
            for kind in ctx.secrets.find_in(value) {
                seen.push(SecretSighting {
                    kind,
                    place: format!("header:{}", name.as_str()),
                });
            }
        }
    }
    if !req.body.is_empty() {
        let body = String::from_utf8_lossy(&req.body);
        for kind in ctx.secrets.find_in(&body) {
            seen.push(SecretSighting {
                kind,
                place: "body".to_owned(),
            });
        }
    }
    seen
}

/// Buffers a request into a [`HostRequest`] for `host`.
pub async fn buffer(request: Request, host: String, path: String) -> Result<HostRequest, Response> {
    let (parts, body) = request.into_parts();
    let body = to_bytes(body, BODY_LIMIT).await.map_err(|_| {
        plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            "azure-sim: request body too large",
        )
    })?;
    Ok(HostRequest {
        method: parts.method,
        host,
        query: parts.uri.query().map(str::to_owned),
        path,
        headers: parts.headers,
        body,
        request_id: new_request_id(),
        fault: None,
    })
}

/// Runs a buffered request through faults and a handler, then records it.
pub async fn serve_recorded<F, Fut>(ctx: &SimContext, req: HostRequest, handler: F) -> Response
where
    F: FnOnce(HostRequest) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    let time = ctx.now();
    let secrets_seen = sightings(ctx, &req);
    let (method, host, path) = (req.method.to_string(), req.host.clone(), req.path.clone());
    let path_and_query = match &req.query {
        Some(q) => format!("{path}?{q}"),
        None => path.clone(),
    };
    let mut fired = None;
    let mut response = None;
    let mut req = req;
    if let Some((id, fault)) = ctx.faults.pick(&method, &host, &path) {
        if let Some(ms) = fault.delay_ms {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
        if let Some(r) = fault.response(&req, ctx.now()) {
            fired = Some(id);
            response = Some(r);
        } else {
            if fault.provisioning_error.is_some() {
                fired = Some(id);
            }
            req.fault = Some(fault);
        }
    }
    let response = match response {
        Some(r) => r,
        None => handler(req).await,
    };
    let status = response.status().as_u16();
    let contains_known_secret = !secrets_seen.is_empty();
    // The query may carry a secret a careless client put there: log the path only.
    tracing::info!(
        target: "azure_sim::request",
        %method, %host, %path, status, contains_known_secret, fault = ?fired,
        "request"
    );
    ctx.recorder.push(RequestRecord {
        time,
        method,
        host,
        path_and_query,
        status,
        contains_known_secret,
        secrets_seen,
        fault: fired,
    });
    response
}

async fn dispatch(State(state): State<AppState>, request: Request<Body>) -> Response {
    let raw_path = request.uri().path().to_owned();
    let trimmed = raw_path.trim_start_matches('/');
    let (host, rest) = trimmed.split_once('/').unwrap_or((trimmed, ""));
    let host = host.to_ascii_lowercase();
    if host.is_empty() {
        return plain(
            StatusCode::NOT_FOUND,
            "azure-sim: address Azure hosts as /{host}/{path}, e.g. /graph.microsoft.com/v1.0/applications; admin API under /_sim/",
        );
    }
    let Some(service) = state.services.iter().find(|s| s.serves(&host)).cloned() else {
        return plain(
            StatusCode::NOT_FOUND,
            format!(
                "azure-sim: unknown host '{host}'. Simulated: login.microsoftonline.com, graph.microsoft.com, management.azure.com, {{vault}}.vault.azure.net, {{namespace}}.servicebus.windows.net"
            ),
        );
    };
    let path = format!("/{rest}");
    let req = match buffer(request, host, path).await {
        Ok(r) => r,
        Err(response) => return response,
    };
    let ctx = state.ctx.clone();
    serve_recorded(&state.ctx, req, move |req| async move {
        service.handle(ctx, req).await
    })
    .await
}
