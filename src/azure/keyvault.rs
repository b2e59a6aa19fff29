//! Key Vault secrets: where a share app's client secret lives, referenced by name.

use std::{collections::BTreeMap, sync::Arc};

use reqwest::Method;
use serde::Deserialize;
use serde_json::json;
use time::OffsetDateTime;
use url::Url;

use super::{ApiCall, AzureError, HttpStack, Secret, Service, Tokens, scopes};

const API_VERSION: &str = "7.5";

/// A secret read back.
#[derive(Debug)]
pub struct VaultSecret {
    /// The value.
    pub value: Secret,
    /// Its tags.
    pub tags: BTreeMap<String, String>,
    /// When it expires.
    pub expires: Option<OffsetDateTime>,
    /// The version id (`https://{vault}/secrets/{name}/{version}`).
    pub id: String,
}

/// Key Vault with the operator identity.
#[derive(Clone, Debug)]
pub struct KeyVaultClient {
    http: HttpStack,
    tokens: Arc<Tokens>,
    vault: Url,
}

impl KeyVaultClient {
    /// A client for the vault at `vault` (`https://{name}.vault.azure.net`).
    pub fn new(http: HttpStack, tokens: Arc<Tokens>, vault: Url) -> Self {
        Self {
            http,
            tokens,
            vault,
        }
    }

    fn url(&self, name: &str) -> Result<Url, AzureError> {
        let mut url =
            self.vault
                .join(&format!("secrets/{name}"))
                .map_err(|e| AzureError::Unexpected {
                    service: Service::KeyVault,
                    detail: e.to_string(),
                })?;
        url.query_pairs_mut()
            .append_pair("api-version", API_VERSION);
        Ok(url)
    }

    async fn call(&self, call: ApiCall) -> Result<super::ApiResponse, AzureError> {
        let token = self.tokens.operator(scopes::KEY_VAULT).await?;
        self.http
            .send(&call.header("authorization", &token.bearer()))
            .await
    }

    /// Sets a new version of secret `name`.
    pub async fn set(
        &self,
        name: &str,
        value: &Secret,
        expires: OffsetDateTime,
        tags: &BTreeMap<String, String>,
    ) -> Result<String, AzureError> {
        #[derive(Deserialize)]
        struct Set {
            id: String,
        }
        let body = json!({
            "value": value.expose(),
            "contentType": "application/vnd.imageshare.client-secret",
            "attributes": {"enabled": true, "exp": expires.unix_timestamp()},
            "tags": tags,
        });
        let set: Set = self
            .call(ApiCall::new(Service::KeyVault, Method::PUT, self.url(name)?).json(body))
            .await?
            .json(Service::KeyVault)?;
        Ok(set.id)
    }

    /// The latest version of secret `name`, if it exists.
    pub async fn get(&self, name: &str) -> Result<Option<VaultSecret>, AzureError> {
        #[derive(Deserialize)]
        struct Attributes {
            exp: Option<i64>,
        }
        #[derive(Deserialize)]
        struct Got {
            value: String,
            id: String,
            #[serde(default)]
            tags: BTreeMap<String, String>,
            attributes: Attributes,
        }
        match self
            .call(ApiCall::new(
                Service::KeyVault,
                Method::GET,
                self.url(name)?,
            ))
            .await
        {
            Ok(r) => {
                let got: Got = r.json(Service::KeyVault)?;
                Ok(Some(VaultSecret {
                    value: Secret::new(got.value),
                    tags: got.tags,
                    expires: got
                        .attributes
                        .exp
                        .and_then(|e| OffsetDateTime::from_unix_timestamp(e).ok()),
                    id: got.id,
                }))
            }
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }
}
