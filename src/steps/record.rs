//! Reading and writing the request from a step: the store's compare-and-swap change, then
//! the events of what was written.

use super::StepError;
use crate::{
    context::AppContext,
    domain::{RequestId, ShareRequest},
    store::{self, Change, ChangeError, Stored},
};

/// What a change decided (the store's [`Change`]).
pub(super) use store::Change as Write;

/// The request, or `None` when it does not exist.
pub(super) async fn load(ctx: &AppContext, id: RequestId) -> Result<Option<Stored>, StepError> {
    Ok(ctx.store.get(id).await?)
}

/// Applies `change` to the current version of the request and writes it (re-applying it on a
/// concurrent change), then publishes the events of the entries written.
pub(super) async fn update<T>(
    ctx: &AppContext,
    id: RequestId,
    change: impl FnMut(&mut ShareRequest) -> Result<Change<T>, StepError>,
) -> Result<(ShareRequest, T), StepError> {
    let applied = store::change(ctx.store.as_ref(), id, change)
        .await
        .map_err(|e| match e {
            ChangeError::Refused(e) => e,
            ChangeError::Store(e) => e.into(),
        })?;
    // Published after the write: a failure here fails the step, whose re-run finds the
    // change recorded and publishes again (the event id makes the repeat a duplicate).
    crate::events::publish(ctx, &applied.request, &applied.entries)
        .await
        .map_err(|e| StepError::Retryable(e.into()))?;
    Ok((applied.request, applied.value))
}
