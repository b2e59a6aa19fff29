//! SendConsentLink: build the v2 admin-consent URL for the consumer tenant and deliver it,
//! once per request even when the step runs twice.

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

pub(super) async fn run(run: &Run<'_>) -> Result<Outcome, StepError> {
    let ctx = run.ctx;
    let started = ctx.clock.now();
    let Some(stored) = record::load(ctx, run.message.request_id).await? else {
        return Ok(Outcome::Stale("no such request".into()));
    };
    let request = stored.request;
    match request.state() {
        State::CredentialsIssued => {}
        State::AwaitingConsent => {
            return already_done(run, &request, Some(Step::ConfirmConsent)).await;
        }
        s if s.is_terminal() => return Ok(Outcome::Stale(format!("the request is {s}"))),
        State::Submitted => return Ok(Outcome::Stale("credentials are not issued yet".into())),
        _ => return already_done(run, &request, None).await,
    }
    if let Some(stale) = rechecks::superseded(run, &request) {
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
    let callback = ctx.settings.consent_callback_url();
    let (request, send) = record::update(ctx, request.id, |r| {
        if r.state() != State::CredentialsIssued {
            return Ok(Write::Keep(false));
        }
        match &mut r.progress.consent {
            None => {
                let state = consent_state::generate(r.id);
                r.progress.consent = Some(ConsentRecord {
                    url: consent_url(r, &app_id, &callback, &state.value)
                        .map_err(|e| StepError::Retryable(e.into()))?
                        .to_string(),
                    state_hash: state.hash,
                    expires_at: started + deadline,
                    delivery,
                    delivering: Some(Intent {
                        at: started,
                        label: "consent-link".into(),
                    }),
                    delivered_at: None,
                    callback: None,
                    state_used_at: None,
                });
                Ok(Write::Save(Vec::new(), true))
            }
            // A run before this one may have delivered it (it crashed, or the answer was
            // lost): at most one mail, so do not send again.
            Some(c) if c.delivering.is_some() => Ok(Write::Keep(false)),
            Some(c) => {
                c.delivering = Some(Intent {
                    at: started,
                    label: "consent-link".into(),
                });
                Ok(Write::Save(Vec::new(), true))
            }
        }
    })
    .await?;
    let Some(consent) = request.progress.consent.clone() else {
        return already_done(run, &request, None).await;
    };
    if request.state() != State::CredentialsIssued {
        return already_done(run, &request, Some(Step::ConfirmConsent)).await;
    }

    if send {
        let link = Url::parse(&consent.url).map_err(|e| StepError::Retryable(e.into()))?;
        let expires = consent.expires_at.format(&Rfc3339).unwrap_or_default();
        if let Err(e) = notify::consent_link(run, &request, &link, &expires).await {
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
            "Admin-consent link for app {app_id} delivered {how}; it is valid until {}.",
            consent.expires_at.format(&Rfc3339).unwrap_or_default()
        )
    } else {
        format!(
            "Admin-consent link for app {app_id} was being delivered {how} when the step was interrupted; it is not sent twice, and it is in this status document."
        )
    };
    let (request, moved) = record::update(ctx, request.id, |r| {
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
