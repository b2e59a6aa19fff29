//! Telling the consumer's admin what to do: by mail (Graph `sendMail` from the operator's
//! mailbox), by webhook, or only in the status document. Links are made browsable here, at
//! the edge (DESIGN §5).

use reqwest::Method;
use serde_json::json;
use url::Url;

use super::Run;
use crate::{
    azure::{ApiCall, AzureError, Service},
    config::NotifySettings,
    domain::{Delivery, ShareRequest},
    html::escape,
    status::role_grant,
    webhook_signature::WebhookSecret,
};

/// The delivery configured.
pub fn delivery(settings: &NotifySettings) -> Delivery {
    match settings {
        NotifySettings::Mail { .. } => Delivery::Mail,
        NotifySettings::Webhook { .. } => Delivery::Webhook,
        NotifySettings::StatusOnly => Delivery::Status,
    }
}

/// Whether a failed delivery surely did not happen (so it can be tried again without risking
/// a second mail). A timeout or a 500/502/504 may hide a delivery that did happen.
pub fn surely_not_delivered(error: &AzureError) -> bool {
    matches!(error.status(), Some(400..=499 | 503))
}

/// The Azure clients, as the error of the service that could not be reached without them.
pub(super) fn cloud<'a>(
    run: &'a Run<'_>,
    service: Service,
) -> Result<&'a crate::cloud::Cloud, AzureError> {
    run.cloud().map_err(|e| AzureError::Unexpected {
        service,
        detail: e.to_string(),
    })
}

/// Sends the admin-consent link for this request. `state_hash` names the link's state, so a
/// webhook receiver drops a repeat of the same link but not a fresh one.
pub async fn consent_link(
    run: &Run<'_>,
    request: &ShareRequest,
    link: &Url,
    state_hash: &str,
    expires: &str,
) -> Result<(), AzureError> {
    let ctx = run.ctx;
    let link = ctx.browser_link(link);
    let (command, portal) = role_grant(request).unwrap_or_default();
    let Some(vm) = request.vm.as_ref() else {
        return Err(AzureError::Unexpected {
            service: Service::Graph,
            detail: "an approval link is only sent for a request with a VM (app-consent)".into(),
        });
    };
    let html = format!(
        "<p>An image owner wants to share the VM image <b>{image}</b> with your tenant <code>{tenant}</code> and create the VM <b>{vm}</b> (size {size}, in {location}) in resource group <b>{rg}</b>. Requested through {origin}.</p>\
         <p>1. As an administrator of your tenant, <a href=\"{link}\">review this request and approve or decline it</a> (the link works once, until {expires}). If your tenant has not consented to the app yet, approving takes you on to Microsoft's consent page. Nothing is created in your tenant before you approve, even if you approved an earlier request.</p>\
         <p>2. Then give the app Contributor on the resource group: <a href=\"{portal}\">in the Azure portal</a>, or run<br><code>{command}</code></p>\
         <p>Nothing else is needed; imageshare creates the VM when both are done. Request {id}.</p>",
        image = escape(&request.image_name),
        tenant = request.consumer.tenant_id,
        vm = escape(vm.name.as_str()),
        size = escape(vm.size.as_str()),
        location = escape(vm.location.as_str()),
        origin = escape(&request.requested_by_text()),
        rg = escape(request.consumer.resource_group.as_str()),
        link = escape(&link),
        expires = escape(expires),
        portal = escape(&portal),
        command = escape(&command),
        id = request.id,
    );
    let body = json!({
        "type": "imageshare.consent-link",
        "requestId": request.id,
        "consumerTenantId": request.consumer.tenant_id,
        "adminEmail": request.consumer.admin_email,
        // The approval page's link; `consentUrl` is its earlier name, kept for
        // receivers written against it.
        "approvalUrl": link,
        "consentUrl": link,
        "image": request.image_name,
        "vm": {"name": vm.name, "size": vm.size, "location": vm.location},
        "resourceGroup": request.consumer.resource_group,
        "requestedBy": request.requested_by_text(),
        "expiresAt": expires,
        "roleGrant": {"role": "Contributor", "command": command, "portalUrl": portal},
    });
    let id = format!(
        "{}:consent-link:{}",
        request.id,
        state_hash.get(..16).unwrap_or(state_hash)
    );
    let notice = Notice {
        subject: "Action needed: approve a shared VM image",
        html,
        webhook: body,
        key: id,
        to: None,
    };
    deliver(run, request, notice).await
}

/// Tells the admin the request expired.
pub async fn expired(run: &Run<'_>, request: &ShareRequest) -> Result<(), AzureError> {
    let html = format!(
        "<p>The request to share the VM image <b>{}</b> with your tenant <code>{}</code> expired before consent and the role grant were complete. Nothing will be created. Ask the image owner for a new request if you still need it. Request {}.</p>",
        escape(&request.image_name),
        request.consumer.tenant_id,
        request.id
    );
    let body = json!({"type": "imageshare.expired", "requestId": request.id, "consumerTenantId": request.consumer.tenant_id});
    let notice = Notice {
        subject: "Shared VM image request expired",
        html,
        webhook: body,
        key: format!("{}:expired", request.id),
        to: None,
    };
    deliver(run, request, notice).await
}

/// Tells the admin a share was revoked: what imageshare removed, and what only they can
/// remove in their tenant (the enterprise application, the role grant), with the portal path
/// and the command.
pub async fn revoked(run: &Run<'_>, request: &ShareRequest) -> Result<(), AzureError> {
    let actions = crate::status::consumer_actions(request);
    let vm_kept = request
        .progress
        .revocation
        .as_ref()
        .is_some_and(|r| !r.delete_resources)
        && request.progress.vm.vm_id.is_some();
    let steps: String = actions
        .iter()
        .map(|a| {
            format!(
                "<li>{}<br>Portal: {}<br>CLI: <code>{}</code></li>",
                escape(&a.what),
                escape(&a.portal),
                escape(&a.command)
            )
        })
        .collect();
    let vm = if vm_kept {
        format!(
            "<p>The VM <b>{}</b> stays in your resource group; it is yours to keep or delete.</p>",
            escape(request.vm.as_ref().map_or("", |vm| vm.name.as_str()))
        )
    } else {
        String::new()
    };
    let html = format!(
        "<p>The image owner revoked the share of the VM image <b>{image}</b> with your tenant <code>{tenant}</code> (request {id}). The owner's side of the access is removed: the app can no longer act in your tenant.</p>{vm}                 <p>What only you can remove in your tenant:</p><ol>{steps}</ol>                 <p>{warning}</p>",
        image = escape(&request.image_name),
        tenant = request.consumer.tenant_id,
        id = request.id,
        warning = escape(crate::status::REIMAGE_WARNING),
    );
    let body = json!({
        "type": "imageshare.revoked",
        "requestId": request.id,
        "consumerTenantId": request.consumer.tenant_id,
        "adminEmail": request.consumer.admin_email,
        "image": request.image_name,
        "consumerActions": actions,
        "warning": crate::status::REIMAGE_WARNING,
    });
    let notice = Notice {
        subject: "Shared VM image access revoked",
        html,
        webhook: body,
        key: format!("{}:revoked", request.id),
        to: None,
    };
    deliver(run, request, notice).await
}

/// One message to the consumer's admin, in each form a delivery takes.
pub(super) struct Notice {
    /// The mail's subject.
    pub(super) subject: &'static str,
    /// The mail's HTML body (every value escaped).
    pub(super) html: String,
    /// The webhook's JSON body.
    pub(super) webhook: serde_json::Value,
    /// The webhook's idempotency key: the same on every retry of this notice.
    pub(super) key: String,
    /// The mail's recipient when it is not the consumer's admin (`rbac-guest`'s invited user).
    pub(super) to: Option<String>,
}

/// Sends `notice` the configured way: a mail to the request's admin, a signed webhook, or
/// nothing (`status`: the status document's `nextAction` says it).
pub(super) async fn deliver(
    run: &Run<'_>,
    request: &ShareRequest,
    notice: Notice,
) -> Result<(), AzureError> {
    match &run.ctx.settings.notify {
        NotifySettings::StatusOnly => Ok(()),
        NotifySettings::Mail { sender } => {
            cloud(run, Service::Graph)?
                .graph
                .send_mail(
                    sender,
                    notice
                        .to
                        .as_deref()
                        .unwrap_or(request.consumer.admin_email.as_str()),
                    notice.subject,
                    &notice.html,
                )
                .await
        }
        NotifySettings::Webhook { url, secret } => {
            post_webhook(run, url, secret, notice.webhook, &notice.key).await
        }
    }
}

async fn post_webhook(
    run: &Run<'_>,
    url: &Url,
    secret: &WebhookSecret,
    body: serde_json::Value,
    key: &str,
) -> Result<(), AzureError> {
    let cloud = cloud(run, Service::Webhook)?;
    // Signed over the exact bytes sent (Standard Webhooks). The id is the idempotency key, the
    // same on every retry, so the receiver can drop the repeats an at-least-once sender makes;
    // the timestamp is fresh, so a replayed old call is refused.
    let bytes = body.to_string().into_bytes();
    let timestamp = run.ctx.clock.now().unix_timestamp();
    let signature = secret.sign(key, timestamp, &bytes);
    let call = ApiCall::new(Service::Webhook, Method::POST, url.clone())
        .raw("application/json", bytes)
        .header("idempotency-key", key)
        .header("webhook-id", key)
        .header("webhook-timestamp", &timestamp.to_string())
        .header("webhook-signature", &signature)
        .idempotent(true);
    cloud.http.send(&call).await.map(|_| ())
}
