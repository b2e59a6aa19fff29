//! Sending successor and re-check messages.

use std::time::Duration;

use time::OffsetDateTime;

use super::{StepError, StepMessage};
use crate::{context::AppContext, domain::Step};

/// Delay before re-check number `attempt` (from 1): `first` growing by `factor` each time,
/// capped at `cap`, with ±10 % jitter so a batch of requests does not re-check in lockstep.
pub(super) fn backoff(attempt: u32, first: Duration, factor: f64, cap: Duration) -> Duration {
    let exponent = i32::try_from(attempt.saturating_sub(1).min(64)).unwrap_or(64);
    let grown = first.as_secs_f64() * factor.powi(exponent);
    let capped = Duration::from_secs_f64(grown.min(cap.as_secs_f64()));
    let jitter = capped.mul_f64(0.2 * rand::random::<f64>());
    capped - capped.mul_f64(0.1) + jitter
}

/// Sends `step`'s message for `request` now.
pub(super) async fn now(ctx: &AppContext, message: &StepMessage) -> Result<(), StepError> {
    ctx.queue
        .send(message, None)
        .await
        .map_err(|e| StepError::Retryable(e.into()))
}

/// Sends `step`'s message for `request` to become visible after `delay`.
pub(super) async fn later(
    ctx: &AppContext,
    message: &StepMessage,
    delay: Duration,
) -> Result<OffsetDateTime, StepError> {
    let at = ctx.clock.now() + delay;
    ctx.queue
        .send(message, Some(at))
        .await
        .map_err(|e| StepError::Retryable(e.into()))?;
    Ok(at)
}

/// The first message of `step`.
pub(super) fn first(request: &crate::domain::ShareRequest, step: Step) -> StepMessage {
    StepMessage::first(request.id, step)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_its_cap_with_bounded_jitter() {
        let first = Duration::from_secs(5);
        let cap = Duration::from_secs(600);
        for attempt in 1..30 {
            let nominal = first.saturating_mul(1 << (attempt - 1).min(20)).min(cap);
            let d = backoff(attempt, first, 2.0, cap);
            assert!(
                d >= nominal.mul_f64(0.9) && d <= nominal.mul_f64(1.1),
                "{attempt}: {d:?}"
            );
        }
    }
}
