//! Answers read lately from Azure that other requests on this instance may reuse for a
//! while, instead of each request reading them again. Each use says how long its answer
//! stays good and why that is safe.

use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
};

use time::{Duration, OffsetDateTime};

/// Values by key (matched without case), each with when it was read.
#[derive(Debug)]
pub struct Recent<V> {
    read: Mutex<HashMap<String, (OffsetDateTime, V)>>,
}

impl<V> Default for Recent<V> {
    fn default() -> Self {
        Self {
            read: Mutex::default(),
        }
    }
}

impl<V: Clone> Recent<V> {
    /// The value of `key` if it was read less than `fresh` before `now` (and not after it:
    /// a clock moved back does not make an answer younger).
    pub fn get(
        &self,
        key: &str,
        now: OffsetDateTime,
        fresh: Duration,
    ) -> Option<(OffsetDateTime, V)> {
        self.read
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key.to_ascii_lowercase())
            .filter(|(at, _)| *at <= now && now - *at < fresh)
            .cloned()
    }

    /// Remembers `value` of `key` as read at `at`, forgetting answers older than `keep`
    /// (the longest any use keeps them), so the map holds only what can still be used.
    pub fn remember(&self, key: &str, at: OffsetDateTime, value: V, keep: Duration) {
        let mut read = self.read.lock().unwrap_or_else(PoisonError::into_inner);
        read.retain(|_, (then, _)| at - *then < keep);
        read.insert(key.to_ascii_lowercase(), (at, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_serves_until_it_is_no_longer_fresh_and_old_ones_are_forgotten() {
        let recent = Recent::default();
        let t0 = OffsetDateTime::UNIX_EPOCH;
        recent.remember("/Subscriptions/A", t0, 1, Duration::minutes(5));
        let fresh = Duration::seconds(15);
        assert_eq!(
            recent.get("/subscriptions/a", t0 + Duration::seconds(14), fresh),
            Some((t0, 1))
        );
        assert_eq!(
            recent.get("/subscriptions/a", t0 + Duration::seconds(15), fresh),
            None
        );
        assert_eq!(
            recent.get("/subscriptions/a", t0 - Duration::seconds(1), fresh),
            None
        );
        recent.remember(
            "/subscriptions/b",
            t0 + Duration::minutes(6),
            2,
            Duration::minutes(5),
        );
        assert_eq!(
            recent.get("/subscriptions/a", t0, Duration::hours(1)),
            None,
            "pruned"
        );
    }
}
