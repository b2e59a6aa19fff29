//! `--demo --strategy direct-share`: Contoso's gallery is a `Groups` gallery (direct sharing)
//! and the operator identity holds Compute Gallery Sharing Admin on it. The demo shows the
//! Fabrikam admin's VM from the shared image refused, submits a `direct-share` request,
//! follows it to `Shared`, shows what the admin is told, plays the admin creating a VM from
//! `sharedGalleryImageId` with Fabrikam's own sign-in (no app, no consent, no auxiliary
//! token), then revokes and shows the same VM refused again.
//!
//! `--demo --strategy direct-share-vm` submits the request with a `vm` section: the Fabrikam
//! admin approves and consents in the browser and grants the role, imageshare shares the
//! gallery, creates the VM from `sharedGalleryImageId` and holds the share; the simulator's
//! clock then moves past the share's lifetime, and the share ends (the VM stays).

use std::time::{Duration, Instant};

use anyhow::bail;
use azure_sim::{
    Scenario,
    scenario::{RoleAssignmentSpec, demo},
};
use serde_json::{Value, json};

use crate::{
    lighthouse::consumer_creates_vm_from,
    requests::{submit, until},
    stack::Stack,
};

/// The demo scenario with the gallery shared by groups and the operator allowed to share it.
pub fn scenario() -> Scenario {
    let mut scenario = Scenario::demo();
    for gallery in &mut scenario.galleries {
        gallery.sharing_permissions = "Groups".to_owned();
    }
    scenario.role_assignments.push(RoleAssignmentSpec {
        principal_id: demo::OPERATOR_PRINCIPAL_ID.to_owned(),
        role: "Compute Gallery Sharing Admin".to_owned(),
        scope: demo::GALLERY_ID.to_owned(),
        ..RoleAssignmentSpec::default()
    });
    scenario
}

/// The sample `direct-share` request for Fabrikam.
pub fn request(days: Option<u32>) -> Value {
    let mut document = json!({
        "strategy": "direct-share",
        "consumer": {
            "tenantId": demo::FABRIKAM_TENANT,
            "subscriptionId": demo::FABRIKAM_SUBSCRIPTION,
            "resourceGroup": demo::FABRIKAM_RESOURCE_GROUP,
            "adminEmail": demo::FABRIKAM_ADMIN_UPN
        },
        "image": {"name": "ubuntu-hardened"}
    });
    if let Some(days) = days {
        document["share"] = json!({"days": days});
    }
    document
}

/// The sample `direct-share` request with the demo's `vm` section: imageshare creates the VM
/// from the shared image after the Fabrikam admin's approval and consent.
pub fn request_with_vm(days: Option<u32>) -> Value {
    let mut document = request(days);
    document["vm"] = crate::stack::demo_request()["vm"].clone();
    document
}

/// The consumer's id of the demo image in Contoso's gallery (from its `identifier.uniqueName`).
pub fn shared_image_id() -> String {
    format!(
        "/SharedGalleries/{}/Images/ubuntu-hardened/Versions/1.0.0",
        demo::GALLERY_UNIQUE_NAME
    )
}

/// The Fabrikam admin's VM `name` from the shared image: the VM PUT's status and body.
pub async fn consumer_creates_vm(stack: &Stack, name: &str) -> anyhow::Result<(u16, Value)> {
    consumer_creates_vm_from(
        &stack.transport,
        name,
        json!({"sharedGalleryImageId": shared_image_id()}),
    )
    .await
}

/// Runs the demo, reporting each step through `progress`.
pub async fn run(
    stack: &Stack,
    timeout: Duration,
    mut progress: impl FnMut(&str),
) -> anyhow::Result<Value> {
    let client = reqwest::Client::new();
    let started = Instant::now();
    let (before, _) = consumer_creates_vm(stack, "vm-before-share").await?;
    progress(&format!(
        "before: the Fabrikam admin's VM from {} answers {before}",
        shared_image_id()
    ));
    let (id, url) = submit(stack, &request(None)).await?;
    progress(&format!("submitted direct-share request {id}"));
    let shared = until(&url, &["Shared"], timeout).await?;
    progress(&format!(
        "{:>6.1}s  Shared: {}",
        started.elapsed().as_secs_f64(),
        shared["directShare"]["sharedGalleryImageId"]
    ));
    progress(&format!(
        "the consumer's admin is told: {}\n  or: {}",
        shared["nextAction"]["description"]
            .as_str()
            .unwrap_or_default(),
        shared["nextAction"]["command"].as_str().unwrap_or_default()
    ));
    let (status, body) = consumer_creates_vm(stack, "vm-fabrikam-ds").await?;
    if !matches!(status, 200 | 201) {
        bail!("the Fabrikam admin's VM from the shared image answered {status}: {body}");
    }
    progress(&format!(
        "shared: the Fabrikam admin creates VM vm-fabrikam-ds from the shared image: {status}"
    ));
    let revoked = client.delete(&url).send().await?;
    progress(&format!("DELETE {url}: {}", revoked.status()));
    let done = until(&url, &["Revoked"], timeout).await?;
    let (after, _) = consumer_creates_vm(stack, "vm-after-share").await?;
    progress(&format!(
        "{:>6.1}s  Revoked; after it the Fabrikam admin's VM from the shared image answers {after}",
        started.elapsed().as_secs_f64(),
    ));
    Ok(done)
}

/// Runs the demo with a `vm` section, reporting each step through `progress`.
pub async fn run_with_vm(
    stack: &Stack,
    timeout: Duration,
    mut progress: impl FnMut(&str),
) -> anyhow::Result<Value> {
    let started = Instant::now();
    let (id, url) = submit(stack, &request_with_vm(Some(1))).await?;
    progress(&format!(
        "submitted direct-share request {id} with a vm section"
    ));
    let waiting = until(&url, &["AwaitingConsent"], timeout).await?;
    progress(&format!(
        "{:>6.1}s  {}: nothing is shared before the approval",
        started.elapsed().as_secs_f64(),
        waiting["state"]
    ));
    let link = crate::demo::consent_link_from_mail(&stack.sim)
        .ok_or_else(|| anyhow::anyhow!("no approval link in the admin's mail"))?;
    crate::demo::consent_in_browser(&stack.transport, &link).await?;
    progress("         the consumer's admin opens the link from the mail, approves and consents");
    let granting = until(&url, &["AwaitingRoleGrant"], timeout).await?;
    let app_id = granting["app"]["appId"].as_str().unwrap_or_default();
    crate::demo::grant_contributor(&stack.sim, app_id).await?;
    progress("         the consumer's admin grants the app Contributor on the resource group");
    let shared = until(&url, &["Shared"], timeout).await?;
    progress(&format!(
        "{:>6.1}s  Shared: VM {} made from {}; the share lasts until {}",
        started.elapsed().as_secs_f64(),
        shared["vm"]["id"].as_str().unwrap_or_default(),
        shared["directShare"]["sharedGalleryImageId"],
        shared["directShare"]["expiresAt"]
    ));
    // One day and a minute later on the simulator's clock: the share's end is due.
    stack.sim.advance_clock(Duration::from_secs(24 * 3600 + 60));
    progress("         the simulator's clock moves one day on");
    let done = until(&url, &["Completed"], timeout).await?;
    let (after, _) = consumer_creates_vm(stack, "vm-after-share").await?;
    progress(&format!(
        "{:>6.1}s  Completed; after it a new VM from the shared image answers {after}",
        started.elapsed().as_secs_f64(),
    ));
    Ok(done)
}
