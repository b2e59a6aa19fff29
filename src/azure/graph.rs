//! Microsoft Graph: the share app, its credentials and service principal, and mail.

use std::sync::Arc;

use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use url::Url;

use super::{AccessToken, ApiCall, AzureError, HttpStack, Secret, Service, Tokens, scopes};

const GRAPH: &str = "https://graph.microsoft.com/v1.0";

/// An application registration, as far as we use it.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Application {
    /// Object id.
    pub id: String,
    /// Client id.
    pub app_id: String,
    /// Its client secrets (without their values).
    #[serde(default)]
    pub password_credentials: Vec<PasswordCredential>,
}

/// A client secret's metadata.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasswordCredential {
    /// Its id.
    pub key_id: String,
    /// Its label.
    #[serde(default)]
    pub display_name: Option<String>,
    /// When it stops working.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub end_date_time: Option<OffsetDateTime>,
}

/// A federated identity credential.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FederatedCredential {
    /// Unique per app.
    pub name: String,
    /// Token issuer (`https://login.microsoftonline.com/{tenant}/v2.0`).
    pub issuer: String,
    /// The managed identity's object id.
    pub subject: String,
    /// `api://AzureADTokenExchange`.
    pub audiences: Vec<String>,
}

/// A service principal, as far as we use it.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePrincipal {
    /// Object id (what role assignments name).
    pub id: String,
    /// The app's client id.
    pub app_id: String,
}

/// A new client secret: the value is shown once.
#[derive(Debug)]
pub struct NewPassword {
    /// Its id.
    pub key_id: String,
    /// Its value.
    pub secret: Secret,
    /// When it expires.
    pub end: OffsetDateTime,
}

/// Graph with the operator identity.
#[derive(Clone, Debug)]
pub struct GraphClient {
    http: HttpStack,
    tokens: Arc<Tokens>,
}

pub(super) fn url(path: &str) -> Result<Url, AzureError> {
    Url::parse(&format!("{GRAPH}{path}")).map_err(|e| AzureError::Unexpected {
        service: Service::Graph,
        detail: format!("bad URL {path}: {e}"),
    })
}

/// A path segment with everything but unreserved characters percent-encoded.
fn urlencoding_segment(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// Quotes a value for an OData key segment (`'` doubled).
fn odata_key(value: &str) -> String {
    value.replace('\'', "''")
}

impl GraphClient {
    /// A client calling Graph as the operator.
    pub fn new(http: HttpStack, tokens: Arc<Tokens>) -> Self {
        Self { http, tokens }
    }

    async fn token(&self) -> Result<AccessToken, AzureError> {
        self.tokens.operator(scopes::GRAPH).await
    }

    /// Every Graph call imageshare makes runs in a pipeline step, none while a person waits:
    /// `x-ms-throttle-priority: Low` lets Graph throttle them before interactive traffic
    /// ("Microsoft Graph throttling guidance": priority decides what goes first under load;
    /// it does not change the limits).
    pub(super) async fn call(&self, call: ApiCall) -> Result<super::ApiResponse, AzureError> {
        let token = self.token().await?;
        self.http
            .send(
                &call
                    .header("authorization", &token.bearer())
                    .header("x-ms-throttle-priority", "Low"),
            )
            .await
    }

    /// Creates or updates the app with this `uniqueName` (idempotent upsert).
    pub async fn upsert_application(
        &self,
        unique_name: &str,
        body: Value,
    ) -> Result<Application, AzureError> {
        let path = format!("/applications(uniqueName='{}')", odata_key(unique_name));
        let response = self
            .call(
                ApiCall::new(Service::Graph, Method::PATCH, url(&path)?)
                    .header("prefer", "create-if-missing")
                    .json(body),
            )
            .await?;
        if response.status == 201 {
            return response.json(Service::Graph);
        }
        // 204: it existed and was updated; read it back for its ids.
        self.get_application(unique_name)
            .await?
            .ok_or_else(|| AzureError::Unexpected {
                service: Service::Graph,
                detail: format!("application '{unique_name}' was updated but cannot be read back"),
            })
    }

    /// The app with this `uniqueName`, if it exists.
    pub async fn get_application(
        &self,
        unique_name: &str,
    ) -> Result<Option<Application>, AzureError> {
        let path = format!("/applications(uniqueName='{}')", odata_key(unique_name));
        match self
            .call(ApiCall::new(Service::Graph, Method::GET, url(&path)?))
            .await
        {
            Ok(r) => r.json(Service::Graph).map(Some),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The app's federated identity credentials.
    pub async fn federated_credentials(
        &self,
        app_object_id: &str,
    ) -> Result<Vec<FederatedCredential>, AzureError> {
        #[derive(Deserialize)]
        struct Page {
            value: Vec<FederatedCredential>,
        }
        let path = format!("/applications/{app_object_id}/federatedIdentityCredentials");
        let page: Page = self
            .call(ApiCall::new(Service::Graph, Method::GET, url(&path)?))
            .await?
            .json(Service::Graph)?;
        Ok(page.value)
    }

    /// Ensures the app has `credential` (by name): adds it, or corrects it if it differs.
    /// The add comes first (a credential is usually absent: the last request of a tenant
    /// removes it); only when Graph answers 409 (the name is taken) is the existing one read
    /// and, if it differs, corrected.
    pub async fn ensure_federated_credential(
        &self,
        app_object_id: &str,
        credential: &FederatedCredential,
    ) -> Result<(), AzureError> {
        let path = format!("/applications/{app_object_id}/federatedIdentityCredentials");
        let body = serde_json::to_value(credential).unwrap_or(Value::Null);
        // The name is a natural key: a resend after an ambiguous failure is harmless (Graph
        // refuses a duplicate name).
        match self
            .call(
                ApiCall::new(Service::Graph, Method::POST, url(&path)?)
                    .json(body)
                    .idempotent(true),
            )
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) if e.status() == Some(409) => {}
            Err(e) => return Err(e),
        }
        let existing = self.federated_credentials(app_object_id).await?;
        match existing.iter().find(|c| c.name == credential.name) {
            // The same trust under another name: the app signs in all the same.
            None if existing
                .iter()
                .any(|c| c.issuer == credential.issuer && c.subject == credential.subject) =>
            {
                Ok(())
            }
            // Removed again since Graph refused it: a retry adds it.
            None => Err(AzureError::Transport {
                service: Service::Graph,
                detail: format!(
                    "federated credential '{}' was refused as a duplicate but is not listed; trying again",
                    credential.name
                ),
            }),
            Some(c) if c == credential => Ok(()),
            Some(_) => {
                let path = format!(
                    "/applications/{app_object_id}/federatedIdentityCredentials/{}",
                    credential.name
                );
                let body = json!({"issuer": credential.issuer, "subject": credential.subject, "audiences": credential.audiences});
                self.call(ApiCall::new(Service::Graph, Method::PATCH, url(&path)?).json(body))
                    .await
                    .map(|_| ())
            }
        }
    }

    /// Adds a client secret. Not idempotent: callers record their intent first.
    pub async fn add_password(
        &self,
        app_object_id: &str,
        display_name: &str,
        end: OffsetDateTime,
    ) -> Result<NewPassword, AzureError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Created {
            key_id: String,
            secret_text: String,
        }
        let end_text = end
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|e| AzureError::Unexpected {
                service: Service::Graph,
                detail: e.to_string(),
            })?;
        let path = format!("/applications/{app_object_id}/addPassword");
        let body =
            json!({"passwordCredential": {"displayName": display_name, "endDateTime": end_text}});
        let created: Created = self
            .call(ApiCall::new(Service::Graph, Method::POST, url(&path)?).json(body))
            .await?
            .json(Service::Graph)?;
        Ok(NewPassword {
            key_id: created.key_id,
            secret: Secret::new(created.secret_text),
            end,
        })
    }

    /// Removes a client secret (already gone counts as removed).
    pub async fn remove_password(
        &self,
        app_object_id: &str,
        key_id: &str,
    ) -> Result<(), AzureError> {
        let path = format!("/applications/{app_object_id}/removePassword");
        let call = ApiCall::new(Service::Graph, Method::POST, url(&path)?)
            .json(json!({"keyId": key_id}))
            .idempotent(true);
        match self.call(call).await {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.status(), Some(400 | 404)) && e.message_mentions("keyId") => {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Deletes the app registration (Graph moves it to deleted items; its service principal
    /// in this tenant goes with it).
    pub async fn delete_application(
        &self,
        app_object_id: &str,
    ) -> Result<super::deletion::Deleted, AzureError> {
        let path = format!("/applications/{app_object_id}");
        let call = ApiCall::new(Service::Graph, Method::DELETE, url(&path)?).idempotent(true);
        super::deletion::read(Service::Graph, self.call(call).await, None)
    }

    /// Deletes a service principal (Graph moves it to deleted items).
    pub async fn delete_service_principal(
        &self,
        object_id: &str,
    ) -> Result<super::deletion::Deleted, AzureError> {
        let path = format!("/servicePrincipals/{object_id}");
        let call = ApiCall::new(Service::Graph, Method::DELETE, url(&path)?).idempotent(true);
        super::deletion::read(Service::Graph, self.call(call).await, None)
    }

    /// Deletes the app's federated identity credential `name` (Graph addresses it by id or
    /// by name).
    pub async fn delete_federated_credential(
        &self,
        app_object_id: &str,
        name: &str,
    ) -> Result<super::deletion::Deleted, AzureError> {
        let path = format!(
            "/applications/{app_object_id}/federatedIdentityCredentials/{}",
            urlencoding_segment(name)
        );
        let call = ApiCall::new(Service::Graph, Method::DELETE, url(&path)?).idempotent(true);
        super::deletion::read(Service::Graph, self.call(call).await, None)
    }

    /// Removes a client secret, saying whether it was there.
    pub async fn delete_password(
        &self,
        app_object_id: &str,
        key_id: &str,
    ) -> Result<super::deletion::Deleted, AzureError> {
        let path = format!("/applications/{app_object_id}/removePassword");
        let call = ApiCall::new(Service::Graph, Method::POST, url(&path)?)
            .json(json!({"keyId": key_id}))
            .idempotent(true);
        match self.call(call).await {
            Err(e) if matches!(e.status(), Some(400 | 404)) && e.message_mentions("keyId") => {
                Ok(super::deletion::Deleted {
                    absent: true,
                    request_id: e.service_request_id().map(str::to_owned),
                    running: None,
                })
            }
            answer => super::deletion::read(Service::Graph, answer, None),
        }
    }

    /// The app's current secrets' metadata.
    pub async fn application_by_id(&self, app_object_id: &str) -> Result<Application, AzureError> {
        let path = format!("/applications/{app_object_id}");
        self.call(ApiCall::new(Service::Graph, Method::GET, url(&path)?))
            .await?
            .json(Service::Graph)
    }

    /// Creates or updates the app's service principal in the operator's tenant.
    pub async fn upsert_service_principal(
        &self,
        app_id: &str,
    ) -> Result<ServicePrincipal, AzureError> {
        let path = format!("/servicePrincipals(appId='{}')", odata_key(app_id));
        let response = self
            .call(
                ApiCall::new(Service::Graph, Method::PATCH, url(&path)?)
                    .header("prefer", "create-if-missing")
                    .json(json!({"accountEnabled": true, "tags": ["imageshare"]})),
            )
            .await?;
        if response.status == 201 {
            return response.json(Service::Graph);
        }
        self.call(ApiCall::new(Service::Graph, Method::GET, url(&path)?))
            .await?
            .json(Service::Graph)
    }

    /// Sends an HTML mail from `sender` (a mailbox user id or UPN) to `to`. Not idempotent.
    pub async fn send_mail(
        &self,
        sender: &str,
        to: &str,
        subject: &str,
        html: &str,
    ) -> Result<(), AzureError> {
        let path = format!("/users/{sender}/sendMail");
        let body = json!({
            "message": {
                "subject": subject,
                "body": {"contentType": "HTML", "content": html},
                "toRecipients": [{"emailAddress": {"address": to}}]
            },
            "saveToSentItems": true
        });
        self.call(ApiCall::new(Service::Graph, Method::POST, url(&path)?).json(body))
            .await
            .map(|_| ())
    }
}

impl AzureError {
    /// True when the error message mentions `text` (case-insensitive).
    pub fn message_mentions(&self, text: &str) -> bool {
        let text = text.to_ascii_lowercase();
        match self {
            Self::Api { message, .. } | Self::Token { message, .. } => {
                message.to_ascii_lowercase().contains(&text)
            }
            _ => false,
        }
    }
}
