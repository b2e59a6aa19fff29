//! `POST /api/share-requests` and `GET /api/share-requests/{id}`.

use axum::{
    Json,
    body::{Body, to_bytes},
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use tracing::{info, warn};

use super::Problem;
use crate::{
    context::AppContext,
    domain::{Actor, EventContext, Origin, RequestId, ShareRequest, State as RequestState, Step},
    intake::{self, IntakeError, MAX_DOCUMENT_BYTES},
    invocation::InvocationId,
    status::StatusDocument,
    steps::StepMessage,
    store::{Created, StoreError},
};

const COLLECTION: &str = "/api/share-requests";
const IDEMPOTENCY_KEY: &str = "idempotency-key";

fn self_url(ctx: &AppContext, id: RequestId) -> String {
    let path = format!("{COLLECTION}/{id}");
    ctx.settings
        .public_base_url
        .join(&path)
        .map_or(path, |u| u.to_string())
}

/// The `Idempotency-Key` header: 1-255 visible ASCII characters.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .filter(|k| (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()));
    key.map(|k| Some(k.to_owned())).ok_or_else(|| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-idempotency-key",
            "Invalid Idempotency-Key",
            "the Idempotency-Key header must be 1 to 255 visible ASCII characters",
        )
        .at(COLLECTION)
    })
}

fn intake_problem(error: &IntakeError) -> Problem {
    let (status, slug, title) = match error {
        IntakeError::UnsupportedContentType(_) => (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
        ),
        IntakeError::TooLarge { .. } => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            "Document too large",
        ),
        IntakeError::Empty => (StatusCode::BAD_REQUEST, "empty-body", "Empty body"),
        IntakeError::Malformed(_) => (StatusCode::BAD_REQUEST, "malformed-json", "Malformed JSON"),
        IntakeError::Invalid(_) => (
            StatusCode::BAD_REQUEST,
            "validation",
            "Invalid share request",
        ),
        IntakeError::NotAllowed(_) => (
            StatusCode::FORBIDDEN,
            "image-not-allowed",
            "Image not allowed",
        ),
    };
    let mut detail = error.to_string();
    if matches!(error, IntakeError::Empty) {
        // The host copies a forwarded body only when Content-Length > 0 (reference §4).
        detail.push_str("; send the JSON document with a Content-Length header (not chunked)");
    }
    Problem::new(status, slug, title, detail)
        .with_errors(error.problems())
        .at(COLLECTION)
}

/// Reads the body, refusing it as soon as it exceeds the document limit.
async fn read_body(headers: &HeaderMap, body: Body) -> Result<bytes::Bytes, IntakeError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if let Some(size) = declared.filter(|s| *s > MAX_DOCUMENT_BYTES) {
        return Err(IntakeError::TooLarge { size });
    }
    to_bytes(body, MAX_DOCUMENT_BYTES)
        .await
        .map_err(|_| IntakeError::TooLarge {
            size: declared.unwrap_or(MAX_DOCUMENT_BYTES + 1),
        })
}

fn accepted(
    ctx: &AppContext,
    request: &ShareRequest,
    history: Vec<crate::domain::HistoryEntry>,
    replayed: bool,
) -> Response {
    let url = self_url(ctx, request.id);
    let document = StatusDocument::build(request, history, url.clone());
    let mut response = (StatusCode::ACCEPTED, Json(document)).into_response();
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(&url) {
        headers.insert(header::LOCATION, location);
    }
    headers.insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
    if replayed {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

/// `POST /api/share-requests`: validate, store, queue the first step; 202 + Location.
pub async fn submit_share_request(
    State(ctx): State<AppContext>,
    InvocationId(invocation_id): InvocationId,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    intake::check_content_type(content_type).map_err(|e| intake_problem(&e))?;
    let key = idempotency_key(&headers)?;
    let body = read_body(&headers, body)
        .await
        .map_err(|e| intake_problem(&e))?;
    let accepted_doc = intake::parse(&body, &ctx.settings.catalog).map_err(|e| {
        info!(error = %e, "share request refused");
        intake_problem(&e)
    })?;

    let id = key
        .as_deref()
        .map_or_else(RequestId::new_random, RequestId::for_idempotency_key);
    let event = EventContext {
        at: ctx.clock.now(),
        actor: Actor::Api,
        invocation_id,
    };
    let (request, first) = ShareRequest::submit(
        id,
        accepted_doc.submission,
        Origin::Http {
            idempotency_key: key.clone(),
        },
        accepted_doc.fingerprint,
        &event,
    );

    let stored = match ctx
        .store
        .create(&request, std::slice::from_ref(&first))
        .await
    {
        Ok(Created::New(_)) => None,
        Ok(Created::Existing(existing)) => Some(*existing),
        Err(e) => return Err(store_problem(&e)),
    };

    let (request, replayed) = match stored {
        None => {
            info!(request_id = %request.id, "share request accepted");
            (request, false)
        }
        Some(existing) if existing.request.fingerprint == request.fingerprint => {
            info!(request_id = %existing.request.id, "idempotent replay of a share request");
            (existing.request, true)
        }
        Some(_) => {
            return Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                "Idempotency-Key reused",
                "this Idempotency-Key was already used for a different share request",
            )
            .at(COLLECTION));
        }
    };

    // Queue the first step. On a replay this repairs a crash between the store write and the
    // send; duplicate detection drops the message if it was already sent.
    if request.state() == RequestState::Submitted {
        let message = StepMessage::first(request.id, Step::IssueCredentials);
        if let Err(e) = ctx.queue.send(&message, None).await {
            warn!(request_id = %request.id, error = %e, "could not queue the first step");
            return Err(Problem::unavailable(format!(
                "the request {} was stored but its processing could not be queued; retry with the same Idempotency-Key",
                request.id
            ))
            .at(COLLECTION));
        }
    }

    let history = ctx
        .store
        .history(request.id)
        .await
        .map_err(|e| store_problem(&e))?;
    Ok(accepted(&ctx, &request, history, replayed))
}

fn store_problem(error: &StoreError) -> Problem {
    warn!(error = %error, "request store failure");
    Problem::unavailable("the request store is unavailable; retry shortly")
}

/// `GET /api/share-requests/{id}`: the status document.
pub async fn get_share_request(
    State(ctx): State<AppContext>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let path = format!("{COLLECTION}/{id}");
    let not_found = || Problem::not_found(format!("there is no share request '{id}'")).at(&path);
    let Ok(id) = RequestId::parse(&id) else {
        return Err(not_found());
    };
    let Some(stored) = ctx.store.get(id).await.map_err(|e| store_problem(&e))? else {
        return Err(not_found());
    };
    let history = ctx.store.history(id).await.map_err(|e| store_problem(&e))?;
    let document = StatusDocument::build(&stored.request, history, self_url(&ctx, id));
    let mut response = Json(document).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
