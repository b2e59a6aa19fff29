//! Settings, read from the app settings the Functions host passes as environment variables.
//!
//! Reading goes through [`Env`] so tests build settings from a map and never touch the
//! process environment. Every problem names the setting and what it expects.

use std::{collections::HashMap, time::Duration};

use url::Url;

mod lifetime;
mod lighthouse;
mod service_bus;

pub use lifetime::{
    DIRECT_SHARE_DAYS_DEFAULT, DIRECT_SHARE_DAYS_MAX, LifetimeSettings, RBAC_GUEST_DAYS_DEFAULT,
    RBAC_GUEST_DAYS_MAX,
};
pub use lighthouse::{
    LIGHTHOUSE_ALLOW_OTHER_RESOURCES, LIGHTHOUSE_DAYS_DEFAULT, LIGHTHOUSE_DAYS_MAX,
    LighthouseSettings,
};
pub use service_bus::{ConnectionError, ServiceBusConnection};

use crate::domain::{ImageCatalog, TenantId};

/// Where settings come from.
#[derive(Clone, Debug)]
pub enum Env {
    /// The process environment (production).
    Process,
    /// A fixed map (tests).
    Map(HashMap<String, String>),
}

impl Env {
    /// A map-backed environment.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self::Map(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        )
    }

    /// A variable's value; empty counts as unset.
    pub fn var(&self, name: &str) -> Option<String> {
        let value = match self {
            Self::Process => std::env::var(name).ok(),
            Self::Map(map) => map.get(name).cloned(),
        };
        value.filter(|v| !v.trim().is_empty())
    }
}

/// A setting that is missing or wrong.
#[derive(Debug, thiserror::Error)]
#[error("setting {name}: {problem}")]
pub struct ConfigError {
    /// The setting.
    pub name: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

fn problem(name: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        name,
        problem: problem.into(),
    }
}

/// How the share app authenticates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialMode {
    /// A federated identity credential trusting the Function App's managed identity.
    Federated,
    /// A client secret kept in Key Vault.
    Secret,
}

/// How the consent link reaches the consumer's admin.
#[derive(Clone, PartialEq, Eq)]
pub enum NotifySettings {
    /// Graph `sendMail` from this mailbox (user id or UPN in the owner's tenant).
    Mail {
        /// The sending mailbox.
        sender: String,
    },
    /// A JSON POST to this URL, signed per Standard Webhooks.
    Webhook {
        /// The endpoint (https outside simulated runs).
        url: Url,
        /// The key of the `webhook-signature` header.
        secret: crate::webhook_signature::WebhookSecret,
    },
    /// Only in the status document.
    StatusOnly,
}

impl std::fmt::Debug for NotifySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Mail { sender } => f.debug_struct("Mail").field("sender", sender).finish(),
            // Webhook URLs often carry their own credential (a signature in the query).
            Self::Webhook { url, .. } => f
                .debug_struct("Webhook")
                .field("host", &url.host_str().unwrap_or(""))
                .finish_non_exhaustive(),
            Self::StatusOnly => f.write_str("StatusOnly"),
        }
    }
}

/// Where requests are stored.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreSettings {
    /// In process memory (local runs only: lost on restart, not shared between instances).
    Memory,
    /// Azure Table Storage with a connection string (`AzureWebJobsStorage`).
    TableConnectionString {
        /// The connection string.
        connection_string: String,
        /// The table.
        table: String,
    },
    /// Azure Table Storage with the managed identity (`AzureWebJobsStorage__accountName`).
    TableIdentity {
        /// The table service endpoint.
        endpoint: Url,
        /// The table.
        table: String,
    },
}

impl std::fmt::Debug for StoreSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Memory => f.write_str("Memory"),
            Self::TableConnectionString { table, .. } => f
                .debug_struct("TableConnectionString")
                .field("table", table)
                .finish_non_exhaustive(),
            Self::TableIdentity { endpoint, table } => f
                .debug_struct("TableIdentity")
                .field("endpoint", endpoint)
                .field("table", table)
                .finish(),
        }
    }
}

/// The handler's settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The loopback port the host chose.
    pub port: u16,
    /// Images this deployment may share.
    pub catalog: ImageCatalog,
    /// The app's public base URL (links, the consent redirect URI).
    pub public_base_url: Url,
    /// The image owner's tenant (where the operator identity and the gallery live).
    pub owner_tenant: TenantId,
    /// Client id of the Function App's user-assigned managed identity.
    pub identity_client_id: String,
    /// How the share app authenticates.
    pub credential: CredentialMode,
    /// The Key Vault holding client secrets (required for [`CredentialMode::Secret`]).
    pub key_vault: Option<Url>,
    /// Lifetime of a new client secret.
    pub secret_lifetime: Duration,
    /// The Service Bus namespace (the same connection the triggers use).
    pub service_bus: ServiceBusConnection,
    /// The topic status events go to.
    pub events_topic: String,
    /// Where requests are stored.
    pub store: StoreSettings,
    /// How the consent link is delivered.
    pub notify: NotifySettings,
    /// How long the consumer's admin has to consent and grant the role.
    pub consent_deadline: Duration,
    /// The latest a re-sent consent link may move the deadline to, counted from the
    /// request's creation: a request cannot be kept waiting for ever by re-sending.
    pub consent_deadline_max: Duration,
    /// How long before the consent deadline an unanswered link is sent once more as a
    /// reminder (a fresh link; the first stops working); `None` when off.
    pub consent_reminder: Option<Duration>,
    /// A simulated cloud to send every Azure call to (local runs and tests only).
    pub simulated_cloud: Option<String>,
    /// The longest pause before answering a failed step invocation (see `steps::invoke`).
    pub redelivery_pause_cap: Duration,
    /// Deadlines, retries and reconciliation.
    pub pipeline: PipelineSettings,
    /// The `lighthouse` strategy's lifetimes and preflight.
    pub lighthouse: LighthouseSettings,
    /// The `direct-share` strategy's lifetimes.
    pub direct_share: LifetimeSettings,
    /// The `rbac-guest` strategy's lifetimes.
    pub rbac_guest: LifetimeSettings,
    /// The audience of the share apps' federated credentials and of the operator identity's
    /// token presented as their assertion: one value per cloud ([`TOKEN_EXCHANGE_AUDIENCES`]).
    pub federated_audience: String,
    /// Tells this deployment's share apps apart from another deployment's in the same owner
    /// tenant (staging and production); `None` keeps the names of deployments made before it.
    pub deployment_id: Option<DeploymentId>,
    /// App Service Authentication is on ([`APP_SERVICE_AUTH`]): only then does the platform
    /// strip client-sent `X-MS-CLIENT-PRINCIPAL` headers, so only then is the header trusted.
    pub app_service_auth: bool,
}

/// A deployment's short name inside the owner tenant, part of every share app's `uniqueName`
/// and Key Vault secret name: 1 to 24 lowercase letters, digits and inner hyphens, so the
/// names stay valid for Graph and Key Vault and two deployments never share an app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeploymentId(String);

impl DeploymentId {
    /// The longest id: keeps `imageshare-{id}-{tenant}` well inside Graph's and Key Vault's
    /// name limits.
    pub const MAX_LEN: usize = 24;

    /// Checks `text`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let valid_chars = text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if text.is_empty()
            || text.len() > Self::MAX_LEN
            || !valid_chars
            || text.starts_with('-')
            || text.ends_with('-')
        {
            return Err(format!(
                "'{text}' is not a deployment id: 1 to {} lowercase letters, digits and hyphens, not starting or ending with a hyphen",
                Self::MAX_LEN
            ));
        }
        Ok(Self(text.to_owned()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How long each step may take, how often a transient failure is retried, and when the
/// reconciler takes a step's message chain as lost (DESIGN §3 rules 5, 6 and 8).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PipelineSettings {
    /// Issuing credentials (app, service principal, credential, Reader): `Submitted`.
    pub submitted_deadline: Duration,
    /// Delivering the consent link: `CredentialsIssued`.
    pub credentials_issued_deadline: Duration,
    /// Creating the network and the VM: `CreatingVm`.
    pub creating_vm_deadline: Duration,
    /// Removing what a revoked request created: `Revoking`.
    pub revoking_deadline: Duration,
    /// Deploying a Lighthouse delegation: `Delegating`.
    pub delegating_deadline: Duration,
    /// The gallery's share operation (`direct-share`): `Sharing`.
    pub sharing_deadline: Duration,
    /// Inviting the guest and granting it Reader through Entra's replication delay
    /// (`rbac-guest`): `Granting`.
    pub granting_deadline: Duration,
    /// Keep the owner-side credential (federated credential or secret) when a request ends,
    /// instead of removing it once no other request of that tenant needs it.
    pub keep_access_after_end: bool,
    /// Transient failures of one message retried (scheduled, growing pauses) before the step
    /// rests until the reconciler re-sends it.
    pub max_retries: u32,
    /// How far past its due time a step may be before the reconciler re-sends its message.
    pub reconcile_grace: Duration,
    /// Invocations worked on at once, for queue triggers and for HTTP each (the rest wait
    /// their turn: `invocation::admission`).
    pub invocations_at_once: usize,
}

impl Default for PipelineSettings {
    fn default() -> Self {
        Self {
            submitted_deadline: Duration::from_secs(60 * 60),
            credentials_issued_deadline: Duration::from_secs(60 * 60),
            creating_vm_deadline: Duration::from_secs(3 * 60 * 60),
            revoking_deadline: Duration::from_secs(60 * 60),
            delegating_deadline: Duration::from_secs(60 * 60),
            sharing_deadline: Duration::from_secs(60 * 60),
            granting_deadline: Duration::from_secs(60 * 60),
            keep_access_after_end: false,
            max_retries: 8,
            reconcile_grace: Duration::from_secs(10 * 60),
            // Twice the 32 calls per host that may be out: more would only wait for those.
            invocations_at_once: 64,
        }
    }
}

impl PipelineSettings {
    fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let minutes = |name, default: Duration, range| {
            number(env, name, default.as_secs() / 60, range).map(|m| Duration::from_secs(m * 60))
        };
        let d = Self::default();
        Ok(Self {
            submitted_deadline: minutes(
                DEADLINE_SUBMITTED_MINUTES,
                d.submitted_deadline,
                5..=1440,
            )?,
            credentials_issued_deadline: minutes(
                DEADLINE_CREDENTIALS_ISSUED_MINUTES,
                d.credentials_issued_deadline,
                5..=1440,
            )?,
            creating_vm_deadline: minutes(
                DEADLINE_CREATING_VM_MINUTES,
                d.creating_vm_deadline,
                15..=1440,
            )?,
            revoking_deadline: minutes(DEADLINE_REVOKING_MINUTES, d.revoking_deadline, 5..=1440)?,
            delegating_deadline: minutes(
                DEADLINE_DELEGATING_MINUTES,
                d.delegating_deadline,
                5..=1440,
            )?,
            sharing_deadline: minutes(DEADLINE_SHARING_MINUTES, d.sharing_deadline, 5..=1440)?,
            granting_deadline: minutes(DEADLINE_GRANTING_MINUTES, d.granting_deadline, 5..=1440)?,
            keep_access_after_end: match env.var(KEEP_ACCESS_AFTER_END).as_deref().map(str::trim) {
                None => d.keep_access_after_end,
                Some(v) if v.eq_ignore_ascii_case("true") => true,
                Some(v) if v.eq_ignore_ascii_case("false") => false,
                Some(other) => {
                    return Err(problem(
                        KEEP_ACCESS_AFTER_END,
                        format!("'{other}' is not 'true' or 'false'"),
                    ));
                }
            },
            max_retries: u32::try_from(number(env, RETRY_MAX, u64::from(d.max_retries), 0..=30)?)
                .unwrap_or(d.max_retries),
            reconcile_grace: minutes(RECONCILE_GRACE_MINUTES, d.reconcile_grace, 1..=240)?,
            invocations_at_once: usize::try_from(number(
                env,
                INVOCATIONS_AT_ONCE,
                d.invocations_at_once as u64,
                1..=1024,
            )?)
            .unwrap_or(d.invocations_at_once),
        })
    }
}

/// Set by App Service to `True` when App Service Authentication is enabled on the app.
pub const APP_SERVICE_AUTH: &str = "WEBSITE_AUTH_ENABLED";
/// This deployment's id, part of the share apps' `uniqueName` (see [`DeploymentId`]).
pub const DEPLOYMENT_ID: &str = "IMAGESHARE_DEPLOYMENT_ID";
/// The federated credential's audience (default the public cloud's).
pub const FEDERATED_AUDIENCE: &str = "IMAGESHARE_FEDERATED_AUDIENCE";
/// The token exchange audience of each cloud (Entra workload identity federation docs):
/// public, US Government, China (21Vianet).
pub const TOKEN_EXCHANGE_AUDIENCES: [&str; 3] = [
    "api://AzureADTokenExchange",
    "api://AzureADTokenExchangeUSGov",
    "api://AzureADTokenExchangeChina",
];

/// The port the host picks: `FUNCTIONS_CUSTOMHANDLER_PORT`, or the legacy name.
pub const PORT_VARIABLES: [&str; 2] = ["FUNCTIONS_CUSTOMHANDLER_PORT", "FUNCTIONS_HTTPWORKER_PORT"];
/// The operator's image catalog (JSON object of name to image version id).
pub const IMAGE_CATALOG: &str = "IMAGESHARE_IMAGE_CATALOG";
/// The app's public base URL.
pub const PUBLIC_BASE_URL: &str = "IMAGESHARE_PUBLIC_BASE_URL";
/// The owner tenant.
pub const OWNER_TENANT_ID: &str = "IMAGESHARE_OWNER_TENANT_ID";
/// The managed identity's client id.
pub const IDENTITY_CLIENT_ID: &str = "IMAGESHARE_IDENTITY_CLIENT_ID";
/// `federated` or `secret`.
pub const APP_CREDENTIAL: &str = "IMAGESHARE_APP_CREDENTIAL";
/// The Key Vault URL.
pub const KEY_VAULT_URL: &str = "IMAGESHARE_KEY_VAULT_URL";
/// Client secret lifetime in days.
pub const SECRET_LIFETIME_DAYS: &str = "IMAGESHARE_SECRET_LIFETIME_DAYS";
/// The Service Bus connection string (shared with the triggers).
pub const SERVICE_BUS_CONNECTION: &str = "ServiceBusConnection";
/// The Service Bus namespace for identity-based connections.
pub const SERVICE_BUS_NAMESPACE: &str = "ServiceBusConnection__fullyQualifiedNamespace";
/// The events topic.
pub const EVENTS_TOPIC: &str = "IMAGESHARE_EVENTS_TOPIC";
/// `table` or `memory`.
pub const STORE: &str = "IMAGESHARE_STORE";
/// The Functions storage account connection string.
pub const STORAGE_CONNECTION: &str = "AzureWebJobsStorage";
/// The Functions storage account name, for identity-based connections.
pub const STORAGE_ACCOUNT: &str = "AzureWebJobsStorage__accountName";
/// The table service URI, for identity-based connections.
pub const STORAGE_TABLE_URI: &str = "AzureWebJobsStorage__tableServiceUri";
/// The table name.
pub const TABLE_NAME: &str = "IMAGESHARE_TABLE_NAME";
/// `mail`, `webhook` or `status`.
pub const NOTIFY: &str = "IMAGESHARE_NOTIFY";
/// The sending mailbox.
pub const MAIL_SENDER: &str = "IMAGESHARE_MAIL_SENDER";
/// The webhook URL.
pub const WEBHOOK_URL: &str = "IMAGESHARE_WEBHOOK_URL";
/// The Standard Webhooks secret (`whsec_...`) webhook calls are signed with; in Azure a Key
/// Vault reference.
pub const WEBHOOK_SECRET: &str = "IMAGESHARE_WEBHOOK_SECRET";
/// Hours the consumer's admin has.
pub const CONSENT_DEADLINE_HOURS: &str = "IMAGESHARE_CONSENT_DEADLINE_HOURS";
/// Hours after a request's creation past which a re-sent link no longer extends its deadline.
pub const CONSENT_DEADLINE_MAX_HOURS: &str = "IMAGESHARE_CONSENT_DEADLINE_MAX_HOURS";
/// Hours before the consent deadline a reminder goes out; 0 (the default) for none.
pub const CONSENT_REMINDER_HOURS: &str = "IMAGESHARE_CONSENT_REMINDER_HOURS";
/// A simulator base URL.
pub const SIMULATED_CLOUD: &str = "IMAGESHARE_SIMULATED_CLOUD";
/// Cap of the pause before a failed step invocation is answered, in seconds.
pub const REDELIVERY_PAUSE_MAX_SECONDS: &str = "IMAGESHARE_REDELIVERY_PAUSE_MAX_SECONDS";
/// How long issuing credentials may take (minutes).
pub const DEADLINE_SUBMITTED_MINUTES: &str = "IMAGESHARE_DEADLINE_SUBMITTED_MINUTES";
/// How long delivering the consent link may take (minutes).
pub const DEADLINE_CREDENTIALS_ISSUED_MINUTES: &str =
    "IMAGESHARE_DEADLINE_CREDENTIALS_ISSUED_MINUTES";
/// How long creating the network and the VM may take (minutes).
pub const DEADLINE_CREATING_VM_MINUTES: &str = "IMAGESHARE_DEADLINE_CREATING_VM_MINUTES";
/// How long removing what a revoked request created may take (minutes).
pub const DEADLINE_REVOKING_MINUTES: &str = "IMAGESHARE_DEADLINE_REVOKING_MINUTES";
/// Minutes a Lighthouse delegation's deployment may take (`Delegating`).
pub const DEADLINE_DELEGATING_MINUTES: &str = "IMAGESHARE_DEADLINE_DELEGATING_MINUTES";
/// Minutes the gallery's share operation may take (`Sharing`, strategy `direct-share`).
pub const DEADLINE_SHARING_MINUTES: &str = "IMAGESHARE_DEADLINE_SHARING_MINUTES";
/// Minutes inviting the guest and granting it Reader may take (`Granting`, `rbac-guest`).
pub const DEADLINE_GRANTING_MINUTES: &str = "IMAGESHARE_DEADLINE_GRANTING_MINUTES";
/// `true` keeps a tenant's owner-side credential after its requests end (default `false`).
pub const KEEP_ACCESS_AFTER_END: &str = "IMAGESHARE_KEEP_ACCESS_AFTER_END";
/// Transient failures of one step message retried before resting until the reconciler.
pub const RETRY_MAX: &str = "IMAGESHARE_RETRY_MAX";
/// Invocations worked on at once, queue-triggered and HTTP each (default 64).
pub const INVOCATIONS_AT_ONCE: &str = "IMAGESHARE_INVOCATIONS_AT_ONCE";
/// How far past its due time a step may be before the reconciler re-sends it (minutes).
pub const RECONCILE_GRACE_MINUTES: &str = "IMAGESHARE_RECONCILE_GRACE_MINUTES";
/// The reconciler's NCRONTAB schedule; read by the host from `functions/Reconcile`.
pub const RECONCILE_SCHEDULE: &str = "IMAGESHARE_RECONCILE_SCHEDULE";

fn required(env: &Env, name: &'static str, what: &str) -> Result<String, ConfigError> {
    env.var(name)
        .ok_or_else(|| problem(name, format!("not set; {what}")))
}

fn absolute_url(name: &'static str, value: &str) -> Result<Url, ConfigError> {
    Url::parse(value)
        .ok()
        .filter(|u| matches!(u.scheme(), "https" | "http") && u.host().is_some())
        .ok_or_else(|| problem(name, format!("'{value}' is not an absolute http(s) URL")))
}

fn number(
    env: &Env,
    name: &'static str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, ConfigError> {
    let Some(text) = env.var(name) else {
        return Ok(default);
    };
    text.trim()
        .parse::<u64>()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| {
            problem(
                name,
                format!(
                    "'{text}' is not a number from {} to {}",
                    range.start(),
                    range.end()
                ),
            )
        })
}

/// The problems found so far: each setting is checked even when an earlier one failed.
#[derive(Default)]
struct Problems(Vec<ConfigError>);

impl Problems {
    /// The value, or `None` with its problem kept.
    fn take<T>(&mut self, result: Result<T, ConfigError>) -> Option<T> {
        result.map_err(|e| self.0.push(e)).ok()
    }
}

impl Settings {
    /// Reads and checks every setting; the first problem, if any ([`Self::from_env_all`]
    /// reports them all).
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Self::from_env_all(env).map_err(|mut problems| problems.swap_remove(0))
    }

    /// Reads and checks every setting, and reports every problem at once (never an empty
    /// list): an operator fixing a deployment sees all that is wrong in one start-up.
    pub fn from_env_all(env: &Env) -> Result<Self, Vec<ConfigError>> {
        let mut problems = Problems::default();
        let port = problems.take(
            PORT_VARIABLES
                .iter()
                .find_map(|name| env.var(name).map(|v| (*name, v)))
                .ok_or_else(|| {
                    problem(
                        PORT_VARIABLES[0],
                        "not set; the Functions host sets it when it starts the handler",
                    )
                })
                .and_then(|(name, v)| {
                    let which = if name == PORT_VARIABLES[0] {
                        PORT_VARIABLES[0]
                    } else {
                        PORT_VARIABLES[1]
                    };
                    v.trim()
                        .parse::<u16>()
                        .map_err(|_| problem(which, format!("'{v}' is not a TCP port")))
                }),
        );

        let catalog = problems.take((|| {
            let catalog = ImageCatalog::from_json(&required(
                env,
                IMAGE_CATALOG,
                "it lists the images this deployment may share",
            )?)
            .map_err(|e| problem(IMAGE_CATALOG, e.to_string()))?;
            if catalog.is_empty() {
                return Err(problem(
                    IMAGE_CATALOG,
                    "is empty; every request would be refused",
                ));
            }
            Ok(catalog)
        })());

        let public_base_url = problems.take(
            required(
                env,
                PUBLIC_BASE_URL,
                "the app's public URL, e.g. https://<app>.azurewebsites.net",
            )
            .and_then(|v| absolute_url(PUBLIC_BASE_URL, &v)),
        );
        let owner_tenant = problems.take(
            required(env, OWNER_TENANT_ID, "the image owner's Entra tenant id").and_then(|v| {
                TenantId::parse(&v).map_err(|e| problem(OWNER_TENANT_ID, e.to_string()))
            }),
        );
        let identity_client_id = problems.take(required(
            env,
            IDENTITY_CLIENT_ID,
            "the client id of the Function App's user-assigned managed identity",
        ));

        let credential = problems.take(match env.var(APP_CREDENTIAL).as_deref().map(str::trim) {
            None | Some("federated") => Ok(CredentialMode::Federated),
            Some("secret") => Ok(CredentialMode::Secret),
            Some(other) => Err(problem(
                APP_CREDENTIAL,
                format!("'{other}' is not 'federated' or 'secret'"),
            )),
        });
        let key_vault = problems
            .take(
                env.var(KEY_VAULT_URL)
                    .map(|v| absolute_url(KEY_VAULT_URL, &v))
                    .transpose(),
            )
            .flatten();
        if credential == Some(CredentialMode::Secret) && key_vault.is_none() {
            problems.0.push(problem(
                KEY_VAULT_URL,
                "not set; client secrets are kept in Key Vault",
            ));
        }
        let secret_lifetime = problems
            .take(number(env, SECRET_LIFETIME_DAYS, 30, 1..=730))
            .map(|days| Duration::from_secs(days * 86_400));

        let service_bus = problems.take(
            match (
                env.var(SERVICE_BUS_CONNECTION),
                env.var(SERVICE_BUS_NAMESPACE),
            ) {
                (Some(text), _) => ServiceBusConnection::from_connection_string(&text)
                    .map_err(|e| problem(SERVICE_BUS_CONNECTION, e.to_string())),
                (None, Some(host)) => ServiceBusConnection::from_namespace_host(&host)
                    .map_err(|e| problem(SERVICE_BUS_NAMESPACE, e.to_string())),
                (None, None) => Err(problem(
                    SERVICE_BUS_CONNECTION,
                    format!(
                        "not set (nor {SERVICE_BUS_NAMESPACE}); the pipeline's queues live there"
                    ),
                )),
            },
        );
        let events_topic = env
            .var(EVENTS_TOPIC)
            .unwrap_or_else(|| "share-events".to_owned());

        let table = env
            .var(TABLE_NAME)
            .unwrap_or_else(|| "ShareRequests".to_owned());
        let store = problems.take((|| {
            Ok(match env.var(STORE).as_deref().map(str::trim) {
                Some("memory") => StoreSettings::Memory,
                None | Some("table") => {
                    if let Some(connection_string) = env.var(STORAGE_CONNECTION) {
                        StoreSettings::TableConnectionString {
                            connection_string,
                            table,
                        }
                    } else if let Some(uri) = env.var(STORAGE_TABLE_URI) {
                        StoreSettings::TableIdentity {
                            endpoint: absolute_url(STORAGE_TABLE_URI, &uri)?,
                            table,
                        }
                    } else if let Some(account) = env.var(STORAGE_ACCOUNT) {
                        let endpoint = absolute_url(
                            STORAGE_ACCOUNT,
                            &format!("https://{account}.table.core.windows.net"),
                        )?;
                        StoreSettings::TableIdentity { endpoint, table }
                    } else {
                        return Err(problem(
                            STORAGE_CONNECTION,
                            format!(
                                "not set (nor {STORAGE_ACCOUNT}); requests are stored in its Table Storage"
                            ),
                        ));
                    }
                }
                Some(other) => {
                    return Err(problem(
                        STORE,
                        format!("'{other}' is not 'table' or 'memory'"),
                    ));
                }
            })
        })());

        let notify = problems.take((|| {
            Ok(match env.var(NOTIFY).as_deref().map(str::trim) {
                None | Some("mail") => NotifySettings::Mail {
                    sender: required(
                        env,
                        MAIL_SENDER,
                        "the mailbox (user id or UPN) consent links are sent from",
                    )?,
                },
                Some("webhook") => {
                    let url = absolute_url(
                        WEBHOOK_URL,
                        &required(env, WEBHOOK_URL, "where consent links are POSTed")?,
                    )?;
                    // The body carries the consent link: only a simulated run may send it in clear.
                    if url.scheme() != "https" && env.var(SIMULATED_CLOUD).is_none() {
                        return Err(problem(
                            WEBHOOK_URL,
                            "must be an https URL (http only in simulated runs)",
                        ));
                    }
                    let secret = crate::webhook_signature::WebhookSecret::parse(&required(
                        env,
                        WEBHOOK_SECRET,
                        "the whsec_ key webhook calls are signed with (Standard Webhooks)",
                    )?)
                    .map_err(|e| problem(WEBHOOK_SECRET, e))?;
                    NotifySettings::Webhook { url, secret }
                }
                Some("status") => NotifySettings::StatusOnly,
                Some(other) => {
                    return Err(problem(
                        NOTIFY,
                        format!("'{other}' is not 'mail', 'webhook' or 'status'"),
                    ));
                }
            })
        })());
        let consent_deadline = problems
            .take(number(env, CONSENT_DEADLINE_HOURS, 168, 1..=2160))
            .map(|hours| Duration::from_secs(hours * 3600));
        let consent_deadline_max = problems
            .take(number(env, CONSENT_DEADLINE_MAX_HOURS, 720, 1..=4320))
            .map(|hours| Duration::from_secs(hours * 3600));
        // A maximum below the deadline itself would cut every first link short.
        if let (Some(deadline), Some(max)) = (consent_deadline, consent_deadline_max)
            && max < deadline
        {
            problems.0.push(problem(
                CONSENT_DEADLINE_MAX_HOURS,
                format!(
                    "must be at least {CONSENT_DEADLINE_HOURS} ({} hours)",
                    deadline.as_secs() / 3600
                ),
            ));
        }
        let consent_reminder = problems
            .take(number(env, CONSENT_REMINDER_HOURS, 0, 0..=2159))
            .map(|hours| (hours > 0).then(|| Duration::from_secs(hours * 3600)));
        // A reminder due before the link is even sent would go out at once.
        if let (Some(deadline), Some(Some(reminder))) = (consent_deadline, consent_reminder)
            && reminder >= deadline
        {
            problems.0.push(problem(
                CONSENT_REMINDER_HOURS,
                format!("must be less than {CONSENT_DEADLINE_HOURS}"),
            ));
        }
        let redelivery_pause_cap = problems
            .take(number(env, REDELIVERY_PAUSE_MAX_SECONDS, 30, 0..=300))
            .map(Duration::from_secs);

        let federated_audience = problems.take(match env.var(FEDERATED_AUDIENCE) {
            None => Ok(TOKEN_EXCHANGE_AUDIENCES[0].to_owned()),
            Some(value) if TOKEN_EXCHANGE_AUDIENCES.contains(&value.trim()) => {
                Ok(value.trim().to_owned())
            }
            Some(other) => {
                Err(problem(
                    FEDERATED_AUDIENCE,
                    format!(
                        "'{other}' is not a token exchange audience: one of {} (public, US Government, China)",
                        TOKEN_EXCHANGE_AUDIENCES.join(", ")
                    ),
                ))
            }
        });

        let pipeline = problems.take(PipelineSettings::from_env(env));
        let lighthouse = problems.take(LighthouseSettings::from_env(env));
        let direct_share = problems.take(LifetimeSettings::direct_share(env));
        let rbac_guest = problems.take(LifetimeSettings::rbac_guest(env));
        let deployment_id = problems
            .take(
                env.var(DEPLOYMENT_ID)
                    .map(|v| DeploymentId::parse(&v).map_err(|e| problem(DEPLOYMENT_ID, e)))
                    .transpose(),
            )
            .flatten();

        // Every value is there exactly when no problem was found.
        let (
            Some(port),
            Some(catalog),
            Some(public_base_url),
            Some(owner_tenant),
            Some(identity_client_id),
            Some(credential),
            Some(secret_lifetime),
            Some(service_bus),
            Some(store),
            Some(notify),
            Some(consent_deadline),
            Some(consent_deadline_max),
            Some(consent_reminder),
            Some(redelivery_pause_cap),
            Some(federated_audience),
            Some(pipeline),
            Some(lighthouse),
            Some(direct_share),
            Some(rbac_guest),
            true,
        ) = (
            port,
            catalog,
            public_base_url,
            owner_tenant,
            identity_client_id,
            credential,
            secret_lifetime,
            service_bus,
            store,
            notify,
            consent_deadline,
            consent_deadline_max,
            consent_reminder,
            redelivery_pause_cap,
            federated_audience,
            pipeline,
            lighthouse,
            direct_share,
            rbac_guest,
            problems.0.is_empty(),
        )
        else {
            return Err(problems.0);
        };
        Ok(Self {
            port,
            catalog,
            public_base_url,
            owner_tenant,
            identity_client_id,
            credential,
            key_vault,
            secret_lifetime,
            service_bus,
            events_topic,
            store,
            notify,
            consent_deadline,
            consent_deadline_max,
            consent_reminder,
            simulated_cloud: env.var(SIMULATED_CLOUD),
            redelivery_pause_cap,
            federated_audience,
            pipeline,
            lighthouse,
            direct_share,
            rbac_guest,
            deployment_id,
            app_service_auth: env
                .var(APP_SERVICE_AUTH)
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("true")),
        })
    }

    /// imageshare's approval page, where the consumer's admin reviews, approves or declines
    /// one request (its link carries the request's state).
    pub fn approval_page_url(&self) -> Url {
        let mut url = self.public_base_url.clone();
        url.set_path("/api/approval");
        url.set_query(None);
        url
    }

    /// The page where the consumer's admin of a `lighthouse` request says they are done with
    /// the delegation (its link carries that request's single-use state).
    pub fn delegation_done_url(&self) -> Url {
        let mut url = self.public_base_url.clone();
        url.set_path("/api/delegation/done");
        url.set_query(None);
        url
    }

    /// The consent redirect URI registered on every share app.
    pub fn consent_callback_url(&self) -> Url {
        let mut url = self.public_base_url.clone();
        url.set_path("/api/consent/callback");
        url.set_query(None);
        url
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const CATALOG: &str = r#"{"ubuntu-hardened":"/subscriptions/1a1a1a1a-1111-4111-8111-111111111111/resourceGroups/rg-images/providers/Microsoft.Compute/galleries/contosoGallery/images/ubuntu-hardened/versions/1.0.0"}"#;

    pub(crate) fn base() -> Vec<(&'static str, &'static str)> {
        vec![
            ("FUNCTIONS_CUSTOMHANDLER_PORT", "7071"),
            (IMAGE_CATALOG, CATALOG),
            (PUBLIC_BASE_URL, "https://func-imageshare.azurewebsites.net"),
            (OWNER_TENANT_ID, "11111111-1111-4111-8111-111111111111"),
            (IDENTITY_CLIENT_ID, "3c3c3c3c-3333-4333-8333-333333333333"),
            (
                SERVICE_BUS_NAMESPACE,
                "sb-imageshare.servicebus.windows.net",
            ),
            (STORAGE_ACCOUNT, "stimageshare"),
            (MAIL_SENDER, "imageshare@contoso.onmicrosoft.com"),
        ]
    }

    fn with(
        extra: &[(&'static str, &'static str)],
        without: &[&str],
    ) -> Result<Settings, ConfigError> {
        let mut pairs = base();
        pairs.retain(|(k, _)| !without.contains(k) && !extra.iter().any(|(e, _)| e == k));
        pairs.extend_from_slice(extra);
        Settings::from_env(&Env::from_pairs(pairs))
    }

    #[test]
    fn a_complete_production_configuration_is_accepted_with_its_defaults() {
        let s = with(&[], &[]).unwrap();
        assert_eq!(s.credential, CredentialMode::Federated);
        assert_eq!(s.consent_deadline, Duration::from_secs(7 * 86_400));
        assert_eq!(s.events_topic, "share-events");
        assert!(
            matches!(&s.store, StoreSettings::TableIdentity { endpoint, .. } if endpoint.as_str() == "https://stimageshare.table.core.windows.net/")
        );
        assert_eq!(
            s.consent_callback_url().as_str(),
            "https://func-imageshare.azurewebsites.net/api/consent/callback"
        );
    }

    #[test]
    fn invocations_at_once_default_to_64_and_must_be_from_1_to_1024() {
        let s = with(&[], &[]).unwrap();
        assert_eq!(s.pipeline.invocations_at_once, 64);
        let s = with(&[(INVOCATIONS_AT_ONCE, "16")], &[]).unwrap();
        assert_eq!(s.pipeline.invocations_at_once, 16);
        for bad in ["0", "1025", "many"] {
            let e = with(&[(INVOCATIONS_AT_ONCE, bad)], &[]).unwrap_err();
            assert_eq!(e.name, INVOCATIONS_AT_ONCE, "{bad}: {e:?}");
        }
    }

    #[test]
    fn a_consent_deadline_maximum_below_the_deadline_is_refused() {
        let e = with(
            &[
                (CONSENT_DEADLINE_HOURS, "48"),
                (CONSENT_DEADLINE_MAX_HOURS, "24"),
            ],
            &[],
        )
        .unwrap_err();
        assert_eq!(e.name, CONSENT_DEADLINE_MAX_HOURS, "{e:?}");
        let s = with(&[], &[]).unwrap();
        assert_eq!(s.consent_deadline_max, Duration::from_secs(30 * 86_400));
        assert_eq!(s.consent_reminder, None, "no reminder unless asked for");
        let e = with(
            &[
                (CONSENT_DEADLINE_HOURS, "24"),
                (CONSENT_REMINDER_HOURS, "24"),
            ],
            &[],
        )
        .unwrap_err();
        assert_eq!(e.name, CONSENT_REMINDER_HOURS, "{e:?}");
    }

    #[test]
    fn every_setting_problem_is_reported_at_once_not_only_the_first() {
        let mut pairs = base();
        pairs.retain(|(k, _)| ![IMAGE_CATALOG, OWNER_TENANT_ID, MAIL_SENDER].contains(k));
        pairs.extend_from_slice(&[
            (PUBLIC_BASE_URL, "not a url"),
            (APP_CREDENTIAL, "password"),
            (CONSENT_DEADLINE_HOURS, "0"),
            (FEDERATED_AUDIENCE, "api://elsewhere"),
        ]);
        let problems = Settings::from_env_all(&Env::from_pairs(pairs)).unwrap_err();
        let mut named: Vec<&str> = problems.iter().map(|p| p.name).collect();
        named.sort_unstable();
        let mut expected = vec![
            IMAGE_CATALOG,
            PUBLIC_BASE_URL,
            OWNER_TENANT_ID,
            APP_CREDENTIAL,
            MAIL_SENDER,
            CONSENT_DEADLINE_HOURS,
            FEDERATED_AUDIENCE,
        ];
        expected.sort_unstable();
        assert_eq!(named, expected, "{problems:?}");
    }

    #[test]
    fn the_federated_audience_defaults_to_the_public_cloud_and_accepts_only_known_clouds() {
        assert_eq!(
            with(&[], &[]).unwrap().federated_audience,
            "api://AzureADTokenExchange"
        );
        assert_eq!(
            with(
                &[(FEDERATED_AUDIENCE, "api://AzureADTokenExchangeUSGov")],
                &[]
            )
            .unwrap()
            .federated_audience,
            "api://AzureADTokenExchangeUSGov"
        );
        let Err(e) = with(&[(FEDERATED_AUDIENCE, "api://AzureADTokenExchange/")], &[]) else {
            panic!("an unknown audience was accepted");
        };
        assert_eq!(e.name, FEDERATED_AUDIENCE);
        assert!(e.problem.contains("api://AzureADTokenExchangeChina"), "{e}");
    }

    #[test]
    fn the_legacy_port_variable_is_a_fallback() {
        let s = with(
            &[("FUNCTIONS_HTTPWORKER_PORT", "7072")],
            &["FUNCTIONS_CUSTOMHANDLER_PORT"],
        )
        .unwrap();
        assert_eq!(s.port, 7072);
    }

    #[test]
    fn missing_and_malformed_settings_are_named() {
        let cases: Vec<(&[(&str, &str)], &[&str], &str)> = vec![
            (
                &[],
                &["FUNCTIONS_CUSTOMHANDLER_PORT"],
                "FUNCTIONS_CUSTOMHANDLER_PORT",
            ),
            (&[], &[IMAGE_CATALOG], IMAGE_CATALOG),
            (&[(IMAGE_CATALOG, "{}")], &[], IMAGE_CATALOG),
            (&[(PUBLIC_BASE_URL, "example.com")], &[], PUBLIC_BASE_URL),
            (&[(OWNER_TENANT_ID, "contoso")], &[], OWNER_TENANT_ID),
            (&[(APP_CREDENTIAL, "secret")], &[], KEY_VAULT_URL),
            (&[(APP_CREDENTIAL, "certificate")], &[], APP_CREDENTIAL),
            (&[], &[SERVICE_BUS_NAMESPACE], SERVICE_BUS_CONNECTION),
            (
                &[(SERVICE_BUS_CONNECTION, "Endpoint=sb://x.example.com/")],
                &[],
                SERVICE_BUS_CONNECTION,
            ),
            (&[], &[STORAGE_ACCOUNT], STORAGE_CONNECTION),
            (&[], &[MAIL_SENDER], MAIL_SENDER),
            (&[(NOTIFY, "webhook")], &[], WEBHOOK_URL),
            (
                &[(CONSENT_DEADLINE_HOURS, "0")],
                &[],
                CONSENT_DEADLINE_HOURS,
            ),
            (
                &[(SECRET_LIFETIME_DAYS, "10000")],
                &[],
                SECRET_LIFETIME_DAYS,
            ),
        ];
        for (extra, without, expected) in cases {
            let err = with(extra, without).unwrap_err();
            assert_eq!(err.name, expected, "{extra:?} without {without:?}: {err}");
        }
    }

    #[test]
    fn a_webhook_urls_query_never_appears_in_debug_output() {
        let s = with(
            &[
                (NOTIFY, "webhook"),
                (WEBHOOK_URL, "https://hooks.example.com/x?sig=c2VjcmV0"),
                (WEBHOOK_SECRET, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            ],
            &[],
        )
        .unwrap();
        let shown = format!("{s:?}");
        assert!(
            shown.contains("hooks.example.com")
                && !shown.contains("c2VjcmV0")
                && !shown.contains("MfKQ9r8G"),
            "{shown}"
        );
    }

    #[test]
    fn a_webhook_needs_https_outside_simulated_runs_and_a_standard_webhooks_secret() {
        const KEY: (&str, &str) = (WEBHOOK_SECRET, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let plain = (WEBHOOK_URL, "http://hooks.example.com/x");
        let err = with(&[(NOTIFY, "webhook"), plain, KEY], &[]).unwrap_err();
        assert_eq!(err.name, WEBHOOK_URL, "{err}");
        assert!(err.problem.contains("https"), "{err}");
        let simulated = (SIMULATED_CLOUD, "http://127.0.0.1:1");
        assert!(with(&[(NOTIFY, "webhook"), plain, KEY, simulated], &[]).is_ok());
        let secure = (WEBHOOK_URL, "https://hooks.example.com/x");
        let err = with(&[(NOTIFY, "webhook"), secure], &[]).unwrap_err();
        assert_eq!(err.name, WEBHOOK_SECRET, "{err}");
        let err = with(
            &[(NOTIFY, "webhook"), secure, (WEBHOOK_SECRET, "hunter2")],
            &[],
        )
        .unwrap_err();
        assert_eq!(err.name, WEBHOOK_SECRET, "{err}");
    }

    #[test]
    fn a_storage_connection_string_never_appears_in_debug_output() {
        let s = with(
            &[(STORAGE_CONNECTION, "AccountName=a;AccountKey=c2VjcmV0")],
            &[],
        )
        .unwrap();
        assert!(!format!("{s:?}").contains("c2VjcmV0"));
    }

    #[test]
    fn a_deployment_id_is_short_lowercase_and_hyphenated_inside() {
        for good in ["staging", "prod-2", "a", "abcdefghij0123456789wxyz"] {
            assert_eq!(DeploymentId::parse(good).map(|d| d.0), Ok(good.to_owned()));
        }
        for bad in [
            "",
            "Staging",
            "-prod",
            "prod-",
            "prod_1",
            "abcdefghij0123456789wxyz1",
            "pr od",
        ] {
            assert!(DeploymentId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_bad_deployment_id_is_reported_with_the_other_problems() {
        let mut pairs = base();
        pairs.push((DEPLOYMENT_ID, "Prod_1"));
        pairs.push((CONSENT_DEADLINE_HOURS, "0"));
        let problems = Settings::from_env_all(&Env::from_pairs(pairs)).unwrap_err();
        let names: Vec<&str> = problems.iter().map(|p| p.name).collect();
        assert!(names.contains(&DEPLOYMENT_ID), "{names:?}");
        assert!(names.contains(&CONSENT_DEADLINE_HOURS), "{names:?}");
    }

    #[test]
    fn without_a_deployment_id_the_settings_keep_none() {
        let settings = Settings::from_env(&Env::from_pairs(base())).unwrap();
        assert_eq!(settings.deployment_id, None);
    }
}
