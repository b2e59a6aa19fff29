//! `openapi/openapi.json` describes the HTTP API the handler serves: the same operations, the
//! same routes and methods, the same ids as the function table. (That the answers conform to it
//! is schemathesis's job, in the test command's `api-schema` step.)

use std::collections::BTreeSet;

use imageshare::{
    api::OPENAPI_DOCUMENT,
    functions::{Function, Trigger},
};
use serde_json::Value;

use crate::helpers::spawn_app;

fn document() -> Value {
    serde_json::from_str(OPENAPI_DOCUMENT).unwrap()
}

/// (path, method, operationId) of every HTTP function of the handler.
fn http_functions() -> BTreeSet<(String, String, String)> {
    Function::ALL
        .iter()
        .filter_map(|f| match f.trigger() {
            Trigger::Http { methods, route, .. } => Some(
                methods
                    .iter()
                    .map(|m| {
                        (
                            format!("/api/{route}"),
                            (*m).to_owned(),
                            f.name().to_owned(),
                        )
                    })
                    .collect::<Vec<_>>(),
            ),
            Trigger::Queue { .. } | Trigger::Timer { .. } => None,
        })
        .flatten()
        .collect()
}

#[test]
fn the_openapi_document_is_openapi_3_1() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
}

#[test]
fn the_openapi_document_has_exactly_the_http_functions_with_their_names_as_operation_ids() {
    let doc = document();
    let mut described = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            described.insert((
                path.clone(),
                method.clone(),
                operation["operationId"].as_str().unwrap().to_owned(),
            ));
        }
    }
    assert_eq!(described, http_functions());
}

#[test]
fn only_anonymous_functions_are_described_without_the_function_key() {
    let doc = document();
    assert!(doc["security"][0]["functionKey"].is_array());
    for function in Function::ALL {
        let Trigger::Http {
            methods,
            route,
            auth_level,
        } = function.trigger()
        else {
            continue;
        };
        for method in methods {
            let operation = &doc["paths"][format!("/api/{route}")][method];
            let open = operation["security"] == serde_json::json!([]);
            assert_eq!(
                open,
                auth_level == "anonymous",
                "{}: authLevel {auth_level} but security {}",
                function.name(),
                operation["security"]
            );
        }
    }
}

#[test]
fn every_json_api_error_is_described_as_problem_json() {
    let doc = document();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            // Pages for a person (the consent callback, the approval and done pages) answer
            // HTML, their errors too.
            if operation["responses"]["200"]["content"]["text/html"].is_object() {
                continue;
            }
            for (status, response) in operation["responses"].as_object().unwrap() {
                if status.starts_with('4') || status.starts_with('5') {
                    assert!(
                        response["content"]["application/problem+json"].is_object(),
                        "{method} {path} {status} is not problem+json"
                    );
                }
            }
        }
    }
}

#[tokio::test]
async fn the_app_serves_the_openapi_document_as_kept_in_the_repository() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(format!("{}/api/openapi.json", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let served: Value = response.json().await.unwrap();
    let on_disk: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(served, on_disk);
}
