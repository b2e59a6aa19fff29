//! Azurite, the real Table Storage emulator: for the local run's request store, and for the
//! table store's tests and benches (`tests/support/azurite.rs` wraps this).
//!
//! The first start installs the pinned emulator (`npm ci --prefix tools/azurite`, under a
//! file lock so parallel starts do not race), then runs `tools/azurite/table.js` (the
//! `azurite-table` entry point, run until its stdin closes) on a free loopback port, in
//! memory. The emulator exits when the owning process does, because that process holds its
//! stdin; an [`Azurite`] is also killed on drop.

use std::{
    fs::File,
    io,
    net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, ChildStdin, Command, ExitStatus, Stdio},
    thread::sleep,
    time::{Duration, Instant},
};

/// The emulator's published account key (documented by Microsoft; not a secret).
pub const DEV_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
/// The emulator's account.
pub const DEV_ACCOUNT: &str = "devstoreaccount1";

const STARTUP: Duration = Duration::from_secs(60);
const PORT_ATTEMPTS: usize = 5;

/// Why the emulator could not be installed or started.
#[derive(Debug, thiserror::Error)]
pub enum AzuriteError {
    /// Node.js or npm is missing or broken.
    #[error(
        "Azurite needs Node.js (>= 18) and npm on PATH: `{tool} --version` failed: {detail} \
         (or run the local stack with --memory)"
    )]
    MissingTool {
        /// `node` or `npm`.
        tool: &'static str,
        /// What happened.
        detail: String,
    },
    /// `npm ci` failed.
    #[error("`npm ci --prefix {dir}` failed ({status}):\n{output}")]
    Install {
        /// The tools directory.
        dir: String,
        /// Its exit status.
        status: ExitStatus,
        /// Its stdout and stderr.
        output: String,
    },
    /// A file or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The emulator exited or never listened.
    #[error("Azurite did not start: {reason}\n{log}")]
    Start {
        /// Why.
        reason: String,
        /// What it logged.
        log: String,
    },
}

fn io_error(what: impl Into<String>) -> impl FnOnce(io::Error) -> AzuriteError {
    let what = what.into();
    move |source| AzuriteError::Io { what, source }
}

/// A running emulator.
#[derive(Debug)]
pub struct Azurite {
    child: Child,
    /// Held open: the emulator exits when it closes.
    _stdin: ChildStdin,
    port: u16,
    log: PathBuf,
}

fn require_tool(tool: &'static str) -> Result<(), AzuriteError> {
    match Command::new(tool).arg("--version").output() {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(AzuriteError::MissingTool {
            tool,
            detail: format!("{}: {}", out.status, String::from_utf8_lossy(&out.stderr)),
        }),
        Err(e) => Err(AzuriteError::MissingTool {
            tool,
            detail: e.to_string(),
        }),
    }
}

/// Installs the pinned Azurite into `{tools}/node_modules` unless it is there; returns the
/// launcher script.
fn ensure_installed(tools: &Path, scratch: &Path) -> Result<PathBuf, AzuriteError> {
    let launcher = tools.join("table.js");
    let main = tools.join("node_modules/azurite/dist/src/table/main.js");
    require_tool("node")?;
    if main.exists() {
        return Ok(launcher);
    }
    require_tool("npm")?;
    std::fs::create_dir_all(scratch).map_err(io_error("creating the scratch directory"))?;
    let lock = File::create(scratch.join("azurite-install.lock"))
        .map_err(io_error("creating the install lock"))?;
    lock.lock().map_err(io_error("taking the install lock"))?;
    if !main.exists() {
        let out = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--prefix"])
            .arg(tools)
            .output()
            .map_err(io_error("running npm ci"))?;
        if !out.status.success() || !main.exists() {
            return Err(AzuriteError::Install {
                dir: tools.display().to_string(),
                status: out.status,
                output: format!(
                    "{}\n{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ),
            });
        }
    }
    Ok(launcher)
}

fn free_port() -> Result<u16, AzuriteError> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(io_error("finding a free loopback port"))
}

fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

impl Azurite {
    /// Installs (once) and starts an emulator on a free loopback port. `tools` is the
    /// repository's `tools/azurite`; `scratch` holds the install lock and the emulator's
    /// working directory and log. Blocks until it listens (at most a minute).
    pub fn start(tools: &Path, scratch: &Path) -> Result<Self, AzuriteError> {
        let launcher = ensure_installed(tools, scratch)?;
        // A port found free can be taken before the emulator binds it: try a few.
        let mut last = None;
        for _ in 0..PORT_ATTEMPTS {
            match Self::spawn(&launcher, scratch) {
                Err(AzuriteError::Start { log, reason }) if log.contains("EADDRINUSE") => {
                    last = Some(AzuriteError::Start { log, reason });
                }
                other => return other,
            }
        }
        Err(last.unwrap_or_else(|| AzuriteError::Start {
            reason: "no free port".to_owned(),
            log: String::new(),
        }))
    }

    fn spawn(launcher: &Path, scratch: &Path) -> Result<Self, AzuriteError> {
        let port = free_port()?;
        let dir = scratch.join(format!("azurite-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(io_error("creating Azurite's directory"))?;
        let log = dir.join("azurite.log");
        let out = File::create(&log).map_err(io_error("creating the Azurite log"))?;
        let err = out
            .try_clone()
            .map_err(io_error("cloning the log handle"))?;
        let mut child = Command::new("node")
            .arg(launcher)
            .args(["--tableHost", "127.0.0.1", "--tablePort"])
            .arg(port.to_string())
            .args([
                "--inMemoryPersistence",
                "--disableProductStyleUrl",
                "--skipApiVersionCheck",
                "--disableTelemetry",
                "--silent",
            ])
            // In memory, but anything it might write stays out of the repository.
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(io_error("starting node"))?;
        let Some(stdin) = child.stdin.take() else {
            let _ = child.kill();
            return Err(AzuriteError::Start {
                reason: "no stdin pipe".to_owned(),
                log: String::new(),
            });
        };
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let deadline = Instant::now() + STARTUP;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    return Err(AzuriteError::Start {
                        reason: format!("exited with {status}"),
                        log: read_log(&log),
                    });
                }
                Ok(None) => {}
                Err(e) => return Err(io_error("polling Azurite")(e)),
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(Self {
                    child,
                    _stdin: stdin,
                    port,
                    log,
                });
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return Err(AzuriteError::Start {
                    reason: format!("not listening on {addr} after {STARTUP:?}"),
                    log: read_log(&log),
                });
            }
            sleep(Duration::from_millis(50));
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The path-style table endpoint of the dev account.
    pub fn table_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/{DEV_ACCOUNT}", self.port)
    }

    /// A connection string for it, as `AzureWebJobsStorage` would hold.
    pub fn connection_string(&self) -> String {
        format!(
            "DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={DEV_KEY};TableEndpoint={};",
            self.table_endpoint()
        )
    }

    /// What it logged so far.
    pub fn log(&self) -> String {
        read_log(&self.log)
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
