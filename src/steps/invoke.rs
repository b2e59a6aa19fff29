//! The adapter between the host and a step: envelope in, step run, reply out.
//!
//! A transient failure is not answered by holding the invocation (Service Bus redelivers an
//! abandoned message at once, and a sleeping invocation holds one of the host's concurrent
//! slots): the handler schedules a copy of the message (`retry` + 1, its own MessageId) after
//! a pause that grows with each retry and honours `Retry-After`, records the error on the
//! request so the status says why it waits, and completes the delivery. Only when the copy
//! cannot be sent is the delivery abandoned, so the message is never lost. Past the retry
//! limit the step rests: the reconciler re-sends it later or fails it at its deadline.

use std::time::Duration;

use axum::{body::Bytes, extract::State, response::Response};
use time::OffsetDateTime;
use tracing::{Instrument, error, info, warn};

use super::{Outcome, StepError, StepMessage, record, schedule};
use crate::{
    context::AppContext,
    domain::{Actor, EventContext, LastError, Step},
    functions::QUEUE_BINDING,
    invocation::{
        BodyEncoding, InvocationId, InvocationReply, InvocationRequest, ServiceBusMessage,
    },
};

/// The first retry's pause; each next one doubles, up to [`RETRY_CAP`].
const RETRY_FIRST: Duration = Duration::from_secs(5);
/// The longest pause between two retries.
const RETRY_CAP: Duration = Duration::from_secs(300);
/// Retries in a row a step may spend on 429s before it rests: Azure pacing its callers (a
/// wave larger than a bucket meets them for as long as the wave lasts) is not the request
/// failing, so they are paced by `Retry-After`, not doubled, and do not count toward
/// `IMAGESHARE_RETRY_MAX`. The step's deadline still ends a request that waits too long.
const THROTTLED_RETRY_MAX: u32 = 100;
/// Retries in a row a step may spend waiting for a lock another request of the tenant holds.
/// A wave of one tenant's requests takes it one at a time, so the last of 300 waits for the
/// 299 before it: resting after a fixed number of tries would leave it for the reconciler's
/// next pass (minutes) while the lock is long free. So it waits on, and this cap lies past
/// the deadlines of the states that take a lock (60 minutes by default; 2,000 tries are at
/// least 66 minutes at the shortest pause): the deadline, not a count, ends a wait too long.
const LOCK_WAIT_MAX: u32 = 2_000;
/// The pause before trying a busy lock again, plus up to [`LOCK_SPREAD`] so that the requests
/// waiting for it do not all come back at the same moment.
const LOCK_PAUSE: Duration = Duration::from_secs(2);
/// See [`LOCK_PAUSE`]. It shrinks as a request keeps waiting ([`lock_pause`]).
const LOCK_SPREAD: Duration = Duration::from_secs(4);
/// The tries after which a waiter's spread is halved: see [`lock_pause`].
const LOCK_SPREAD_HALVED_AFTER: u32 = 8;
/// The most added to a 429's `Retry-After`, spreading the steps that met the same empty bucket
/// over a moment instead of waking them all at its first second.
const THROTTLED_SPREAD_MAX: Duration = Duration::from_secs(15);

/// Handles `POST /{FunctionName}` for a step's queue trigger.
pub async fn invoke(
    step: Step,
    State(ctx): State<AppContext>,
    InvocationId(invocation_id): InvocationId,
    body: Bytes,
) -> Response {
    let (message, delivery_count) = match decode(step, &body) {
        Ok(m) => m,
        Err(reason) => {
            // A message that cannot be read never will be: failing it lets Service Bus
            // dead-letter it after MaxDeliveryCount, where a person can inspect it.
            error!(step = %step, %reason, "undecodable step invocation");
            return InvocationReply::with_logs(vec![format!("{}: {reason}", step.function_name())])
                .retry();
        }
    };
    let span = tracing::info_span!("step", step = %step, request_id = %message.request_id, attempt = message.attempt, retry = message.retry);
    run_step(step, &ctx, message, delivery_count, invocation_id)
        .instrument(span)
        .await
}

/// How long to hold an invocation whose retry could not even be scheduled, before answering
/// so that Service Bus redelivers it: 1, 2, 4, ... seconds by delivery count, capped. Only
/// then does a failing request hold a slot, and only while Service Bus itself is failing.
fn redelivery_pause(delivery_count: Option<i64>, cap: Duration) -> Duration {
    let n = u32::try_from(delivery_count.unwrap_or(1).clamp(1, 16)).unwrap_or(1);
    Duration::from_secs(1u64 << (n - 1)).min(cap)
}

/// What is added to a 429's `Retry-After`: a share `unit` (from 0 to 1) of a quarter of it, at
/// most [`THROTTLED_SPREAD_MAX`].
fn spread(retry_after: Duration, unit: f64) -> Duration {
    (retry_after / 4)
        .min(THROTTLED_SPREAD_MAX)
        .mul_f64(unit.clamp(0.0, 1.0))
}

/// The pause before a busy lock is tried again for the `retry`-th time in a row, `unit`
/// (from 0 to 1) placing it in the spread. A lock goes to whoever asks first after it is
/// freed, so the waiters that have waited longest ask more often (the spread shrinks with
/// each try) and the turns lean toward first come, first served without a queue to keep in
/// the store; the floor keeps a wave's reads of the lock within what the store serves.
fn lock_pause(retry: u32, unit: f64) -> Duration {
    let shrink = f64::from(LOCK_SPREAD_HALVED_AFTER)
        / f64::from(LOCK_SPREAD_HALVED_AFTER.saturating_add(retry));
    LOCK_PAUSE + LOCK_SPREAD.mul_f64(unit.clamp(0.0, 1.0) * shrink)
}

/// How many retries in a row a step may spend on this error before it rests.
fn retry_limit(error: &StepError, max_retries: u32) -> u32 {
    if error.waits_for_lock() {
        LOCK_WAIT_MAX.max(max_retries)
    } else if error.throttled_for().is_some() {
        THROTTLED_RETRY_MAX.max(max_retries)
    } else {
        max_retries
    }
}

/// The pause before retry number `retry` (from 1), at least what the service asked for.
fn retry_pause(retry: u32, retry_after: Option<Duration>) -> Duration {
    schedule::backoff(retry, RETRY_FIRST, 2.0, RETRY_CAP).max(retry_after.unwrap_or_default())
}

async fn run_step(
    step: Step,
    ctx: &AppContext,
    message: StepMessage,
    delivery_count: Option<i64>,
    invocation_id: Option<String>,
) -> Response {
    let request_id = message.request_id;

    let run = super::Run {
        ctx,
        message: message.clone(),
        invocation_id: invocation_id.clone(),
    };
    let name = step.function_name();
    match super::run(step, &run).await {
        Ok(outcome) => {
            let line = match &outcome {
                Outcome::Done => format!("{name}: done for request {request_id}"),
                Outcome::AlreadyDone => {
                    format!("{name}: already done for request {request_id}; successor re-sent")
                }
                Outcome::Waiting(why) => format!("{name}: waiting for request {request_id}: {why}"),
                Outcome::Stale(why) => {
                    format!("{name}: nothing to do for request {request_id}: {why}")
                }
            };
            info!(outcome = ?outcome, "step finished");
            InvocationReply::with_logs(vec![line]).done()
        }
        Err(e @ StepError::Retryable(_)) => retry_later(ctx, &message, &e, delivery_count).await,
        Err(StepError::Terminal(reason)) => {
            let event = EventContext {
                at: ctx.clock.now(),
                actor: Actor::Pipeline,
                caller: None,
                invocation_id,
            };
            match record::fail(ctx, request_id, &reason, &event, step).await {
                Ok(()) => {
                    warn!(%reason, "step failed for good; request marked Failed");
                    InvocationReply::with_logs(vec![format!(
                        "{name}: request {request_id} failed: {reason}"
                    )])
                    .done()
                }
                Err(StepError::Terminal(why)) => {
                    // The record itself cannot be written (corrupt): retrying cannot help.
                    error!(%reason, %why, "could not record a terminal failure");
                    InvocationReply::with_logs(vec![format!(
                        "{name}: request {request_id} failed ({reason}) and that cannot be recorded: {why}"
                    )])
                    .done()
                }
                Err(e) => {
                    warn!(error = %e, "could not record the failure; retrying");
                    InvocationReply::with_logs(vec![format!("could not record failure: {e}")])
                        .retry()
                }
            }
        }
    }
}

/// A transient failure: schedule the next retry and complete this delivery, or rest.
async fn retry_later(
    ctx: &AppContext,
    message: &StepMessage,
    error: &StepError,
    delivery_count: Option<i64>,
) -> Response {
    let name = message.step.function_name();
    let request_id = message.request_id;
    let next = message.retried();
    let throttled = error.throttled_for();
    let limit = retry_limit(error, ctx.settings.pipeline.max_retries);
    let now = ctx.clock.now();
    if next.retry > limit {
        warn!(error = %error, "step keeps failing; it rests until the reconciler re-sends it");
        record_last_error(ctx, message, error, now, None).await;
        return InvocationReply::with_logs(vec![format!(
            "{name}: request {request_id} failed {limit} retries in a row ({error}); the reconciler takes over"
        )])
        .done();
    }
    let pause = match throttled {
        Some(wait) => wait + spread(wait, rand::random::<f64>()),
        None if error.waits_for_lock() => lock_pause(next.retry, rand::random::<f64>()),
        None => retry_pause(next.retry, error.retry_after()),
    };
    let at = now + pause;
    match ctx.queue.send(&next, Some(at)).await {
        Ok(()) => {
            warn!(error = %error, pause_s = pause.as_secs(), "step failed; retry scheduled");
            record_last_error(ctx, message, error, now, Some(at)).await;
            InvocationReply::with_logs(vec![format!(
                "{name}: retryable failure for request {request_id}: {error}; retry {} at {at}",
                next.retry
            )])
            .done()
        }
        Err(send) => {
            let pause = redelivery_pause(delivery_count, ctx.settings.redelivery_pause_cap);
            warn!(error = %error, %send, pause_ms = pause.as_millis() as u64, "could not schedule a retry; Service Bus redelivers");
            tokio::time::sleep(pause).await;
            InvocationReply::with_logs(vec![format!(
                "{name}: retryable failure for request {request_id}: {error}"
            )])
            .retry()
        }
    }
}

/// Records the failure on the request (best effort: the store may be what is failing), so
/// the status says why the step waits and a deadline failure can name it.
async fn record_last_error(
    ctx: &AppContext,
    message: &StepMessage,
    error: &StepError,
    at: OffsetDateTime,
    next_run_at: Option<OffsetDateTime>,
) {
    let text = error.to_string();
    let written = crate::store::change(ctx.store.as_ref(), message.request_id, |r| {
        if r.state().is_terminal() || r.current_step() != Some(message.step) {
            return Ok::<_, std::convert::Infallible>(crate::store::Change::Keep(()));
        }
        r.progress.last_error = Some(LastError::new(at, message.step, &text, message.retry + 1));
        // Due again at the retry; a resting step is due when the reconciler's grace ends.
        r.progress.rechecks.next_run_at = Some(next_run_at.unwrap_or(at));
        Ok(crate::store::Change::Save(Vec::new(), ()))
    })
    .await;
    if let Err(e) = written {
        warn!(error = %e, "could not record the step's error on the request");
    }
}

/// Decodes the envelope into a step message meant for this step's queue.
fn decode(step: Step, body: &[u8]) -> Result<(StepMessage, Option<i64>), String> {
    let envelope = InvocationRequest::from_slice(body).map_err(|e| e.to_string())?;
    let sb = ServiceBusMessage::decode(&envelope, QUEUE_BINDING, BodyEncoding::Binary)
        .map_err(|e| e.to_string())?;
    let message: StepMessage = sb
        .body_json()
        .map_err(|e| format!("the message body is not a step message: {e}"))?;
    if message.step != step {
        return Err(format!(
            "a '{}' message arrived on the '{}' queue",
            message.step,
            step.queue()
        ));
    }
    Ok((message, sb.delivery_count))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{LOCK_WAIT_MAX, lock_pause, redelivery_pause, retry_limit, retry_pause, spread};
    use crate::steps::{StepError, lock::LockBusy};

    #[test]
    fn a_request_waiting_for_a_lock_keeps_its_turn_far_past_the_limit_of_a_throttled_one() {
        let busy = StepError::retryable(LockBusy::for_tests("held"));
        let outage = StepError::retryable(anyhow::anyhow!("503"));
        assert_eq!(retry_limit(&busy, 10), LOCK_WAIT_MAX);
        assert!(
            retry_limit(&busy, 10) > 300,
            "the last of 300 requests of one tenant waits for the 299 before it without resting"
        );
        assert_eq!(retry_limit(&outage, 10), 10);
        // At the shortest pause the cap still outlasts a 60-minute deadline.
        assert!(lock_pause(1, 0.0) * LOCK_WAIT_MAX > Duration::from_secs(3600));
    }

    #[test]
    fn a_lock_is_asked_for_more_often_the_longer_a_request_has_waited_for_it() {
        assert_eq!(lock_pause(0, 1.0), Duration::from_secs(6));
        assert_eq!(lock_pause(8, 1.0), Duration::from_secs(4));
        assert_eq!(lock_pause(24, 1.0), Duration::from_secs(3));
        assert_eq!(
            lock_pause(500, 0.0),
            Duration::from_secs(2),
            "never below the floor"
        );
        assert!(lock_pause(2_000, 1.0) >= Duration::from_secs(2));
    }

    #[test]
    fn a_429_is_retried_after_its_retry_after_plus_a_spread_of_at_most_a_quarter_of_it() {
        let wait = Duration::from_secs(20);
        assert_eq!(spread(wait, 0.0), Duration::ZERO);
        assert_eq!(spread(wait, 1.0), Duration::from_secs(5));
        let long = Duration::from_secs(180);
        assert_eq!(spread(long, 1.0), Duration::from_secs(15), "capped");
        assert_eq!(
            spread(long, 7.0),
            Duration::from_secs(15),
            "the unit is clamped"
        );
    }

    #[test]
    fn the_pause_before_a_redelivery_doubles_with_the_delivery_count_up_to_the_cap() {
        let cap = Duration::from_secs(30);
        let pauses: Vec<u64> = (1..=8)
            .map(|n| redelivery_pause(Some(n), cap).as_secs())
            .collect();
        assert_eq!(pauses, [1, 2, 4, 8, 16, 30, 30, 30]);
        assert_eq!(redelivery_pause(None, cap), Duration::from_secs(1));
        assert_eq!(redelivery_pause(Some(5), Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn a_retry_waits_at_least_as_long_as_the_service_asked() {
        let first = retry_pause(1, None);
        assert!(first >= Duration::from_millis(4500) && first <= Duration::from_millis(5500));
        let asked = retry_pause(1, Some(Duration::from_secs(900)));
        assert_eq!(
            asked,
            Duration::from_secs(900),
            "Retry-After beyond the cap is honoured"
        );
        assert!(retry_pause(12, None) <= Duration::from_secs(330));
    }
}
