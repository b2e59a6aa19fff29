//! Handler cold start and idle memory, as the Functions host experiences them.
//!
//! Starts the `handler` executable 10 times the way the host does (a free loopback port in
//! `FUNCTIONS_CUSTOMHANDLER_PORT`), polls `GET /` (every 1 ms; the host polls every 25 ms), and reports the
//! time from spawn to the first answer, then the resident set size after a second of idling.
//!
//! Run: `cargo bench --bench cold_start` (builds the handler with the bench profile).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    process::{Command, Stdio},
    thread::sleep,
    time::{Duration, Instant},
};

const RUNS: usize = 10;
/// Finer than the host's 25 ms so the figure is the handler's, not the polling's.
const POLL: Duration = Duration::from_millis(1);
const CATALOG: &str = r#"{"ubuntu-hardened":"/subscriptions/1a1a1a1a-1111-4111-8111-111111111111/resourceGroups/rg-images/providers/Microsoft.Compute/galleries/contosoGallery/images/ubuntu-hardened/versions/1.0.0"}"#;

fn answers(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    let mut buf = [0u8; 12];
    stream.read_exact(&mut buf).is_ok() && buf.starts_with(b"HTTP/1.1 ")
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn summary(name: &str, unit: &str, mut values: Vec<f64>) {
    values.sort_by(f64::total_cmp);
    let median = f64::midpoint(values[RUNS / 2 - 1], values[RUNS / 2]);
    println!(
        "{name}: min {:.1} {unit}, median {median:.1} {unit}, max {:.1} {unit} ({RUNS} runs)",
        values[0],
        values[RUNS - 1]
    );
}

fn main() {
    let mut starts = Vec::with_capacity(RUNS);
    let mut rss = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let started = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_handler"))
            .env_clear()
            .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
            .env("IMAGESHARE_IMAGE_CATALOG", CATALOG)
            // A complete deployment's settings; nothing is called at start-up.
            .env(
                "IMAGESHARE_PUBLIC_BASE_URL",
                "https://func-imageshare.azurewebsites.net",
            )
            .env(
                "IMAGESHARE_OWNER_TENANT_ID",
                "11111111-1111-4111-8111-111111111111",
            )
            .env(
                "IMAGESHARE_IDENTITY_CLIENT_ID",
                "3c3c3c3c-3333-4333-8333-333333333333",
            )
            .env(
                "ServiceBusConnection__fullyQualifiedNamespace",
                "sb-imageshare.servicebus.windows.net",
            )
            .env("AzureWebJobsStorage__accountName", "stimageshare")
            .env(
                "IMAGESHARE_MAIL_SENDER",
                "imageshare@contoso.onmicrosoft.com",
            )
            .env("IDENTITY_ENDPOINT", "http://127.0.0.1:9/msi/token")
            .env("IDENTITY_HEADER", "unused")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        while !answers(port) {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "handler never answered"
            );
            sleep(POLL);
        }
        starts.push(started.elapsed().as_secs_f64() * 1000.0);
        sleep(Duration::from_secs(1));
        rss.push(rss_kib(child.id()) as f64 / 1024.0);
        child.kill().unwrap();
        child.wait().unwrap();
    }
    summary(
        "cold start (spawn to first GET / answered, 1 ms polling)",
        "ms",
        starts,
    );
    summary("idle RSS after 1 s", "MiB", rss);
}
