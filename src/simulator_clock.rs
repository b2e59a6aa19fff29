//! The handler's clock when every Azure call goes to `azure-sim` (`IMAGESHARE_SIMULATED_CLOUD`):
//! the simulator's time, so that a test which moves the simulator's clock (a delegation's
//! expiry, a consent deadline) moves the handler's too, under the real Functions host.
//!
//! The transport follows the simulator's offset (`azure_transport`'s `simulated_time`); between
//! its reads the handler may run a fraction of a second behind a jump, and steps that find
//! themselves early look again at the time they wait for. Never used against the real cloud.

use azure_transport::Transport;
use time::OffsetDateTime;

use crate::context::Clock;

/// Real time plus the simulator's offset, as the transport last read it.
#[derive(Debug, Clone)]
pub struct SimulatorClock(Transport);

impl SimulatorClock {
    /// Follows the simulator `transport` routes to; `None` for the real cloud. Needs a Tokio
    /// runtime.
    pub fn follow(transport: &Transport) -> Option<Self> {
        if !transport.is_simulated() {
            return None;
        }
        transport.follow_simulator_clock();
        Some(Self(transport.clone()))
    }
}

impl Clock for SimulatorClock {
    fn now(&self) -> OffsetDateTime {
        let offset = time::Duration::try_from(self.0.simulated_offset()).unwrap_or_default();
        OffsetDateTime::now_utc() + offset
    }
}
