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

/// `GET /api/consent/callback?admin_consent=True&tenant=..&state=..` (or `error=..`).
pub async fn consent_callback(
    State(ctx): State<AppContext>,
    InvocationId(invocation_id): InvocationId,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let Some(query) = single_valued(pairs) else {
        return invalid_link();
    };
    let Some((id, presented)) = query.get("state").and_then(|s| consent_state::parse(s)) else {
        return invalid_link();
    };
    let stored = match ctx.store.get(id).await {
        Ok(Some(stored)) => stored,
        Ok(None) => return invalid_link(),
        Err(e) => return unavailable(&e),
    };
    let Some(consent) = stored.request.progress.consent.clone() else {
        return invalid_link();
    };
    if !consent_state::matches(&consent.state_hash, &presented) {
        warn!(request_id = %id, "consent callback with a state that does not match");
        return invalid_link();
    }
    let now = ctx.clock.now();
    if now > consent.expires_at && consent.state_used_at.is_none() {
        return page(
            StatusCode::GONE,
            "This consent link has expired",
            "<p>Ask the image owner for a new request.</p>",
        );
    }
    let request = &stored.request;
    if matches!(
        request.state(),
        RequestState::Failed | RequestState::Expired | RequestState::Rejected
    ) {
        let reason = request
            .failure
            .clone()
            .unwrap_or_else(|| request.state().to_string());
        return page(
            StatusCode::OK,
            "This request has ended",
            &format!("<p>{}</p>", escape(&reason)),
        );
    }

    let event = EventContext {
        at: now,
        actor: Actor::ConsumerAdmin,
        caller: None,
        invocation_id,
    };
    if let Some(error) = query.get("error") {
        let description = query.get("error_description").cloned().unwrap_or_default();
        let first_line = description.lines().next().unwrap_or("").to_owned();
        if let Err(e) = record_decline(&ctx, id, error, &first_line, &event).await {
            return unavailable(&e);
        }
        info!(request_id = %id, %error, "consumer admin did not consent");
        let expires = consent.expires_at.format(&Rfc3339).unwrap_or_default();
        return page(
            StatusCode::OK,
            "Consent was not given",
            &format!(
                "<p>Entra reported <code>{}</code>: {}</p><p>If this was a mistake, open the consent link again (it works until {}).</p>",
                escape(error),
                escape(&first_line),
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

    match record_consent(&ctx, &stored.request, query.get("tenant").cloned(), &event).await {
        Ok(request) => page(
            StatusCode::OK,
            "Thank you: consent recorded",
            &format!(
                "<p>imageshare is checking the consent in your tenant <code>{}</code> now.</p>{}",
                request.consumer.tenant_id,
                remaining(&request)
            ),
        ),
        Err(e) => unavailable(&e),
    }
}

fn unavailable(error: &StoreError) -> Response {
    warn!(error = %error, "consent callback could not reach the store");
    page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Please try again",
        "<p>imageshare could not record your answer just now. Reload this page in a minute.</p>",
    )
}

async fn record_decline(
    ctx: &AppContext,
    id: RequestId,
    error: &str,
    description: &str,
    event: &EventContext,
) -> Result<(), StoreError> {
    let applied = store::change(ctx.store.as_ref(), id, |request| {
        let Some(consent) = request.progress.consent.as_mut() else {
            return Ok::<_, Infallible>(Change::Keep(()));
        };
        consent.callback = Some(CallbackRecord {
            at: event.at,
            consented: false,
            error: Some(format!("{error}: {description}")),
            reported_tenant: None,
        });
        let detail = format!("The consumer's admin did not consent: {error}: {description}");
        Ok(Change::Save(
            vec![request.note("consent-declined", detail, event)],
            (),
        ))
    })
    .await
    .map_err(store_error)?;
    announce(ctx, &applied.request, &applied.entries).await;
    Ok(())
}

/// Records the consent report (once) and queues an immediate consent check.
async fn record_consent(
    ctx: &AppContext,
    request: &ShareRequest,
    reported_tenant: Option<String>,
    event: &EventContext,
) -> Result<ShareRequest, StoreError> {
    let already = request
        .progress
        .consent
        .as_ref()
        .is_some_and(|c| c.state_used_at.is_some());
    // A number no scheduled re-check can have yet (they are at most latest + 1), so the
    // check runs now instead of being dropped as a duplicate, and supersedes the chain. Sent
    // before it is recorded: a message newer than the record still runs.
    let latest = request.progress.rechecks.latest;
    let attempt = if already { latest } else { latest + 2 };
    if matches!(
        request.state(),
        RequestState::AwaitingConsent | RequestState::AwaitingRoleGrant
    ) {
        let message = StepMessage::attempt(request.id, Step::ConfirmConsent, attempt);
        ctx.queue
            .send(&message, None)
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    }
    if already {
        return Ok(request.clone());
    }
    let applied = store::change(ctx.store.as_ref(), request.id, |request| {
        let consumer = request.consumer.tenant_id;
        let Some(consent) = request.progress.consent.as_mut() else {
            return Ok::<_, Infallible>(Change::Keep(()));
        };
        if consent.state_used_at.is_some() {
            return Ok(Change::Keep(()));
        }
        consent.state_used_at = Some(event.at);
        consent.callback = Some(CallbackRecord {
            at: event.at,
            consented: true,
            error: None,
            reported_tenant: reported_tenant.clone(),
        });
        request.progress.rechecks.latest = request.progress.rechecks.latest.max(attempt);
        let claimed = reported_tenant.as_deref().unwrap_or("none");
        let mismatch = if claimed.eq_ignore_ascii_case(&consumer.to_string()) {
            ""
        } else {
            " It names a different tenant than the request's, so only the check in the request's tenant counts."
        };
        let detail = format!(
            "The consumer's admin reports consent (redirect names tenant {claimed}); imageshare verifies it in tenant {consumer}.{mismatch}"
        );
        Ok(Change::Save(vec![request.note("consent-reported", detail, event)], ()))
    })
    .await
    .map_err(store_error)?;
    announce(ctx, &applied.request, &applied.entries).await;
    Ok(applied.request)
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
