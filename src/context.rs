//! What every function needs, built once at start-up and shared by all invocations.

use std::sync::Arc;

use azure_transport::Transport;
use time::OffsetDateTime;
use url::Url;

use crate::{
    cloud::Cloud, config::Settings, events::EventSink, queue::StepQueue, store::RequestStore,
};

/// The current time. Injected so tests can move it (deadlines, expiry).
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now, in UTC.
    fn now(&self) -> OffsetDateTime;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// The shared services of the function app.
#[derive(Clone, Debug)]
pub struct AppContext {
    /// Settings.
    pub settings: Arc<Settings>,
    /// The request store.
    pub store: Arc<dyn RequestStore>,
    /// Where step messages go.
    pub queue: Arc<dyn StepQueue>,
    /// Where status events go.
    pub events: Arc<dyn EventSink>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// The Azure clients; `None` where only the HTTP API is exercised (tests).
    pub cloud: Option<Arc<Cloud>>,
    /// The outbound transport, also used to turn Azure URLs into links a browser can open
    /// when the cloud is simulated (DESIGN §5: rewritten at the edge only).
    pub transport: Transport,
}

impl AppContext {
    /// A link for a person: the real URL, or its simulator address in simulated mode.
    pub fn browser_link(&self, url: &Url) -> String {
        self.transport.resolve(url).to_string()
    }
}
