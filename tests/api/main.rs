//! Black-box tests of the function app: the handler as the Functions host sees it.

// Tests may panic on unexpected values: that is how they fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bad_input;
mod callers;
mod helpers;
mod layout;
mod openapi;
mod process;
mod properties;
mod protocol;
mod queue_intake;
mod same_tenant;
mod submit;
