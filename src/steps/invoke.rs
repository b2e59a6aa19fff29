//! The adapter between the host and a step: envelope in, step run, reply out.

use axum::{body::Bytes, extract::State, response::Response};
use tracing::{error, info, warn};

use super::{Outcome, StepError, StepMessage};
use crate::{
    context::AppContext,
    domain::{Actor, EventContext, Step},
    functions::QUEUE_BINDING,
    invocation::{
        BodyEncoding, InvocationId, InvocationReply, InvocationRequest, ServiceBusMessage,
    },
    store::StoreError,
};

/// Handles `POST /{FunctionName}` for a step's queue trigger.
pub async fn invoke(
    step: Step,
    State(ctx): State<AppContext>,
    InvocationId(invocation_id): InvocationId,
    body: Bytes,
) -> Response {
    let message = match decode(step, &body) {
        Ok(m) => m,
        Err(reason) => {
            // A message that cannot be read never will be: failing it lets Service Bus
            // dead-letter it after MaxDeliveryCount, where a person can inspect it.
            error!(step = %step, %reason, "undecodable step invocation");
            return InvocationReply::with_logs(vec![format!("{}: {reason}", step.function_name())])
                .retry();
        }
    };
    let request_id = message.request_id;
    let span = tracing::info_span!("step", step = %step, request_id = %request_id, attempt = message.attempt);
    let _entered = span.enter();

    let run = super::Run {
        ctx: &ctx,
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
            warn!(error = format!("{e:#}"), "step failed; it will be retried");
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
            match record_failure(&ctx, request_id, &reason, &event).await {
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
fn decode(step: Step, body: &[u8]) -> Result<StepMessage, String> {
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
    Ok(message)
}

/// Marks the request `Failed` with `reason`, re-reading on a concurrent change.
async fn record_failure(
    ctx: &AppContext,
    id: crate::domain::RequestId,
    reason: &str,
    event: &EventContext,
) -> Result<(), StoreError> {
    loop {
        let Some(mut stored) = ctx.store.get(id).await? else {
            return Err(StoreError::NotFound(id));
        };
        if stored.request.state().is_terminal() {
            return Ok(());
        }
        let Ok(entry) = stored.request.fail(reason, event) else {
            return Ok(());
        };
        match ctx
            .store
            .update(&stored.request, &stored.etag, &[entry])
            .await
        {
            Err(StoreError::Conflict) => {}
            other => return other.map(|_| ()),
        }
    }
}
