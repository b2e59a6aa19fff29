//! The `lighthouse` strategy through the host: Delegate and EndDelegation are functions on
//! their own queues, the handler on the simulator's clock (it follows it in simulated mode).
//!
//! - Two requests submitted at once make one deployment, one definition and one assignment;
//!   the consumer's principal (its own tenant's token, no auxiliary token) reads the owner's
//!   image and creates a VM in its own subscription from it; when the simulator's clock
//!   passes the expiry, the scheduled EndDelegation removes the delegation and the same read
//!   is refused.
//! - `local-run --demo --strategy lighthouse`'s run: the consumer's admin ends it early with
//!   the notice's "we are done" link.

use std::time::Duration;

use azure_sim::scenario::demo;
use local_run::{
    lighthouse,
    requests::until,
    stack::{LocalStore, Stack},
};

use crate::stack::start_scenario;

const ASSIGNMENTS: &str = "Microsoft.ManagedServices/registrationAssignments";
const DEFINITIONS: &str = "Microsoft.ManagedServices/registrationDefinitions";

fn deployment_puts(stack: &Stack) -> usize {
    stack
        .sim
        .requests()
        .iter()
        .filter(|r| {
            r.method == "PUT"
                && r.path_and_query
                    .contains("/providers/Microsoft.Resources/deployments/")
        })
        .count()
}

async fn submit(stack: &Stack) -> String {
    let document = lighthouse::request(Some(1));
    local_run::requests::submit(stack, &document)
        .await
        .unwrap()
        .1
}

#[tokio::test]
async fn through_the_host_two_lighthouse_requests_at_once_make_one_delegation_that_ends_at_expiry()
{
    let (stack, _scratch) = start_scenario(lighthouse::scenario(), LocalStore::Memory, &[]).await;
    let (first, second) = tokio::join!(submit(&stack), submit(&stack));
    let wait = Duration::from_secs(240);
    let (a, b) = tokio::join!(
        until(&first, &["Delegated"], wait),
        until(&second, &["Delegated"], wait)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(
        a["delegation"]["registrationAssignmentId"],
        b["delegation"]["registrationAssignmentId"]
    );
    assert_eq!(
        deployment_puts(&stack),
        1,
        "one deployment for both requests"
    );
    let state = stack.sim.state();
    assert_eq!(state.resources_of_type(DEFINITIONS).len(), 1);
    assert_eq!(state.resources_of_type(ASSIGNMENTS).len(), 1);

    assert_eq!(
        lighthouse::consumer_reads_image(&stack.transport)
            .await
            .unwrap(),
        200
    );
    let (status, body) = lighthouse::consumer_creates_vm(&stack.transport, "vm-lh-e2e")
        .await
        .unwrap();
    assert!(
        status == 200 || status == 201,
        "the consumer's own principal creates the VM: {status} {body}"
    );
    let vms: Vec<String> = stack
        .sim
        .state()
        .resources_of_type("Microsoft.Compute/virtualMachines")
        .iter()
        .map(|r| r.id.to_ascii_lowercase())
        .collect();
    let in_consumer = format!(
        "/subscriptions/{}/",
        demo::FABRIKAM_SUBSCRIPTION.to_ascii_lowercase()
    );
    assert!(
        vms.iter()
            .any(|id| id.starts_with(&in_consumer) && id.ends_with("/vm-lh-e2e")),
        "the VM is in the consumer's subscription: {vms:?}"
    );

    // One day and a minute later on the simulator's clock: the scheduled EndDelegation is due.
    stack.sim.advance_clock(Duration::from_secs(24 * 3600 + 60));
    let (a, b) = tokio::join!(
        until(&first, &["Completed"], wait),
        until(&second, &["Completed"], wait)
    );
    let ended = [a.unwrap(), b.unwrap()];
    let removed: usize = ended
        .iter()
        .map(|s| s["delegation"]["removed"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(
        removed, 2,
        "the last request removes the assignment and the definition: {ended:#?}"
    );
    let state = stack.sim.state();
    assert!(state.resources_of_type(ASSIGNMENTS).is_empty());
    assert!(state.resources_of_type(DEFINITIONS).is_empty());
    assert_eq!(
        lighthouse::consumer_reads_image(&stack.transport)
            .await
            .unwrap(),
        401,
        "after the expiry the consumer's read of the image is refused"
    );
    stack.shutdown().await.unwrap();
}

#[tokio::test]
async fn through_the_host_the_consumers_done_link_ends_a_lighthouse_share_early() {
    let (stack, _scratch) = start_scenario(lighthouse::scenario(), LocalStore::Memory, &[]).await;
    let mut lines = Vec::new();
    let done = lighthouse::run(&stack, Duration::from_secs(240), |l| {
        lines.push(l.to_owned())
    })
    .await
    .unwrap();
    assert_eq!(done["state"], "Completed", "{done:#}");
    let text = lines.join("\n");
    for expected in [
        "before: the Fabrikam admin's read of the image answers 401",
        "delegated: the Fabrikam admin's read of the image answers 200",
        "creates VM vm-fabrikam-lh in its own subscription from the image: 20",
        "\"we are done\" link and confirms: 200",
        "after it the Fabrikam admin's read answers 401",
        "Shared images",
    ] {
        assert!(text.contains(expected), "{expected:?} in {text}");
    }
    assert_eq!(done["delegation"]["removed"].as_array().unwrap().len(), 2);
    // The link's single-use state lives in the mail alone: no log line and no status has it.
    let link = lighthouse::done_link_from_mail(&stack.sim, done["id"].as_str().unwrap()).unwrap();
    let secret = link
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| {
            v.split_once('.')
                .map(|(_, s)| s.to_owned())
                .unwrap_or_default()
        })
        .unwrap();
    assert_eq!(secret.len(), 43, "{link}");
    assert!(
        !crate::logs::text().contains(&secret),
        "the done link's state reached a log line"
    );
    assert!(!done.to_string().contains(&secret));
    let state = stack.sim.state();
    assert!(state.resources_of_type(ASSIGNMENTS).is_empty());
    assert!(state.resources_of_type(DEFINITIONS).is_empty());
    stack.shutdown().await.unwrap();
}
