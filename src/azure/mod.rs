//! Clients of the Azure services the pipeline calls, over one HTTP stack and one transport.

pub mod arm;
pub mod authorization_code;
pub mod deletion;
pub mod discovery;
mod error;
pub mod graph;
pub mod guests;
mod http;
pub mod keyvault;
pub mod service_bus;
pub mod throttle_board;
mod throttle_gate;
mod tokens;

pub use error::{AzureError, Service};
pub use http::{ApiCall, ApiResponse, Body, HttpStack, RetryPolicy};
pub use tokens::{AccessToken, AppCredential, Secret, Tokens, scopes};
