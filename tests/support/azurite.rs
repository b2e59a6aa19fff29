//! Azurite, the real Table Storage emulator, for tests and benches.
//!
//! The first use installs the pinned emulator (`npm ci --prefix tools/azurite`, under a file
//! lock so parallel test binaries do not race), then starts `tools/azurite/table.js` (the
//! `azurite-table` entry point, run until its stdin closes) on a free loopback port, in memory.
//! Tests in one binary share one emulator through [`shared`]; it exits when the binary does
//! because the binary holds its stdin. An owned [`Azurite`] is also killed on drop.
//!
//! Missing Node.js or npm is a test failure with a message saying so, never a skip.

#![allow(dead_code, clippy::expect_used, clippy::unwrap_used)]

use std::{
    fs::File,
    net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, ChildStdin, Command, Stdio},
    sync::OnceLock,
    thread::sleep,
    time::{Duration, Instant},
};

/// The emulator's published account key (not a secret).
pub const DEV_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
pub const DEV_ACCOUNT: &str = "devstoreaccount1";

const STARTUP: Duration = Duration::from_secs(60);

/// A running emulator.
#[derive(Debug)]
pub struct Azurite {
    child: Child,
    /// Held open: the emulator exits when it closes.
    _stdin: ChildStdin,
    port: u16,
    log: PathBuf,
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn scratch_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
}

fn require_tool(tool: &str) {
    match Command::new(tool).arg("--version").output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "the table store tests run Azurite, which needs Node.js and npm: `{tool} --version` \
             failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => panic!(
            "the table store tests run Azurite, which needs Node.js (>= 18) and npm on PATH: \
             cannot run `{tool}`: {e}"
        ),
    }
}

/// Installs the pinned Azurite into `tools/azurite/node_modules` unless it is there.
fn ensure_installed(root: &Path) -> PathBuf {
    let launcher = root.join("tools/azurite/table.js");
    let main = root.join("tools/azurite/node_modules/azurite/dist/src/table/main.js");
    require_tool("node");
    if main.exists() {
        return launcher;
    }
    require_tool("npm");
    std::fs::create_dir_all(scratch_dir()).expect("create the target tmp dir");
    let lock = File::create(scratch_dir().join("azurite-install.lock")).expect("create lock");
    lock.lock().expect("lock the Azurite install");
    if !main.exists() {
        let out = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--prefix"])
            .arg(root.join("tools/azurite"))
            .output()
            .unwrap_or_else(|e| panic!("cannot run npm to install Azurite: {e}"));
        assert!(
            out.status.success() && main.exists(),
            "`npm ci --prefix tools/azurite` failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    launcher
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("find a free loopback port")
}

fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

impl Azurite {
    /// Installs (once) and starts an emulator on a free loopback port.
    pub fn start() -> Self {
        let root = repo_root();
        let launcher = ensure_installed(&root);
        // A port found free can be taken before the emulator binds it: try a few.
        let mut last_log = String::new();
        for _ in 0..5 {
            match Self::spawn(&launcher) {
                Ok(azurite) => return azurite,
                Err(log) if log.contains("EADDRINUSE") => last_log = log,
                Err(log) => panic!("Azurite did not start:\n{log}"),
            }
        }
        panic!("Azurite found no free port:\n{last_log}");
    }

    fn spawn(launcher: &Path) -> Result<Self, String> {
        let port = free_port();
        let dir = scratch_dir().join(format!("azurite-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create Azurite's working directory");
        let log = dir.join("azurite.log");
        let out = File::create(&log).expect("create the Azurite log");
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
            // In-memory, but keep anything it might write out of the repository.
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(out.try_clone().expect("clone the log handle"))
            .stderr(out)
            .spawn()
            .map_err(|e| format!("cannot start node: {e}"))?;
        let stdin = child.stdin.take().expect("piped stdin");
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let deadline = Instant::now() + STARTUP;
        loop {
            if let Some(status) = child.try_wait().expect("poll Azurite") {
                return Err(format!("exited with {status}:\n{}", read_log(&log)));
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
                return Err(format!(
                    "not listening on {addr} after {STARTUP:?}:\n{}",
                    read_log(&log)
                ));
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

/// The emulator all tests of this binary share.
pub fn shared() -> &'static Azurite {
    static SHARED: OnceLock<Azurite> = OnceLock::new();
    SHARED.get_or_init(Azurite::start)
}
