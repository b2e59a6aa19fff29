//! The simulator's clock: real time plus an offset that tests move forward.
//!
//! Everything time-dependent (token expiry, SAS expiry, lock expiry, scheduled messages,
//! replication windows, secret lifetimes) reads this clock, so a test advances it instead
//! of sleeping.

use std::sync::{
    Arc,
    atomic::{AtomicI64, Ordering},
};

use time::{Duration, OffsetDateTime};
use tokio::sync::Notify;

/// Errors moving the clock.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClockError {
    /// The clock only moves forward: expiries and locks must never "un-expire".
    #[error(
        "the simulated clock cannot move backwards (offset {requested_ms} ms < current {current_ms} ms)"
    )]
    Backwards {
        /// The offset asked for.
        requested_ms: i64,
        /// The offset in force.
        current_ms: i64,
    },
}

/// Real time plus a forward-only offset. Cheap to clone; clones share the offset.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
    changed: Arc<Notify>,
}

impl Clock {
    /// The current simulated time (UTC).
    pub fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + Duration::milliseconds(self.offset_ms.load(Ordering::SeqCst))
    }

    /// The offset from real time.
    pub fn offset(&self) -> Duration {
        Duration::milliseconds(self.offset_ms.load(Ordering::SeqCst))
    }

    /// Moves the clock forward by `by` (negative values are refused).
    pub fn advance(&self, by: std::time::Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.offset_ms.fetch_add(ms, Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    /// Sets the offset from real time; it may only grow.
    pub fn set_offset(&self, offset: Duration) -> Result<(), ClockError> {
        let requested_ms = i64::try_from(offset.whole_milliseconds()).unwrap_or(i64::MAX);
        let current_ms = self.offset_ms.load(Ordering::SeqCst);
        if requested_ms < current_ms {
            return Err(ClockError::Backwards {
                requested_ms,
                current_ms,
            });
        }
        self.offset_ms.store(requested_ms, Ordering::SeqCst);
        self.changed.notify_waiters();
        Ok(())
    }

    /// Woken whenever the offset changes, so long-polls re-check due messages at once.
    pub fn changed(&self) -> &Notify {
        &self.changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_moves_now_forward_by_at_least_the_amount() {
        let clock = Clock::default();
        let before = clock.now();
        clock.advance(std::time::Duration::from_secs(3600));
        assert!(clock.now() - before >= Duration::seconds(3600));
    }

    #[test]
    fn the_offset_cannot_move_backwards() {
        let clock = Clock::default();
        clock.set_offset(Duration::seconds(10)).unwrap();
        assert!(matches!(
            clock.set_offset(Duration::seconds(5)),
            Err(ClockError::Backwards { .. })
        ));
        assert_eq!(clock.offset(), Duration::seconds(10));
    }
}
