//! Sending successor and re-check messages.

use std::time::Duration;

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

/// Sends `message` now, outside the outbox: for repairs (a successor re-sent by a step that
/// finds its work done), where duplicate detection drops what was already sent.
pub(super) async fn now(ctx: &AppContext, message: &StepMessage) -> Result<(), StepError> {
    ctx.queue
        .send(message, None)
        .await
        .map_err(|e| StepError::Retryable(e.into()))
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
