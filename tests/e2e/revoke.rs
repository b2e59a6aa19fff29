//! Revocation through the host: `DELETE` on the route `GET` also serves reaches its own
//! function, and the RevokeAccess step, triggered by Service Bus, ends the request `Revoked`
//! with the VM gone.

use std::time::{Duration, Instant};

use local_run::demo;
use serde_json::Value;

use crate::stack::start;

#[tokio::test]
async fn through_the_host_a_completed_share_is_revoked_with_its_vm() {
    let (stack, _scratch) = start(&[]).await;
    let report = demo::run(&stack, Duration::from_secs(300), |_| {})
        .await
        .unwrap();
    assert_eq!(report.status["state"], "Completed", "{:#}", report.status);
    let url = format!(
        "{}/api/share-requests/{}",
        stack.base_url, report.request_id
    );
    let client = reqwest::Client::new();
    let response = client
        .delete(format!("{url}?deleteResources=true"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    assert_eq!(
        response.headers()["location"],
        format!("/api/share-requests/{}", report.request_id).as_str()
    );

    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        let status: Value = client.get(&url).send().await.unwrap().json().await.unwrap();
        if status["state"] == "Revoked" || status["state"] == "Failed" {
            break status;
        }
        assert!(Instant::now() < deadline, "not revoked: {status:#}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(status["state"], "Revoked", "{status:#}");
    assert!(
        stack
            .sim
            .state()
            .resources_of_type("Microsoft.Compute/virtualMachines")
            .is_empty()
    );
    stack.shutdown().await.unwrap();
}
