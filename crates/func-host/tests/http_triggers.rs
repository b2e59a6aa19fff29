//! HTTP triggers against the test handler: forwarding and the default req/res mode.

mod common;

use common::{App, body_of, eventually, host_json, start};
use serde_json::{Value, json};

fn forwarding_app() -> App {
    App::new(
        &host_json(json!({"customHandler": {"enableForwardingHttpRequest": true}})),
        &[(
            "GetShareRequest",
            json!({"bindings": [
                {"type": "httpTrigger", "direction": "in", "name": "req", "authLevel": "function",
                 "methods": ["get", "post"], "route": "share-requests/{id}"},
                {"type": "http", "direction": "out", "name": "res"}]}),
        )],
        &json!({"functions": {"*": {"kind": "forward_echo"}}}),
    )
}

#[tokio::test]
async fn forwarding_passes_method_path_query_headers_and_body_and_returns_the_reply_as_is() {
    let app = forwarding_app();
    let host = start(&app, &[], None).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let url = format!("http://{}/api/share-requests/42?x=1&y=two", host.addr());
    let reply = client
        .post(&url)
        .header("x-custom", "abc")
        .header("user-agent", "tester/1.0")
        .header("content-type", "application/json")
        .body(r#"{"hello":"world"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 201, "the handler's status passes through");
    assert_eq!(reply.headers()["x-echo"], "yes");
    assert_eq!(
        reply.headers()["location"],
        "/elsewhere",
        "redirects are not followed"
    );
    let seen: Value = reply.json().await.unwrap();
    assert_eq!(seen["method"], "POST");
    assert_eq!(seen["path"], "/api/share-requests/42");
    assert_eq!(seen["query"], "x=1&y=two");
    assert_eq!(seen["headers"]["x-custom"], "abc");
    assert_eq!(seen["body"], r#"{"hello":"world"}"#);
    assert_eq!(
        seen["headers"]["user-agent"],
        format!(
            "tester/1.0 Azure-Functions-Host/{}",
            func_host::invoke::HOST_VERSION
        )
    );
    assert!(
        seen["headers"]["x-azure-functions-invocationid"]
            .as_str()
            .is_some_and(|s| s.len() == 36)
    );
    assert_eq!(
        seen["headers"]["x-azure-functions-hostversion"],
        func_host::invoke::HOST_VERSION
    );
    host.shutdown().await.unwrap();
}

#[tokio::test]
async fn forwarding_drops_a_chunked_body_and_unknown_routes_and_methods_get_404() {
    let app = forwarding_app();
    let host = start(&app, &[], None).await;
    let client = reqwest::Client::new();
    let base = format!("http://{}", host.addr());
    let stream = futures::stream::once(async { Ok::<_, std::io::Error>("chunked-body") });
    let reply = client
        .post(format!("{base}/api/share-requests/1"))
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    let seen: Value = reply.json().await.unwrap();
    assert_eq!(seen["body"], "", "no Content-Length, no body");

    assert_eq!(
        client
            .get(format!("{base}/api/nothing-here"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        client
            .delete(format!("{base}/api/share-requests/1"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        client
            .get(format!("{base}/share-requests/1"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    host.shutdown().await.unwrap();
}

#[tokio::test]
async fn default_mode_posts_data_req_and_answers_from_outputs_res() {
    let app = App::new(
        &host_json(json!({})),
        &[(
            "CreateOrder",
            json!({"bindings": [
                {"type": "httpTrigger", "direction": "in", "name": "req", "authLevel": "anonymous",
                 "methods": ["post"], "route": "orders/{id:int}"},
                {"type": "http", "direction": "out", "name": "res"}]}),
        )],
        &json!({"functions": {"CreateOrder": {"kind": "reply", "body": {
            "Outputs": {"res": {"statusCode": "202", "body": {"accepted": true}, "headers": {"Location": "/api/orders/7"}}},
            "Logs": ["created"], "ReturnValue": null}}}}),
    );
    let host = start(&app, &[], None).await;
    let base = format!("http://{}", host.addr());
    let reply = reqwest::Client::new()
        .post(format!("{base}/api/orders/7?x=1"))
        .header("content-type", "application/json")
        .body(r#"{"orderId":42,"note":"hi"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 202);
    assert_eq!(reply.headers()["location"], "/api/orders/7");
    assert!(
        reply.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(reply.text().await.unwrap(), r#"{"accepted":true}"#);

    let requests = app.requests_to("/CreateOrder");
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r["method"], "POST");
    assert!(
        r["headers"]["content-type"]
            .as_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body = body_of(r);
    let req = &body["Data"]["req"];
    assert_eq!(req["Method"], "POST");
    assert_eq!(
        req["Url"],
        format!("http://{}/api/orders/7?x=1", host.addr())
    );
    assert_eq!(req["Query"], json!({"x": "1"}));
    assert_eq!(req["Params"], json!({"id": "7"}));
    assert_eq!(req["Headers"]["content-type"], json!(["application/json"]));
    assert_eq!(req["Body"], r#"{"orderId":42,"note":"hi"}"#);
    assert_eq!(
        body["Metadata"]["id"], "\"7\"",
        "route values arrive JSON-encoded"
    );
    assert_eq!(
        body["Metadata"]["orderId"], "\"42\"",
        "the body-merge applies to HTTP too"
    );
    assert_eq!(body["Metadata"]["sys"]["MethodName"], "CreateOrder");

    // The int constraint keeps other values out.
    let status = reqwest::Client::new()
        .post(format!("{base}/api/orders/abc"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 404);
    host.shutdown().await.unwrap();
}

#[tokio::test]
async fn default_mode_fails_with_500_on_non_2xx_empty_null_and_non_json_replies() {
    let http_fn = |route: &str| {
        json!({"bindings": [
            {"type": "httpTrigger", "direction": "in", "name": "req", "methods": ["get"], "route": route},
            {"type": "http", "direction": "out", "name": "res"}]})
    };
    let app = App::new(
        &host_json(json!({})),
        &[
            ("Fails", http_fn("fails")),
            ("Empty", http_fn("empty")),
            ("Null", http_fn("null")),
            ("Text", http_fn("text")),
            ("NoRes", http_fn("nores")),
        ],
        &json!({"functions": {
            "Fails": {"kind": "status", "status": 503},
            "Empty": {"kind": "empty"},
            "Null": {"kind": "null"},
            "Text": {"kind": "text"},
            "NoRes": {"kind": "echo"}}}),
    );
    let host = start(&app, &[], None).await;
    let base = format!("http://{}/api", host.addr());
    let client = reqwest::Client::new();
    for path in ["fails", "empty", "null", "text"] {
        let status = client
            .get(format!("{base}/{path}"))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 500, "{path}");
    }
    let ok = client.get(format!("{base}/nores")).send().await.unwrap();
    assert_eq!(ok.status(), 200, "a reply without res is 200");
    assert_eq!(ok.text().await.unwrap(), "{}");
    eventually("all five invocations recorded", || {
        (app.requests().len() == 5).then_some(())
    })
    .await;
    host.shutdown().await.unwrap();
}
