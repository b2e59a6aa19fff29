//! Access tokens: JWTs signed by this simulator (HS256 with a per-simulator key), and the
//! one validation routine every simulated service uses.

use std::fmt;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use time::OffsetDateTime;

/// The claims the simulator puts in (and reads from) its tokens.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Audience: the resource the token is for (`https://graph.microsoft.com`).
    pub aud: String,
    /// Issuer: `https://sts.windows.net/{tid}/` (v1) or `https://login.microsoftonline.com/{tid}/v2.0`.
    pub iss: String,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Not before (Unix seconds).
    pub nbf: i64,
    /// Expiry (Unix seconds).
    pub exp: i64,
    /// Tenant id.
    pub tid: String,
    /// Object id of the calling principal in `tid`.
    pub oid: String,
    /// Subject (the principal's object id for app-only tokens).
    pub sub: String,
    /// Client id of the calling application or managed identity.
    pub appid: String,
    /// Granted application permissions for this audience.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// `app` for app-only tokens.
    #[serde(default)]
    pub idtyp: String,
    /// Token version (`1.0` or `2.0`).
    #[serde(default)]
    pub ver: String,
    /// Resource id of the managed identity, for managed identity tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xms_mirid: Option<String>,
    /// Sign-in name, for user tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upn: Option<String>,
    /// Delegated scopes (`user_impersonation`), for user tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scp: Option<String>,
    /// The identity provider that authenticated a guest (`https://sts.windows.net/{home}/`);
    /// absent when it is the issuer (members, apps), as Entra omits it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp: Option<String>,
    /// The user's name in v1 tokens: a member's UPN, a guest's home address (guest tokens
    /// have no `upn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique_name: Option<String>,
    /// A guest's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Unique token id.
    #[serde(default)]
    pub uti: String,
}

/// Why a token was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization: Bearer` header.
    #[error("no bearer token")]
    Missing,
    /// Not a three-part JWT, or undecodable.
    #[error("malformed token")]
    Malformed,
    /// Not signed by this simulator.
    #[error("bad signature")]
    BadSignature,
    /// Past `exp`.
    #[error("token expired at {exp}")]
    Expired {
        /// The token's expiry (Unix seconds).
        exp: i64,
    },
    /// Before `nbf`.
    #[error("token not yet valid")]
    NotYetValid,
    /// For another resource.
    #[error("invalid audience '{found}'")]
    WrongAudience {
        /// The token's audience.
        found: String,
    },
    /// From another tenant.
    #[error("invalid issuer '{found}'")]
    WrongTenant {
        /// The token's issuer.
        found: String,
    },
}

/// Signs and validates tokens with a key that lives only in this simulator.
pub struct TokenSigner {
    key: [u8; 32],
}

impl fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSigner").finish_non_exhaustive()
    }
}

impl Default for TokenSigner {
    fn default() -> Self {
        let mut key = [0_u8; 32];
        rand::rng().fill_bytes(&mut key);
        Self { key }
    }
}

fn mac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

impl TokenSigner {
    /// Signs `claims` into a compact JWT.
    pub fn sign(&self, claims: &Claims) -> String {
        self.sign_json(claims)
    }

    /// Signs any claims set (an ID token's, whose claims differ from an access token's) the
    /// same way.
    pub fn sign_json(&self, claims: &impl Serialize) -> String {
        let header = URL_SAFE_NO_PAD.encode(r#"{"typ":"JWT","alg":"HS256","kid":"azure-sim"}"#);
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
        let signing_input = format!("{header}.{payload}");
        let signature = URL_SAFE_NO_PAD.encode(mac(&self.key, signing_input.as_bytes()));
        format!("{signing_input}.{signature}")
    }

    /// Checks signature and lifetime; audience and tenant are the caller's business.
    pub fn verify(&self, token: &str, now: OffsetDateTime) -> Result<Claims, AuthError> {
        let claims = decode_unverified(token)?;
        let (signing_input, signature) = token.rsplit_once('.').ok_or(AuthError::Malformed)?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| AuthError::BadSignature)?;
        let mut verifier =
            Hmac::<Sha256>::new_from_slice(&self.key).map_err(|_| AuthError::BadSignature)?;
        verifier.update(signing_input.as_bytes());
        verifier
            .verify_slice(&signature)
            .map_err(|_| AuthError::BadSignature)?;
        let now = now.unix_timestamp();
        if claims.exp <= now {
            return Err(AuthError::Expired { exp: claims.exp });
        }
        // Entra allows five minutes of clock skew on nbf.
        if claims.nbf > now + 300 {
            return Err(AuthError::NotYetValid);
        }
        Ok(claims)
    }
}

impl Claims {
    /// True for a token of a signed-in user (member or guest), not an app-only token.
    pub fn is_user(&self) -> bool {
        self.idtyp == "user"
    }

    /// How services name the user in messages: the UPN of a member, the home address of a
    /// guest; `None` for app-only tokens.
    pub fn user_name(&self) -> Option<&str> {
        self.upn.as_deref().or(self.unique_name.as_deref())
    }
}

/// Reads the claims of a JWT without checking anything (for error messages).
pub fn decode_unverified(token: &str) -> Result<Claims, AuthError> {
    let mut parts = token.split('.');
    let (Some(_), Some(payload), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::Malformed);
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| AuthError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| AuthError::Malformed)
}

/// Compares audiences the way Azure services do: exact, ignoring one trailing `/`.
pub fn audience_matches(found: &str, expected: &[&str]) -> bool {
    let found = found.trim_end_matches('/');
    expected
        .iter()
        .any(|e| e.trim_end_matches('/').eq_ignore_ascii_case(found))
}

/// The v1 issuer of a tenant.
pub fn v1_issuer(tenant: &str) -> String {
    format!("https://sts.windows.net/{tenant}/")
}

/// The v2 issuer of a tenant (what federated identity credentials name).
pub fn v2_issuer(tenant: &str) -> String {
    format!("https://login.microsoftonline.com/{tenant}/v2.0")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp_in: i64) -> Claims {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        Claims {
            aud: "https://graph.microsoft.com".into(),
            iss: v1_issuer("t"),
            iat: now,
            nbf: now,
            exp: now + exp_in,
            tid: "t".into(),
            oid: "o".into(),
            sub: "o".into(),
            appid: "a".into(),
            roles: vec!["Mail.Send".into()],
            idtyp: "app".into(),
            ver: "1.0".into(),
            xms_mirid: None,
            upn: None,
            scp: None,
            idp: None,
            unique_name: None,
            email: None,
            uti: "u".into(),
        }
    }

    #[test]
    fn a_signed_token_verifies_and_round_trips_its_claims() {
        let signer = TokenSigner::default();
        let c = claims(3600);
        assert_eq!(
            signer.verify(&signer.sign(&c), OffsetDateTime::now_utc()),
            Ok(c)
        );
    }

    #[test]
    fn a_token_from_another_simulator_has_a_bad_signature() {
        let token = TokenSigner::default().sign(&claims(3600));
        assert_eq!(
            TokenSigner::default().verify(&token, OffsetDateTime::now_utc()),
            Err(AuthError::BadSignature)
        );
    }

    #[test]
    fn an_expired_token_is_refused() {
        let signer = TokenSigner::default();
        let token = signer.sign(&claims(-1));
        assert!(matches!(
            signer.verify(&token, OffsetDateTime::now_utc()),
            Err(AuthError::Expired { .. })
        ));
    }

    #[test]
    fn audiences_compare_without_a_trailing_slash() {
        assert!(audience_matches(
            "https://vault.azure.net/",
            &["https://vault.azure.net"]
        ));
        assert!(!audience_matches(
            "https://management.azure.com",
            &["https://vault.azure.net"]
        ));
    }
}
