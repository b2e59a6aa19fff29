//! Reading and writing the request from a step: compare-and-swap with re-read on conflict
//! (DESIGN §3 rule 3).

use super::StepError;
use crate::{
    context::AppContext,
    domain::{HistoryEntry, RequestId, ShareRequest},
    store::{StoreError, Stored},
};

/// What a change decided.
pub(super) enum Write<T> {
    /// Write the request with these new history entries (possibly none), then return `T`.
    Save(Vec<HistoryEntry>, T),
    /// Nothing to write; return `T`.
    Keep(T),
}

/// The request, or `None` when it does not exist.
pub(super) async fn load(ctx: &AppContext, id: RequestId) -> Result<Option<Stored>, StepError> {
    Ok(ctx.store.get(id).await?)
}

/// Applies `change` to the current version of the request and writes it; if someone else
/// wrote first, re-reads and applies `change` again to what is there now.
pub(super) async fn update<T>(
    ctx: &AppContext,
    id: RequestId,
    mut change: impl FnMut(&mut ShareRequest) -> Result<Write<T>, StepError>,
) -> Result<(ShareRequest, T), StepError> {
    // Bounded: a request has few writers; endless conflicts mean something else is wrong.
    for _ in 0..20 {
        let Some(mut stored) = load(ctx, id).await? else {
            return Err(StepError::Retryable(anyhow::anyhow!(
                "request {id} vanished"
            )));
        };
        match change(&mut stored.request)? {
            Write::Keep(value) => return Ok((stored.request, value)),
            Write::Save(entries, value) => {
                match ctx
                    .store
                    .update(&stored.request, &stored.etag, &entries)
                    .await
                {
                    Ok(_) => {
                        // Published after the write: a failure here fails the step, whose
                        // re-run finds the change recorded and publishes again.
                        crate::events::publish(ctx, &stored.request, &entries)
                            .await
                            .map_err(|e| StepError::Retryable(e.into()))?;
                        return Ok((stored.request, value));
                    }
                    Err(StoreError::Conflict) => {
                        tracing::debug!(request_id = %id, "concurrent update; re-reading");
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    Err(StepError::Retryable(anyhow::anyhow!(
        "request {id} kept changing under us"
    )))
}
