//! What a DELETE did, as the history and the status document record it.

use super::Run;
use crate::{
    azure::deletion::Deleted,
    domain::{Removable, Removal, RemovalOutcome, RemovalService},
};

/// A removal record from a DELETE's answer.
pub(in crate::steps) fn of(
    run: &Run<'_>,
    what: Removable,
    id: &str,
    service: RemovalService,
    deleted: &Deleted,
) -> Removal {
    Removal {
        what,
        id: id.to_owned(),
        at: run.ctx.clock.now(),
        outcome: if deleted.absent {
            RemovalOutcome::Absent
        } else {
            RemovalOutcome::Removed
        },
        service,
        service_request_id: deleted.request_id.clone(),
        detail: None,
    }
}
