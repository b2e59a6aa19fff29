//! What the consumer's admin is told once the delegation is in place: the seed's portal
//! steps (switch directory; Create a VM → See all images → My items → Shared images), a deep
//! link to the image in the portal, the image id, the `az vm create` command and the expiry.
//! The status document shows the same as `nextAction`.

use serde_json::json;
use time::format_description::well_known::Rfc3339;

use super::{
    Run,
    notify::{self, Notice},
};
use crate::{
    azure::AzureError, context::AppContext, domain::ShareRequest, html::escape, status::NextAction,
};

/// The admin's instructions for a delegated request.
pub(super) struct Instructions {
    steps: Vec<String>,
    portal: String,
    command: String,
    expires: String,
}

pub(super) fn instructions(request: &ShareRequest) -> Instructions {
    let tenant = request.consumer.tenant_id;
    let image = &request.image;
    let expires = request
        .progress
        .delegation
        .as_ref()
        .and_then(|d| d.expires_at)
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default();
    Instructions {
        steps: vec![
            format!(
                "Sign in to the Azure portal as one of the delegated principals and switch to your own directory ({tenant}) if it is not the current one."
            ),
            "Open Virtual machines → Create → Azure virtual machine.".to_owned(),
            "Under Image choose \"See all images\" → My items → Shared images, and pick the image below (it is listed because the image owner delegated its resource group to your tenant).".to_owned(),
            format!(
                "Create the VM in your subscription {} (resource group {} suggested).",
                request.consumer.subscription_id, request.consumer.resource_group
            ),
        ],
        portal: format!(
            "https://portal.azure.com/#@{tenant}/resource{}/overview",
            image.image_definition_id()
        ),
        command: format!(
            "az vm create --subscription {} --resource-group {} --name <vm-name> --image {image} --admin-username azureuser --generate-ssh-keys",
            request.consumer.subscription_id, request.consumer.resource_group
        ),
        expires,
    }
}

/// `nextAction` of a delegated request.
pub(crate) fn next_action(_ctx: &AppContext, request: &ShareRequest) -> Option<NextAction> {
    let i = instructions(request);
    Some(NextAction {
        actor: "consumer-admin",
        description: format!(
            "{} The delegation ends {}.",
            i.steps.join(" "),
            if i.expires.is_empty() {
                "when its lifetime is over".to_owned()
            } else {
                format!("at {}", i.expires)
            }
        ),
        url: Some(i.portal),
        command: Some(i.command),
    })
}

/// Sends the admin the instructions (mail or webhook; nothing with `status`).
/// `done_url` is the single-use "we are done" link (absent with `status` notifications).
pub(super) async fn send(
    run: &Run<'_>,
    request: &ShareRequest,
    done_url: Option<&str>,
) -> Result<(), AzureError> {
    let i = instructions(request);
    let steps: String = i
        .steps
        .iter()
        .map(|s| format!("<li>{}</li>", escape(s)))
        .collect();
    let html = format!(
        "<p>The image owner shared the VM image <b>{name}</b> with your tenant <code>{tenant}</code> through Azure Lighthouse: its resource group is delegated to the principals named in the request, with Reader access, until {expires}. No app and no consent are needed.</p>\
         <ol>{steps}</ol>\
         <p>Image: <code>{image}</code><br><a href=\"{portal}\">Open the image in the Azure portal</a></p>\
         <p>Or, signed in to your tenant with the Azure CLI:<br><code>{command}</code></p>\
         <p>VMs made from a shared image need read access to it for reimage and scale-out: after the delegation ends, those operations fail. Your principals may remove the delegation earlier themselves (Service providers → Delegations).</p>\
         {done}<p>Request {id}.</p>",
        name = escape(&request.image_name),
        tenant = request.consumer.tenant_id,
        expires = escape(&i.expires),
        image = escape(&request.image.to_string()),
        portal = escape(&i.portal),
        command = escape(&i.command),
        done = done_url.map_or_else(String::new, |url| format!(
            "<p>Done with the image before then? <a href=\"{}\">Tell the image owner you are done</a> and the delegation is removed now (the page asks you to confirm; the link works once).</p>",
            escape(url)
        )),
        id = request.id,
    );
    let webhook = json!({
        "type": "imageshare.delegated",
        "requestId": request.id,
        "consumerTenantId": request.consumer.tenant_id,
        "adminEmail": request.consumer.admin_email,
        "image": request.image_name,
        "imageId": request.image.to_string(),
        "portalSteps": i.steps,
        "portalUrl": i.portal,
        "command": i.command,
        "expiresAt": i.expires,
        // Single-use, for the admin only: the receiver relays it, never logs it.
        "doneUrl": done_url,
    });
    let notice = Notice {
        subject: "A VM image is shared with your tenant (Azure Lighthouse)",
        html,
        webhook,
        key: format!("{}:delegated", request.id),
        to: None,
    };
    notify::deliver(run, request, notice).await
}
