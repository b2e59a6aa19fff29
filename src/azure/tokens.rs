//! Entra tokens through `azure_identity`: the operator's managed identity, and the share app
//! (a federated credential trusting that identity, or a client secret) in either tenant.
//!
//! Credentials are built once per (app, tenant, credential) and kept, so `azure_identity`'s
//! per-credential cache serves each (identity, tenant, scope) until five minutes before expiry.
//! That cache runs on the machine's wall clock; a token whose `exp` has passed by *our*
//! clock (a host resumed after a suspend, or the simulator's clock moved forward) is never
//! handed out: the credential is built again, which starts an empty cache.

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, Mutex},
};

use azure_core::{
    credentials::{Secret as CoreSecret, TokenCredential},
    error::ErrorKind,
    http::{ClientMethodOptions, ClientOptions, RetryOptions, Transport as CoreTransport},
};
use azure_identity::{
    ClientAssertion, ClientAssertionCredential, ClientAssertionCredentialOptions,
    ClientSecretCredential, ClientSecretCredentialOptions, ManagedIdentityCredential,
    ManagedIdentityCredentialOptions, UserAssignedId,
};
use azure_transport::Transport;
use sha2::{Digest, Sha256};

use tracing::warn;

use super::{AzureError, Service};
pub use crate::secret::Secret;
use crate::{
    context::{Clock, SystemClock},
    domain::TenantId,
};

/// Token scopes of the services we call.
pub mod scopes {
    /// Azure Resource Manager.
    pub const ARM: &str = "https://management.azure.com/.default";
    /// Microsoft Graph.
    pub const GRAPH: &str = "https://graph.microsoft.com/.default";
    /// Key Vault.
    pub const KEY_VAULT: &str = "https://vault.azure.net/.default";
    /// Service Bus.
    pub const SERVICE_BUS: &str = "https://servicebus.azure.net/.default";
    /// Azure Storage.
    pub const STORAGE: &str = "https://storage.azure.com/.default";
    /// The audience of managed identity tokens used as federated client assertions.
    pub const TOKEN_EXCHANGE: &str = "api://AzureADTokenExchange/.default";
}

/// A bearer token.
#[derive(Clone)]
pub struct AccessToken(Secret);

impl AccessToken {
    /// Wraps a token this process was handed (an authorization code's redemption).
    pub(crate) fn new(token: Secret) -> Self {
        Self(token)
    }

    /// The `Authorization` header value.
    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.0.expose())
    }

    /// The raw token.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    /// A claim from the token's payload, read without verification (for our own identity's
    /// object id; never for authorization decisions).
    pub fn unverified_claim(&self, name: &str) -> Option<String> {
        jwt_claim(self.0.expose(), name)?
            .as_str()
            .map(str::to_owned)
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(***)")
    }
}

/// How the share app proves who it is.
#[derive(Clone, Debug)]
pub enum AppCredential {
    /// A federated identity credential trusting the operator's managed identity: no secret.
    Federated,
    /// A client secret (kept in Key Vault).
    Secret(Secret),
}

impl AppCredential {
    /// A stable, non-reversible key for the credential cache.
    fn cache_key(&self) -> String {
        match self {
            Self::Federated => "federated".to_owned(),
            Self::Secret(s) => {
                let digest = Sha256::digest(s.expose().as_bytes());
                digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
            }
        }
    }
}

/// A token this close to its `exp` (by our clock) is not handed out: Azure refuses tokens
/// past `exp`, and a call takes a moment to arrive.
const EXPIRY_MARGIN_SECONDS: i64 = 60;

/// Whether `token` is a JWT whose `exp` is within the margin of `now`. Opaque tokens are
/// left to `azure_identity`'s own cache.
fn expired_by(token: &str, now: time::OffsetDateTime) -> bool {
    jwt_claim(token, "exp")
        .and_then(|exp| exp.as_i64())
        .is_some_and(|exp| exp <= now.unix_timestamp() + EXPIRY_MARGIN_SECONDS)
}

pub(super) fn jwt_claim(token: &str, name: &str) -> Option<serde_json::Value> {
    jwt_claims(token)?
        .get_mut(name)
        .map(serde_json::Value::take)
}

/// A JWT's payload, unverified (decoded once, for callers that read several claims).
pub(super) fn jwt_claims(token: &str) -> Option<serde_json::Value> {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Builds the operator's credential again (a fresh, empty cache).
type Rebuild = dyn Fn() -> azure_core::Result<Arc<dyn TokenCredential>> + Send + Sync;

/// The operator identity's credential, checked against our clock.
struct Operator {
    current: Mutex<Arc<dyn TokenCredential>>,
    /// `None`: the credential does not cache (tests), a new one would answer the same.
    rebuild: Option<Box<Rebuild>>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Operator").finish_non_exhaustive()
    }
}

impl Operator {
    fn credential(&self) -> Arc<dyn TokenCredential> {
        self.current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    async fn token(&self, scope: &str) -> azure_core::Result<String> {
        let token = self.credential().get_token(&[scope], None).await?;
        let secret = token.token.secret().to_owned();
        let Some(rebuild) = &self.rebuild else {
            return Ok(secret);
        };
        if !expired_by(&secret, self.clock.now()) {
            return Ok(secret);
        }
        let fresh = rebuild()?;
        *self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = fresh.clone();
        let token = fresh.get_token(&[scope], None).await?;
        Ok(token.token.secret().to_owned())
    }
}

/// The operator identity's token as a client assertion (workload identity federation).
#[derive(Debug)]
struct ManagedIdentityAssertion {
    operator: Arc<Operator>,
    /// `{audience}/.default`: the audience the share app's federated credential trusts.
    scope: String,
}

#[async_trait::async_trait]
impl ClientAssertion for ManagedIdentityAssertion {
    async fn secret(&self, _: Option<ClientMethodOptions<'_>>) -> azure_core::Result<String> {
        self.operator.token(&self.scope).await
    }
}

type AppKey = (String, TenantId, String);

/// Hands out tokens.
pub struct Tokens {
    client_options: ClientOptions,
    operator: Arc<Operator>,
    /// The scope of the operator's token used as a client assertion.
    exchange_scope: String,
    apps: Mutex<HashMap<AppKey, Arc<dyn TokenCredential>>>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens").finish_non_exhaustive()
    }
}

fn client_options(transport: &Transport) -> ClientOptions {
    ClientOptions {
        transport: Some(CoreTransport::new(transport.for_azure_core())),
        // Our steps decide about retrying; a credential failing fast keeps invocations short.
        retry: RetryOptions::none(),
        ..ClientOptions::default()
    }
}

impl Tokens {
    /// The operator is the Function App's user-assigned managed identity (App Service's
    /// `IDENTITY_ENDPOINT`/`IDENTITY_HEADER`).
    pub fn managed_identity(transport: &Transport, client_id: &str) -> Result<Self, AzureError> {
        let client_options = client_options(transport);
        let options = client_options.clone();
        let client_id = client_id.to_owned();
        let build = move || -> azure_core::Result<Arc<dyn TokenCredential>> {
            let credential =
                ManagedIdentityCredential::new(Some(ManagedIdentityCredentialOptions {
                    user_assigned_id: Some(UserAssignedId::ClientId(client_id.clone())),
                    client_options: options.clone(),
                }))?;
            Ok(credential)
        };
        let first = build().map_err(|e| AzureError::Unexpected {
            service: Service::Entra,
            detail: e.to_string(),
        })?;
        Ok(Self {
            client_options,
            operator: Arc::new(Operator {
                current: Mutex::new(first),
                rebuild: Some(Box::new(build)),
                clock: Arc::new(SystemClock),
            }),
            exchange_scope: scopes::TOKEN_EXCHANGE.to_owned(),
            apps: Mutex::default(),
            clock: Arc::new(SystemClock),
        })
    }

    /// Uses `operator` as the operator identity (tests, or other hosting). It is used as
    /// given: a credential that caches must not outlive its tokens.
    pub fn with_operator(transport: &Transport, operator: Arc<dyn TokenCredential>) -> Self {
        Self {
            client_options: client_options(transport),
            operator: Arc::new(Operator {
                current: Mutex::new(operator),
                rebuild: None,
                clock: Arc::new(SystemClock),
            }),
            exchange_scope: scopes::TOKEN_EXCHANGE.to_owned(),
            apps: Mutex::default(),
            clock: Arc::new(SystemClock),
        }
    }

    /// Judges token expiry by `clock` (the simulator's, in simulated mode) instead of the
    /// system clock. Call before the first token is asked for.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        if let Some(operator) = Arc::get_mut(&mut self.operator) {
            operator.clock = clock.clone();
        } else {
            warn!("the token clock is set after tokens were handed out; keeping the system clock");
        }
        self.clock = clock;
        self
    }

    /// Presents the operator's token for `audience` (`IMAGESHARE_FEDERATED_AUDIENCE`) as the
    /// share apps' client assertion, instead of the public cloud's.
    #[must_use]
    pub fn with_token_exchange_audience(mut self, audience: &str) -> Self {
        self.exchange_scope = format!("{audience}/.default");
        self
    }

    /// A token of the operator identity for `scope`.
    pub async fn operator(&self, scope: &str) -> Result<AccessToken, AzureError> {
        let token = self
            .operator
            .token(scope)
            .await
            .map_err(|e| token_error("the operator identity's tenant", &e))?;
        Ok(AccessToken(Secret::new(token)))
    }

    /// The client assertion a share app with a federated credential presents: the operator
    /// identity's token for the token-exchange audience (for an authorization code's
    /// redemption, which the credential types of `azure_identity` do not make).
    pub async fn client_assertion(&self) -> Result<Secret, AzureError> {
        self.operator
            .token(&self.exchange_scope)
            .await
            .map(Secret::new)
            .map_err(|e| token_error("the operator identity's tenant", &e))
    }

    /// A token of the share app `app_id` in `tenant` for `scope`.
    pub async fn app(
        &self,
        app_id: &str,
        tenant: TenantId,
        credential: &AppCredential,
        scope: &str,
    ) -> Result<AccessToken, AzureError> {
        let mut token = self
            .app_credential(app_id, tenant, credential)?
            .get_token(&[scope], None)
            .await
            .map_err(|e| token_error(&tenant.to_string(), &e))?;
        if expired_by(token.token.secret(), self.clock.now()) {
            // Built again: a fresh credential has an empty cache.
            self.forget(&(app_id.to_owned(), tenant, credential.cache_key()));
            token = self
                .app_credential(app_id, tenant, credential)?
                .get_token(&[scope], None)
                .await
                .map_err(|e| token_error(&tenant.to_string(), &e))?;
        }
        Ok(AccessToken(Secret::new(token.token.secret())))
    }

    /// Drops cached credentials of `app_id` (after a secret rotation).
    pub fn forget_app(&self, app_id: &str) {
        self.apps
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|k, _| k.0 != app_id);
    }

    fn forget(&self, key: &AppKey) {
        self.apps
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(key);
    }

    fn app_credential(
        &self,
        app_id: &str,
        tenant: TenantId,
        credential: &AppCredential,
    ) -> Result<Arc<dyn TokenCredential>, AzureError> {
        let key = (app_id.to_owned(), tenant, credential.cache_key());
        let mut apps = self
            .apps
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(existing) = apps.get(&key) {
            return Ok(existing.clone());
        }
        let options = self.client_options.clone();
        let built: azure_core::Result<Arc<dyn TokenCredential>> = match credential {
            AppCredential::Federated => ClientAssertionCredential::new(
                tenant.to_string(),
                app_id.to_owned(),
                ManagedIdentityAssertion {
                    operator: self.operator.clone(),
                    scope: self.exchange_scope.clone(),
                },
                Some(ClientAssertionCredentialOptions {
                    client_options: options,
                }),
            )
            .map(|c| c as Arc<dyn TokenCredential>),
            AppCredential::Secret(secret) => ClientSecretCredential::new(
                &tenant.to_string(),
                app_id.to_owned(),
                CoreSecret::new(secret.expose().to_owned()),
                Some(ClientSecretCredentialOptions {
                    client_options: options,
                }),
            )
            .map(|c| c as Arc<dyn TokenCredential>),
        };
        let built = built.map_err(|e| AzureError::Unexpected {
            service: Service::Entra,
            detail: e.to_string(),
        })?;
        apps.insert(key, built.clone());
        Ok(built)
    }
}

/// Finds the Entra answer (status, AADSTS codes, description) inside `azure_identity`'s
/// wrapped error.
fn token_error(tenant: &str, error: &azure_core::Error) -> AzureError {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        if let Some(core) = e.downcast_ref::<azure_core::Error>() {
            match core.kind() {
                ErrorKind::HttpResponse {
                    status, error_code, ..
                } => {
                    let codes = error_code
                        .as_deref()
                        .unwrap_or("")
                        .split(',')
                        .filter_map(|c| c.trim().parse().ok())
                        .collect();
                    return AzureError::Token {
                        tenant: tenant.to_owned(),
                        codes,
                        message: first_line(&core.to_string()),
                        status: Some(u16::from(*status)),
                    };
                }
                ErrorKind::Connection | ErrorKind::Io => {
                    return AzureError::Transport {
                        service: Service::Entra,
                        detail: core.to_string(),
                    };
                }
                _ => {}
            }
        }
        current = e.source();
    }
    AzureError::Token {
        tenant: tenant.to_owned(),
        codes: Vec::new(),
        message: first_line(&error.to_string()),
        status: None,
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").chars().take(400).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_tokens_never_print() {
        let s = Secret::new("p@ss");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        let t = AccessToken(Secret::new("eyJ"));
        assert_eq!(format!("{t:?}"), "AccessToken(***)");
        assert!(!format!("{:?}", AppCredential::Secret(s)).contains("p@ss"));
    }

    /// A caching credential: hands out the one JWT it was built with, expiring at `exp`.
    #[derive(Debug)]
    struct Cached(String);

    #[async_trait::async_trait]
    impl TokenCredential for Cached {
        async fn get_token(
            &self,
            _: &[&str],
            _: Option<azure_core::credentials::TokenRequestOptions<'_>>,
        ) -> azure_core::Result<azure_core::credentials::AccessToken> {
            Ok(azure_core::credentials::AccessToken::new(
                CoreSecret::new(self.0.clone()),
                time::OffsetDateTime::now_utc() + time::Duration::hours(1),
            ))
        }
    }

    fn jwt(exp: i64) -> String {
        use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
        format!(
            "eyJhbGciOiJub25lIn0.{}.",
            URL_SAFE_NO_PAD.encode(format!("{{\"exp\":{exp}}}"))
        )
    }

    #[derive(Debug)]
    struct At(time::OffsetDateTime);

    impl Clock for At {
        fn now(&self) -> time::OffsetDateTime {
            self.0
        }
    }

    #[tokio::test]
    async fn a_token_past_its_exp_by_our_clock_comes_from_a_credential_built_again() {
        let start = time::OffsetDateTime::now_utc().unix_timestamp();
        let builds = Arc::new(std::sync::atomic::AtomicI64::new(0));
        let counter = builds.clone();
        // Each build's token expires an hour after the previous one's.
        let build = move || -> azure_core::Result<Arc<dyn TokenCredential>> {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            Ok(Arc::new(Cached(jwt(start + n * 3600))))
        };
        let first = build().unwrap();
        let operator = Operator {
            current: Mutex::new(first),
            rebuild: Some(Box::new(build)),
            // Ninety minutes on: the first token (an hour) is over, a new one is not.
            clock: Arc::new(At(
                time::OffsetDateTime::now_utc() + time::Duration::minutes(90)
            )),
        };
        let token = operator.token("s").await.unwrap();
        assert_eq!(token, jwt(start + 2 * 3600));
        assert_eq!(builds.load(std::sync::atomic::Ordering::SeqCst), 2);
        // The new credential's token is good: no third build.
        assert_eq!(operator.token("s").await.unwrap(), jwt(start + 2 * 3600));
        assert_eq!(builds.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[test]
    fn only_a_jwt_within_a_minute_of_its_exp_counts_as_expired() {
        let now = time::OffsetDateTime::now_utc();
        let at = now.unix_timestamp();
        assert!(expired_by(&jwt(at + 30), now));
        assert!(!expired_by(&jwt(at + 600), now));
        assert!(
            !expired_by("opaque-token", now),
            "not a JWT: left to the cache"
        );
    }

    #[test]
    fn a_claim_can_be_read_from_a_token_payload() {
        // {"alg":"none"}.{"oid":"3d3d"}.
        let t = AccessToken(Secret::new("eyJhbGciOiJub25lIn0.eyJvaWQiOiIzZDNkIn0."));
        assert_eq!(t.unverified_claim("oid").as_deref(), Some("3d3d"));
        assert_eq!(t.unverified_claim("tid"), None);
    }
}
