//! Invocation overhead of func-host: invocations per second for a trivial handler behind a
//! Service Bus queue on azure-sim, at maxConcurrentCalls 1 and 16, next to the same
//! handler called directly over HTTP.
//!
//! `cargo bench -p func-host --bench invocations [-- MESSAGES]`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use azure_messaging_servicebus::service_bus::QueueClient;
use azure_sim::{
    Scenario, Sim,
    scenario::{EntitySpec, Replication, demo},
};
use func_host::{HostOptions, StageOptions, stage_app};
use serde_json::json;

fn main() {
    let messages: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1000);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        for concurrency in [1, 16] {
            let rate = through_service_bus(messages, concurrency).await;
            println!("service bus queue -> func-host -> handler, maxConcurrentCalls {concurrency:>2}: {messages} invocations, {rate:.0} invocations/s");
        }
        let direct = direct_http(messages, 16).await;
        println!("handler called directly over HTTP, 16 at a time:            {messages} requests,    {direct:.0} requests/s");
    });
}

fn stage(root: &Path, host_extra: &serde_json::Value) -> PathBuf {
    let src = root.join("src");
    std::fs::create_dir_all(src.join("functions/Bench")).unwrap();
    let mut host = json!({"version": "2.0", "customHandler": {"description": {"defaultExecutablePath": "handler"}},
                          "logging": {}, "extensions": {}});
    host["extensions"] = host_extra.clone();
    std::fs::write(src.join("host.json"), host.to_string()).unwrap();
    std::fs::write(
        src.join("functions/Bench/function.json"),
        json!({"bindings": [{"type": "serviceBusTrigger", "direction": "in", "name": "msg", "queueName": "bench", "connection": "Sb"}]}).to_string(),
    )
    .unwrap();
    let out = root.join("app");
    stage_app(&StageOptions {
        source_root: src,
        handler_binary: PathBuf::from(env!("CARGO_BIN_EXE_func-host-test-handler")),
        out_dir: out.clone(),
        local_settings: None,
    })
    .unwrap();
    out
}

fn recorded(app: &Path) -> usize {
    std::fs::read_to_string(app.join("requests.jsonl")).map_or(0, |t| t.lines().count())
}

async fn through_service_bus(messages: usize, concurrency: usize) -> f64 {
    let mut scenario = Scenario::demo().with_replication(Replication::none());
    scenario.service_bus_namespaces[0].queues.push(EntitySpec {
        name: "bench".to_owned(),
        lock_duration: "PT1M".to_owned(),
        max_delivery_count: 10,
        duplicate_detection_window: None,
    });
    let sim = Sim::start(scenario).await.unwrap();
    let http = azure_transport::Transport::simulated(&sim.url())
        .unwrap()
        .for_azure_core_legacy();
    let client = Arc::new(
        QueueClient::new(
            http,
            demo::SERVICE_BUS_NAMESPACE,
            "bench",
            demo::SAS_POLICY,
            demo::SAS_KEY,
        )
        .unwrap(),
    );
    let body = r#"{"requestId":"5e0c6a2e-64b8-4a4b-9f1e-3f2d8e1b9c10","step":"IssueCredentials"}"#;
    let mut sends = tokio::task::JoinSet::new();
    for chunk in 0..16 {
        let client = client.clone();
        let count = messages / 16 + usize::from(chunk < messages % 16);
        sends.spawn(async move {
            for _ in 0..count {
                client.send_message(body, None).await.unwrap();
            }
        });
    }
    while sends.join_next().await.is_some() {}

    let root = tempfile::tempdir().unwrap();
    let app = stage(
        root.path(),
        &json!({"serviceBus": {"maxConcurrentCalls": concurrency}}),
    );
    let connection = format!(
        "Endpoint=sb://{}.servicebus.windows.net/;SharedAccessKeyName={};SharedAccessKey={}",
        demo::SERVICE_BUS_NAMESPACE,
        demo::SAS_POLICY,
        demo::SAS_KEY
    );
    let mut options = HostOptions::new(&app);
    options.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    options.azure_sim = Some(sim.url());
    options.settings = vec![("Sb".to_owned(), connection)];
    let host = func_host::start(options).await.unwrap();
    host.worker().endpoint().await.unwrap();
    let started = Instant::now();
    while recorded(&app) < messages {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    host.shutdown().await.unwrap();
    #[allow(clippy::cast_precision_loss)]
    let rate = messages as f64 / elapsed.as_secs_f64();
    rate
}

async fn direct_http(requests: usize, concurrency: usize) -> f64 {
    // The same handler, started by the host (so it has its environment), called directly.
    let sim = Sim::start(Scenario::demo().with_replication(Replication::none()))
        .await
        .unwrap();
    let root = tempfile::tempdir().unwrap();
    let app = root.path().join("app");
    let src = root.path().join("src");
    std::fs::create_dir_all(src.join("functions/Ping")).unwrap();
    std::fs::write(
        src.join("host.json"),
        json!({"customHandler": {"description": {"defaultExecutablePath": "handler"}}}).to_string(),
    )
    .unwrap();
    std::fs::write(
        src.join("functions/Ping/function.json"),
        json!({"bindings": [{"type": "httpTrigger", "direction": "in", "name": "req"}, {"type": "http", "direction": "out", "name": "res"}]}).to_string(),
    )
    .unwrap();
    stage_app(&StageOptions {
        source_root: src,
        handler_binary: PathBuf::from(env!("CARGO_BIN_EXE_func-host-test-handler")),
        out_dir: app.clone(),
        local_settings: None,
    })
    .unwrap();
    let mut options = HostOptions::new(&app);
    options.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    options.azure_sim = Some(sim.url());
    let host = func_host::start(options).await.unwrap();
    let port = host.worker().endpoint().await.unwrap().port;
    let client = reqwest::Client::new();
    let body =
        r#"{"Data":{"msg":"\"{\\\"requestId\\\":\\\"x\\\"}\""},"Metadata":{"DeliveryCount":"1"}}"#;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..concurrency {
        let client = client.clone();
        let count = requests / concurrency + usize::from(worker < requests % concurrency);
        tasks.spawn(async move {
            for _ in 0..count {
                let r = client
                    .post(format!("http://127.0.0.1:{port}/Ping"))
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                r.bytes().await.unwrap();
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let elapsed = started.elapsed();
    host.shutdown().await.unwrap();
    #[allow(clippy::cast_precision_loss)]
    let rate = requests as f64 / elapsed.as_secs_f64();
    rate
}
