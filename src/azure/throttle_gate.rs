//! What a 429 told this instance: until when a throttling bucket is empty, so that no other
//! invocation of the instance sends to it before its `Retry-After` has passed.
//!
//! Resource Manager's buckets are per principal, subscription (or tenant, for calls without a
//! subscription) and operation type (reads, writes, deletes); Graph's identity buckets are per
//! application and tenant. A 429 closes the gate of its bucket; a call that finds its gate
//! closed waits for it inside the invocation when the retry budget allows, and otherwise is not
//! sent at all but answered as the 429 would be, so the step reschedules itself after the
//! `Retry-After` through Service Bus.
//!
//! The principal is told apart by a hash of the bearer token (never the token itself: the key
//! is kept in memory only, but a hash cannot leak it either). A principal's new token (about
//! hourly) starts with an open gate; at worst that costs one more 429.
//!
//! Compute's own limits (`PutVM3Min`, per subscription and operation) answer 429 too; their
//! gate is the principal's writes in that subscription, which also holds back the principal's
//! network writes there for the `Retry-After`: more cautious than Compute asks, never less.
//!
//! The gates are this instance's: another instance learns of an empty bucket from its own
//! first 429 (sharing them through the table store would cost a read per call).

use std::{
    collections::HashMap,
    hash::{DefaultHasher, Hash, Hasher},
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use reqwest::{Method, header::HeaderMap};
use url::Url;

use super::Service;

/// The operation types Resource Manager counts apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Operation {
    Reads,
    Writes,
    Deletes,
    /// Graph counts every request of an application in a tenant together.
    Any,
}

/// One throttling bucket as the client can tell it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct Bucket {
    service: Service,
    /// `subscriptions/{id}` lower-cased, or empty for tenant-level calls and Graph.
    scope: String,
    operation: Operation,
    principal: u64,
}

impl Bucket {
    /// The bucket `method` on `url` is charged to, for the caller whose `Authorization` is in
    /// `headers`; `None` for services whose throttling is not kept per bucket here.
    pub(super) fn of(
        service: Service,
        method: &Method,
        url: &Url,
        headers: &HeaderMap,
    ) -> Option<Self> {
        let operation = match service {
            Service::ResourceManager => match *method {
                Method::GET | Method::HEAD => Operation::Reads,
                Method::DELETE => Operation::Deletes,
                _ => Operation::Writes,
            },
            Service::Graph => Operation::Any,
            _ => return None,
        };
        let scope = match service {
            Service::ResourceManager => subscription_scope(url),
            _ => String::new(),
        };
        let mut hasher = DefaultHasher::new();
        headers
            .get(reqwest::header::AUTHORIZATION)
            .map(reqwest::header::HeaderValue::as_bytes)
            .hash(&mut hasher);
        Some(Self {
            service,
            scope,
            operation,
            principal: hasher.finish(),
        })
    }
}

/// `subscriptions/{id}` of an ARM path, lower-cased; empty for tenant-level paths.
fn subscription_scope(url: &Url) -> String {
    let mut segments = url.path_segments().into_iter().flatten();
    while let Some(segment) = segments.next() {
        if segment.eq_ignore_ascii_case("subscriptions") {
            return segments
                .next()
                .map(|id| format!("subscriptions/{}", id.to_ascii_lowercase()))
                .unwrap_or_default();
        }
    }
    String::new()
}

/// What a caller may do about a bucket now.
#[derive(Debug)]
pub(super) enum Admission {
    /// Send; `tracked` when the bucket has a gate, whose bookkeeping the answer updates.
    Go { tracked: bool },
    /// Closed by a 429 until then, with what the service said.
    Closed(Closed),
    /// Open, but the last answers left no token and one is still awaited: look again soon.
    WaitForAnswer,
}

/// A 429's gate: until when, and what the service said.
#[derive(Clone, Debug)]
pub(super) struct Closed {
    pub until: SystemTime,
    pub code: String,
    pub message: String,
}

/// How a call on a gated bucket ended.
#[derive(Debug)]
pub(super) enum Answer<'a> {
    /// 429 with its `Retry-After`.
    Throttled {
        retry_after: Duration,
        code: &'a str,
        message: &'a str,
    },
    /// A success, with what Resource Manager says is left in the bucket
    /// (`x-ms-ratelimit-remaining-*`), when it says.
    Succeeded { remaining: Option<u32> },
    /// Any other failure: it says nothing about the bucket.
    Failed,
}

/// With this many tokens left after a 429, the bucket is treated as open again.
const PLENTY: u32 = 20;

/// A bucket that answered 429 lately. After its `Retry-After`, callers go out only as far as
/// the tokens the last answer reported: one probe first, then what each success says is
/// left, and with nothing left one probe a second (Resource Manager refills every second;
/// Graph sends no count). A gate is forgotten 10 minutes after its `Retry-After`. Everyone waking at once would empty a bucket again at once.
#[derive(Debug)]
struct Gate {
    closed: Closed,
    tokens: u32,
    in_flight: u32,
    answered_at: SystemTime,
}

/// The gates of one instance, shared by every clone of the HTTP stack.
#[derive(Clone, Debug, Default)]
pub(super) struct ThrottleGates(Arc<Mutex<HashMap<Bucket, Gate>>>);

impl ThrottleGates {
    /// Whether a call on `bucket` may go out at `now` (and if so, counts it as sent).
    pub(super) fn admit(&self, bucket: &Bucket, now: SystemTime) -> Admission {
        let Ok(mut gates) = self.0.lock() else {
            return Admission::Go { tracked: false };
        };
        let Some(gate) = gates.get_mut(bucket) else {
            return Admission::Go { tracked: false };
        };
        if gate.closed.until > now {
            return Admission::Closed(gate.closed.clone());
        }
        // One probe a second even while calls are out: a call whose invocation was dropped
        // never answers, and must not hold the bucket shut.
        let probe_due = now >= gate.answered_at + Duration::from_secs(1);
        if gate.tokens > 0 || probe_due {
            if gate.tokens == 0 {
                gate.answered_at = now;
            }
            gate.tokens = gate.tokens.saturating_sub(1);
            gate.in_flight += 1;
            return Admission::Go { tracked: true };
        }
        Admission::WaitForAnswer
    }

    /// A call on `bucket` ended at `now` with `answer`; `tracked` as [`Self::admit`] said.
    pub(super) fn answered(
        &self,
        bucket: &Bucket,
        tracked: bool,
        now: SystemTime,
        answer: &Answer<'_>,
    ) {
        let Ok(mut gates) = self.0.lock() else {
            return;
        };
        gates.retain(|_, g| g.closed.until + Duration::from_secs(600) > now);
        if let Answer::Throttled {
            retry_after,
            code,
            message,
        } = answer
        {
            let until = now + *retry_after;
            let gate = gates.entry(bucket.clone()).or_insert_with(|| Gate {
                closed: Closed {
                    until,
                    code: String::new(),
                    message: String::new(),
                },
                tokens: 0,
                in_flight: 0,
                answered_at: now,
            });
            if tracked {
                gate.in_flight = gate.in_flight.saturating_sub(1);
            }
            if gate.closed.until <= until {
                gate.closed = Closed {
                    until,
                    code: (*code).to_owned(),
                    message: (*message).to_owned(),
                };
            }
            gate.tokens = 0;
            gate.answered_at = now;
            return;
        }
        let Some(gate) = gates.get_mut(bucket) else {
            return;
        };
        if tracked {
            gate.in_flight = gate.in_flight.saturating_sub(1);
        }
        gate.answered_at = now;
        match answer {
            Answer::Succeeded { remaining: Some(n) } if *n < PLENTY => {
                gate.tokens = n.saturating_sub(gate.in_flight);
            }
            Answer::Succeeded { .. } => {
                gates.remove(bucket);
            }
            Answer::Failed | Answer::Throttled { .. } => {}
        }
    }
}

impl Bucket {
    /// What Resource Manager says is left in this bucket: the least of its
    /// `x-ms-ratelimit-remaining-{subscription,tenant}[-global]-{reads,writes,deletes}`
    /// headers for the call's operation type (Graph sends none).
    pub(super) fn remaining(&self, headers: &HeaderMap) -> Option<u32> {
        let word = match self.operation {
            Operation::Reads => "-reads",
            Operation::Writes => "-writes",
            Operation::Deletes => "-deletes",
            Operation::Any => return None,
        };
        headers
            .iter()
            .filter(|(name, _)| {
                let name = name.as_str();
                name.starts_with("x-ms-ratelimit-remaining-")
                    && !name.ends_with("-resource")
                    && name.ends_with(word)
            })
            .filter_map(|(_, v)| v.to_str().ok()?.trim().parse::<u32>().ok())
            .min()
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    fn headers(token: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            reqwest::header::AUTHORIZATION,
            HeaderValue::from_static(token),
        );
        h
    }

    fn arm(method: &Method, path: &str, token: &'static str) -> Bucket {
        let url = Url::parse(&format!("https://management.azure.com{path}")).unwrap();
        Bucket::of(Service::ResourceManager, method, &url, &headers(token)).unwrap()
    }

    #[test]
    fn resource_manager_buckets_are_per_subscription_operation_type_and_principal() {
        let vm =
            "/subscriptions/AAAA/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/v";
        let nic =
            "/subscriptions/aaaa/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/n";
        let other_subscription = "/subscriptions/bbbb/resourceGroups/rg";
        let put_vm = arm(&Method::PUT, vm, "Bearer a");
        // (call, same bucket as a PUT of the VM by principal a?)
        let cases = [
            (arm(&Method::PUT, nic, "Bearer a"), true),
            (arm(&Method::PATCH, vm, "Bearer a"), true),
            (arm(&Method::POST, nic, "Bearer a"), true),
            (arm(&Method::GET, vm, "Bearer a"), false),
            (arm(&Method::DELETE, vm, "Bearer a"), false),
            (arm(&Method::PUT, vm, "Bearer b"), false),
            (arm(&Method::PUT, other_subscription, "Bearer a"), false),
        ];
        for (n, (bucket, same)) in cases.iter().enumerate() {
            assert_eq!(&put_vm == bucket, *same, "case {n}: {bucket:?}");
        }
        let tenant_level = arm(
            &Method::GET,
            "/providers/Microsoft.Management/managementGroups",
            "Bearer a",
        );
        assert_eq!(tenant_level.scope, "");
    }

    #[test]
    fn services_without_kept_buckets_have_none() {
        let url = Url::parse("https://vault.vault.azure.net/secrets/s").unwrap();
        assert!(Bucket::of(Service::KeyVault, &Method::GET, &url, &headers("Bearer a")).is_none());
    }

    fn throttled(seconds: u64) -> Answer<'static> {
        Answer::Throttled {
            retry_after: Duration::from_secs(seconds),
            code: "SubscriptionRequestsThrottled",
            message: "m",
        }
    }

    fn goes(a: &Admission) -> bool {
        matches!(a, Admission::Go { .. })
    }

    #[test]
    fn a_gate_stays_closed_until_the_latest_retry_after_then_lets_one_probe_out() {
        let gates = ThrottleGates::default();
        let bucket = arm(&Method::PUT, "/subscriptions/s/x", "Bearer a");
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        assert!(matches!(
            gates.admit(&bucket, t0),
            Admission::Go { tracked: false }
        ));
        gates.answered(&bucket, false, t0, &throttled(10));
        gates.answered(&bucket, false, t0, &throttled(3));
        let Admission::Closed(closed) = gates.admit(&bucket, t0 + Duration::from_secs(9)) else {
            panic!("open before its Retry-After");
        };
        assert_eq!(
            closed.until,
            t0 + Duration::from_secs(10),
            "a shorter one does not reopen it"
        );
        let t1 = t0 + Duration::from_secs(10);
        assert!(
            matches!(gates.admit(&bucket, t1), Admission::Go { tracked: true }),
            "the probe"
        );
        assert!(
            matches!(gates.admit(&bucket, t1), Admission::WaitForAnswer),
            "one probe at a time"
        );
        // The probe says 2 are left: two more go, the third waits for an answer.
        gates.answered(&bucket, true, t1, &Answer::Succeeded { remaining: Some(2) });
        assert!(goes(&gates.admit(&bucket, t1)));
        assert!(goes(&gates.admit(&bucket, t1)));
        assert!(matches!(gates.admit(&bucket, t1), Admission::WaitForAnswer));
        // Plenty left: the gate is gone.
        gates.answered(
            &bucket,
            true,
            t1,
            &Answer::Succeeded {
                remaining: Some(150),
            },
        );
        gates.answered(
            &bucket,
            true,
            t1,
            &Answer::Succeeded {
                remaining: Some(150),
            },
        );
        assert!(matches!(
            gates.admit(&bucket, t1),
            Admission::Go { tracked: false }
        ));
        let other = arm(&Method::GET, "/subscriptions/s/x", "Bearer a");
        assert!(matches!(
            gates.admit(&other, t0),
            Admission::Go { tracked: false }
        ));
    }

    /// A write bucket answered 429 with `Retry-After: 1` at t0, and the moment it reopens.
    fn throttled_for_a_second() -> (ThrottleGates, Bucket, SystemTime) {
        let gates = ThrottleGates::default();
        let bucket = arm(&Method::PUT, "/subscriptions/s/x", "Bearer a");
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        gates.answered(&bucket, false, t0, &throttled(1));
        (gates, bucket, t0 + Duration::from_secs(1))
    }

    #[test]
    fn a_drained_bucket_lets_one_probe_out_a_second_after_its_last_answer() {
        let (gates, bucket, t1) = throttled_for_a_second();
        assert!(goes(&gates.admit(&bucket, t1)));
        gates.answered(&bucket, true, t1, &Answer::Succeeded { remaining: Some(0) });
        assert!(matches!(
            gates.admit(&bucket, t1 + Duration::from_millis(500)),
            Admission::WaitForAnswer
        ));
        assert!(goes(&gates.admit(&bucket, t1 + Duration::from_secs(1))));
    }

    #[test]
    fn a_call_that_never_answers_does_not_hold_the_bucket_shut() {
        let (gates, bucket, t1) = throttled_for_a_second();
        assert!(
            goes(&gates.admit(&bucket, t1)),
            "a probe whose invocation is then dropped"
        );
        assert!(matches!(gates.admit(&bucket, t1), Admission::WaitForAnswer));
        assert!(
            goes(&gates.admit(&bucket, t1 + Duration::from_secs(1))),
            "the next probe"
        );
    }

    #[test]
    fn the_remaining_count_is_the_least_of_the_operation_types_headers() {
        let bucket = arm(&Method::PUT, "/subscriptions/s/x", "Bearer a");
        let mut h = HeaderMap::new();
        h.insert(
            "x-ms-ratelimit-remaining-subscription-writes",
            HeaderValue::from_static("7"),
        );
        h.insert(
            "x-ms-ratelimit-remaining-subscription-global-writes",
            HeaderValue::from_static("2999"),
        );
        h.insert(
            "x-ms-ratelimit-remaining-subscription-reads",
            HeaderValue::from_static("1"),
        );
        h.insert(
            "x-ms-ratelimit-remaining-resource",
            HeaderValue::from_static("Microsoft.Compute/PutVM3Min;239"),
        );
        assert_eq!(bucket.remaining(&h), Some(7));
        assert_eq!(bucket.remaining(&HeaderMap::new()), None);
    }
}
