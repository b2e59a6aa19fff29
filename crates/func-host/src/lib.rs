//! A local Azure Functions host for custom-handler apps.
//!
//! It runs an app directory laid out as the deployed zip (`host.json`, the handler
//! executable, `<FunctionName>/function.json`) the way the Functions host does,
//! including the protocol quirks documented in
//! `shared/reference/functions-custom-handler.md`: doubly JSON-encoded strings, the
//! body-merge into Metadata, the base64 trap on outputs, restart on functionTimeout.

pub mod error;
pub mod function_json;
pub mod host;
pub mod host_json;
pub mod http_trigger;
pub mod invocation_body;
pub mod invoke;
mod json_ci;
pub mod ncrontab;
pub mod netjson;
pub mod output_conversion;
pub mod request_body;
pub mod route;
pub mod servicebus;
pub mod settings;
pub mod stage;
pub mod timer;
pub mod timespan;
pub mod worker;

pub use error::{ConfigError, HostError, StageError};
pub use host::{FunctionSummary, HostOptions, RunningHost, StopHandle, start};
pub use stage::{StageOptions, StagedApp, stage_app};
