//! The adapter between the host and a step: envelope in, step run, reply out.

use axum::{body::Bytes, extract::State, response::Response};
use tracing::{Instrument, error, info, warn};

use super::{Outcome, StepError, StepMessage};
use crate::{
    context::AppContext,
    domain::{Actor, EventContext, Step},
    functions::QUEUE_BINDING,
    invocation::{
        BodyEncoding, InvocationId, InvocationReply, InvocationRequest, ServiceBusMessage,
    },
};

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
    let span = tracing::info_span!("step", step = %step, request_id = %message.request_id, attempt = message.attempt);
    run_step(step, &ctx, message, delivery_count, invocation_id)
        .instrument(span)
        .await
}

/// How long to hold a failed invocation before answering, so that the immediate redelivery
/// Service Bus makes on abandon comes after a growing pause: 1, 2, 4, ... seconds by delivery
/// count, capped. Ten deliveries then cover a few minutes of outage instead of milliseconds.
fn redelivery_pause(delivery_count: Option<i64>, cap: std::time::Duration) -> std::time::Duration {
    let n = u32::try_from(delivery_count.unwrap_or(1).clamp(1, 16)).unwrap_or(1);
    std::time::Duration::from_secs(1u64 << (n - 1)).min(cap)
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
        message,
        invocation_id: invocation_id.clone(),
    };
    match super::run(step, &run).await {
        Ok(outcome) => {
            let line = match &outcome {
                Outcome::Done => format!("{}: done for request {request_id}", step.function_name()),
                Outcome::AlreadyDone => format!(
                    "{}: already done for request {request_id}; successor re-sent",
                    step.function_name()
                ),
                Outcome::Waiting(why) => format!(
                    "{}: waiting for request {request_id}: {why}",
                    step.function_name()
                ),
                Outcome::Stale(why) => format!(
                    "{}: nothing to do for request {request_id}: {why}",
                    step.function_name()
                ),
            };
            info!(outcome = ?outcome, "step finished");
            InvocationReply::with_logs(vec![line]).done()
        }
        Err(StepError::Retryable(e)) => {
            let pause = redelivery_pause(delivery_count, ctx.settings.redelivery_pause_cap);
            warn!(
                error = format!("{e:#}"),
                pause_ms = pause.as_millis() as u64,
                "step failed; it will be retried"
            );
            tokio::time::sleep(pause).await;
            InvocationReply::with_logs(vec![format!(
                "{}: retryable failure for request {request_id}: {e:#}",
                step.function_name()
            )])
            .retry()
        }
        Err(StepError::Terminal(reason)) => {
            let event = EventContext {
                at: ctx.clock.now(),
                actor: Actor::Pipeline,
                invocation_id,
            };
            match record_failure(ctx, request_id, &reason, &event).await {
                Ok(()) => {
                    warn!(%reason, "step failed for good; request marked Failed");
                    InvocationReply::with_logs(vec![format!(
                        "{}: request {request_id} failed: {reason}",
                        step.function_name()
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

/// Marks the request `Failed` with `reason` (and announces it), re-reading on a concurrent
/// change; a request that already ended is left as it is.
async fn record_failure(
    ctx: &AppContext,
    id: crate::domain::RequestId,
    reason: &str,
    event: &EventContext,
) -> Result<(), StepError> {
    super::record::update(ctx, id, |r| {
        if r.state().is_terminal() {
            return Ok(super::record::Write::Keep(()));
        }
        let entry = r.fail(reason, event)?;
        Ok(super::record::Write::Save(vec![entry], ()))
    })
    .await
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::redelivery_pause;

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
}
