//! What every function needs, built once at start-up and shared by all invocations.

use std::sync::Arc;

use time::OffsetDateTime;

use crate::{config::Settings, steps::StepQueue, store::RequestStore};

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
    /// The clock.
    pub clock: Arc<dyn Clock>,
}
