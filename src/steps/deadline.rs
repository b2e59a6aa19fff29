//! Every wait has a deadline (DESIGN §3 rule 6). The consumer's admin has the consent
//! deadline (the request then `Expired`); the pipeline's own steps have one each from the
//! settings, counted from when the step was first queued (the request then `Failed`, naming
//! the last error seen or what it was waiting for).

use std::time::Duration;

use time::OffsetDateTime;

use crate::{
    config::PipelineSettings,
    domain::{ShareRequest, State},
};

/// How long the request's current state may last, when the pipeline bounds it (the
/// consumer's states are bounded by the consent deadline instead).
pub(crate) fn limit(settings: &PipelineSettings, state: State) -> Option<Duration> {
    match state {
        State::Submitted => Some(settings.submitted_deadline),
        State::CredentialsIssued => Some(settings.credentials_issued_deadline),
        State::CreatingVm => Some(settings.creating_vm_deadline),
        State::Revoking => Some(settings.revoking_deadline),
        State::Delegating => Some(settings.delegating_deadline),
        State::Sharing => Some(settings.sharing_deadline),
        State::Granting => Some(settings.granting_deadline),
        _ => None,
    }
}

/// When the request's current step must be done by, if the pipeline bounds it.
pub(crate) fn due(settings: &PipelineSettings, request: &ShareRequest) -> Option<OffsetDateTime> {
    let state = request.state();
    let limit = limit(settings, state)?;
    let step = request.current_step()?;
    let started = request
        .steps
        .get(step)
        .and_then(|t| t.started_at)
        .unwrap_or(request.updated_at);
    Some(started + limit)
}

/// The failure reason when the request is past its step's deadline at `now`.
pub(crate) fn passed(
    settings: &PipelineSettings,
    request: &ShareRequest,
    now: OffsetDateTime,
) -> Option<String> {
    let due = due(settings, request)?;
    if now < due {
        return None;
    }
    let minutes = limit(settings, request.state()).map_or(0, |d| d.as_secs() / 60);
    let last = match (
        &request.progress.last_error,
        &request.progress.rechecks.waiting_for,
    ) {
        (Some(error), _) => format!(
            " The last error ({} retries): {}",
            error.retries, error.message
        ),
        (None, Some(waiting)) => format!(" It was waiting for {waiting}."),
        (None, None) => String::new(),
    };
    Some(format!(
        "The request stayed {} for more than {minutes} minutes, its deadline.{last}",
        request.state()
    ))
}
