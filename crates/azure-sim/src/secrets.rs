//! Every secret value the simulator issued or holds, so tests can scan logs and traffic.

use std::{
    collections::{BTreeMap, HashSet},
    fmt,
    sync::Mutex,
};

use serde::Serialize;

/// What kind of secret a value is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretKind {
    /// A client secret (`secretText`) of an application.
    ClientSecret,
    /// A Service Bus shared access key.
    SasKey,
    /// The App Service `IDENTITY_HEADER` value.
    IdentityHeader,
    /// An access token the simulator issued.
    AccessToken,
    /// A user's password from the scenario.
    Password,
    /// A Key Vault secret value.
    KeyVaultSecret,
    /// An OAuth authorization code the authorize endpoint issued (a credential until it is
    /// redeemed or expires).
    AuthorizationCode,
}

/// One known secret value.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct KnownSecret {
    /// What it is.
    pub kind: SecretKind,
    /// The value itself (this is the point of the list).
    pub value: String,
}

impl fmt::Debug for KnownSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KnownSecret")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// Where in a request a known secret was seen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SecretSighting {
    /// What kind of secret.
    pub kind: SecretKind,
    /// `url`, `header:<name>` or `body`.
    pub place: String,
}

/// The registry. Access tokens are many and have a fixed alphabet, so they are matched by
/// splitting text into token-shaped words and looking them up; the few other secrets are
/// searched for as substrings.
#[derive(Default)]
pub struct KnownSecrets {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    tokens: HashSet<String>,
    others: BTreeMap<String, SecretKind>,
    order: Vec<KnownSecret>,
}

impl fmt::Debug for KnownSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KnownSecrets").finish_non_exhaustive()
    }
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

impl KnownSecrets {
    /// Remembers a secret value.
    pub fn add(&self, kind: SecretKind, value: &str) {
        if value.is_empty() {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let fresh = if kind == SecretKind::AccessToken {
            inner.tokens.insert(value.to_owned())
        } else {
            inner.others.insert(value.to_owned(), kind).is_none()
        };
        if fresh {
            inner.order.push(KnownSecret {
                kind,
                value: value.to_owned(),
            });
        }
    }

    /// Every secret in the order it became known.
    pub fn all(&self) -> Vec<KnownSecret> {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .order
            .clone()
    }

    /// The kinds of known secrets found in `text` (raw and percent-decoded).
    pub fn find_in(&self, text: &str) -> Vec<SecretKind> {
        let decoded: String = url::form_urlencoded::parse(text.as_bytes())
            .map(|(k, v)| format!("{k}={v}&"))
            .collect();
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut found = Vec::new();
        for haystack in [text, decoded.as_str()] {
            if !inner.tokens.is_empty()
                && haystack
                    .split(|c: char| !is_token_char(c))
                    .any(|word| word.len() > 20 && inner.tokens.contains(word))
            {
                found.push(SecretKind::AccessToken);
            }
            for (value, kind) in &inner.others {
                if haystack.contains(value.as_str()) {
                    found.push(*kind);
                }
            }
        }
        found.sort();
        found.dedup();
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_in_a_header_and_a_secret_in_a_form_body_are_both_found() {
        let s = KnownSecrets::default();
        s.add(
            SecretKind::AccessToken,
            "eyJhbGciOi.eyJhdWQiOiJo.c2lnbmF0dXJl",
        );
        s.add(SecretKind::ClientSecret, "abc8Q~x+y/z");
        assert_eq!(
            s.find_in("Bearer eyJhbGciOi.eyJhdWQiOiJo.c2lnbmF0dXJl"),
            vec![SecretKind::AccessToken]
        );
        assert_eq!(
            s.find_in("client_secret=abc8Q%7Ex%2By%2Fz&grant_type=client_credentials"),
            vec![SecretKind::ClientSecret]
        );
        assert!(s.find_in("nothing to see").is_empty());
    }

    #[test]
    fn debug_output_never_shows_a_value() {
        let k = KnownSecret {
            kind: SecretKind::SasKey,
            value: "super-secret".to_owned(),
        };
        assert!(!format!("{k:?}").contains("super-secret"));
    }
}
