//! The `state` parameter of the admin-consent link: unguessable, bound to one request,
//! single-use and expiring. Only its hash is stored; the value lives in the link alone.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

use crate::domain::RequestId;

/// A fresh state value and the hash to store.
#[derive(Debug)]
pub struct NewState {
    /// `{request id}.{256 random bits, base64url}`: goes into the link.
    pub value: String,
    /// SHA-256 (hex) of the random part: goes into the store.
    pub hash: String,
}

fn hash(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Makes a state for `request`.
pub fn generate(request: RequestId) -> NewState {
    let random: [u8; 32] = rand::random();
    let secret = URL_SAFE_NO_PAD.encode(random);
    NewState {
        value: format!("{request}.{secret}"),
        hash: hash(&secret),
    }
}

/// A fresh PKCE verifier (RFC 7636 §4.1: 32 random octets, base64url, 43 characters) and
/// OpenID nonce for the one-visit sign-in.
pub fn one_visit() -> crate::domain::OneVisit {
    let verifier: [u8; 32] = rand::random();
    let nonce: [u8; 16] = rand::random();
    crate::domain::OneVisit {
        verifier: crate::secret::Secret::new(URL_SAFE_NO_PAD.encode(verifier)),
        nonce: URL_SAFE_NO_PAD.encode(nonce),
    }
}

/// The S256 `code_challenge` of a verifier (RFC 7636 §4.2): base64url(SHA-256(verifier)).
pub fn s256_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Splits a returned state into the request it names and the hash of its random part.
/// `None` for anything that is not shaped like one of ours.
pub fn parse(state: &str) -> Option<(RequestId, String)> {
    let (id, secret) = state.split_once('.')?;
    let id = RequestId::parse(id).ok()?;
    let ok = secret.len() == 43
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    ok.then(|| (id, hash(secret)))
}

/// Constant-time comparison of two hashes, so timing reveals nothing about the stored one.
pub fn matches(stored_hash: &str, presented_hash: &str) -> bool {
    stored_hash.len() == presented_hash.len()
        && stored_hash
            .bytes()
            .zip(presented_hash.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_s256_challenge_is_the_rfc_7636_appendix_b_example() {
        assert_eq!(
            s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let fresh = one_visit();
        assert_eq!(fresh.verifier.expose().len(), 43);
        assert!(!format!("{fresh:?}").contains(fresh.verifier.expose()));
    }

    #[test]
    fn a_generated_state_parses_back_to_its_request_and_hash() {
        let id = RequestId::new_random();
        let state = generate(id);
        let (parsed, presented) = parse(&state.value).unwrap();
        assert_eq!(parsed, id);
        assert!(matches(&state.hash, &presented));
    }

    #[test]
    fn states_are_unique_and_tampering_is_detected() {
        let id = RequestId::new_random();
        let (a, b) = (generate(id), generate(id));
        assert_ne!(a.value, b.value);
        let (_, presented) = parse(&b.value).unwrap();
        assert!(!matches(&a.hash, &presented));
    }

    #[test]
    fn malformed_states_are_refused() {
        for s in [
            "",
            "x",
            "not-a-guid.abc",
            &format!("{}.short", RequestId::new_random()),
            &format!("{}.{}", RequestId::new_random(), "!".repeat(43)),
        ] {
            assert!(parse(s).is_none(), "{s}");
        }
    }
}
