//! Azure misbehaving: throttling and outages, late replication, late RBAC, a consent that
//! never comes, an image not replicated where the VM should go. Nothing stuck, nothing
//! duplicated.

use azure_sim::{Fault, Replication, Scenario, scenario::demo};
use imageshare::domain::Step;

use crate::{
    happy_path::{assert_one_of_everything, complete},
    harness::{Harness, document, is_terminal},
};

#[tokio::test]
async fn bursts_of_429_and_503_on_graph_and_arm_are_ridden_out() {
    let h = Harness::start(Scenario::demo(), &[]).await;
    h.sim
        .add_fault(Fault::throttle("graph.microsoft.com", "/v1.0/applications*", 1).times(3));
    h.sim
        .add_fault(Fault::new("graph.microsoft.com", "/v1.0/servicePrincipals*", 503).times(3));
    h.sim
        .add_fault(Fault::throttle("management.azure.com", "*roleAssignments*", 1).times(3));
    h.sim.add_fault(
        Fault::new("management.azure.com", "*/virtualMachines/*", 503)
            .method("PUT")
            .times(3),
    );

    let (_, done) = complete(&h).await;

    assert_eq!(done["state"], "Completed", "{done:#}");
    let faulted = h
        .sim
        .requests()
        .iter()
        .filter(|r| r.fault.is_some())
        .count();
    assert_eq!(faulted, 12, "every injected fault was hit");
    assert_one_of_everything(&h);
    assert!(h.queue.dead_letters.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_step_throttled_more_often_than_the_retry_limit_is_paced_by_retry_after_and_does_not_rest()
 {
    // A wave of requests can meet an empty bucket for minutes: each 429 is Azure pacing its
    // callers, so the step's retries follow Retry-After and do not count toward resting.
    let h = Harness::start(Scenario::demo(), &[("IMAGESHARE_RETRY_MAX", "2")]).await;
    h.sim.add_fault(
        Fault::throttle("management.azure.com", "*roleAssignments*", 60)
            .method("PUT")
            .times(5),
    );

    let (_, done) = complete(&h).await;

    assert_eq!(done["state"], "Completed", "{done:#}");
    let sent = h.queue.sent.lock().unwrap().clone();
    let retries: Vec<u32> = sent
        .iter()
        .filter(|q| q.message.step == Step::IssueCredentials && q.message.retry > 0)
        .map(|q| q.message.retry)
        .collect();
    assert_eq!(
        retries,
        [1, 2, 3, 4, 5],
        "one scheduled retry per 429, none resting"
    );
    let history = done["history"].as_array().unwrap();
    assert!(
        !history.iter().any(|e| e["event"] == "step-resent"),
        "the reconciler had nothing to re-send: {history:#?}"
    );
    assert_one_of_everything(&h);
}

#[tokio::test]
async fn a_secret_and_a_service_principal_that_replicate_late_are_waited_for() {
    let replication = Replication {
        new_application_seconds: 20,
        new_secret_seconds: 30,
        new_service_principal_seconds: 45,
        arm_principal_seconds: 30,
        ..Replication::none()
    };
    let h = Harness::start(
        Scenario::demo().with_replication(replication),
        &[
            ("IMAGESHARE_APP_CREDENTIAL", "secret"),
            (
                "IMAGESHARE_KEY_VAULT_URL",
                "https://kv-imageshare-demo.vault.azure.net",
            ),
        ],
    )
    .await;

    let (_, done) = complete(&h).await;

    assert_eq!(done["state"], "Completed", "{done:#}");
    assert_one_of_everything(&h);
}

#[tokio::test]
async fn a_consent_that_never_comes_ends_expired_with_a_notice() {
    let h = Harness::start(
        Scenario::demo(),
        &[("IMAGESHARE_CONSENT_DEADLINE_HOURS", "1")],
    )
    .await;
    let id = h.submit(&document()).await;
    h.until_state(id, "AwaitingConsent").await;

    let done = h.run_until(id, is_terminal).await;

    assert_eq!(done["state"], "Expired", "{done:#}");
    assert!(
        done["failure"]
            .as_str()
            .unwrap()
            .contains("did not consent")
    );
    let notices = h
        .sim
        .outbox(demo::CONTOSO_TENANT)
        .iter()
        .filter(|m| m.subject.contains("expired"))
        .count();
    assert_eq!(notices, 1);
    // Nothing was created in the consumer's tenant.
    let state = serde_json::to_value(h.sim.state()).unwrap();
    assert!(
        state["virtualMachines"]
            .as_array()
            .is_none_or(Vec::is_empty)
    );
}

#[tokio::test]
async fn an_image_not_replicated_to_the_vms_region_fails_with_that_reason() {
    let h = Harness::start(Scenario::demo(), &[]).await;
    let mut request = document();
    request["vm"]["location"] = "japaneast".into();
    let id = h.submit(&request).await;
    h.admin_consents_and_grants(id).await;

    let done = h.run_until(id, is_terminal).await;

    assert_eq!(done["state"], "Failed", "{done:#}");
    let reason = done["failure"].as_str().unwrap();
    assert!(reason.contains("not replicated to japaneast"), "{reason}");
    assert!(reason.contains("East US"), "{reason}");
    let announced = h
        .events
        .published()
        .iter()
        .any(|e| e.subject == id.to_string() && e.kind == "imageshare.request.failed");
    assert!(announced, "the failure was not published as an event");
}

#[tokio::test]
async fn a_role_grant_that_takes_effect_minutes_later_is_waited_for() {
    let replication = Replication {
        role_assignment_seconds: 8 * 60,
        ..Replication::none()
    };
    let h = Harness::start(Scenario::demo().with_replication(replication), &[]).await;

    let (_, done) = complete(&h).await;

    assert_eq!(done["state"], "Completed", "{done:#}");
    let steps = &done["steps"]["confirm-consent"];
    assert!(steps["runs"].as_u64().unwrap() >= 1, "{done:#}");
    // Resource Manager kept refusing until the grant took effect, and nothing failed.
    let checks: Vec<u16> = h
        .sim
        .requests()
        .iter()
        .filter(|r| r.host == "management.azure.com" && r.path_and_query.contains("/permissions"))
        .map(|r| r.status)
        .collect();
    assert!(
        checks.len() >= 3,
        "the grant was not waited for: {checks:?}"
    );
    assert_eq!(checks.last(), Some(&200), "{checks:?}");
    assert!(
        checks[..checks.len() - 1]
            .iter()
            .all(|s| *s == 403 || *s == 200),
        "{checks:?}"
    );
    assert_one_of_everything(&h);
}

/// Runs the demo request to a terminal state with `fault` on the VM and returns the status.
async fn with_vm_fault(fault: Fault) -> serde_json::Value {
    let h = Harness::start(Scenario::demo(), &[]).await;
    h.sim.add_fault(fault);
    let id = h.submit(&document()).await;
    h.admin_consents_and_grants(id).await;
    h.run_until(id, is_terminal).await
}

const VM_PATH: &str = "*/virtualMachines/vm-fabrikam-01";

#[tokio::test]
async fn a_vm_over_the_consumers_quota_fails_saying_so() {
    let done = with_vm_fault(Fault::quota_exceeded(VM_PATH, "eastus")).await;
    assert_eq!(done["state"], "Failed", "{done:#}");
    assert!(
        done["failure"].as_str().unwrap().contains("quota"),
        "{done:#}"
    );
}

#[tokio::test]
async fn a_vm_size_not_offered_in_the_region_fails_saying_so() {
    let done = with_vm_fault(Fault::sku_not_available(
        VM_PATH,
        "Standard_D2s_v5",
        "eastus",
    ))
    .await;
    assert_eq!(done["state"], "Failed", "{done:#}");
    assert!(
        done["failure"]
            .as_str()
            .unwrap()
            .contains("Size Standard_D2s_v5 is not available in eastus"),
        "{done:#}"
    );
}

#[tokio::test]
async fn a_vm_whose_provisioning_fails_ends_failed_with_azures_reason() {
    let done = with_vm_fault(Fault::provisioning_failure(
        VM_PATH,
        "OSProvisioningTimedOut",
        "OS Provisioning for VM 'vm-fabrikam-01' did not finish in the allotted time.",
    ))
    .await;
    assert_eq!(done["state"], "Failed", "{done:#}");
    assert!(
        done["failure"]
            .as_str()
            .unwrap()
            .contains("OSProvisioningTimedOut"),
        "{done:#}"
    );
}
