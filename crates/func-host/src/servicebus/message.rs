//! A peek-locked message as the REST API returns it, and the invocation the host builds
//! from it (SB `ServiceBusTriggerBindingStrategy`, §2).

use serde_json::{Map, Value};
use time::{Duration as TimeDuration, OffsetDateTime, UtcOffset};

use base64::{Engine, engine::general_purpose::STANDARD};

use super::raw_body::RAW_BODY_HEADER;
use crate::{
    function_json::DataType,
    invocation_body::{InvocationBody, wire},
};

/// A body the string-typed trigger cannot hand over: the host decodes it as strict UTF-8
/// (SB `MessageToStringConverter`) and fails the invocation, so the message is abandoned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "the message body is not UTF-8 (invalid byte at offset {offset}); a string trigger cannot bind it, use dataType binary"
)]
pub struct BodyNotUtf8 {
    /// Where the first invalid byte is.
    pub offset: usize,
}

/// Response headers the REST API uses for itself; every other header of a peek-lock
/// response is a custom (application) property.
const NOT_PROPERTIES: &[&str] = &[
    "brokerproperties",
    "content-type",
    "content-length",
    "location",
    "date",
    "server",
    "transfer-encoding",
    "strict-transport-security",
    "etag",
    "connection",
    "keep-alive",
    "vary",
    "cache-control",
    "expires",
    "pragma",
];

/// All response headers, raw: the crate's typed `BrokerProperties` drops fields, so we
/// read the header ourselves through `PeekLockResponse::custom_properties`.
#[derive(Clone, Debug, Default)]
pub struct RawHeaders(pub Vec<(String, String)>);

impl From<azure_core_legacy::headers::Headers> for RawHeaders {
    fn from(headers: azure_core_legacy::headers::Headers) -> Self {
        Self(
            headers
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.as_str().to_owned()))
                .collect(),
        )
    }
}

/// A received message.
#[derive(Clone, Debug, PartialEq)]
pub struct ReceivedMessage {
    /// The body, as the sender's bytes (UTF-8 or not: see [`super::raw_body`]).
    pub body: Vec<u8>,
    /// The raw BrokerProperties JSON.
    pub broker: Map<String, Value>,
    /// The message's ContentType (the response Content-Type header).
    pub content_type: Option<String>,
    /// Custom properties, from the other headers, values JSON-decoded where they parse.
    pub properties: Map<String, Value>,
    /// The response `Date`: the broker's clock when the lock was taken.
    pub broker_time: Option<OffsetDateTime>,
}

impl ReceivedMessage {
    /// Builds the message from the peek-lock response parts.
    pub fn from_parts(body: String, headers: &RawHeaders) -> Self {
        let mut body = body.into_bytes();
        let mut broker = Map::new();
        let mut content_type = None;
        let mut properties = Map::new();
        let mut broker_time = None;
        for (name, value) in &headers.0 {
            let lower = name.to_ascii_lowercase();
            if lower == RAW_BODY_HEADER {
                // Only ever set by our own transport wrapper, always valid base64.
                if let Ok(raw) = STANDARD.decode(value) {
                    body = raw;
                }
            } else if lower == "brokerproperties" {
                if let Ok(Value::Object(o)) = serde_json::from_str(value) {
                    broker = o;
                }
            } else if lower == "date" {
                broker_time = parse_http_date(value);
            } else if lower == "content-type" {
                content_type = Some(value.clone());
            } else if !NOT_PROPERTIES.contains(&lower.as_str()) && !lower.starts_with("x-ms-") {
                // Custom property values are JSON literals on the wire: `"world"`, `42`, `true`.
                let parsed = serde_json::from_str::<Value>(value)
                    .ok()
                    .filter(|v| !v.is_object() && !v.is_array())
                    .unwrap_or_else(|| Value::String(value.clone()));
                properties.insert(name.clone(), parsed);
            }
        }
        Self {
            body,
            broker,
            content_type,
            properties,
            broker_time,
        }
    }

    /// How long the lock lasts, measured on the broker's clock (LockedUntilUtc minus the
    /// response Date), so a broker with another clock still gets renewed in time.
    pub fn lock_duration(&self) -> Option<std::time::Duration> {
        let until = self.locked_until()?;
        let now = self.broker_time.unwrap_or_else(OffsetDateTime::now_utc);
        std::time::Duration::try_from(until - now)
            .ok()
            .filter(|d| !d.is_zero())
    }

    fn broker_string(&self, key: &str) -> Option<&str> {
        self.broker.get(key).and_then(Value::as_str)
    }

    fn broker_i64(&self, key: &str) -> Option<i64> {
        self.broker.get(key).and_then(Value::as_i64)
    }

    /// DeliveryCount from BrokerProperties.
    pub fn delivery_count(&self) -> Option<i64> {
        self.broker_i64("DeliveryCount")
    }

    /// MessageId from BrokerProperties.
    pub fn message_id(&self) -> Option<&str> {
        self.broker_string("MessageId")
    }

    /// EnqueuedTimeUtc (RFC 1123 on the REST API).
    pub fn enqueued_time(&self) -> Option<OffsetDateTime> {
        self.broker_string("EnqueuedTimeUtc")
            .and_then(parse_http_date)
    }

    /// LockedUntilUtc.
    pub fn locked_until(&self) -> Option<OffsetDateTime> {
        self.broker_string("LockedUntilUtc")
            .and_then(parse_http_date)
    }

    /// ExpiresAt = EnqueuedTime + TimeToLive, clamped to DateTimeOffset.MaxValue.
    pub fn expires_at(&self) -> Option<OffsetDateTime> {
        let enqueued = self.enqueued_time()?;
        let ttl = self.broker.get("TimeToLive").and_then(Value::as_f64)?;
        let max = max_date_time_offset();
        let room = (max - enqueued).as_seconds_f64();
        if !ttl.is_finite() || ttl >= room {
            return Some(max);
        }
        Some(enqueued + TimeDuration::seconds_f64(ttl))
    }
}

/// `DateTimeOffset.MaxValue`: 9999-12-31T23:59:59.9999999+00:00.
fn max_date_time_offset() -> OffsetDateTime {
    time::macros::datetime!(9999-12-31 23:59:59.9999999 UTC)
}

fn parse_http_date(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc2822)
        .ok()
        .map(|t| t.to_offset(UtcOffset::UTC))
}

/// What the trigger reads and whom it reads it with (for the SDK-object Metadata).
#[derive(Clone, Debug)]
pub struct TriggerContext<'a> {
    /// The function name.
    pub function: &'a str,
    /// The trigger's binding name (`Data.<name>`).
    pub binding: &'a str,
    /// The trigger's dataType.
    pub data_type: Option<DataType>,
    /// `{ns}.servicebus.windows.net`.
    pub fully_qualified_namespace: &'a str,
    /// `queue` or `topic/Subscriptions/sub`.
    pub entity_path: &'a str,
    /// A stable identifier for the receiver/client objects.
    pub client_identifier: &'a str,
}

/// Builds the invocation body for one message, in single-message dispatch (§2).
pub fn invocation_for(
    message: &ReceivedMessage,
    ctx: &TriggerContext<'_>,
    now: OffsetDateTime,
) -> Result<InvocationBody, BodyNotUtf8> {
    let mut body = InvocationBody::new();
    let binary = ctx.data_type == Some(DataType::Binary);
    let text = if binary {
        body.set_data(ctx.binding, wire::bytes(&message.body));
        None
    } else {
        let text = std::str::from_utf8(&message.body).map_err(|e| BodyNotUtf8 {
            offset: e.valid_up_to(),
        })?;
        body.set_data(ctx.binding, wire::string(text));
        Some(text)
    };

    let string_key = |body: &mut InvocationBody, key: &str, value: Option<&str>| {
        if let Some(v) = value {
            body.set_metadata(key, wire::string(v));
        }
    };
    if let Some(n) = message.delivery_count() {
        body.set_metadata("DeliveryCount", wire::integer(n));
    }
    string_key(
        &mut body,
        "DeadLetterSource",
        message.broker_string("DeadLetterSource"),
    );
    string_key(&mut body, "LockToken", message.broker_string("LockToken"));
    if let Some(expires) = message.expires_at() {
        body.set_metadata("ExpiresAt", wire::date_time_offset(expires));
        body.set_metadata("ExpiresAtUtc", wire::date_time(expires));
    }
    if let Some(enqueued) = message.enqueued_time() {
        body.set_metadata("EnqueuedTime", wire::date_time_offset(enqueued));
        body.set_metadata("EnqueuedTimeUtc", wire::date_time(enqueued));
    }
    string_key(&mut body, "MessageId", message.message_id());
    string_key(&mut body, "ContentType", message.content_type.as_deref());
    string_key(&mut body, "ReplyTo", message.broker_string("ReplyTo"));
    if let Some(n) = message.broker_i64("SequenceNumber") {
        body.set_metadata("SequenceNumber", wire::integer(n));
    }
    string_key(&mut body, "To", message.broker_string("To"));
    let subject = message.broker_string("Label");
    string_key(&mut body, "Label", subject);
    string_key(&mut body, "Subject", subject);
    string_key(
        &mut body,
        "CorrelationId",
        message.broker_string("CorrelationId"),
    );
    body.set_metadata(
        "ApplicationProperties",
        Value::Object(message.properties.clone()),
    );
    body.set_metadata("UserProperties", Value::Object(message.properties.clone()));
    string_key(&mut body, "SessionId", message.broker_string("SessionId"));
    string_key(
        &mut body,
        "ReplyToSessionId",
        message.broker_string("ReplyToSessionId"),
    );
    string_key(
        &mut body,
        "PartitionKey",
        message.broker_string("PartitionKey"),
    );
    string_key(
        &mut body,
        "TransactionPartitionKey",
        message.broker_string("ViaPartitionKey"),
    );

    // SDK objects serialized as JObjects: public properties only. Handlers cannot use them.
    let receiver = serde_json::json!({
        "FullyQualifiedNamespace": ctx.fully_qualified_namespace,
        "EntityPath": ctx.entity_path,
        "ReceiveMode": 0,
        "PrefetchCount": 0,
        "Identifier": ctx.client_identifier,
        "IsSessionReceiver": false,
        "IsClosed": false,
    });
    body.set_metadata("MessageReceiver", receiver);
    body.set_metadata("MessageActions", Value::Object(Map::new()));
    body.set_metadata("ReceiveActions", Value::Object(Map::new()));
    body.set_metadata(
        "Client",
        serde_json::json!({
            "FullyQualifiedNamespace": ctx.fully_qualified_namespace,
            "IsClosed": false,
            "TransportType": 0,
            "Identifier": ctx.client_identifier,
        }),
    );
    body.set_sys(ctx.function, now);
    if let Some(text) = text {
        body.merge_trigger_string(text);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn recorded() -> RawHeaders {
        // From the recorded peek-lock response (test_receive_queue_message_unlock.yaml),
        // plus custom properties as in test_send_queue_message_with_custom_message_properties.
        RawHeaders(vec![
            ("brokerproperties".into(), r#"{"DeliveryCount":1,"EnqueuedSequenceNumber":0,"EnqueuedTimeUtc":"Thu, 25 Apr 2019 06:37:16 GMT","LockToken":"c00df4d6-b5b5-42c2-9435-1ba3c528b823","LockedUntilUtc":"Thu, 25 Apr 2019 06:38:16 GMT","MessageId":"c64d7c15effb4e78924f3a5ea37cf68c","SequenceNumber":1,"State":"Active","TimeToLive":922337203685.47754}"#.into()),
            ("content-type".into(), "application/json".into()),
            ("location".into(), "https://fakesbnamespace.servicebus.windows.net/q/messages/1/c00df4d6".into()),
            ("hello".into(), "\"world\"".into()),
            ("number".into(), "42".into()),
            ("active".into(), "true".into()),
            ("floating".into(), "2.5".into()),
        ])
    }

    fn ctx() -> TriggerContext<'static> {
        TriggerContext {
            function: "OrderProcessor",
            binding: "msg",
            data_type: None,
            fully_qualified_namespace: "fakesbnamespace.servicebus.windows.net",
            entity_path: "q",
            client_identifier: "id",
        }
    }

    fn metadata(body: &InvocationBody) -> Map<String, Value> {
        body.metadata().iter().cloned().collect()
    }

    #[test]
    fn every_metadata_type_is_encoded_as_the_host_does() {
        let msg = ReceivedMessage::from_parts("{\"orderId\":42}".into(), &recorded());
        let body = invocation_for(&msg, &ctx(), OffsetDateTime::UNIX_EPOCH).unwrap();
        let m = metadata(&body);
        assert_eq!(m["DeliveryCount"], json!("1"));
        assert_eq!(m["SequenceNumber"], json!("1"));
        assert_eq!(
            m["LockToken"],
            json!("\"c00df4d6-b5b5-42c2-9435-1ba3c528b823\"")
        );
        assert_eq!(
            m["MessageId"],
            json!("\"c64d7c15effb4e78924f3a5ea37cf68c\"")
        );
        assert_eq!(m["ContentType"], json!("\"application/json\""));
        assert_eq!(m["EnqueuedTimeUtc"], json!("2019-04-25T06:37:16"));
        assert_eq!(m["EnqueuedTime"], json!("2019-04-25T06:37:16+00:00"));
        assert_eq!(m["ExpiresAtUtc"], json!("9999-12-31T23:59:59"));
        assert_eq!(m["ExpiresAt"], json!("9999-12-31T23:59:59.9999999+00:00"));
        assert_eq!(
            m["ApplicationProperties"],
            json!({"hello":"world","number":42,"active":true,"floating":2.5})
        );
        assert_eq!(m["UserProperties"], m["ApplicationProperties"]);
        assert_eq!(m["orderId"], json!("\"42\""));
        assert_eq!(m["sys"]["MethodName"], json!("OrderProcessor"));
        assert!(!m.contains_key("CorrelationId"));
        assert!(!m.contains_key("location"));
        let text = body.to_json();
        assert!(
            text.starts_with(r#"{"Data":{"msg":"\"{\\\"orderId\\\":42}\""},"Metadata":{"#),
            "{text}"
        );
    }

    #[test]
    fn binary_data_is_base64_and_skips_the_body_merge() {
        let msg = ReceivedMessage::from_parts("{\"MessageId\":\"evil\"}".into(), &recorded());
        let mut c = ctx();
        c.data_type = Some(DataType::Binary);
        let body = invocation_for(&msg, &c, OffsetDateTime::UNIX_EPOCH).unwrap();
        assert!(
            body.to_json()
                .starts_with(r#"{"Data":{"msg":"eyJNZXNzYWdlSWQiOiJldmlsIn0="}"#)
        );
        assert_eq!(
            metadata(&body)["MessageId"],
            json!("\"c64d7c15effb4e78924f3a5ea37cf68c\"")
        );
    }

    #[test]
    fn a_body_that_is_not_utf8_reaches_a_binary_trigger_and_fails_a_string_one() {
        let mut h = recorded();
        h.0.push((RAW_BODY_HEADER.into(), STANDARD.encode(b"{\xff}")));
        let msg = ReceivedMessage::from_parts(String::new(), &h);
        assert_eq!(msg.body, b"{\xff}");
        assert!(!msg.properties.contains_key(RAW_BODY_HEADER));
        let mut c = ctx();
        c.data_type = Some(DataType::Binary);
        let body = invocation_for(&msg, &c, OffsetDateTime::UNIX_EPOCH).unwrap();
        assert!(body.to_json().starts_with(r#"{"Data":{"msg":"e/99"}"#));
        assert_eq!(
            invocation_for(&msg, &ctx(), OffsetDateTime::UNIX_EPOCH).unwrap_err(),
            BodyNotUtf8 { offset: 1 }
        );
    }

    #[test]
    fn the_lock_duration_is_measured_on_the_broker_clock() {
        let mut h = recorded();
        h.0.push(("date".into(), "Thu, 25 Apr 2019 06:37:16 GMT".into()));
        let msg = ReceivedMessage::from_parts(String::new(), &h);
        assert_eq!(
            msg.lock_duration(),
            Some(std::time::Duration::from_secs(60))
        );
        assert!(!msg.properties.contains_key("date"));
    }

    #[test]
    fn a_short_time_to_live_gives_a_real_expiry() {
        let mut h = recorded();
        h.0[0].1 = r#"{"DeliveryCount":3,"EnqueuedTimeUtc":"Thu, 25 Apr 2019 06:37:16 GMT","LockToken":"t","MessageId":"m","SequenceNumber":9,"TimeToLive":60.5,"Label":"subj"}"#.into();
        let msg = ReceivedMessage::from_parts("plain".into(), &h);
        let m = metadata(&invocation_for(&msg, &ctx(), OffsetDateTime::UNIX_EPOCH).unwrap());
        assert_eq!(m["ExpiresAt"], json!("2019-04-25T06:38:16.5+00:00"));
        assert_eq!(m["ExpiresAtUtc"], json!("2019-04-25T06:38:16"));
        assert_eq!(m["Label"], json!("\"subj\""));
        assert_eq!(m["Subject"], json!("\"subj\""));
        assert_eq!(m["DeliveryCount"], json!("3"));
    }
}
