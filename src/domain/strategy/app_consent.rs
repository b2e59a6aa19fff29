//! `app-consent`: Submitted → CredentialsIssued → AwaitingConsent → (AwaitingRoleGrant) →
//! CreatingVm → Completed; the admin's decline or deadline ends it Declined or Expired.

use crate::domain::{State, Step};

pub(super) const FIRST: Step = Step::IssueCredentials;
pub(super) const REVOKE: Step = Step::RevokeAccess;

pub(super) fn current_step(state: State) -> Option<Step> {
    match state {
        State::Submitted => Some(Step::IssueCredentials),
        State::CredentialsIssued => Some(Step::SendConsentLink),
        State::AwaitingConsent | State::AwaitingRoleGrant => Some(Step::ConfirmConsent),
        State::CreatingVm => Some(Step::CreateVm),
        State::Revoking => Some(Step::RevokeAccess),
        _ => None,
    }
}

pub(super) fn can_become(from: State, to: State) -> bool {
    use State::{
        AwaitingConsent, AwaitingRoleGrant, Completed, CreatingVm, CredentialsIssued, Declined,
        Expired, Submitted,
    };
    matches!(
        (from, to),
        (Submitted, CredentialsIssued)
            | (CredentialsIssued, AwaitingConsent)
            | (
                AwaitingConsent,
                AwaitingRoleGrant | CreatingVm | Expired | Declined
            )
            | (AwaitingRoleGrant, CreatingVm | Expired | Declined)
            | (CreatingVm, Completed)
    )
}
