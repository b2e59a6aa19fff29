//! An in-process store with the same compare-and-swap semantics as the table store.

use std::{collections::HashMap, sync::Mutex};

use async_trait::async_trait;

use super::{Created, ETag, RejectedCreated, RequestStore, StoreError, Stored, VmClaim};
use crate::domain::{HistoryEntry, RejectedRequest, RequestId, ShareRequest, TenantId};

#[derive(Debug)]
struct Entry {
    request: ShareRequest,
    version: u64,
    history: Vec<HistoryEntry>,
}

/// Requests kept in memory; lost when the process exits.
#[derive(Debug, Default)]
pub struct MemoryStore {
    entries: Mutex<HashMap<RequestId, Entry>>,
    rejected: Mutex<HashMap<RequestId, (RejectedRequest, Vec<HistoryEntry>)>>,
    claims: Mutex<HashMap<String, (VmClaim, u64)>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many requests are stored.
    pub fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, HashMap<RequestId, Entry>>, StoreError> {
        // A poisoned lock means a panic mid-update; the map itself is still consistent because
        // every update is a single insert.
        Ok(self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

fn etag(version: u64) -> ETag {
    ETag(format!("W/\"{version}\""))
}

#[async_trait]
impl RequestStore for MemoryStore {
    async fn create(
        &self,
        request: &ShareRequest,
        history: &[HistoryEntry],
    ) -> Result<Created, StoreError> {
        let rejected = self
            .rejected
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut entries = self.lock()?;
        if rejected.contains_key(&request.id) {
            return Ok(Created::Rejected);
        }
        if let Some(existing) = entries.get(&request.id) {
            return Ok(Created::Existing(Box::new(Stored {
                request: existing.request.clone(),
                etag: etag(existing.version),
            })));
        }
        entries.insert(
            request.id,
            Entry {
                request: request.clone(),
                version: 1,
                history: history.to_vec(),
            },
        );
        Ok(Created::New(etag(1)))
    }

    async fn get(&self, id: RequestId) -> Result<Option<Stored>, StoreError> {
        Ok(self.lock()?.get(&id).map(|e| Stored {
            request: e.request.clone(),
            etag: etag(e.version),
        }))
    }

    async fn update(
        &self,
        request: &ShareRequest,
        expected: &ETag,
        history: &[HistoryEntry],
    ) -> Result<ETag, StoreError> {
        let mut entries = self.lock()?;
        let entry = entries
            .get_mut(&request.id)
            .ok_or(StoreError::NotFound(request.id))?;
        if etag(entry.version) != *expected {
            return Err(StoreError::Conflict);
        }
        entry.version += 1;
        entry.request = request.clone();
        entry.history.extend_from_slice(history);
        Ok(etag(entry.version))
    }

    async fn history(&self, id: RequestId) -> Result<Vec<HistoryEntry>, StoreError> {
        if let Some(e) = self.lock()?.get(&id) {
            return Ok(e.history.clone());
        }
        let rejected = self
            .rejected
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(rejected
            .get(&id)
            .map(|(_, h)| h.clone())
            .unwrap_or_default())
    }

    async fn create_rejected(
        &self,
        rejected: &RejectedRequest,
        entry: &HistoryEntry,
    ) -> Result<RejectedCreated, StoreError> {
        // Same lock order as `create`.
        let mut all = self
            .rejected
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.lock()?.contains_key(&rejected.id) {
            return Ok(RejectedCreated::Taken);
        }
        if let Some((existing, _)) = all.get(&rejected.id) {
            return Ok(RejectedCreated::Existing(Box::new(existing.clone())));
        }
        all.insert(rejected.id, (rejected.clone(), vec![entry.clone()]));
        Ok(RejectedCreated::New)
    }

    async fn get_rejected(&self, id: RequestId) -> Result<Option<RejectedRequest>, StoreError> {
        let rejected = self
            .rejected
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(rejected.get(&id).map(|(r, _)| r.clone()))
    }

    async fn get_claim(&self, key: &str) -> Result<Option<(VmClaim, ETag)>, StoreError> {
        let claims = self
            .claims
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(claims.get(key).map(|(c, v)| (c.clone(), etag(*v))))
    }

    async fn put_claim(
        &self,
        claim: &VmClaim,
        expected: Option<&ETag>,
    ) -> Result<ETag, StoreError> {
        let mut claims = self
            .claims
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let version = match (claims.get(&claim.key), expected) {
            (None, None) => 1,
            (Some((_, v)), Some(e)) if etag(*v) == *e => v + 1,
            _ => return Err(StoreError::Conflict),
        };
        claims.insert(claim.key.clone(), (claim.clone(), version));
        Ok(etag(version))
    }

    async fn list_active(&self) -> Result<Vec<Stored>, StoreError> {
        Ok(self
            .lock()?
            .values()
            .filter(|e| e.request.needs_reconciling())
            .map(|e| Stored {
                request: e.request.clone(),
                etag: etag(e.version),
            })
            .collect())
    }

    async fn list_for_consumer(&self, tenant: TenantId) -> Result<Vec<Stored>, StoreError> {
        Ok(self
            .lock()?
            .values()
            .filter(|e| e.request.consumer.tenant_id == tenant)
            .map(|e| Stored {
                request: e.request.clone(),
                etag: etag(e.version),
            })
            .collect())
    }
}
