//! `POST /api/share-requests` and `GET /api/share-requests/{id}`.

use axum::{
    Json,
    body::{Body, to_bytes},
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use tracing::{info, warn};

use super::{ApiCaller, Problem, Role};
use crate::{
    context::AppContext,
    domain::{Actor, HistoryEntry, Origin, RequestId, ShareRequest},
    intake::{self, Admission, AdmitError, IntakeError, MAX_DOCUMENT_BYTES},
    invocation::InvocationId,
    status::{RejectedDocument, StatusDocument},
    store::StoreError,
};

const COLLECTION: &str = "/api/share-requests";
const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The `Idempotency-Key` header: 1-255 visible ASCII characters.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    let mut values = headers.get_all(IDEMPOTENCY_KEY).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    // Two keys name two requests; picking one would be a guess (and proxies pick differently).
    let single = values.next().is_none();
    let key = Some(value)
        .filter(|_| single)
        .and_then(|v| v.to_str().ok())
        .filter(|k| (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()));
    key.map(|k| Some(k.to_owned())).ok_or_else(|| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-idempotency-key",
            "Invalid Idempotency-Key",
            "the Idempotency-Key header must be given once, as 1 to 255 visible ASCII characters",
        )
        .at(COLLECTION)
    })
}

/// The problem for a refused document (shared with nothing else: the queue records these).
pub(crate) fn intake_problem(error: &IntakeError) -> Problem {
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
        IntakeError::NotUtf8 { .. } => (StatusCode::BAD_REQUEST, "not-utf8", "Body is not UTF-8"),
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
    history: Vec<HistoryEntry>,
    replayed: bool,
) -> Response {
    let document = StatusDocument::build(ctx, request, history);
    let location = document.links.self_.clone();
    let mut response = (StatusCode::ACCEPTED, Json(document)).into_response();
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(&location) {
        headers.insert(header::LOCATION, location);
    }
    headers.insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
    if replayed {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

pub(super) fn store_problem(error: &StoreError) -> Problem {
    warn!(error = %error, "request store failure");
    Problem::unavailable("the request store is unavailable; retry shortly").at(COLLECTION)
}

/// `POST /api/share-requests`: validate, store, queue the first step; 202 + Location.
pub async fn submit_share_request(
    State(ctx): State<AppContext>,
    InvocationId(invocation_id): InvocationId,
    caller: ApiCaller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    caller.require(Role::Submit, COLLECTION)?;
    // More than one Content-Type leaves the type undecided: refused like a missing one.
    let mut content_types = headers.get_all(header::CONTENT_TYPE).iter();
    let content_type = match (content_types.next(), content_types.next()) {
        (Some(one), None) => one.to_str().ok(),
        _ => None,
    };
    intake::check_content_type(content_type).map_err(|e| intake_problem(&e))?;
    let key = idempotency_key(&headers)?;
    let body = read_body(&headers, body)
        .await
        .map_err(|e| intake_problem(&e))?;
    let document = intake::parse(&body, &ctx.settings).map_err(|e| {
        info!(error = %e, "share request refused");
        intake_problem(&e)
    })?;

    let origin = Origin::Http {
        idempotency_key: key.clone(),
    };
    // Without a key a storage failure would leave the caller unable to tell whether the request
    // exists; a key of our own makes the id deterministic, and a failure names it, so the
    // caller can retry without creating a second request.
    let effective_key = key.unwrap_or_else(|| format!("imageshare-{}", uuid::Uuid::new_v4()));
    let admission = intake::admit(
        &ctx,
        document,
        origin,
        Some(&effective_key),
        Actor::Api,
        Some(caller.caller),
        invocation_id,
    )
    .await
    .map_err(|e| match e {
            AdmitError::KeyReused(_) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                "Idempotency-Key reused",
                "this Idempotency-Key was already used for a different share request",
            )
            .at(COLLECTION),
            AdmitError::VmBusy { .. } => Problem::new(
                StatusCode::CONFLICT,
                "vm-in-use",
                "VM already being shared",
                e.to_string(),
            )
            .at(COLLECTION),
            AdmitError::SameTenant(_) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "same-tenant",
                "Consumer tenant is the owner's tenant",
                e.to_string(),
            )
            .with_errors(vec![intake::FieldProblem::new(
                "/consumer/tenantId",
                e.to_string(),
            )])
            .at(COLLECTION),
            AdmitError::Store(e) => {
                warn!(error = %e, "could not store a share request");
                Problem::unavailable(format!(
                    "the request could not be stored for a moment; retry with the header 'Idempotency-Key: {effective_key}' so that a request stored in the meantime is not made twice"
                ))
                .retry_with_key(&effective_key)
                .at(COLLECTION)
            }
        })?;
    let replayed = matches!(admission, Admission::Replay(_));
    let request = admission.request();
    // The request is stored: a failed history read must not turn the answer into an error
    // that invites a retry.
    let history = match ctx.store.history(request.id).await {
        Ok(history) => history,
        Err(e) => {
            warn!(error = %e, "could not read the history of a stored request");
            Vec::new()
        }
    };
    Ok(accepted(&ctx, request, history, replayed))
}

/// The status page of a document (serialised first, so the page shows what the JSON shows).
fn page(document: &impl serde::Serialize) -> Response {
    match serde_json::to_value(document) {
        Ok(value) => super::status_page::render(&value),
        Err(e) => {
            warn!(error = %e, "could not serialise a status document");
            Problem::unavailable("the status could not be shown; retry shortly").into_response()
        }
    }
}

/// `GET /api/share-requests/{id}`: the status document.
///
/// A browser (`Accept: text/html` first) gets the same document as a page.
pub async fn get_share_request(
    State(ctx): State<AppContext>,
    Path(id): Path<String>,
    caller: ApiCaller,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let html = super::status_page::wants_html(&headers);
    let path = format!("{COLLECTION}/{id}");
    caller.require(Role::Read, &path)?;
    let not_found = || Problem::not_found(format!("there is no share request '{id}'")).at(&path);
    let Ok(id) = RequestId::parse(&id) else {
        return Err(not_found());
    };
    let Some(stored) = ctx.store.get(id).await.map_err(|e| store_problem(&e))? else {
        let Some(rejected) = ctx
            .store
            .get_rejected(id)
            .await
            .map_err(|e| store_problem(&e))?
        else {
            return Err(not_found());
        };
        let history = ctx.store.history(id).await.map_err(|e| store_problem(&e))?;
        let document = RejectedDocument::build(&ctx, &rejected, Some(history));
        if html {
            return Ok(page(&document));
        }
        let mut response = Json(document).into_response();
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return Ok(response);
    };
    let history = ctx.store.history(id).await.map_err(|e| store_problem(&e))?;
    let document = StatusDocument::build(&ctx, &stored.request, history);
    if html {
        return Ok(page(&document));
    }
    let mut response = Json(document).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
