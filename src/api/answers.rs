//! The consumer admin's answers to one request, wherever they are given: Entra's consent page
//! (through the callback) or imageshare's approval page. Both present the request's
//! single-use state; both go through here, so a state works once, a replaced or expired one
//! changes nothing, and every page says so in the same words.

use std::{collections::HashMap, convert::Infallible};

use axum::{
    http::StatusCode,
    response::{Html, IntoResponse, Response},
};
use tracing::{info, warn};

use crate::{
    consent_state,
    context::AppContext,
    domain::{
        CallbackRecord, ConsentRecord, EventContext, HistoryEntry, RequestId, ShareRequest,
        State as RequestState, Step,
    },
    html::escape,
    status::role_grant,
    store::{self, Change, ChangeError, StoreError},
};

/// A small self-contained page, with the security headers of every page.
pub fn page(status: StatusCode, title: &str, body_html: &str) -> Response {
    let mut response = (status, Html(crate::html::document(title, body_html))).into_response();
    crate::html::secure(response.headers_mut());
    response
}

/// The page for a state that is none of ours.
pub fn invalid_link() -> Response {
    page(
        StatusCode::BAD_REQUEST,
        "This link is not valid",
        "<p>It may have been copied incompletely. Open the link from the message you received, or ask the image owner for a new one.</p>",
    )
}

/// What is left for the admin, as HTML.
pub fn remaining(request: &ShareRequest) -> String {
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
pub fn single_valued(pairs: Vec<(String, String)>) -> Option<HashMap<String, String>> {
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

/// A request waiting for the answer its presented state brings.
#[derive(Debug)]
pub struct Open {
    /// The request, as read.
    pub request: ShareRequest,
    /// Its consent record (the state's hash, the deadline).
    pub consent: ConsentRecord,
    /// The presented state's hash.
    pub hash: String,
}

/// The request `state` (as presented) may still answer, or the page that says why not:
/// forged or truncated, used, replaced by a newer link, ended or expired.
pub async fn open(ctx: &AppContext, state: Option<&String>) -> Result<Open, Response> {
    let Some((id, hash)) = state.and_then(|s| consent_state::parse(s)) else {
        return Err(invalid_link());
    };
    let request = match ctx.store.get(id).await {
        Ok(Some(stored)) => stored.request,
        Ok(None) => return Err(invalid_link()),
        Err(e) => return Err(unavailable(&e)),
    };
    let Some(consent) = request.progress.consent.clone() else {
        return Err(invalid_link());
    };
    match presented(&consent, &hash) {
        Presented::Current => {}
        Presented::Used => return Err(already_used(false)),
        Presented::Superseded => return Err(already_used(true)),
        Presented::Unknown => {
            warn!(request_id = %id, "a state that does not match was presented");
            return Err(invalid_link());
        }
    }
    if request.state().pipeline_is_over() {
        return Err(ended(&request));
    }
    if ctx.clock.now() > consent.expires_at {
        return Err(page(
            StatusCode::GONE,
            "This link has expired",
            "<p>Nothing was changed. Ask the image owner to send a new link.</p>",
        ));
    }
    Ok(Open {
        request,
        consent,
        hash,
    })
}

/// Where the admin answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Via {
    /// Entra's consent page, through the callback, with the tenant the redirect claims.
    ConsentPage {
        /// The callback's `tenant` (recorded, never trusted).
        reported_tenant: Option<String>,
    },
    /// imageshare's approval page.
    ApprovalPage,
    /// The one-visit sign-in (authorization code with PKCE), as `user`.
    OneVisit {
        /// The admin's sign-in name, from the ID token.
        user: String,
    },
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

pub fn unavailable(error: &StoreError) -> Response {
    warn!(error = %error, "an answer page could not reach the store");
    page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Please try again",
        "<p>imageshare could not record your answer just now. Reload this page in a minute.</p>",
    )
}

/// Whether `request` still waits for the answer that the state hashed `hash` brings.
pub fn answerable(request: &ShareRequest, hash: &str) -> bool {
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
    via: &Via,
    event: &EventContext,
) -> Result<Option<ShareRequest>, StoreError> {
    let (error, place) = match via {
        Via::ConsentPage { .. } => (Some("access_denied".to_owned()), "on the consent page"),
        Via::ApprovalPage | Via::OneVisit { .. } => (None, "on imageshare's approval page"),
    };
    let applied = store::change(ctx.store.as_ref(), id, |request| {
        if !answerable(request, hash) {
            return Ok::<_, Infallible>(Change::Keep(false));
        }
        if let Some(consent) = request.progress.consent.as_mut() {
            consent.state_used_at = Some(event.at);
            // The one-visit verifier has served (or can no longer serve): it goes with the state.
            consent.one_visit = None;
            consent.callback = Some(CallbackRecord {
                at: event.at,
                consented: false,
                error: error.clone(),
                reported_tenant: None,
            });
        }
        let detail = if reason.is_empty() {
            format!("The consumer's admin declined this request {place}.")
        } else {
            format!("The consumer's admin declined this request {place}: {reason}")
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

/// Records the admin's approval, consuming the state, and queues an immediate consent check
/// (which also proves the consent is in the tenant). `None` when the state was used in the
/// meantime.
pub async fn approve(
    ctx: &AppContext,
    id: RequestId,
    hash: &str,
    via: &Via,
    event: &EventContext,
) -> Result<Option<ShareRequest>, StoreError> {
    let applied = store::change(ctx.store.as_ref(), id, |request| {
        if !answerable(request, hash) {
            return Ok::<_, Infallible>(Change::Keep(false));
        }
        let consumer = request.consumer.tenant_id;
        let Some(consent) = request.progress.consent.as_mut() else {
            return Ok(Change::Keep(false));
        };
        consent.state_used_at = Some(event.at);
        // The one-visit verifier has served (or can no longer serve): it goes with the state.
        consent.one_visit = None;
        consent.callback = Some(CallbackRecord {
            at: event.at,
            consented: true,
            error: None,
            reported_tenant: match via {
                Via::ConsentPage { reported_tenant } => reported_tenant.clone(),
                Via::ApprovalPage | Via::OneVisit { .. } => None,
            },
        });
        // The check goes out through the outbox, with the approval it must see: sent before
        // the write, it could run first, find no approval and wait for the deadline.
        request.check_now(Step::ConfirmConsent, event.at);
        let (kind, detail) = match via {
            Via::ConsentPage { .. } => (
                "consent-reported",
                format!(
                    "The consumer's admin approved this request on the consent page; imageshare verifies the consent in tenant {consumer}."
                ),
            ),
            Via::ApprovalPage => (
                "approved",
                format!(
                    "The consumer's admin approved this request on imageshare's approval page; imageshare verifies the app's consent in tenant {consumer}."
                ),
            ),
            Via::OneVisit { user } => (
                "approved",
                format!(
                    "The consumer's admin {user} approved this request and consented in one sign-in; imageshare grants the app its roles with that sign-in and verifies the consent in tenant {consumer}."
                ),
            ),
        };
        Ok(Change::Save(vec![request.note(kind, detail, event)], true))
    })
    .await
    .map_err(store_error)?;
    if !applied.value {
        return Ok(None);
    }
    info!(request_id = %id, "consumer admin approved the request");
    announce(ctx, &applied.request, &applied.entries).await;
    Ok(Some(applied.request))
}

pub fn store_error(error: ChangeError<Infallible>) -> StoreError {
    match error {
        ChangeError::Store(e) => e,
        ChangeError::Refused(never) => match never {},
    }
}

/// Publishes what an answer wrote through the request's outbox: the admin's page never
/// waits on the events topic, and what fails to go out now is sent by the next run or the
/// reconciler.
pub async fn announce(ctx: &AppContext, request: &ShareRequest, entries: &[HistoryEntry]) {
    crate::outbox::flush(ctx, request, entries).await;
}
