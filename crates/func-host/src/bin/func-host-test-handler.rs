//! A tiny custom handler for func-host's tests. Its behaviour per function comes from
//! `<app root>/behaviour.json`; it records every request it gets (except the `GET /`
//! probes) to `<app root>/requests.jsonl` and every start to `<app root>/starts.log`.
//!
//! ```json
//! {"startup": {"exit_code": 3},
//!  "functions": {"Orders": {"kind": "echo"}, "Bad": {"kind": "status", "status": 500},
//!                "Slow": {"kind": "hang", "after_restart": {"kind": "echo"}},
//!                "*": {"kind": "forward_echo"}}}
//! ```
//! Kinds: echo, status, empty, null, text, sleep (ms), hang, crash (exit_code), reply (body),
//! forward_echo (for forwarded HTTP requests: reflects the request, status 201).

use std::{
    io::Write,
    path::PathBuf,
    sync::{Arc, Mutex},
};

use axum::{
    Router,
    body::{Body, to_bytes},
    extract::{Request, State},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

#[derive(Clone)]
struct Handler {
    root: PathBuf,
    behaviour: Arc<Value>,
    start_number: usize,
    log: Arc<Mutex<()>>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = std::env::var("FUNCTIONS_CUSTOMHANDLER_PORT")?.parse()?;
    let root = PathBuf::from(std::env::var("FUNCTIONS_APP_ROOT_PATH")?);
    let behaviour: Value = std::fs::read_to_string(root.join("behaviour.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_else(|| json!({}));
    let start_number = {
        let path = root.join("starts.log");
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        writeln!(f, "{}", std::process::id())?;
        std::fs::read_to_string(&path)?.lines().count()
    };
    println!("test handler start {start_number} on port {port}");
    eprintln!("warning: this is the test handler's stderr");
    if let Some(code) = behaviour
        .pointer("/startup/exit_code")
        .and_then(Value::as_i64)
    {
        eprintln!("exiting at startup with code {code}");
        std::process::exit(i32::try_from(code)?);
    }
    let handler = Handler {
        root,
        behaviour: Arc::new(behaviour),
        start_number,
        log: Arc::new(Mutex::new(())),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let app = Router::new().fallback(handle).with_state(handler);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        axum::serve(listener, app).await
    })?;
    Ok(())
}

async fn handle(State(h): State<Handler>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    if path == "/" && parts.method == http::Method::GET {
        return "ok".into_response();
    }
    let bytes = to_bytes(body, 64 * 1024 * 1024).await.unwrap_or_default();
    let headers: serde_json::Map<String, Value> = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                json!(String::from_utf8_lossy(v.as_bytes())),
            )
        })
        .collect();
    let record = json!({
        "start": h.start_number,
        "method": parts.method.as_str(),
        "path": path,
        "query": parts.uri.query(),
        "headers": headers,
        "body": String::from_utf8_lossy(&bytes),
    });
    {
        let _guard = h
            .log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(h.root.join("requests.jsonl"))
        {
            let _ = writeln!(f, "{record}");
        }
    }
    let name = path.trim_start_matches('/');
    let behaviour = h
        .behaviour
        .pointer(&format!("/functions/{name}"))
        .or_else(|| h.behaviour.pointer("/functions/*"))
        .cloned()
        .unwrap_or_else(|| json!({"kind": "echo"}));
    respond(&h, &behaviour, &record).await
}

async fn respond(h: &Handler, behaviour: &Value, record: &Value) -> Response {
    let mut behaviour = behaviour.clone();
    if h.start_number > 1
        && let Some(after) = behaviour.get("after_restart")
    {
        behaviour = after.clone();
    }
    let json_reply = |body: String| {
        Response::builder()
            .status(200)
            .header("content-type", "application/json; charset=utf-8")
            .body(Body::from(body))
            .unwrap_or_default()
    };
    match behaviour.get("kind").and_then(Value::as_str).unwrap_or("echo") {
        "status" => {
            let status = behaviour.get("status").and_then(Value::as_u64).unwrap_or(500);
            Response::builder()
                .status(u16::try_from(status).unwrap_or(500))
                .header("content-type", "application/json")
                .body(Body::from(r#"{"Outputs":{},"Logs":["failing on purpose"]}"#))
                .unwrap_or_default()
        }
        "empty" => json_reply(String::new()),
        "null" => json_reply("null".to_owned()),
        "text" => Response::builder()
            .status(200)
            .header("content-type", "text/plain")
            .body(Body::from(r#"{"Outputs":{}}"#))
            .unwrap_or_default(),
        "sleep" => {
            let ms = behaviour.get("ms").and_then(Value::as_u64).unwrap_or(1000);
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            json_reply(json!({"Outputs": {}, "Logs": ["slept"], "ReturnValue": null}).to_string())
        }
        "hang" => {
            std::future::pending::<()>().await;
            json_reply("{}".to_owned())
        }
        // Exiting with a chosen code mid-request is exactly what this handler is for.
        #[allow(clippy::exit)]
        "crash" => {
            let code = behaviour.get("exit_code").and_then(Value::as_i64).unwrap_or(1);
            std::process::exit(i32::try_from(code).unwrap_or(1));
        }
        "reply" => json_reply(behaviour.get("body").cloned().unwrap_or(json!({})).to_string()),
        "forward_echo" => Response::builder()
            .status(201)
            .header("content-type", "application/json")
            .header("x-echo", "yes")
            .header("location", "/elsewhere")
            .body(Body::from(record.to_string()))
            .unwrap_or_default(),
        _ => json_reply(json!({"Outputs": {}, "Logs": [format!("echo from start {}", h.start_number)], "ReturnValue": null}).to_string()),
    }
}
