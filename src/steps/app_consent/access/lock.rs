//! One change to a tenant's share app at a time. IssueCredentials (which creates the app,
//! credential and grant) and the removals (revocation, release) of one tenant take this lock,
//! so a removal that found no other request needing the app cannot delete it under a request
//! that is creating it that moment. It is a claim in the store (compare-and-swap), held for a
//! short lease: a holder that died frees it when the lease ends.

use std::time::Duration;

use time::OffsetDateTime;

use super::super::StepError;
use crate::{
    context::AppContext,
    domain::RequestId,
    store::{ETag, StoreError, VmClaim},
};

/// How long a holder may keep the lock: far more than the few Graph and ARM calls it makes.
const LEASE: Duration = Duration::from_secs(120);

/// The lock, held.
#[derive(Debug)]
pub(in crate::steps) struct TenantLock {
    claim: VmClaim,
    etag: ETag,
}

fn key(app_unique_name: &str) -> String {
    VmClaim::key_for(&format!("tenant-access/{app_unique_name}"))
}

/// Takes the lock on the tenant's app, or answers a retryable error while another request
/// holds it (the step's scheduled retry comes back shortly).
pub(in crate::steps) async fn take(
    ctx: &AppContext,
    app_unique_name: &str,
    request: RequestId,
) -> Result<TenantLock, StepError> {
    let now = ctx.clock.now();
    let claim = VmClaim {
        key: key(app_unique_name),
        request,
        claimed_at: now,
    };
    let expected = match ctx.store.get_claim(&claim.key).await? {
        None => None,
        Some((held, etag)) => {
            let lease = time::Duration::try_from(LEASE).unwrap_or(time::Duration::MINUTE);
            if held.request != request && now < held.claimed_at + lease {
                return Err(StepError::retryable(anyhow::anyhow!(
                    "request {} is changing the share app '{app_unique_name}' right now; trying again shortly",
                    held.request
                )));
            }
            Some(etag)
        }
    };
    match ctx.store.put_claim(&claim, expected.as_ref()).await {
        Ok(etag) => Ok(TenantLock { claim, etag }),
        Err(StoreError::Conflict) => Err(StepError::retryable(anyhow::anyhow!(
            "another request took the share app '{app_unique_name}' lock first; trying again shortly"
        ))),
        Err(e) => Err(e.into()),
    }
}

/// Frees the lock (best effort: if this fails, the lease ends it).
pub(in crate::steps) async fn release(ctx: &AppContext, lock: TenantLock) {
    let freed = VmClaim {
        claimed_at: OffsetDateTime::UNIX_EPOCH,
        ..lock.claim
    };
    if let Err(e) = ctx.store.put_claim(&freed, Some(&lock.etag)).await {
        tracing::warn!(error = %e, "could not free the tenant lock; its lease ends it");
    }
}
