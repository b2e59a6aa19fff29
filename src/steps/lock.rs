//! One change at a time to something several requests share: a tenant's share app
//! (`app-consent`: IssueCredentials and the removals take it, so a removal that found no
//! other request needing the app cannot delete it under a request creating it that moment)
//! or a resource group's Lighthouse delegation (`lighthouse`: Delegate and EndDelegation).
//! It is a claim in the store (compare-and-swap), held for a short lease: a holder that died
//! frees it when the lease ends.

use std::time::Duration;

use time::OffsetDateTime;

use super::StepError;
use crate::{
    context::AppContext,
    domain::RequestId,
    store::{ETag, StoreError, VmClaim},
};

/// How long a holder may keep the lock: far more than the few Graph and ARM calls it makes.
const LEASE: Duration = Duration::from_secs(120);

/// The lock, held.
#[derive(Debug)]
struct Held {
    claim: VmClaim,
    etag: ETag,
}

/// What a lock guards: its key in the store and its name in messages.
pub(in crate::steps) struct Subject {
    key: String,
    name: String,
}

impl Subject {
    /// A tenant's share app (`app-consent`).
    pub(in crate::steps) fn share_app(app_unique_name: &str) -> Self {
        Self {
            key: VmClaim::key_for(&format!("tenant-access/{app_unique_name}")),
            name: format!("the share app '{app_unique_name}'"),
        }
    }

    /// A tenant's entry in a gallery's sharing profile (`direct-share`: ShareGallery and
    /// UnshareGallery), so the last request's removal cannot undo another's addition.
    pub(in crate::steps) fn gallery_share(gallery_id: &str, tenant: &str) -> Self {
        Self {
            key: VmClaim::key_for(&format!(
                "direct-share/{}/{}",
                gallery_id.to_ascii_lowercase(),
                tenant.to_ascii_lowercase()
            )),
            name: format!("the share of {gallery_id} with tenant {tenant}"),
        }
    }

    /// A guest of the owner's tenant, by invited address (`rbac-guest`: GrantGuest and
    /// RemoveGuest), so a removal cannot delete a guest another request is inviting.
    pub(in crate::steps) fn guest(email: &str) -> Self {
        Self {
            key: VmClaim::key_for(&format!("rbac-guest/{}", email.to_ascii_lowercase())),
            name: format!("the guest {email}"),
        }
    }

    /// The Lighthouse delegation of a resource group (`lighthouse`).
    pub(in crate::steps) fn delegation(resource_group_id: &str) -> Self {
        Self {
            key: VmClaim::key_for(&format!(
                "lighthouse/{}",
                resource_group_id.to_ascii_lowercase()
            )),
            name: format!("the delegation of {resource_group_id}"),
        }
    }
}

/// Another request holds the lock: the step waits its turn. Not a failure of the request, so
/// its retries are paced and do not count toward resting (`steps::invoke`).
#[derive(Debug)]
pub(in crate::steps) struct LockBusy(String);

impl std::fmt::Display for LockBusy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LockBusy {}

#[cfg(test)]
impl LockBusy {
    pub(in crate::steps) fn for_tests(why: &str) -> Self {
        Self(why.to_owned())
    }
}

/// Takes the lock, or answers a retryable error while another request holds it (the step's
/// scheduled retry comes back shortly).
async fn take(ctx: &AppContext, subject: &Subject, request: RequestId) -> Result<Held, StepError> {
    let now = ctx.clock.now();
    let name = &subject.name;
    let claim = VmClaim {
        key: subject.key.clone(),
        request,
        claimed_at: now,
    };
    let expected = free_or_busy(ctx, subject, request, now).await?;
    match ctx.store.put_claim(&claim, expected.as_ref()).await {
        Ok(etag) => Ok(Held { claim, etag }),
        Err(StoreError::Conflict) => Err(StepError::retryable(LockBusy(format!(
            "another request took the lock on {name} first; trying again shortly"
        )))),
        Err(e) => Err(e.into()),
    }
}

/// The claim's version when no other request holds the lock (`None`: never taken), or
/// [`LockBusy`].
async fn free_or_busy(
    ctx: &AppContext,
    subject: &Subject,
    request: RequestId,
    now: OffsetDateTime,
) -> Result<Option<ETag>, StepError> {
    match ctx.store.get_claim(&subject.key).await? {
        None => Ok(None),
        Some((held, etag)) => {
            let lease = time::Duration::try_from(LEASE).unwrap_or(time::Duration::MINUTE);
            if held.request != request && now < held.claimed_at + lease {
                return Err(StepError::retryable(LockBusy(format!(
                    "request {} is changing {} right now; trying again shortly",
                    held.request, subject.name
                ))));
            }
            Ok(Some(etag))
        }
    }
}

/// [`LockBusy`] while another request holds the lock, without taking it: a step that must
/// read much before it takes the lock looks first, so that waiting its turn costs one read.
pub(in crate::steps) async fn busy(
    ctx: &AppContext,
    subject: &Subject,
    request: RequestId,
) -> Result<(), StepError> {
    free_or_busy(ctx, subject, request, ctx.clock.now())
        .await
        .map(|_| ())
}

/// Runs `work` holding the lock on `subject`, and frees it whatever `work` answers (a lock
/// not freed would hold up the next step for a whole lease).
pub(in crate::steps) async fn with<T>(
    ctx: &AppContext,
    subject: &Subject,
    request: RequestId,
    work: impl Future<Output = Result<T, StepError>>,
) -> Result<T, StepError> {
    let held = take(ctx, subject, request).await?;
    let result = work.await;
    release(ctx, held).await;
    result
}

/// Frees the lock (best effort: if this fails, the lease ends it).
async fn release(ctx: &AppContext, lock: Held) {
    let freed = VmClaim {
        claimed_at: OffsetDateTime::UNIX_EPOCH,
        ..lock.claim
    };
    if let Err(e) = ctx.store.put_claim(&freed, Some(&lock.etag)).await {
        tracing::warn!(error = %e, "could not free the lock; its lease ends it");
    }
}
