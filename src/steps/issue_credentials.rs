//! The `issue_credentials` step. Implemented by the pipeline issue; until then every invocation is a
//! retryable error, so Service Bus keeps the message instead of losing it to a fake success.

use super::{Outcome, StepContext, StepError, StepMessage};

pub(super) async fn run(_ctx: &StepContext, message: StepMessage) -> Result<Outcome, StepError> {
    Err(StepError::Retryable(anyhow::anyhow!(
        "step {} is not implemented yet (request {})",
        message.step,
        message.request_id
    )))
}
