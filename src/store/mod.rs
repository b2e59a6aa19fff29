//! Where share requests live: one record per request, changed by compare-and-swap, with an
//! append-only history (DESIGN §2-§3).
//!
//! `memory` keeps everything in the process (the embedded local run and unit tests); `table`,
//! Azure Table Storage, is the production one. `contract` holds the properties both must have.

mod change;
#[doc(hidden)]
pub mod contract;
mod memory;
pub mod table;

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

pub use change::{Applied, Change, ChangeError, change, change_from};
pub use memory::MemoryStore;
pub use table::TableStore;

use crate::domain::{HistoryEntry, RejectedRequest, RequestId, ShareRequest, TenantId};

/// An opaque version tag: an update succeeds only against the version it was read at.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ETag(pub String);

/// A request as stored, with the version it was read at.
#[derive(Clone, Debug)]
pub struct Stored {
    /// The request.
    pub request: ShareRequest,
    /// Its version.
    pub etag: ETag,
}

/// What `create` found.
#[derive(Clone, Debug)]
pub enum Created {
    /// The request was new and is now stored.
    New(ETag),
    /// A request with that id already existed (an idempotent retry, or a reused key).
    Existing(Box<Stored>),
    /// The id belongs to a rejected submission (its key was used for an invalid document).
    Rejected,
}

/// What `create_rejected` found.
#[derive(Clone, Debug)]
pub enum RejectedCreated {
    /// The rejection is now stored.
    New,
    /// This rejection was already stored (a redelivered message).
    Existing(Box<RejectedRequest>),
    /// The id belongs to a real request (its key was used for a valid document).
    Taken,
}

/// One VM resource id held by one request, so a second active request for the same VM is
/// refused at intake (issue 11). The key is [`VmClaim::key_for`] of the VM's resource id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmClaim {
    /// SHA-256 (hex) of the lower-cased VM resource id: fixed length, and free of the `/`
    /// that table keys may not hold.
    pub key: String,
    /// The request holding the VM.
    pub request: RequestId,
    /// When it took the claim.
    pub claimed_at: OffsetDateTime,
}

impl VmClaim {
    /// The claim key of a VM resource id (ARM ids compare case-insensitively).
    pub fn key_for(vm_resource_id: &str) -> String {
        let digest = Sha256::digest(vm_resource_id.to_ascii_lowercase().as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Store failures. All are worth retrying except where noted.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Someone else changed the request since it was read: re-read and decide again.
    #[error("the request changed since it was read (etag mismatch)")]
    Conflict,
    /// The request does not exist.
    #[error("request {0} does not exist")]
    NotFound(RequestId),
    /// The storage service failed or could not be reached.
    #[error("the request store is unavailable: {0}")]
    Unavailable(String),
    /// A stored record could not be read back (a bug or a manual edit; not retryable).
    #[error("a stored request is corrupt: {0}")]
    Corrupt(String),
}

/// The request repository.
#[async_trait]
pub trait RequestStore: Send + Sync + std::fmt::Debug {
    /// Stores a new request and its first history entries, unless one with the same id exists.
    async fn create(
        &self,
        request: &ShareRequest,
        history: &[HistoryEntry],
    ) -> Result<Created, StoreError>;

    /// Reads a request.
    async fn get(&self, id: RequestId) -> Result<Option<Stored>, StoreError>;

    /// Replaces a request if it is still at `etag`, appending `history` in the same atomic
    /// write. Returns the new version.
    async fn update(
        &self,
        request: &ShareRequest,
        etag: &ETag,
        history: &[HistoryEntry],
    ) -> Result<ETag, StoreError>;

    /// A request's history, oldest first.
    async fn history(&self, id: RequestId) -> Result<Vec<HistoryEntry>, StoreError>;

    /// Stores a rejected submission and its one history entry, unless the id is in use.
    async fn create_rejected(
        &self,
        rejected: &RejectedRequest,
        entry: &HistoryEntry,
    ) -> Result<RejectedCreated, StoreError>;

    /// Reads a rejected submission.
    async fn get_rejected(&self, id: RequestId) -> Result<Option<RejectedRequest>, StoreError>;

    /// Requests the reconciler must look at: not in a terminal state, or ended with messages
    /// or events still in their outbox.
    async fn list_active(&self) -> Result<Vec<Stored>, StoreError>;

    /// Every request (ended ones included) whose consumer is `tenant`: who else uses that
    /// tenant's share app, credential and grants before a revocation or a release removes them.
    async fn list_for_consumer(&self, tenant: TenantId) -> Result<Vec<Stored>, StoreError>;

    /// The claim on a VM, with its version.
    async fn get_claim(&self, key: &str) -> Result<Option<(VmClaim, ETag)>, StoreError>;

    /// Writes a claim atomically: with `expected` `None` only if there is no claim on that
    /// key, else only if the claim is still at `expected`; `Conflict` otherwise. Returns the
    /// new version.
    async fn put_claim(&self, claim: &VmClaim, expected: Option<&ETag>)
    -> Result<ETag, StoreError>;
}
