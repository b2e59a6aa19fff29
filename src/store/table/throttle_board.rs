//! The instances' throttling board in the requests' table: one entity per bucket in partition
//! `throttle-gates`, keyed by a digest of the bucket (a bucket names a principal and a
//! subscription, characters a RowKey may not hold), closed until `UntilMs`. A post only ever
//! moves a bucket's end later, with the entity's ETag, so two instances posting at once keep
//! the later of their two ends. Other readers of the table ask for RowKeys of their own
//! (`request`, `claim`, `history-*`) and never meet these entities.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use super::{TableStore, batch::Operation, client};
use crate::{
    azure::throttle_board::{Closed, SharedGate, ThrottleBoard},
    store::StoreError,
};

const PARTITION: &str = "throttle-gates";

/// Tries of a post that meets other instances' posts of the same bucket: each conflict is
/// another post that succeeded and then stops, so with fewer instances than this a post
/// always ends written or outlasted.
const POST_TRIES: u32 = 10;

fn row_key(bucket: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bucket.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn millis(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn entity(gate: &SharedGate) -> Value {
    json!({
        "PartitionKey": PARTITION,
        "RowKey": row_key(&gate.bucket),
        "Bucket": gate.bucket,
        "UntilMs": millis(gate.closed.until).to_string(),
        "UntilMs@odata.type": "Edm.Int64",
        "Code": gate.closed.code,
        // A service's message is short; a property holds 32K characters.
        "Message": gate.closed.message.chars().take(4096).collect::<String>(),
    })
}

fn until_of(entity: &Map<String, Value>) -> Option<SystemTime> {
    let ms = match entity.get("UntilMs")? {
        Value::String(s) => s.parse::<u64>().ok()?,
        Value::Number(n) => n.as_u64()?,
        _ => return None,
    };
    Some(SystemTime::UNIX_EPOCH + Duration::from_millis(ms))
}

fn parse(entity: &Map<String, Value>) -> Option<SharedGate> {
    let text = |name: &str| entity.get(name).and_then(Value::as_str).map(str::to_owned);
    Some(SharedGate {
        bucket: text("Bucket")?,
        closed: Closed {
            until: until_of(entity)?,
            code: text("Code").unwrap_or_default(),
            message: text("Message").unwrap_or_default(),
        },
    })
}

#[async_trait]
impl ThrottleBoard for TableStore {
    async fn post(&self, gate: &SharedGate) -> Result<(), StoreError> {
        let row = row_key(&gate.bucket);
        for _ in 0..POST_TRIES {
            let operation = match self.client.get_entity(PARTITION, &row).await? {
                Some((current, _)) if until_of(&current) >= Some(gate.closed.until) => {
                    return Ok(());
                }
                Some((_, etag)) => Operation::Replace {
                    entity_url: self.client.entity_url(PARTITION, &row)?,
                    if_match: etag,
                    entity: entity(gate),
                },
                None => Operation::Insert {
                    table: self.client.table_url()?,
                    entity: entity(gate),
                },
            };
            match self
                .client
                .transact(std::slice::from_ref(&operation))
                .await?
            {
                Ok(_) => return Ok(()),
                // Another instance posted the bucket meanwhile: read it again.
                Err((_, e)) if matches!(e.status, 409 | 412 | 404) => {}
                Err((_, e)) => return Err(e.into_store_error()),
            }
        }
        Err(StoreError::Conflict)
    }

    async fn closed_at(&self, now: SystemTime) -> Result<Vec<SharedGate>, StoreError> {
        let filter = format!(
            "PartitionKey eq {} and UntilMs gt {}L",
            client::literal(PARTITION),
            millis(now)
        );
        self.client
            .query_map(&filter, |e| Ok(parse(&e)))
            .await
            .map(|gates| gates.into_iter().flatten().collect())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_gate_comes_back_from_its_entity_as_it_was_posted() {
        let gate = SharedGate {
            bucket: "Azure Resource Manager|subscriptions/s|writes|t/o".into(),
            closed: Closed {
                until: SystemTime::UNIX_EPOCH + Duration::from_millis(1_796_000_000_123),
                code: "SubscriptionRequestsThrottled".into(),
                message: "Number of 'write' requests ... exceeded.".into(),
            },
        };
        let Value::Object(e) = entity(&gate) else {
            panic!("not an object")
        };
        assert_eq!(parse(&e), Some(gate));
        let key = e["RowKey"].as_str().unwrap();
        assert_eq!(key.len(), 64);
        assert!(key.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
