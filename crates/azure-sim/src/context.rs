//! The state every simulated service shares, and the machinery they build on: clock, token
//! validation, secrets, request log, faults, the directory, RBAC and Resource Manager's state.

use std::{
    collections::BTreeMap,
    ops::Deref,
    sync::{Arc, Mutex, MutexGuard},
};

use time::OffsetDateTime;
use tokio::sync::Notify;

use crate::{
    clock::Clock,
    directory::Directory,
    faults::Faults,
    keyvault::Vault,
    record::Recorder,
    request::HostRequest,
    scenario::Scenario,
    secrets::{KnownSecrets, SecretKind},
    servicebus::broker::Namespace,
    tokens::{AuthError, Claims, TokenSigner, audience_matches, v1_issuer, v2_issuer},
};

/// Mutable simulated state. Held under one lock, never across an `.await`.
#[derive(Debug)]
pub struct World {
    /// Entra directory: tenants, users, apps, service principals, mail.
    pub directory: Directory,
    /// Key Vaults by lower-case name.
    pub vaults: BTreeMap<String, Vault>,
    /// Service Bus namespaces by lower-case name.
    pub namespaces: BTreeMap<String, Namespace>,
    /// Azure RBAC role assignments (Resource Manager and the data planes).
    pub role_assignments: Vec<crate::arm::rbac::RoleAssignment>,
    /// Resource Manager: resources, operations, budgets.
    pub arm: crate::arm::ArmState,
    /// Graph writes per application, for the scenario's throttling budget.
    pub graph_usage: crate::graph::throttle::GraphUsage,
    /// What the throttling answered (429s, Retry-After honoured or not, Graph priorities).
    pub throttling: crate::throttling::ThrottleLog,
}

/// Shared simulator internals.
#[derive(Debug)]
pub struct SimInner {
    /// The scenario as loaded.
    pub scenario: Scenario,
    /// The simulated clock.
    pub clock: Clock,
    /// Signs and verifies tokens.
    pub signer: TokenSigner,
    /// Every secret value issued or held.
    pub secrets: KnownSecrets,
    /// Every request seen.
    pub recorder: Recorder,
    /// Installed faults.
    pub faults: Faults,
    /// Woken on a Service Bus send or abandon, for the long-polls of that entity (a
    /// topic's: of its subscriptions). One per entity: a send wakes only its receivers.
    pub broker_changed: BrokerSignals,
    world: Mutex<World>,
}

/// A cheap handle on the shared simulator state, given to every service.
#[derive(Debug, Clone)]
pub struct SimContext(Arc<SimInner>);

impl Deref for SimContext {
    type Target = SimInner;
    fn deref(&self) -> &SimInner {
        &self.0
    }
}

/// What a token should say.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// Tenant id.
    pub tenant: String,
    /// Principal object id.
    pub object_id: String,
    /// Client id.
    pub app_id: String,
    /// Resource (audience) without `/.default`.
    pub audience: String,
    /// Granted application permissions for that audience.
    pub roles: Vec<String>,
    /// Managed identity resource id, for managed identity tokens.
    pub mi_resource_id: Option<String>,
    /// Lifetime in seconds; the scenario's token lifetime when absent.
    pub lifetime_seconds: Option<u32>,
    /// The signed-in user's name, for delegated (user) tokens; absent: an app-only token
    /// (or a guest's token, see `guest`).
    pub upn: Option<String>,
    /// A B2B guest signed in to the resource tenant: a user token without `upn`, with the
    /// home identity provider as `idp` and the home address as `unique_name` and `email`.
    pub guest: Option<GuestIdentity>,
    /// The delegated scopes (`scp`) of a user token, space-separated; absent: the
    /// `user_impersonation` of the first-party clients' tokens.
    pub scopes: Option<String>,
}

/// The claims that mark a guest's user token (Entra "Understand user tokens in B2B
/// collaboration": `idp` = `https://sts.windows.net/{home tenant}/`, `email` and `unique_name`
/// = the home address, no `upn`).
#[derive(Debug, Clone)]
pub struct GuestIdentity {
    /// The home tenant id.
    pub home_tenant: String,
    /// The object id of the person's home account.
    pub home_user_id: String,
    /// The home address.
    pub address: String,
}

/// The audience federated credentials expect of a managed identity assertion.
pub const TOKEN_EXCHANGE_AUDIENCE: &str = "api://AzureADTokenExchange";

impl SimContext {
    /// Builds the shared state for a scenario (already validated).
    pub fn new(scenario: Scenario) -> Self {
        let secrets = KnownSecrets::default();
        let faults = Faults::default();
        for fault in &scenario.faults {
            faults.add(fault.clone());
        }
        secrets.add(SecretKind::IdentityHeader, &scenario.identity_header);
        for ns in &scenario.service_bus_namespaces {
            for p in &ns.sas_policies {
                secrets.add(SecretKind::SasKey, &p.primary_key);
                if let Some(k) = &p.secondary_key {
                    secrets.add(SecretKind::SasKey, k);
                }
            }
        }
        for app in &scenario.applications {
            for c in &app.password_credentials {
                secrets.add(SecretKind::ClientSecret, &c.secret_text);
            }
        }
        for user in &scenario.users {
            if let Some(p) = &user.password {
                secrets.add(SecretKind::Password, p);
            }
        }
        let clock = Clock::default();
        let now = clock.now();
        let world = World {
            directory: Directory::from_scenario(&scenario, now),
            vaults: scenario
                .key_vaults
                .iter()
                .map(|k| (k.name.to_ascii_lowercase(), Vault::new(k)))
                .collect(),
            namespaces: scenario
                .service_bus_namespaces
                .iter()
                .map(|n| (n.name.to_ascii_lowercase(), Namespace::from_spec(n)))
                .collect(),
            role_assignments: crate::arm::rbac::assignments::from_scenario(&scenario, now),
            arm: crate::arm::ArmState::from_scenario(&scenario, now),
            graph_usage: crate::graph::throttle::GraphUsage::default(),
            throttling: crate::throttling::ThrottleLog::default(),
        };
        Self(Arc::new(SimInner {
            scenario,
            clock,
            signer: TokenSigner::default(),
            secrets,
            recorder: Recorder::default(),
            faults,
            broker_changed: BrokerSignals::default(),
            world: Mutex::new(world),
        }))
    }

    /// The simulated time.
    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// Locks the mutable state. Never hold the guard across an `.await`.
    pub fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Issues a signed access token and remembers it as a known secret.
    pub fn issue_token(&self, request: TokenRequest) -> (String, Claims) {
        let now = self.now().unix_timestamp();
        let v2 = request.audience == TOKEN_EXCHANGE_AUDIENCE;
        let user = request.upn.is_some() || request.guest.is_some();
        let claims = Claims {
            iss: if v2 {
                v2_issuer(&request.tenant)
            } else {
                v1_issuer(&request.tenant)
            },
            aud: request.audience,
            iat: now,
            nbf: now,
            exp: now
                + i64::from(
                    request
                        .lifetime_seconds
                        .unwrap_or(self.scenario.token_lifetime_seconds),
                ),
            tid: request.tenant,
            sub: request.object_id.clone(),
            oid: request.object_id,
            appid: request.app_id,
            roles: request.roles,
            idtyp: if user { "user" } else { "app" }.to_owned(),
            ver: if v2 { "2.0" } else { "1.0" }.to_owned(),
            xms_mirid: request.mi_resource_id,
            scp: user.then(|| {
                request
                    .scopes
                    .unwrap_or_else(|| "user_impersonation".to_owned())
            }),
            // v1 user tokens name the user in `unique_name` too: a member by its UPN, a guest
            // (which has no `upn`) by its home address ("Access token claims reference").
            unique_name: request
                .guest
                .as_ref()
                .map(|g| g.address.clone())
                .or_else(|| request.upn.clone()),
            upn: request.upn,
            idp: request.guest.as_ref().map(|g| v1_issuer(&g.home_tenant)),
            email: request.guest.map(|g| g.address),
            uti: uuid::Uuid::new_v4().simple().to_string(),
        };
        let token = self.signer.sign(&claims);
        self.secrets.add(SecretKind::AccessToken, &token);
        (token, claims)
    }

    /// The one token check every service uses: a bearer token signed by this simulator,
    /// within its lifetime, for one of `audiences`, and (when given) issued by `tenant`.
    pub fn authenticate(
        &self,
        request: &HostRequest,
        audiences: &[&str],
        tenant: Option<&str>,
    ) -> Result<Claims, AuthError> {
        let token = request.bearer().ok_or(AuthError::Missing)?;
        self.validate_token(token, audiences, tenant)
    }

    /// Validates a raw token as [`SimContext::authenticate`] does.
    pub fn validate_token(
        &self,
        token: &str,
        audiences: &[&str],
        tenant: Option<&str>,
    ) -> Result<Claims, AuthError> {
        let claims = self.signer.verify(token, self.now())?;
        if !audience_matches(&claims.aud, audiences) {
            return Err(AuthError::WrongAudience { found: claims.aud });
        }
        if let Some(tenant) = tenant
            && !claims.tid.eq_ignore_ascii_case(tenant)
        {
            return Err(AuthError::WrongTenant { found: claims.iss });
        }
        Ok(claims)
    }
}

/// One [`Notify`] per Service Bus entity (`namespace/path`, lower case), made on first use.
#[derive(Debug, Default)]
pub struct BrokerSignals {
    by_entity: std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<Notify>>>,
}

impl BrokerSignals {
    fn key(namespace: &str, path: &str) -> String {
        format!("{namespace}/{path}").to_ascii_lowercase()
    }

    /// The signal a long-poll on `path` waits for.
    pub fn of(&self, namespace: &str, path: &str) -> std::sync::Arc<Notify> {
        let mut map = self
            .by_entity
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.entry(Self::key(namespace, path)).or_default().clone()
    }

    /// Wakes the long-polls of `path` and of every entity under it (a topic's
    /// subscriptions, a queue's dead-letter queue).
    pub fn changed(&self, namespace: &str, path: &str) {
        let key = Self::key(namespace, path);
        let under = format!("{key}/");
        let map = self
            .by_entity
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (k, notify) in map.iter() {
            if *k == key || k.starts_with(&under) {
                notify.notify_waiters();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::pin::pin;

    use super::*;

    #[tokio::test]
    async fn a_send_to_a_topic_wakes_its_subscriptions_receivers_and_no_other_entitys() {
        let signals = BrokerSignals::default();
        let (sub, queue) = (
            signals.of("ns", "events/Subscriptions/all"),
            signals.of("ns", "orders"),
        );
        let mut woken_sub = pin!(sub.notified());
        let mut woken_queue = pin!(queue.notified());
        woken_sub.as_mut().enable();
        woken_queue.as_mut().enable();
        signals.changed("ns", "events");
        let ready = |f: std::pin::Pin<&mut tokio::sync::futures::Notified<'_>>| {
            let waker = std::task::Waker::noop();
            f.poll(&mut std::task::Context::from_waker(waker))
                .is_ready()
        };
        assert!(ready(woken_sub.as_mut()), "the subscription's receiver");
        assert!(!ready(woken_queue.as_mut()), "another entity's receiver");
    }
}
