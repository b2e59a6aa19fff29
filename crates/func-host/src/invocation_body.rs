//! The `{"Data":{…},"Metadata":{…}}` body the host POSTs to the handler, with the host's
//! value encodings (H `ScriptInvocationContextExtensions.GetHttpScriptInvocationContextValue`)
//! and the body-merge quirk (H `Utility.ApplyBindingData`).

use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::netjson;

/// A value as it goes on the wire, already encoded the host's way.
pub mod wire {
    use super::*;

    /// A string: `JsonConvert.SerializeObject` makes it a string containing JSON.
    pub fn string(s: &str) -> Value {
        Value::String(netjson::serialize_string(s))
    }

    /// An integer: `4` becomes `"4"`.
    pub fn integer(n: i64) -> Value {
        Value::String(n.to_string())
    }

    /// A DateTime: re-parsed through `ToString()`, whole seconds, no offset.
    pub fn date_time(t: OffsetDateTime) -> Value {
        Value::String(netjson::date_time_reparsed(t))
    }

    /// A DateTimeOffset, as Json.NET writes it.
    pub fn date_time_offset(t: OffsetDateTime) -> Value {
        Value::String(netjson::date_time_offset(t))
    }

    /// Bytes: base64.
    pub fn bytes(b: &[u8]) -> Value {
        use base64::Engine;
        Value::String(base64::engine::general_purpose::STANDARD.encode(b))
    }
}

/// An invocation request body under construction. Metadata is an ordered dictionary
/// with case-insensitive keys, like the host's binding data.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InvocationBody {
    data: Vec<(String, Value)>,
    metadata: Vec<(String, Value)>,
}

impl InvocationBody {
    /// An empty body.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `Data.<binding>` (already wire-encoded).
    pub fn set_data(&mut self, binding: &str, value: Value) {
        set_ci(&mut self.data, binding, value);
    }

    /// Sets a Metadata key (already wire-encoded). A key that exists in another case keeps
    /// its original spelling and takes the new value (an OrdinalIgnoreCase dictionary).
    pub fn set_metadata(&mut self, key: &str, value: Value) {
        set_ci(&mut self.metadata, key, value);
    }

    /// The Metadata entries in order.
    pub fn metadata(&self) -> &[(String, Value)] {
        &self.metadata
    }

    /// The body-merge quirk: when the trigger value is a string that looks like a JSON
    /// object, its top-level non-array properties are copied into Metadata (objects as
    /// objects, scalars via `(string)JToken` then JSON-encoded), overwriting same-named keys
    /// case-insensitively. Anything that does not parse is silently ignored, as in the host.
    pub fn merge_trigger_string(&mut self, trigger_value: &str) {
        let trimmed = trigger_value.trim();
        let looks_like_json = (trimmed.starts_with('{') && trimmed.ends_with('}'))
            || (trimmed.starts_with('[') && trimmed.ends_with(']'));
        if !looks_like_json {
            return;
        }
        // JObject.Parse: arrays and invalid JSON throw, and the host swallows it.
        let Ok(Value::Object(parsed)) = serde_json::from_str::<Value>(trimmed) else {
            return;
        };
        for (key, value) in parsed {
            match value {
                Value::Array(_) => {}
                Value::Object(o) => self.set_metadata(&key, Value::Object(o)),
                scalar => {
                    if let Some(text) = netjson::jvalue_to_string(&scalar) {
                        self.set_metadata(&key, wire::string(&text));
                    }
                }
            }
        }
    }

    /// Adds `sys` (`SystemBindingData`): MethodName, UtcNow, RandGuid.
    pub fn set_sys(&mut self, function: &str, now: OffsetDateTime) {
        let mut sys = Map::new();
        sys.insert("MethodName".to_owned(), Value::String(function.to_owned()));
        sys.insert(
            "UtcNow".to_owned(),
            Value::String(netjson::date_time_utc(now)),
        );
        sys.insert(
            "RandGuid".to_owned(),
            Value::String(uuid::Uuid::new_v4().to_string()),
        );
        self.set_metadata("sys", Value::Object(sys));
    }

    /// The JSON text sent to the handler. Null Metadata values and keys ending in
    /// "trigger" are left out, as the host does.
    pub fn to_json(&self) -> String {
        let metadata: Vec<(String, Value)> = self
            .metadata
            .iter()
            .filter(|(k, v)| !v.is_null() && !k.to_ascii_lowercase().ends_with("trigger"))
            .cloned()
            .collect();
        let mut out = String::with_capacity(256);
        out.push_str("{\"Data\":");
        netjson::write_ordered_object(&self.data, &mut out);
        out.push_str(",\"Metadata\":");
        netjson::write_ordered_object(&metadata, &mut out);
        out.push('}');
        out
    }
}

fn set_ci(entries: &mut Vec<(String, Value)>, key: &str, value: Value) {
    match entries
        .iter_mut()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
    {
        Some((_, slot)) => *slot = value,
        None => entries.push((key.to_owned(), value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn body_merge_overwrites_case_insensitively_and_keeps_the_original_key() {
        let mut b = InvocationBody::new();
        b.set_metadata("MessageId", wire::string("abc"));
        b.merge_trigger_string(r#"{"messageId":"body-id","orderId":42,"tags":["a"],"nested":{"x":1},"flag":true,"gone":null}"#);
        let m: Map<String, Value> = b.metadata().iter().cloned().collect();
        assert_eq!(m["MessageId"], json!("\"body-id\""));
        assert!(!m.contains_key("messageId"));
        assert_eq!(m["orderId"], json!("\"42\""));
        assert_eq!(m["flag"], json!("\"True\""));
        assert_eq!(m["nested"], json!({"x":1}));
        assert!(!m.contains_key("tags"));
        assert!(!m.contains_key("gone"));
    }

    #[test]
    fn arrays_and_non_json_bodies_add_nothing() {
        let mut b = InvocationBody::new();
        b.merge_trigger_string(r#"[{"a":1}]"#);
        b.merge_trigger_string("hello {world}");
        b.merge_trigger_string("{not json}");
        assert!(b.metadata().is_empty());
    }

    #[test]
    fn keys_ending_in_trigger_and_nulls_are_not_sent() {
        let mut b = InvocationBody::new();
        b.set_data("msg", wire::string("{\"a\":1}"));
        b.set_metadata("myTrigger", json!("x"));
        b.set_metadata("Nothing", Value::Null);
        b.set_metadata("DeliveryCount", wire::integer(1));
        assert_eq!(
            b.to_json(),
            r#"{"Data":{"msg":"\"{\\\"a\\\":1}\""},"Metadata":{"DeliveryCount":"1"}}"#
        );
    }
}
