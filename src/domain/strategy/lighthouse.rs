//! `lighthouse`: Submitted → Delegating (the delegation's deployment runs) → Delegated (the
//! consumer's principals can use the image) → Completed once the delegation is removed at
//! the end of its lifetime or when the consumer says they are done.

use crate::domain::{State, Step};

pub(super) const FIRST: Step = Step::Delegate;
pub(super) const REVOKE: Step = Step::EndDelegation;

pub(super) fn current_step(state: State) -> Option<Step> {
    match state {
        State::Submitted | State::Delegating => Some(Step::Delegate),
        State::Delegated | State::Revoking => Some(Step::EndDelegation),
        _ => None,
    }
}

pub(super) fn can_become(from: State, to: State) -> bool {
    matches!(
        (from, to),
        (State::Submitted, State::Delegating)
            | (State::Delegating, State::Delegated)
            | (State::Delegated, State::Completed)
    )
}
