//! Reading and writing the request from a step: the store's compare-and-swap change, then the
//! outbox it left (successor messages, events) is sent.

use super::StepError;
use crate::{
    context::AppContext,
    domain::{RequestId, ShareRequest, State, Step},
    outbox,
    store::{self, Change, Stored},
};

/// What a change decided (the store's [`Change`]).
pub(super) use store::Change as Write;

/// The request, or `None` when it does not exist.
pub(super) async fn load(ctx: &AppContext, id: RequestId) -> Result<Option<Stored>, StepError> {
    Ok(ctx.store.get(id).await?)
}

/// Applies `change` to the current version of the request and writes it (re-applying it on a
/// concurrent change), then sends what the change put in the outbox. A failed send stays in
/// the outbox for the next run or the reconciler: the change never waits on Service Bus.
pub(super) async fn update<T>(
    ctx: &AppContext,
    id: RequestId,
    change: impl FnMut(&mut ShareRequest) -> Result<Change<T>, StepError>,
) -> Result<(ShareRequest, T), StepError> {
    apply(ctx, id, None, change).await
}

/// [`update`], starting from `known` (a version just listed) instead of reading the request:
/// see [`store::change_from`] for when a `Keep` decided on it stands.
pub(super) async fn update_from<T>(
    ctx: &AppContext,
    known: Stored,
    change: impl FnMut(&mut ShareRequest) -> Result<Change<T>, StepError>,
) -> Result<(ShareRequest, T), StepError> {
    apply(ctx, known.request.id, Some(Box::new(known)), change).await
}

async fn apply<T>(
    ctx: &AppContext,
    id: RequestId,
    known: Option<Box<Stored>>,
    change: impl FnMut(&mut ShareRequest) -> Result<Change<T>, StepError>,
) -> Result<(ShareRequest, T), StepError> {
    let applied = store::change_from(ctx.store.as_ref(), id, known, change).await?;
    if applied.request.needs_reconciling() || !applied.entries.is_empty() {
        outbox::flush_at(ctx, &applied.request, Some(&applied.etag), &applied.entries).await;
    }
    Ok((applied.request, applied.value))
}

/// Marks the request `Failed` with `reason` (and announces it), re-reading on a concurrent
/// change; a request that already ended is left as it is. `step` is the step that failed: a
/// pipeline step still in flight when a revocation started (its message was read before) must
/// not turn the revocation into a failure; only the revocation's own step may.
pub(crate) async fn fail(
    ctx: &AppContext,
    id: RequestId,
    reason: &str,
    event: &crate::domain::EventContext,
    step: Step,
) -> Result<(), StepError> {
    update(ctx, id, |r| {
        if r.state().is_terminal()
            || (r.state() == State::Revoking && step != r.machine().revoke_step())
        {
            return Ok(Write::Keep(()));
        }
        let entry = r.fail(reason, event)?;
        Ok(Write::Save(vec![entry], ()))
    })
    .await
    .map(|_| ())
}
