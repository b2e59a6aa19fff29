//! SendConsentLink: make this request's single-use state and deliver the approval page's link
//! with it, once per request even when the step runs twice. The page leads on to the v2
//! admin-consent URL ([`consent_url`]) when the tenant has yet to consent to the app.

use std::time::Duration;

use time::format_description::well_known::Rfc3339;
use url::Url;

use super::{
    Outcome, Run, StepError, already_done, notify, rechecks,
    record::{self, Write},
};
use crate::{
    consent_state,
    domain::{ConsentRecord, Delivery, Intent, ShareRequest, State, Step, StepMessage},
};

/// When the first consent re-check runs: people take a while to open a mail. The callback
/// triggers a check at once anyway.
pub const FIRST_CHECK: Duration = Duration::from_secs(30);
/// Longer than one delivery attempt can take (the HTTP stack's budget, with margin): an
/// intent younger than this belongs to a run whose delivery may still be under way.
const DELIVERY_WINDOW: Duration = Duration::from_secs(120);

/// What this run does about delivering the link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Deliver {
    /// Send it (first try, a try that surely failed, or a webhook whose receiver drops
    /// repeats by Idempotency-Key).
    Now,
    /// Another run is delivering it right now: try again shortly.
    Wait,
    /// An earlier run was interrupted mid-delivery: a mail is not sent twice; say so.
    Uncertain,
    /// The request moved on.
    Moved,
}

/// The v2 admin-consent URL (reference §2.1): `/.default` asks for everything the app's
/// registration lists.
pub fn consent_url(
    request: &ShareRequest,
    app_id: &str,
    redirect_uri: &Url,
    state: &str,
) -> Result<Url, url::ParseError> {
    let mut url = Url::parse(&format!(
        "https://login.microsoftonline.com/{}/v2.0/adminconsent",
        request.consumer.tenant_id
    ))?;
    url.query_pairs_mut()
        .append_pair("client_id", app_id)
        .append_pair("scope", "https://graph.microsoft.com/.default")
        .append_pair("redirect_uri", redirect_uri.as_str())
        .append_pair("state", state);
    Ok(url)
}

/// The approval page's link for one state: `{page}?state={state}`.
pub fn approval_link(page: &Url, state: &str) -> Url {
    let mut url = page.clone();
    url.query_pairs_mut().clear().append_pair("state", state);
    url
}

/// Whether an operator's re-send of the link waits for this step.
fn resend_pending(request: &ShareRequest) -> bool {
    request.state() == State::AwaitingConsent
        && request
            .progress
            .consent
            .as_ref()
            .is_some_and(|c| c.resend_pending && c.state_used_at.is_none())
}

/// Whether this step has a link to make and deliver: the first one, or a re-sent one.
fn sending(request: &ShareRequest) -> bool {
    request.state() == State::CredentialsIssued || resend_pending(request)
}

pub(super) async fn run(run: &Run<'_>) -> Result<Outcome, StepError> {
    let ctx = run.ctx;
    let started = ctx.clock.now();
    let Some(stored) = record::load(ctx, run.message.request_id).await? else {
        return Ok(Outcome::Stale("no such request".into()));
    };
    let request = stored.request;
    match request.state() {
        State::CredentialsIssued => {}
        State::AwaitingConsent if resend_pending(&request) => {}
        State::AwaitingConsent => {
            return already_done(run, &request, Some(Step::ConfirmConsent)).await;
        }
        s if s.pipeline_is_over() => return Ok(Outcome::Stale(format!("the request is {s}"))),
        State::Submitted => return Ok(Outcome::Stale("credentials are not issued yet".into())),
        _ => return already_done(run, &request, None).await,
    }
    // Re-check numbering belongs to the waiting step (ConfirmConsent) once the request waits;
    // a re-send's message is numbered by the re-send instead.
    if request.state() == State::CredentialsIssued
        && let Some(stale) = rechecks::superseded(run, &request)
    {
        return Ok(stale);
    }
    let app_id = request
        .progress
        .app
        .as_ref()
        .map(|a| a.app_id.clone())
        .ok_or_else(|| {
            StepError::Retryable(anyhow::anyhow!("credentials recorded without an app"))
        })?;

    // Create the link once, and mark the delivery as under way before making it.
    let delivery = notify::delivery(&ctx.settings.notify);
    let deadline =
        time::Duration::try_from(ctx.settings.consent_deadline).unwrap_or(time::Duration::days(7));
    let approval_page = ctx.settings.approval_page_url();
    let intent = Intent {
        at: started,
        label: "consent-link".into(),
    };
    // A state is made by the run that delivers it and written (as a hash) before the call;
    // the value itself lives only in this run's memory and the link it sends. A run that
    // sends again makes a new state, so the newest delivered link is the one that works.
    let (request, (deliver, fresh)) = record::update(ctx, request.id, |r| {
        if !sending(r) {
            return Ok(Write::Keep((Deliver::Moved, None)));
        }
        let now = match &r.progress.consent {
            None => true,
            Some(c) => match (&c.delivering, c.delivery) {
                // Nothing under way (a first try, or one that surely failed), or a webhook /
                // the status document, where a repeat is harmless: send.
                (None, _) | (Some(_), Delivery::Webhook | Delivery::Status) => true,
                // Another run's mail may be in flight: it records the outcome; wait for it
                // rather than move on and leave a failed send unrepaired.
                (Some(other), Delivery::Mail) if started - other.at < DELIVERY_WINDOW => {
                    return Ok(Write::Keep((Deliver::Wait, None)));
                }
                // That run died mid-send: the mail may or may not have gone; it is not sent
                // twice, and the status says so (the operator can re-send a fresh link).
                (Some(_), Delivery::Mail) => false,
            },
        };
        // The mailed link cannot be shown again (only its hash is kept) and keeps working if
        // it arrived; if it did not, the operator re-sends a fresh one (POST .../consent-link).
        if !now {
            if let Some(c) = &mut r.progress.consent {
                c.delivery_uncertain = true;
            }
            return Ok(Write::Save(Vec::new(), (Deliver::Uncertain, None)));
        }
        let state = consent_state::generate(r.id);
        // The admin is sent to imageshare's approval page, which shows this request and leads
        // on to Entra's consent page when the tenant has not consented to the app yet.
        let link = approval_link(&approval_page, &state.value);
        let status_link = (delivery == Delivery::Status).then(|| link.to_string());
        let superseded_hashes = r
            .progress
            .consent
            .as_ref()
            .map(|c| crate::domain::superseded(&c.superseded_hashes, &c.state_hash))
            .unwrap_or_default();
        let previous = r.progress.consent.as_ref();
        let resending = previous.is_some_and(|c| c.resend_pending);
        // A re-send keeps the deadline the operator's request set.
        let expires_at = previous
            .filter(|_| resending)
            .map_or(started + deadline, |c| c.expires_at);
        let resends = previous.map_or(0, |c| c.resends);
        let reminded_at = previous.and_then(|c| c.reminded_at);
        r.progress.consent = Some(ConsentRecord {
            status_link,
            state_hash: state.hash.clone(),
            superseded_hashes,
            resends,
            resend_pending: resending,
            reminded_at,
            one_visit: Some(consent_state::one_visit()),
            expires_at,
            delivery,
            delivering: Some(intent.clone()),
            delivered_at: None,
            delivery_uncertain: false,
            callback: None,
            state_used_at: None,
        });
        Ok(Write::Save(
            Vec::new(),
            (Deliver::Now, Some((link, state.hash))),
        ))
    })
    .await?;
    if deliver == Deliver::Wait {
        return Err(StepError::retryable(anyhow::anyhow!(
            "another run is delivering the consent link; waiting for its outcome"
        )));
    }
    let Some(consent) = request.progress.consent.clone() else {
        return already_done(run, &request, None).await;
    };
    if !sending(&request) {
        return already_done(run, &request, Some(Step::ConfirmConsent)).await;
    }

    let send = fresh.is_some();
    if let Some((link, hash)) = &fresh {
        let expires = consent.expires_at.format(&Rfc3339).unwrap_or_default();
        if let Err(e) = notify::consent_link(run, &request, link, hash, &expires).await {
            if notify::surely_not_delivered(&e) {
                record::update(ctx, request.id, |r| {
                    if let Some(c) = &mut r.progress.consent {
                        c.delivering = None;
                    }
                    Ok(Write::Save(Vec::new(), ()))
                })
                .await?;
            }
            return Err(e.into());
        }
    }

    let event = run.event();
    let how = match delivery {
        Delivery::Mail => format!("by mail to {}", request.consumer.admin_email),
        Delivery::Webhook => "to the notification webhook".to_owned(),
        Delivery::Status => "in this status document".to_owned(),
    };
    let detail = if send {
        format!(
            "Approval link for app {app_id} delivered {how}; it is valid until {}.",
            consent.expires_at.format(&Rfc3339).unwrap_or_default()
        )
    } else {
        format!(
            "Approval link for app {app_id} was being delivered {how} when the step was interrupted, so it may not have arrived; it is not sent twice (deliveryUncertain): if the admin did not get it, re-send a fresh link with POST /api/share-requests/{id}/consent-link.",
            id = request.id
        )
    };
    let (request, moved) = record::update(ctx, request.id, |r| {
        if resend_pending(r) {
            // A re-sent link: the request goes on waiting, with the new link's delivery noted.
            if let Some(c) = &mut r.progress.consent {
                c.delivering = None;
                c.resend_pending = false;
                c.delivered_at = Some(event.at);
            }
            let entry = r.note("consent-link-resent", detail.clone(), &event);
            return Ok(Write::Save(vec![entry], true));
        }
        if r.state() != State::CredentialsIssued {
            return Ok(Write::Keep(false));
        }
        if let Some(c) = &mut r.progress.consent {
            c.delivering = None;
            c.delivered_at.get_or_insert(event.at);
        }
        r.steps.ran(Step::SendConsentLink);
        r.steps.completed(Step::SendConsentLink, event.at);
        r.steps.queued(Step::ConfirmConsent, event.at);
        let entry = r.transition(
            State::AwaitingConsent,
            "consent-requested",
            detail.clone(),
            &event,
        )?;
        let first_check = event.at + FIRST_CHECK;
        r.progress.rechecks.next_run_at = Some(first_check);
        r.send_after_write(
            StepMessage::first(r.id, Step::ConfirmConsent),
            Some(first_check),
        );
        Ok(Write::Save(vec![entry], true))
    })
    .await?;
    if !moved {
        return already_done(run, &request, None).await;
    }
    Ok(Outcome::Done)
}
