//! The pipeline steps, one module each (DESIGN §2-§3).
//!
//! A step is `run(ctx, message) -> Result<Outcome, StepError>`. Errors are retryable unless a
//! step chooses otherwise: a retryable error makes the host abandon the message so Service Bus
//! redelivers it; a terminal one is recorded on the request as `Failed` with its reason and the
//! message is completed.

mod confirm_consent;
mod create_vm;
mod error;
mod invoke;
mod issue_credentials;
mod message;
mod queue;
mod send_consent_link;

pub use error::StepError;
pub use invoke::invoke;
pub use message::StepMessage;
pub use queue::{MemoryQueue, QueueError, SentMessage, StepQueue};

use crate::{context::AppContext, domain::Step};

/// What a step run achieved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The step did its work and queued its successor.
    Done,
    /// The step's result was already recorded; its successor was re-sent.
    AlreadyDone,
    /// Not yet possible (waiting for a person, for Azure); a re-check is scheduled.
    Waiting(String),
    /// The message no longer applies (the request moved on or ended); nothing to do.
    Stale(String),
}

/// What every step needs: the app's shared services.
pub type StepContext = AppContext;

/// Runs one step for one message.
pub async fn run(
    step: Step,
    ctx: &StepContext,
    message: StepMessage,
) -> Result<Outcome, StepError> {
    match step {
        Step::IssueCredentials => issue_credentials::run(ctx, message).await,
        Step::SendConsentLink => send_consent_link::run(ctx, message).await,
        Step::ConfirmConsent => confirm_consent::run(ctx, message).await,
        Step::CreateVm => create_vm::run(ctx, message).await,
    }
}
