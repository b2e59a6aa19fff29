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

    /// The step a new request starts with.
    pub fn first_step(self) -> Step {
        match self {
            Self::AppConsent => app_consent::FIRST,
            Self::Lighthouse => lighthouse::FIRST,
            Self::DirectShare => direct_share::FIRST,
            Self::RbacGuest => rbac_guest::FIRST,
        }
    }

    /// The step that carries out a revocation.
    pub fn revoke_step(self) -> Step {
        match self {
            Self::AppConsent => app_consent::REVOKE,
            Self::Lighthouse => lighthouse::REVOKE,
            Self::DirectShare => direct_share::REVOKE,
            Self::RbacGuest => rbac_guest::REVOKE,
        }
    }

    /// The step that moves a request of this strategy out of `state`, if a step does.
    pub fn current_step(self, state: State) -> Option<Step> {
        match self {
            Self::AppConsent => app_consent::current_step(state),
            Self::Lighthouse => lighthouse::current_step(state),
            Self::DirectShare => direct_share::current_step(state),
            Self::RbacGuest => rbac_guest::current_step(state),
        }
    }

    /// Whether this strategy's machine allows `from -> to`. Every strategy may fail from a
    /// state that is not terminal, and be revoked from wherever [`State::can_be_revoked`].
    pub fn can_become(self, from: State, to: State) -> bool {
        let own = match self {
            Self::AppConsent => app_consent::can_become(from, to),
            Self::Lighthouse => lighthouse::can_become(from, to),
            Self::DirectShare => direct_share::can_become(from, to),
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
            assert!(Strategy::Lighthouse.can_become(pair[0], pair[1]));
            assert!(!Strategy::Lighthouse.can_become(pair[1], pair[0]));
        }
        assert!(!Strategy::Lighthouse.can_become(State::Submitted, State::CredentialsIssued));
        assert!(!Strategy::AppConsent.can_become(State::Submitted, State::Delegating));
    }

    #[test]
    fn each_strategy_names_its_own_steps() {
        assert_eq!(Strategy::Lighthouse.first_step(), Step::Delegate);
        assert_eq!(
            Strategy::Lighthouse.current_step(State::Delegated),
            Some(Step::EndDelegation)
        );
        assert_eq!(Strategy::Lighthouse.revoke_step(), Step::EndDelegation);
        assert_eq!(Strategy::AppConsent.first_step(), Step::IssueCredentials);
        assert_eq!(Strategy::AppConsent.current_step(State::Delegated), None);
        for step in Step::ALL {
            let strategy = step.strategy();
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
            .any(|s| strategy.current_step(s) == Some(step));
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
            assert!(Strategy::DirectShare.can_become(pair[0], pair[1]));
            assert!(!Strategy::DirectShare.can_become(pair[1], pair[0]));
        }
        assert!(!Strategy::DirectShare.can_become(State::Submitted, State::Delegating));
        assert_eq!(Strategy::DirectShare.first_step(), Step::ShareGallery);
        assert_eq!(
            Strategy::DirectShare.current_step(State::Shared),
            Some(Step::UnshareGallery)
        );
        assert!(Strategy::DirectShare.can_become(State::Shared, State::Revoking));
    }

    #[test]
    fn a_delegated_request_can_be_revoked() {
        assert!(Strategy::Lighthouse.can_become(State::Delegated, State::Revoking));
        assert!(Strategy::Lighthouse.can_become(State::Delegating, State::Revoking));
    }
}
