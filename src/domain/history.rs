//! The append-only story of a request: who did what, when, under which invocation.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{Caller, State};

/// Who caused a history entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Actor {
    /// The caller of the HTTP API.
    Api,
    /// Automation that queued the request on Service Bus.
    Queue,
    /// A pipeline step.
    Pipeline,
    /// The consumer tenant's admin (consent callback).
    ConsumerAdmin,
    /// The reconciliation timer.
    Reconciler,
}

/// One entry of a request's history. Entries are never changed once written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    /// Position in the history, from 1.
    pub seq: u32,
    /// When it happened.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// What happened, as a short kebab-case name (`credentials-issued`, `consent-link-sent`).
    pub event: String,
    /// The state after the event.
    pub state: State,
    /// Who caused it.
    pub actor: Actor,
    /// A sentence for a person.
    pub detail: String,
    /// The API caller behind it (entries the HTTP API wrote; the pipeline's have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller: Option<Caller>,
    /// The Functions invocation that wrote it, to find its logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invocation_id: Option<String>,
}
