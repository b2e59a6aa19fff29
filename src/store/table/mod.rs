//! The production request store: Azure Table Storage over its REST API (DESIGN §2).
//!
//! Each request is one partition: a record entity and one entity per history entry (see
//! [`entities`]). Every write is one entity group transaction, so a record and the history
//! that explains it change together or not at all, and an update carries the record's ETag
//! (`If-Match`) so concurrent writers cannot lose each other's changes.
//!
//! Calls go through the shared [`Transport`], so a simulated cloud routes `https://` table
//! endpoints like every other Azure call; the emulator's `http://127.0.0.1` endpoint is used
//! as it is.

mod auth;
mod batch;
mod client;
mod connection;
mod entities;
mod throttle_board;

use std::{fmt, sync::Arc};

use async_trait::async_trait;
use azure_transport::Transport;

pub use auth::{BearerSource, STORAGE_SCOPE, TokenError};
pub use client::API_VERSION;
pub use connection::{TableConfigError, endpoint_for_account};

use self::{
    auth::Credential,
    batch::Operation,
    client::{Client, ServiceError, entity_etag},
    connection::ConnectionString,
    entities::{CLAIM_ROW, HISTORY_END, HISTORY_PREFIX, RECORD_ROW, REJECTED_ROW},
};
use super::{Created, ETag, RejectedCreated, RequestStore, StoreError, Stored, VmClaim};
use crate::domain::{HistoryEntry, RejectedRequest, RequestId, ShareRequest, TenantId};

/// The table used when the configuration names none.
pub const DEFAULT_TABLE: &str = "ShareRequests";

/// Requests in an Azure Storage table.
#[derive(Clone)]
pub struct TableStore {
    client: Client,
    /// Tenant-wide lists read at once by this instance (see [`LISTS_AT_ONCE`]).
    lists: Arc<tokio::sync::Semaphore>,
}

/// A list of one tenant's requests holds every record of the tenant in memory (its raw
/// page and the records); with 300 requests for one tenant, steps of the wave reading it
/// together went with a handler peak of about 70 MiB instead of 32. More at once would only
/// queue at the table service.
const LISTS_AT_ONCE: usize = 4;

impl fmt::Debug for TableStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The client's Debug shows the endpoint, table and credential kind, never a key.
        f.debug_struct("TableStore")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

impl TableStore {
    /// A store signing with the account key of a storage connection string (the value of
    /// `AzureWebJobsStorage`, including `UseDevelopmentStorage=true`).
    pub fn from_connection_string(
        connection_string: &str,
        table: &str,
        transport: Transport,
    ) -> Result<Self, TableConfigError> {
        let parsed = ConnectionString::parse(connection_string)?;
        Self::new(
            transport,
            parsed.endpoint,
            table,
            Credential::SharedKey(parsed.key),
        )
    }

    /// A store authorized by Entra tokens for an identity-based connection: `endpoint` is
    /// `AzureWebJobsStorage__tableServiceUri`, or [`endpoint_for_account`] of
    /// `AzureWebJobsStorage__accountName`.
    pub fn with_bearer(
        endpoint: &str,
        table: &str,
        tokens: Arc<dyn BearerSource>,
        transport: Transport,
    ) -> Result<Self, TableConfigError> {
        Self::new(
            transport,
            connection::endpoint(endpoint)?,
            table,
            Credential::Bearer(tokens),
        )
    }

    fn new(
        transport: Transport,
        endpoint: url::Url,
        table: &str,
        credential: Credential,
    ) -> Result<Self, TableConfigError> {
        let table = connection::table_name(table)?.to_owned();
        Ok(Self {
            client: Client::new(transport, endpoint, table, credential),
            lists: Arc::new(tokio::sync::Semaphore::new(LISTS_AT_ONCE)),
        })
    }

    /// Asks for at most `n` entities per query page instead of the service's 1000, so paging
    /// can be exercised (and observed) with few entities.
    #[must_use]
    pub fn with_page_size(mut self, n: u32) -> Self {
        self.client.set_page_size(n.max(1));
        self
    }

    /// The table service endpoint.
    pub fn endpoint(&self) -> &url::Url {
        self.client.endpoint()
    }

    /// The table name.
    pub fn table(&self) -> &str {
        self.client.table()
    }

    /// Creates the table if it does not exist yet (run once at start-up).
    pub async fn ensure_table(&self) -> Result<(), StoreError> {
        self.client.create_table().await
    }

    fn history_operations(
        &self,
        id: RequestId,
        history: &[HistoryEntry],
    ) -> Result<Vec<Operation>, StoreError> {
        let table = self.client.table_url()?;
        history
            .iter()
            .map(|entry| {
                Ok(Operation::Insert {
                    table: table.clone(),
                    entity: entities::history(id, entry)?,
                })
            })
            .collect()
    }

    fn stored(
        entity: &serde_json::Map<String, serde_json::Value>,
        etag: String,
    ) -> Result<Stored, StoreError> {
        Ok(Stored {
            request: entities::parse_record(entity)?,
            etag: ETag(etag),
        })
    }
}

/// The ETag of operation 0 (the record) in a successful transaction.
fn record_etag(parts: &[batch::Part]) -> Result<ETag, StoreError> {
    parts
        .first()
        .and_then(|p| p.header("etag"))
        .map(|e| ETag(e.to_owned()))
        .ok_or_else(|| {
            StoreError::Unavailable("the table service did not return the record's ETag".to_owned())
        })
}

#[async_trait]
impl RequestStore for TableStore {
    async fn create(
        &self,
        request: &ShareRequest,
        history: &[HistoryEntry],
    ) -> Result<Created, StoreError> {
        let mut operations = vec![Operation::Insert {
            table: self.client.table_url()?,
            entity: entities::record(request)?,
        }];
        operations.extend(self.history_operations(request.id, history)?);
        match self.client.transact(&operations).await? {
            Ok(parts) => Ok(Created::New(record_etag(&parts)?)),
            Err((_, e)) if e.status == 409 && e.code == "EntityAlreadyExists" => {
                if let Some(existing) = self.get(request.id).await? {
                    return Ok(Created::Existing(Box::new(existing)));
                }
                // The first history row is taken by a rejected submission's.
                match self.get_rejected(request.id).await? {
                    Some(_) => Ok(Created::Rejected),
                    None => Err(StoreError::Corrupt(format!(
                        "request {} has history rows but no record",
                        request.id
                    ))),
                }
            }
            Err((_, e)) => Err(e.into_store_error()),
        }
    }

    async fn get(&self, id: RequestId) -> Result<Option<Stored>, StoreError> {
        match self.client.get_entity(&id.to_string(), RECORD_ROW).await? {
            Some((entity, etag)) => Self::stored(&entity, etag).map(Some),
            None => Ok(None),
        }
    }

    async fn update(
        &self,
        request: &ShareRequest,
        etag: &ETag,
        history: &[HistoryEntry],
    ) -> Result<ETag, StoreError> {
        // The record goes first so a stale ETag is what the service reports.
        let mut operations = vec![Operation::Replace {
            entity_url: self
                .client
                .entity_url(&request.id.to_string(), RECORD_ROW)?,
            if_match: etag.0.clone(),
            entity: entities::record(request)?,
        }];
        operations.extend(self.history_operations(request.id, history)?);
        match self.client.transact(&operations).await? {
            Ok(parts) => record_etag(&parts),
            Err((_, e)) => Err(update_error(request.id, e)),
        }
    }

    async fn history(&self, id: RequestId) -> Result<Vec<HistoryEntry>, StoreError> {
        let filter = format!(
            "PartitionKey eq {} and RowKey ge {} and RowKey lt {}",
            client::literal(&id.to_string()),
            client::literal(HISTORY_PREFIX),
            client::literal(HISTORY_END)
        );
        let rows = self.client.query(&filter).await?;
        let mut entries = rows
            .iter()
            .map(entities::parse_history)
            .collect::<Result<Vec<_>, _>>()?;
        // The service returns a partition in RowKey order already; sorting keeps the promise
        // even for a backend that does not.
        entries.sort_by_key(|e| e.seq);
        Ok(entries)
    }

    async fn create_rejected(
        &self,
        rejected: &RejectedRequest,
        entry: &HistoryEntry,
    ) -> Result<RejectedCreated, StoreError> {
        // The shared first history row makes a rejection and a request with one id
        // mutually exclusive in one transaction.
        let mut operations = vec![Operation::Insert {
            table: self.client.table_url()?,
            entity: entities::rejected(rejected)?,
        }];
        operations.extend(self.history_operations(rejected.id, std::slice::from_ref(entry))?);
        match self.client.transact(&operations).await? {
            Ok(_) => Ok(RejectedCreated::New),
            Err((_, e)) if e.status == 409 && e.code == "EntityAlreadyExists" => {
                if self.get(rejected.id).await?.is_some() {
                    return Ok(RejectedCreated::Taken);
                }
                match self.get_rejected(rejected.id).await? {
                    Some(existing) => Ok(RejectedCreated::Existing(Box::new(existing))),
                    None => Err(StoreError::Corrupt(format!(
                        "request {} has history rows but no record",
                        rejected.id
                    ))),
                }
            }
            Err((_, e)) => Err(e.into_store_error()),
        }
    }

    async fn get_rejected(&self, id: RequestId) -> Result<Option<RejectedRequest>, StoreError> {
        match self
            .client
            .get_entity(&id.to_string(), REJECTED_ROW)
            .await?
        {
            Some((entity, _)) => entities::parse_rejected(&entity).map(Some),
            None => Ok(None),
        }
    }

    async fn get_claim(&self, key: &str) -> Result<Option<(VmClaim, ETag)>, StoreError> {
        match self
            .client
            .get_entity(&entities::claim_partition(key), CLAIM_ROW)
            .await?
        {
            Some((entity, etag)) => Ok(Some((entities::parse_claim(&entity)?, ETag(etag)))),
            None => Ok(None),
        }
    }

    async fn put_claim(
        &self,
        claim: &VmClaim,
        expected: Option<&ETag>,
    ) -> Result<ETag, StoreError> {
        // Insert fails on an existing entity, Replace on a changed one: the service decides
        // atomically, so two admissions racing for one VM cannot both win.
        let operation = match expected {
            None => Operation::Insert {
                table: self.client.table_url()?,
                entity: entities::claim(claim)?,
            },
            Some(etag) => Operation::Replace {
                entity_url: self
                    .client
                    .entity_url(&entities::claim_partition(&claim.key), CLAIM_ROW)?,
                if_match: etag.0.clone(),
                entity: entities::claim(claim)?,
            },
        };
        match self
            .client
            .transact(std::slice::from_ref(&operation))
            .await?
        {
            Ok(parts) => record_etag(&parts),
            Err((_, e))
                if matches!(
                    (e.status, e.code.as_str()),
                    (409, "EntityAlreadyExists") | (412, _) | (404, "ResourceNotFound")
                ) =>
            {
                Err(StoreError::Conflict)
            }
            Err((_, e)) => Err(e.into_store_error()),
        }
    }

    async fn list_active(&self) -> Result<Vec<Stored>, StoreError> {
        let filter = format!(
            "RowKey eq {} and Active eq true",
            client::literal(RECORD_ROW)
        );
        self.client
            .query_map(&filter, |entity| {
                let etag = entity_etag(&entity)?;
                Self::stored(&entity, etag)
            })
            .await
    }

    async fn list_for_consumer(&self, tenant: TenantId) -> Result<Vec<Stored>, StoreError> {
        // The semaphore is never closed; were it, the list goes ahead unbounded.
        let _turn = self.lists.acquire().await.ok();
        let filter = format!(
            "RowKey eq {} and ConsumerTenant eq {}",
            client::literal(RECORD_ROW),
            client::literal(&tenant.to_string())
        );
        self.client
            .query_map(&filter, |entity| {
                let etag = entity_etag(&entity)?;
                Self::stored(&entity, etag)
            })
            .await
    }
}

/// What a failed update transaction means for the caller.
fn update_error(id: RequestId, e: ServiceError) -> StoreError {
    match (e.status, e.code.as_str()) {
        (412, _) => StoreError::Conflict,
        // Another writer already appended a history entry with our seq: it changed the
        // request since we read it, whatever the order the service checked things in.
        (409, "EntityAlreadyExists") => StoreError::Conflict,
        (404, "ResourceNotFound") => StoreError::NotFound(id),
        _ => e.into_store_error(),
    }
}
