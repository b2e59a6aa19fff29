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

/// `direct-share` with a `vm` section: the app-consent chain around the share. Nothing is
/// shared before the consumer's admin approved this request: Submitted → CredentialsIssued
/// (an app without Reader: the share is the permission) → AwaitingConsent →
/// (AwaitingRoleGrant) → Sharing → CreatingVm (from `sharedGalleryImageId`, no auxiliary
/// token) → Shared (the VM exists; the share lasts its lifetime, for reimage and scale-out)
/// → Completed once the tenant is removed. A revocation removes the VM when asked, the app
/// and the share in one step, RevokeAccess.
pub(super) mod with_vm {
    use crate::domain::{State, Step};

    pub(in crate::domain::strategy) const FIRST: Step = Step::IssueCredentials;
    pub(in crate::domain::strategy) const REVOKE: Step = Step::RevokeAccess;

    pub(in crate::domain::strategy) fn current_step(state: State) -> Option<Step> {
        match state {
            State::Submitted => Some(Step::IssueCredentials),
            State::CredentialsIssued => Some(Step::SendConsentLink),
            State::AwaitingConsent | State::AwaitingRoleGrant => Some(Step::ConfirmConsent),
            State::Sharing => Some(Step::ShareGallery),
            State::CreatingVm => Some(Step::CreateVm),
            State::Shared => Some(Step::UnshareGallery),
            State::Revoking => Some(Step::RevokeAccess),
            _ => None,
        }
    }

    pub(in crate::domain::strategy) fn can_become(from: State, to: State) -> bool {
        use State::{
            AwaitingConsent, AwaitingRoleGrant, Completed, CreatingVm, CredentialsIssued, Declined,
            Expired, Shared, Sharing, Submitted,
        };
        matches!(
            (from, to),
            (Submitted, CredentialsIssued)
                | (CredentialsIssued, AwaitingConsent)
                | (
                    AwaitingConsent,
                    AwaitingRoleGrant | Sharing | Expired | Declined
                )
                | (AwaitingRoleGrant, Sharing | Expired | Declined)
                | (Sharing, CreatingVm)
                | (CreatingVm, Shared)
                | (Shared, Completed)
        )
    }
}
