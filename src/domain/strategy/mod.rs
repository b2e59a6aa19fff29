//! How an image is shared, and each strategy's state machine: which states follow which, and
//! which step moves a request on from each. The states are one vocabulary (one status
//! document, one set of events); the order is the strategy's own.

mod app_consent;
mod direct_share;
mod lighthouse;
mod rbac_guest;

use serde::{Deserialize, Serialize};

use super::{State, Step};

/// How the image is shared.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// A multi-tenant app in the owner's tenant, consented to by the consumer's admin; imageshare
    /// creates the VM (the seed's method 1).
    #[default]
    AppConsent,
    /// An Azure Lighthouse delegation of the gallery's resource group to the consumer's
    /// tenant; the consumer's operators create VMs themselves (the seed's method 2).
    Lighthouse,
    /// The gallery is shared directly with the consumer's tenant (Compute Gallery direct
    /// sharing, in preview); the consumer's users create VMs from `sharedGalleryImageId`.
    DirectShare,
    /// The consumer's user is invited as a B2B guest of the owner's tenant and gets Reader on
    /// the image definition; they create VMs signed in to both tenants (the seed's RBAC way).
    RbacGuest,
}

impl Strategy {
    /// The wire name (`strategy` in the request document).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AppConsent => "app-consent",
            Self::Lighthouse => "lighthouse",
            Self::DirectShare => "direct-share",
            Self::RbacGuest => "rbac-guest",
        }
    }

    /// The state machine of a request of this strategy: `creates_vm` when it has a `vm`
    /// section (for `direct-share`, imageshare then creates the VM after the app-consent
    /// approval).
    pub fn machine(self, creates_vm: bool) -> Machine {
        match self {
            Self::AppConsent => Machine::AppConsent,
            Self::Lighthouse => Machine::Lighthouse,
            Self::DirectShare if creates_vm => Machine::DirectShareWithVm,
            Self::DirectShare => Machine::DirectShare,
            Self::RbacGuest => Machine::RbacGuest,
        }
    }
}

/// A request's state machine: which states follow which, and which step moves it on from
/// each. One per strategy, and for `direct-share` two: the share alone, or the app-consent
/// chain around the share when imageshare also creates the VM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Machine {
    /// `app-consent`.
    AppConsent,
    /// `lighthouse`.
    Lighthouse,
    /// `direct-share` without a `vm` section.
    DirectShare,
    /// `direct-share` with a `vm` section.
    DirectShareWithVm,
    /// `rbac-guest`.
    RbacGuest,
}

impl Machine {
    /// Whether requests of this machine use the consumer tenant's share app (one per
    /// deployment and tenant, shared by all of them).
    pub fn uses_share_app(self) -> bool {
        matches!(self, Self::AppConsent | Self::DirectShareWithVm)
    }

    /// The step a new request starts with.
    pub fn first_step(self) -> Step {
        match self {
            Self::AppConsent => app_consent::FIRST,
            Self::Lighthouse => lighthouse::FIRST,
            Self::DirectShare => direct_share::FIRST,
            Self::DirectShareWithVm => direct_share::with_vm::FIRST,
            Self::RbacGuest => rbac_guest::FIRST,
        }
    }

    /// The step that carries out a revocation.
    pub fn revoke_step(self) -> Step {
        match self {
            Self::AppConsent => app_consent::REVOKE,
            Self::Lighthouse => lighthouse::REVOKE,
            Self::DirectShare => direct_share::REVOKE,
            Self::DirectShareWithVm => direct_share::with_vm::REVOKE,
            Self::RbacGuest => rbac_guest::REVOKE,
        }
    }

    /// The step that moves a request of this machine out of `state`, if a step does.
    pub fn current_step(self, state: State) -> Option<Step> {
        match self {
            Self::AppConsent => app_consent::current_step(state),
            Self::Lighthouse => lighthouse::current_step(state),
            Self::DirectShare => direct_share::current_step(state),
            Self::DirectShareWithVm => direct_share::with_vm::current_step(state),
            Self::RbacGuest => rbac_guest::current_step(state),
        }
    }

    /// Whether this machine allows `from -> to`. Every machine may fail from a state that is
    /// not terminal, and be revoked from wherever [`State::can_be_revoked`].
    pub fn can_become(self, from: State, to: State) -> bool {
        let own = match self {
            Self::AppConsent => app_consent::can_become(from, to),
            Self::Lighthouse => lighthouse::can_become(from, to),
            Self::DirectShare => direct_share::can_become(from, to),
            Self::DirectShareWithVm => direct_share::with_vm::can_become(from, to),
            Self::RbacGuest => rbac_guest::can_become(from, to),
        };
        own || (from == State::Revoking && to == State::Revoked)
            || (!from.is_terminal() && to == State::Failed)
            || (to == State::Revoking && from.can_be_revoked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lighthouse_request_goes_submitted_delegating_delegated_completed_and_never_back() {
        let path = [
            State::Submitted,
            State::Delegating,
            State::Delegated,
            State::Completed,
        ];
        for pair in path.windows(2) {
            assert!(Machine::Lighthouse.can_become(pair[0], pair[1]));
            assert!(!Machine::Lighthouse.can_become(pair[1], pair[0]));
        }
        assert!(!Machine::Lighthouse.can_become(State::Submitted, State::CredentialsIssued));
        assert!(!Machine::AppConsent.can_become(State::Submitted, State::Delegating));
    }

    #[test]
    fn each_strategy_names_its_own_steps() {
        assert_eq!(Machine::Lighthouse.first_step(), Step::Delegate);
        assert_eq!(
            Machine::Lighthouse.current_step(State::Delegated),
            Some(Step::EndDelegation)
        );
        assert_eq!(Machine::Lighthouse.revoke_step(), Step::EndDelegation);
        assert_eq!(Machine::AppConsent.first_step(), Step::IssueCredentials);
        assert_eq!(Machine::AppConsent.current_step(State::Delegated), None);
        for step in Step::ALL {
            let machines: &[Machine] = match step.strategy() {
                Strategy::AppConsent => &[Machine::AppConsent],
                Strategy::Lighthouse => &[Machine::Lighthouse],
                Strategy::DirectShare => &[Machine::DirectShare, Machine::DirectShareWithVm],
                Strategy::RbacGuest => &[Machine::RbacGuest],
            };
            let reachable = [
                State::Submitted,
                State::CredentialsIssued,
                State::AwaitingConsent,
                State::CreatingVm,
                State::Revoking,
                State::Delegating,
                State::Delegated,
                State::Sharing,
                State::Shared,
                State::Granting,
                State::Granted,
            ]
            .into_iter()
            .any(|s| machines.iter().any(|m| m.current_step(s) == Some(step)));
            assert!(
                reachable || step == Step::ReleaseAccess,
                "{step:?} is never a current step of its strategy"
            );
        }
    }

    #[test]
    fn a_direct_share_goes_submitted_sharing_shared_completed_with_its_own_steps() {
        let path = [
            State::Submitted,
            State::Sharing,
            State::Shared,
            State::Completed,
        ];
        for pair in path.windows(2) {
            assert!(Machine::DirectShare.can_become(pair[0], pair[1]));
            assert!(!Machine::DirectShare.can_become(pair[1], pair[0]));
        }
        assert!(!Machine::DirectShare.can_become(State::Submitted, State::Delegating));
        assert_eq!(Machine::DirectShare.first_step(), Step::ShareGallery);
        assert_eq!(
            Machine::DirectShare.current_step(State::Shared),
            Some(Step::UnshareGallery)
        );
        assert!(Machine::DirectShare.can_become(State::Shared, State::Revoking));
    }

    #[test]
    fn a_direct_share_with_a_vm_is_shared_only_after_the_approval_and_held_after_the_vm() {
        let m = Strategy::DirectShare.machine(true);
        assert_eq!(m, Machine::DirectShareWithVm);
        let path = [
            State::Submitted,
            State::CredentialsIssued,
            State::AwaitingConsent,
            State::AwaitingRoleGrant,
            State::Sharing,
            State::CreatingVm,
            State::Shared,
            State::Completed,
        ];
        for pair in path.windows(2) {
            assert!(m.can_become(pair[0], pair[1]), "{} -> {}", pair[0], pair[1]);
            assert!(!m.can_become(pair[1], pair[0]));
        }
        assert!(!m.can_become(State::Submitted, State::Sharing));
        assert!(!m.can_become(State::CreatingVm, State::Completed));
        assert!(m.can_become(State::AwaitingConsent, State::Declined));
        assert_eq!(m.first_step(), Step::IssueCredentials);
        assert_eq!(m.current_step(State::Sharing), Some(Step::ShareGallery));
        assert_eq!(m.current_step(State::Shared), Some(Step::UnshareGallery));
        assert_eq!(m.revoke_step(), Step::RevokeAccess);
        assert_eq!(
            Strategy::DirectShare.machine(false).first_step(),
            Step::ShareGallery
        );
    }

    #[test]
    fn a_delegated_request_can_be_revoked() {
        assert!(Machine::Lighthouse.can_become(State::Delegated, State::Revoking));
        assert!(Machine::Lighthouse.can_become(State::Delegating, State::Revoking));
    }
}
