//! Sending what a change left in the request's outbox (DESIGN §3 rule 7).
//!
//! A writer records the change, its successor message and (implicitly, by history seq) its
//! events in one compare-and-swap write, then calls [`flush`]. Flushing sends the pending
//! messages, publishes the pending events in seq order, and records what went out with a
//! second compare-and-swap. Any failure leaves the rest pending for the next writer or the
//! reconciler; repeats are harmless because every message and event has a stable id that
//! Service Bus duplicate detection drops. A flush never fails its caller: the change it
//! follows is already safe in the store.

use tracing::{debug, warn};

use crate::{
    context::AppContext,
    domain::{HistoryEntry, ShareRequest},
    store::{self, Change},
};

/// What one flush achieved.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Flushed {
    /// Messages handed to Service Bus.
    pub messages: usize,
    /// Events published.
    pub events: usize,
    /// Whether something is still pending (a send or publish failed).
    pub pending: bool,
}

/// Sends `request`'s pending messages and events. `written` are entries the caller just
/// wrote (saves reading the history back in the common case).
pub async fn flush(ctx: &AppContext, request: &ShareRequest, written: &[HistoryEntry]) -> Flushed {
    flush_at(ctx, request, None, written).await
}

/// [`flush`] of a request the caller just wrote at version `etag`: what went out is recorded
/// on that version without reading the request again (a concurrent change costs one
/// refused write and a read).
pub async fn flush_at(
    ctx: &AppContext,
    request: &ShareRequest,
    etag: Option<&store::ETag>,
    written: &[HistoryEntry],
) -> Flushed {
    let mut flushed = Flushed::default();
    let mut sent_ids = Vec::new();
    for pending in &request.outbox.messages {
        match ctx.queue.send(&pending.message, pending.not_before).await {
            Ok(()) => sent_ids.push(pending.message.message_id()),
            Err(e) => {
                warn!(request_id = %request.id, error = %e, "a step message stays in the outbox");
                flushed.pending = true;
            }
        }
    }
    flushed.messages = sent_ids.len();

    let mut published_through = request.outbox.events_through;
    let wanted = request.pending_events();
    if !wanted.is_empty() {
        match entries(ctx, request, written, &wanted).await {
            Ok(entries) => {
                for entry in &entries {
                    match ctx
                        .events
                        .publish(&crate::events::event_for(ctx, request, entry))
                        .await
                    {
                        Ok(()) => {
                            published_through = entry.seq;
                            flushed.events += 1;
                        }
                        Err(e) => {
                            // In order per request: stop here, the rest waits for the next flush.
                            warn!(request_id = %request.id, error = %e, "events stay in the outbox");
                            flushed.pending = true;
                            break;
                        }
                    }
                }
            }
            Err(e) => {
                warn!(request_id = %request.id, error = %e, "could not read the history to publish");
                flushed.pending = true;
            }
        }
    }

    if sent_ids.is_empty() && published_through == request.outbox.events_through {
        return flushed;
    }
    let known = etag.map(|etag| {
        Box::new(store::Stored {
            request: request.clone(),
            etag: etag.clone(),
        })
    });
    let recorded = store::change_from(ctx.store.as_ref(), request.id, known, |r| {
        let before = r.outbox.clone();
        r.outbox
            .sent(&sent_ids, published_through.min(r.history_len()));
        Ok::<_, std::convert::Infallible>(if r.outbox == before {
            Change::Keep(())
        } else {
            Change::Save(Vec::new(), ())
        })
    })
    .await;
    if let Err(e) = recorded {
        // Sent but not recorded: the next flush sends them again and Service Bus drops them.
        debug!(request_id = %request.id, error = %e, "could not record the flush");
        flushed.pending = true;
    }
    flushed
}

/// The history entries with seqs in `wanted`, oldest first.
async fn entries(
    ctx: &AppContext,
    request: &ShareRequest,
    written: &[HistoryEntry],
    wanted: &std::ops::RangeInclusive<u32>,
) -> Result<Vec<HistoryEntry>, store::StoreError> {
    let covered = wanted
        .clone()
        .all(|seq| written.iter().any(|e| e.seq == seq));
    let all = if covered {
        written.to_vec()
    } else {
        ctx.store.history(request.id).await?
    };
    let mut chosen: Vec<HistoryEntry> = all
        .into_iter()
        .filter(|e| wanted.contains(&e.seq))
        .collect();
    chosen.sort_by_key(|e| e.seq);
    Ok(chosen)
}
