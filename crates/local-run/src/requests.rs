//! The image owner's side of the demos: submit a share request, follow its status.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;

use crate::stack::Stack;

/// Submits `document`; the request's id and status URL.
pub async fn submit(stack: &Stack, document: &Value) -> anyhow::Result<(String, String)> {
    let submitted = reqwest::Client::new()
        .post(format!("{}/api/share-requests", stack.base_url))
        .json(document)
        .send()
        .await
        .context("submitting the share request")?;
    if submitted.status() != 202 {
        bail!(
            "the submission answered {}: {}",
            submitted.status(),
            submitted.text().await.unwrap_or_default()
        );
    }
    let first: Value = submitted.json().await?;
    let id = first["id"].as_str().unwrap_or_default().to_owned();
    let url = format!("{}/api/share-requests/{id}", stack.base_url);
    Ok((id, url))
}

/// Polls `url` until the request is in one of `states` (or ended otherwise), within `timeout`.
pub async fn until(url: &str, states: &[&str], timeout: Duration) -> anyhow::Result<Value> {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + timeout;
    loop {
        let status: Value = client.get(url).send().await?.json().await?;
        let state = status["state"].as_str().unwrap_or_default();
        if states.contains(&state) {
            return Ok(status);
        }
        if matches!(state, "Failed" | "Rejected" | "Completed" | "Revoked") {
            bail!(
                "the request ended {state}: {}",
                status["failure"].as_str().unwrap_or("no reason given")
            );
        }
        if Instant::now() > deadline {
            // The whole document (it holds no secret): its history, steps and re-checks
            // say where the request stopped.
            bail!("the request is still {state} after {timeout:?}: {status:#}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
