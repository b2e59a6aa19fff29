//! The `lighthouse` strategy through the host: Delegate and EndDelegation are functions on
//! their own queues. `local-run --demo --strategy lighthouse`'s run: a request reaches
//! `Delegated` with the delegation in the simulator, the consumer's principal reads the
//! owner's image with its own tenant's token only, a `DELETE` removes the delegation and the
//! same read is refused. (The end at expiry is the same step on a scheduled message; the
//! handler under func-host runs on the system clock, so that path is proven on the simulated
//! clock in tests/pipeline/lighthouse.rs.)

use std::time::Duration;

use local_run::{lighthouse, stack::LocalStore};

use crate::stack::start_scenario;

#[tokio::test]
async fn through_the_host_a_lighthouse_share_delegates_the_gallery_and_a_revocation_removes_it() {
    let (stack, _scratch) = start_scenario(lighthouse::scenario(), LocalStore::Memory, &[]).await;
    let mut lines = Vec::new();
    let done = lighthouse::run(&stack, Duration::from_secs(240), |l| {
        lines.push(l.to_owned())
    })
    .await
    .unwrap();
    assert_eq!(done["state"], "Revoked", "{done:#}");
    let text = lines.join("\n");
    assert!(
        text.contains("before: the Fabrikam admin's read of the image answers 401"),
        "{text}"
    );
    assert!(
        text.contains("delegated: the Fabrikam admin's read of the image answers 200"),
        "{text}"
    );
    assert!(
        text.contains("after it the Fabrikam admin's read answers 401"),
        "{text}"
    );
    assert!(
        text.contains("Shared images"),
        "the portal steps are shown: {text}"
    );
    let removed = done["delegation"]["removed"].as_array().unwrap();
    assert_eq!(removed.len(), 2, "assignment and definition: {done:#}");
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
    stack.shutdown().await.unwrap();
}
