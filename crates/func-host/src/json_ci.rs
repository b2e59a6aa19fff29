//! Case-insensitive lookups: .NET configuration binds host.json and function.json keys
//! regardless of case (`functionTimeout` == `FunctionTimeout`).

use serde_json::{Map, Value};

/// The value under `key`, compared case-insensitively.
pub fn get<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object.get(key).or_else(|| {
        object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// The object under `key`.
pub fn object<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Map<String, Value>> {
    get(object, key).and_then(Value::as_object)
}

/// A string setting; numbers and booleans are accepted as configuration binds them.
pub fn string(object: &Map<String, Value>, key: &str) -> Option<String> {
    match get(object, key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A boolean setting: JSON booleans or the strings `true`/`false`.
pub fn boolean(object: &Map<String, Value>, key: &str) -> Option<bool> {
    match get(object, key)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => {
            s.trim()
                .parse::<bool>()
                .ok()
                .or_else(|| match s.trim().to_ascii_lowercase().as_str() {
                    "true" => Some(true),
                    "false" => Some(false),
                    _ => None,
                })
        }
        _ => None,
    }
}

/// An array of strings (non-strings are skipped).
pub fn strings(object: &Map<String, Value>, key: &str) -> Vec<String> {
    get(object, key)
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}
