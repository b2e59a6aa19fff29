//! Read-modify-write with compare-and-swap: the one way code changes a stored request
//! (DESIGN §3 rule 3). On a conflict the request is read again and the change re-applied to
//! what is there now, so concurrent writers never lose each other's work.

use super::{ETag, RequestStore, StoreError, Stored};
use crate::domain::{HistoryEntry, RequestId, ShareRequest};

/// What a change decided after looking at the current request.
#[derive(Debug)]
pub enum Change<T> {
    /// Write the request with these new history entries (possibly none), then return `T`.
    Save(Vec<HistoryEntry>, T),
    /// Nothing to write; return `T`.
    Keep(T),
}

/// Why a change was not written.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError<E> {
    /// The change itself refused.
    #[error(transparent)]
    Refused(E),
    /// The store failed, or the request does not exist.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A change that was applied (or kept): the request as it now is and the entries written.
#[derive(Debug)]
pub struct Applied<T> {
    /// The request after the change.
    pub request: ShareRequest,
    /// The history entries written (empty when kept).
    pub entries: Vec<HistoryEntry>,
    /// What the change returned.
    pub value: T,
    /// The version the request is now at (what was written, or read when kept).
    pub etag: ETag,
}

/// Bounded: a request has few writers; endless conflicts mean something else is wrong.
const MAX_ATTEMPTS: usize = 20;

/// Applies `change` to the current version of request `id` and writes it with CAS.
pub async fn change<T, E>(
    store: &dyn RequestStore,
    id: RequestId,
    change: impl FnMut(&mut ShareRequest) -> Result<Change<T>, E>,
) -> Result<Applied<T>, ChangeError<E>> {
    change_from(store, id, None, change).await
}

/// [`change`], trying `known` (a version the caller holds, such as the one it just wrote)
/// first instead of reading the request: a conflict reads it and re-applies the change, so
/// a stale `known` costs one refused write. A `Keep` decided on `known` is returned without
/// any read, so pass only a version whose "nothing to write" stands even if it is stale
/// (what a flush records is never undone by a later writer). Boxed: a record is large, and
/// every step's future holds this one's state.
pub async fn change_from<T, E>(
    store: &dyn RequestStore,
    id: RequestId,
    mut known: Option<Box<Stored>>,
    mut change: impl FnMut(&mut ShareRequest) -> Result<Change<T>, E>,
) -> Result<Applied<T>, ChangeError<E>> {
    for _ in 0..MAX_ATTEMPTS {
        let mut stored = match known.take() {
            Some(stored) => *stored,
            None => store.get(id).await?.ok_or(StoreError::NotFound(id))?,
        };
        match change(&mut stored.request).map_err(ChangeError::Refused)? {
            Change::Keep(value) => {
                return Ok(Applied {
                    request: stored.request,
                    entries: Vec::new(),
                    value,
                    etag: stored.etag,
                });
            }
            Change::Save(entries, value) => {
                match store.update(&stored.request, &stored.etag, &entries).await {
                    Ok(etag) => {
                        return Ok(Applied {
                            request: stored.request,
                            entries,
                            value,
                            etag,
                        });
                    }
                    Err(StoreError::Conflict) => {
                        tracing::debug!(request_id = %id, "concurrent update; re-reading");
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    Err(StoreError::Unavailable(format!("request {id} kept changing under us")).into())
}
