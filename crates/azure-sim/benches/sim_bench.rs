//! Throughput and footprint of the simulator binary: token requests, Graph upserts and
//! Resource Manager reads (authorization evaluated on each) per second it sustains on this
//! machine, and its resident memory idle and after load.
//!
//! `cargo bench -p azure-sim --bench sim_bench` (optionally `-- REQUESTS CONCURRENCY`).
//! Figures only: nothing here asserts a speed.

// A benchmark harness, not product code: failures abort with a message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use serde_json::{Value, json};

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

const CONTOSO: &str = "11111111-1111-4111-8111-111111111111";

async fn run_load<F, Fut>(requests: usize, concurrency: usize, make: F) -> (Duration, usize)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = u16> + Send,
{
    let make = Arc::new(make);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let ok = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (make, next, ok) = (make.clone(), next.clone(), ok.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if i >= requests {
                        break;
                    }
                    let status = make(i).await;
                    if (200..300).contains(&status) {
                        ok.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    (
        start.elapsed(),
        ok.load(std::sync::atomic::Ordering::SeqCst),
    )
}

/// The demo operator's managed identity token for `resource`, from the App Service endpoint.
async fn operator_token(http: &reqwest::Client, base: &str, resource: &str) -> String {
    let mi: Value = http
        .get(format!("{base}/_identity/msi/token?api-version=2019-08-01&resource={resource}&client_id=3c3c3c3c-3333-4333-8333-333333333333"))
        .header("x-identity-header", "demo-identity-header")
        .send().await.unwrap().json().await.unwrap();
    mi["access_token"].as_str().unwrap().to_owned()
}

/// Moves the simulated clock on by `seconds`.
async fn advance_clock(http: &reqwest::Client, base: &str, seconds: u32) {
    http.post(format!("{base}/_sim/clock"))
        .json(&json!({"advanceSeconds": seconds}))
        .send()
        .await
        .unwrap();
}

/// One line of figures for a load run.
fn report(label: &str, requests: usize, concurrency: usize, elapsed: Duration, ok: usize) {
    println!(
        "{label:<17}{requests} in {:.2} s, {ok} ok, {:.0} req/s (concurrency {concurrency})",
        elapsed.as_secs_f64(),
        requests as f64 / elapsed.as_secs_f64()
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let requests: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(5000);
    let concurrency: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(16);

    // The demo, with ARM's per-principal read budget lifted so the load measures serving.
    let mut scenario = azure_sim::Scenario::demo();
    scenario.arm.throttling.reads = u32::MAX;
    let scenario_file =
        std::env::temp_dir().join(format!("azure-sim-bench-{}.json", std::process::id()));
    std::fs::write(&scenario_file, serde_json::to_string(&scenario).unwrap()).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_azure-sim"))
        .args(["--listen", "127.0.0.1:0", "--scenario"])
        .arg(&scenario_file)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start azure-sim");
    let pid = child.id();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let base = first
        .trim()
        .strip_prefix("azure-sim listening on ")
        .expect("contract line")
        .to_owned();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle = rss_kib(pid);

    let http = reqwest::Client::new();
    let graph_token = operator_token(&http, &base, "https://graph.microsoft.com").await;
    let graph = format!("{base}/graph.microsoft.com/v1.0");
    let app: Value = http
        .patch(format!("{graph}/applications(uniqueName='bench-app')"))
        .bearer_auth(&graph_token)
        .header("prefer", "create-if-missing")
        .json(&json!({"displayName": "bench-app", "signInAudience": "AzureADMultipleOrgs"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (id, app_id) = (
        app["id"].as_str().unwrap().to_owned(),
        app["appId"].as_str().unwrap().to_owned(),
    );
    let pw: Value = http
        .post(format!("{graph}/applications/{id}/addPassword"))
        .bearer_auth(&graph_token)
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = pw["secretText"].as_str().unwrap().to_owned();
    // The demo scenario's replication windows: skip them on the simulated clock.
    advance_clock(&http, &base, 10).await;
    http.post(format!("{graph}/servicePrincipals"))
        .bearer_auth(&graph_token)
        .json(&json!({"appId": app_id}))
        .send()
        .await
        .unwrap();
    advance_clock(&http, &base, 10).await;

    let token_url = format!("{base}/login.microsoftonline.com/{CONTOSO}/oauth2/v2.0/token");
    let (form_client, form_url) = (http.clone(), token_url.clone());
    let (app_id2, secret2) = (app_id.clone(), secret.clone());
    let (elapsed, ok) = run_load(requests, concurrency, move |_| {
        let (c, u, a, s) = (
            form_client.clone(),
            form_url.clone(),
            app_id2.clone(),
            secret2.clone(),
        );
        async move {
            c.post(u)
                .form(&[
                    ("client_id", a.as_str()),
                    ("client_secret", s.as_str()),
                    ("grant_type", "client_credentials"),
                    ("scope", "https://management.azure.com/.default"),
                ])
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }
    })
    .await;
    report("token requests:", requests, concurrency, elapsed, ok);

    // A fresh operator token: the earlier one may be close to expiry after the clock moved.
    let graph_token = operator_token(&http, &base, "https://graph.microsoft.com").await;
    let (c2, g2) = (http.clone(), graph.clone());
    let (elapsed, ok) = run_load(requests, concurrency, move |i| {
        let (c, g, t) = (c2.clone(), g2.clone(), graph_token.clone());
        async move {
            let name = format!("bench-upsert-{}", i % 100);
            c.patch(format!("{g}/applications(uniqueName='{name}')"))
                .bearer_auth(t)
                .header("prefer", "create-if-missing")
                .json(&json!({"displayName": name, "signInAudience": "AzureADMultipleOrgs"}))
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }
    })
    .await;
    report("graph upserts:", requests, concurrency, elapsed, ok);
    let arm_token = operator_token(&http, &base, "https://management.azure.com").await;
    let version = format!(
        "{base}/management.azure.com{}?api-version=2024-03-03",
        azure_sim::scenario::demo::IMAGE_VERSION_ID
    );
    let c3 = http.clone();
    let (elapsed, ok) = run_load(requests, concurrency, move |_| {
        let (c, u, t) = (c3.clone(), version.clone(), arm_token.clone());
        async move {
            c.get(u)
                .bearer_auth(t)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }
    })
    .await;
    report("arm reads:", requests, concurrency, elapsed, ok);
    let loaded = rss_kib(pid);
    println!(
        "resident memory: idle {:.1} MiB, after {} requests {:.1} MiB (every request and token is kept for inspection)",
        idle as f64 / 1024.0,
        requests * 3 + 10,
        loaded as f64 / 1024.0
    );
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_file(&scenario_file);
}
