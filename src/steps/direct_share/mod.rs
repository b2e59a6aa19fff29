//! The `direct-share` strategy: the owner's gallery is shared directly with the consumer's
//! tenant (Compute Gallery direct sharing, `POST {gallery}/share` with an `AADTenants` group);
//! the consumer's users then create VMs from `sharedGalleryImageId` in their own subscription,
//! with their own tenant's sign-in: no app, no consent, no auxiliary token, no RBAC on the
//! gallery. Its steps: ShareGallery (check, add the tenant, confirm, tell the admin), then
//! UnshareGallery at the end of the lifetime or on a revocation (that tenant only).
//!
//! With a `vm` section the app-consent steps run around the share (its machine is
//! `DirectShareWithVm`): IssueCredentials checks the gallery first, ShareGallery runs after
//! the admin's approval, CreateVm accepts the share on the admin's behalf and creates the VM
//! from `sharedGalleryImageId`, and RevokeAccess removes the share with the app.

mod accept;
mod gallery;
mod notice;
mod preflight;
mod share;
mod unshare;

pub(crate) use notice::next_action;

// What the app-consent steps use for a direct share with a VM.
pub(in crate::steps) use accept::{Accepted, on_behalf as accept_on_behalf};
pub(in crate::steps) use preflight::gallery_ready as preflight;
pub(in crate::steps) use share::{hold_after_vm, notify_once as notify_vm_made};
pub(in crate::steps) use unshare::{Removed, for_revocation as unshare_for_revocation};

// The shared step machinery, under the names the steps below use.
use super::{Outcome, Run, StepError, already_done, lifetime, lock, notify, rechecks, record};
use crate::domain::{DirectShareRecord, State, Step};

/// Where this strategy's access is held, for the shared lifecycle.
const KIND: lifetime::Kind<DirectShareRecord> = lifetime::Kind {
    held: State::Shared,
    record: |r| &mut r.progress.direct_share,
    read: |r| r.progress.direct_share.as_ref(),
};

/// How often a running share operation is looked at again: the recordings show it done in
/// seconds to a minute.
const POLL: std::time::Duration = std::time::Duration::from_secs(10);

/// Runs one of this strategy's steps.
pub(super) async fn run(step: Step, run: &Run<'_>) -> Result<Outcome, StepError> {
    match step {
        Step::ShareGallery => share::run(run).await,
        Step::UnshareGallery => unshare::run(run).await,
        other => Ok(Outcome::Stale(format!(
            "{} is a step of another strategy",
            other.queue()
        ))),
    }
}
