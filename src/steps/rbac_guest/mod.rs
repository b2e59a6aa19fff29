//! The `rbac-guest` strategy (the seed's "RBAC で共有する方法"): the consumer's user is invited
//! into the owner's tenant as a B2B guest and gets Reader on the image definition; they then
//! sign in to both tenants with the Azure CLI and create the VM in their own subscription (the
//! CLI sends the owner tenant's token as the auxiliary token). Its steps: GrantGuest (invite
//! or reuse the guest, grant Reader through Entra's replication delay, send the steps), then
//! RemoveGuest at the end of the lifetime or on a revocation.

mod grant;
mod notice;
mod remove;

pub(crate) use notice::next_action;

// The shared step machinery, under the names the steps below use.
use super::{
    Outcome, Run, StepError, already_done, lifetime, lock, notify, rechecks, record, removal,
};
use crate::domain::{GuestRecord, ShareRequest, State, Step};

/// Where this strategy's access is held, for the shared lifecycle.
const KIND: lifetime::Kind<GuestRecord> = lifetime::Kind {
    held: State::Granted,
    record: |r| &mut r.progress.guest,
    read: |r| r.progress.guest.as_ref(),
};

/// How often a grant waiting for Entra's replication is tried again: new principals reach
/// Resource Manager within minutes.
const POLL: std::time::Duration = std::time::Duration::from_secs(20);

/// Runs one of this strategy's steps.
pub(super) async fn run(step: Step, run: &Run<'_>) -> Result<Outcome, StepError> {
    match step {
        Step::GrantGuest => grant::run(run).await,
        Step::RemoveGuest => remove::run(run).await,
        other => Ok(Outcome::Stale(format!(
            "{} is a step of another strategy",
            other.queue()
        ))),
    }
}

/// The invited address, as the lock and the store compare it.
fn guest_key(request: &ShareRequest) -> String {
    request
        .guest
        .as_ref()
        .map(|g| g.email.as_str().to_ascii_lowercase())
        .unwrap_or_default()
}
