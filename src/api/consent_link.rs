//! `POST /api/share-requests/{id}/consent-link`: the operator re-sends the consent link of a
//! request that waits for it (the admin lost it, or its delivery was uncertain). The old
//! state stops working at once ("superseded"); the new one is made and delivered by the
//! SendConsentLink step, as the first was, so the API never holds a usable state.

use axum::{
    Json,
    extract::{Path, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

use super::{ApiCaller, Problem, Role, share_requests::store_problem};
use crate::{
    context::AppContext,
    domain::{Actor, EventContext, RequestId, State as RequestState, Step, StepMessage},
    invocation::InvocationId,
    status::StatusDocument,
    store::{self, Change, ChangeError},
};

/// Why a request cannot get a new link.
#[derive(Debug)]
struct NotWaiting(RequestState);

/// `POST /api/share-requests/{id}/consent-link`: 202 and the status document.
pub async fn resend_consent_link(
    State(ctx): State<AppContext>,
    InvocationId(invocation_id): InvocationId,
    Path(id): Path<String>,
    caller: ApiCaller,
) -> Result<Response, Problem> {
    let path = format!("/api/share-requests/{id}/consent-link");
    // Re-sending acts on the request as submitting it did, so it needs the same role.
    caller.require(Role::Submit, &path)?;
    let not_found = || Problem::not_found(format!("there is no share request '{id}'")).at(&path);
    let Ok(id) = RequestId::parse(&id) else {
        return Err(not_found());
    };
    let now = ctx.clock.now();
    let event = EventContext {
        at: now,
        actor: Actor::Api,
        invocation_id,
        caller: Some(caller.caller),
    };
    let deadline =
        time::Duration::try_from(ctx.settings.consent_deadline).unwrap_or(time::Duration::days(7));
    let max = time::Duration::try_from(ctx.settings.consent_deadline_max)
        .unwrap_or(time::Duration::days(30));
    let applied = store::change(ctx.store.as_ref(), id, |r| {
        let waiting = r.state() == RequestState::AwaitingConsent
            && r.progress
                .consent
                .as_ref()
                .is_some_and(|c| c.state_used_at.is_none());
        if !waiting {
            return Err(NotWaiting(r.state()));
        }
        // A fresh deadline, never past the maximum counted from the request's creation, and
        // never earlier than the one it had.
        let latest = r.created_at + max;
        let resends = {
            let Some(c) = r.progress.consent.as_mut() else {
                return Err(NotWaiting(RequestState::AwaitingConsent));
            };
            c.expires_at = c.expires_at.max((now + deadline).min(latest));
            c.retire_link()
        };
        let expires = r
            .progress
            .consent
            .as_ref()
            .map(|c| c.expires_at)
            .unwrap_or(now);
        r.steps.queued(Step::SendConsentLink, now);
        r.send_after_write(
            StepMessage::attempt(r.id, Step::SendConsentLink, resends),
            None,
        );
        let detail = format!(
            "A fresh consent link was asked for; the previous one no longer works. The deadline is {}.",
            expires
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default()
        );
        Ok::<_, NotWaiting>(Change::Save(
            vec![r.note("consent-link-requested", detail, &event)],
            (),
        ))
    })
    .await;
    let applied = match applied {
        Ok(applied) => applied,
        Err(ChangeError::Refused(NotWaiting(state))) => {
            return Err(Problem::new(
                StatusCode::CONFLICT,
                "not-waiting-for-consent",
                "The request is not waiting for its consent link",
                format!(
                    "the request is {state}; a new consent link can only be sent while it is AwaitingConsent and its link is unused"
                ),
            )
            .at(&path));
        }
        Err(ChangeError::Store(store::StoreError::NotFound(_))) => return Err(not_found()),
        Err(ChangeError::Store(e)) => return Err(store_problem(&e)),
    };
    crate::outbox::flush(&ctx, &applied.request, &applied.entries).await;
    let history = ctx.store.history(id).await.map_err(|e| store_problem(&e))?;
    let document = StatusDocument::build(&ctx, &applied.request, history);
    let mut response = (StatusCode::ACCEPTED, Json(document)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(location) = HeaderValue::from_str(&format!("/api/share-requests/{id}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}
