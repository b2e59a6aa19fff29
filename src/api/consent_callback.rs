//! `GET /api/consent/callback`: where Entra sends the consumer's admin after the admin-consent
//! page. The redirect proves nothing by itself (its `tenant` is never trusted, reference
//! §2.1): it is recorded, a consent check is queued at once, and the admin is told exactly
//! what is left to do.

use std::{collections::HashMap, convert::Infallible};

use axum::{
    extract::{Query, State},
    http::StatusCode,
    response::{Html, IntoResponse, Response},
};
use time::format_description::well_known::Rfc3339;
use tracing::{info, warn};

use crate::{
    consent_state,
    context::AppContext,
    domain::{
        Actor, CallbackRecord, EventContext, HistoryEntry, RequestId, ShareRequest,
        State as RequestState, Step,
    },
    invocation::InvocationId,
    status::role_grant,
    steps::StepMessage,
    store::{self, Change, ChangeError, StoreError},
};

use super::html::escape;

/// A small self-contained page, with the security headers of every page.
fn page(status: StatusCode, title: &str, body_html: &str) -> Response {
    let mut response = (status, Html(super::html::document(title, body_html))).into_response();
    super::html::secure(response.headers_mut());
    response
}

fn invalid_link() -> Response {
    page(
        StatusCode::BAD_REQUEST,
        "This link is not valid",
        "<p>It may have been copied incompletely. Open the link from the message you received, or ask the image owner for a new one.</p>",
    )
}

/// What is left for the admin, as HTML.
fn remaining(request: &ShareRequest) -> String {
    if request.progress.access.role_confirmed_at.is_some()
        || matches!(
            request.state(),
            RequestState::CreatingVm | RequestState::Completed
        )
    {
        return "<p>Everything is in place: nothing is left for you to do. The VM is being created.</p>".to_owned();
    }
    let Some((command, portal)) = role_grant(request) else {
        return String::new();
    };
    format!(
        "<p>One thing is left: give the app <b>Contributor</b> on resource group <b>{rg}</b> in subscription <code>{sub}</code>.</p>\
         <ul><li><a href=\"{portal}\">Open the resource group's access control in the Azure portal</a>, or</li>\
         <li>run <code>{command}</code></li></ul>\
         <p>Role changes can take up to 10 minutes to apply. imageshare checks on its own and creates the VM once access works; you can close this page.</p>",
        rg = escape(request.consumer.resource_group.as_str()),
        sub = request.consumer.subscription_id,
        portal = escape(&portal),
        command = escape(&command),
    )
}

/// The query as a map, or `None` when a parameter is given twice: two `state`s or two
/// answers are not a link Entra sends, and keeping either one would be a guess.
fn single_valued(pairs: Vec<(String, String)>) -> Option<HashMap<String, String>> {
    let mut query = HashMap::with_capacity(pairs.len());
    for (name, value) in pairs {
        if query.insert(name, value).is_some() {
            return None;
        }
    }
    Some(query)
}

/// The longest `error_description` kept (characters of its first line): enough for any
/// Entra message and an admin's reason, small enough that no replay can grow a record.
pub const REASON_MAX_CHARS: usize = 500;
/// The longest `error` code or `tenant` accepted; anything longer is not from Entra.
const TOKEN_MAX_CHARS: usize = 64;

/// The first line of `text`, at most [`REASON_MAX_CHARS`] characters, control characters
/// dropped: stored as plain text and escaped wherever it is shown.
pub fn bounded_reason(text: &str) -> String {
    text.lines()
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .take(REASON_MAX_CHARS)
        .collect()
}

/// Whether `value` could be an Entra error code or a tenant (GUID or domain): short, and
/// made of the characters those use.
fn token_like(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= TOKEN_MAX_CHARS
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// The page for a state that was answered already or replaced by a newer link: it changes
/// nothing, on the `error=` path as much as on consent.
pub fn already_used(superseded: bool) -> Response {
    let why = if superseded {
        "A newer link was sent for this request, and only the newest one works."
    } else {
        "This link has been used already: each link works once."
    };
    page(
        StatusCode::GONE,
        "This link was already used",
        &format!(
            "<p>{why} Nothing was changed. If you still need to act, use the latest message you received or ask the image owner to send a new link.</p>"
        ),
    )
}

/// The page for a request that has ended: the reason stays with the owner (it can hold
/// their tenant's internals); the request id is there to quote.
pub fn ended(request: &ShareRequest) -> Response {
    page(
        StatusCode::GONE,
        "This request has ended",
        &format!(
            "<p>The request is {} and nothing more will happen to it; this link no longer does anything. If you have questions, quote request <code>{}</code> to the image owner.</p>",
            escape(request.state().as_str()),
            request.id
        ),
    )
}

/// Which of this request's states was presented, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Presented {
    /// The current one, not yet used.
    Current,
    /// The current one, already used.
    Used,
    /// One a newer link replaced.
    Superseded,
    /// None of ours: forged, truncated, or another request's.
    Unknown,
}

/// Classifies `presented` (a state hash) against `consent`.
pub fn presented(consent: &crate::domain::ConsentRecord, presented: &str) -> Presented {
    if consent_state::matches(&consent.state_hash, presented) {
        if consent.state_used_at.is_some() {
            Presented::Used
        } else {
            Presented::Current
        }
    } else if consent
        .superseded_hashes
        .iter()
        .any(|h| consent_state::matches(h, presented))
    {
        Presented::Superseded
    } else {
        Presented::Unknown
    }
}

/// `GET /api/consent/callback?admin_consent=True&tenant=..&state=..` (or `error=..`).
pub async fn consent_callback(
    State(ctx): State<AppContext>,
    InvocationId(invocation_id): InvocationId,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let Some(query) = single_valued(pairs) else {
        return invalid_link();
    };
    let Some((id, hash)) = query.get("state").and_then(|s| consent_state::parse(s)) else {
        return invalid_link();
    };
    let error = query.get("error");
    let tenant = query.get("tenant");
    if error.is_some_and(|e| !token_like(e)) || tenant.is_some_and(|t| !token_like(t)) {
        return invalid_link();
    }
    let stored = match ctx.store.get(id).await {
        Ok(Some(stored)) => stored,
        Ok(None) => return invalid_link(),
        Err(e) => return unavailable(&e),
    };
    let request = &stored.request;
    let Some(consent) = request.progress.consent.clone() else {
        return invalid_link();
    };
    match presented(&consent, &hash) {
        Presented::Current => {}
        Presented::Used => return already_used(false),
        Presented::Superseded => return already_used(true),
        Presented::Unknown => {
            warn!(request_id = %id, "consent callback with a state that does not match");
            return invalid_link();
        }
    }
    if request.state().pipeline_is_over() {
        return ended(request);
    }
    let now = ctx.clock.now();
    if now > consent.expires_at {
        return page(
            StatusCode::GONE,
            "This consent link has expired",
            "<p>Nothing was changed. Ask the image owner to send a new link.</p>",
        );
    }
    // Entra names the tenant the admin signed in to; one that is not the request's is not an
    // answer for this request, whatever else the redirect says.
    if tenant.is_some_and(|t| !t.eq_ignore_ascii_case(&request.consumer.tenant_id.to_string())) {
        return page(
            StatusCode::BAD_REQUEST,
            "This answer is for another tenant",
            &format!(
                "<p>The link was answered from a different tenant than the one this request is for. Nothing was changed. Sign in as an administrator of tenant <code>{}</code> and open the link again.</p>",
                request.consumer.tenant_id
            ),
        );
    }

    let event = EventContext {
        at: now,
        actor: Actor::ConsumerAdmin,
        caller: None,
        invocation_id,
    };
    if let Some(error) = error {
        let description = bounded_reason(
            query
                .get("error_description")
                .map(String::as_str)
                .unwrap_or(""),
        );
        if error == "access_denied" {
            return match decline(&ctx, id, &hash, &description, &event).await {
                Ok(Some(request)) => declined_page(&request),
                Ok(None) => already_used(false),
                Err(e) => unavailable(&e),
            };
        }
        if let Err(e) = record_error(&ctx, id, &hash, error, &description, &event).await {
            return unavailable(&e);
        }
        info!(request_id = %id, %error, "Entra reported an error on the consent page");
        let expires = consent.expires_at.format(&Rfc3339).unwrap_or_default();
        return page(
            StatusCode::OK,
            "Consent was not given",
            &format!(
                "<p>Entra reported <code>{}</code>: {}</p><p>Nothing was changed. If this was a mistake, open the link again (it works until {}).</p>",
                escape(error),
                escape(&description),
                escape(&expires)
            ),
        );
    }
    if !query
        .get("admin_consent")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        return invalid_link();
    }

    match record_consent(&ctx, &stored.request, &hash, tenant.cloned(), &event).await {
        Ok(Some(request)) => page(
            StatusCode::OK,
            "Thank you: consent recorded",
            &format!(
                "<p>imageshare is checking the consent in your tenant <code>{}</code> now.</p>{}",
                request.consumer.tenant_id,
                remaining(&request)
            ),
        ),
        Ok(None) => already_used(false),
        Err(e) => unavailable(&e),
    }
}

/// The page after a decline.
pub fn declined_page(request: &ShareRequest) -> Response {
    page(
        StatusCode::OK,
        "You declined this request",
        &format!(
            "<p>Nothing will be created in your tenant for request <code>{}</code>; it has ended. The image owner is told.</p>",
            request.id
        ),
    )
}

fn unavailable(error: &StoreError) -> Response {
    warn!(error = %error, "consent callback could not reach the store");
    page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Please try again",
        "<p>imageshare could not record your answer just now. Reload this page in a minute.</p>",
    )
}

/// Whether `request` still waits for the answer that the state hashed `hash` brings.
fn answerable(request: &ShareRequest, hash: &str) -> bool {
    !request.state().pipeline_is_over()
        && request
            .progress
            .consent
            .as_ref()
            .is_some_and(|c| presented(c, hash) == Presented::Current)
}

/// Ends the request `Declined` in one write, consuming the state; `None` when the state was
/// used (or the request moved on) in the meantime, so a replay changes nothing.
pub async fn decline(
    ctx: &AppContext,
    id: RequestId,
    hash: &str,
    reason: &str,
    event: &EventContext,
) -> Result<Option<ShareRequest>, StoreError> {
    let applied = store::change(ctx.store.as_ref(), id, |request| {
        if !answerable(request, hash) {
            return Ok::<_, Infallible>(Change::Keep(false));
        }
        if let Some(consent) = request.progress.consent.as_mut() {
            consent.state_used_at = Some(event.at);
            consent.callback = Some(CallbackRecord {
                at: event.at,
                consented: false,
                error: Some("access_denied".to_owned()),
                reported_tenant: None,
            });
        }
        let detail = if reason.is_empty() {
            "The consumer's admin declined this request.".to_owned()
        } else {
            format!("The consumer's admin declined this request: {reason}")
        };
        request.failure = Some(detail.clone());
        match request.transition(RequestState::Declined, "declined", detail, event) {
            Ok(entry) => Ok(Change::Save(vec![entry], true)),
            Err(_) => Ok(Change::Keep(false)),
        }
    })
    .await
    .map_err(store_error)?;
    if !applied.value {
        return Ok(None);
    }
    info!(request_id = %id, "consumer admin declined the request");
    announce(ctx, &applied.request, &applied.entries).await;
    Ok(Some(applied.request))
}

/// Records an Entra error other than a decline (the admin may open the link again): bounded,
/// overwriting the last one, and noted in the history only when it differs from it, so
/// replays cannot grow the record.
async fn record_error(
    ctx: &AppContext,
    id: RequestId,
    hash: &str,
    error: &str,
    description: &str,
    event: &EventContext,
) -> Result<(), StoreError> {
    let text = format!("{error}: {description}");
    let applied = store::change(ctx.store.as_ref(), id, |request| {
        if !answerable(request, hash) {
            return Ok::<_, Infallible>(Change::Keep(()));
        }
        let Some(consent) = request.progress.consent.as_mut() else {
            return Ok(Change::Keep(()));
        };
        let repeat = consent
            .callback
            .as_ref()
            .is_some_and(|c| c.error.as_deref() == Some(text.as_str()));
        if repeat {
            return Ok(Change::Keep(()));
        }
        consent.callback = Some(CallbackRecord {
            at: event.at,
            consented: false,
            error: Some(text.clone()),
            reported_tenant: None,
        });
        let detail = format!("The consent page reported an error: {text}");
        Ok(Change::Save(
            vec![request.note("consent-error", detail, event)],
            (),
        ))
    })
    .await
    .map_err(store_error)?;
    announce(ctx, &applied.request, &applied.entries).await;
    Ok(())
}

/// Records the consent report, consuming the state (it is this request's approval), and
/// queues an immediate consent check. `None` when the state was used in the meantime.
async fn record_consent(
    ctx: &AppContext,
    request: &ShareRequest,
    hash: &str,
    reported_tenant: Option<String>,
    event: &EventContext,
) -> Result<Option<ShareRequest>, StoreError> {
    let applied = store::change(ctx.store.as_ref(), request.id, |request| {
        if !answerable(request, hash) {
            return Ok::<_, Infallible>(Change::Keep(false));
        }
        let consumer = request.consumer.tenant_id;
        let Some(consent) = request.progress.consent.as_mut() else {
            return Ok(Change::Keep(false));
        };
        consent.state_used_at = Some(event.at);
        consent.callback = Some(CallbackRecord {
            at: event.at,
            consented: true,
            error: None,
            reported_tenant: reported_tenant.clone(),
        });
        // The check goes out through the outbox, with the approval it must see: sent before
        // the write, it could run first, find no approval and wait for the deadline. Its
        // number is one no scheduled re-check can have yet (they are at most latest + 1), so
        // it runs now and supersedes the chain.
        let attempt = request.progress.rechecks.latest + 2;
        request.progress.rechecks.latest = attempt;
        request.send_after_write(
            StepMessage::attempt(request.id, Step::ConfirmConsent, attempt),
            None,
        );
        let detail = format!(
            "The consumer's admin approved this request on the consent page; imageshare verifies the consent in tenant {consumer}."
        );
        Ok(Change::Save(
            vec![request.note("consent-reported", detail, event)],
            true,
        ))
    })
    .await
    .map_err(store_error)?;
    if !applied.value {
        return Ok(None);
    }
    announce(ctx, &applied.request, &applied.entries).await;
    Ok(Some(applied.request))
}

fn store_error(error: ChangeError<Infallible>) -> StoreError {
    match error {
        ChangeError::Store(e) => e,
        ChangeError::Refused(never) => match never {},
    }
}

/// Publishes what the callback wrote through the request's outbox: the admin's page never
/// waits on the events topic, and what fails to go out now is sent by the next run or the
/// reconciler.
async fn announce(ctx: &AppContext, request: &ShareRequest, entries: &[HistoryEntry]) {
    crate::outbox::flush(ctx, request, entries).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_query_parameter_given_twice_makes_the_link_invalid() {
        assert!(single_valued(pairs(&[("state", "a"), ("state", "b")])).is_none());
        let query = single_valued(pairs(&[("state", "a"), ("tenant", "t")])).unwrap();
        assert_eq!(query["state"], "a");
    }
}
