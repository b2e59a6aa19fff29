//! The request's state machine and the steps that move it (DESIGN §2-§3).

use std::{collections::BTreeMap, fmt};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Where a share request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum State {
    /// Accepted and stored; issuing the app credentials is queued.
    Submitted,
    /// The app, its service principal, a credential and Reader on the image exist in the
    /// owner's tenant; the consent link is queued.
    CredentialsIssued,
    /// The consent link went to the consumer's admin; waiting for them to consent.
    AwaitingConsent,
    /// The consumer's tenant has consented; waiting for the role grant on the resource group.
    AwaitingRoleGrant,
    /// Access is confirmed; the network and the VM are being created.
    CreatingVm,
    /// The VM exists.
    Completed,
    /// Stopped for a reason a person can act on.
    Failed,
    /// The consumer's admin did not act before the deadline.
    Expired,
    /// The request could never be processed (invalid, not allowed); nothing was created.
    Rejected,
    /// The consumer's admin declined this request; nothing is created in their tenant.
    Declined,
    /// Someone asked to revoke the request; what it created is being removed.
    Revoking,
    /// Revoked: what this request created on the owner's side (and, when asked, in the
    /// consumer's tenant) is removed.
    Revoked,
    /// `lighthouse`: the delegation's deployment is running.
    Delegating,
    /// `lighthouse`: the delegation is in place; the consumer's principals can use the image
    /// until it is removed.
    Delegated,
    /// `direct-share`: the gallery's share operation is running.
    Sharing,
    /// `direct-share`: the consumer's tenant is in the gallery's sharing profile until it is
    /// removed.
    Shared,
    /// `rbac-guest`: the consumer's user is invited; Reader for the guest is being granted.
    Granting,
    /// `rbac-guest`: the guest holds Reader on the image definition until it is removed.
    Granted,
}

impl State {
    /// True when nothing more will happen to the request.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Completed
                | Self::Failed
                | Self::Expired
                | Self::Rejected
                | Self::Declined
                | Self::Revoked
        )
    }

    /// True when the share pipeline's steps (IssueCredentials .. CreateVm) must do nothing
    /// more: the request ended or is being revoked. A revocation is not terminal (its own step
    /// still runs), but a late pipeline message must not re-send a successor or create
    /// anything once it has started.
    pub fn pipeline_is_over(self) -> bool {
        self.is_terminal() || self == Self::Revoking
    }

    /// Whether a revocation may start from here: from any state, ended ones included (access
    /// granted by a finished request can still be taken back), except a request that never
    /// created anything (Rejected) or one already being or already revoked.
    pub fn can_be_revoked(self) -> bool {
        !matches!(self, Self::Rejected | Self::Revoking | Self::Revoked)
    }

    /// An end after which the request's owner-side access is released (unless another
    /// request needs it): the share finished, failed, expired or was declined.
    pub fn releases_access(self) -> bool {
        matches!(
            self,
            Self::Completed | Self::Failed | Self::Expired | Self::Declined
        )
    }

    /// The state's wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Submitted => "Submitted",
            Self::CredentialsIssued => "CredentialsIssued",
            Self::AwaitingConsent => "AwaitingConsent",
            Self::AwaitingRoleGrant => "AwaitingRoleGrant",
            Self::CreatingVm => "CreatingVm",
            Self::Completed => "Completed",
            Self::Failed => "Failed",
            Self::Expired => "Expired",
            Self::Rejected => "Rejected",
            Self::Declined => "Declined",
            Self::Revoking => "Revoking",
            Self::Revoked => "Revoked",
            Self::Delegating => "Delegating",
            Self::Delegated => "Delegated",
            Self::Sharing => "Sharing",
            Self::Shared => "Shared",
            Self::Granting => "Granting",
            Self::Granted => "Granted",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A transition the state machine does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a request in state {from} cannot become {to}")]
pub struct IllegalTransition {
    /// The state the request is in.
    pub from: State,
    /// The state that was asked for.
    pub to: State,
}

/// One step of a strategy's sequence; each is a function on its own queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// Upsert the app, its service principal, a credential and Reader on the image.
    IssueCredentials,
    /// Build and deliver the admin-consent link.
    SendConsentLink,
    /// Check consent and the role grant in the consumer's tenant.
    ConfirmConsent,
    /// Create the network and the VM in the consumer's tenant.
    CreateVm,
    /// Remove what a revoked request created (owner side; consumer side when asked).
    RevokeAccess,
    /// After a request ends, remove the owner-side credential no other request needs.
    ReleaseAccess,
    /// `lighthouse`: check, deploy and confirm the delegation, then tell the admin.
    Delegate,
    /// `lighthouse`: remove the delegation (its lifetime ended, or it was revoked).
    EndDelegation,
    /// `direct-share`: check, add the consumer's tenant to the gallery's sharing profile,
    /// confirm, then tell the admin.
    ShareGallery,
    /// `direct-share`: remove that tenant from the sharing profile (lifetime over, or revoked).
    UnshareGallery,
    /// `rbac-guest`: invite the consumer's user as a guest, grant it Reader on the image
    /// definition, then send the consumer's steps.
    GrantGuest,
    /// `rbac-guest`: remove the Reader grant, and the guest when imageshare invited it and no
    /// other request uses it.
    RemoveGuest,
}

impl Step {
    /// Every step, in pipeline order.
    pub const ALL: [Self; 12] = [
        Self::IssueCredentials,
        Self::SendConsentLink,
        Self::ConfirmConsent,
        Self::CreateVm,
        Self::RevokeAccess,
        Self::ReleaseAccess,
        Self::Delegate,
        Self::EndDelegation,
        Self::ShareGallery,
        Self::UnshareGallery,
        Self::GrantGuest,
        Self::RemoveGuest,
    ];

    /// The Service Bus queue that triggers the step; also the step's wire name.
    pub fn queue(self) -> &'static str {
        match self {
            Self::IssueCredentials => "issue-credentials",
            Self::SendConsentLink => "send-consent-link",
            Self::ConfirmConsent => "confirm-consent",
            Self::CreateVm => "create-vm",
            Self::RevokeAccess => "revoke-access",
            Self::ReleaseAccess => "release-access",
            Self::Delegate => "delegate",
            Self::EndDelegation => "end-delegation",
            Self::ShareGallery => "share-gallery",
            Self::UnshareGallery => "unshare-gallery",
            Self::GrantGuest => "grant-guest",
            Self::RemoveGuest => "remove-guest",
        }
    }

    /// The strategy whose sequence the step belongs to.
    pub fn strategy(self) -> super::Strategy {
        match self {
            Self::IssueCredentials
            | Self::SendConsentLink
            | Self::ConfirmConsent
            | Self::CreateVm
            | Self::RevokeAccess
            | Self::ReleaseAccess => super::Strategy::AppConsent,
            Self::Delegate | Self::EndDelegation => super::Strategy::Lighthouse,
            Self::ShareGallery | Self::UnshareGallery => super::Strategy::DirectShare,
            Self::GrantGuest | Self::RemoveGuest => super::Strategy::RbacGuest,
        }
    }

    /// The name of the function that runs the step.
    pub fn function_name(self) -> &'static str {
        match self {
            Self::IssueCredentials => "IssueCredentials",
            Self::SendConsentLink => "SendConsentLink",
            Self::ConfirmConsent => "ConfirmConsent",
            Self::CreateVm => "CreateVm",
            Self::RevokeAccess => "RevokeAccess",
            Self::ReleaseAccess => "ReleaseAccess",
            Self::Delegate => "Delegate",
            Self::EndDelegation => "EndDelegation",
            Self::ShareGallery => "ShareGallery",
            Self::UnshareGallery => "UnshareGallery",
            Self::GrantGuest => "GrantGuest",
            Self::RemoveGuest => "RemoveGuest",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.queue())
    }
}

/// When one step started, finished and how often it ran.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepTime {
    /// When the step's first message was queued.
    #[serde(
        with = "time::serde::rfc3339::option",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub started_at: Option<OffsetDateTime>,
    /// When the step recorded its result.
    #[serde(
        with = "time::serde::rfc3339::option",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub completed_at: Option<OffsetDateTime>,
    /// How many runs recorded something (re-checks included; runs that changed nothing and
    /// redeliveries are not counted).
    #[serde(default)]
    pub runs: u32,
}

/// Per-step timestamps of one request.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepTimes(BTreeMap<Step, StepTime>);

impl StepTimes {
    /// Records that `step`'s work began at `at` (its first message was queued).
    pub fn queued(&mut self, step: Step, at: OffsetDateTime) {
        self.0.entry(step).or_default().started_at.get_or_insert(at);
    }

    /// Counts one run of `step` that recorded something (a result or a re-check).
    pub fn ran(&mut self, step: Step) {
        self.0.entry(step).or_default().runs += 1;
    }

    /// Records that `step` finished at `at` (the first time only: re-runs keep the original).
    pub fn completed(&mut self, step: Step, at: OffsetDateTime) {
        let t = self.0.entry(step).or_default();
        t.started_at.get_or_insert(at);
        t.completed_at.get_or_insert(at);
    }

    /// Starts `step` afresh at `at` (a revocation asked for again after one failed): its
    /// deadline counts from now, not from the first attempt.
    pub fn restarted(&mut self, step: Step, at: OffsetDateTime) {
        let t = self.0.entry(step).or_default();
        t.started_at = Some(at);
        t.completed_at = None;
    }

    /// The times of one step.
    pub fn get(&self, step: Step) -> Option<&StepTime> {
        self.0.get(&step)
    }

    /// All steps that ran.
    pub fn iter(&self) -> impl Iterator<Item = (Step, &StepTime)> {
        self.0.iter().map(|(s, t)| (*s, t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// These are the app-consent machine's rules (each strategy has its own order).
    const AC: super::super::Machine = super::super::Machine::AppConsent;

    const ALL: [State; 12] = [
        State::Submitted,
        State::CredentialsIssued,
        State::AwaitingConsent,
        State::AwaitingRoleGrant,
        State::CreatingVm,
        State::Completed,
        State::Failed,
        State::Expired,
        State::Rejected,
        State::Declined,
        State::Revoking,
        State::Revoked,
    ];

    #[test]
    fn only_waiting_for_the_consumer_admin_can_be_declined() {
        let can_decline: Vec<State> = ALL
            .into_iter()
            .filter(|s| AC.can_become(*s, State::Declined))
            .collect();
        assert_eq!(
            can_decline,
            [State::AwaitingConsent, State::AwaitingRoleGrant]
        );
    }

    #[test]
    fn terminal_states_lead_nowhere_but_to_a_revocation() {
        for from in ALL.into_iter().filter(|s| s.is_terminal()) {
            for to in ALL.into_iter().filter(|s| *s != State::Revoking) {
                assert!(!AC.can_become(from, to), "{from} -> {to} allowed");
            }
        }
    }

    #[test]
    fn the_happy_path_is_allowed_in_order_and_not_backwards() {
        let path = [
            State::Submitted,
            State::CredentialsIssued,
            State::AwaitingConsent,
            State::AwaitingRoleGrant,
            State::CreatingVm,
            State::Completed,
        ];
        for pair in path.windows(2) {
            assert!(
                AC.can_become(pair[0], pair[1]),
                "{} -> {}",
                pair[0],
                pair[1]
            );
            assert!(
                !AC.can_become(pair[1], pair[0]),
                "{} -> {}",
                pair[1],
                pair[0]
            );
        }
    }

    #[test]
    fn only_waiting_for_a_person_can_expire() {
        let can_expire: Vec<State> = ALL
            .into_iter()
            .filter(|s| AC.can_become(*s, State::Expired))
            .collect();
        assert_eq!(
            can_expire,
            [State::AwaitingConsent, State::AwaitingRoleGrant]
        );
    }

    #[test]
    fn every_state_but_rejected_and_revocation_itself_can_start_revoking() {
        let can_revoke: Vec<State> = ALL
            .into_iter()
            .filter(|s| AC.can_become(*s, State::Revoking))
            .collect();
        assert_eq!(
            can_revoke,
            [
                State::Submitted,
                State::CredentialsIssued,
                State::AwaitingConsent,
                State::AwaitingRoleGrant,
                State::CreatingVm,
                State::Completed,
                State::Failed,
                State::Expired,
                State::Declined,
            ]
        );
    }

    #[test]
    fn only_revoking_becomes_revoked_and_revoked_is_the_end() {
        let to_revoked: Vec<State> = ALL
            .into_iter()
            .filter(|s| AC.can_become(*s, State::Revoked))
            .collect();
        assert_eq!(to_revoked, [State::Revoking]);
        assert!(State::Revoked.is_terminal());
        assert!(!State::Revoking.is_terminal());
        assert!(ALL.into_iter().all(|to| !AC.can_become(State::Revoked, to)));
        assert!(AC.can_become(State::Revoking, State::Failed));
    }

    #[test]
    fn the_pipeline_is_over_once_ended_or_revoking() {
        let over: Vec<State> = ALL.into_iter().filter(|s| s.pipeline_is_over()).collect();
        assert_eq!(
            over,
            [
                State::Completed,
                State::Failed,
                State::Expired,
                State::Rejected,
                State::Declined,
                State::Revoking,
                State::Revoked,
            ]
        );
    }

    #[test]
    fn nothing_becomes_rejected_after_creation() {
        assert!(ALL.into_iter().all(|s| !AC.can_become(s, State::Rejected)));
    }

    #[test]
    fn a_rerun_keeps_the_first_completion_time() {
        let mut times = StepTimes::default();
        let t0 = OffsetDateTime::UNIX_EPOCH;
        let t1 = t0 + time::Duration::seconds(5);
        times.queued(Step::CreateVm, t0);
        times.ran(Step::CreateVm);
        times.completed(Step::CreateVm, t0);
        times.queued(Step::CreateVm, t1);
        times.ran(Step::CreateVm);
        times.completed(Step::CreateVm, t1);
        let got = times.get(Step::CreateVm).unwrap();
        assert_eq!(
            (got.started_at, got.completed_at, got.runs),
            (Some(t0), Some(t0), 2)
        );
    }
}
