//! What the invited user is told once the guest holds Reader: the seed's consumer-side steps
//! for sharing by RBAC, ready to copy. Accept the invitation; sign in to the owner's tenant
//! (as the guest) and to their own tenant with the Azure CLI; `az vm create --image <the
//! image version's resource id>` — the CLI finds the token of the image's tenant among its
//! sign-ins and sends it as the auxiliary token. The status document shows the same as
//! `nextAction`; the consumer's admin, when another address, is not mailed.

use serde_json::json;
use time::format_description::well_known::Rfc3339;

use super::{
    Run,
    notify::{self, Notice},
};
use crate::{
    azure::AzureError, context::AppContext, domain::ShareRequest, html::escape, status::NextAction,
};

/// The text Graph's invitation mail carries (`invitedUserMessageInfo.customizedMessageBody`).
pub(super) fn invitation_message(request: &ShareRequest) -> String {
    format!(
        "The owner of the VM image '{}' invites you as a guest so you can create VMs from it in your own subscription. Accept this invitation; a second message from imageshare gives the steps. Request {}.",
        request.image_name, request.id
    )
}

/// The consumer's commands, in order.
fn commands(ctx: &AppContext, request: &ShareRequest) -> Vec<String> {
    vec![
        "az account clear".to_owned(),
        format!("az login --tenant {}", ctx.settings.owner_tenant),
        format!("az login --tenant {}", request.consumer.tenant_id),
        format!(
            "az vm create --subscription {} --resource-group {} --name <vm-name> --image {} --admin-username azureuser --generate-ssh-keys",
            request.consumer.subscription_id, request.consumer.resource_group, request.image
        ),
    ]
}

fn expires(request: &ShareRequest) -> String {
    request
        .progress
        .guest
        .as_ref()
        .and_then(|g| g.expires_at)
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// `nextAction` of a granted request.
pub(crate) fn next_action(ctx: &AppContext, request: &ShareRequest) -> Option<NextAction> {
    let email = request.guest.as_ref()?.email.as_str().to_owned();
    let commands = commands(ctx, request);
    Some(NextAction {
        actor: "consumer-user",
        description: format!(
            "{email} accepts the invitation from Microsoft Invitations (once), then signs in with the Azure CLI to the image owner's tenant and to their own, and creates the VM (the Reader grant can take up to 10 minutes to apply): {}. Access ends at {}.",
            commands.join(" && "),
            expires(request)
        ),
        url: None,
        command: commands.last().cloned(),
    })
}

/// Sends the steps to the invited user (mail) or the webhook.
pub(super) async fn send(run: &Run<'_>, request: &ShareRequest) -> Result<(), AzureError> {
    let Some(plan) = request.guest.as_ref() else {
        return Ok(());
    };
    let commands = commands(run.ctx, request);
    let expires = expires(request);
    let html = format!(
        "<p>The image owner gave you, as a guest of their tenant <code>{owner}</code>, read access to the VM image <b>{name}</b> until {expires}, so you can create VMs from it in your subscription <code>{sub}</code>.</p>\
         <ol><li>Accept the invitation from Microsoft Invitations (sent separately), signing in with your own account.</li>\
         <li>Sign in with the Azure CLI to both tenants, then create the VM (your read access can take up to 10 minutes to apply; if az vm create answers LinkedAuthorizationFailed, try again shortly):<br><code>{commands}</code></li></ol>\
         <p>Image: <code>{image}</code>. VMs made from a shared image need read access to it for reimage and scale-out: after the access ends, those operations fail. Request {id}.</p>",
        owner = run.ctx.settings.owner_tenant,
        name = escape(&request.image_name),
        expires = escape(&expires),
        sub = request.consumer.subscription_id,
        commands = commands
            .iter()
            .map(|c| escape(c))
            .collect::<Vec<_>>()
            .join("<br>"),
        image = escape(&request.image.to_string()),
        id = request.id,
    );
    let webhook = json!({
        "type": "imageshare.guest-granted",
        "requestId": request.id,
        "consumerTenantId": request.consumer.tenant_id,
        "guestEmail": plan.email,
        "image": request.image_name,
        "imageId": request.image.to_string(),
        "commands": commands,
        "expiresAt": expires,
    });
    let notice = Notice {
        subject: "You can create VMs from a shared image (guest access)",
        html,
        webhook,
        key: format!("{}:guest-granted", request.id),
        to: Some(plan.email.as_str().to_owned()),
    };
    notify::deliver(run, request, notice).await
}
