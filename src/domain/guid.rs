//! GUID-shaped identifiers: Entra tenant ids, subscription ids, our request ids.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use super::Invalid;

/// Parses the canonical hyphenated form only (`8-4-4-4-12` hex), as Azure prints it.
///
/// `uuid` also accepts braces, `urn:uuid:` and the 32-digit simple form; Azure ids never use
/// those, and accepting them would let two spellings of one tenant reach the store.
fn parse_hyphenated(s: &str, what: &str) -> Result<Uuid, Invalid> {
    let ok_shape = s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        });
    if !ok_shape {
        return Err(Invalid::new(format!(
            "{what} must be a GUID like 00000000-0000-0000-0000-000000000000"
        )));
    }
    Uuid::parse_str(s).map_err(|_| Invalid::new(format!("{what} is not a valid GUID")))
}

macro_rules! guid_newtype {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            /// Parses the hyphenated GUID form; case-insensitive, stored lowercase.
            pub fn parse(s: &str) -> Result<Self, Invalid> {
                parse_hyphenated(s, $what).map(Self)
            }

            /// The underlying UUID.
            pub fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0.hyphenated())
            }
        }

        impl FromStr for $name {
            type Err = Invalid;
            fn from_str(s: &str) -> Result<Self, Invalid> {
                Self::parse(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

guid_newtype!(
    /// An Entra tenant (directory) id.
    TenantId,
    "a tenant id"
);
guid_newtype!(
    /// An Azure subscription id.
    SubscriptionId,
    "a subscription id"
);
guid_newtype!(
    /// The id of one share request.
    RequestId,
    "a request id"
);

/// Namespace for request ids derived from an idempotency key (UUIDv5), so that the same key
/// always names the same request and "create if absent" is one conditional insert.
const IDEMPOTENCY_NAMESPACE: Uuid = Uuid::from_u128(0x5d1c_2a8e_4b7f_4e0a_9c3d_6f21_8a4b_7e90);
/// Namespace for ids from an HTTP `Idempotency-Key`: keys are namespaced by origin (DESIGN §3
/// rule 2), so a header and a queue MessageId of the same text are different requests.
const HTTP_IDEMPOTENCY_NAMESPACE: Uuid = Uuid::from_u128(0x8b0e_61f4_2d3a_4c57_a1e9_03c7_5f62_d418);

impl RequestId {
    /// A fresh random id.
    pub fn new_random() -> Self {
        Self(Uuid::new_v4())
    }

    /// The id a request queued under this idempotency key (MessageId) gets.
    pub fn for_idempotency_key(key: &str) -> Self {
        Self(Uuid::new_v5(&IDEMPOTENCY_NAMESPACE, key.as_bytes()))
    }

    /// The id a request submitted over HTTP under this `Idempotency-Key` gets.
    pub fn for_http_idempotency_key(key: &str) -> Self {
        Self(Uuid::new_v5(&HTTP_IDEMPOTENCY_NAMESPACE, key.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_id_is_stored_lowercase() {
        let t = TenantId::parse("AAAAAAAA-1111-4111-8111-111111111111").unwrap();
        assert_eq!(t.to_string(), "aaaaaaaa-1111-4111-8111-111111111111");
    }

    #[test]
    fn other_uuid_spellings_are_refused() {
        for s in [
            "{aaaaaaaa-1111-4111-8111-111111111111}",
            "aaaaaaaa111141118111111111111111",
            "urn:uuid:aaaaaaaa-1111-4111-8111-111111111111",
            "aaaaaaaa-1111-4111-8111-11111111111g",
            "",
        ] {
            assert!(TenantId::parse(s).is_err(), "{s} was accepted");
        }
    }

    #[test]
    fn the_same_idempotency_key_always_gives_the_same_request_id() {
        assert_eq!(
            RequestId::for_idempotency_key("k-1"),
            RequestId::for_idempotency_key("k-1")
        );
        assert_ne!(
            RequestId::for_idempotency_key("k-1"),
            RequestId::for_idempotency_key("k-2")
        );
        assert_ne!(
            RequestId::for_idempotency_key("k-1"),
            RequestId::for_http_idempotency_key("k-1"),
            "keys are namespaced by origin"
        );
    }
}
