//! `direct-share`: Submitted → Sharing (the gallery's `share` operation runs) → Shared (the
//! consumer's tenant is in the gallery's sharing profile and can create VMs from
//! `sharedGalleryImageId`) → Completed once the tenant is removed at the end of the lifetime.

use crate::domain::{State, Step};

pub(super) const FIRST: Step = Step::ShareGallery;
pub(super) const REVOKE: Step = Step::UnshareGallery;

pub(super) fn current_step(state: State) -> Option<Step> {
    match state {
        State::Submitted | State::Sharing => Some(Step::ShareGallery),
        State::Shared | State::Revoking => Some(Step::UnshareGallery),
        _ => None,
    }
}

pub(super) fn can_become(from: State, to: State) -> bool {
    matches!(
        (from, to),
        (State::Submitted, State::Sharing)
            | (State::Sharing, State::Shared)
            | (State::Shared, State::Completed)
    )
}
