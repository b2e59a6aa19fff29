//! imageshare: an Azure Functions custom handler that shares a private Azure Compute Gallery
//! image with another Entra tenant, end to end.
//!
//! Layout (DESIGN §4): `invocation` speaks the host's protocol, `api` holds the HTTP
//! functions, `steps` the queue functions, `store` the request repository, `domain` the
//! validated values and the state machine; `intake` validates submitted documents.

pub mod api;
pub mod app;
pub mod azure;
pub mod cloud;
pub mod config;
pub mod consent_state;
pub mod context;
pub mod domain;
pub mod events;
pub mod functions;
pub mod html;
pub mod intake;
pub mod invocation;
pub mod outbox;
pub mod queue;
pub mod secret;
pub mod simulator_clock;
pub mod status;
pub mod steps;
pub mod store;
pub mod telemetry;
pub mod webhook_signature;
