//! `azure-sim`: a simulator of the Azure services imageshare calls — Entra ID,
//! Microsoft Graph, Key Vault, Service Bus REST and Azure Resource Manager — behaving like
//! Azure on those calls, checked against real recordings (`tests/recordings/`).
//!
//! `http://{sim}/{azure-host}/{path}` serves what `https://{azure-host}/{path}` names;
//! `crates/azure-transport` routes real URLs there. The admin API lives under `/_sim/`,
//! the App Service managed identity endpoint at `/_identity/msi/token`.
//!
//! ```no_run
//! # async fn f() -> Result<(), azure_sim::SimError> {
//! use azure_sim::{Sim, Scenario};
//! let sim = Sim::start(Scenario::demo()).await?;
//! let base = sim.url(); // http://127.0.0.1:PORT
//! sim.advance_clock(std::time::Duration::from_secs(60));
//! let seen = sim.requests();
//! # Ok(()) }
//! ```
//!
//! Every host is a [`HostService`]; more can be added with [`SimBuilder::service`]. They share
//! [`SimContext::authenticate`] (token validation), [`SimContext::issue_token`], the request
//! log, faults, the clock and Azure RBAC ([`rbac`], [`arm::rbac`]).

// Handlers return early with a ready axum `Response` as their error; boxing it buys nothing.
#![allow(clippy::result_large_err)]

pub mod admin;
pub mod arm;
pub mod clock;
pub mod context;
pub mod directory;
pub mod entra;
pub mod faults;
pub mod graph;
pub mod keyvault;
pub mod rbac;
pub mod record;
pub mod request;
pub mod scenario;
pub mod secrets;
pub mod server;
pub mod service;
pub mod servicebus;
pub mod state;
pub mod throttling;
pub mod timefmt;
pub mod tokens;

use std::{net::SocketAddr, sync::Arc, time::Duration};

pub use arm::admin::{PrincipalRef, RoleGrant};
pub use clock::ClockError;
pub use context::{GuestIdentity, SimContext, TokenRequest};
pub use directory::{GuestView, Mail};
pub use entra::{
    authcode::{CODE_LIFETIME_SECONDS, s256_challenge},
    consent::{AuthorizeResponse, ConsentChoice, PageError, ResponseMode, SignInError},
};
pub use faults::{Fault, FaultEntry, FaultId};
pub use record::RequestRecord;
pub use scenario::{Replication, Scenario, ScenarioError};
pub use secrets::{KnownSecret, SecretKind};
pub use service::HostService;
pub use state::{AdminError, InvitationView, SharingGroupView, SharingProfileView, StateSnapshot};
pub use throttling::{ServiceCounts, ThrottleEvent, ThrottlingReport};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

/// Errors starting or driving the simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The scenario is inconsistent.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// The listener could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// Address asked for.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The clock refused to move.
    #[error(transparent)]
    Clock(#[from] ClockError),
    /// An admin action was refused.
    #[error(transparent)]
    Admin(#[from] AdminError),
    /// Resource Manager refused an admin's action (as it would in the portal).
    #[error(transparent)]
    Arm(#[from] arm::ArmError),
    /// Signing in on an authorize or consent page did not reach the client's redirect URI.
    #[error(transparent)]
    SignIn(#[from] SignInError),
}

/// Configures a simulator before it starts.
pub struct SimBuilder {
    scenario: Scenario,
    addr: SocketAddr,
    extra: Vec<Arc<dyn HostService>>,
}

impl std::fmt::Debug for SimBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimBuilder")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl SimBuilder {
    /// Listen on `addr` instead of `127.0.0.1:0`.
    #[must_use]
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// Adds a service (it is asked before the built-in ones, so it may also override them).
    #[must_use]
    pub fn service(mut self, service: Arc<dyn HostService>) -> Self {
        self.extra.push(service);
        self
    }

    /// Starts serving.
    pub async fn start(self) -> Result<Sim, SimError> {
        self.scenario.validate()?;
        let ctx = SimContext::new(self.scenario);
        let mut services = self.extra;
        services.extend(builtin_services());
        let listener = TcpListener::bind(self.addr)
            .await
            .map_err(|source| SimError::Bind {
                addr: self.addr,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| SimError::Bind {
            addr: self.addr,
            source,
        })?;
        let app = server::router(server::AppState {
            ctx: ctx.clone(),
            services: Arc::new(services),
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "azure-sim server stopped");
            }
        });
        Ok(Sim {
            ctx,
            addr,
            stop: Some(stop),
            task,
        })
    }
}

fn builtin_services() -> Vec<Arc<dyn HostService>> {
    vec![
        Arc::new(arm::Arm),
        Arc::new(entra::Entra),
        Arc::new(graph::Graph),
        Arc::new(keyvault::KeyVault),
        Arc::new(servicebus::ServiceBus),
    ]
}

/// A running simulator. Dropping it stops the server.
pub struct Sim {
    ctx: SimContext,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.abort();
    }
}

impl Sim {
    /// Starts a simulator for `scenario` on `127.0.0.1:0`.
    pub async fn start(scenario: Scenario) -> Result<Self, SimError> {
        Self::builder(scenario).start().await
    }

    /// A builder, to choose the address or add services.
    pub fn builder(scenario: Scenario) -> SimBuilder {
        SimBuilder {
            scenario,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            extra: vec![],
        }
    }

    /// `http://127.0.0.1:PORT` (no trailing slash): the base for `azure_transport::Transport::simulated`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `IDENTITY_ENDPOINT` for the App Service managed identity protocol.
    pub fn identity_endpoint(&self) -> String {
        format!("{}/_identity/msi/token", self.url())
    }

    /// The shared state, for services and advanced tests.
    pub fn context(&self) -> &SimContext {
        &self.ctx
    }

    /// The scenario as loaded.
    pub fn scenario(&self) -> &Scenario {
        &self.ctx.scenario
    }

    /// Every request seen so far.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.ctx.recorder.all()
    }

    /// Forgets the requests seen so far.
    pub fn clear_requests(&self) {
        self.ctx.recorder.clear();
    }

    /// Installs a fault; returns its id.
    pub fn add_fault(&self, fault: Fault) -> FaultId {
        self.ctx.faults.add(fault)
    }

    /// Installed faults and how often each fired.
    pub fn faults(&self) -> Vec<FaultEntry> {
        self.ctx.faults.list()
    }

    /// Removes one fault.
    pub fn remove_fault(&self, id: FaultId) -> bool {
        self.ctx.faults.remove(id)
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        self.ctx.faults.clear();
    }

    /// Acts as `admin` of `tenant` consenting to `app_id` (creates its service principal there).
    pub fn consent(
        &self,
        tenant: &str,
        app_id: &str,
        admin: &str,
    ) -> Result<directory::ServicePrincipalView, SimError> {
        Ok(state::consent(&self.ctx, tenant, app_id, admin)?)
    }

    /// Plays the browser through `authorize_url` (an authorize or admin consent URL as the
    /// client built it): `login` signs in with `password` and, if the consent page shows,
    /// makes `choice`. Returns what the client's `redirect_uri` receives (`.code()`,
    /// `.param("state")`, `.error()`, `.location()`), as the HTML pages would; an error page,
    /// a wrong password (AADSTS50126) or "Need admin approval" (AADSTS90094) is an `Err`.
    pub fn sign_in_and_consent(
        &self,
        authorize_url: &str,
        login: &str,
        password: &str,
        choice: ConsentChoice,
    ) -> Result<AuthorizeResponse, SimError> {
        Ok(entra::consent::sign_in_and_consent(
            &self.ctx,
            authorize_url,
            login,
            password,
            choice,
        )?)
    }

    /// Acts as a tenant admin granting a role in the portal (authorized by the admin's own
    /// roles); the ARM JSON of the assignment.
    pub fn assign_role(&self, grant: &RoleGrant) -> Result<serde_json::Value, SimError> {
        arm::admin::grant(&self.ctx, grant).map_err(|e| match e {
            arm::admin::GrantError::Admin(a) => SimError::Admin(a),
            arm::admin::GrantError::Arm(a) => SimError::Arm(a),
        })
    }

    /// Acts as the person invited to `tenant` (id or domain) with `email` accepting the B2B
    /// invitation with the home account that address names (what the `inviteRedeemUrl` page
    /// does): the guest's `externalUserState` becomes `Accepted` and the person can sign in to
    /// `tenant` with the home credentials.
    pub fn redeem(&self, tenant: &str, email: &str) -> Result<directory::GuestView, SimError> {
        Ok(state::redeem(&self.ctx, tenant, email)?)
    }

    /// Mail sent by users of `tenant` (id or domain).
    pub fn outbox(&self, tenant: &str) -> Vec<Mail> {
        state::outbox(&self.ctx, tenant)
    }

    /// The mail of [`Sim::outbox`] after its first `seen` (oldest first), for a watcher that
    /// reads a long outbox again and again.
    pub fn outbox_since(&self, tenant: &str, seen: usize) -> Vec<Mail> {
        state::outbox_since(&self.ctx, tenant, seen)
    }

    /// Message counts of every Service Bus entity (queues, topic subscriptions, dead-letter
    /// queues): visible, locked, scheduled and when the next scheduled one is due. Cheaper than
    /// [`Sim::state`], for a driver that asks often whether anything is left to do now.
    pub fn queue_counts(&self) -> Vec<servicebus::broker::EntityCounts> {
        state::queue_counts(&self.ctx)
    }

    /// Every secret value the simulator issued or holds.
    pub fn known_secrets(&self) -> Vec<KnownSecret> {
        self.ctx.secrets.all()
    }

    /// True when `text` contains any known secret value.
    pub fn contains_known_secret(&self, text: &str) -> bool {
        !self.ctx.secrets.find_in(text).is_empty()
    }

    /// Applications, service principals, credentials' metadata, queue counts, role
    /// assignments and Resource Manager resources.
    pub fn state(&self) -> StateSnapshot {
        state::snapshot(&self.ctx)
    }

    /// What the modelled throttling answered: 429s per service (`arm`, `compute`, `graph`),
    /// each with its `Retry-After` and whether the client's next request on that bucket came
    /// before it, and the `x-ms-throttle-priority` values Graph requests carried.
    pub fn throttling(&self) -> throttling::ThrottlingReport {
        self.ctx.world().throttling.report()
    }

    /// Forgets the throttling report (the buckets keep their state).
    pub fn clear_throttling(&self) {
        self.ctx.world().throttling.clear();
    }

    /// The simulated time.
    pub fn now(&self) -> time::OffsetDateTime {
        self.ctx.now()
    }

    /// Moves the simulated clock forward.
    pub fn advance_clock(&self, by: Duration) {
        self.ctx.clock.advance(by);
    }

    /// Sets the clock's offset from real time (it may only grow).
    pub fn set_clock_offset(&self, offset: time::Duration) -> Result<(), SimError> {
        Ok(self.ctx.clock.set_offset(offset)?)
    }
}
