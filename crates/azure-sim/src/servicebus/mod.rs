//! Service Bus REST (`{namespace}.servicebus.windows.net`).

mod auth;
pub mod broker;
mod http;
pub mod message;
pub mod sas;

pub use http::ServiceBus;
