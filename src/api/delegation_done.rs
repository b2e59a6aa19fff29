//! The consumer's "we are done" link of a `lighthouse` request: `GET /api/delegation/done?
//! state=..` shows the delegation (image, delegated group, tenant, until when) and one form;
//! `POST /api/delegation/done` ends it now: the EndDelegation step is queued at once and the
//! request ends `Completed`, as it would at the end of the lifetime.
//!
//! As on the approval page, opening the page changes nothing (mail scanners open links), and
//! the form carries the link's single-use state, which is its own CSRF token. Only the hash
//! of the state is stored (`DelegationRecord::done_link_hash`).

use std::convert::Infallible;

use axum::{
    Form,
    extract::{Query, State},
    http::StatusCode,
    response::{Html, IntoResponse, Response},
};
use time::format_description::well_known::Rfc3339;
use tracing::{info, warn};

use super::answers::{self, already_used, announce, page, single_valued, store_error, unavailable};
use crate::{
    consent_state,
    context::AppContext,
    domain::{
        Actor, DelegationRecord, EventContext, RequestId, ShareRequest, State as RequestState,
        Step, Strategy,
    },
    html::{document, escape, secure_with_forms},
    invocation::InvocationId,
    store::{self, Change},
};

/// The largest form accepted: a state fits many times over.
pub const FORM_MAX_BYTES: usize = 4 * 1024;

/// A delegated request whose done link was presented, unused.
struct Open {
    request: ShareRequest,
    record: DelegationRecord,
    hash: String,
}

/// Whether `hash` is the request's unused done link while it is still delegated.
fn usable(request: &ShareRequest, hash: &str) -> bool {
    request.state() == RequestState::Delegated
        && request.progress.delegation.as_ref().is_some_and(|d| {
            d.done_at.is_none()
                && d.done_link_hash
                    .as_deref()
                    .is_some_and(|h| consent_state::matches(h, hash))
        })
}

/// The request the presented state may still end, or the page that says why not.
async fn open(ctx: &AppContext, state: Option<&String>) -> Result<Open, Response> {
    let Some((id, hash)) = state.and_then(|s| consent_state::parse(s)) else {
        return Err(answers::invalid_link());
    };
    let request = match ctx.store.get(id).await {
        Ok(Some(stored)) => stored.request,
        Ok(None) => return Err(answers::invalid_link()),
        Err(e) => return Err(unavailable(&e)),
    };
    let record = match request.progress.delegation.clone() {
        Some(r) if request.strategy == Strategy::Lighthouse => r,
        _ => return Err(answers::invalid_link()),
    };
    let ours = record
        .done_link_hash
        .as_deref()
        .is_some_and(|h| consent_state::matches(h, &hash));
    if !ours {
        warn!(request_id = %id, "a done link that does not match was presented");
        return Err(answers::invalid_link());
    }
    if record.done_at.is_some() {
        return Err(already_used(false));
    }
    if request.state() != RequestState::Delegated {
        return Err(answers::ended(&request));
    }
    Ok(Open {
        request,
        record,
        hash,
    })
}

/// `GET /api/delegation/done?state=..`: the delegation and the form. Changes nothing.
pub async fn delegation_done_page(
    State(ctx): State<AppContext>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let Some(query) = single_valued(pairs) else {
        return answers::invalid_link();
    };
    let open = match open(&ctx, query.get("state")).await {
        Ok(open) => open,
        Err(page) => return page,
    };
    let Some(state) = query.get("state") else {
        return answers::invalid_link();
    };
    let body = format!(
        "{details}\
         <form id=\"done\" method=\"post\" action=\"done\"><input type=\"hidden\" name=\"state\" value=\"{state}\">\
         <button type=\"submit\">We are done: end the delegation now</button></form>\
         <p>Ending it removes your tenant's access to the image's resource group at once. VMs you created from the image keep running, but reimage and scale-out need read access to the image and fail afterwards. This link works once; if you do nothing, the delegation ends at the time above.</p>",
        details = details(&open),
        state = escape(state),
    );
    let mut response = (
        StatusCode::OK,
        Html(document("End a shared image's delegation", &body)),
    )
        .into_response();
    secure_with_forms(response.headers_mut());
    response
}

/// `POST /api/delegation/done` (form: `state`).
pub async fn answer_delegation_done(
    State(ctx): State<AppContext>,
    InvocationId(invocation_id): InvocationId,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let Some(form) = single_valued(pairs) else {
        return answers::invalid_link();
    };
    let open = match open(&ctx, form.get("state")).await {
        Ok(open) => open,
        Err(page) => return page,
    };
    let event = EventContext {
        at: ctx.clock.now(),
        actor: Actor::ConsumerAdmin,
        caller: None,
        invocation_id,
    };
    match end_now(&ctx, open.request.id, &open.hash, &event).await {
        Ok(true) => page(
            StatusCode::OK,
            "Thank you: the delegation is being removed",
            &format!(
                "<p>imageshare removes the delegation of the image's resource group to your tenant <code>{}</code> now; it disappears from Service providers → Delegations within minutes. Nothing else is left for you to do. Request <code>{}</code>.</p>",
                open.request.consumer.tenant_id, open.request.id
            ),
        ),
        Ok(false) => already_used(false),
        Err(e) => unavailable(&e),
    }
}

/// Records the admin's "done", consuming the link, and queues EndDelegation now through the
/// outbox (with the write it must see). `false` when the link was used, or the request moved
/// on, in the meantime.
async fn end_now(
    ctx: &AppContext,
    id: RequestId,
    hash: &str,
    event: &EventContext,
) -> Result<bool, crate::store::StoreError> {
    let applied = store::change(ctx.store.as_ref(), id, |request| {
        if !usable(request, hash) {
            return Ok::<_, Infallible>(Change::Keep(false));
        }
        if let Some(d) = request.progress.delegation.as_mut() {
            d.done_at = Some(event.at);
        }
        // Ahead of the expiry's scheduled run (`check_now`).
        request.check_now(Step::EndDelegation, event.at);
        let entry = request.note(
            "consumer-done",
            "The consumer's admin said they are done with the image; imageshare removes the delegation now.",
            event,
        );
        Ok(Change::Save(vec![entry], true))
    })
    .await
    .map_err(store_error)?;
    if applied.value {
        info!(request_id = %id, "consumer admin ended the delegation");
        announce(ctx, &applied.request, &applied.entries).await;
    }
    Ok(applied.value)
}

/// The delegation, as the admin reads it before ending it.
fn details(open: &Open) -> String {
    let request = &open.request;
    let until = open
        .record
        .expires_at
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default();
    let row = |label: &str, value: &str| {
        format!(
            "<tr><th scope=\"row\">{}</th><td>{}</td></tr>",
            escape(label),
            escape(value)
        )
    };
    format!(
        "<p>The image owner delegated the resource group that holds this image to your tenant with Azure Lighthouse. Tell them here when you no longer need it.</p>\
         <table>{}{}{}{}{}</table>",
        row("Image", &request.image_name),
        row("Delegated resource group", &open.record.scope),
        row("Your tenant", &request.consumer.tenant_id.to_string()),
        row("Delegated until", &until),
        row("Request", &request.id.to_string()),
    )
}
