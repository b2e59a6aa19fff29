//! The `lighthouse` strategy (the seed's method 2, 共有方法2): the owner's gallery resource
//! group is delegated to the consumer's tenant with Azure Lighthouse, using Microsoft's
//! resource-group template; the consumer's principals then create VMs from the image in the
//! portal, with their own tenant's sign-in, no app and no consent. Its steps: Delegate (check,
//! deploy, confirm, tell the admin), then EndDelegation at the end of the lifetime or on a
//! revocation.

mod delegate;
mod end_delegation;
mod notice;
mod preflight;
mod template;

pub(crate) use notice::next_action;

// The shared step machinery, under the names the steps below use.
use super::{
    Outcome, Run, StepError, already_done, lifetime, lock, notify, rechecks, record, removal,
};
use crate::domain::{DelegationRecord, State, Step};

/// Where this strategy's access is held, for the shared lifecycle.
const KIND: lifetime::Kind<DelegationRecord> = lifetime::Kind {
    held: State::Delegated,
    record: |r| &mut r.progress.delegation,
    read: |r| r.progress.delegation.as_ref(),
};

/// How often a running deployment or removal is looked at again: ARM's deployments and
/// `Microsoft.ManagedServices` operations take tens of seconds to a few minutes.
const POLL: std::time::Duration = std::time::Duration::from_secs(15);

/// Runs one of this strategy's steps.
pub(super) async fn run(step: Step, run: &Run<'_>) -> Result<Outcome, StepError> {
    match step {
        Step::Delegate => delegate::run(run).await,
        Step::EndDelegation => end_delegation::run(run).await,
        other => Ok(Outcome::Stale(format!(
            "{} is a step of another strategy",
            other.queue()
        ))),
    }
}
