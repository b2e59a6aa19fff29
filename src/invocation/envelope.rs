//! The `{"Data":{...},"Metadata":{...}}` body of a non-HTTP invocation, and its value encodings.

use serde::Deserialize;
use serde_json::{Map, Value};
use time::{OffsetDateTime, PrimitiveDateTime, format_description::well_known::Rfc3339};

/// What a host invocation body could not give us.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The body is not the `{Data, Metadata}` envelope.
    #[error("the invocation body is not a {{\"Data\":..,\"Metadata\":..}} object: {0}")]
    Envelope(String),
    /// The trigger binding is missing from `Data`.
    #[error("Data has no '{0}' binding")]
    MissingBinding(String),
    /// A value is not in any encoding the host uses.
    #[error("{what} is not in a form the host sends: {detail}")]
    Value {
        /// Which value.
        what: String,
        /// Why.
        detail: String,
    },
}

/// A non-HTTP invocation as the host sends it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InvocationRequest {
    /// Trigger and input binding values, by binding name.
    #[serde(default)]
    pub data: Map<String, Value>,
    /// The trigger's binding data (for Service Bus: message properties).
    #[serde(default)]
    pub metadata: Map<String, Value>,
}

impl InvocationRequest {
    /// Parses an invocation body.
    pub fn from_slice(body: &[u8]) -> Result<Self, DecodeError> {
        // Through `Value` first: serde would otherwise accept `[]` as a struct with defaults.
        match serde_json::from_slice(body) {
            Ok(value @ Value::Object(_)) => {
                serde_json::from_value(value).map_err(|e| DecodeError::Envelope(e.to_string()))
            }
            Ok(other) => Err(DecodeError::Envelope(format!(
                "expected an object, got {other}"
            ))),
            Err(e) => Err(DecodeError::Envelope(e.to_string())),
        }
    }
}

/// Decodes a string the host sent. The real host JSON-encodes strings a second time
/// (`"\"abc\""`); the documentation shows them encoded once (`"abc"`). Both are accepted: a
/// value that is itself a JSON string literal is unwrapped, anything else is taken as is.
pub(crate) fn decode_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(unwrap_json_string(s)),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn unwrap_json_string(s: &str) -> String {
    if s.len() >= 2
        && s.starts_with('"')
        && s.ends_with('"')
        && let Ok(inner) = serde_json::from_str::<String>(s)
    {
        return inner;
    }
    s.to_owned()
}

/// Decodes an integer: the host sends `"4"`; the documentation shows `4`.
pub(crate) fn decode_integer(what: &str, value: &Value) -> Result<i64, DecodeError> {
    let bad = |detail: &str| DecodeError::Value {
        what: what.to_owned(),
        detail: detail.to_owned(),
    };
    match value {
        Value::Number(n) => n.as_i64().ok_or_else(|| bad("not an integer")),
        Value::String(s) => unwrap_json_string(s)
            .trim()
            .parse()
            .map_err(|_| bad("not an integer")),
        _ => Err(bad("expected an integer")),
    }
}

/// Decodes a date-time. `DateTime` values arrive without an offset and at whole seconds
/// (`"2025-01-15T10:20:30"`); Service Bus times are UTC, so that is what they mean.
/// `DateTimeOffset` values arrive with one (`"...+00:00"`).
pub(crate) fn decode_datetime(what: &str, value: &Value) -> Result<OffsetDateTime, DecodeError> {
    let bad = |detail: String| DecodeError::Value {
        what: what.to_owned(),
        detail,
    };
    let Some(text) = decode_string(value) else {
        return Err(bad("expected a date-time string".into()));
    };
    if let Ok(t) = OffsetDateTime::parse(&text, &Rfc3339) {
        return Ok(t);
    }
    let no_offset = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]"
    );
    PrimitiveDateTime::parse(&text, no_offset)
        .map(PrimitiveDateTime::assume_utc)
        .map_err(|e| bad(format!("'{text}': {e}")))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn double_encoded_and_plain_strings_decode_alike() {
        assert_eq!(decode_string(&json!("\"abc\"")).as_deref(), Some("abc"));
        assert_eq!(decode_string(&json!("abc")).as_deref(), Some("abc"));
        assert_eq!(decode_string(&json!("\"a\\\"b\"")).as_deref(), Some("a\"b"));
        assert_eq!(decode_string(&Value::Null), None);
    }

    #[test]
    fn integers_arrive_as_strings_or_numbers() {
        assert_eq!(decode_integer("n", &json!("4")).unwrap(), 4);
        assert_eq!(decode_integer("n", &json!(4)).unwrap(), 4);
        assert_eq!(decode_integer("n", &json!("\"4\"")).unwrap(), 4);
        assert!(decode_integer("n", &json!("four")).is_err());
        assert!(decode_integer("n", &json!(4.5)).is_err());
    }

    #[test]
    fn datetimes_without_an_offset_are_utc() {
        let t = decode_datetime("t", &json!("2025-01-15T10:20:30")).unwrap();
        assert_eq!(t, time::macros::datetime!(2025-01-15 10:20:30 UTC));
        let t = decode_datetime("t", &json!("2025-01-15T10:20:30+02:00")).unwrap();
        assert_eq!(t, time::macros::datetime!(2025-01-15 08:20:30 UTC));
        assert!(decode_datetime("t", &json!("yesterday")).is_err());
    }

    #[test]
    fn an_envelope_without_data_or_metadata_is_still_an_envelope() {
        let r = InvocationRequest::from_slice(b"{}").unwrap();
        assert!(r.data.is_empty() && r.metadata.is_empty());
        assert!(InvocationRequest::from_slice(b"[]").is_err());
        assert!(InvocationRequest::from_slice(b"").is_err());
    }
}
