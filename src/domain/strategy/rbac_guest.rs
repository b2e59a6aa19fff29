//! `rbac-guest`: Submitted → Granting (the guest is invited; Reader on the image definition is
//! being granted, through Entra's replication delay) → Granted (the consumer's user can create
//! VMs from the image, signed in to both tenants) → Completed once Reader (and the guest, when
//! imageshare created it) is removed at the end of the lifetime.

use crate::domain::{State, Step};

pub(super) const FIRST: Step = Step::GrantGuest;
pub(super) const REVOKE: Step = Step::RemoveGuest;

pub(super) fn current_step(state: State) -> Option<Step> {
    match state {
        State::Submitted | State::Granting => Some(Step::GrantGuest),
        State::Granted | State::Revoking => Some(Step::RemoveGuest),
        _ => None,
    }
}

pub(super) fn can_become(from: State, to: State) -> bool {
    matches!(
        (from, to),
        (State::Submitted, State::Granting)
            | (State::Granting, State::Granted)
            | (State::Granted, State::Completed)
    )
}
