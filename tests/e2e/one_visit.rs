//! The one-visit approval through the host: the consent callback (an HTTP function) redeems
//! the code and grants the roles; ConfirmConsent and CreateVm, on their queues, take it from
//! there with no other admin action. A second share of the tenant is one sign-in again; an
//! admin who may not grant roles is told so and the request waits for the manual grant.

use std::time::Duration;

use azure_sim::scenario::{ResourceGroupSpec, demo};
use local_run::{
    demo as admin,
    requests::{submit, until},
    stack::{LocalStore, demo_request},
};

use crate::stack::{fast_demo, start_scenario};

const VM_CONTRIBUTOR: &str = "9980e02c-c2be-4d73-94e8-173b1dc7cf3c";
/// A resource group of Fabrikam where the app holds no role.
const LAB_GROUP: &str = "rg-fabrikam-lab";
const TIMEOUT: Duration = Duration::from_secs(240);

#[tokio::test]
async fn through_the_host_two_shares_approved_in_one_sign_in_each_complete_and_a_reader_is_told_why_and_the_request_waits()
 {
    let mut scenario = fast_demo().with_fabrikam_reader();
    for subscription in &mut scenario.subscriptions {
        if subscription.id == demo::FABRIKAM_SUBSCRIPTION {
            subscription.resource_groups.push(ResourceGroupSpec {
                name: LAB_GROUP.to_owned(),
                location: "eastus".to_owned(),
            });
        }
    }
    let (stack, _scratch) = start_scenario(scenario, LocalStore::Memory, &[]).await;

    // The first share: consent, approval and the role grant in one sign-in.
    let (_, first) = submit(&stack, &demo_request()).await.unwrap();
    until(&first, &["AwaitingConsent"], TIMEOUT).await.unwrap();
    let link = admin::consent_link_from_mail(&stack.sim).unwrap();
    admin::approve_in_one_visit(&stack.transport, &link)
        .await
        .unwrap();
    let done = until(&first, &["Completed"], TIMEOUT).await.unwrap();
    assert_eq!(done["state"], "Completed", "{done:#}");

    // The second: one sign-in again, no consent page, the same assignment.
    let mut second = demo_request();
    second["vm"]["name"] = "vm-fabrikam-02".into();
    let (_, second) = submit(&stack, &second).await.unwrap();
    until(&second, &["AwaitingConsent"], TIMEOUT).await.unwrap();
    let link = admin::consent_link_from_mail(&stack.sim).unwrap();
    admin::approve_in_one_visit(&stack.transport, &link)
        .await
        .unwrap();
    let done = until(&second, &["Completed"], TIMEOUT).await.unwrap();
    assert_eq!(done["state"], "Completed", "{done:#}");
    let vm_contributors = stack
        .sim
        .state()
        .role_assignments
        .iter()
        .filter(|a| a.role_definition_id.ends_with(VM_CONTRIBUTOR))
        .count();
    assert_eq!(vm_contributors, 1, "one assignment serves both shares");

    // A third, in another resource group, answered by a user who may not grant roles: told
    // why in plain words, and the request waits for the grant instead of failing.
    let mut third = demo_request();
    third["vm"]["name"] = "vm-fabrikam-03".into();
    third["consumer"]["resourceGroup"] = LAB_GROUP.into();
    let (_, third) = submit(&stack, &third).await.unwrap();
    until(&third, &["AwaitingConsent"], TIMEOUT).await.unwrap();
    let link = admin::consent_link_from_mail(&stack.sim).unwrap();
    let page = admin::approve_in_one_visit_as(
        &stack.transport,
        &link,
        demo::FABRIKAM_READER_UPN,
        demo::FABRIKAM_READER_PASSWORD,
    )
    .await
    .unwrap();
    assert!(
        page.contains("Microsoft.Authorization/roleAssignments/write"),
        "{page}"
    );
    let waiting = until(&third, &["AwaitingRoleGrant"], TIMEOUT)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let still: serde_json::Value = reqwest::get(&third).await.unwrap().json().await.unwrap();
    assert_eq!(still["state"], "AwaitingRoleGrant", "{waiting:#} {still:#}");
    stack.shutdown().await.unwrap();
}
