//! Re-checks of a waiting step (consent, role grant, VM provisioning) as scheduled messages,
//! never as a blocked invocation (DESIGN §3 rule 5).
//!
//! Each re-check message has the next attempt number; its MessageId
//! (`request:step:attempt`) makes a repeated send a duplicate. A message whose attempt is
//! older than the newest one sent is stale and does nothing, so a burst of triggers (a
//! redelivery, the consent callback) never multiplies the chain. The order is send, then
//! record: a crash in between leaves a message that is newer than the record, which runs.

use std::time::Duration;

use super::{
    Outcome, Run, StepError,
    record::{self, Write},
    schedule,
};
use crate::domain::ShareRequest;

/// Whether this run's message was superseded by a newer re-check.
pub(super) fn superseded(run: &Run<'_>, request: &ShareRequest) -> Option<Outcome> {
    let latest = request.progress.rechecks.latest;
    (run.message.attempt < latest)
        .then(|| Outcome::Stale(format!("superseded by re-check {latest}")))
}

/// Schedules the next re-check after `delay` and records what is awaited.
pub(super) async fn again(
    run: &Run<'_>,
    delay: Duration,
    waiting_for: String,
) -> Result<Outcome, StepError> {
    let mut next = run.message.clone();
    next.attempt += 1;
    let at = schedule::later(run.ctx, &next, delay).await?;
    let now = run.ctx.clock.now();
    record::update(run.ctx, next.request_id, |r| {
        let checks = &mut r.progress.rechecks;
        checks.latest = checks.latest.max(next.attempt);
        checks.last_checked_at = Some(now);
        checks.waiting_for = Some(waiting_for.clone());
        r.steps.ran(next.step);
        Ok(Write::Save(Vec::new(), ()))
    })
    .await?;
    Ok(Outcome::Waiting(format!(
        "{waiting_for}; next check at {at}"
    )))
}
