//! A queued submission that could never be processed: kept, with what was wrong with it, so
//! its sender can read why (and nothing was created for it).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{Origin, RequestId};

/// One thing wrong with a submitted document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldIssue {
    /// JSON Pointer into the document (`#/vm/name`), or `#` for the whole message.
    pub pointer: String,
    /// What is wrong, for a person.
    pub detail: String,
}

/// A rejected submission.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RejectedRequest {
    /// The id its idempotency key gives.
    pub id: RequestId,
    /// Where it came from.
    pub origin: Origin,
    /// When it was received.
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    /// Why, in a sentence.
    pub reason: String,
    /// Each problem found.
    pub problems: Vec<FieldIssue>,
}
