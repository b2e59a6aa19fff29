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
//! The principal is told apart by its token's `tid` and `oid` claims (the tenant and the
//! service principal's object id, what Resource Manager names the `actor` in its 429s and
//! Graph's app-and-tenant bucket is keyed by), so another instance, with its own token for
//! the same principal, names the same bucket. A bearer value that is no JWT is told apart by
//! a hash (never the token itself).
//!
//! Compute's own limits (`PutVM3Min`, per subscription and operation) answer 429 too; their
//! gate is the principal's writes in that subscription, which also holds back the principal's
//! network writes there for the `Retry-After`: more cautious than Compute asks, never less.
//!
//! Each instance keeps its own gates, and with a [`super::throttle_board`] shares them: a 429
//! is posted there, and what other instances posted closes this one's gate too, a second or
//! two after their 429 (not a read per call).

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
    /// `{tid}/{oid}` of the caller's token, or `token:{hash}` when it is no JWT.
    principal: String,
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
        let authorization = headers
            .get(reqwest::header::AUTHORIZATION)
            .map(reqwest::header::HeaderValue::as_bytes);
        Some(Self {
            service,
            scope,
            operation,
            principal: principal_of(authorization),
        })
    }

    /// The bucket as one line, the same on every instance: its key on the board.
    pub(super) fn key(&self) -> String {
        let operation = match self.operation {
            Operation::Reads => "reads",
            Operation::Writes => "writes",
            Operation::Deletes => "deletes",
            Operation::Any => "any",
        };
        format!(
            "{}|{}|{operation}|{}",
            self.service, self.scope, self.principal
        )
    }
}

/// `{tid}/{oid}` of a bearer JWT (identifiers, not secrets), else a hash of the value.
fn principal_of(authorization: Option<&[u8]>) -> String {
    let token = authorization
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    // Every call names its bucket: the payload is decoded once for both claims.
    let claims = token.and_then(super::tokens::jwt_claims);
    let claim = |name: &str| {
        claims
            .as_ref()
            .and_then(|c| c.get(name))
            .and_then(|v| v.as_str().map(str::to_ascii_lowercase))
    };
    if let (Some(tid), Some(oid)) = (claim("tid"), claim("oid")) {
        return format!("{tid}/{oid}");
    }
    let mut hasher = DefaultHasher::new();
    authorization.hash(&mut hasher);
    format!("token:{:016x}", hasher.finish())
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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Closed {
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

/// A gate as instances share it: the bucket's [`Bucket::key`], and its 429.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedGate {
    /// The bucket.
    pub bucket: String,
    /// Closed until then, with what the service said.
    pub closed: Closed,
}

/// The gates of one instance, shared by every clone of the HTTP stack.
#[derive(Clone, Debug, Default)]
pub(super) struct ThrottleGates(Arc<Mutex<Gates>>);

#[derive(Debug, Default)]
struct Gates {
    by_bucket: HashMap<String, Gate>,
    /// 429s this instance received, for the board (only while one is attached).
    to_post: Vec<SharedGate>,
    sharing: bool,
    /// When a call last went out: an idle instance need not read the board.
    last_call: Option<SystemTime>,
}

/// At most this many buckets' 429s wait for the board in one round.
const TO_POST_MAX: usize = 256;

impl ThrottleGates {
    /// Whether a call on `bucket` may go out at `now` (and if so, counts it as sent).
    pub(super) fn admit(&self, bucket: &Bucket, now: SystemTime) -> Admission {
        let Ok(mut inner) = self.0.lock() else {
            return Admission::Go { tracked: false };
        };
        inner.last_call = Some(now);
        let Some(gate) = inner.by_bucket.get_mut(&bucket.key()) else {
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
        let Ok(mut inner) = self.0.lock() else {
            return;
        };
        let inner = &mut *inner;
        inner
            .by_bucket
            .retain(|_, g| g.closed.until + Duration::from_secs(600) > now);
        let key = bucket.key();
        if let Answer::Throttled {
            retry_after,
            code,
            message,
        } = answer
        {
            let until = now + *retry_after;
            if inner.sharing {
                let shared = SharedGate {
                    bucket: key.clone(),
                    closed: Closed {
                        until,
                        code: (*code).to_owned(),
                        message: (*message).to_owned(),
                    },
                };
                // One post per bucket and round, with its latest end: a burst of 429s on
                // one bucket is one write to the board, not one each.
                let room = inner.to_post.len() < TO_POST_MAX;
                match inner.to_post.iter_mut().find(|g| g.bucket == key) {
                    Some(posted) if posted.closed.until < until => *posted = shared,
                    Some(_) => {}
                    None if room => inner.to_post.push(shared),
                    None => {}
                }
            }
            let gate = inner.by_bucket.entry(key).or_insert_with(|| Gate {
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
        let Some(gate) = inner.by_bucket.get_mut(&key) else {
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
                inner.by_bucket.remove(&key);
            }
            Answer::Failed | Answer::Throttled { .. } => {}
        }
    }

    /// From now on, 429s are kept for [`Self::take_to_post`].
    pub(super) fn start_sharing(&self) {
        if let Ok(mut inner) = self.0.lock() {
            inner.sharing = true;
        }
    }

    /// The 429s received since the last call, for the board.
    pub(super) fn take_to_post(&self) -> Vec<SharedGate> {
        self.0
            .lock()
            .map(|mut inner| std::mem::take(&mut inner.to_post))
            .unwrap_or_default()
    }

    /// Whether a call went out in the `last` before `now`.
    pub(super) fn used_within(&self, last: Duration, now: SystemTime) -> bool {
        self.0
            .lock()
            .ok()
            .and_then(|inner| inner.last_call)
            .is_some_and(|at| at + last > now)
    }

    /// Another instance's 429: closes this bucket's gate until then, unless it already is
    /// closed as long. Not posted again.
    pub(super) fn merge(&self, shared: &SharedGate, now: SystemTime) {
        if shared.closed.until <= now {
            return;
        }
        let Ok(mut inner) = self.0.lock() else {
            return;
        };
        let gate = inner
            .by_bucket
            .entry(shared.bucket.clone())
            .or_insert_with(|| Gate {
                closed: shared.closed.clone(),
                tokens: 0,
                in_flight: 0,
                answered_at: now,
            });
        if gate.closed.until < shared.closed.until {
            gate.closed = shared.closed.clone();
            gate.tokens = 0;
            gate.answered_at = now;
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
