//! ConfirmConsent: is the app instantiated in the consumer's tenant (a token there works),
//! and may it create the VM in the target resource group (the permissions API says so)?
//! Until both, re-check with backoff up to the deadline, then expire.

use std::time::Duration;

use super::{
    Outcome, Run, StepError, already_done,
    entra_codes::{self, TokenFault},
    grant_seen, notify, rechecks,
    record::{self, Write},
};
use crate::{
    azure::{
        AppCredential, AzureError,
        arm::{ArmIdentity, Permission, allows},
        scopes,
    },
    cloud::{Cloud, PERMISSIONS_GRANTED_FRESH, PERMISSIONS_MISSING_FRESH, PermissionsRead},
    domain::{AppRecord, CredentialRecord, Machine, ShareRequest, State, Step, StepMessage},
};

/// The actions the app needs on the target resource group.
pub fn required_actions(request: &ShareRequest) -> Vec<&'static str> {
    let mut actions = vec![
        "Microsoft.Compute/virtualMachines/write",
        "Microsoft.Compute/disks/write",
        "Microsoft.Network/networkInterfaces/write",
        "Microsoft.Network/networkInterfaces/join/action",
    ];
    if request.vm.as_ref().is_some_and(|vm| vm.subnet_id.is_none()) {
        actions.extend([
            "Microsoft.Network/virtualNetworks/write",
            "Microsoft.Network/virtualNetworks/subnets/join/action",
            "Microsoft.Network/networkSecurityGroups/write",
            "Microsoft.Network/networkSecurityGroups/join/action",
        ]);
    }
    actions
}

/// The credential the share app signs in with.
pub(super) async fn app_credential(
    run: &Run<'_>,
    app: &AppRecord,
) -> Result<AppCredential, StepError> {
    match &app.credential {
        CredentialRecord::Federated { .. } => Ok(AppCredential::Federated),
        CredentialRecord::Secret { vault_secret, .. } => {
            let cloud = run.cloud()?;
            let vault = cloud.key_vault.as_ref().ok_or_else(|| {
                StepError::terminal("the app uses a client secret but no Key Vault is configured")
            })?;
            let secret = vault.get(vault_secret).await?.ok_or_else(|| {
                StepError::terminal(format!(
                    "the app's client secret '{vault_secret}' is missing from Key Vault"
                ))
            })?;
            Ok(AppCredential::Secret(secret.value))
        }
    }
}

/// When the one reminder before the deadline is due, if one is configured and not sent yet.
/// A status-only deployment has no one to remind.
fn reminder_due(
    ctx: &crate::context::AppContext,
    consent: &crate::domain::ConsentRecord,
) -> Option<time::OffsetDateTime> {
    let before = time::Duration::try_from(ctx.settings.consent_reminder?).ok()?;
    let pending = consent.reminded_at.is_some()
        || consent.resend_pending
        || consent.delivery == crate::domain::Delivery::Status;
    (!pending).then(|| consent.expires_at - before)
}

/// Sends the reminder once: a fresh link (only the old state's hash is kept, so the old link
/// cannot be sent again), delivered by SendConsentLink like a re-send; the deadline stays.
async fn remind(run: &Run<'_>) -> Result<(), StepError> {
    let event = run.event();
    record::update(run.ctx, run.message.request_id, |r| {
        let Some(c) = r.progress.consent.as_mut() else {
            return Ok(Write::Keep(()));
        };
        if c.reminded_at.is_some() || c.resend_pending || c.state_used_at.is_some() {
            return Ok(Write::Keep(()));
        }
        c.reminded_at = Some(event.at);
        let resends = c.retire_link();
        r.send_after_write(
            StepMessage::attempt(r.id, Step::SendConsentLink, resends),
            None,
        );
        let entry = r.note(
            "consent-reminder",
            "The consent link was not answered yet: a reminder with a fresh link is sent; the previous link no longer works.",
            &event,
        );
        Ok(Write::Save(vec![entry], ()))
    })
    .await?;
    Ok(())
}

/// Re-check cadence once the admin approved: a third of the time since the approval, at
/// least 5 s and at most 5 minutes (so 5 s, then each check about 1.33 times as far from the
/// approval as the one before), with ±10 % jitter; in the first [`FAST_WINDOW`] after the
/// approval at most [`FAST_CAP`] apart. A person grants the role seconds to minutes after
/// approving (the status page tells them to, at once), and a grant takes up to 10 minutes to
/// apply: a grant is seen at most about a third of its wait late, and at most 10 s late in
/// the minutes a grant is likeliest (a lone request approved a minute before its grant saw it
/// 19 s late in the fleet run), a long wait costs few checks, and the requests of a tenant
/// share their reads of the app's permissions. Counted from the approval, not from the
/// request's first check: the days before an approval must not slow the checks after it.
fn delay_since(approved_at: time::OffsetDateTime, now: time::OffsetDateTime) -> Duration {
    let waited = Duration::try_from(now - approved_at).unwrap_or_default();
    let cap = if waited < FAST_WINDOW {
        FAST_CAP
    } else {
        Duration::from_secs(300)
    };
    let nominal = (waited / 3).clamp(Duration::from_secs(5), cap);
    nominal.mul_f64(0.2f64.mul_add(rand::random::<f64>(), 0.9))
}

/// See [`delay_since`].
const FAST_WINDOW: Duration = Duration::from_secs(120);
/// See [`delay_since`].
const FAST_CAP: Duration = Duration::from_secs(10);

pub(super) async fn run(run: &Run<'_>) -> Result<Outcome, StepError> {
    let ctx = run.ctx;
    let started = ctx.clock.now();
    let Some(stored) = record::load(ctx, run.message.request_id).await? else {
        return Ok(Outcome::Stale("no such request".into()));
    };
    let request = stored.request;
    match request.state() {
        State::AwaitingConsent | State::AwaitingRoleGrant => {}
        State::CreatingVm => return already_done(run, &request, Some(Step::CreateVm)).await,
        State::Sharing => return already_done(run, &request, Some(Step::ShareGallery)).await,
        State::Completed | State::Shared => return already_done(run, &request, None).await,
        s if s.pipeline_is_over() => return Ok(Outcome::Stale(format!("the request is {s}"))),
        s => return Ok(Outcome::Stale(format!("the request is still {s}"))),
    }
    if let Some(stale) = rechecks::superseded(run, &request) {
        return Ok(stale);
    }
    let (Some(app), Some(consent)) = (
        request.progress.app.clone(),
        request.progress.consent.clone(),
    ) else {
        return Err(StepError::Retryable(anyhow::anyhow!(
            "waiting for consent without an app or a link"
        )));
    };

    if started >= consent.expires_at {
        return expire(run, &request).await;
    }
    let until_deadline = Duration::try_from(consent.expires_at - started).unwrap_or_default();
    let next = || {
        delay_since(consent.state_used_at.unwrap_or(started), started)
            .min(until_deadline + Duration::from_secs(1))
    };

    // Only this request's own answer moves it on: an app consented for an earlier request
    // signs in to the tenant just as well, and that must not be enough (DESIGN §8). Nothing
    // is asked of the consumer's tenant until the admin has approved; the callback queues a
    // check at once, and the deadline re-check expires a request nobody answers.
    if consent.state_used_at.is_none() {
        let mut wait = until_deadline + Duration::from_secs(1);
        if let Some(remind_at) = reminder_due(ctx, &consent) {
            if started >= remind_at {
                remind(run).await?;
            } else {
                wait = wait.min(Duration::try_from(remind_at - started).unwrap_or_default());
            }
        }
        return rechecks::again(
            run,
            wait,
            "the consumer's admin to approve this request".to_owned(),
        )
        .await;
    }

    let cloud = run.cloud()?;
    let credential = app_credential(run, &app).await?;
    let tenant = request.consumer.tenant_id;
    match cloud
        .tokens
        .app(&app.app_id, tenant, &credential, scopes::ARM)
        .await
    {
        Ok(_) => {}
        Err(e) => match entra_codes::classify(&e) {
            TokenFault::NotConsented(code) => {
                return rechecks::again(
                    run,
                    next(),
                    format!("consent in tenant {tenant} (AADSTS{code})"),
                )
                .await;
            }
            TokenFault::CredentialRefused(code)
                if entra_codes::credential_may_be_propagating(&request, started) =>
            {
                return rechecks::again(
                    run,
                    Duration::from_secs(30),
                    format!("the app's new credential to propagate in Entra (AADSTS{code})"),
                )
                .await;
            }
            TokenFault::CredentialRefused(code) => {
                return Err(StepError::terminal(entra_codes::credential_reason(
                    &request, code, &e,
                )));
            }
            TokenFault::Other => return Err(e.into()),
        },
    }

    let identity = ArmIdentity::App {
        app_id: app.app_id.clone(),
        credential,
        tenant,
        aux_tenant: None,
    };
    let group = format!(
        "/subscriptions/{}/resourceGroups/{}",
        request.consumer.subscription_id, request.consumer.resource_group
    );
    let mut read_now = false;
    let (missing, why) = match permissions_at(
        cloud,
        ctx.clock.now(),
        &request,
        &identity,
        &app.app_id,
        &group,
    )
    .await
    {
        Ok((Some(permissions), fresh)) => {
            read_now = fresh;
            let missing: Vec<String> = required_actions(&request)
                .into_iter()
                .filter(|a| !allows(&permissions, a))
                .map(str::to_owned)
                .collect();
            let why = format!(
                "Contributor for app {} on resource group {}",
                app.app_id, request.consumer.resource_group
            );
            (missing, why)
        }
        // No role at all: ARM hides the group (403) or says it is not there.
        Ok((None, _)) => (
            required_actions(&request)
                .into_iter()
                .map(str::to_owned)
                .collect(),
            format!(
                "a role for app {} on resource group {}",
                app.app_id, request.consumer.resource_group
            ),
        ),
        Err(e) if e.has_code("ResourceGroupNotFound") => (
            required_actions(&request)
                .into_iter()
                .map(str::to_owned)
                .collect(),
            format!(
                "resource group {} to exist in subscription {}",
                request.consumer.resource_group, request.consumer.subscription_id
            ),
        ),
        Err(e) => return Err(e.into()),
    };

    let event = run.event();
    if missing.is_empty() {
        let (request, moved) = record::update(ctx, request.id, |r| {
            if !matches!(r.state(), State::AwaitingConsent | State::AwaitingRoleGrant) {
                return Ok(Write::Keep(false));
            }
            let mut entries = Vec::new();
            if r.state() == State::AwaitingConsent {
                entries.push(consent_confirmed(r, &event)?);
            }
            r.progress.access.role_confirmed_at.get_or_insert(event.at);
            r.progress.access.missing_actions.clear();
            r.steps.ran(Step::ConfirmConsent);
            r.steps.completed(Step::ConfirmConsent, event.at);
            // A direct share is made only now, with the admin's approval; then the VM.
            let (to, next, then) = match r.machine() {
                Machine::DirectShareWithVm => (
                    State::Sharing,
                    Step::ShareGallery,
                    "sharing the gallery with the tenant, then creating the VM",
                ),
                _ => (State::CreatingVm, Step::CreateVm, "creating the VM"),
            };
            r.steps.queued(next, event.at);
            r.send_after_write(StepMessage::first(r.id, next), None);
            let detail = format!(
                "Access confirmed: app {} may create the VM in {}/{}; {then}.",
                app.app_id, r.consumer.subscription_id, r.consumer.resource_group
            );
            entries.push(r.transition(to, "access-confirmed", detail, &event)?);
            Ok(Write::Save(entries, true))
        })
        .await?;
        if !moved {
            let next = match request.state() {
                State::CreatingVm => Some(Step::CreateVm),
                State::Sharing => Some(Step::ShareGallery),
                _ => None,
            };
            return already_done(run, &request, next).await;
        }
        if read_now {
            let woken = grant_seen::wake_the_others(run, &request).await;
            if woken > 0 {
                tracing::info!(
                    woken,
                    "the grant is passed on to the tenant's other waiting requests"
                );
            }
        }
        return Ok(Outcome::Done);
    }

    // Consent is there, the role grant is not (yet): say so once, then keep checking.
    if request.state() == State::AwaitingConsent
        || request.progress.access.missing_actions != missing
    {
        record::update(ctx, request.id, |r| {
            let mut entries = Vec::new();
            if r.state() == State::AwaitingConsent {
                entries.push(consent_confirmed(r, &event)?);
            }
            r.progress.access.missing_actions.clone_from(&missing);
            Ok(Write::Save(entries, ()))
        })
        .await?;
    }
    rechecks::again(run, next(), why).await
}

/// The app's permissions at `group` (`None`: Resource Manager refused the read, no role
/// there at all), as another request of the same app read them lately when that answer is
/// still good (a grant: [`PERMISSIONS_GRANTED_FRESH`]; none yet:
/// [`PERMISSIONS_MISSING_FRESH`]), otherwise read now. The requests of one tenant usually
/// wait for the same grant on the same group, and each re-check would read it again. A
/// request's own earlier "not yet" never stands in for its next look. The flag is true when
/// the answer was read now.
async fn permissions_at(
    cloud: &Cloud,
    now: time::OffsetDateTime,
    request: &ShareRequest,
    identity: &ArmIdentity,
    app_id: &str,
    group: &str,
) -> Result<(Option<Vec<Permission>>, bool), AzureError> {
    let key = format!("{app_id}{group}");
    if let Some((at, known)) = cloud.permissions.get(&key, now, PERMISSIONS_GRANTED_FRESH) {
        let grants = known
            .permissions
            .as_ref()
            .is_some_and(|p| required_actions(request).into_iter().all(|a| allows(p, a)));
        if grants || (known.by != request.id && now - at < PERMISSIONS_MISSING_FRESH) {
            return Ok((known.permissions, false));
        }
    }
    let read = match cloud.arm.permissions(identity, group).await {
        Ok(permissions) => Some(permissions),
        Err(e) if e.has_code("AuthorizationFailed") || e.status() == Some(403) => None,
        Err(e) => return Err(e),
    };
    let known = PermissionsRead {
        by: request.id,
        permissions: read.clone(),
    };
    cloud
        .permissions
        .remember(&key, now, known, PERMISSIONS_GRANTED_FRESH);
    Ok((read, true))
}

fn consent_confirmed(
    r: &mut ShareRequest,
    event: &crate::domain::EventContext,
) -> Result<crate::domain::HistoryEntry, StepError> {
    r.progress
        .access
        .consent_confirmed_at
        .get_or_insert(event.at);
    let detail = format!(
        "Consent confirmed: the app signs in to tenant {}. Waiting for Contributor on resource group {}.",
        r.consumer.tenant_id, r.consumer.resource_group
    );
    Ok(r.transition(State::AwaitingRoleGrant, "consent-confirmed", detail, event)?)
}

/// The deadline passed: stop, then tell the admin. Only the run whose write made the request
/// `Expired` sends the notice, so two runs at once (a re-check and the reconciler) send one.
pub(in crate::steps) async fn expire(
    run: &Run<'_>,
    request: &ShareRequest,
) -> Result<Outcome, StepError> {
    let event = run.event();
    let (expired, made_it) = record::update(run.ctx, request.id, |r| {
        if !matches!(r.state(), State::AwaitingConsent | State::AwaitingRoleGrant) {
            return Ok(Write::Keep(false));
        }
        let reason = match r.state() {
            State::AwaitingConsent => "The consumer's admin did not consent before the deadline.",
            _ => "The consumer's admin consented but did not grant the role before the deadline.",
        };
        r.failure = Some(reason.to_owned());
        let entry = r.transition(State::Expired, "expired", reason, &event)?;
        Ok(Write::Save(vec![entry], true))
    })
    .await?;
    if !made_it {
        return Ok(Outcome::Stale(format!(
            "the request is {}",
            expired.state()
        )));
    }
    if let Err(e) = notify::expired(run, &expired).await {
        // The expiry does not wait on a mailbox; the status says it all.
        tracing::warn!(error = %e, "could not send the expiry notice");
    }
    Ok(Outcome::Done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_after_an_approval_start_at_five_seconds_stay_within_ten_for_two_minutes_and_then_grow()
     {
        let approved = time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
        let at = |s: i64| approved + time::Duration::seconds(s);
        let within = |d: Duration, nominal: f64| {
            let s = d.as_secs_f64();
            s >= nominal.mul_add(0.9, -1e-9) && s <= nominal.mul_add(1.1, 1e-9)
        };
        assert!(within(delay_since(approved, at(0)), 5.0));
        assert!(within(delay_since(approved, at(12)), 5.0));
        assert!(within(delay_since(approved, at(24)), 8.0));
        // At most 10 s apart in the first two minutes, when a grant is likeliest.
        assert!(within(delay_since(approved, at(60)), 10.0));
        assert!(within(delay_since(approved, at(119)), 10.0));
        assert!(within(delay_since(approved, at(150)), 50.0));
        assert!(within(delay_since(approved, at(7200)), 300.0));
        // A request submitted days before its approval starts over at the approval.
        assert!(within(delay_since(at(0), at(1)), 5.0));
    }
}
