//! The `lighthouse` strategy through the host: Delegate and EndDelegation are functions on
//! their own queues. A request reaches `Delegated` with the delegation in the simulator; the
//! consumer's principal reads the owner's image with its own tenant's token only; a `DELETE`
//! removes the delegation and the same read is refused. (The end at expiry is the same step
//! on a scheduled message; the handler under func-host runs on the system clock, so that path
//! is proven on the simulated clock in tests/pipeline/lighthouse.rs.)

use std::time::{Duration, Instant};

use azure_sim::scenario::{RoleAssignmentSpec, demo};
use local_run::stack::LocalStore;
use serde_json::{Value, json};

use crate::stack::{fast_demo, start_scenario};

async fn consumer_reads_image(stack: &local_run::stack::Stack) -> u16 {
    let req = stack
        .transport
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
        .build()
        .unwrap();
    let token: Value = stack
        .transport
        .execute(req)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let req = stack
        .transport
        .client()
        .get(format!(
            "https://management.azure.com{}?api-version=2024-03-03",
            demo::IMAGE_VERSION_ID
        ))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .build()
        .unwrap();
    stack
        .transport
        .execute(req)
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn until(client: &reqwest::Client, url: &str, states: &[&str]) -> Value {
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let status: Value = client.get(url).send().await.unwrap().json().await.unwrap();
        let state = status["state"].as_str().unwrap_or_default();
        if states.contains(&state) || state == "Failed" {
            return status;
        }
        assert!(Instant::now() < deadline, "not {states:?}: {status:#}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn through_the_host_a_lighthouse_share_delegates_the_gallery_and_a_revocation_removes_it() {
    let mut scenario = fast_demo();
    scenario.role_assignments.push(RoleAssignmentSpec {
        principal_id: demo::OPERATOR_PRINCIPAL_ID.to_owned(),
        role: "Owner".to_owned(),
        scope: format!("/subscriptions/{}", demo::CONTOSO_SUBSCRIPTION),
        ..RoleAssignmentSpec::default()
    });
    let (stack, _scratch) = start_scenario(scenario, LocalStore::Memory, &[]).await;
    assert_eq!(consumer_reads_image(&stack).await, 401);

    let client = reqwest::Client::new();
    let response = client
        .post(format!("{}/api/share-requests", stack.base_url))
        .json(&json!({
            "strategy": "lighthouse",
            "consumer": {
                "tenantId": demo::FABRIKAM_TENANT,
                "subscriptionId": demo::FABRIKAM_SUBSCRIPTION,
                "resourceGroup": demo::FABRIKAM_RESOURCE_GROUP,
                "adminEmail": demo::FABRIKAM_ADMIN_UPN,
                "principals": [{"objectId": demo::FABRIKAM_ADMIN_ID, "displayName": "Fabrikam Admin", "kind": "user"}]
            },
            "image": {"name": "ubuntu-hardened"}
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let accepted: Value = response.json().await.unwrap();
    let url = format!(
        "{}/api/share-requests/{}",
        stack.base_url,
        accepted["id"].as_str().unwrap()
    );

    let delegated = until(&client, &url, &["Delegated"]).await;
    assert_eq!(delegated["state"], "Delegated", "{delegated:#}");
    assert_eq!(
        delegated["delegation"]["lifetimeDays"], 7,
        "the default lifetime"
    );
    let state = stack.sim.state();
    assert_eq!(
        state
            .resources_of_type("Microsoft.ManagedServices/registrationAssignments")
            .len(),
        1
    );
    assert_eq!(
        consumer_reads_image(&stack).await,
        200,
        "delegated: the consumer reads the image"
    );

    let response = client.delete(&url).send().await.unwrap();
    assert_eq!(response.status(), 202);
    let revoked = until(&client, &url, &["Revoked"]).await;
    assert_eq!(revoked["state"], "Revoked", "{revoked:#}");
    let state = stack.sim.state();
    assert!(
        state
            .resources_of_type("Microsoft.ManagedServices/registrationAssignments")
            .is_empty()
    );
    assert!(
        state
            .resources_of_type("Microsoft.ManagedServices/registrationDefinitions")
            .is_empty()
    );
    assert_eq!(
        consumer_reads_image(&stack).await,
        401,
        "the delegation is gone"
    );
    stack.shutdown().await.unwrap();
}
