//! Service Bus REST (`{namespace}.servicebus.windows.net`).

pub mod broker;
mod http;
pub mod sas;

pub use http::ServiceBus;
