//! The handler process: environment, functionTimeout restarts, crash loops, timers.

mod common;

use common::{App, body_of, eventually, host_json, start};
use func_host::{HostError, worker::WorkerError};
use serde_json::json;

fn http_function(route: &str) -> serde_json::Value {
    json!({"bindings": [
        {"type": "httpTrigger", "direction": "in", "name": "req", "methods": ["get"], "route": route},
        {"type": "http", "direction": "out", "name": "res"}]})
}

#[tokio::test]
async fn a_handler_that_hangs_past_function_timeout_is_restarted_and_the_invocation_fails() {
    let app = App::new(
        &host_json(json!({"functionTimeout": "00:00:02"})),
        &[
            ("Slow", http_function("slow")),
            ("Fine", http_function("fine")),
        ],
        &json!({"functions": {"Slow": {"kind": "hang", "after_restart": {"kind": "echo"}}}}),
    );
    let host = start(&app, &[], None).await;
    let base = format!("http://{}/api", host.addr());
    let client = reqwest::Client::new();
    let first_generation = host.worker().endpoint().await.unwrap().generation;

    let status = client
        .get(format!("{base}/slow"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 500, "the timed-out invocation fails");
    let restarted = host.worker().endpoint().await.unwrap();
    assert!(
        restarted.generation > first_generation,
        "a new handler process serves"
    );
    eventually("the second handler start", || {
        (app.starts() >= 2).then_some(())
    })
    .await;

    let status = client
        .get(format!("{base}/slow"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200, "the restarted process answers");
    let slow = app.requests_to("/Slow");
    assert_eq!(slow.len(), 2);
    assert_eq!(slow[0]["start"], 1);
    assert_eq!(slow[1]["start"], 2);
    host.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_handler_that_keeps_crashing_is_restarted_then_the_host_gives_up() {
    let app = App::new(
        &host_json(json!({})),
        &[("Fine", http_function("fine"))],
        &json!({"startup": {"exit_code": 3}}),
    );
    let host = start(&app, &[], None).await;
    let result = host.wait().await;
    assert!(
        matches!(
            result,
            Err(HostError::Worker(WorkerError::GaveUp { count: 3, .. }))
        ),
        "{result:?}"
    );
    assert_eq!(app.starts(), 3, "started, restarted twice, then given up");
}

#[tokio::test]
async fn a_crash_during_an_invocation_fails_it_and_the_handler_comes_back() {
    let app = App::new(
        &host_json(json!({})),
        &[("Boom", http_function("boom"))],
        &json!({"functions": {"Boom": {"kind": "crash", "exit_code": 7, "after_restart": {"kind": "echo"}}}}),
    );
    let host = start(&app, &[], None).await;
    let base = format!("http://{}/api", host.addr());
    let client = reqwest::Client::new();
    assert_eq!(
        client
            .get(format!("{base}/boom"))
            .send()
            .await
            .unwrap()
            .status(),
        500
    );
    eventually("the restart", || (app.starts() == 2).then_some(())).await;
    assert_eq!(
        client
            .get(format!("{base}/boom"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    host.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_handler_gets_the_custom_handler_environment_and_app_settings() {
    let app = App::new(
        &host_json(json!({})),
        &[("Env", http_function("env"))],
        &json!({}),
    );
    std::fs::write(
        app.dir.join("local.settings.json"),
        json!({"IsEncrypted": false, "Values": {"FROM_LOCAL_SETTINGS": "yes", "OVERRIDDEN": "local"}}).to_string(),
    )
    .unwrap();
    let host = start(&app, &[("OVERRIDDEN", "explicit")], None).await;
    let endpoint = host.worker().endpoint().await.unwrap();
    // The handler writes nothing about its env by itself; ask /proc for it.
    let pid = std::fs::read_to_string(app.dir.join("starts.log"))
        .unwrap()
        .trim()
        .to_owned();
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    let vars: std::collections::BTreeMap<String, String> = environ
        .split(|b| *b == 0)
        .filter_map(|kv| {
            std::str::from_utf8(kv)
                .ok()?
                .split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
        })
        .collect();
    assert_eq!(
        vars["FUNCTIONS_CUSTOMHANDLER_PORT"],
        endpoint.port.to_string()
    );
    assert_eq!(vars["FUNCTIONS_HTTPWORKER_PORT"], endpoint.port.to_string());
    assert_eq!(
        vars["FUNCTIONS_CUSTOMHANDLER_WORKER_ID"],
        vars["FUNCTIONS_HTTPWORKER_ID"]
    );
    assert_eq!(
        vars["FUNCTIONS_APP_ROOT_PATH"],
        app.dir.canonicalize().unwrap().to_string_lossy()
    );
    assert_eq!(vars["FROM_LOCAL_SETTINGS"], "yes");
    assert_eq!(vars["OVERRIDDEN"], "explicit");
    assert!(
        vars.contains_key("PATH"),
        "the host's own environment is inherited"
    );
    host.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_timer_fires_with_timer_info_and_run_on_startup() {
    let app = App::new(
        &host_json(json!({})),
        &[(
            "Reconcile",
            json!({"bindings": [{"type": "timerTrigger", "direction": "in", "name": "myTimer",
                                  "schedule": "*/1 * * * * *", "runOnStartup": true}]}),
        )],
        &json!({}),
    );
    let host = start(&app, &[], None).await;
    let fired = eventually("two timer invocations", || {
        let r = app.requests_to("/Reconcile");
        (r.len() >= 2).then_some(r)
    })
    .await;
    let first = body_of(&fired[0]);
    assert_eq!(fired[0]["method"], "POST");
    let timer = &first["Data"]["myTimer"];
    assert_eq!(timer["Schedule"], json!({"AdjustForDST": true}));
    assert_eq!(timer["IsPastDue"], false);
    assert_eq!(
        timer["ScheduleStatus"]["Last"], "0001-01-01T00:00:00",
        "the startup run has no previous run"
    );
    assert!(
        timer["ScheduleStatus"]["Next"]
            .as_str()
            .unwrap()
            .ends_with("+00:00")
    );
    assert_eq!(first["Metadata"]["sys"]["MethodName"], "Reconcile");
    let second = body_of(&fired[1]);
    assert_ne!(
        second["Data"]["myTimer"]["ScheduleStatus"]["Last"],
        "0001-01-01T00:00:00"
    );
    host.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_admin_api_runs_a_timer_function_at_once_and_answers_404_for_an_unknown_one() {
    let app = App::new(
        &host_json(json!({})),
        &[(
            "Reconcile",
            // Once a year: only the admin call can run it within the test.
            json!({"bindings": [{"type": "timerTrigger", "direction": "in", "name": "myTimer",
                                  "schedule": "0 0 0 1 1 *"}]}),
        )],
        &json!({}),
    );
    let host = start(&app, &[], None).await;
    let admin = format!("http://{}/admin/functions", host.addr());
    let client = reqwest::Client::new();
    let run = |name: &str| {
        client
            .post(format!("{admin}/{name}"))
            .json(&json!({"input": ""}))
            .send()
    };
    assert_eq!(run("reconcile").await.unwrap().status(), 202);
    assert_eq!(run("NoSuchFunction").await.unwrap().status(), 404);
    let fired = eventually("the timer's invocation", || {
        let r = app.requests_to("/Reconcile");
        (!r.is_empty()).then_some(r)
    })
    .await;
    let timer = &body_of(&fired[0])["Data"]["myTimer"];
    assert_eq!(timer["IsPastDue"], false);
    assert_eq!(timer["ScheduleStatus"]["Last"], "0001-01-01T00:00:00");
    host.shutdown().await.unwrap();
}
