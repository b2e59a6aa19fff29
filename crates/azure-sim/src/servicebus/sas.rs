//! Shared Access Signature tokens:
//! `SharedAccessSignature sr={url-encoded resource}&sig={url-encoded base64 HMAC}&se={expiry}&skn={key name}`,
//! where the signature is `base64(HMAC-SHA256(key text as UTF-8, sr-as-sent + "\n" + se))`.

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::scenario::SasPolicySpec;

/// Why a SAS token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SasError {
    /// Not `SharedAccessSignature k=v&...` with sr, sig, se and skn.
    #[error("malformed token")]
    Malformed,
    /// No policy with that key name.
    #[error("unknown key name")]
    UnknownKeyName,
    /// The signature matches neither key.
    #[error("invalid signature")]
    InvalidSignature,
    /// `se` is in the past.
    #[error("expired at {0}")]
    Expired(i64),
    /// `sr` is not a prefix of the addressed entity.
    #[error("audience '{0}' does not cover the resource")]
    WrongAudience(String),
}

/// The parts of a SAS token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SasToken {
    /// `sr` exactly as sent (still URL-encoded): the signed text.
    pub sr_as_sent: String,
    /// `sr` decoded.
    pub resource: String,
    /// The decoded signature (base64 text).
    pub signature: String,
    /// Expiry (Unix seconds).
    pub expiry: i64,
    /// Key name.
    pub key_name: String,
}

/// Parses an `Authorization` header value.
pub fn parse(header: &str) -> Result<SasToken, SasError> {
    let rest = header
        .strip_prefix("SharedAccessSignature ")
        .ok_or(SasError::Malformed)?;
    let (mut sr, mut sig, mut se, mut skn) = (None, None, None, None);
    for pair in rest.trim().split('&') {
        let Some((k, v)) = pair.split_once('=') else {
            return Err(SasError::Malformed);
        };
        match k {
            "sr" => sr = Some(v.to_owned()),
            "sig" => sig = Some(v.to_owned()),
            "se" => se = Some(v.to_owned()),
            "skn" => skn = Some(v.to_owned()),
            _ => {}
        }
    }
    let decode = |v: &str| -> String {
        url::form_urlencoded::parse(format!("v={v}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    let sr_as_sent = sr.ok_or(SasError::Malformed)?;
    Ok(SasToken {
        resource: decode(&sr_as_sent),
        sr_as_sent,
        signature: decode(&sig.ok_or(SasError::Malformed)?),
        expiry: se
            .ok_or(SasError::Malformed)?
            .parse()
            .map_err(|_| SasError::Malformed)?,
        key_name: decode(&skn.ok_or(SasError::Malformed)?),
    })
}

/// The signature a key gives `sr` and `se`.
pub fn sign(key: &str, sr_as_sent: &str, expiry: i64) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(format!("{sr_as_sent}\n{expiry}").as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// `https://ns.servicebus.windows.net/q?x` -> `ns.servicebus.windows.net/q`.
fn normalise(resource: &str) -> String {
    let lower = resource.to_ascii_lowercase();
    let without_scheme = lower
        .split_once("://")
        .map_or(lower.as_str(), |(_, rest)| rest);
    let without_query = without_scheme.split(['?', '#']).next().unwrap_or_default();
    without_query.trim_end_matches('/').to_owned()
}

/// Verifies a token for `target` (`ns.servicebus.windows.net/entity/...`); returns the policy.
pub fn verify<'a>(
    token: &SasToken,
    policies: &'a [SasPolicySpec],
    target: &str,
    now_unix: i64,
) -> Result<&'a SasPolicySpec, SasError> {
    let policy = policies
        .iter()
        .find(|p| p.name == token.key_name)
        .ok_or(SasError::UnknownKeyName)?;
    let signed_by = |key: &str| {
        let expected = sign(key, &token.sr_as_sent, token.expiry);
        // Constant time is irrelevant in a simulator; equality of the decoded bytes matters.
        STANDARD.decode(&expected).ok() == STANDARD.decode(&token.signature).ok()
    };
    if !signed_by(&policy.primary_key) && !policy.secondary_key.as_deref().is_some_and(signed_by) {
        return Err(SasError::InvalidSignature);
    }
    if token.expiry <= now_unix {
        return Err(SasError::Expired(token.expiry));
    }
    let audience = normalise(&token.resource);
    let target = normalise(target);
    let covered = target == audience
        || target
            .strip_prefix(&audience)
            .is_some_and(|rest| rest.starts_with('/'));
    if !covered {
        return Err(SasError::WrongAudience(token.resource.clone()));
    }
    Ok(policy)
}

/// True when the policy grants `right` (`Manage` implies `Send` and `Listen`).
pub fn grants(policy: &SasPolicySpec, right: &str) -> bool {
    policy
        .rights
        .iter()
        .any(|r| r.eq_ignore_ascii_case(right) || r.eq_ignore_ascii_case("Manage"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> SasPolicySpec {
        SasPolicySpec {
            name: "Root".into(),
            primary_key: "a2V5".into(),
            secondary_key: None,
            rights: vec!["Send".into()],
        }
    }

    fn token_for(url: &str, key: &str, se: i64) -> String {
        let sr: String = url::form_urlencoded::byte_serialize(url.as_bytes()).collect();
        let sig: String =
            url::form_urlencoded::byte_serialize(sign(key, &sr, se).as_bytes()).collect();
        format!("SharedAccessSignature sr={sr}&sig={sig}&se={se}&skn=Root")
    }

    #[test]
    fn a_token_for_the_full_url_covers_that_url() {
        let t = parse(&token_for(
            "https://ns.servicebus.windows.net/q/messages/head?timeout=5",
            "a2V5",
            100,
        ))
        .unwrap();
        assert!(
            verify(
                &t,
                &[policy()],
                "ns.servicebus.windows.net/q/messages/head",
                50
            )
            .is_ok()
        );
    }

    #[test]
    fn a_namespace_token_covers_every_entity_but_not_a_longer_name() {
        let t = parse(&token_for(
            "https://ns.servicebus.windows.net/q",
            "a2V5",
            100,
        ))
        .unwrap();
        assert!(verify(&t, &[policy()], "ns.servicebus.windows.net/q/messages", 50).is_ok());
        assert!(matches!(
            verify(&t, &[policy()], "ns.servicebus.windows.net/q2/messages", 50),
            Err(SasError::WrongAudience(_))
        ));
    }

    #[test]
    fn a_wrong_key_or_a_past_expiry_is_refused() {
        let bad = parse(&token_for(
            "https://ns.servicebus.windows.net/q",
            "b3RoZXI",
            100,
        ))
        .unwrap();
        assert_eq!(
            verify(&bad, &[policy()], "ns.servicebus.windows.net/q", 50),
            Err(SasError::InvalidSignature)
        );
        let old = parse(&token_for(
            "https://ns.servicebus.windows.net/q",
            "a2V5",
            10,
        ))
        .unwrap();
        assert_eq!(
            verify(&old, &[policy()], "ns.servicebus.windows.net/q", 50),
            Err(SasError::Expired(10))
        );
    }

    #[test]
    fn manage_implies_send_and_listen() {
        let mut p = policy();
        assert!(grants(&p, "Send") && !grants(&p, "Listen"));
        p.rights = vec!["Manage".into()];
        assert!(grants(&p, "Listen"));
    }
}
