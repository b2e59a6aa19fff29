//! What the consumer's admin is told once the tenant is in the gallery's sharing profile: the
//! portal path (Create a VM → See all images → Shared images → Direct shared images), the
//! `az vm create` command with the `sharedGalleryImageId`, how to accept the share (API
//! 2025-12-03 added accept/reject of a share; whether accepting is required is not
//! documented, so the notice says how in case it is) and the expiry. The status document
//! shows the same as `nextAction`.

use serde_json::json;
use time::format_description::well_known::Rfc3339;

use super::{
    Run,
    accept::{ACCEPT_API, accept_path},
    notify::{self, Notice},
};
use crate::{
    azure::AzureError, context::AppContext, domain::ShareRequest, html::escape, status::NextAction,
};

struct Instructions {
    steps: Vec<String>,
    shared_id: String,
    command: String,
    accept: String,
    expires: String,
}

fn instructions(request: &ShareRequest) -> Instructions {
    let record = request.progress.direct_share.clone().unwrap_or_default();
    let tenant = request.consumer.tenant_id;
    let shared_id = record.shared_image_id(request.image.image(), request.image.version());
    Instructions {
        steps: vec![
            format!("Sign in to the Azure portal in your own directory ({tenant}): no directory switch, no app and no consent are needed."),
            "Open Virtual machines → Create → Azure virtual machine.".to_owned(),
            "Under Image choose \"See all images\" → Shared Images → Direct Shared Images, and pick the image below (it is listed because the image owner shared its gallery with your tenant).".to_owned(),
            format!(
                "Create the VM in your subscription {} (resource group {} suggested).",
                request.consumer.subscription_id, request.consumer.resource_group
            ),
        ],
        command: format!(
            "az vm create --subscription {} --resource-group {} --name <vm-name> --image {shared_id} --admin-username azureuser --generate-ssh-keys",
            request.consumer.subscription_id, request.consumer.resource_group
        ),
        accept: format!(
            "az rest --method post --url \"https://management.azure.com{}?api-version={ACCEPT_API}\"",
            accept_path(request, &record)
        ),
        shared_id,
        expires: record
            .expires_at
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_default(),
    }
}

/// `nextAction` of a shared request.
pub(crate) fn next_action(_ctx: &AppContext, request: &ShareRequest) -> Option<NextAction> {
    let i = instructions(request);
    Some(NextAction {
        actor: "consumer-admin",
        description: format!(
            "{} If your tenant is asked to accept the share first, run: {} The share ends at {}.",
            i.steps.join(" "),
            i.accept,
            i.expires
        ),
        url: Some("https://portal.azure.com/#create/Microsoft.VirtualMachine".to_owned()),
        command: Some(i.command),
    })
}

/// Sends the admin the instructions (mail or webhook).
pub(super) async fn send(run: &Run<'_>, request: &ShareRequest) -> Result<(), AzureError> {
    let i = instructions(request);
    let steps: String = i
        .steps
        .iter()
        .map(|s| format!("<li>{}</li>", escape(s)))
        .collect();
    let made = request.progress.vm.vm_id.clone();
    let made_html = made.as_deref().map_or_else(String::new, |vm| {
        format!(
            "<p>As you approved, imageshare created the VM <code>{}</code> from the shared image.</p>",
            escape(vm)
        )
    });
    let html = format!(
        "{made_html}<p>The image owner shared the VM image <b>{name}</b> with your tenant <code>{tenant}</code> by sharing its gallery directly with the tenant (Azure Compute Gallery direct sharing), until {expires}. No app, no consent and no role grant are needed.</p>\
         <ol>{steps}</ol>\
         <p>Image: <code>{shared}</code></p>\
         <p>Or, signed in to your tenant with the Azure CLI:<br><code>{command}</code></p>\
         <p>If Azure asks your tenant to accept the share first (the documentation does not say whether it must), accept it with:<br><code>{accept}</code></p>\
         <p>VMs made from a shared image need access to it for reimage and scale-out: after the share ends, those operations fail. Request {id}.</p>",
        name = escape(&request.image_name),
        tenant = request.consumer.tenant_id,
        expires = escape(&i.expires),
        shared = escape(&i.shared_id),
        command = escape(&i.command),
        accept = escape(&i.accept),
        id = request.id,
    );
    let webhook = json!({
        "type": "imageshare.direct-shared",
        "requestId": request.id,
        "consumerTenantId": request.consumer.tenant_id,
        "adminEmail": request.consumer.admin_email,
        "image": request.image_name,
        "sharedGalleryImageId": i.shared_id,
        "portalSteps": i.steps,
        "command": i.command,
        "acceptCommand": i.accept,
        "expiresAt": i.expires,
        "vmId": made,
    });
    let notice = Notice {
        subject: "A VM image is shared with your tenant (direct shared gallery)",
        html,
        webhook,
        key: format!("{}:direct-shared", request.id),
        to: None,
    };
    notify::deliver(run, request, notice).await
}
