//! ReleaseAccess: when a request ends (Completed, Failed, Expired, Declined), or a direct
//! share's VM exists (Shared: only the share's lifetime is left), the owner-side
//! credential that lets the Function App's identity act in that consumer tenant is removed,
//! unless another request of the tenant still needs it (the last one to end removes it) or
//! `IMAGESHARE_KEEP_ACCESS_AFTER_END` keeps it. The app and its Reader grant stay: VMs made
//! from the image need it for reimage and scale-out; a revocation removes them.
//!
//! A later request to the same tenant puts the credential back in IssueCredentials.

use super::{
    Outcome, Run, StepError,
    access::{holders, owner},
    lock,
    record::{self, Write},
    revoke_access::{credential_id, credential_kind},
};
use crate::domain::{AccessRelease, Kept};

pub(super) async fn run(run: &Run<'_>) -> Result<Outcome, StepError> {
    let ctx = run.ctx;
    let Some(stored) = record::load(ctx, run.message.request_id).await? else {
        return Ok(Outcome::Stale("no such request".into()));
    };
    let request = stored.request;
    if !request.app_work_is_over() {
        return Ok(Outcome::Stale(format!(
            "the request is {}; access is released only after the app's work is over",
            request.state()
        )));
    }
    if request.progress.access_release.is_some() {
        return Ok(Outcome::AlreadyDone);
    }
    let Some(app) = request.progress.app.clone() else {
        return Ok(Outcome::Stale("the request made no app".into()));
    };
    if ctx.settings.pipeline.keep_access_after_end {
        // Recorded as kept, so the status says why and the release is no longer pending.
        let kept = vec![Kept {
            what: credential_kind(&app),
            id: credential_id(&app),
            reason: "IMAGESHARE_KEEP_ACCESS_AFTER_END keeps it".to_owned(),
        }];
        return record_release(run, &request, Vec::new(), kept).await;
    }

    // The tenant's list is read before the lock. While another request of the tenant is in
    // progress, the credential stays, and keeping it needs no lock: nothing is removed, and
    // that request's own release lists the tenant after its end is written, so the last of
    // them to end sees every other ended and removes it. A wave of a tenant's endings thus
    // records its keeps at once instead of taking the lock one by one; only a release that
    // may remove takes it.
    if let Some(other) = holders::in_tenant(ctx, &request, &app).await?.credential {
        return record_release(run, &request, Vec::new(), vec![kept_for(&app, &other)]).await;
    }
    let subject = lock::Subject::share_app(&app.unique_name);
    let release = async {
        // Read again under the lock: a request of the tenant may have started since.
        Ok::<_, StepError>(
            match holders::in_tenant(ctx, &request, &app).await?.credential {
                None => (vec![owner::remove_credential(run, &app).await?], Vec::new()),
                Some(other) => (Vec::new(), vec![kept_for(&app, &other)]),
            },
        )
    };
    let (removed, kept) = lock::with(ctx, &subject, request.id, release).await?;
    record_release(run, &request, removed, kept).await
}

/// The credential, kept because request `other` still needs it.
fn kept_for(app: &crate::domain::AppRecord, other: &str) -> Kept {
    Kept {
        what: credential_kind(app),
        id: credential_id(app),
        reason: format!("request {other} still needs it; it removes it when it ends"),
    }
}

/// Records what the release removed and kept, once.
async fn record_release(
    run: &Run<'_>,
    request: &crate::domain::ShareRequest,
    removed: Vec<crate::domain::Removal>,
    kept: Vec<Kept>,
) -> Result<Outcome, StepError> {
    let ctx = run.ctx;
    let event = run.event();
    record::update(ctx, request.id, |r| {
        if r.progress.access_release.is_some() || !r.app_work_is_over() {
            return Ok(Write::Keep(()));
        }
        let mut entries = Vec::new();
        let detail = match (removed.first(), kept.first()) {
            (Some(removal), _) => format!(
                "The request ended; the owner-side credential for tenant {} is gone: {}",
                r.consumer.tenant_id,
                removal.describe()
            ),
            (None, Some(k)) => format!(
                "The request ended; the {} {} stays: {}",
                k.what.label(),
                k.id,
                k.reason
            ),
            (None, None) => "The request ended; nothing to release.".to_owned(),
        };
        entries.push(r.note("access-released", detail, &event));
        r.progress.access_release = Some(AccessRelease {
            at: event.at,
            removed: removed.clone(),
            kept: kept.clone(),
        });
        Ok(Write::Save(entries, ()))
    })
    .await?;
    Ok(Outcome::Done)
}
