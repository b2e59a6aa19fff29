//! Finding keys that appear twice in one JSON object.
//!
//! `serde_json::Value` keeps the last of two equal keys without a word, so
//! `{"image":{"name":"not-in-catalog","name":"ubuntu-hardened"}}` would be judged by its
//! second `name` while a proxy, a log or a policy engine in front of us may have judged it by
//! its first. RFC 8259 leaves duplicates to the implementation; I-JSON (RFC 7493 §2.3)
//! forbids them. We refuse them, naming each one by its JSON Pointer.
//!
//! This walks the text once more with a visitor that keeps no values, only the keys of the
//! object it is in; it runs after the document parsed, so it never reports syntax errors.

use std::{cell::RefCell, collections::HashSet, fmt};

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::document::escape;

/// The JSON Pointers (`/image/name`) of every repeated key in `body`, in document order.
/// Meant for text that already parsed: on malformed text it reports what it saw before the
/// syntax error, and the parser's error is what the caller reports.
pub(super) fn duplicate_keys(body: &[u8]) -> Vec<String> {
    let found = RefCell::new(Vec::new());
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    // Deeply nested input is refused by serde_json's own recursion limit, as in the parse.
    let _ = Walk {
        pointer: String::new(),
        found: &found,
    }
    .deserialize(&mut deserializer);
    found.into_inner()
}

/// One position in the document.
struct Walk<'a> {
    pointer: String,
    found: &'a RefCell<Vec<String>>,
}

impl Walk<'_> {
    fn child(&self, segment: &str) -> Self {
        Walk {
            pointer: format!("{}/{segment}", self.pointer),
            found: self.found,
        }
    }
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0usize;
        while seq
            .next_element_seed(self.child(&index.to_string()))?
            .is_some()
        {
            index += 1;
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let child = self.child(&escape(&key));
            if !seen.insert(key) {
                self.found.borrow_mut().push(child.pointer.clone());
                // The repeated value is not walked: its own keys would be reported under
                // a pointer that is ambiguous anyway.
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            map.next_value_seed(child)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_key_is_named_by_its_pointer() {
        let body = br#"{"image":{"name":"a","name":"b"},"vm":{"x":1},"vm":{}}"#;
        assert_eq!(duplicate_keys(body), ["/image/name", "/vm"]);
    }

    #[test]
    fn keys_inside_arrays_and_keys_needing_escapes_are_found() {
        let body = br#"[{"a/b":1,"a/b":2},{"t~":0,"t~":0}]"#;
        assert_eq!(duplicate_keys(body), ["/0/a~1b", "/1/t~0"]);
    }

    #[test]
    fn equal_keys_in_different_objects_are_not_duplicates() {
        let body = br#"{"a":{"name":1},"b":{"name":2},"c":[{"k":1},{"k":2}]}"#;
        assert!(duplicate_keys(body).is_empty());
    }

    #[test]
    fn keys_spelled_with_escapes_are_compared_decoded() {
        assert_eq!(duplicate_keys(br#"{"name":1,"n\u0061me":2}"#), ["/name"]);
    }

    #[test]
    fn text_that_is_not_json_reports_nothing() {
        assert!(duplicate_keys(b"not json").is_empty());
    }
}
