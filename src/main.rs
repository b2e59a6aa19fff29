//! The `handler` executable the Functions host starts.

use std::{process::ExitCode, sync::Arc};

use azure_transport::Transport;
use imageshare::{
    app::Application,
    azure::{RetryPolicy, Tokens, scopes},
    cloud::Cloud,
    config::{Env, Settings, StoreSettings},
    context::{AppContext, Clock, SystemClock},
    events::TopicEvents,
    simulator_clock::SimulatorClock,
    store::{
        MemoryStore, RequestStore,
        table::{BearerSource, TableStore, TokenError},
    },
    telemetry,
};
use tracing::{error, info, warn};

/// Storage tokens of the Function App's identity.
struct OperatorStorageToken(Arc<Tokens>);

#[async_trait::async_trait]
impl BearerSource for OperatorStorageToken {
    async fn token(&self) -> Result<String, TokenError> {
        self.0
            .operator(scopes::STORAGE)
            .await
            .map(|t| t.expose().to_owned())
            .map_err(|e| TokenError(e.to_string()))
    }
}

/// Creates the table if it is missing, without holding up start-up: the host wants its first
/// `GET /` answered quickly. Until it exists, store calls fail retryably.
fn ensure_table_in_background(store: TableStore) {
    tokio::spawn(async move {
        for attempt in 1..=10u64 {
            match store.ensure_table().await {
                Ok(()) => return,
                Err(e) => {
                    warn!(error = %e, attempt, "could not ensure the requests table; retrying")
                }
            }
            tokio::time::sleep(std::time::Duration::from_secs(attempt * 3)).await;
        }
    });
}

/// Builds the clients and the store from the settings. Nothing here calls Azure: the host
/// gives a custom handler little time to answer its first `GET /`.
async fn build_context(settings: Settings) -> anyhow::Result<AppContext> {
    let transport = Transport::from_setting(settings.simulated_cloud.as_deref())?;
    if transport.is_simulated() {
        warn!(simulator = ?settings.simulated_cloud, "every Azure call goes to a simulator");
    }
    // The simulator's time when there is one: tests move it to reach expiries.
    let clock: Arc<dyn Clock> = match SimulatorClock::follow(&transport) {
        Some(simulated) => Arc::new(simulated),
        None => Arc::new(SystemClock),
    };
    let tokens = Arc::new(
        Tokens::managed_identity(&transport, &settings.identity_client_id)?
            .with_token_exchange_audience(&settings.federated_audience)
            .with_clock(clock.clone()),
    );
    let cloud = Arc::new(Cloud::new(
        &settings,
        transport.clone(),
        tokens,
        RetryPolicy::default(),
    ));
    let store: Arc<dyn RequestStore> = match &settings.store {
        StoreSettings::Memory => {
            warn!(
                "requests are kept in memory: they are lost on restart and not shared between instances"
            );
            Arc::new(MemoryStore::new())
        }
        StoreSettings::TableConnectionString {
            connection_string,
            table,
        } => {
            let store =
                TableStore::from_connection_string(connection_string, table, transport.clone())?;
            ensure_table_in_background(store.clone());
            // Instances on one store share their 429s through it.
            cloud.http.share_throttling(Arc::new(store.clone()));
            Arc::new(store)
        }
        StoreSettings::TableIdentity { endpoint, table } => {
            let source = Arc::new(OperatorStorageToken(cloud.tokens.clone()));
            let store =
                TableStore::with_bearer(endpoint.as_str(), table, source, transport.clone())?;
            ensure_table_in_background(store.clone());
            cloud.http.share_throttling(Arc::new(store.clone()));
            Arc::new(store)
        }
    };
    let events = Arc::new(TopicEvents::new(
        cloud.service_bus.clone(),
        settings.events_topic.clone(),
    ));
    Ok(AppContext {
        settings: Arc::new(settings),
        store,
        queue: Arc::new(cloud.service_bus.clone()),
        events,
        clock,
        cloud: Some(cloud),
        transport,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    telemetry::init();
    let settings = match Settings::from_env_all(&Env::Process) {
        Ok(s) => s,
        Err(problems) => {
            // Every problem, each on its own line and all in one: fix them in one go.
            for e in &problems {
                error!(error = %e, "invalid configuration");
            }
            let all: Vec<String> = problems.iter().map(ToString::to_string).collect();
            error!(
                problems = problems.len(),
                errors = all.join("; "),
                "invalid configuration: every problem"
            );
            return ExitCode::FAILURE;
        }
    };
    let ctx = match build_context(settings).await {
        Ok(ctx) => ctx,
        Err(e) => {
            error!(error = format!("{e:#}"), "cannot start");
            return ExitCode::FAILURE;
        }
    };
    let port = ctx.settings.port;
    let app = match Application::build(ctx, port).await {
        Ok(app) => app,
        Err(e) => {
            error!(error = %e, port, "cannot bind the handler port");
            return ExitCode::FAILURE;
        }
    };
    info!(port = app.port(), "handler listening on 127.0.0.1");
    match app.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!(error = %e, "server failed");
            ExitCode::FAILURE
        }
    }
}
