//! Where instances tell each other of 429s: each posts the gates its 429s closed, and reads
//! the others' about once a second, so that a bucket one instance emptied is not called by
//! the next instance before its `Retry-After` has passed (Resource Manager counts a principal's
//! calls together whichever instance sends them).
//!
//! The board is a port: the table store keeps it in the requests' table, next to the claims;
//! without a shared store there is one instance and nothing to share.

use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};

use async_trait::async_trait;

use super::throttle_gate::ThrottleGates;
pub use super::throttle_gate::{Closed, SharedGate};
use crate::store::StoreError;

/// Gates shared between instances.
#[async_trait]
pub trait ThrottleBoard: Send + Sync {
    /// Records `gate`, unless its bucket is already posted closed as long or longer.
    async fn post(&self, gate: &SharedGate) -> Result<(), StoreError>;

    /// Every gate still closed at `now`.
    async fn closed_at(&self, now: SystemTime) -> Result<Vec<SharedGate>, StoreError>;
}

/// How often an instance that calls Azure posts and reads the board.
pub const SHARE_EVERY: Duration = Duration::from_secs(1);

/// An instance that made no call for this long does not read the board (it has nothing to
/// hold back; the first call after that reads it within [`SHARE_EVERY`]).
const IDLE_AFTER: Duration = Duration::from_secs(60);

/// Posts this instance's 429s and merges the others', every [`SHARE_EVERY`], until dropped.
/// `now` is the clock `Retry-After` counts on.
pub(super) async fn share(
    gates: ThrottleGates,
    board: Arc<dyn ThrottleBoard>,
    now: impl Fn() -> SystemTime + Send,
) {
    gates.start_sharing();
    let mut tick = tokio::time::interval(SHARE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        exchange(&gates, board.as_ref(), now()).await;
    }
}

/// One round: post what is new here, merge what is closed there.
async fn exchange(gates: &ThrottleGates, board: &dyn ThrottleBoard, now: SystemTime) {
    for gate in gates.take_to_post() {
        if let Err(e) = board.post(&gate).await {
            // The other instances meet the bucket's 429 themselves: one call each, no more.
            tracing::warn!(error = %e, "could not share a 429 with the other instances");
        }
    }
    if !gates.used_within(IDLE_AFTER, now) {
        return;
    }
    match board.closed_at(now).await {
        Ok(closed) => {
            for gate in &closed {
                gates.merge(gate, now);
            }
        }
        Err(e) => tracing::debug!(error = %e, "could not read the other instances' 429s"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Mutex;

    use reqwest::{
        Method,
        header::{AUTHORIZATION, HeaderMap, HeaderValue},
    };
    use url::Url;

    use super::*;
    use crate::azure::{
        Service,
        throttle_gate::{Admission, Answer, Bucket},
    };

    /// A board in memory, as two instances on one store see it.
    #[derive(Default)]
    struct Board(Mutex<Vec<SharedGate>>);

    #[async_trait]
    impl ThrottleBoard for Board {
        async fn post(&self, gate: &SharedGate) -> Result<(), StoreError> {
            let mut all = self.0.lock().unwrap();
            all.retain(|g| g.bucket != gate.bucket || g.closed.until > gate.closed.until);
            if !all.iter().any(|g| g.bucket == gate.bucket) {
                all.push(gate.clone());
            }
            Ok(())
        }

        async fn closed_at(&self, now: SystemTime) -> Result<Vec<SharedGate>, StoreError> {
            let all = self.0.lock().unwrap();
            Ok(all
                .iter()
                .filter(|g| g.closed.until > now)
                .cloned()
                .collect())
        }
    }

    /// A JWT with these claims (unsigned: only the payload is read).
    fn bearer(tid: &str, oid: &str, nonce: &str) -> HeaderMap {
        use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
        let payload = serde_json::json!({"tid": tid, "oid": oid, "nonce": nonce});
        let token = format!(
            "eyJhbGciOiJub25lIn0.{}.sig",
            URL_SAFE_NO_PAD.encode(payload.to_string())
        );
        let mut h = HeaderMap::new();
        h.insert(
            AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
        );
        h
    }

    fn put_vm(headers: &HeaderMap) -> Bucket {
        let url = Url::parse("https://management.azure.com/subscriptions/S/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm").unwrap();
        Bucket::of(Service::ResourceManager, &Method::PUT, &url, headers).unwrap()
    }

    #[test]
    fn two_tokens_of_one_principal_name_one_bucket_and_another_principal_another() {
        let first = put_vm(&bearer("T", "O", "instance-1"));
        let second = put_vm(&bearer("t", "o", "instance-2"));
        let other = put_vm(&bearer("t", "someone-else", "instance-2"));
        assert_eq!(first.key(), second.key());
        assert_ne!(first.key(), other.key());
        assert!(!first.key().contains("instance"), "{}", first.key());
    }

    #[tokio::test]
    async fn a_429_of_one_instance_closes_the_other_instances_gate_until_its_retry_after() {
        let board = Board::default();
        let (one, two) = (ThrottleGates::default(), ThrottleGates::default());
        one.start_sharing();
        two.start_sharing();
        let (on_one, on_two) = (
            put_vm(&bearer("t", "o", "1")),
            put_vm(&bearer("t", "o", "2")),
        );
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(10_000);
        assert!(matches!(two.admit(&on_two, t0), Admission::Go { .. }));
        one.answered(
            &on_one,
            false,
            t0,
            &Answer::Throttled {
                retry_after: Duration::from_secs(17),
                code: "SubscriptionRequestsThrottled",
                message: "Number of 'write' requests ... exceeded",
            },
        );
        let t1 = t0 + Duration::from_secs(1);
        exchange(&one, &board, t1).await;
        exchange(&two, &board, t1).await;

        let Admission::Closed(closed) = two.admit(&on_two, t1) else {
            panic!("the other instance's gate stayed open");
        };
        assert_eq!(closed.until, t0 + Duration::from_secs(17));
        assert_eq!(closed.code, "SubscriptionRequestsThrottled");
        assert!(matches!(
            two.admit(&on_two, t0 + Duration::from_secs(17)),
            Admission::Go { tracked: true }
        ));
        // Merged gates are not posted again, and the poster's own stays as it was.
        assert!(two.take_to_post().is_empty());
        assert!(one.take_to_post().is_empty());
    }

    #[test]
    fn a_burst_of_429s_on_one_bucket_is_posted_once_with_its_latest_end() {
        let gates = ThrottleGates::default();
        gates.start_sharing();
        let bucket = put_vm(&bearer("t", "o", "1"));
        let other = put_vm(&bearer("t", "someone-else", "1"));
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(10_000);
        let throttled = |seconds| Answer::Throttled {
            retry_after: Duration::from_secs(seconds),
            code: "SubscriptionRequestsThrottled",
            message: "m",
        };
        for seconds in [5, 9, 2] {
            gates.answered(&bucket, false, t0, &throttled(seconds));
        }
        gates.answered(&other, false, t0, &throttled(1));
        let mut posts = gates.take_to_post();
        posts.sort_by_key(|g| g.closed.until);
        let ends: Vec<(String, SystemTime)> = posts
            .into_iter()
            .map(|g| (g.bucket, g.closed.until))
            .collect();
        assert_eq!(
            ends,
            vec![
                (other.key(), t0 + Duration::from_secs(1)),
                (bucket.key(), t0 + Duration::from_secs(9)),
            ]
        );
    }

    #[tokio::test]
    async fn an_idle_instance_does_not_read_the_board() {
        struct Unreadable;
        #[async_trait]
        impl ThrottleBoard for Unreadable {
            async fn post(&self, _: &SharedGate) -> Result<(), StoreError> {
                Ok(())
            }
            async fn closed_at(&self, _: SystemTime) -> Result<Vec<SharedGate>, StoreError> {
                panic!("read by an instance that made no call")
            }
        }
        let gates = ThrottleGates::default();
        exchange(&gates, &Unreadable, SystemTime::now()).await;
    }
}
