//! Re-checks of a waiting step (consent, role grant, VM provisioning) as scheduled messages,
//! never as a blocked invocation (DESIGN §3 rule 6).
//!
//! Each re-check message has the next attempt number; its MessageId
//! (`request:step:attempt`) makes a repeated send a duplicate. A message whose attempt is
//! older than the newest one recorded is stale and does nothing, so a burst of triggers (a
//! retry, the consent callback, the reconciler) never multiplies the chain. The next message
//! is written to the outbox with the record, then sent: a crash in between leaves it in the
//! outbox, where the reconciler finds it. A re-check past the step's deadline fails instead.

use std::time::Duration;

use super::{
    Outcome, Run, StepError, deadline,
    record::{self, Write},
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
    again_noting(run, delay, waiting_for, |_| {}).await
}

/// [`again`], with what the step found for its next run (`note`) in the same write.
pub(super) async fn again_noting(
    run: &Run<'_>,
    delay: Duration,
    waiting_for: String,
    note: impl Fn(&mut ShareRequest),
) -> Result<Outcome, StepError> {
    let mut next = run.message.clone();
    next.attempt += 1;
    next.retry = 0;
    let now = run.ctx.clock.now();
    let at = now + delay;
    let pipeline = &run.ctx.settings.pipeline;
    let (_, scheduled) = record::update(run.ctx, next.request_id, |r| {
        if r.current_step() != Some(next.step) {
            // The request moved on (or ended) meanwhile: this chain is over.
            return Ok(Write::Keep(false));
        }
        let checks = &mut r.progress.rechecks;
        checks.waiting_for = Some(waiting_for.clone());
        if let Some(reason) = deadline::passed(pipeline, r, now) {
            return Err(StepError::terminal(reason));
        }
        let checks = &mut r.progress.rechecks;
        checks.latest = checks.latest.max(next.attempt);
        checks.last_checked_at = Some(now);
        checks.next_run_at = Some(at);
        r.steps.ran(next.step);
        note(r);
        r.send_after_write(next.clone(), Some(at));
        Ok(Write::Save(Vec::new(), true))
    })
    .await?;
    Ok(if scheduled {
        Outcome::Waiting(format!("{waiting_for}; next check at {at}"))
    } else {
        Outcome::Stale("the request moved on".into())
    })
}
