//! RevokeAccess: a revoked request's removals (`Revoking` → `Revoked`).
//!
//! 1. With `deleteResources`, in the consumer's tenant as the app, while it still can: the VM,
//!    its NIC, the VNet and NSG this request made (tagged with its id). A refusal (consent or
//!    role removed by the admin) is not a failure: what is left is listed for the admin.
//! 2. In the owner's tenant, under the tenant's lock: the Reader grant, the credential and
//!    the app, each unless another request of the tenant still needs it (`access::holders`).
//!    A direct share's tenant is removed from the gallery's sharing profile first (that
//!    tenant only, unless another request of it still uses the share).
//! 3. The consumer's admin is told what only they can remove, once.
//!
//! Every removal is idempotent and recorded with the service's id of the call; a re-run after
//! a crash finds what is gone as "already gone".

use std::time::Duration;

use super::{
    Outcome, Run, StepError,
    access::{
        consumer::{self, Pass},
        holders, owner,
    },
    already_done,
    confirm_consent::app_credential,
    direct_share, entra_codes, issue_credentials, lock, notify, rechecks,
    record::{self, Write},
};
use crate::{
    azure::{AppCredential, arm::ArmIdentity, graph::FederatedCredential},
    config::CredentialMode,
    domain::{
        AppRecord, CredentialRecord, Intent, Kept, Removable, Removal, ShareRequest, State, Step,
        Strategy,
    },
};

pub(super) async fn run(run: &Run<'_>) -> Result<Outcome, StepError> {
    let ctx = run.ctx;
    let Some(stored) = record::load(ctx, run.message.request_id).await? else {
        return Ok(Outcome::Stale("no such request".into()));
    };
    let request = stored.request;
    match request.state() {
        State::Revoking => {}
        State::Revoked => return already_done(run, &request, None).await,
        s => return Ok(Outcome::Stale(format!("the request is {s}, not Revoking"))),
    }
    if let Some(stale) = rechecks::superseded(run, &request) {
        return Ok(stale);
    }
    let Some(revocation) = request.progress.revocation.clone() else {
        return Err(StepError::terminal(
            "the request is Revoking but records no revocation",
        ));
    };

    if revocation.needs_credential() {
        match consumer_side(run, &request).await? {
            Some(waiting) => return Ok(waiting),
            None => return Ok(Outcome::Done),
        }
    }
    owner_side(run).await
}

/// Step 1. `Some(outcome)` when the step must stop here (a delete still running); `None`
/// when the consumer side is done and recorded (its own write sends the next message).
async fn consumer_side(
    run: &Run<'_>,
    request: &ShareRequest,
) -> Result<Option<Outcome>, StepError> {
    let consented = request.progress.access.consent_confirmed_at.is_some();
    let pass = match request.progress.app.as_ref() {
        // Never consented: the app was never able to make anything there.
        None => Pass::Done(Vec::new()),
        Some(_) if !consented => Pass::Done(Vec::new()),
        Some(app) => match sign_in_there(run, request, app).await? {
            Ok(who) => {
                consumer::delete_ours(run, request, &who, restored_recently(run, request)).await?
            }
            Err(reason) => Pass::Unable(Vec::new(), reason),
        },
    };
    let (removed, done, wait) = match pass {
        Pass::Done(removed) => (removed, true, None),
        Pass::Running(removed, after) => (removed, false, Some(after)),
        Pass::Unable(mut removed, reason) => {
            removed.extend(consumer::left_behind(
                run,
                request,
                &format!(
                    "the app can no longer act in the consumer's tenant ({reason}); only its admin can delete it"
                ),
            ));
            (removed, true, None)
        }
    };
    let event = run.event();
    let next = run.message.attempt + 1;
    record::update(run.ctx, request.id, |r| {
        if r.state() != State::Revoking {
            return Ok(Write::Keep(()));
        }
        let mut entries = Vec::new();
        for removal in &removed {
            entries.push(r.note("removed", removal.describe(), &event));
        }
        let Some(rev) = r.progress.revocation.as_mut() else {
            return Ok(Write::Keep(()));
        };
        rev.removed.extend(removed.iter().cloned());
        if done {
            rev.consumer_done = true;
            // The owner side runs as the next message of the chain: a fresh invocation, and
            // the removals above are written before anything else is removed.
            r.progress.rechecks.latest = next;
            r.progress.rechecks.next_run_at = Some(event.at);
            r.send_after_write(
                crate::domain::StepMessage::attempt(r.id, Step::RevokeAccess, next),
                None,
            );
        }
        Ok(Write::Save(entries, ()))
    })
    .await?;
    if let Some(after) = wait {
        return rechecks::again(
            run,
            after.max(Duration::from_secs(5)),
            "a delete in the consumer's tenant to finish".into(),
        )
        .await
        .map(Some);
    }
    Ok(None)
}

/// Whether this revocation restored the credential so recently that Entra may still refuse
/// it while it propagates.
fn restored_recently(run: &Run<'_>, request: &ShareRequest) -> bool {
    request.progress.revocation.as_ref().is_some_and(|r| {
        run.ctx.clock.now() - r.requested_at
            < time::Duration::try_from(entra_codes::CREDENTIAL_PROPAGATION)
                .unwrap_or(time::Duration::MINUTE)
    })
}

/// The app's identity in the consumer's tenant, or why there is none. A federated credential
/// released when the request ended is put back first (under the tenant's lock): it trusts
/// only our own Function App, and this revocation removes it again at the end.
async fn sign_in_there(
    run: &Run<'_>,
    request: &ShareRequest,
    app: &AppRecord,
) -> Result<Result<ArmIdentity, String>, StepError> {
    let credential = match &app.credential {
        CredentialRecord::Federated { .. } => {
            restore_federated(run, request, app).await?;
            AppCredential::Federated
        }
        CredentialRecord::Secret { .. } => match app_credential(run, app).await {
            Ok(credential) => credential,
            Err(StepError::Terminal(reason)) => return Ok(Err(reason)),
            Err(e) => return Err(e),
        },
    };
    Ok(Ok(ArmIdentity::App {
        app_id: app.app_id.clone(),
        credential,
        tenant: request.consumer.tenant_id,
        aux_tenant: None,
    }))
}

async fn restore_federated(
    run: &Run<'_>,
    request: &ShareRequest,
    app: &AppRecord,
) -> Result<(), StepError> {
    if run.ctx.settings.credential != CredentialMode::Federated {
        return Ok(());
    }
    let cloud = run.cloud()?;
    let restore = async {
        let subject = cloud.operator_principal_id().await?;
        let fic = FederatedCredential {
            name: issue_credentials::FEDERATED_CREDENTIAL_NAME.to_owned(),
            issuer: format!(
                "https://login.microsoftonline.com/{}/v2.0",
                run.ctx.settings.owner_tenant
            ),
            subject,
            audiences: vec![run.ctx.settings.federated_audience.clone()],
        };
        cloud
            .graph
            .ensure_federated_credential(&app.object_id, &fic)
            .await
            .map_err(StepError::from)
    };
    let subject = lock::Subject::share_app(&app.unique_name);
    lock::with(run.ctx, &subject, request.id, restore).await
}

/// Step 2 and 3: the owner side, then the notice, then `Revoked`.
async fn owner_side(run: &Run<'_>) -> Result<Outcome, StepError> {
    let ctx = run.ctx;
    let id = run.message.request_id;
    // Read again after the consumer side: the record changed.
    let Some(stored) = record::load(ctx, id).await? else {
        return Ok(Outcome::Stale("no such request".into()));
    };
    let request = stored.request;
    if request.state() != State::Revoking {
        return Ok(Outcome::Stale(format!(
            "the request is {}",
            request.state()
        )));
    }
    // The app's part is done once the app is removed, or something of it was kept.
    let removed_already = request.progress.revocation.as_ref().is_some_and(|r| {
        r.removed.iter().any(|m| m.what == Removable::Application)
            || r.kept.iter().any(|k| k.what != Removable::GalleryShare)
    });
    // A direct share's tenant leaves the gallery's sharing profile first: that is what lets
    // it read the image.
    let share_done = request.progress.revocation.as_ref().is_some_and(|r| {
        r.removed.iter().any(|m| m.what == Removable::GalleryShare)
            || r.kept.iter().any(|k| k.what == Removable::GalleryShare)
    });
    if request.strategy == Strategy::DirectShare && !share_done {
        match direct_share::unshare_for_revocation(run, &request).await? {
            direct_share::Removed::Done(removed, kept) => {
                record_removals(run, &removed, &kept).await?;
            }
            direct_share::Removed::Running(waiting) => {
                return rechecks::again(run, Duration::from_secs(10), waiting).await;
            }
        }
    }
    if let Some(app) = request.progress.app.clone()
        && !removed_already
    {
        let subject = lock::Subject::share_app(&app.unique_name);
        let (removed, kept) =
            lock::with(ctx, &subject, id, remove_owner_side(run, &request, &app)).await?;
        record_removals(run, &removed, &kept).await?;
    }
    notice_then_revoked(run).await
}

/// Writes what the owner side removed and kept to the history and the revocation.
async fn record_removals(
    run: &Run<'_>,
    removed: &[Removal],
    kept: &[Kept],
) -> Result<(), StepError> {
    let event = run.event();
    record::update(run.ctx, run.message.request_id, |r| {
        if r.state() != State::Revoking {
            return Ok(Write::Keep(()));
        }
        let mut entries = Vec::new();
        for removal in removed {
            entries.push(r.note("removed", removal.describe(), &event));
        }
        for k in kept {
            entries.push(r.note(
                "kept",
                format!("{} {} kept: {}", k.what.label(), k.id, k.reason),
                &event,
            ));
        }
        if let Some(rev) = r.progress.revocation.as_mut() {
            rev.removed.extend(removed.iter().cloned());
            rev.kept.extend(kept.iter().cloned());
        }
        Ok(Write::Save(entries, ()))
    })
    .await
    .map(|_| ())
}

/// The removals in the owner's tenant that no other request of the tenant prevents.
async fn remove_owner_side(
    run: &Run<'_>,
    request: &ShareRequest,
    app: &AppRecord,
) -> Result<(Vec<Removal>, Vec<Kept>), StepError> {
    let needed = holders::in_tenant(run.ctx, request, app).await?;
    let mut removed = Vec::new();
    let mut kept = Vec::new();
    let needs = |other: &str| format!("request {other} still needs it");
    match (&app.reader_assignment_id, &needed.reader) {
        // A direct share's app holds no Reader grant.
        (None, _) => {}
        (Some(id), None) => removed.push(owner::remove_reader(run, id).await?),
        (Some(id), Some(other)) => kept.push(Kept {
            what: Removable::RoleAssignment,
            id: id.clone(),
            reason: needs(other),
        }),
    }
    match (&needed.credential, &needed.app) {
        (None, None) => {
            // The app goes, and its credential with it; removing the credential first makes
            // sure it is gone even if the app delete is retried.
            removed.push(owner::remove_credential(run, app).await?);
            removed.extend(owner::remove_app(run, app).await?);
        }
        (None, Some(other)) => {
            removed.push(owner::remove_credential(run, app).await?);
            kept.push(Kept {
                what: Removable::Application,
                id: app.object_id.clone(),
                reason: needs(other),
            });
        }
        (Some(other), _) => {
            kept.push(Kept {
                what: credential_kind(app),
                id: credential_id(app),
                reason: needs(other),
            });
            kept.push(Kept {
                what: Removable::Application,
                id: app.object_id.clone(),
                reason: needs(other),
            });
        }
    }
    Ok((removed, kept))
}

pub(super) fn credential_kind(app: &AppRecord) -> Removable {
    match app.credential {
        CredentialRecord::Federated { .. } => Removable::FederatedCredential,
        CredentialRecord::Secret { .. } => Removable::ClientSecret,
    }
}

pub(super) fn credential_id(app: &AppRecord) -> String {
    match &app.credential {
        CredentialRecord::Federated { name } => name.clone(),
        CredentialRecord::Secret { key_id, .. } => key_id.clone(),
    }
}

/// Tells the consumer's admin (once: an interrupted send is not repeated), then ends the
/// request `Revoked`.
async fn notice_then_revoked(run: &Run<'_>) -> Result<Outcome, StepError> {
    let ctx = run.ctx;
    let id = run.message.request_id;
    let now = ctx.clock.now();
    let (request, send) = record::update(ctx, id, |r| {
        if r.state() != State::Revoking {
            return Ok(Write::Keep(false));
        }
        let Some(rev) = r.progress.revocation.as_mut() else {
            return Ok(Write::Keep(false));
        };
        if rev.notice_intent.is_some() {
            return Ok(Write::Keep(false));
        }
        rev.notice_intent = Some(Intent {
            at: now,
            label: format!("{id}:revoked"),
        });
        Ok(Write::Save(Vec::new(), true))
    })
    .await?;
    let wanted = !crate::status::consumer_actions(&request).is_empty();
    let mut sent = false;
    if send && wanted {
        match notify::revoked(run, &request).await {
            Ok(()) => sent = true,
            Err(e) => tracing::warn!(error = %e, "the revocation notice could not be sent"),
        }
    }
    let event = run.event();
    record::update(ctx, id, |r| {
        if r.state() != State::Revoking {
            return Ok(Write::Keep(()));
        }
        if sent && let Some(rev) = r.progress.revocation.as_mut() {
            rev.notice_sent_at = Some(event.at);
        }
        let (removed, kept) = r.progress.revocation.as_ref().map_or((0, 0), |rev| {
            (
                rev.removed
                    .iter()
                    .filter(|m| m.outcome == crate::domain::RemovalOutcome::Removed)
                    .count(),
                rev.kept.len(),
            )
        });
        r.steps.ran(Step::RevokeAccess);
        r.steps.completed(Step::RevokeAccess, event.at);
        let entry = r.transition(
            State::Revoked,
            "revoked",
            format!(
                "Revoked: {removed} removed, {kept} kept for other requests of the tenant.{}",
                if wanted {
                    " The consumer's admin was told what only they can remove."
                } else {
                    ""
                }
            ),
            &event,
        )?;
        Ok(Write::Save(vec![entry], ()))
    })
    .await?;
    Ok(Outcome::Done)
}
