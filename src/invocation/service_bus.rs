//! A Service Bus-triggered invocation, decoded into the message and the properties we trust.

use base64::{Engine, engine::general_purpose::STANDARD};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::envelope::{
    DecodeError, InvocationRequest, decode_datetime, decode_integer, decode_string,
};

/// How the trigger binding hands over the message body (function.json `dataType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyEncoding {
    /// No `dataType`: the body as a UTF-8 string, JSON-encoded a second time.
    String,
    /// `"dataType": "binary"`: the raw body bytes, base64-encoded.
    Binary,
}

/// One Service Bus message as a step sees it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServiceBusMessage {
    /// The raw body.
    pub body: Vec<u8>,
    /// `MessageId`.
    pub message_id: Option<String>,
    /// `DeliveryCount` (1 on the first delivery).
    pub delivery_count: Option<i64>,
    /// `SequenceNumber`.
    pub sequence_number: Option<i64>,
    /// `EnqueuedTimeUtc`.
    pub enqueued_time: Option<OffsetDateTime>,
    /// `CorrelationId`.
    pub correlation_id: Option<String>,
    /// `ReplyTo`.
    pub reply_to: Option<String>,
    /// `ContentType`.
    pub content_type: Option<String>,
    /// `Subject` (alias `Label`).
    pub subject: Option<String>,
    /// `ApplicationProperties` (custom properties).
    pub application_properties: Map<String, Value>,
    /// Metadata keys ignored because the message body has a field of the same name: the host
    /// copies body fields over Metadata (the body-merge quirk), so their values may be the
    /// sender's, not Service Bus'.
    pub shadowed_keys: Vec<String>,
}

impl ServiceBusMessage {
    /// Decodes the trigger `binding` of an invocation.
    pub fn decode(
        request: &InvocationRequest,
        binding: &str,
        encoding: BodyEncoding,
    ) -> Result<Self, DecodeError> {
        let raw = request
            .data
            .get(binding)
            .ok_or_else(|| DecodeError::MissingBinding(binding.to_owned()))?;
        let body = decode_body(raw, encoding)?;

        // Names of top-level body fields the host may have merged into Metadata. Only object
        // bodies are merged, and array-valued fields are skipped by the host.
        let merged: Vec<String> = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| match v {
                Value::Object(map) => Some(
                    map.into_iter()
                        .filter(|(_, v)| !v.is_array())
                        .map(|(k, _)| k.to_ascii_lowercase())
                        .collect(),
                ),
                _ => None,
            })
            .unwrap_or_default();

        let meta = TrustedMetadata {
            metadata: &request.metadata,
            merged: &merged,
        };
        let mut shadowed_keys = Vec::new();
        let mut get = |key: &str| {
            let (value, shadowed) = meta.get(key);
            if shadowed {
                shadowed_keys.push(key.to_owned());
            }
            value
        };

        let message_id = get("MessageId").and_then(decode_string);
        let delivery_count = get("DeliveryCount")
            .map(|v| decode_integer("DeliveryCount", v))
            .transpose()?;
        let sequence_number = get("SequenceNumber")
            .map(|v| decode_integer("SequenceNumber", v))
            .transpose()?;
        let enqueued_time = get("EnqueuedTimeUtc")
            .map(|v| decode_datetime("EnqueuedTimeUtc", v))
            .transpose()?;
        let correlation_id = get("CorrelationId").and_then(decode_string);
        let reply_to = get("ReplyTo").and_then(decode_string);
        let content_type = get("ContentType").and_then(decode_string);
        let subject = get("Subject")
            .or_else(|| get("Label"))
            .and_then(decode_string);
        let application_properties =
            match get("ApplicationProperties").or_else(|| get("UserProperties")) {
                Some(Value::Object(map)) => map.clone(),
                _ => Map::new(),
            };
        Ok(Self {
            body,
            message_id,
            delivery_count,
            sequence_number,
            enqueued_time,
            correlation_id,
            reply_to,
            content_type,
            subject,
            application_properties,
            shadowed_keys,
        })
    }

    /// The body parsed as JSON into `T`.
    pub fn body_json<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }

    /// A custom property as text (strings are unwrapped, other values rendered as JSON).
    pub fn property(&self, name: &str) -> Option<String> {
        self.application_properties
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| decode_string(v))
    }
}

/// Metadata lookups that refuse keys a body field may have overwritten.
struct TrustedMetadata<'a> {
    metadata: &'a Map<String, Value>,
    merged: &'a [String],
}

impl TrustedMetadata<'_> {
    /// The value of `key`, and whether it was withheld because the body shadows it.
    fn get(&self, key: &str) -> (Option<&Value>, bool) {
        if self.merged.iter().any(|m| m.eq_ignore_ascii_case(key)) {
            return (None, true);
        }
        let value = self
            .metadata
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
            .filter(|v| !v.is_null());
        (value, false)
    }
}

fn decode_body(raw: &Value, encoding: BodyEncoding) -> Result<Vec<u8>, DecodeError> {
    match raw {
        Value::String(s) => {
            // Not base64 in binary mode: a host configured without dataType, or the
            // documented plain form; both fall through to string decoding.
            if encoding == BodyEncoding::Binary
                && let Ok(bytes) = STANDARD.decode(s)
            {
                return Ok(bytes);
            }
            Ok(decode_string(raw).unwrap_or_default().into_bytes())
        }
        // The documentation's samples show the body as a JSON value; accept it.
        Value::Object(_) | Value::Array(_) => Ok(raw.to_string().into_bytes()),
        _ => Err(DecodeError::Value {
            what: "the message body".into(),
            detail: format!("unexpected JSON {raw}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn invocation(data: Value, metadata: Value) -> InvocationRequest {
        let envelope = Value::Object(Map::from_iter([
            ("Data".into(), data),
            ("Metadata".into(), metadata),
        ]));
        serde_json::from_value(envelope).unwrap()
    }

    #[test]
    fn a_host_encoded_string_trigger_decodes_to_the_original_body() {
        let body = r#"{"requestId":"r1","step":"issue-credentials"}"#;
        let inv = invocation(
            json!({"msg": serde_json::to_string(body).unwrap()}),
            json!({"MessageId": "\"m-1\"", "DeliveryCount": "2", "EnqueuedTimeUtc": "2025-01-15T10:20:30",
                   "ApplicationProperties": {"source": "ci"}, "MessageActions": {}, "Client": {"FullyQualifiedNamespace": "x"}}),
        );
        let msg = ServiceBusMessage::decode(&inv, "msg", BodyEncoding::String).unwrap();
        assert_eq!(msg.body, body.as_bytes());
        assert_eq!(msg.message_id.as_deref(), Some("m-1"));
        assert_eq!(msg.delivery_count, Some(2));
        assert_eq!(msg.property("SOURCE").as_deref(), Some("ci"));
    }

    #[test]
    fn a_binary_trigger_is_base64() {
        let inv = invocation(json!({"msg": STANDARD.encode(br#"{"a":1}"#)}), json!({}));
        let msg = ServiceBusMessage::decode(&inv, "msg", BodyEncoding::Binary).unwrap();
        assert_eq!(msg.body, br#"{"a":1}"#);
    }

    #[test]
    fn a_binary_trigger_also_accepts_the_plain_documented_form() {
        let inv = invocation(json!({"msg": r#"{"a":1}"#}), json!({}));
        let msg = ServiceBusMessage::decode(&inv, "msg", BodyEncoding::Binary).unwrap();
        assert_eq!(msg.body, br#"{"a":1}"#);
    }

    #[test]
    fn metadata_overwritten_by_a_body_field_is_not_trusted() {
        // The host merged the body's "messageId" over the real MessageId.
        let body = r#"{"messageId":"forged","n":[1]}"#;
        let inv = invocation(
            json!({"msg": serde_json::to_string(body).unwrap()}),
            json!({"MessageId": "\"forged\"", "DeliveryCount": "1"}),
        );
        let msg = ServiceBusMessage::decode(&inv, "msg", BodyEncoding::String).unwrap();
        assert_eq!(msg.message_id, None);
        assert_eq!(msg.shadowed_keys, ["MessageId"]);
        assert_eq!(msg.delivery_count, Some(1));
    }

    #[test]
    fn a_missing_trigger_binding_is_an_error() {
        let inv = invocation(json!({}), json!({}));
        assert_eq!(
            ServiceBusMessage::decode(&inv, "msg", BodyEncoding::String).unwrap_err(),
            DecodeError::MissingBinding("msg".into())
        );
    }
}
