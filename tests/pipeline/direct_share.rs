//! The `direct-share` strategy against the simulator: the consumer's tenant added once to the
//! gallery's sharing profile, a VM created by the consumer's own user from
//! `sharedGalleryImageId`, the tenant removed at the end of the lifetime or on revocation
//! (that tenant only), and the preflight refusals.

use azure_sim::{Scenario, scenario::demo};
use serde_json::Value;

use crate::harness::{Harness, is_terminal};

/// Another tenant the gallery is already shared with (not in the demo's directory).
const OTHER_TENANT: &str = "33333333-3333-4333-8333-333333333333";

fn share_posts(h: &Harness) -> usize {
    h.sim
        .requests()
        .iter()
        .filter(|r| {
            r.method == "POST"
                && r.path_and_query
                    .contains("/galleries/contosoGallery/share?")
        })
        .count()
}

fn tenants(h: &Harness) -> Vec<String> {
    h.sim
        .state()
        .gallery_sharing(demo::GALLERY_ID)
        .map(|p| p.tenants())
        .unwrap_or_default()
}

async fn consumer_vm(h: &Harness, name: &str) -> (u16, Value) {
    local_run::lighthouse::consumer_creates_vm_from(
        &h.transport,
        name,
        serde_json::json!({"sharedGalleryImageId": local_run::direct_share::shared_image_id()}),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn two_direct_shares_add_the_tenant_once_the_consumer_builds_a_vm_and_at_expiry_only_it_is_removed()
 {
    let mut scenario = local_run::direct_share::scenario();
    scenario.galleries[0].shared_with_tenants = vec![OTHER_TENANT.to_owned()];
    let h = Harness::start(scenario, &[]).await;
    let (before, body) = consumer_vm(&h, "vm-before").await;
    assert_eq!(before, 404, "not shared yet: {body}");

    let document = local_run::direct_share::request(Some(3));
    let first = h.submit(&document).await;
    let second = h.submit(&document).await;
    let shared = h
        .run_all_until(&[first, second], |all| {
            all.iter().all(|s| s["state"] == "Shared" || is_terminal(s))
        })
        .await;
    for s in &shared {
        assert_eq!(s["state"], "Shared", "{s:#}");
        assert_eq!(
            s["directShare"]["sharedGalleryImageId"],
            local_run::direct_share::shared_image_id()
        );
        assert_eq!(s["nextAction"]["actor"], "consumer-admin");
        assert!(
            s["nextAction"]["command"]
                .as_str()
                .unwrap()
                .contains("--image /SharedGalleries/")
        );
    }
    assert_eq!(share_posts(&h), 1, "one Add for both requests");
    let mut now = tenants(&h);
    now.sort();
    assert_eq!(
        now,
        [demo::FABRIKAM_TENANT, OTHER_TENANT],
        "the tenant is there once"
    );
    let mails = h
        .sim
        .outbox(demo::CONTOSO_TENANT)
        .iter()
        .filter(|m| {
            m.content.contains("Direct Shared Images") && m.content.contains("/SharedGalleries/")
        })
        .count();
    assert_eq!(mails, 2, "each request's admin is told once");

    let (status, body) = consumer_vm(&h, "vm-ds").await;
    assert!(
        status == 200 || status == 201,
        "the consumer's own user creates the VM from the shared image: {status} {body}"
    );

    let ended = h
        .run_all_until(&[first, second], |all| all.iter().all(is_terminal))
        .await;
    for s in &ended {
        assert_eq!(s["state"], "Completed", "{s:#}");
    }
    let removed: usize = ended
        .iter()
        .map(|s| s["directShare"]["removed"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(
        removed, 1,
        "the last request removes the tenant: {ended:#?}"
    );
    assert_eq!(
        tenants(&h),
        [OTHER_TENANT],
        "only this tenant is removed; the other tenant's share stays"
    );
    let (after, body) = consumer_vm(&h, "vm-after").await;
    assert_eq!(after, 404, "the share is gone: {body}");
}

#[tokio::test]
async fn revoking_a_direct_share_removes_the_tenant_and_ends_it_revoked() {
    let h = Harness::start(local_run::direct_share::scenario(), &[]).await;
    let id = h.submit(&local_run::direct_share::request(None)).await;
    let shared = h.until_state(id, "Shared").await;
    assert_eq!(
        shared["directShare"]["lifetimeDays"], 30,
        "the default lifetime"
    );
    assert_eq!(tenants(&h), [demo::FABRIKAM_TENANT]);
    let response = h
        .client
        .delete(format!("{}/api/share-requests/{id}", h.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let revoked = h
        .run_until(id, |s| s["state"] == "Revoked" || is_terminal(s))
        .await;
    assert_eq!(revoked["state"], "Revoked", "{revoked:#}");
    assert!(tenants(&h).is_empty());
    assert_eq!(share_posts(&h), 2, "one Add, one Remove");
}

/// The failure of a request in `scenario` once it ended (the tenant was not shared with),
/// and how many share calls were made.
async fn refusal(scenario: Scenario) -> (String, usize) {
    let h = Harness::start(scenario, &[]).await;
    let id = h.submit(&local_run::direct_share::request(None)).await;
    let failed = h.run_until(id, is_terminal).await;
    assert_eq!(failed["state"], "Failed", "{failed:#}");
    assert!(!tenants(&h).contains(&demo::FABRIKAM_TENANT.to_owned()));
    (
        failed["failure"].as_str().unwrap().to_owned(),
        share_posts(&h),
    )
}

#[tokio::test]
async fn a_direct_share_of_a_private_gallery_is_refused_with_how_to_make_one() {
    let mut scenario = local_run::direct_share::scenario();
    scenario.galleries[0].sharing_permissions = "Private".to_owned();
    let (reason, posts) = refusal(scenario).await;
    assert_eq!(posts, 0, "nothing was posted");
    assert!(
        reason.contains("'Private'") && reason.contains("--permissions groups"),
        "{reason}"
    );
}

#[tokio::test]
async fn a_direct_share_to_a_sixth_tenant_is_refused() {
    let mut scenario = local_run::direct_share::scenario();
    scenario.galleries[0].shared_with_tenants = (1..=5)
        .map(|n| format!("3333333{n}-3333-4333-8333-333333333333"))
        .collect();
    let (reason, posts) = refusal(scenario).await;
    assert_eq!(posts, 0, "nothing was posted");
    assert!(reason.contains("already shared with 5 tenants"), "{reason}");
}

#[tokio::test]
async fn a_direct_share_from_a_subscription_without_the_preview_is_refused_with_how_to_register() {
    let mut scenario = local_run::direct_share::scenario();
    for s in &mut scenario.subscriptions {
        s.registered_features.clear();
    }
    // The operator may not read the subscription's features: the share call refuses.
    let (reason, _) = refusal(scenario).await;
    assert!(
        reason.contains("Microsoft.Compute/SIGSharing")
            && reason.contains("aka.ms/directsharedgallery-preview"),
        "{reason}"
    );
}

#[tokio::test]
async fn a_direct_share_names_the_action_the_operator_identity_lacks() {
    let mut scenario = local_run::direct_share::scenario();
    scenario
        .role_assignments
        .retain(|a| a.role != "Compute Gallery Sharing Admin");
    let (reason, posts) = refusal(scenario).await;
    assert_eq!(posts, 0, "nothing was posted");
    assert!(
        reason.contains("Microsoft.Compute/galleries/share/action")
            && reason.contains("directShareAdmin=true"),
        "{reason}"
    );
}

#[tokio::test]
async fn a_direct_share_of_a_version_outside_the_gallerys_home_region_is_refused() {
    let mut scenario = local_run::direct_share::scenario();
    scenario.gallery_image_versions[0].location = "westeurope".to_owned();
    let (reason, posts) = refusal(scenario).await;
    assert_eq!(posts, 0, "nothing was posted");
    assert!(
        reason.contains("in westeurope, not in its gallery's home region eastus"),
        "{reason}"
    );
}

#[tokio::test]
async fn a_direct_share_of_a_version_encrypted_with_a_customer_key_is_refused() {
    let mut scenario = local_run::direct_share::scenario();
    scenario.gallery_image_versions[0].disk_encryption_set_id = Some(
        "/subscriptions/1a1a1a1a-1111-4111-8111-111111111111/resourceGroups/rg-images/providers/Microsoft.Compute/diskEncryptionSets/des-images".to_owned(),
    );
    let (reason, posts) = refusal(scenario).await;
    assert_eq!(posts, 0, "nothing was posted");
    assert!(
        reason.contains("encrypted with a customer-managed key"),
        "{reason}"
    );
}

fn accept_posts(h: &Harness) -> usize {
    h.sim
        .requests()
        .iter()
        .filter(|r| {
            r.method == "POST"
                && r.path_and_query
                    .contains("/sharedGalleries/contosoGallery/accept?")
        })
        .count()
}

fn events(status: &Value) -> Vec<String> {
    status["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_owned())
        .collect()
}

/// The VM imageshare made for the demo request, as the simulator holds it.
fn made_vm(h: &Harness) -> Option<Value> {
    let id = format!(
        "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Compute/virtualMachines/vm-fabrikam-01",
        demo::FABRIKAM_SUBSCRIPTION,
        demo::FABRIKAM_RESOURCE_GROUP
    );
    let world = h.sim.context().world();
    world.arm.get(&id).map(|v| v.body.clone())
}

#[tokio::test]
async fn a_direct_share_with_a_vm_shares_only_after_the_approval_and_makes_the_vm_from_the_shared_image()
 {
    let mut scenario = local_run::direct_share::scenario();
    scenario.galleries[0].shared_with_tenants = vec![OTHER_TENANT.to_owned()];
    let h = Harness::start(scenario, &[]).await;
    let id = h
        .submit(&local_run::direct_share::request_with_vm(Some(3)))
        .await;
    let waiting = h.until_state(id, "AwaitingConsent").await;
    assert_eq!(waiting["state"], "AwaitingConsent", "{waiting:#}");
    assert_eq!(share_posts(&h), 0, "nothing is shared before the approval");
    assert_eq!(tenants(&h), [OTHER_TENANT]);

    h.admin_consents_and_grants(id).await;
    let shared = h.until_state(id, "Shared").await;
    assert_eq!(shared["state"], "Shared", "{shared:#}");
    assert_eq!(share_posts(&h), 1, "one Add");
    assert_eq!(accept_posts(&h), 1, "accepted once on the admin's behalf");
    let vm = made_vm(&h).expect("the VM imageshare made");
    assert_eq!(
        vm["properties"]["storageProfile"]["imageReference"]["sharedGalleryImageId"],
        local_run::direct_share::shared_image_id(),
        "made from the shared image: {vm:#}"
    );
    let c = crate::happy_path::counts(&h);
    assert_eq!(c.apps, 1);
    assert_eq!(
        c.reader_assignments, 0,
        "no Reader grant: the share is the permission"
    );
    assert_eq!(c.vms, 1);
    assert_eq!(c.consent_mails, 1);
    assert_eq!(
        events(&shared),
        [
            "submitted",
            "credentials-issued",
            "consent-requested",
            "consent-reported",
            "consent-confirmed",
            "access-confirmed",
            "sharing",
            "shared",
            "share-accepted",
            "vm-creation-started",
            "shared",
            "direct-share-notice",
        ]
    );

    // Only the share's lifetime is left: the app's credential is released now, and at the
    // end only this tenant leaves the profile; the VM stays the consumer's.
    let released = h
        .run_until(id, |s| s["accessRelease"].is_object() || is_terminal(s))
        .await;
    assert!(released["accessRelease"].is_object(), "{released:#}");
    assert_eq!(crate::happy_path::counts(&h).live_credentials, 0);
    let ended = h.run_until(id, is_terminal).await;
    assert_eq!(ended["state"], "Completed", "{ended:#}");
    assert_eq!(tenants(&h), [OTHER_TENANT], "only this tenant is removed");
    assert!(made_vm(&h).is_some(), "the VM stays");
}

#[tokio::test]
async fn revoking_a_direct_share_with_a_vm_removes_the_vm_the_share_and_the_app() {
    let mut scenario = local_run::direct_share::scenario();
    scenario.galleries[0].shared_with_tenants = vec![OTHER_TENANT.to_owned()];
    let h = Harness::start(scenario, &[]).await;
    let id = h
        .submit(&local_run::direct_share::request_with_vm(None))
        .await;
    h.admin_consents_and_grants(id).await;
    let shared = h.until_state(id, "Shared").await;
    assert_eq!(shared["state"], "Shared", "{shared:#}");
    let response = h
        .client
        .delete(format!(
            "{}/api/share-requests/{id}?deleteResources=true",
            h.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let revoked = h.run_until(id, is_terminal).await;
    assert_eq!(revoked["state"], "Revoked", "{revoked:#}");
    assert_eq!(tenants(&h), [OTHER_TENANT], "only this tenant is removed");
    assert!(made_vm(&h).is_none(), "the VM is deleted as asked");
    let c = crate::happy_path::counts(&h);
    assert_eq!(c.apps, 0, "the app is gone");
    let removed: Vec<&str> = revoked["revocation"]["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["what"].as_str().unwrap())
        .collect();
    assert!(removed.contains(&"gallery-share"), "{removed:?}");
}

#[tokio::test]
async fn a_direct_share_with_a_vm_of_a_private_gallery_fails_before_any_app_or_mail() {
    let mut scenario = local_run::direct_share::scenario();
    scenario.galleries[0].sharing_permissions = "Private".to_owned();
    let h = Harness::start(scenario, &[]).await;
    let id = h
        .submit(&local_run::direct_share::request_with_vm(None))
        .await;
    let failed = h.run_until(id, is_terminal).await;
    assert_eq!(failed["state"], "Failed", "{failed:#}");
    assert!(
        failed["failure"]
            .as_str()
            .unwrap()
            .contains("--permissions groups"),
        "{failed:#}"
    );
    let c = crate::happy_path::counts(&h);
    assert_eq!((c.apps, c.consent_mails), (0, 0), "no app, no mail");
}

#[tokio::test]
async fn where_azure_requires_the_share_accepted_the_approved_request_accepts_it_and_makes_the_vm()
{
    let mut scenario = local_run::direct_share::scenario();
    scenario.arm.direct_share_requires_accept = true;
    let h = Harness::start(scenario, &[]).await;
    let (refused, body) = consumer_vm(&h, "vm-unaccepted").await;
    assert_eq!(refused, 404, "{body}");
    let id = h
        .submit(&local_run::direct_share::request_with_vm(None))
        .await;
    h.admin_consents_and_grants(id).await;
    let shared = h.until_state(id, "Shared").await;
    assert_eq!(shared["state"], "Shared", "{shared:#}");
    assert_eq!(accept_posts(&h), 1);
    assert!(made_vm(&h).is_some());
}
