//! One active request per VM (issue 11): a request claims its VM's resource id at admission,
//! atomically in the store, and a later request may take the claim over only once the holder
//! is terminal. Without it, two requests naming one VM would both run CreateVm against the
//! same resources.

use std::time::Duration;

use crate::{
    context::AppContext,
    domain::{RequestId, Submission},
    store::{StoreError, VmClaim},
};

/// How long a claim whose request was never stored still counts: the admission that took it
/// may be between its claim and its store write. After that, the admission died and its
/// claim is free.
const UNSTORED_GRACE: Duration = Duration::from_secs(5 * 60);

/// Contention on one claim that is still unresolved after this many reads gives up (the
/// caller's retry starts over).
const ATTEMPTS: usize = 4;

/// What a claim attempt found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claimed {
    /// The VM is this request's now (or was already).
    Granted,
    /// Another request, still active, holds the VM.
    Held(RequestId),
}

/// The VM resource id a submission names, when imageshare creates one (a `lighthouse`
/// delegation creates none: its requests share the delegation instead of claiming).
pub fn vm_resource_id(submission: &Submission) -> Option<String> {
    let vm = submission.vm.as_ref()?;
    Some(format!(
        "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Compute/virtualMachines/{}",
        submission.consumer.subscription_id,
        submission.consumer.resource_group.as_str(),
        vm.name.as_str()
    ))
}

/// Claims `vm_id` for `request`.
pub async fn claim_vm(
    ctx: &AppContext,
    vm_id: &str,
    request: RequestId,
) -> Result<Claimed, StoreError> {
    let now = ctx.clock.now();
    let mine = VmClaim {
        key: VmClaim::key_for(vm_id),
        request,
        claimed_at: now,
    };
    for _ in 0..ATTEMPTS {
        let expected = match ctx.store.get_claim(&mine.key).await? {
            None => None,
            Some((held, _)) if held.request == request => return Ok(Claimed::Granted),
            Some((held, etag)) => {
                let holder_active = match ctx.store.get(held.request).await? {
                    Some(stored) => !stored.request.state().is_terminal(),
                    None => now - held.claimed_at < UNSTORED_GRACE,
                };
                if holder_active {
                    return Ok(Claimed::Held(held.request));
                }
                Some(etag)
            }
        };
        match ctx.store.put_claim(&mine, expected.as_ref()).await {
            Ok(_) => return Ok(Claimed::Granted),
            // Another admission wrote the claim since we read it: look again.
            Err(StoreError::Conflict) => {}
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::Conflict)
}
