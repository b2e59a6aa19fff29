//! The `rbac-guest` strategy through the host (GrantGuest and RemoveGuest on their own
//! queues): `local-run --demo --strategy rbac-guest`'s run. The Fabrikam admin is invited,
//! redeems on Microsoft's page, signs in to both tenants with their own account and creates a
//! VM from Contoso's image; a `DELETE` removes the Reader grant and the guest imageshare
//! invited, and the same VM is refused.

use std::time::Duration;

use azure_sim::scenario::demo;
use local_run::{rbac_guest, stack::LocalStore};

use crate::stack::start_scenario;

#[tokio::test]
async fn through_the_host_a_guest_share_lets_the_invited_user_build_a_vm_and_a_revocation_removes_the_guest()
 {
    let (stack, _scratch) = start_scenario(rbac_guest::scenario(), LocalStore::Memory, &[]).await;
    let mut lines = Vec::new();
    let done = rbac_guest::run(&stack, Duration::from_secs(240), |l| {
        lines.push(l.to_owned())
    })
    .await
    .unwrap();
    assert_eq!(done["state"], "Revoked", "{done:#}");
    let text = lines.join("\n");
    for expected in [
        "az login --tenant",
        "redeems the invitation",
        "creates VM vm-fabrikam-guest from Contoso's image: 20",
    ] {
        assert!(text.contains(expected), "{expected:?} in {text}");
    }
    assert!(
        !text.contains("Revoked; after it the same VM answers 20"),
        "after the revocation the VM is refused: {text}"
    );
    assert!(
        !text.contains("the guest's read of the image answers 200"),
        "after the revocation the user's read of the image is refused: {text}"
    );
    assert!(
        text.contains("as the guest, the read of the image answers 200"),
        "granted, the user read the image: {text}"
    );
    let state = stack.sim.state();
    assert!(
        !state
            .guests
            .iter()
            .any(|g| g.mail.eq_ignore_ascii_case(demo::FABRIKAM_ADMIN_UPN)),
        "the guest imageshare invited is removed"
    );
    assert!(
        !state
            .role_assignments
            .iter()
            .any(|a| a.principal_type == "User" && a.role_name == "Reader"),
        "the Reader grant is removed"
    );
    stack.shutdown().await.unwrap();
}
