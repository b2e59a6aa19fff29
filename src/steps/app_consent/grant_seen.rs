//! A grant one request saw, passed on to the tenant's other requests waiting for it.
//!
//! The requests of a tenant wait for one Contributor grant on one resource group, each on its
//! own cadence (a third of the time since its approval): after a long wait, a request sees a
//! grant up to minutes late, and the last of twenty sees it as late as the slowest cadence
//! among them. So the first check that reads the grant from Resource Manager queues a check
//! now for each other request of the tenant waiting on the same app and group (as the consent
//! callback does: the next attempt number, which supersedes its scheduled one). Each still
//! checks for itself: its own approval and its own read of the permissions (shared within an
//! instance, `confirm_consent::permissions_at`); nothing moves a request but its own check.

use time::OffsetDateTime;

use super::{Run, StepError, record, record::Write};
use crate::{
    domain::{ShareRequest, State, Step},
    store::Stored,
};

/// A request whose next check is due this soon is not woken: it is about to look (or was
/// just woken by another check that saw the grant).
const DUE_SOON: time::Duration = time::Duration::seconds(2);

/// Whether `other` waits for the grant `seen` was checking, approved, with its next check
/// later than [`DUE_SOON`] from `now`.
fn waits_for_the_same_grant(
    seen: &ShareRequest,
    other: &ShareRequest,
    now: OffsetDateTime,
) -> bool {
    let same_app = match (&seen.progress.app, &other.progress.app) {
        (Some(a), Some(b)) => a.app_id == b.app_id,
        _ => false,
    };
    let approved = other
        .progress
        .consent
        .as_ref()
        .is_some_and(|c| c.state_used_at.is_some());
    let due_later = other
        .progress
        .rechecks
        .next_run_at
        .is_none_or(|at| at > now + DUE_SOON);
    other.id != seen.id
        && same_app
        && approved
        && due_later
        && matches!(
            other.state(),
            State::AwaitingConsent | State::AwaitingRoleGrant
        )
        && other.current_step() == Some(Step::ConfirmConsent)
        && other.consumer.subscription_id == seen.consumer.subscription_id
        && other
            .consumer
            .resource_group
            .as_str()
            .eq_ignore_ascii_case(seen.consumer.resource_group.as_str())
}

/// Queues a check now for each other request of `seen`'s tenant waiting for the grant it
/// saw. Best effort: a request not woken keeps its own cadence, so a failure is logged, not
/// returned. Returns how many were woken.
pub(super) async fn wake_the_others(run: &Run<'_>, seen: &ShareRequest) -> usize {
    let ctx = run.ctx;
    let now = ctx.clock.now();
    let listed = match ctx.store.list_for_consumer(seen.consumer.tenant_id).await {
        Ok(listed) => listed,
        Err(e) => {
            tracing::warn!(error = %e, "could not list the tenant's requests to pass on the grant");
            return 0;
        }
    };
    let mut woken = 0;
    for stored in listed {
        if !waits_for_the_same_grant(seen, &stored.request, now) {
            continue;
        }
        match wake(run, stored, seen, now).await {
            Ok(true) => woken += 1,
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %e, "could not queue a check for a request waiting for the grant")
            }
        }
    }
    woken
}

/// One request's check, queued now through its outbox.
async fn wake(
    run: &Run<'_>,
    stored: Stored,
    seen: &ShareRequest,
    now: OffsetDateTime,
) -> Result<bool, StepError> {
    let (_, woken) = record::update_from(run.ctx, stored, |r| {
        if !waits_for_the_same_grant(seen, r, now) {
            return Ok(Write::Keep(false));
        }
        // As the consent callback's: it runs now and the scheduled one is superseded.
        r.check_now(Step::ConfirmConsent, now);
        Ok(Write::Save(Vec::new(), true))
    })
    .await?;
    Ok(woken)
}
