//! How table requests prove who sends them: the account's Shared Key, or an Entra bearer token.
//!
//! Shared Key for the Table service signs
//! `VERB\nContent-MD5\nContent-Type\nDate\nCanonicalizedResource` with HMAC-SHA256 of the
//! decoded account key, where `Date` is the `x-ms-date` value (we send no `Date` header) and
//! the canonicalized resource is `/{account}{encoded URI path}` plus `?comp=...` when the URL
//! has one. For the emulator's path-style URLs (`/devstoreaccount1/Table`) the account name
//! therefore appears twice, as the documentation says it must.

use std::{fmt, sync::Arc};

use async_trait::async_trait;
use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use sha2::Sha256;

/// Why a bearer token could not be had.
#[derive(Debug, thiserror::Error)]
#[error("could not get an Entra token for Azure Storage: {0}")]
pub struct TokenError(pub String);

/// A source of Entra access tokens for the audience `https://storage.azure.com/`.
///
/// Implementations cache and refresh tokens themselves (`azure_identity` credentials do); the
/// store asks for one per request. The token is a secret: implementations must not log it.
#[async_trait]
pub trait BearerSource: Send + Sync {
    /// A currently valid access token (the bare JWT, without `Bearer `).
    async fn token(&self) -> Result<String, TokenError>;
}

/// The scope to ask Entra for: the storage audience with `/.default`.
pub const STORAGE_SCOPE: &str = "https://storage.azure.com/.default";

/// A storage account name and its decoded access key.
#[derive(Clone)]
pub struct SharedKey {
    account: String,
    key: Vec<u8>,
}

impl fmt::Debug for SharedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedKey")
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

/// The account key was not base64. The key itself is never echoed.
#[derive(Debug, thiserror::Error)]
#[error("the storage account key is not valid base64")]
pub struct InvalidKey;

impl SharedKey {
    /// An account and its base64 key as the portal and connection strings show it.
    pub fn new(account: &str, base64_key: &str) -> Result<Self, InvalidKey> {
        let key = STANDARD.decode(base64_key.trim()).map_err(|_| InvalidKey)?;
        if key.is_empty() {
            return Err(InvalidKey);
        }
        Ok(Self {
            account: account.to_owned(),
            key,
        })
    }

    /// The account name.
    #[cfg(test)]
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The string to sign for a request, per "Shared Key format for the Table service".
    pub fn string_to_sign(&self, request: &reqwest::Request, x_ms_date: &str) -> String {
        let header = |name| {
            request
                .headers()
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
                .unwrap_or("")
        };
        let mut resource = format!("/{}{}", self.account, request.url().path());
        if let Some((_, comp)) = request.url().query_pairs().find(|(k, _)| k == "comp") {
            resource.push_str("?comp=");
            resource.push_str(&comp);
        }
        format!(
            "{}\n{}\n{}\n{}\n{}",
            request.method().as_str(),
            header("content-md5"),
            header(CONTENT_TYPE.as_str()),
            x_ms_date,
            resource
        )
    }

    /// The `Authorization` header value for `string_to_sign`.
    pub fn authorization(&self, string_to_sign: &str) -> String {
        // HMAC accepts keys of any length; `new_from_slice` cannot fail for HMAC-SHA256.
        let signature = match Hmac::<Sha256>::new_from_slice(&self.key) {
            Ok(mut mac) => {
                mac.update(string_to_sign.as_bytes());
                STANDARD.encode(mac.finalize().into_bytes())
            }
            Err(_) => String::new(),
        };
        format!("SharedKey {}:{signature}", self.account)
    }
}

/// How requests are authorized.
#[derive(Clone)]
pub enum Credential {
    /// Shared Key with the account key (connection strings, the emulator).
    SharedKey(SharedKey),
    /// Entra bearer tokens (identity-based connections).
    Bearer(Arc<dyn BearerSource>),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SharedKey(key) => f.debug_tuple("SharedKey").field(key).finish(),
            Self::Bearer(_) => f.debug_struct("Bearer").finish_non_exhaustive(),
        }
    }
}

impl Credential {
    /// Adds the `Authorization` header to a request whose other headers (including
    /// `x-ms-date`) are final.
    pub async fn authorize(
        &self,
        request: &mut reqwest::Request,
        x_ms_date: &str,
    ) -> Result<(), TokenError> {
        let value = match self {
            Self::SharedKey(key) => key.authorization(&key.string_to_sign(request, x_ms_date)),
            Self::Bearer(source) => format!("Bearer {}", source.token().await?),
        };
        let mut value = HeaderValue::from_str(&value)
            .map_err(|_| TokenError("the token is not a valid header value".to_owned()))?;
        value.set_sensitive(true);
        request.headers_mut().insert(AUTHORIZATION, value);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The emulator's published well-known key (not a secret).
    const DEV_KEY: &str =
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    fn request(method: reqwest::Method, url: &str, content_type: Option<&str>) -> reqwest::Request {
        let mut r = reqwest::Request::new(method, url::Url::parse(url).unwrap());
        if let Some(ct) = content_type {
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
        }
        r
    }

    #[test]
    fn the_string_to_sign_names_the_account_then_the_path_style_path() {
        let key = SharedKey::new("devstoreaccount1", DEV_KEY).unwrap();
        let r = request(
            reqwest::Method::POST,
            "http://127.0.0.1:10002/devstoreaccount1/$batch",
            Some("multipart/mixed; boundary=batch_1"),
        );
        assert_eq!(
            key.string_to_sign(&r, "Mon, 27 Jun 2016 20:11:08 GMT"),
            "POST\n\nmultipart/mixed; boundary=batch_1\nMon, 27 Jun 2016 20:11:08 GMT\n/devstoreaccount1/devstoreaccount1/$batch"
        );
    }

    #[test]
    fn only_the_comp_query_parameter_is_signed() {
        let key = SharedKey::new("myaccount", DEV_KEY).unwrap();
        let r = request(
            reqwest::Method::GET,
            "https://myaccount.table.core.windows.net/mytable()?$filter=Active%20eq%20true&comp=acl",
            None,
        );
        assert!(
            key.string_to_sign(&r, "d")
                .ends_with("\n/myaccount/mytable()?comp=acl"),
            "{}",
            key.string_to_sign(&r, "d")
        );
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_the_string_with_the_decoded_key() {
        // Reference computed with openssl:
        // printf 'GET\n\n\nd\n/a/T()' | openssl dgst -sha256 -mac HMAC \
        //   -macopt hexkey:000102030405060708090a0b0c0d0e0f -binary | base64
        let key = SharedKey::new("a", "AAECAwQFBgcICQoLDA0ODw==").unwrap();
        assert_eq!(
            key.authorization("GET\n\n\nd\n/a/T()"),
            "SharedKey a:gVN9OqqItLnEpkSgmDj4hmVkPdy950wyEzV3SW4Yyrc="
        );
    }

    #[test]
    fn a_key_that_is_not_base64_is_refused_without_echoing_it() {
        let err = SharedKey::new("a", "not base64!").unwrap_err();
        assert!(!err.to_string().contains("not base64!"));
    }

    #[test]
    fn debug_output_never_shows_the_key() {
        let key = SharedKey::new("devstoreaccount1", DEV_KEY).unwrap();
        let shown = format!("{:?}", Credential::SharedKey(key));
        assert!(shown.contains("devstoreaccount1"));
        assert!(!shown.contains("Eby8"), "{shown}");
    }
}
