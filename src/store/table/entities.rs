//! How a request and its history are laid out as table entities.
//!
//! One partition per request (`PartitionKey` = request id), so the record and its history can
//! change together in one entity group transaction:
//! - RowKey `request`: `State`, `Active` (not terminal, or ended with messages or events still to send: for
//!   `list_active`'s filter), `ConsumerTenant` (for `list_for_consumer`), `UpdatedAt`
//!   and `Document`, the request's JSON, which is the source of truth.
//! - RowKey `history-{seq:010}`: one entry each (`Entry` is its JSON), zero-padded so that
//!   the service's RowKey order is seq order.

use serde_json::{Map, Value, json};
use time::{
    OffsetDateTime, UtcOffset, format_description::well_known::Rfc3339, macros::format_description,
};

use crate::domain::{HistoryEntry, RejectedRequest, RequestId, ShareRequest};
use crate::store::{StoreError, VmClaim};

/// The RowKey of a VM claim, alone in its partition [`claim_partition`].
pub const CLAIM_ROW: &str = "claim";

/// The partition of the claim on VM key `key` (a hex digest: no character a key may not hold).
pub fn claim_partition(key: &str) -> String {
    format!("vm-claim-{key}")
}

/// The entity of a VM claim. `ClaimedAt` is RFC 3339 text, so the exact instant comes back.
pub fn claim(claim: &VmClaim) -> Result<Value, StoreError> {
    let at = claim
        .claimed_at
        .format(&Rfc3339)
        .map_err(|e| StoreError::Corrupt(format!("a timestamp cannot be written: {e}")))?;
    Ok(json!({
        "PartitionKey": claim_partition(&claim.key),
        "RowKey": CLAIM_ROW,
        "Key": claim.key,
        "Request": claim.request.to_string(),
        "ClaimedAt": at,
    }))
}

/// Reads a VM claim's entity back.
pub fn parse_claim(entity: &Map<String, Value>) -> Result<VmClaim, StoreError> {
    let key = string(entity, "Key")?.to_owned();
    let request = RequestId::parse(string(entity, "Request")?)
        .map_err(|e| StoreError::Corrupt(format!("the claim on {key} names no request: {e}")))?;
    let claimed_at = OffsetDateTime::parse(string(entity, "ClaimedAt")?, &Rfc3339)
        .map_err(|e| StoreError::Corrupt(format!("the claim on {key} has no time: {e}")))?;
    Ok(VmClaim {
        key,
        request,
        claimed_at,
    })
}

/// The record's RowKey.
pub const RECORD_ROW: &str = "request";
/// The RowKey of a rejected submission's record (instead of `request`).
pub const REJECTED_ROW: &str = "rejected";
/// Every history RowKey starts with this.
pub const HISTORY_PREFIX: &str = "history-";
/// The first string after every `history-...` key (`.` follows `-` in ASCII).
pub const HISTORY_END: &str = "history.";

/// A string property holds at most 64 KiB of UTF-16 (32K characters).
const MAX_STRING_BYTES: usize = 64 * 1024;

/// The RowKey of history entry `seq`.
pub fn history_row(seq: u32) -> String {
    format!("{HISTORY_PREFIX}{seq:010}")
}

/// An `Edm.DateTime` value: UTC with seven fractional digits, the service's 100 ns precision
/// (more digits are not part of its format). The exact instant stays in the JSON documents.
fn datetime(at: OffsetDateTime) -> Result<String, StoreError> {
    let format =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:7]Z");
    at.to_offset(UtcOffset::UTC)
        .format(&format)
        .map_err(|e| StoreError::Corrupt(format!("a timestamp cannot be written: {e}")))
}

/// Refuses a string property the service would reject, naming the request and the limit.
fn checked_string(id: RequestId, property: &str, value: String) -> Result<String, StoreError> {
    let bytes = value.encode_utf16().count() * 2;
    if bytes > MAX_STRING_BYTES {
        return Err(StoreError::Corrupt(format!(
            "request {id}: property '{property}' would be {bytes} bytes as UTF-16; Table Storage \
             allows at most {MAX_STRING_BYTES} bytes (32K characters) per string property"
        )));
    }
    Ok(value)
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::Corrupt(format!("cannot serialize for storage: {e}")))
}

/// The record entity of a request.
pub fn record(request: &ShareRequest) -> Result<Value, StoreError> {
    let document = checked_string(request.id, "Document", to_json(request)?)?;
    Ok(json!({
        "PartitionKey": request.id.to_string(),
        "RowKey": RECORD_ROW,
        "State": request.state().as_str(),
        "Active": request.needs_reconciling(),
        // Queried before a revocation: who else uses this tenant's app and grants.
        "ConsumerTenant": request.consumer.tenant_id.to_string(),
        "UpdatedAt": datetime(request.updated_at)?,
        "UpdatedAt@odata.type": "Edm.DateTime",
        "Document": document,
    }))
}

/// The record entity of a rejected submission.
pub fn rejected(rejected: &RejectedRequest) -> Result<Value, StoreError> {
    let document = checked_string(rejected.id, "Document", to_json(rejected)?)?;
    Ok(json!({
        "PartitionKey": rejected.id.to_string(),
        "RowKey": REJECTED_ROW,
        "State": "Rejected",
        "Active": false,
        "UpdatedAt": datetime(rejected.received_at)?,
        "UpdatedAt@odata.type": "Edm.DateTime",
        "Document": document,
    }))
}

/// Reads a rejected submission's entity back.
pub fn parse_rejected(entity: &Map<String, Value>) -> Result<RejectedRequest, StoreError> {
    let partition = string(entity, "PartitionKey")?;
    let rejected: RejectedRequest =
        serde_json::from_str(string(entity, "Document")?).map_err(|e| {
            StoreError::Corrupt(format!("rejected request {partition} does not parse: {e}"))
        })?;
    if rejected.id.to_string() != partition {
        return Err(StoreError::Corrupt(format!(
            "rejected request {partition} holds {}",
            rejected.id
        )));
    }
    Ok(rejected)
}

/// The entity of one history entry.
pub fn history(id: RequestId, entry: &HistoryEntry) -> Result<Value, StoreError> {
    let json = checked_string(id, "Entry", to_json(entry)?)?;
    Ok(json!({
        "PartitionKey": id.to_string(),
        "RowKey": history_row(entry.seq),
        "Event": entry.event,
        "At": datetime(entry.at)?,
        "At@odata.type": "Edm.DateTime",
        "Entry": json,
    }))
}

fn string<'a>(entity: &'a Map<String, Value>, name: &str) -> Result<&'a str, StoreError> {
    entity
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| StoreError::Corrupt(format!("an entity has no string property '{name}'")))
}

/// Reads a record entity back (`odata.etag` comes from minimal metadata or the caller).
pub fn parse_record(entity: &Map<String, Value>) -> Result<ShareRequest, StoreError> {
    let partition = string(entity, "PartitionKey")?;
    let corrupt = |what: String| StoreError::Corrupt(format!("request {partition}: {what}"));
    let request: ShareRequest = serde_json::from_str(string(entity, "Document")?)
        .map_err(|e| corrupt(format!("its Document does not parse: {e}")))?;
    if request.id.to_string() != partition {
        return Err(corrupt(format!(
            "its Document belongs to request {}",
            request.id
        )));
    }
    let state = string(entity, "State")?;
    if state != request.state().as_str() {
        return Err(corrupt(format!(
            "State says {state} but its Document says {}",
            request.state()
        )));
    }
    Ok(request)
}

/// Reads a history entity back.
pub fn parse_history(entity: &Map<String, Value>) -> Result<HistoryEntry, StoreError> {
    let row = string(entity, "RowKey")?;
    let entry: HistoryEntry = serde_json::from_str(string(entity, "Entry")?)
        .map_err(|e| StoreError::Corrupt(format!("history row {row} does not parse: {e}")))?;
    if history_row(entry.seq) != row {
        return Err(StoreError::Corrupt(format!(
            "history row {row} holds entry {}",
            entry.seq
        )));
    }
    Ok(entry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Actor, EventContext, Origin, State};

    fn request() -> ShareRequest {
        let ctx = EventContext {
            at: OffsetDateTime::UNIX_EPOCH,
            actor: Actor::Api,
            caller: None,
            invocation_id: None,
        };
        ShareRequest::submit(
            RequestId::new_random(),
            crate::store::contract::submission(),
            Origin::Http {
                idempotency_key: None,
            },
            "fp".into(),
            &ctx,
        )
        .0
    }

    fn object(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            other => panic!("not an object: {other}"),
        }
    }

    #[test]
    fn history_row_keys_sort_in_seq_order() {
        assert_eq!(history_row(7), "history-0000000007");
        assert!(history_row(9) < history_row(10));
        assert!(history_row(u32::MAX).as_str() < HISTORY_END);
    }

    #[test]
    fn a_record_round_trips_and_carries_its_query_columns() {
        let r = request();
        let e = object(record(&r).unwrap());
        assert_eq!(e["State"], "Submitted");
        assert_eq!(e["Active"], true);
        assert_eq!(e["UpdatedAt"], "1970-01-01T00:00:00.0000000Z");
        assert_eq!(parse_record(&e).unwrap(), r);
    }

    #[test]
    fn datetimes_have_the_services_seven_fractional_digits_in_utc() {
        let at = time::macros::datetime!(2025-03-04 06:06:07.123_456_789 +01:00);
        assert_eq!(datetime(at).unwrap(), "2025-03-04T05:06:07.1234567Z");
    }

    #[test]
    fn a_record_whose_state_column_disagrees_with_its_document_is_corrupt() {
        let mut e = object(record(&request()).unwrap());
        e.insert("State".into(), Value::from(State::Completed.as_str()));
        assert!(matches!(parse_record(&e), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn a_document_over_64_kib_is_refused_before_it_is_sent() {
        let mut r = request();
        r.failure = Some("é".repeat(33 * 1024));
        let err = record(&r).unwrap_err();
        assert!(
            matches!(&err, StoreError::Corrupt(m) if m.contains("Document") && m.contains("65536")),
            "{err}"
        );
    }
}
