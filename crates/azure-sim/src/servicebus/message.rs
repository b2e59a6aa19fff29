//! A Service Bus message as the broker stores it, and its `BrokerProperties` header.

use std::collections::BTreeMap;

use bytes::Bytes;
use time::OffsetDateTime;

use crate::timefmt;

/// `TimeSpan.MaxValue` in seconds, as Service Bus reports an unset TimeToLive.
pub const MAX_TTL_TEXT: &str = "922337203685.47754";

/// A message as sent.
#[derive(Debug, Clone, Default)]
pub struct Incoming {
    /// Raw body.
    pub body: Bytes,
    /// `Content-Type` of the send request.
    pub content_type: Option<String>,
    /// Settable broker properties (PascalCase keys as sent).
    pub properties: serde_json::Map<String, serde_json::Value>,
    /// Custom properties: header name and raw header value.
    pub custom: Vec<(String, String)>,
}

/// A held lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lock {
    /// Lock token (GUID).
    pub token: String,
    /// Lock expiry.
    pub until: OffsetDateTime,
}

/// A stored message.
#[derive(Debug, Clone)]
pub struct Message {
    /// Sequence number in its entity.
    pub sequence_number: i64,
    /// MessageId (given or generated).
    pub message_id: String,
    /// Body.
    pub body: Bytes,
    /// Content type to echo on receive.
    pub content_type: Option<String>,
    /// Settable properties other than MessageId, TimeToLive and ScheduledEnqueueTimeUtc.
    pub properties: BTreeMap<String, serde_json::Value>,
    /// Custom properties (raw header values).
    pub custom: Vec<(String, String)>,
    /// Time to live in seconds, if set.
    pub time_to_live: Option<f64>,
    /// When it was (or will be) enqueued.
    pub enqueued_at: OffsetDateTime,
    /// Scheduled enqueue time, if it was scheduled.
    pub scheduled_for: Option<OffsetDateTime>,
    /// Times it has been locked or received.
    pub delivery_count: u32,
    /// Current lock.
    pub lock: Option<Lock>,
}

impl Message {
    /// The `BrokerProperties` header JSON for this delivery: PascalCase keys in alphabetical
    /// order, RFC 1123 dates and a float TimeToLive, as Service Bus writes it.
    pub fn broker_properties(&self) -> String {
        let mut fields: BTreeMap<&str, String> = BTreeMap::new();
        let text = |s: &str| serde_json::Value::from(s).to_string();
        fields.insert("DeliveryCount", self.delivery_count.to_string());
        fields.insert("EnqueuedSequenceNumber", "0".to_owned());
        fields.insert("EnqueuedTimeUtc", text(&timefmt::rfc1123(self.enqueued_at)));
        if let Some(lock) = &self.lock {
            fields.insert("LockToken", text(&lock.token));
            fields.insert("LockedUntilUtc", text(&timefmt::rfc1123(lock.until)));
        }
        fields.insert("MessageId", text(&self.message_id));
        if let Some(at) = self.scheduled_for {
            fields.insert("ScheduledEnqueueTimeUtc", text(&timefmt::rfc1123(at)));
        }
        fields.insert("SequenceNumber", self.sequence_number.to_string());
        fields.insert("State", text("Active"));
        fields.insert(
            "TimeToLive",
            self.time_to_live.map_or_else(
                || MAX_TTL_TEXT.to_owned(),
                |t| serde_json::Value::from(t).to_string(),
            ),
        );
        let mut extra: Vec<(&str, String)> = self
            .properties
            .iter()
            .map(|(k, v)| (k.as_str(), v.to_string()))
            .collect();
        extra.retain(|(k, _)| !fields.contains_key(k));
        let mut all: Vec<(&str, String)> = fields.into_iter().chain(extra).collect();
        all.sort_by(|a, b| a.0.cmp(b.0));
        let body: Vec<String> = all
            .into_iter()
            .map(|(k, v)| format!("{}:{v}", serde_json::Value::from(k)))
            .collect();
        format!("{{{}}}", body.join(","))
    }
}

pub(super) fn build_message(incoming: Incoming, now: OffsetDateTime) -> Message {
    let mut properties: BTreeMap<String, serde_json::Value> =
        incoming.properties.into_iter().collect();
    let message_id = match properties.remove("MessageId") {
        Some(serde_json::Value::String(s)) if !s.is_empty() => s,
        Some(v) if !v.is_null() => v.to_string(),
        _ => uuid::Uuid::new_v4().simple().to_string(),
    };
    let time_to_live = properties.remove("TimeToLive").and_then(|v| v.as_f64());
    let scheduled_for = properties
        .remove("ScheduledEnqueueTimeUtc")
        .and_then(|v| v.as_str().and_then(timefmt::parse_http_date))
        .filter(|at| *at > now);
    // Properties the broker owns are ignored when a sender supplies them.
    for owned in [
        "DeliveryCount",
        "EnqueuedSequenceNumber",
        "EnqueuedTimeUtc",
        "LockToken",
        "LockedUntilUtc",
        "SequenceNumber",
        "State",
    ] {
        properties.remove(owned);
    }
    Message {
        sequence_number: 0,
        message_id,
        body: incoming.body,
        content_type: incoming.content_type,
        properties,
        custom: incoming.custom,
        time_to_live,
        enqueued_at: scheduled_for.unwrap_or(now),
        scheduled_for,
        delivery_count: 0,
        lock: None,
    }
}
