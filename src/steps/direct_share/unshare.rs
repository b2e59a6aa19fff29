//! UnshareGallery: at the end of the share's lifetime (a scheduled message, the reconciler
//! behind it) or on a revocation, remove the consumer's tenant from the gallery's sharing
//! profile with `operationType: Remove` for that tenant only (never `Reset`, which would end
//! every other tenant's share); the request ends `Completed` (or `Revoked`) with the removal
//! in its history. Under the (gallery, tenant) lock, and only when no other active request of
//! the same tenant and gallery still uses the share (the last one removes it). A tenant
//! already gone from the profile counts as already removed.

use std::time::Duration;

use super::{
    KIND, Outcome, POLL, Run, StepError,
    gallery::{self, GALLERY_API},
    lifetime, lock, rechecks, record,
};
use crate::{
    azure::arm::ArmIdentity,
    domain::{
        Kept, Removable, Removal, RemovalOutcome, RemovalService, RequestId, ShareRequest, Strategy,
    },
};

pub(super) async fn run(run: &Run<'_>) -> Result<Outcome, StepError> {
    let ctx = run.ctx;
    let Some(stored) = record::load(ctx, run.message.request_id).await? else {
        return Ok(Outcome::Stale("no such request".into()));
    };
    let request = stored.request;
    if let Some(outcome) =
        lifetime::end_may_go(run, &request, &KIND, "the share's lifetime to end").await?
    {
        return Ok(outcome);
    }

    let gallery_id = gallery::gallery_id(&request);
    let tenant = request.consumer.tenant_id.to_string();
    let subject = lock::Subject::gallery_share(&gallery_id, &tenant);
    let (removed, kept) = match lock::with(ctx, &subject, request.id, remove(run, &request)).await?
    {
        Removed::Done(removed, kept) => (removed, kept),
        Removed::Running(waiting) => return rechecks::again(run, POLL, waiting).await,
    };

    let text = lifetime::EndText {
        completed: (
            "share-ended",
            "The share's lifetime is over; the tenant is removed from the gallery's sharing profile.".to_owned(),
        ),
        revoked: "Revoked: the tenant is removed from the gallery's sharing profile.",
        kept: "Another request of the tenant still uses the share; that request removes it when it ends.",
    };
    lifetime::finish(run, request.id, &KIND, &removed, &kept, &text).await
}

/// What a removal of the tenant's share came to.
pub(in crate::steps) enum Removed {
    /// Removed (or already gone), or kept for another request.
    Done(Vec<Removal>, Vec<Kept>),
    /// The Remove operation still runs: what to wait for.
    Running(String),
}

/// A revocation's removal of the tenant's share (RevokeAccess, for a direct share with a
/// VM), under the same lock as every other change of the tenant's share.
pub(in crate::steps) async fn for_revocation(
    run: &Run<'_>,
    request: &ShareRequest,
) -> Result<Removed, StepError> {
    let gallery_id = gallery::gallery_id(request);
    let tenant = request.consumer.tenant_id.to_string();
    let subject = lock::Subject::gallery_share(&gallery_id, &tenant);
    lock::with(run.ctx, &subject, request.id, remove(run, request)).await
}

async fn remove(run: &Run<'_>, request: &ShareRequest) -> Result<Removed, StepError> {
    let gallery_id = gallery::gallery_id(request);
    let tenant = request.consumer.tenant_id.to_string();
    let entry = format!("{gallery_id}/share (AADTenants {tenant})");
    if let Some(other) = other_user(run, request, &gallery_id).await? {
        return Ok(Removed::Done(
            Vec::new(),
            vec![Kept {
                what: Removable::GalleryShare,
                id: entry,
                reason: format!("request {other} still uses the share"),
            }],
        ));
    }
    let arm = &run.cloud()?.arm;
    let shared = gallery::read(run, &gallery_id)
        .await?
        .is_some_and(|g| gallery::shares_with_tenant(&g, &tenant));
    let removal = |outcome| Removal {
        what: Removable::GalleryShare,
        id: entry.clone(),
        at: run.ctx.clock.now(),
        outcome,
        service: RemovalService::Arm,
        service_request_id: None,
        detail: None,
    };
    // A gallery deleted, or the tenant removed by someone else: nothing is left to remove.
    if !shared {
        return Ok(Removed::Done(
            vec![removal(RemovalOutcome::Absent)],
            Vec::new(),
        ));
    }
    let started = arm
        .post_action(
            &ArmIdentity::Operator,
            &format!("{gallery_id}/share"),
            GALLERY_API,
            gallery::share_body("Remove", &tenant),
        )
        .await?;
    // The operation usually ends within seconds; otherwise the next run reads the gallery.
    match arm
        .wait(&ArmIdentity::Operator, &started, Duration::from_secs(20))
        .await?
    {
        crate::azure::arm::Operation::Succeeded => {}
        crate::azure::arm::Operation::Running(_) => {
            return Ok(Removed::Running(
                "the gallery's share operation (Remove) to finish".into(),
            ));
        }
        crate::azure::arm::Operation::Failed { code, message } => {
            return Err(StepError::retryable(anyhow::anyhow!(
                "removing tenant {tenant} from {gallery_id}'s sharing profile failed: {code} {message}"
            )));
        }
    }
    Ok(Removed::Done(
        vec![removal(RemovalOutcome::Removed)],
        Vec::new(),
    ))
}

/// Another active `direct-share` request of the same tenant and gallery, if any (with a `vm`
/// section, one still waiting for its approval counts too: it shares the gallery next).
async fn other_user(
    run: &Run<'_>,
    request: &ShareRequest,
    gallery_id: &str,
) -> Result<Option<RequestId>, StepError> {
    let all = run
        .ctx
        .store
        .list_for_consumer(request.consumer.tenant_id)
        .await
        .map_err(StepError::from)?;
    Ok(all
        .into_iter()
        .map(|s| s.request)
        .find(|r| {
            r.id != request.id
                && r.strategy == Strategy::DirectShare
                && !r.state().pipeline_is_over()
                && gallery::gallery_id(r).eq_ignore_ascii_case(gallery_id)
        })
        .map(|r| r.id))
}
