//! End to end: the built `handler` under func-host, every Azure call to azure-sim, Service Bus
//! doing the delivery. Slow-ish (real processes, real queues); the pipeline's corner cases are
//! in `tests/pipeline`.

// Tests may panic on unexpected values: that is how they fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod callers;
mod direct_share;
mod fleet;
mod lighthouse;
mod local_store;
mod logs;
mod one_visit;
mod packaged;
mod pages;
mod queued;
mod rbac_guest;
mod revoke;
mod stack;
mod two_instances;
mod web;
