//! The local run of imageshare: `azure-sim` (simulated Entra, Graph, Key Vault, Service Bus
//! and Resource Manager), `func-host` (the local Functions host) and the handler, started
//! together with every Azure call pointed at the simulator. `--demo` drives one share request
//! from submission to a running VM, playing the consumer's admin in a browser (`--strategy lighthouse`: a delegation instead). Requests are
//! kept in Table Storage on Azurite unless the run is asked to keep them in memory.

pub mod admin;
pub mod azurite;
pub mod browser;
pub mod demo;
pub mod direct_share;
pub mod fleet;
pub mod lighthouse;
pub mod rbac_guest;
pub mod requests;
pub mod stack;
