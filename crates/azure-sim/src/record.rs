//! The log of every request the simulated services saw.

use std::sync::Mutex;

use serde::Serialize;
use time::OffsetDateTime;

use crate::secrets::SecretSighting;

/// One request as the simulator saw it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestRecord {
    /// When it arrived (simulated clock).
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// HTTP method.
    pub method: String,
    /// The Azure host it was addressed to (`graph.microsoft.com`), or `_identity`.
    pub host: String,
    /// Path and query on that host.
    pub path_and_query: String,
    /// Status the simulator answered.
    pub status: u16,
    /// True when any known secret value appeared in the URL, a header or the body.
    pub contains_known_secret: bool,
    /// Where the secrets were.
    pub secrets_seen: Vec<SecretSighting>,
    /// Id of the injected fault that answered, if any.
    pub fault: Option<u64>,
}

/// Append-only request log.
#[derive(Debug, Default)]
pub struct Recorder {
    records: Mutex<Vec<RequestRecord>>,
}

impl Recorder {
    /// Appends a record.
    pub fn push(&self, record: RequestRecord) {
        self.records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(record);
    }

    /// A copy of everything recorded so far.
    pub fn all(&self) -> Vec<RequestRecord> {
        self.records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Forgets everything recorded so far.
    pub fn clear(&self) {
        self.records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}
