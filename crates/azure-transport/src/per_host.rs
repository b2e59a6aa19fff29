//! A cap on the calls one process has out at once to one host.
//!
//! A burst of step invocations (a wave of shares releases hundreds at once) would otherwise
//! open a connection per call: the fleet bench saw one handler hold 1,856 sockets, 719 of
//! them to the table store, and 115 MiB of memory, most of it connection buffers. Waiting
//! for a slot here queues the calls in the process instead of in a slow service's accept
//! queue (Azurite answered 503 with about 120 calls at once). Each call holding a slot is
//! itself bounded by the transport's connect and read timeouts, so a wait here ends.
//!
//! The cap is per host (`host:port` after routing) so that a slow table store does not hold
//! up Resource Manager calls; in simulated mode every Azure service shares the simulator's.

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, Mutex},
};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use url::Url;

/// The default cap: far above what Resource Manager's and Graph's budgets let one process
/// use (a few hundred calls per second at tens of milliseconds each), far below what a
/// process can hold open cheaply.
pub const DEFAULT_CALLS_PER_HOST: usize = 32;

/// One semaphore per destination host.
pub(crate) struct HostLimits {
    per_host: usize,
    hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl HostLimits {
    pub(crate) fn new(per_host: usize) -> Self {
        Self {
            per_host: per_host.max(1),
            hosts: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn per_host(&self) -> usize {
        self.per_host
    }

    /// Waits for a slot for a call to `url` (already routed). Slots are handed out in the
    /// order they were asked for (Tokio's semaphore is fair).
    pub(crate) async fn acquire(&self, url: &Url) -> Option<OwnedSemaphorePermit> {
        let key = format!(
            "{}:{}",
            url.host_str().unwrap_or_default(),
            url.port_or_known_default().unwrap_or_default()
        );
        let semaphore = {
            // A poisoned map only means another thread panicked while inserting; the map
            // itself is still whole.
            let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
            hosts
                .entry(key)
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_host)))
                .clone()
        };
        // The semaphore is never closed, so this is always a permit.
        semaphore.acquire_owned().await.ok()
    }
}

impl fmt::Debug for HostLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostLimits")
            .field("per_host", &self.per_host)
            .finish_non_exhaustive()
    }
}
