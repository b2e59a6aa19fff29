//! Starting and stopping the whole host: settings, handler, triggers, HTTP front end.

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use tokio::{sync::watch, task::JoinSet};

use crate::{
    error::{ConfigError, HostError},
    function_json::{self, FunctionDef},
    host_json::HostConfig,
    http_trigger::{self, HttpFunction},
    invoke::Invoker,
    servicebus::{Receiver, ServiceBusTrigger, listener::Listener, output::OutputSet},
    settings::{AppSettings, read_local_settings},
    timer::{TimerRunner, TimerTrigger},
    worker::{Worker, WorkerSpec},
};

/// How to run an app.
#[derive(Clone)]
pub struct HostOptions {
    /// The app directory (deploy layout).
    pub app_dir: PathBuf,
    /// Where HTTP triggers listen (`127.0.0.1:7071`; port 0 picks one).
    pub listen: SocketAddr,
    /// The simulator base URL; `None` = real Azure.
    pub azure_sim: Option<String>,
    /// Whether the host's own environment is part of the app settings (as with `func start`).
    pub inherit_env: bool,
    /// Settings that override everything else (tests pass configuration here).
    pub settings: Vec<(String, String)>,
    /// How long in-flight invocations may finish after shutdown starts.
    pub shutdown_grace: Duration,
}

impl std::fmt::Debug for HostOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostOptions")
            .field("app_dir", &self.app_dir)
            .field("listen", &self.listen)
            .field("azure_sim", &self.azure_sim)
            .field("inherit_env", &self.inherit_env)
            .field(
                "settings",
                &self.settings.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl HostOptions {
    /// Options for `app_dir` on `127.0.0.1:7071`, inheriting the environment.
    pub fn new(app_dir: impl Into<PathBuf>) -> Self {
        Self {
            app_dir: app_dir.into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 7071)),
            azure_sim: None,
            inherit_env: true,
            settings: Vec::new(),
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

/// A function and what triggers it, for the startup listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionSummary {
    /// The function name.
    pub name: String,
    /// `httpTrigger: [GET] http://…`, `serviceBusTrigger: queue orders`, …
    pub trigger: String,
}

/// A started host.
#[derive(Debug)]
pub struct RunningHost {
    addr: SocketAddr,
    functions: Vec<FunctionSummary>,
    worker: Worker,
    stop: Arc<watch::Sender<bool>>,
    done: tokio::task::JoinHandle<Result<(), HostError>>,
}

/// Asks a running host to stop (cloneable, e.g. for a Ctrl-C handler).
#[derive(Clone, Debug)]
pub struct StopHandle(Arc<watch::Sender<bool>>);

impl StopHandle {
    /// Starts a graceful shutdown.
    pub fn stop(&self) {
        self.0.send_replace(true);
    }
}

impl RunningHost {
    /// Where HTTP triggers listen.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The functions found, with their triggers.
    pub fn functions(&self) -> &[FunctionSummary] {
        &self.functions
    }

    /// The supervised handler.
    pub fn worker(&self) -> &Worker {
        &self.worker
    }

    /// The process id of the handler while it runs (`None` while it starts or after it
    /// stopped).
    pub fn handler_pid(&self) -> Option<u32> {
        match self.worker.state() {
            crate::worker::WorkerState::Ready(endpoint) => endpoint.pid,
            crate::worker::WorkerState::Starting | crate::worker::WorkerState::Stopped => None,
        }
    }

    /// A handle that stops the host.
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle(self.stop.clone())
    }

    /// Waits until the host stops: after [`StopHandle::stop`], or on its own when the
    /// handler failed too often (then `Err(HostError::Worker(GaveUp))`).
    pub async fn wait(self) -> Result<(), HostError> {
        match self.done.await {
            Ok(r) => r,
            Err(e) => Err(HostError::Worker(crate::worker::WorkerError::GaveUp {
                count: 0,
                last: format!("host task failed: {e}"),
            })),
        }
    }

    /// Stops gracefully: stop receiving, let in-flight invocations finish (briefly),
    /// then stop the handler.
    pub async fn shutdown(self) -> Result<(), HostError> {
        self.stop.send_replace(true);
        self.wait().await
    }
}

/// Settings as `func start` builds them: the environment, then local.settings.json
/// `Values` for names not set there, then explicit overrides.
pub fn app_settings(options: &HostOptions) -> Result<AppSettings, ConfigError> {
    let mut settings = if options.inherit_env {
        AppSettings::from_pairs(std::env::vars())
    } else {
        AppSettings::default()
    };
    for (name, value) in read_local_settings(&options.app_dir.join("local.settings.json"))? {
        if !settings.insert_if_absent(&name, &value) {
            tracing::warn!(
                "Skipping '{name}' from local.settings.json as it's already defined in current environment variables."
            );
        }
    }
    for (name, value) in &options.settings {
        settings.insert(name.clone(), value.clone());
    }
    Ok(settings)
}

enum Trigger {
    ServiceBus(ServiceBusTrigger),
    Timer(TimerTrigger),
    Http(Box<HttpFunction>),
}

/// Starts the host: reads the app, starts the handler, the triggers and the HTTP listener.
pub async fn start(options: HostOptions) -> Result<RunningHost, HostError> {
    let app_dir = options
        .app_dir
        .canonicalize()
        .map_err(|source| ConfigError::Read {
            path: options.app_dir.clone(),
            source,
        })?;
    let settings = app_settings(&options)?;
    let config = HostConfig::read_with_overrides(&app_dir, settings.iter())?;
    let functions = function_json::discover(&app_dir)?;
    let transport = azure_transport::Transport::from_setting(options.azure_sim.as_deref())?;
    // Against the simulator, SAS tokens are signed on its clock, which tests move forward.
    transport.follow_simulator_clock();

    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|source| HostError::Bind {
            addr: options.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| HostError::Bind {
        addr: options.listen,
        source,
    })?;

    // Resolve every trigger before anything starts, so configuration errors stop startup.
    let mut resolved = Vec::new();
    let mut summaries = Vec::new();
    for function in &functions {
        if disabled(function, &settings) {
            tracing::info!(function = %function.name, "function is disabled");
            continue;
        }
        let outputs = OutputSet::from_function(function, &settings, &transport)?;
        let (trigger, summary) =
            resolve_trigger(function, &config, &settings, outputs.clone(), addr)?;
        summaries.push(FunctionSummary {
            name: function.name.clone(),
            trigger: summary,
        });
        resolved.push((function.name.clone(), trigger, outputs));
    }

    let spec = WorkerSpec::resolve(&config, &app_dir, &settings)?;
    let (worker_stop_tx, worker_stop_rx) = watch::channel(false);
    let (worker, worker_task) = Worker::spawn(spec, worker_stop_rx);
    let invoker =
        Invoker::new(worker.clone(), config.function_timeout).map_err(HostError::Client)?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let stop_tx = Arc::new(stop_tx);
    let mut triggers = JoinSet::new();
    let mut http_functions = Vec::new();
    let mut timers = Vec::new();
    for (name, trigger, outputs) in resolved {
        match trigger {
            Trigger::ServiceBus(sb) => {
                let http = transport
                    .for_azure_core_legacy_sas(&sb.connection.key_name, sb.connection.key());
                let receiver = Receiver::new(http, &sb.connection, &sb.entity).map_err(|e| {
                    ConfigError::Binding {
                        function: name.clone(),
                        message: e.to_string(),
                    }
                })?;
                if !sb.auto_complete {
                    tracing::warn!(function = %name, "autoCompleteMessages is false: the handler cannot settle messages, so they are redelivered when their lock expires");
                }
                let listener = Listener {
                    function: name,
                    trigger: sb,
                    receiver,
                    outputs,
                    invoker: invoker.clone(),
                    max_concurrent_calls: config.service_bus.max_concurrent_calls,
                    max_lock_renewal: config.service_bus.max_auto_lock_renewal_duration,
                    shutdown_grace: options.shutdown_grace,
                };
                triggers.spawn(listener.run(stop_rx.clone()));
            }
            Trigger::Timer(timer) => {
                let runner = TimerRunner {
                    function: name,
                    trigger: timer,
                    outputs,
                    invoker: invoker.clone(),
                };
                timers.push(runner.clone());
                triggers.spawn(runner.run(stop_rx.clone()));
            }
            Trigger::Http(f) => http_functions.push(*f),
        }
    }
    for f in &http_functions {
        if !f.auth_level.eq_ignore_ascii_case("anonymous") {
            tracing::info!(function = %f.name, auth_level = %f.auth_level, "authLevel is not enforced locally (as with func start)");
        }
    }
    let app = http_trigger::router(
        http_functions,
        timers,
        invoker,
        crate::request_body::limit(&settings),
    );
    let mut http_stop = stop_rx.clone();
    triggers.spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = http_stop.wait_for(|stop| *stop).await;
            })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "HTTP listener failed");
        }
    });

    let done = {
        let stop_tx = stop_tx.clone();
        let mut stop_rx = stop_rx;
        let grace = options.shutdown_grace;
        tokio::spawn(async move {
            let mut worker_task = worker_task;
            let early = tokio::select! {
                r = &mut worker_task => Some(r),
                _ = stop_rx.wait_for(|stop| *stop) => None,
            };
            stop_tx.send_replace(true);
            let drain = async { while triggers.join_next().await.is_some() {} };
            if tokio::time::timeout(grace + Duration::from_secs(1), drain)
                .await
                .is_err()
            {
                triggers.abort_all();
            }
            worker_stop_tx.send_replace(true);
            let worker_result = match early {
                Some(r) => r,
                None => worker_task.await,
            };
            match worker_result {
                Ok(r) => r.map_err(HostError::Worker),
                Err(e) => Err(HostError::Worker(crate::worker::WorkerError::GaveUp {
                    count: 0,
                    last: format!("supervisor task failed: {e}"),
                })),
            }
        })
    };

    Ok(RunningHost {
        addr,
        functions: summaries,
        worker,
        stop: stop_tx,
        done,
    })
}

/// `AzureWebJobs.<Name>.Disabled` = true disables a function.
fn disabled(function: &FunctionDef, settings: &AppSettings) -> bool {
    settings
        .get(&format!("AzureWebJobs.{}.Disabled", function.name))
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true") || v.trim() == "1")
}

fn resolve_trigger(
    function: &FunctionDef,
    config: &HostConfig,
    settings: &AppSettings,
    outputs: OutputSet,
    addr: SocketAddr,
) -> Result<(Trigger, String), ConfigError> {
    let Some(trigger) = function.trigger() else {
        return Err(ConfigError::Binding {
            function: function.name.clone(),
            message: "no trigger".to_owned(),
        });
    };
    if trigger.is("serviceBusTrigger") {
        let sb = ServiceBusTrigger::from_binding(
            function,
            trigger,
            settings,
            config.service_bus.auto_complete_messages,
        )?;
        let what = match &sb.entity {
            crate::servicebus::Entity::Queue(q) => format!("queue '{q}'"),
            crate::servicebus::Entity::Subscription {
                topic,
                subscription,
            } => {
                format!("topic '{topic}' subscription '{subscription}'")
            }
        };
        let summary = format!(
            "serviceBusTrigger ({what} on {}.servicebus.windows.net)",
            sb.connection.namespace
        );
        return Ok((Trigger::ServiceBus(sb), summary));
    }
    if trigger.is("timerTrigger") {
        let timer = TimerTrigger::from_binding(function, trigger, settings)?;
        let summary = format!(
            "timerTrigger ({}{})",
            timer.schedule.describe(),
            if timer.run_on_startup {
                ", runOnStartup"
            } else {
                ""
            }
        );
        return Ok((Trigger::Timer(timer), summary));
    }
    if trigger.is("httpTrigger") {
        let f = HttpFunction::from_function(
            function,
            trigger,
            &config.route_prefix,
            config.custom_handler.enable_forwarding_http_request,
            outputs,
        )?;
        let methods = f.describe();
        let (methods, route) = methods.split_once(' ').unwrap_or((&methods, ""));
        let summary = format!(
            "{methods} http://{addr}{route}{}",
            if f.forwarding { " (forwarded)" } else { "" }
        );
        return Ok((Trigger::Http(Box::new(f)), summary));
    }
    Err(ConfigError::Binding {
        function: function.name.clone(),
        message: format!(
            "trigger type '{}' is not supported by the local host",
            trigger.kind
        ),
    })
}
