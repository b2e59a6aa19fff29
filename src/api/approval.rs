//! imageshare's approval page: `GET /api/approval?state=..` shows the consumer's admin one
//! request (image, VM, size, resource group, who asked, until when) with an approve and a
//! decline form; `POST /api/approval` takes the answer.
//!
//! Opening the page changes nothing: mail scanners open links before people do. Only the
//! forms act, and they carry the request's single-use state, which makes them their own
//! CSRF token (no other site can know it). When the consumer's tenant has not consented to
//! this request's app yet, approving means Entra's admin-consent page: the page links there
//! (a link, not a redirect from the form, so the page's `form-action 'self'` holds), and the
//! consent callback records the approval.

use axum::{
    Form,
    extract::{Query, State},
    http::StatusCode,
    response::{Html, IntoResponse, Response},
};
use time::format_description::well_known::Rfc3339;
use tracing::warn;

use super::answers::{
    self, Open, REASON_MAX_CHARS, Via, already_used, approve, bounded_reason, decline,
    declined_page, page, remaining, single_valued, unavailable,
};
use crate::{
    context::AppContext,
    domain::{Actor, EventContext, ShareRequest, State as RequestState},
    html::{document, escape, secure_with_forms},
    invocation::InvocationId,
    steps::app_consent::send_consent_link::consent_url,
    store::StoreError,
};

/// The largest answer form accepted: a state, a decision and a reason of
/// [`REASON_MAX_CHARS`] characters fit many times over.
pub const FORM_MAX_BYTES: usize = 16 * 1024;

/// `GET /api/approval?state=..`: the request and the two forms. Changes nothing.
pub async fn approval_page(
    State(ctx): State<AppContext>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let Some(query) = single_valued(pairs) else {
        return answers::invalid_link();
    };
    let open = match answers::open(&ctx, query.get("state")).await {
        Ok(open) => open,
        Err(page) => return page,
    };
    let Some(state) = query.get("state") else {
        return answers::invalid_link();
    };
    let in_place = match consent_in_place(&ctx, &open.request).await {
        Ok(in_place) => in_place,
        Err(e) => return unavailable(&e),
    };
    let Some(entra) = entra_consent_link(&ctx, &open.request, state) else {
        return answers::invalid_link();
    };
    let approve_html = if in_place {
        format!(
            "<form id=\"approve\" method=\"post\" action=\"approval\">{hidden}<input type=\"hidden\" name=\"decision\" value=\"approve\"><button type=\"submit\">Approve this request</button></form>\
             <p>Your tenant has consented to imageshare's app for an earlier request, so approving here is enough. If the app has been removed from your tenant since, <a id=\"consent\" href=\"{entra}\">approve on Microsoft's consent page instead</a>.</p>",
            hidden = hidden_state(state),
            entra = escape(&entra),
        )
    } else {
        format!(
            "<p><a id=\"consent\" href=\"{}\"><b>Approve: continue to Microsoft's consent page</b></a>. Sign in as an administrator of your tenant and accept the app's access; you come back here when it is done.</p>",
            escape(&entra)
        )
    };
    let approve_html = match super::one_visit::link(&ctx, &open.request, state) {
        Some(one_visit) => format!(
            "<p><a id=\"one-visit\" href=\"{}\"><b>Approve in one sign-in</b></a>: sign in as an administrator of your tenant. That one sign-in approves this request, consents to imageshare's app, and lets imageshare give the app <b>{}</b> on resource group <b>{}</b> with your own rights. Nothing else is left for you to do.</p>\
             <h3>Or approve, and grant the role yourself</h3>{approve_html}",
            escape(&one_visit),
            escape(&super::one_visit::roles_text(&open.request)),
            escape(open.request.consumer.resource_group.as_str()),
        ),
        None => approve_html,
    };
    let body = format!(
        "{details}<h2>Approve</h2>{approve_html}\
         <h2>Decline</h2>\
         <form id=\"decline\" method=\"post\" action=\"approval\">{hidden}<input type=\"hidden\" name=\"decision\" value=\"decline\">\
         <p><label for=\"reason\">Why (optional, up to {REASON_MAX_CHARS} characters; the image owner reads it)</label><br>\
         <textarea id=\"reason\" name=\"reason\" maxlength=\"{REASON_MAX_CHARS}\"></textarea></p>\
         <button type=\"submit\">Decline this request</button></form>\
         <p>This link works once. Declining ends the request; nothing is created in your tenant.</p>",
        details = details(&open),
        hidden = hidden_state(state),
    );
    let mut response = (
        StatusCode::OK,
        Html(document("Approve sharing a VM image", &body)),
    )
        .into_response();
    secure_with_forms(response.headers_mut());
    response
}

/// `POST /api/approval` (form: `state`, `decision` = `approve` | `decline`, `reason`).
pub async fn answer_approval(
    State(ctx): State<AppContext>,
    InvocationId(invocation_id): InvocationId,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let Some(form) = single_valued(pairs) else {
        return answers::invalid_link();
    };
    let open = match answers::open(&ctx, form.get("state")).await {
        Ok(open) => open,
        Err(page) => return page,
    };
    let event = EventContext {
        at: ctx.clock.now(),
        actor: Actor::ConsumerAdmin,
        caller: None,
        invocation_id,
    };
    let id = open.request.id;
    match form.get("decision").map(String::as_str) {
        Some("decline") => {
            let reason = bounded_reason(form.get("reason").map_or("", String::as_str));
            match decline(&ctx, id, &open.hash, &reason, &Via::ApprovalPage, &event).await {
                Ok(Some(request)) => declined_page(&request),
                Ok(None) => already_used(false),
                Err(e) => unavailable(&e),
            }
        }
        Some("approve") => {
            match consent_in_place(&ctx, &open.request).await {
                Ok(true) => {}
                // Only a form this page never shows gets here: approval needs Entra's page.
                Ok(false) => return consent_first(&ctx, &open, form.get("state")),
                Err(e) => return unavailable(&e),
            }
            match approve(&ctx, id, &open.hash, &Via::ApprovalPage, &event).await {
                Ok(Some(request)) => page(
                    StatusCode::OK,
                    "Thank you: request approved",
                    &format!(
                        "<p>imageshare checks the app's consent in your tenant <code>{}</code> now.</p>{}",
                        request.consumer.tenant_id,
                        remaining(&request)
                    ),
                ),
                Ok(None) => already_used(false),
                Err(e) => unavailable(&e),
            }
        }
        _ => page(
            StatusCode::BAD_REQUEST,
            "This answer is not one of the page's",
            "<p>Nothing was changed. Open the link from the message you received and use its Approve or Decline button.</p>",
        ),
    }
}

/// The page for an approval posted where the tenant has yet to consent.
fn consent_first(ctx: &AppContext, open: &Open, state: Option<&String>) -> Response {
    let Some(link) = state.and_then(|s| entra_consent_link(ctx, &open.request, s)) else {
        return answers::invalid_link();
    };
    page(
        StatusCode::CONFLICT,
        "Consent comes first",
        &format!(
            "<p>Nothing was changed. Your tenant has not consented to imageshare's app yet: <a id=\"consent\" href=\"{}\">approve on Microsoft's consent page</a>.</p>",
            escape(&link)
        ),
    )
}

/// The request, as the admin reads it before answering.
fn details(open: &Open) -> String {
    let request = &open.request;
    let until = open.consent.expires_at.format(&Rfc3339).unwrap_or_default();
    let row = |label: &str, value: &str| {
        format!(
            "<tr><th scope=\"row\">{}</th><td>{}</td></tr>",
            escape(label),
            escape(value)
        )
    };
    let scope = format!(
        "/subscriptions/{}/resourceGroups/{}",
        request.consumer.subscription_id, request.consumer.resource_group
    );
    // Only app-consent requests carry an approval link, and each has a VM section.
    let vm = |f: fn(&crate::domain::VmSpec) -> &str| request.vm.as_ref().map_or("", f);
    format!(
        "<p>An image owner asks to share a VM image with your tenant and to create one VM from it in your subscription. Nothing is created before you approve.</p>\
         <table>{}{}{}{}{}{}{}{}{}</table>\
         <p>To create the VM, imageshare's app needs a role on resource group <b>{}</b>: approving in one sign-in lets imageshare give it <b>{}</b> with your rights; otherwise you grant it <b>Contributor</b>, and the next page says how. VMs made from a shared image keep needing read access to it for reimage and scale-out.</p>",
        row("Image", &request.image_name),
        row("VM", vm(|v| v.name.as_str())),
        row("Size", vm(|v| v.size.as_str())),
        row("Region", vm(|v| v.location.as_str())),
        row("Resource group", &scope),
        row("Your tenant", &request.consumer.tenant_id.to_string()),
        row("Requested by", &request.requested_by_text()),
        row("Link valid until", &until),
        row("Request", &request.id.to_string()),
        escape(request.consumer.resource_group.as_str()),
        escape(&super::one_visit::roles_text(request)),
    )
}

fn hidden_state(state: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"state\" value=\"{}\">",
        escape(state)
    )
}

/// Entra's admin-consent URL for this request's app with the same state, made browsable.
fn entra_consent_link(ctx: &AppContext, request: &ShareRequest, state: &str) -> Option<String> {
    let app = request.progress.app.as_ref()?;
    match consent_url(
        request,
        &app.app_id,
        &ctx.settings.consent_callback_url(),
        state,
    ) {
        Ok(url) => Some(ctx.browser_link(&url)),
        Err(e) => {
            warn!(request_id = %request.id, error = %e, "could not build the consent URL");
            None
        }
    }
}

/// Whether the consumer's tenant consented to this request's app already: another request
/// with the same app confirmed consent there, and no request of that app was revoked since
/// (a revocation asks the admin to remove the app from their tenant). A wrong guess costs
/// nothing: the consent check after approval asks Entra, and the page also links to the
/// consent page.
async fn consent_in_place(ctx: &AppContext, request: &ShareRequest) -> Result<bool, StoreError> {
    let Some(app) = &request.progress.app else {
        return Ok(false);
    };
    let siblings: Vec<ShareRequest> = ctx
        .store
        .list_for_consumer(request.consumer.tenant_id)
        .await?
        .into_iter()
        .map(|s| s.request)
        .filter(|r| {
            r.id != request.id
                && r.progress
                    .app
                    .as_ref()
                    .is_some_and(|a| a.app_id == app.app_id)
        })
        .collect();
    let Some(confirmed) = siblings
        .iter()
        .filter_map(|r| r.progress.access.consent_confirmed_at)
        .max()
    else {
        return Ok(false);
    };
    let revoked_since = siblings.iter().any(|r| {
        matches!(r.state(), RequestState::Revoking | RequestState::Revoked)
            && r.progress
                .revocation
                .as_ref()
                .is_some_and(|v| v.requested_at >= confirmed)
    });
    Ok(!revoked_since)
}
