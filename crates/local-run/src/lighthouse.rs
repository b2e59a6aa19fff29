//! `--demo --strategy lighthouse`: submit a `lighthouse` share request, follow it to
//! `Delegated`, show what the consumer's admin is told, play the consumer's principal (its own
//! tenant's sign-in reads the owner's image and creates a VM from it in its own subscription,
//! no app, no consent), then play the admin clicking the notice's "we are done" link, and show
//! the delegation gone and the same read refused.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use azure_sim::{
    Scenario, Sim,
    scenario::{RoleAssignmentSpec, demo},
};
use azure_transport::Transport;
use reqwest::Method;
use serde_json::{Value, json};
use url::Url;

use crate::{
    browser::Browser,
    requests::{submit, until},
    stack::Stack,
};

const ARM: &str = "https://management.azure.com";

/// The demo scenario, with the operator identity allowed to onboard the owner's subscription
/// to Lighthouse (Owner there; `infra/` grants a narrower custom role with
/// `lighthouseDelegator=true`).
pub fn scenario() -> Scenario {
    let mut scenario = Scenario::demo();
    scenario.role_assignments.push(RoleAssignmentSpec {
        principal_id: demo::OPERATOR_PRINCIPAL_ID.to_owned(),
        role: "Owner".to_owned(),
        scope: format!("/subscriptions/{}", demo::CONTOSO_SUBSCRIPTION),
        ..RoleAssignmentSpec::default()
    });
    scenario
}

/// The sample `lighthouse` request: Fabrikam's admin is the delegated principal.
pub fn request(days: Option<u32>) -> Value {
    let mut document = json!({
        "strategy": "lighthouse",
        "consumer": {
            "tenantId": demo::FABRIKAM_TENANT,
            "subscriptionId": demo::FABRIKAM_SUBSCRIPTION,
            "resourceGroup": demo::FABRIKAM_RESOURCE_GROUP,
            "adminEmail": demo::FABRIKAM_ADMIN_UPN,
            "principals": [{"objectId": demo::FABRIKAM_ADMIN_ID, "displayName": "Fabrikam Admin", "kind": "user"}]
        },
        "image": {"name": "ubuntu-hardened"}
    });
    if let Some(days) = days {
        document["delegation"] = json!({"days": days});
    }
    document
}

/// An ARM token of the Fabrikam admin, signed in to Fabrikam only (Azure CLI's public
/// client, as `az login` does).
pub async fn fabrikam_admin_token(transport: &Transport) -> anyhow::Result<String> {
    fabrikam_admin_token_in(transport, demo::FABRIKAM_TENANT).await
}

/// An ARM token of the Fabrikam admin signed in to `tenant` with their own account (`az
/// login --tenant`): Fabrikam's own, or one where they are a guest.
pub async fn fabrikam_admin_token_in(
    transport: &Transport,
    tenant: &str,
) -> anyhow::Result<String> {
    let req = transport
        .client()
        .post(format!(
            "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"
        ))
        .form(&[
            ("client_id", "04b07795-8ddb-461a-bbee-02f9e1bf7b46"),
            ("grant_type", "password"),
            ("username", demo::FABRIKAM_ADMIN_UPN),
            ("password", demo::FABRIKAM_ADMIN_PASSWORD),
            ("scope", "https://management.core.windows.net//.default"),
        ])
        .build()?;
    let token: Value = transport.execute(req).await?.json().await?;
    token["access_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("no token for the Fabrikam admin in {tenant}: {token}"))
}

/// An ARM call as the Fabrikam admin, with a token from Fabrikam's own tenant (no auxiliary
/// token): what the portal or `az` does after the directory switch. Status and body.
pub async fn as_consumer(
    transport: &Transport,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<(u16, Value)> {
    as_consumer_with(transport, method, path, body, None).await
}

/// As [`as_consumer`], with `auxiliary` (a token of another tenant) in
/// `x-ms-authorization-auxiliary`, as `az` sends it for a resource in a tenant it is also
/// signed in to.
async fn as_consumer_with(
    transport: &Transport,
    method: Method,
    path: &str,
    body: Option<Value>,
    auxiliary: Option<&str>,
) -> anyhow::Result<(u16, Value)> {
    let token = fabrikam_admin_token(transport).await?;
    let mut req = transport
        .client()
        .request(method, format!("{ARM}{path}"))
        .bearer_auth(&token);
    if let Some(aux) = auxiliary {
        req = req.header("x-ms-authorization-auxiliary", format!("Bearer {aux}"));
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let response = transport.execute(req.build()?).await?;
    let status = response.status().as_u16();
    let text = response.text().await?;
    Ok((
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    ))
}

/// The status an ARM read of the owner's image version answers the Fabrikam admin.
pub async fn consumer_reads_image(transport: &Transport) -> anyhow::Result<u16> {
    let path = format!("{}?api-version=2024-03-03", demo::IMAGE_VERSION_ID);
    Ok(as_consumer(transport, Method::GET, &path, None).await?.0)
}

/// The Fabrikam admin creates VM `name` from the owner's image (by its resource id, as a
/// delegation lets them) in Fabrikam's subscription. See [`consumer_creates_vm_from`].
pub async fn consumer_creates_vm(
    transport: &Transport,
    name: &str,
) -> anyhow::Result<(u16, Value)> {
    consumer_creates_vm_from(transport, name, json!({"id": demo::IMAGE_VERSION_ID})).await
}

/// The Fabrikam admin creates VM `name` from `image_reference` in Fabrikam's subscription,
/// with its own network, as the portal's Create VM does: a virtual network, a NIC, the VM.
/// The status of the VM's PUT (and its body, to show when it is refused).
pub async fn consumer_creates_vm_from(
    transport: &Transport,
    name: &str,
    image_reference: Value,
) -> anyhow::Result<(u16, Value)> {
    consumer_creates_vm_with(transport, name, image_reference, None).await
}

/// As [`consumer_creates_vm_from`], the VM's PUT carrying `auxiliary` (the image tenant's
/// token of the same person, signed in there as a guest).
pub async fn consumer_creates_vm_with(
    transport: &Transport,
    name: &str,
    image_reference: Value,
    auxiliary: Option<&str>,
) -> anyhow::Result<(u16, Value)> {
    let rg = format!(
        "/subscriptions/{}/resourceGroups/{}/providers",
        demo::FABRIKAM_SUBSCRIPTION,
        demo::FABRIKAM_RESOURCE_GROUP
    );
    let vnet = format!("{rg}/Microsoft.Network/virtualNetworks/vnet-{name}");
    let (status, body) = as_consumer(
        transport,
        Method::PUT,
        &format!("{vnet}?api-version=2024-05-01"),
        Some(json!({"location": "eastus", "properties": {
            "addressSpace": {"addressPrefixes": ["10.9.0.0/16"]},
            "subnets": [{"name": "default", "properties": {"addressPrefix": "10.9.0.0/24"}}]}})),
    )
    .await?;
    if !matches!(status, 200 | 201) {
        bail!("the virtual network's PUT answered {status}: {body}");
    }
    let nic = format!("{rg}/Microsoft.Network/networkInterfaces/nic-{name}");
    let (status, body) = as_consumer(
        transport,
        Method::PUT,
        &format!("{nic}?api-version=2024-05-01"),
        Some(json!({"location": "eastus", "properties": {"ipConfigurations": [
            {"name": "ipconfig1", "properties": {"subnet": {"id": format!("{vnet}/subnets/default")}}}]}})),
    )
    .await?;
    if !matches!(status, 200 | 201) {
        bail!("the network interface's PUT answered {status}: {body}");
    }
    let vm = format!("{rg}/Microsoft.Compute/virtualMachines/{name}");
    as_consumer_with(
        transport,
        Method::PUT,
        &format!("{vm}?api-version=2024-07-01"),
        Some(json!({"location": "eastus", "properties": {
            "hardwareProfile": {"vmSize": "Standard_D2s_v5"},
            "storageProfile": {
                "imageReference": image_reference,
                "osDisk": {"createOption": "FromImage", "managedDisk": {"storageAccountType": "StandardSSD_LRS"}}},
            "osProfile": {"computerName": name, "adminUsername": "azureuser", "linuxConfiguration": {
                "disablePasswordAuthentication": true,
                "ssh": {"publicKeys": [{"path": "/home/azureuser/.ssh/authorized_keys", "keyData": crate::stack::DEMO_SSH_KEY}]}}},
            "networkProfile": {"networkInterfaces": [{"id": nic}]}}})),
        auxiliary,
    )
    .await
}

/// The "we are done" link in the notice mailed to the Fabrikam admin for request `id`.
pub fn done_link_from_mail(sim: &Sim, id: &str) -> Option<Url> {
    sim.outbox(demo::CONTOSO_TENANT)
        .iter()
        .filter(|m| m.content.contains(&format!("Request {id}.")))
        .find_map(|mail| {
            mail.content
                .split("href=\"")
                .skip(1)
                .filter_map(|rest| rest.split('"').next())
                .map(|href| href.replace("&amp;", "&"))
                .find(|href| href.contains("/api/delegation/done?"))
                .and_then(|href| Url::parse(&href).ok())
        })
}

/// Plays the Fabrikam admin on the done page: opens the link, confirms. The last page.
pub async fn done_in_browser(
    transport: &Transport,
    link: &Url,
) -> anyhow::Result<crate::browser::Page> {
    let browser = Browser::new(transport.clone())?;
    let page = browser.open(link).await?;
    if !page.status.is_success() {
        bail!("the done page answered {}: {}", page.status, page.html);
    }
    let form = page.form("done")?;
    browser.submit(&form, &[]).await
}

/// Runs the demo, reporting each step through `progress`.
pub async fn run(
    stack: &Stack,
    timeout: Duration,
    mut progress: impl FnMut(&str),
) -> anyhow::Result<Value> {
    let started = Instant::now();
    progress(&format!(
        "before: the Fabrikam admin's read of the image answers {}",
        consumer_reads_image(&stack.transport).await?
    ));
    let (id, url) = submit(stack, &request(None)).await?;
    progress(&format!("submitted lighthouse request {id}"));
    let delegated = until(&url, &["Delegated"], timeout).await?;
    progress(&format!(
        "{:>6.1}s  Delegated: {}",
        started.elapsed().as_secs_f64(),
        delegated["delegation"]["registrationAssignmentId"]
    ));
    progress(&format!(
        "the consumer's admin is told: {}\n  portal: {}\n  or: {}",
        delegated["nextAction"]["description"]
            .as_str()
            .unwrap_or_default(),
        delegated["nextAction"]["url"].as_str().unwrap_or_default(),
        delegated["nextAction"]["command"]
            .as_str()
            .unwrap_or_default()
    ));
    progress(&format!(
        "delegated: the Fabrikam admin's read of the image answers {}",
        consumer_reads_image(&stack.transport).await?
    ));
    let (status, body) = consumer_creates_vm(&stack.transport, "vm-fabrikam-lh").await?;
    if !matches!(status, 200 | 201) {
        bail!("the Fabrikam admin's VM from the image answered {status}: {body}");
    }
    progress(&format!(
        "the Fabrikam admin creates VM vm-fabrikam-lh in its own subscription from the image: {status}"
    ));
    let link = done_link_from_mail(&stack.sim, &id)
        .ok_or_else(|| anyhow!("no \"we are done\" link was mailed for request {id}"))?;
    let page = done_in_browser(&stack.transport, &link).await?;
    progress(&format!(
        "the Fabrikam admin opens the notice's \"we are done\" link and confirms: {}",
        page.status
    ));
    let done = until(&url, &["Completed"], timeout).await?;
    progress(&format!(
        "{:>6.1}s  Completed; after it the Fabrikam admin's read answers {}",
        started.elapsed().as_secs_f64(),
        consumer_reads_image(&stack.transport).await?
    ));
    Ok(done)
}
