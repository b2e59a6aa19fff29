//! The three client stacks reach a local server through the simulated route.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::{Router, extract::Request, routing::any};
use azure_transport::Transport;

/// A server that answers every request with its method, path and query.
async fn echo_server() -> String {
    let app = Router::new().fallback(any(|req: Request| async move {
        format!("{} {}", req.method(), req.uri())
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

#[tokio::test]
async fn reqwest_requests_to_azure_hosts_reach_the_simulator() {
    let transport = Transport::simulated(&echo_server().await).unwrap();
    let request = transport
        .client()
        .get("https://graph.microsoft.com/v1.0/applications?$top=1")
        .build()
        .unwrap();
    let body = transport
        .execute(request)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "GET /graph.microsoft.com/v1.0/applications?$top=1");
}

#[tokio::test]
async fn azure_core_requests_reach_the_simulator() {
    let transport = Transport::simulated(&echo_server().await).unwrap();
    let client = transport.for_azure_core();
    let request = azure_core::http::Request::new(
        "https://login.microsoftonline.com/t/oauth2/v2.0/token"
            .parse()
            .unwrap(),
        azure_core::http::Method::Post,
    );
    let response = client.execute_request(&request).await.unwrap();
    let body = response.into_body().collect_string().await.unwrap();
    assert_eq!(body, "POST /login.microsoftonline.com/t/oauth2/v2.0/token");
}

#[tokio::test]
async fn legacy_azure_core_requests_reach_the_simulator() {
    let transport = Transport::simulated(&echo_server().await).unwrap();
    let client = transport.for_azure_core_legacy();
    let request = azure_core_legacy::Request::new(
        "https://ns.servicebus.windows.net/q/messages/head?timeout=1"
            .parse()
            .unwrap(),
        azure_core_legacy::Method::Delete,
    );
    let response = client.execute_request_check_status(&request).await.unwrap();
    assert_eq!(
        std::str::from_utf8(response.body()).unwrap(),
        "DELETE /ns.servicebus.windows.net/q/messages/head?timeout=1"
    );
}
