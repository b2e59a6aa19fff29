//! `--demo --strategy lighthouse`: submit a `lighthouse` share request, follow it to
//! `Delegated`, show what the consumer's admin is told, play the consumer's principal (its own
//! tenant's sign-in reads the owner's image, no app, no consent), then revoke the delegation
//! and show the same read refused.

use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use azure_sim::{
    Scenario,
    scenario::{RoleAssignmentSpec, demo},
};
use azure_transport::Transport;
use serde_json::{Value, json};

use crate::stack::Stack;

/// The demo scenario, with the operator identity allowed to onboard the owner's subscription
/// to Lighthouse (Owner there; `infra/` grants a narrower custom role with
/// `lighthouseDelegator=true`).
pub fn scenario() -> Scenario {
    let mut scenario = Scenario::demo();
    scenario.role_assignments.push(RoleAssignmentSpec {
        principal_id: demo::OPERATOR_PRINCIPAL_ID.to_owned(),
        role: "Owner".to_owned(),
        scope: format!("/subscriptions/{}", demo::CONTOSO_SUBSCRIPTION),
        ..RoleAssignmentSpec::default()
    });
    scenario
}

/// The sample `lighthouse` request: Fabrikam's admin is the delegated principal.
pub fn request(days: Option<u32>) -> Value {
    let mut document = json!({
        "strategy": "lighthouse",
        "consumer": {
            "tenantId": demo::FABRIKAM_TENANT,
            "subscriptionId": demo::FABRIKAM_SUBSCRIPTION,
            "resourceGroup": demo::FABRIKAM_RESOURCE_GROUP,
            "adminEmail": demo::FABRIKAM_ADMIN_UPN,
            "principals": [{"objectId": demo::FABRIKAM_ADMIN_ID, "displayName": "Fabrikam Admin", "kind": "user"}]
        },
        "image": {"name": "ubuntu-hardened"}
    });
    if let Some(days) = days {
        document["delegation"] = json!({"days": days});
    }
    document
}

/// An ARM token of the Fabrikam admin, signed in to Fabrikam only (Azure CLI's public
/// client, as `az login` does).
pub async fn fabrikam_admin_token(transport: &Transport) -> anyhow::Result<String> {
    let req = transport
        .client()
        .post(format!(
            "https://login.microsoftonline.com/{}/oauth2/v2.0/token",
            demo::FABRIKAM_TENANT
        ))
        .form(&[
            ("client_id", "04b07795-8ddb-461a-bbee-02f9e1bf7b46"),
            ("grant_type", "password"),
            ("username", demo::FABRIKAM_ADMIN_UPN),
            ("password", demo::FABRIKAM_ADMIN_PASSWORD),
            ("scope", "https://management.core.windows.net//.default"),
        ])
        .build()?;
    let token: Value = transport.execute(req).await?.json().await?;
    token["access_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("no token for the Fabrikam admin: {token}"))
}

/// The status an ARM read of the owner's image version answers the Fabrikam admin.
pub async fn consumer_reads_image(stack: &Stack) -> anyhow::Result<u16> {
    let token = fabrikam_admin_token(&stack.transport).await?;
    let req = stack
        .transport
        .client()
        .get(format!(
            "https://management.azure.com{}?api-version=2024-03-03",
            demo::IMAGE_VERSION_ID
        ))
        .bearer_auth(&token)
        .build()?;
    Ok(stack.transport.execute(req).await?.status().as_u16())
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
            bail!("the request is still {state} after {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Runs the demo, reporting each step through `progress`.
pub async fn run(
    stack: &Stack,
    timeout: Duration,
    mut progress: impl FnMut(&str),
) -> anyhow::Result<Value> {
    let client = reqwest::Client::new();
    let started = Instant::now();
    progress(&format!(
        "before: the Fabrikam admin's read of the image answers {}",
        consumer_reads_image(stack).await?
    ));
    let submitted = client
        .post(format!("{}/api/share-requests", stack.base_url))
        .json(&request(None))
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
    let id = first["id"].as_str().unwrap_or_default();
    let url = format!("{}/api/share-requests/{id}", stack.base_url);
    progress(&format!("submitted lighthouse request {id}"));
    let delegated = until(&url, &["Delegated"], timeout).await?;
    progress(&format!(
        "{:>6.1}s  Delegated: {}",
        started.elapsed().as_secs_f64(),
        delegated["delegation"]["registrationAssignmentId"]
    ));
    progress(&format!(
        "the consumer's admin is told: {}\n  portal: {}\n  or: {}",
        delegated["nextAction"]["description"]
            .as_str()
            .unwrap_or_default(),
        delegated["nextAction"]["url"].as_str().unwrap_or_default(),
        delegated["nextAction"]["command"]
            .as_str()
            .unwrap_or_default()
    ));
    progress(&format!(
        "delegated: the Fabrikam admin's read of the image answers {}",
        consumer_reads_image(stack).await?
    ));
    let revoked = client.delete(&url).send().await?;
    progress(&format!("DELETE {url}: {}", revoked.status()));
    let done = until(&url, &["Revoked"], timeout).await?;
    progress(&format!(
        "{:>6.1}s  Revoked; after it the Fabrikam admin's read answers {}",
        started.elapsed().as_secs_f64(),
        consumer_reads_image(stack).await?
    ));
    Ok(done)
}
