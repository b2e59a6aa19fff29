//! The `handler` executable the Functions host starts.

use std::{process::ExitCode, sync::Arc};

use imageshare::{
    app::Application,
    config::{Env, Settings},
    context::{AppContext, SystemClock},
    steps::MemoryQueue,
    store::MemoryStore,
    telemetry,
};
use tracing::{error, info, warn};

#[tokio::main]
async fn main() -> ExitCode {
    telemetry::init();
    let settings = match Settings::from_env(&Env::Process) {
        Ok(s) => s,
        Err(e) => {
            error!(error = %e, "invalid configuration");
            return ExitCode::FAILURE;
        }
    };
    warn!("no durable store or queue configured yet: requests are kept in memory");
    let port = settings.port;
    let ctx = AppContext {
        settings: Arc::new(settings),
        store: Arc::new(MemoryStore::new()),
        queue: Arc::new(MemoryQueue::default()),
        clock: Arc::new(SystemClock),
    };
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
