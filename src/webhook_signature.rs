//! Signing webhook calls the Standard Webhooks way (standardwebhooks.com): the receiver checks
//! `webhook-signature` = `v1,` + base64 HMAC-SHA256, keyed with the shared secret, over
//! `{webhook-id}.{webhook-timestamp}.{body}`. The secret is written `whsec_` + base64 of the
//! key, as Standard Webhooks libraries expect it.

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The shared key. Its bytes never appear in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Vec<u8>);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

impl WebhookSecret {
    /// Reads `whsec_<base64>`; the key must be 24 to 64 bytes (Standard Webhooks).
    pub fn parse(text: &str) -> Result<Self, String> {
        let Some(encoded) = text.trim().strip_prefix("whsec_") else {
            return Err("is not a Standard Webhooks secret: whsec_ followed by base64".to_owned());
        };
        let key = STANDARD
            .decode(encoded)
            .map_err(|_| "the part after whsec_ is not base64".to_owned())?;
        if !(24..=64).contains(&key.len()) {
            return Err(format!(
                "the key is {} bytes; Standard Webhooks keys are 24 to 64 bytes",
                key.len()
            ));
        }
        Ok(Self(key))
    }

    /// The `webhook-signature` value for one call.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        // Any key length is valid for HMAC, so this cannot fail for a parsed key; an empty
        // signature would be refused by the receiver rather than sent unsigned.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.0) else {
            return String::new();
        };
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_signature_matches_the_standard_webhooks_test_vector() {
        // The example of the Standard Webhooks specification and its reference libraries.
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            secret.sign(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn a_secret_without_its_prefix_or_of_a_bad_length_is_refused_and_never_printed() {
        assert!(WebhookSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_err());
        assert!(WebhookSecret::parse("whsec_not base64!").is_err());
        assert!(WebhookSecret::parse("whsec_c2hvcnQ=").is_err());
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(format!("{secret:?}"), "WebhookSecret(..)");
    }
}
