//! How the host turns an `Outputs` value into message bodies for an
//! `IAsyncCollector<string>` output (§3; H `HttpScriptInvocationResultExtensions.GetBindingValue`,
//! `FunctionBinding.BindAsyncCollectorAsync`), base64 trap included.

use serde_json::Value;

use crate::{function_json::DataType, netjson};

/// What a byte[] becomes in a string collector: its type name.
pub const BYTE_ARRAY_TEXT: &str = "System.Byte[]";

/// The message bodies an output value produces, in order.
pub fn message_bodies(value: &Value, data_type: Option<DataType>) -> Vec<String> {
    match value {
        Value::Null => Vec::new(),
        // GetBindingValue tries Convert.FromBase64String on every string unless the
        // binding is binary; success makes it a byte[], which the collector writes as
        // its type name.
        Value::String(s) if data_type != Some(DataType::Binary) && dotnet_base64_decodes(s) => {
            vec![BYTE_ARRAY_TEXT.to_owned()]
        }
        Value::String(s) => string_bodies(s),
        Value::Array(items) => items.iter().filter_map(element_body).collect(),
        Value::Object(_) => vec![netjson::to_indented(value)],
        Value::Bool(b) => vec![if *b { "True" } else { "False" }.to_owned()],
        Value::Number(n) => vec![n.to_string()],
    }
}

/// A string output: JSON-looking text is parsed, arrays split and objects re-indented;
/// anything else is sent verbatim.
fn string_bodies(s: &str) -> Vec<String> {
    let trimmed = s.trim();
    let looks_like_json = (trimmed.starts_with('{') && trimmed.ends_with('}'))
        || (trimmed.starts_with('[') && trimmed.ends_with(']'));
    if looks_like_json {
        match serde_json::from_str::<Value>(trimmed) {
            Ok(Value::Array(items)) => return items.iter().filter_map(element_body).collect(),
            Ok(object @ Value::Object(_)) => return vec![netjson::to_indented(&object)],
            _ => {}
        }
    }
    vec![s.to_owned()]
}

/// One array element: strings verbatim, objects and arrays indented, scalars as text.
fn element_body(item: &Value) -> Option<String> {
    match item {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Object(_) | Value::Array(_) => Some(netjson::to_indented(item)),
        Value::Bool(b) => Some(if *b { "True" } else { "False" }.to_owned()),
        Value::Number(n) => Some(n.to_string()),
    }
}

/// True when `Convert.FromBase64String` accepts `s`: whitespace is ignored, the rest
/// must be base64 characters in groups of four with at most two trailing `=`.
/// The empty string decodes (to zero bytes).
pub fn dotnet_base64_decodes(s: &str) -> bool {
    let chars: Vec<u8> = s
        .bytes()
        .filter(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        .collect();
    if !chars.len().is_multiple_of(4) {
        return false;
    }
    let padding = chars.iter().rev().take_while(|b| **b == b'=').count();
    if padding > 2 {
        return false;
    }
    chars[..chars.len() - padding]
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strings_that_decode_as_base64_become_the_byte_array_type_name() {
        for s in ["test", "abcd1234", "good news", ""] {
            assert_eq!(
                message_bodies(&json!(s), None),
                vec![BYTE_ARRAY_TEXT],
                "{s}"
            );
        }
        assert_eq!(
            message_bodies(&json!("test"), Some(DataType::Binary)),
            vec!["test"]
        );
    }

    #[test]
    fn other_strings_are_verbatim_or_parsed_when_they_look_like_json() {
        assert_eq!(
            message_bodies(&json!("hello world!"), None),
            vec!["hello world!"]
        );
        assert_eq!(
            message_bodies(&json!(r#"["a",{"b":1}]"#), None),
            vec!["a".to_owned(), "{\n  \"b\": 1\n}".to_owned()]
        );
        assert_eq!(
            message_bodies(&json!(r#"{"b":1}"#), None),
            vec!["{\n  \"b\": 1\n}"]
        );
    }

    #[test]
    fn arrays_give_one_message_per_element_and_objects_are_indented() {
        assert_eq!(
            message_bodies(&json!(["one", "test", {"k": "v"}, null]), None),
            vec![
                "one".to_owned(),
                "test".to_owned(),
                "{\n  \"k\": \"v\"\n}".to_owned()
            ]
        );
        assert_eq!(
            message_bodies(&json!({"k": [1]}), None),
            vec!["{\n  \"k\": [\n    1\n  ]\n}"]
        );
        assert!(message_bodies(&json!(null), None).is_empty());
    }
}
