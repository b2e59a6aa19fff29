//! The extension point: each simulated Azure host is a [`HostService`]; more can be added
//! through [`crate::SimBuilder::service`].

use axum::response::Response;

use crate::{context::SimContext, request::HostRequest};

/// One simulated Azure service, answering for some hosts.
#[async_trait::async_trait]
pub trait HostService: Send + Sync + 'static {
    /// A short name for logs (`graph`).
    fn name(&self) -> &'static str;

    /// True when this service answers for `host` (lower-case).
    fn serves(&self, host: &str) -> bool;

    /// Answers one request. Faults, recording and secret scanning happen around this call.
    async fn handle(&self, ctx: SimContext, request: HostRequest) -> Response;
}
