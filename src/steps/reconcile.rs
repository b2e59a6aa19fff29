//! The `Reconcile` timer function (DESIGN §3 rule 8): the reason no request can stay active
//! for ever. For every request the store lists as needing attention it decides one action:
//!
//! - an ended request with an outbox left: send it (a `failed` event is never lost);
//! - waiting for the consumer's admin past the consent deadline: expire it;
//! - past its step's deadline: fail it, naming the last error seen;
//! - its step's message is overdue by more than the grace (dead-lettered, a lost re-check, a
//!   step that gave up retrying): re-send the current step as a new attempt, which
//!   supersedes whatever is left of the old chain;
//! - otherwise: send its outbox, if anything is left in it.
//!
//! Every action is a compare-and-swap on the request and every message has a deterministic
//! MessageId, so two instances reconciling at once double nothing: the second one's write
//! conflicts, re-reads, and finds nothing left to do.

use std::time::Duration;

use axum::{extract::State, response::Response};
use time::OffsetDateTime;
use tracing::{info, warn};

use super::{
    Run, StepError, app_consent, deadline,
    record::{self, Write},
};
use crate::{
    config::PipelineSettings,
    context::AppContext,
    domain::{Actor, EventContext, ShareRequest, State as RequestState, Step, StepMessage},
    invocation::{InvocationId, InvocationReply},
};

/// The most requests one run handles; the rest wait for the next run.
const MAX_PER_RUN: usize = 2_000;
/// A run stops starting new work after this long, well inside the five-minute schedule.
const RUN_BUDGET: Duration = Duration::from_secs(240);

/// What the reconciler does with one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing is overdue.
    Nothing,
    /// Send what the outbox holds.
    Flush,
    /// The consent deadline passed.
    Expire,
    /// The step's deadline passed.
    Fail(String),
    /// The step's message chain is lost: send attempt `latest + 1` of this step.
    Resend(Step),
}

/// Decides what `request` needs at `now`.
pub fn decide(settings: &PipelineSettings, request: &ShareRequest, now: OffsetDateTime) -> Action {
    let state = request.state();
    let pending = !request.outbox.messages.is_empty()
        || request.outbox.events_through < request.history_len();
    if state.is_terminal() {
        // The end's rechecks start at the end (`transition`), and a re-send moves them on.
        let release_due = request
            .progress
            .rechecks
            .next_run_at
            .or(request.progress.release_queued_at)
            .unwrap_or(request.updated_at);
        return if pending {
            Action::Flush
        } else if request.release_pending() && now > release_due + settings.reconcile_grace {
            Action::Resend(Step::ReleaseAccess)
        } else {
            Action::Nothing
        };
    }
    if matches!(
        state,
        RequestState::AwaitingConsent | RequestState::AwaitingRoleGrant
    ) && request
        .progress
        .consent
        .as_ref()
        .is_some_and(|c| c.expires_at <= now)
    {
        return Action::Expire;
    }
    if let Some(reason) = deadline::passed(settings, request, now) {
        return Action::Fail(reason);
    }
    let due = request
        .progress
        .rechecks
        .next_run_at
        .unwrap_or(request.updated_at);
    if let Some(step) = request.current_step()
        && now > due + settings.reconcile_grace
    {
        return Action::Resend(step);
    }
    if pending {
        Action::Flush
    } else {
        Action::Nothing
    }
}

/// What one run did, by action.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Requests looked at.
    pub seen: usize,
    /// Outboxes sent.
    pub flushed: usize,
    /// Requests expired.
    pub expired: usize,
    /// Requests failed at their deadline.
    pub failed: usize,
    /// Steps re-sent.
    pub resent: usize,
    /// Requests whose action failed (retried next run).
    pub errors: usize,
}

/// Handles `POST /Reconcile` (the timer trigger).
pub async fn invoke(
    State(ctx): State<AppContext>,
    InvocationId(invocation_id): InvocationId,
) -> Response {
    match run(&ctx, invocation_id).await {
        Ok(report) => {
            info!(?report, "reconciled");
            InvocationReply::with_logs(vec![format!(
                "Reconcile: {} requests looked at; {} re-sent, {} expired, {} failed at their deadline, {} outboxes sent, {} errors",
                report.seen, report.resent, report.expired, report.failed, report.flushed, report.errors
            )])
            .done()
        }
        Err(e) => {
            warn!(error = %e, "could not list the requests to reconcile");
            // A timer invocation is not retried by the host; the next tick runs again.
            InvocationReply::with_logs(vec![format!("Reconcile: {e}")]).retry()
        }
    }
}

/// One reconciliation pass over every request that needs attention.
pub async fn run(ctx: &AppContext, invocation_id: Option<String>) -> Result<Report, StepError> {
    let started = std::time::Instant::now();
    let requests = ctx.store.list_active().await?;
    let mut report = Report::default();
    for stored in requests.into_iter().take(MAX_PER_RUN) {
        if started.elapsed() > RUN_BUDGET {
            break;
        }
        report.seen += 1;
        let request = stored.request;
        let now = ctx.clock.now();
        let action = decide(&ctx.settings.pipeline, &request, now);
        let result = act(ctx, &request, &action, now, invocation_id.clone()).await;
        match (&action, result) {
            (_, Err(e)) => {
                warn!(request_id = %request.id, ?action, error = %e, "reconciling failed");
                report.errors += 1;
            }
            (Action::Nothing, Ok(())) => {}
            (Action::Flush, Ok(())) => report.flushed += 1,
            (Action::Expire, Ok(())) => report.expired += 1,
            (Action::Fail(_), Ok(())) => report.failed += 1,
            (Action::Resend(_), Ok(())) => report.resent += 1,
        }
    }
    Ok(report)
}

async fn act(
    ctx: &AppContext,
    request: &ShareRequest,
    action: &Action,
    now: OffsetDateTime,
    invocation_id: Option<String>,
) -> Result<(), StepError> {
    let event = EventContext {
        at: now,
        actor: Actor::Reconciler,
        caller: None,
        invocation_id: invocation_id.clone(),
    };
    match action {
        Action::Nothing => Ok(()),
        Action::Flush => {
            crate::outbox::flush(ctx, request, &[]).await;
            Ok(())
        }
        Action::Expire => {
            let run = Run {
                ctx,
                message: StepMessage::attempt(
                    request.id,
                    Step::ConfirmConsent,
                    request.progress.rechecks.latest,
                ),
                invocation_id,
            };
            app_consent::expire(&run, request).await.map(|_| ())
        }
        Action::Fail(reason) => match request.current_step() {
            Some(step) => record::fail(ctx, request.id, reason, &event, step).await,
            None => Ok(()),
        },
        Action::Resend(step) => resend(ctx, request, *step, &event).await,
    }
}

/// Re-sends `step` as attempt `latest + 1`, recorded in the same write as the new latest, so
/// older messages of the chain become stale and a second reconciler finds nothing overdue.
async fn resend(
    ctx: &AppContext,
    request: &ShareRequest,
    step: Step,
    event: &EventContext,
) -> Result<(), StepError> {
    let settings = &ctx.settings.pipeline;
    record::update(ctx, request.id, |r| {
        if decide(settings, r, event.at) != Action::Resend(step) {
            return Ok(Write::Keep(()));
        }
        let attempt = r.progress.rechecks.latest + 1;
        let overdue_since = r.progress.rechecks.next_run_at.unwrap_or(r.updated_at);
        r.progress.rechecks.latest = attempt;
        r.progress.rechecks.next_run_at = Some(event.at);
        r.send_after_write(StepMessage::attempt(r.id, step, attempt), None);
        let last = r
            .progress
            .last_error
            .as_ref()
            .map(|e| format!(" Last error: {}", e.message))
            .unwrap_or_default();
        let detail = format!(
            "The {step} step was due at {overdue_since} and had not run; the reconciler sent it again (attempt {attempt}).{last}"
        );
        Ok(Write::Save(vec![r.note("step-resent", detail, event)], ()))
    })
    .await
    .map(|_| ())
}
