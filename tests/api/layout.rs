//! The deploy layout (host.json, functions/*/function.json) and the handler's routes agree.

use std::{collections::BTreeMap, path::Path};

use imageshare::{
    functions::{Function, Trigger},
    invocation::BodyEncoding,
};
use serde_json::Value;

use crate::helpers::spawn_app;

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Every `functions/<Name>/function.json`, by name.
fn function_jsons() -> BTreeMap<String, Value> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("functions");
    std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("function.json").is_file())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                read_json(&p.join("function.json")),
            )
        })
        .collect()
}

/// Parses "hh:mm:ss" into seconds.
fn timespan(s: &str) -> u64 {
    s.split(':')
        .map(|p| p.split('.').next().unwrap().parse::<u64>().unwrap())
        .fold(0, |acc, p| acc * 60 + p)
}

#[test]
fn every_function_json_has_a_handler_function_and_every_handler_function_has_a_function_json() {
    let on_disk = function_jsons();
    let in_handler: Vec<&str> = Function::ALL.iter().map(|f| f.name()).collect();
    let mut disk_names: Vec<&str> = on_disk.keys().map(String::as_str).collect();
    let mut handler_names = in_handler.clone();
    disk_names.sort_unstable();
    handler_names.sort_unstable();
    assert_eq!(disk_names, handler_names);
}

#[test]
fn each_function_json_declares_what_the_handler_expects() {
    let on_disk = function_jsons();
    for function in Function::ALL {
        let json = &on_disk[function.name()];
        let bindings = json["bindings"].as_array().unwrap();
        assert!(
            json.get("retry").is_none(),
            "{}: retry policies are not for Service Bus",
            function.name()
        );
        match function.trigger() {
            Trigger::Http {
                methods,
                route,
                auth_level,
            } => {
                // Forwarding applies only to exactly one httpTrigger in and one http out.
                assert_eq!(bindings.len(), 2, "{}", function.name());
                let trigger = &bindings[0];
                assert_eq!(trigger["type"], "httpTrigger");
                assert_eq!(trigger["direction"], "in");
                assert_eq!(trigger["route"], route);
                assert_eq!(trigger["authLevel"], auth_level);
                let declared: Vec<&str> = trigger["methods"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|m| m.as_str().unwrap())
                    .collect();
                assert_eq!(declared, methods);
                assert_eq!(bindings[1]["type"], "http");
                assert_eq!(bindings[1]["direction"], "out");
            }
            Trigger::Queue {
                queue,
                binding,
                encoding,
            } => {
                assert_eq!(
                    bindings.len(),
                    1,
                    "{}: outputs go through the Service Bus client",
                    function.name()
                );
                let trigger = &bindings[0];
                assert_eq!(trigger["type"], "serviceBusTrigger");
                assert_eq!(trigger["queueName"], queue);
                assert_eq!(trigger["name"], binding);
                assert_eq!(trigger["connection"], "ServiceBusConnection");
                assert_eq!(trigger["autoCompleteMessages"], true);
                assert_eq!(trigger["cardinality"], "one");
                let binary = trigger["dataType"] == "binary";
                assert_eq!(
                    binary,
                    encoding == BodyEncoding::Binary,
                    "{}",
                    function.name()
                );
            }
            Trigger::Timer { schedule, binding } => {
                assert_eq!(bindings.len(), 1, "{}", function.name());
                let trigger = &bindings[0];
                assert_eq!(trigger["type"], "timerTrigger");
                assert_eq!(trigger["direction"], "in");
                assert_eq!(trigger["name"], binding);
                assert_eq!(trigger["schedule"], schedule);
                // Missed runs are caught up after a restart; runOnStartup would run it on
                // every scale-out instance start.
                assert_eq!(trigger["runOnStartup"], false);
                assert_eq!(trigger["useMonitor"], true);
            }
        }
    }
}

#[test]
fn host_json_runs_the_handler_with_forwarding_and_long_step_settings() {
    let host = read_json(&Path::new(env!("CARGO_MANIFEST_DIR")).join("host.json"));
    assert_eq!(host["version"], "2.0");
    assert_eq!(
        host["extensionBundle"]["id"],
        "Microsoft.Azure.Functions.ExtensionBundle"
    );
    assert_eq!(host["extensionBundle"]["version"], "[4.*, 5.0.0)");
    assert_eq!(
        host["customHandler"]["description"]["defaultExecutablePath"],
        "handler"
    );
    assert_eq!(host["customHandler"]["enableForwardingHttpRequest"], true);
    assert_eq!(host["extensions"]["http"]["routePrefix"], "api");
    let timeout = timespan(host["functionTimeout"].as_str().unwrap());
    let renewal = timespan(
        host["extensions"]["serviceBus"]["maxAutoLockRenewalDuration"]
            .as_str()
            .unwrap(),
    );
    assert!(
        timeout <= 600,
        "Consumption caps functionTimeout at 10 minutes"
    );
    assert!(
        renewal >= timeout,
        "locks must be renewable for as long as a function may run"
    );
    assert_eq!(
        host["extensions"]["serviceBus"]["autoCompleteMessages"],
        true
    );
    assert!(host.get("retry").is_none());
}

#[tokio::test]
async fn every_function_route_is_served_by_the_handler() {
    let app = spawn_app().await;
    for function in Function::ALL {
        let (method, path) = match function.trigger() {
            Trigger::Http { methods, route, .. } => (
                methods[0].to_uppercase(),
                format!(
                    "/api/{}",
                    route.replace("{id}", "0f8fad5b-d9cb-469f-a165-70867728950e")
                ),
            ),
            Trigger::Queue { .. } | Trigger::Timer { .. } => {
                ("POST".to_owned(), format!("/{}", function.name()))
            }
        };
        let response = app
            .client
            .request(method.parse().unwrap(), format!("{}{path}", app.url))
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let unrouted = body["type"] == "urn:imageshare:problem:method-not-allowed"
            || body["detail"]
                .as_str()
                .is_some_and(|d| d.starts_with("no function serves"));
        assert!(
            !unrouted,
            "{} ({method} {path}) is not routed: {status} {body}",
            function.name()
        );
    }
}
