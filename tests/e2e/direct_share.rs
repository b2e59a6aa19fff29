//! The `direct-share` strategy through the host (ShareGallery and UnshareGallery on their own
//! queues): `local-run --demo --strategy direct-share`'s run. Before the share the Fabrikam
//! admin's VM from `sharedGalleryImageId` is refused; shared, the same PUT with Fabrikam's own
//! sign-in (no auxiliary token) creates it; a `DELETE` removes Fabrikam from the gallery's
//! sharing profile, another tenant's share stays, and the VM is refused again.

use std::time::Duration;

use azure_sim::scenario::demo;
use local_run::{direct_share, stack::LocalStore};

use crate::stack::start_scenario;

const OTHER_TENANT: &str = "33333333-3333-4333-8333-333333333333";

#[tokio::test]
async fn through_the_host_a_direct_share_lets_the_consumer_build_a_vm_and_a_revocation_removes_only_its_tenant()
 {
    let mut scenario = direct_share::scenario();
    scenario.galleries[0].shared_with_tenants = vec![OTHER_TENANT.to_owned()];
    let (stack, _scratch) = start_scenario(scenario, LocalStore::Memory, &[]).await;
    let mut lines = Vec::new();
    let done = direct_share::run(&stack, Duration::from_secs(240), |l| {
        lines.push(l.to_owned())
    })
    .await
    .unwrap();
    assert_eq!(done["state"], "Revoked", "{done:#}");
    let text = lines.join("\n");
    for expected in [
        "answers 404",
        "creates VM vm-fabrikam-ds from the shared image: 20",
        "Direct Shared Images",
        "Revoked; after it the Fabrikam admin's VM from the shared image answers 404",
    ] {
        assert!(text.contains(expected), "{expected:?} in {text}");
    }
    let tenants = stack
        .sim
        .state()
        .gallery_sharing(demo::GALLERY_ID)
        .map(|p| p.tenants())
        .unwrap_or_default();
    assert_eq!(tenants, [OTHER_TENANT], "only Fabrikam's share is removed");
    let adds = stack
        .sim
        .requests()
        .iter()
        .filter(|r| {
            r.method == "POST"
                && r.path_and_query
                    .contains("/galleries/contosoGallery/share?")
        })
        .count();
    assert_eq!(adds, 2, "one Add and one Remove");
    stack.shutdown().await.unwrap();
}

#[tokio::test]
async fn through_the_host_a_direct_share_with_a_vm_makes_the_vm_after_the_approval_and_ends_at_expiry()
 {
    let mut scenario = direct_share::scenario();
    scenario.galleries[0].shared_with_tenants = vec![OTHER_TENANT.to_owned()];
    let (stack, _scratch) = start_scenario(scenario, LocalStore::Memory, &[]).await;
    let mut lines = Vec::new();
    let done = direct_share::run_with_vm(&stack, Duration::from_secs(240), |l| {
        lines.push(l.to_owned())
    })
    .await
    .unwrap();
    assert_eq!(done["state"], "Completed", "{done:#}");
    let text = lines.join("\n");
    assert!(
        text.contains("after it a new VM from the shared image answers 404"),
        "{text}"
    );
    let requests = stack.sim.requests();
    let count = |method: &str, part: &str| {
        requests
            .iter()
            .filter(|r| r.method == method && r.path_and_query.contains(part))
            .count()
    };
    assert_eq!(
        count("POST", "/galleries/contosoGallery/share?"),
        2,
        "one Add, one Remove"
    );
    assert_eq!(count("POST", "/sharedGalleries/contosoGallery/accept?"), 1);
    let vm_puts: Vec<u16> = requests
        .iter()
        .filter(|r| {
            r.method == "PUT"
                && r.path_and_query
                    .contains("/virtualMachines/vm-fabrikam-01?")
        })
        .map(|r| r.status)
        .collect();
    assert!(vm_puts.contains(&201), "{vm_puts:?}");
    let assignments = stack.sim.state().role_assignments;
    assert!(
        !assignments
            .iter()
            .any(|a| a.scope.contains("/galleries/contosoGallery")
                && a.role_definition_id
                    .ends_with("acdd72a7-3385-48ef-bd42-f606fba81ae7")),
        "no Reader on the gallery: {assignments:#?}"
    );
    let tenants = stack
        .sim
        .state()
        .gallery_sharing(demo::GALLERY_ID)
        .map(|p| p.tenants())
        .unwrap_or_default();
    assert_eq!(tenants, [OTHER_TENANT], "only Fabrikam's share is removed");
    stack.shutdown().await.unwrap();
}
