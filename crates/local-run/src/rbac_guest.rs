//! `--demo --strategy rbac-guest`: the operator identity may invite guests (Graph
//! User.Invite.All and User.ReadWrite.All). The demo submits an `rbac-guest` request for the
//! Fabrikam admin's address, follows it to `Granted`, plays the admin redeeming the invitation
//! on Microsoft's page, signing in to Contoso as the guest and to Fabrikam as themselves, and
//! creating a VM in Fabrikam from Contoso's image (the guest's token as the auxiliary token),
//! then revokes and shows the same VM refused.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use azure_sim::{Scenario, Sim, scenario::demo};
use azure_transport::Transport;
use serde_json::{Value, json};
use url::Url;

use crate::{
    browser::Browser,
    lighthouse::{consumer_creates_vm_with, fabrikam_admin_token_in},
    requests::{submit, until},
    stack::Stack,
};

/// The demo scenario with the operator identity allowed to invite and delete guests.
pub fn scenario() -> Scenario {
    Scenario::demo().with_operator_graph_permissions(&["User.Invite.All", "User.ReadWrite.All"])
}

/// The sample `rbac-guest` request: the Fabrikam admin is invited.
pub fn request(days: Option<u32>) -> Value {
    let mut guest = json!({"email": demo::FABRIKAM_ADMIN_UPN, "displayName": "Fabrikam Admin"});
    if let Some(days) = days {
        guest["days"] = json!(days);
    }
    json!({
        "strategy": "rbac-guest",
        "consumer": {
            "tenantId": demo::FABRIKAM_TENANT,
            "subscriptionId": demo::FABRIKAM_SUBSCRIPTION,
            "resourceGroup": demo::FABRIKAM_RESOURCE_GROUP,
            "adminEmail": demo::FABRIKAM_ADMIN_UPN
        },
        "image": {"name": "ubuntu-hardened"},
        "guest": guest
    })
}

/// The redemption link in the newest invitation mailed to the Fabrikam admin.
pub fn redeem_link_from_mail(sim: &Sim) -> Option<Url> {
    sim.outbox(demo::CONTOSO_TENANT)
        .iter()
        .rev()
        .filter(|m| {
            m.to.iter()
                .any(|t| t.eq_ignore_ascii_case(demo::FABRIKAM_ADMIN_UPN))
        })
        .find_map(|mail| {
            mail.content
                .split("https://login.microsoftonline.com/redeem?")
                .nth(1)
                .and_then(|rest| {
                    rest.split(['"', '<', ' ', '\n'])
                        .next()
                        .map(|q| q.replace("&amp;", "&"))
                })
                .and_then(|q| {
                    Url::parse(&format!("https://login.microsoftonline.com/redeem?{q}")).ok()
                })
        })
}

/// Plays the Fabrikam admin redeeming the invitation: sign in with the home account, accept.
pub async fn redeem_in_browser(transport: &Transport, link: &Url) -> anyhow::Result<()> {
    let browser = Browser::new(transport.clone())?;
    let signin = browser.open(link).await?;
    let form = signin.form("signin")?;
    let review = browser
        .submit(
            &form,
            &[
                ("login", demo::FABRIKAM_ADMIN_UPN),
                ("passwd", demo::FABRIKAM_ADMIN_PASSWORD),
            ],
        )
        .await?;
    let accept = review.form("accept")?;
    let done = browser.submit(&accept, &[]).await?;
    if !(done.status.is_success() || done.status.is_redirection()) {
        bail!(
            "accepting the invitation answered {}: {}",
            done.status,
            done.html
        );
    }
    Ok(())
}

/// The Fabrikam admin creates VM `name` in Fabrikam from Contoso's image, signed in to both
/// tenants (`az login` twice): their Fabrikam token, and their guest token of Contoso as the
/// auxiliary token. The VM PUT's status and body; a refused guest sign-in counts as refused.
pub async fn guest_creates_vm(transport: &Transport, name: &str) -> anyhow::Result<(u16, Value)> {
    let guest = match fabrikam_admin_token_in(transport, demo::CONTOSO_TENANT).await {
        Ok(token) => token,
        Err(e) => return Ok((401, json!(e.to_string()))),
    };
    consumer_creates_vm_with(
        transport,
        name,
        json!({"id": demo::IMAGE_VERSION_ID}),
        Some(&guest),
    )
    .await
}

/// The status the owner's image version answers the Fabrikam admin signed in to Contoso as
/// the guest (401 when the guest cannot sign in).
pub async fn guest_reads_image(transport: &Transport) -> anyhow::Result<u16> {
    let Ok(token) = fabrikam_admin_token_in(transport, demo::CONTOSO_TENANT).await else {
        return Ok(401);
    };
    let req = transport
        .client()
        .get(format!(
            "https://management.azure.com{}?api-version=2024-03-03",
            demo::IMAGE_VERSION_ID
        ))
        .bearer_auth(&token)
        .build()?;
    Ok(transport.execute(req).await?.status().as_u16())
}

/// Runs the demo, reporting each step through `progress`.
pub async fn run(
    stack: &Stack,
    timeout: Duration,
    mut progress: impl FnMut(&str),
) -> anyhow::Result<Value> {
    let client = reqwest::Client::new();
    let started = Instant::now();
    let (id, url) = submit(stack, &request(None)).await?;
    progress(&format!("submitted rbac-guest request {id}"));
    let granted = until(&url, &["Granted"], timeout).await?;
    progress(&format!(
        "{:>6.1}s  Granted: guest {} holds {}",
        started.elapsed().as_secs_f64(),
        granted["guest"]["userId"],
        granted["guest"]["roleAssignmentId"]
    ));
    progress(&format!(
        "the invited user is told: {}",
        granted["nextAction"]["description"]
            .as_str()
            .unwrap_or_default()
    ));
    let link = redeem_link_from_mail(&stack.sim)
        .ok_or_else(|| anyhow!("no invitation was mailed to {}", demo::FABRIKAM_ADMIN_UPN))?;
    redeem_in_browser(&stack.transport, &link).await?;
    progress("the Fabrikam admin redeems the invitation on Microsoft's page");
    // A new role assignment takes effect within minutes: look until the guest may read the
    // image (`az sig image-version show`), as a person would, then create the VM once.
    let deadline = Instant::now() + timeout;
    loop {
        let read = guest_reads_image(&stack.transport).await?;
        if read == 200 || Instant::now() > deadline {
            progress(&format!(
                "as the guest, the read of the image answers {read}"
            ));
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let (status, body) = guest_creates_vm(&stack.transport, "vm-fabrikam-guest").await?;
    if !matches!(status, 200 | 201) {
        bail!("the guest's VM from the image answered {status}: {body}");
    }
    progress(&format!(
        "granted: signed in to both tenants, the Fabrikam admin creates VM vm-fabrikam-guest from Contoso's image: {status}"
    ));
    let revoked = client.delete(&url).send().await?;
    progress(&format!("DELETE {url}: {}", revoked.status()));
    let done = until(&url, &["Revoked"], timeout).await?;
    let (after, _) = guest_creates_vm(&stack.transport, "vm-after-guest").await?;
    progress(&format!(
        "{:>6.1}s  Revoked; after it the same VM answers {after} and the guest's read of the image answers {}",
        started.elapsed().as_secs_f64(),
        guest_reads_image(&stack.transport).await?
    ));
    Ok(done)
}
