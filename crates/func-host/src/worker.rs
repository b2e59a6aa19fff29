//! The handler process: one per host, started with the custom-handler environment,
//! probed with `GET /` until it answers, logged, and restarted the way the host does
//! (H `HttpWorkerProcess`, `WorkerProcess`, `DefaultHttpWorkerService`).

use std::{
    collections::VecDeque,
    path::{Path, PathBuf},
    process::{ExitStatus, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncBufReadExt, AsyncRead, BufReader},
    process::{Child, Command},
    sync::{mpsc, watch},
    task::JoinHandle,
};

use crate::{error::ConfigError, host_json::HostConfig, settings::AppSettings};

/// Exit code with which a handler asks to be restarted.
pub const EXIT_CODE_RESTART: i32 = 200;
/// Error exits tolerated within [`ERROR_WINDOW`]; the last one stops the host.
pub const MAX_ERRORS: usize = 3;
/// The window in which error exits are counted.
pub const ERROR_WINDOW: Duration = Duration::from_secs(30 * 60);
/// Readiness probe interval.
const PROBE_INTERVAL: Duration = Duration::from_millis(25);

/// How to start the handler.
#[derive(Clone)]
pub struct WorkerSpec {
    /// The executable (absolute, or a command to look up on PATH).
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Its working directory.
    pub working_dir: PathBuf,
    /// The app root (`FUNCTIONS_APP_ROOT_PATH`).
    pub app_root: PathBuf,
    /// The environment: app settings and the host's own environment.
    pub env: AppSettings,
    /// How long to wait for the first answer to `GET /`.
    pub initialization_timeout: Duration,
}

impl std::fmt::Debug for WorkerSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerSpec")
            .field("program", &self.program)
            .field("args", &self.args)
            .field("working_dir", &self.working_dir)
            .finish_non_exhaustive()
    }
}

impl WorkerSpec {
    /// Resolves host.json `customHandler.description` against the app directory (§1):
    /// a relative `defaultExecutablePath` is used from the app root only if that file
    /// exists, else it is a command on PATH; `%VAR%` is expanded; the command line is
    /// `exe [arguments…] [defaultWorkerPath] [workerArguments…]`.
    pub fn resolve(
        config: &HostConfig,
        app_dir: &Path,
        env: &AppSettings,
    ) -> Result<Self, ConfigError> {
        let handler = &config.custom_handler;
        let exe = env.expand(&handler.default_executable_path);
        let in_app = app_dir.join(&exe);
        let program = if Path::new(&exe).is_absolute() || in_app.is_file() {
            in_app
        } else {
            PathBuf::from(exe)
        };
        let mut args: Vec<String> = handler.arguments.iter().map(|a| env.expand(a)).collect();
        if let Some(worker_path) = &handler.default_worker_path {
            args.push(env.expand(worker_path));
        }
        args.extend(handler.worker_arguments.iter().map(|a| env.expand(a)));
        let args = args.into_iter().filter(|a| !a.is_empty()).collect();
        let working_dir = match &handler.working_directory {
            Some(dir) => app_dir.join(env.expand(dir)),
            None => app_dir.to_path_buf(),
        };
        Ok(Self {
            program,
            args,
            working_dir,
            app_root: app_dir.to_path_buf(),
            env: env.clone(),
            initialization_timeout: handler.initialization_timeout,
        })
    }
}

/// The handler could not be run.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The executable could not be started.
    #[error("could not start the handler {program}")]
    Spawn {
        /// What was started.
        program: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// No loopback port could be reserved.
    #[error("could not reserve a loopback port for the handler")]
    Port(#[source] std::io::Error),
    /// The handler failed too often; the host stops, as the real one does.
    #[error("the handler failed {count} times within 30 minutes (last: {last}); stopping the host")]
    GaveUp {
        /// Error exits counted.
        count: usize,
        /// The last failure.
        last: String,
    },
    /// The host is stopping or stopped; no handler will answer.
    #[error("the handler is not running (host stopped)")]
    Stopped,
}

/// Where a ready handler listens, and which process (generation) that is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// Loopback port.
    pub port: u16,
    /// 1 for the first process, +1 per restart.
    pub generation: u64,
    /// The handler's process id (for a bench reading its memory from `/proc`).
    pub pid: Option<u32>,
}

/// The supervisor's view of the handler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkerState {
    /// Starting or restarting: invocations wait.
    Starting,
    /// Answered `GET /`. After an exit code 0 the endpoint stays (and refuses
    /// connections), because the host does not restart such a process.
    Ready(Endpoint),
    /// Stopped for good.
    Stopped,
}

/// A cheap handle to the supervised handler.
#[derive(Clone, Debug)]
pub struct Worker {
    state: Arc<watch::Sender<WorkerState>>,
    control: mpsc::UnboundedSender<u64>,
}

impl Worker {
    /// Starts the supervisor: it keeps the handler running until `shutdown` turns true.
    pub fn spawn(
        spec: WorkerSpec,
        shutdown: watch::Receiver<bool>,
    ) -> (Self, JoinHandle<Result<(), WorkerError>>) {
        let state = Arc::new(watch::Sender::new(WorkerState::Starting));
        let state_tx = state.clone();
        let (control, control_rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let result = Supervisor {
                spec,
                state: state_tx,
                control: control_rx,
                shutdown,
                errors: VecDeque::new(),
                generation: 0,
            }
            .run()
            .await;
            if let Err(e) = &result {
                tracing::error!(error = %e, "handler supervision ended");
            }
            result
        });
        (Self { state, control }, task)
    }

    /// Waits until the handler is ready and returns where it listens.
    pub async fn endpoint(&self) -> Result<Endpoint, WorkerError> {
        let mut state = self.state.subscribe();
        loop {
            match *state.borrow_and_update() {
                WorkerState::Ready(endpoint) => return Ok(endpoint),
                WorkerState::Stopped => return Err(WorkerError::Stopped),
                WorkerState::Starting => {}
            }
            state.changed().await.map_err(|_| WorkerError::Stopped)?;
        }
    }

    /// The current state.
    pub fn state(&self) -> WorkerState {
        *self.state.borrow()
    }

    /// Asks for the process of `generation` to be killed and replaced (after a
    /// functionTimeout). Requests for an older process are ignored.
    pub fn restart(&self, generation: u64) {
        // Invocations dispatched from now on wait for the new process instead of
        // reaching the one being killed.
        self.state.send_if_modified(|state| match state {
            WorkerState::Ready(e) if e.generation == generation => {
                *state = WorkerState::Starting;
                true
            }
            _ => false,
        });
        let _ = self.control.send(generation);
    }
}

struct Supervisor {
    spec: WorkerSpec,
    state: Arc<watch::Sender<WorkerState>>,
    control: mpsc::UnboundedReceiver<u64>,
    shutdown: watch::Receiver<bool>,
    errors: VecDeque<Instant>,
    generation: u64,
}

enum Init {
    Ready,
    TimedOut,
    Exited(std::io::Result<ExitStatus>),
    Shutdown,
}

enum Event {
    Exited(std::io::Result<ExitStatus>),
    RestartRequested,
    Shutdown,
}

impl Supervisor {
    async fn run(mut self) -> Result<(), WorkerError> {
        let result = self.supervise().await;
        self.state.send_replace(WorkerState::Stopped);
        result
    }

    async fn supervise(&mut self) -> Result<(), WorkerError> {
        let probe = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| WorkerError::Port(std::io::Error::other(e)))?;
        loop {
            if *self.shutdown.borrow() {
                return Ok(());
            }
            self.generation += 1;
            self.state.send_replace(WorkerState::Starting);
            let port = free_port().map_err(WorkerError::Port)?;
            let mut child = self.start(port)?;
            let endpoint = Endpoint {
                port,
                generation: self.generation,
                pid: child.id(),
            };

            // Readiness: GET / every 25 ms until any HTTP answer or the timeout.
            let init_timeout = self.spec.initialization_timeout;
            let init = tokio::select! {
                ready = wait_ready(&probe, port, init_timeout) => {
                    if ready { Init::Ready } else { Init::TimedOut }
                }
                status = child.wait() => Init::Exited(status),
                _ = self.shutdown.changed() => Init::Shutdown,
            };
            let event = match init {
                Init::Ready => {
                    tracing::info!(port, generation = self.generation, "handler is ready");
                    self.state.send_replace(WorkerState::Ready(endpoint));
                    self.wait_running(&mut child).await
                }
                Init::TimedOut => {
                    tracing::error!(
                        timeout = ?init_timeout,
                        "handler did not answer GET / within initializationTimeout"
                    );
                    kill(&mut child).await;
                    self.count_error("initialization timed out".to_owned())?;
                    continue;
                }
                Init::Exited(status) => Event::Exited(status),
                Init::Shutdown => Event::Shutdown,
            };

            match event {
                Event::Shutdown => {
                    kill(&mut child).await;
                    return Ok(());
                }
                Event::RestartRequested => {
                    tracing::warn!(
                        generation = self.generation,
                        "restarting the handler (an invocation exceeded functionTimeout)"
                    );
                    kill(&mut child).await;
                }
                Event::Exited(status) => {
                    let code = status.as_ref().ok().and_then(ExitStatus::code);
                    match code {
                        Some(0) => {
                            tracing::warn!(
                                "handler exited with code 0; the host does not restart it, so invocations will fail"
                            );
                            if !self.dormant().await {
                                return Ok(());
                            }
                        }
                        Some(EXIT_CODE_RESTART) => {
                            tracing::info!("handler exited with code 200 (restart requested)");
                        }
                        _ => {
                            let what = match status {
                                Ok(s) => format!("handler exited: {s}"),
                                Err(e) => format!("handler wait failed: {e}"),
                            };
                            tracing::error!("{what}");
                            self.count_error(what)?;
                        }
                    }
                }
            }
        }
    }

    /// Waits for the running process to exit, a restart request for it, or shutdown.
    async fn wait_running(&mut self, child: &mut Child) -> Event {
        loop {
            tokio::select! {
                status = child.wait() => return Event::Exited(status),
                request = self.control.recv() => match request {
                    Some(g) if g == self.generation => return Event::RestartRequested,
                    Some(_) => {}
                    None => return Event::Shutdown,
                },
                _ = self.shutdown.changed() => return Event::Shutdown,
            }
        }
    }

    /// After a clean exit: nothing runs until a restart request. False on shutdown.
    async fn dormant(&mut self) -> bool {
        loop {
            tokio::select! {
                request = self.control.recv() => match request {
                    Some(g) if g == self.generation => return true,
                    Some(_) => {}
                    None => return false,
                },
                _ = self.shutdown.changed() => return false,
            }
        }
    }

    fn count_error(&mut self, what: String) -> Result<(), WorkerError> {
        let now = Instant::now();
        self.errors.push_back(now);
        while self
            .errors
            .front()
            .is_some_and(|t| now.duration_since(*t) > ERROR_WINDOW)
        {
            self.errors.pop_front();
        }
        if self.errors.len() >= MAX_ERRORS {
            return Err(WorkerError::GaveUp {
                count: self.errors.len(),
                last: what,
            });
        }
        Ok(())
    }

    fn start(&self, port: u16) -> Result<Child, WorkerError> {
        let spec = &self.spec;
        let worker_id = uuid::Uuid::new_v4().to_string();
        let port_text = port.to_string();
        let mut command = Command::new(&spec.program);
        command
            .args(&spec.args)
            .current_dir(&spec.working_dir)
            .env_clear()
            .envs(spec.env.iter())
            .env("FUNCTIONS_CUSTOMHANDLER_PORT", &port_text)
            .env("FUNCTIONS_HTTPWORKER_PORT", &port_text)
            .env("FUNCTIONS_CUSTOMHANDLER_WORKER_ID", &worker_id)
            .env("FUNCTIONS_HTTPWORKER_ID", &worker_id)
            .env("FUNCTIONS_APP_ROOT_PATH", &spec.app_root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(|source| WorkerError::Spawn {
            program: spec.program.clone(),
            source,
        })?;
        tracing::info!(
            program = %spec.program.display(),
            port,
            generation = self.generation,
            pid = child.id(),
            "started the handler"
        );
        if let Some(out) = child.stdout.take() {
            tokio::spawn(log_lines(out, Stream::Stdout));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(log_lines(err, Stream::Stderr));
        }
        Ok(child)
    }
}

async fn kill(child: &mut Child) {
    let _ = child.start_kill();
    let _ = child.wait().await;
}

fn free_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    Ok(listener.local_addr()?.port())
}

async fn wait_ready(client: &reqwest::Client, port: u16, timeout: Duration) -> bool {
    let url = format!("http://127.0.0.1:{port}/");
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if client.get(&url).send().await.is_ok() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(PROBE_INTERVAL).await;
    }
}

#[derive(Clone, Copy)]
enum Stream {
    Stdout,
    Stderr,
}

/// stdout lines at Information; stderr at Error, or Warning when the line says "warn"
/// (`UseStdErrorStreamForErrorsOnly`).
async fn log_lines(stream: impl AsyncRead + Unpin, which: Stream) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        match which {
            Stream::Stdout => tracing::info!(target: "func_host::handler", "{line}"),
            Stream::Stderr if line.to_ascii_lowercase().contains("warn") => {
                tracing::warn!(target: "func_host::handler", "{line}");
            }
            Stream::Stderr => tracing::error!(target: "func_host::handler", "{line}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(description: &serde_json::Value) -> HostConfig {
        HostConfig::from_json(
            json!({"customHandler": {"description": description}})
                .as_object()
                .unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn a_relative_executable_that_is_not_in_the_app_is_a_path_command() {
        let dir = std::env::temp_dir();
        let c = config(
            &json!({"defaultExecutablePath": "definitely-not-here-xyz", "arguments": ["--flag", "%UNSET_THING%"]}),
        );
        let spec = WorkerSpec::resolve(&c, &dir, &AppSettings::default()).unwrap();
        assert_eq!(spec.program, PathBuf::from("definitely-not-here-xyz"));
        assert_eq!(spec.args, vec!["--flag".to_owned()]);
        assert_eq!(spec.working_dir, dir);
    }

    #[test]
    fn command_line_order_and_working_directory_follow_the_host() {
        let dir = std::env::temp_dir();
        let env = AppSettings::from_pairs([("MODE", "fast")]);
        let c = config(&json!({
            "defaultExecutablePath": "node", "arguments": ["--a"], "defaultWorkerPath": "w.js",
            "workerArguments": ["--mode=%MODE%"], "workingDirectory": "sub"}));
        let spec = WorkerSpec::resolve(&c, &dir, &env).unwrap();
        assert_eq!(spec.args, vec!["--a", "w.js", "--mode=fast"]);
        assert_eq!(spec.working_dir, dir.join("sub"));
    }
}
