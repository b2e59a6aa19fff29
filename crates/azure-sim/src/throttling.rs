//! What the simulator's throttling did, for tests and benches: how many 429s each service
//! answered, and for each one the `Retry-After` it gave and whether the client's next request
//! on the same bucket came before that time (a `Retry-After` not honoured). Also how often
//! Graph requests carried `x-ms-throttle-priority`, and with which value.
//!
//! Read through [`crate::Sim::throttling`] or `GET /_sim/throttling`; cleared with
//! [`crate::Sim::clear_throttling`] or `DELETE /_sim/throttling`.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use time::{Duration, OffsetDateTime};

/// A token bucket on the simulated clock: `size` tokens at most, `refill` tokens per second.
#[derive(Debug, Clone, Copy)]
pub struct TokenBucket {
    tokens: f64,
    at: OffsetDateTime,
}

impl TokenBucket {
    /// A full bucket.
    pub fn full(size: u32, now: OffsetDateTime) -> Self {
        Self {
            tokens: f64::from(size),
            at: now,
        }
    }

    /// Adds what has refilled since the last look (the clock only moves forward).
    pub fn refill(&mut self, size: u32, refill_per_second: f64, now: OffsetDateTime) {
        let elapsed = (now - self.at).as_seconds_f64().max(0.0);
        self.tokens = (self.tokens + elapsed * refill_per_second).min(f64::from(size));
        self.at = now;
    }

    /// Whether `cost` tokens are there.
    pub fn has(&self, cost: f64) -> bool {
        self.tokens + 1e-9 >= cost
    }

    /// Takes `cost` tokens (call after [`Self::has`]).
    pub fn take(&mut self, cost: f64) {
        self.tokens = (self.tokens - cost).max(0.0);
    }

    /// Whole tokens left.
    pub fn remaining(&self) -> u32 {
        // Bucket sizes are u32, so the floor fits.
        let floor = self.tokens.floor().max(0.0);
        if floor >= f64::from(u32::MAX) {
            u32::MAX
        } else {
            // The value is a non-negative whole number below u32::MAX.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let n = floor as u32;
            n
        }
    }

    /// Whole seconds (at least 1) until `cost` tokens are there again.
    pub fn seconds_until(&self, cost: f64, refill_per_second: f64) -> i64 {
        if refill_per_second <= 0.0 {
            return i64::from(u32::MAX);
        }
        let wait = ((cost - self.tokens).max(0.0) / refill_per_second).ceil();
        if wait >= f64::from(u32::MAX) {
            i64::from(u32::MAX)
        } else {
            // A non-negative whole number below u32::MAX.
            #[allow(clippy::cast_possible_truncation)]
            let w = wait as i64;
            w.max(1)
        }
    }
}

/// One 429 the simulator's throttling answered.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ThrottleEvent {
    /// `arm`, `compute` or `graph`.
    pub service: &'static str,
    /// The bucket that was empty, e.g. `arm/{tenant}/{subscription}/{principal}/reads`.
    pub bucket: String,
    /// When it was answered (simulated clock).
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The `Retry-After` it carried, in seconds.
    pub retry_after_seconds: i64,
    /// When the client's next request on that bucket came, if it came.
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_request_at: Option<OffsetDateTime>,
    /// Whether that next request came before `at + retryAfterSeconds`.
    pub retried_early: Option<bool>,
}

/// Per-service totals.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ServiceCounts {
    /// 429s answered.
    pub throttled: u64,
    /// 429s whose next request on the same bucket came before its `Retry-After`.
    pub retried_early: u64,
}

/// What [`crate::Sim::throttling`] and `GET /_sim/throttling` answer.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ThrottlingReport {
    /// Totals by service (`arm`, `compute`, `graph`).
    pub services: BTreeMap<&'static str, ServiceCounts>,
    /// Every 429, oldest first.
    pub events: Vec<ThrottleEvent>,
    /// Graph requests by their `x-ms-throttle-priority` value as sent (`(none)` without one).
    pub graph_priorities: BTreeMap<String, u64>,
}

impl ThrottlingReport {
    /// Totals of one service (zero when it never throttled).
    pub fn service(&self, name: &str) -> ServiceCounts {
        self.services.get(name).cloned().unwrap_or_default()
    }
}

/// The log kept in the world.
#[derive(Debug, Default)]
pub struct ThrottleLog {
    events: Vec<ThrottleEvent>,
    /// Index of the latest event per bucket still waiting for its next request.
    open: HashMap<String, usize>,
    priorities: BTreeMap<String, u64>,
}

impl ThrottleLog {
    /// A request on `bucket` arrived: closes the 429 that bucket last answered, if any.
    pub fn observe(&mut self, bucket: &str, now: OffsetDateTime) {
        if let Some(i) = self.open.remove(bucket)
            && let Some(e) = self.events.get_mut(i)
        {
            e.next_request_at = Some(now);
            e.retried_early = Some(now < e.at + Duration::seconds(e.retry_after_seconds));
        }
    }

    /// A 429 was answered on `bucket`.
    pub fn throttled(
        &mut self,
        service: &'static str,
        bucket: String,
        retry_after_seconds: i64,
        now: OffsetDateTime,
    ) {
        self.open.insert(bucket.clone(), self.events.len());
        self.events.push(ThrottleEvent {
            service,
            bucket,
            at: now,
            retry_after_seconds,
            next_request_at: None,
            retried_early: None,
        });
    }

    /// A Graph request's `x-ms-throttle-priority` (None: absent).
    pub fn priority(&mut self, value: Option<&str>) {
        let key = value.map_or_else(|| "(none)".to_owned(), str::to_owned);
        *self.priorities.entry(key).or_default() += 1;
    }

    /// The report.
    pub fn report(&self) -> ThrottlingReport {
        let mut services: BTreeMap<&'static str, ServiceCounts> = BTreeMap::new();
        for e in &self.events {
            let c = services.entry(e.service).or_default();
            c.throttled += 1;
            if e.retried_early == Some(true) {
                c.retried_early += 1;
            }
        }
        ThrottlingReport {
            services,
            events: self.events.clone(),
            graph_priorities: self.priorities.clone(),
        }
    }

    /// Forgets everything (buckets keep their tokens).
    pub fn clear(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_refills_at_its_rate_up_to_its_size() {
        let t0 = time::macros::datetime!(2026-01-01 0:00 UTC);
        let mut b = TokenBucket::full(10, t0);
        b.take(10.0);
        assert!(!b.has(1.0));
        assert_eq!(b.seconds_until(1.0, 2.0), 1);
        b.refill(10, 2.0, t0 + Duration::seconds(2));
        assert_eq!(b.remaining(), 4);
        b.refill(10, 2.0, t0 + Duration::seconds(60));
        assert_eq!(b.remaining(), 10);
    }

    #[test]
    fn the_next_request_on_a_bucket_closes_its_429() {
        let t0 = time::macros::datetime!(2026-01-01 0:00 UTC);
        let mut log = ThrottleLog::default();
        log.throttled("arm", "b".into(), 5, t0);
        log.observe("other", t0);
        log.observe("b", t0 + Duration::seconds(2));
        log.observe("b", t0 + Duration::seconds(9));
        let r = log.report();
        assert_eq!(r.service("arm").retried_early, 1);
        assert_eq!(r.events[0].retried_early, Some(true));
    }
}
