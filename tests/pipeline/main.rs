//! The pipeline against simulated Azure, with the host's delivery played deterministically:
//! messages delivered in order, twice, concurrently, after a crash, and time moved by the
//! simulator's clock instead of waited for.

// Tests may panic on unexpected values: that is how they fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod approval;
mod approval_page;
mod clients;
mod deployments;
mod direct_share;
mod faults;
mod happy_path;
mod harness;
mod idempotency;
mod lifecycle;
mod lighthouse;
mod one_per_vm;
mod one_visit;
mod overwrite;
mod rbac_guest;
mod revocation;
mod shared_reads;
