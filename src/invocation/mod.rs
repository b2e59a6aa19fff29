//! The Functions host's custom-handler protocol: what arrives and what goes back.
//!
//! Every decoding quirk of the real host lives here and nowhere else
//! (reference/functions-custom-handler.md §2-§4): strings JSON-encoded a second time, integers
//! as strings, `DateTime` without an offset, base64 for `dataType: binary`, SDK objects mixed
//! into Metadata, and message-body fields merged into Metadata. Steps receive typed values.

pub mod admission;
mod context;
mod envelope;
mod reply;
mod service_bus;

pub use context::{INVOCATION_ID_HEADER, InvocationId, invocation_span};
pub use envelope::{DecodeError, InvocationRequest};
pub use reply::InvocationReply;
pub use service_bus::{BodyEncoding, ServiceBusMessage};
