//! The pipeline steps, one module each (DESIGN §2-§3).
//!
//! A step is `run(&Run) -> Result<Outcome, StepError>`. Errors are classified where they
//! arise (`StepError`): a retryable one is retried by a scheduled copy of the message after a
//! growing pause, a terminal one is recorded on the request as `Failed` with its reason. Every
//! step starts by reading the request: if its result is already recorded it re-sends its
//! successor and stops (rule 1). Successor and re-check messages go through the request's
//! outbox, written with the change that needs them.

pub(crate) mod app_consent;
pub(crate) mod deadline;
pub(crate) mod direct_share;
mod error;
mod invoke;
mod lifetime;
pub(crate) mod lighthouse;
mod lock;
mod message;
pub mod notify;
pub(crate) mod rbac_guest;
mod rechecks;
pub mod reconcile;
mod record;
mod removal;
mod schedule;

pub use error::StepError;
pub use invoke::invoke;
pub use message::StepMessage;

use crate::{
    cloud::Cloud,
    context::AppContext,
    domain::{Actor, EventContext, Step, Strategy},
};

/// What a step run achieved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The step did its work and queued its successor.
    Done,
    /// The step's result was already recorded; its successor was re-sent.
    AlreadyDone,
    /// Not yet possible (waiting for a person, for Azure); a re-check is scheduled.
    Waiting(String),
    /// The message no longer applies (the request moved on, ended, or a newer re-check
    /// superseded it); nothing to do.
    Stale(String),
}

/// One run of a step: the shared services, the message and the invocation.
#[derive(Debug)]
pub struct Run<'a> {
    /// Shared services.
    pub ctx: &'a AppContext,
    /// The message being handled.
    pub message: StepMessage,
    /// The Functions invocation id, for history entries.
    pub invocation_id: Option<String>,
}

impl Run<'_> {
    /// Context for a history entry written now by the pipeline.
    pub fn event(&self) -> EventContext {
        EventContext {
            at: self.ctx.clock.now(),
            actor: Actor::Pipeline,
            caller: None,
            invocation_id: self.invocation_id.clone(),
        }
    }

    /// The Azure clients.
    pub fn cloud(&self) -> Result<&Cloud, StepError> {
        self.ctx
            .cloud
            .as_deref()
            .ok_or_else(|| StepError::Retryable(anyhow::anyhow!("no Azure clients are configured")))
    }
}

/// Runs one step for one message: each step belongs to one strategy, whose module runs it.
pub async fn run(step: Step, run: &Run<'_>) -> Result<Outcome, StepError> {
    match step.strategy() {
        Strategy::AppConsent => app_consent::run(step, run).await,
        Strategy::Lighthouse => lighthouse::run(step, run).await,
        Strategy::DirectShare => direct_share::run(step, run).await,
        Strategy::RbacGuest => rbac_guest::run(step, run).await,
    }
}

/// What a step that finds its work already done does: re-send its successor's first message
/// (dropped as a duplicate if it was sent) and send whatever the request's outbox still holds.
async fn already_done(
    run: &Run<'_>,
    request: &crate::domain::ShareRequest,
    successor: Option<Step>,
) -> Result<Outcome, StepError> {
    if let Some(next) = successor
        && request.progress.rechecks.latest == 0
    {
        schedule::now(run.ctx, &schedule::first(request, next)).await?;
    }
    crate::outbox::flush(run.ctx, request, &[]).await;
    Ok(Outcome::AlreadyDone)
}
