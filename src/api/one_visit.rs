//! The one-visit approval: the consumer's admin signs in once on Entra (authorization code
//! flow with PKCE, Microsoft identity platform `v2-oauth2-auth-code-flow`) and that sign-in is
//! their approval, their consent to the share app, and the role grant imageshare then makes
//! on their behalf.
//!
//! - The approval page's link goes to the consumer tenant's `/oauth2/v2.0/authorize` for the
//!   share app, with the request's single-use `state`, a `nonce` and the S256 challenge of a
//!   verifier made with the state (both kept on the request until the state is used).
//! - Entra sends the admin back to the consent callback with `code` and `state`. The code is
//!   redeemed by the app itself (its federated credential's assertion, no secret) with the
//!   verifier for a delegated Resource Manager token of the admin; the ID token's `nonce` and
//!   `tid` must be this request's. Only then is the state used (the approval is recorded).
//! - With the admin's token, imageshare assigns the app's service principal the narrowest
//!   built-in roles the VM needs on the request's resource group: Virtual Machine Contributor
//!   (VMs, disks, NICs, joining subnets and NSGs), and Network Contributor only when
//!   imageshare creates the VNet and NSG (no `subnetId`); Contributor would also give it
//!   storage, Key Vault and everything else in the group. Assignment names are deterministic
//!   and `principalType: ServicePrincipal`; the admin's own rights decide (ARM's
//!   `AuthorizationFailed` is shown to them in plain words, and the request waits for a manual
//!   grant instead of failing).
//! - The delegated token is never stored, logged or put in a message: it lives in this
//!   handler's memory for the assignments only.

use axum::{http::StatusCode, response::Response};
use tracing::{info, warn};
use url::Url;

use super::answers::{Open, Via, already_used, approve, page, unavailable};
use crate::{
    azure::{
        AppCredential, AzureError,
        arm::{ArmIdentity, roles},
        authorization_code::{self, ClientAuth, CodeRefused, Redemption},
        scopes,
    },
    config::CredentialMode,
    consent_state::s256_challenge,
    context::AppContext,
    domain::{AdminGrant, EventContext, OneVisit, ShareRequest},
    html::escape,
    store::{self, Change},
};

/// How many times the app's new service principal is waited for in the consumer's tenant
/// right after the consent created it, one second apart: Entra's token endpoint may not know
/// it for a few seconds (AADSTS700016), for the code's redemption as for the app's own token.
const SP_LOOKUPS: u32 = 10;
/// AADSTS700016: the app is not (yet) known in the tenant.
const APP_NOT_IN_TENANT: u32 = 700_016;

/// Entra's authorize URL for this request's one-visit sign-in.
pub fn authorize_url(
    request: &ShareRequest,
    app_id: &str,
    redirect_uri: &Url,
    state: &str,
    one_visit: &OneVisit,
) -> Result<Url, url::ParseError> {
    let mut url = Url::parse(&format!(
        "https://login.microsoftonline.com/{}/oauth2/v2.0/authorize",
        request.consumer.tenant_id
    ))?;
    url.query_pairs_mut()
        .append_pair("client_id", app_id)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", redirect_uri.as_str())
        .append_pair("response_mode", "query")
        .append_pair(
            "scope",
            &format!(
                "{} openid profile",
                authorization_code::ARM_USER_IMPERSONATION
            ),
        )
        .append_pair("state", state)
        .append_pair("nonce", &one_visit.nonce)
        .append_pair(
            "code_challenge",
            &s256_challenge(one_visit.verifier.expose()),
        )
        .append_pair("code_challenge_method", "S256");
    Ok(url)
}

/// The approval page's one-visit link for this request and `state`, when it can have one
/// (a link made with a verifier, the app in place, a federated credential).
pub fn link(ctx: &AppContext, request: &ShareRequest, state: &str) -> Option<String> {
    let one_visit = request.progress.consent.as_ref()?.one_visit.as_ref()?;
    let app = request.progress.app.as_ref()?;
    if ctx.settings.credential != CredentialMode::Federated {
        return None;
    }
    match authorize_url(
        request,
        &app.app_id,
        &ctx.settings.consent_callback_url(),
        state,
        one_visit,
    ) {
        Ok(url) => Some(ctx.browser_link(&url)),
        Err(e) => {
            warn!(request_id = %request.id, error = %e, "could not build the one-visit URL");
            None
        }
    }
}

/// The roles the one-visit grant gives, for a person to read.
pub fn roles_text(request: &ShareRequest) -> String {
    roles_for(request)
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(" and ")
}

/// The roles the app gets on the resource group, by name and id.
fn roles_for(request: &ShareRequest) -> Vec<(&'static str, &'static str)> {
    let mut wanted = vec![("Virtual Machine Contributor", roles::VM_CONTRIBUTOR)];
    if request.vm.as_ref().is_some_and(|v| v.subnet_id.is_none()) {
        wanted.push(("Network Contributor", roles::NETWORK_CONTRIBUTOR));
    }
    wanted
}

fn refused_page(title: &str, why: &str) -> Response {
    page(
        StatusCode::BAD_REQUEST,
        title,
        &format!(
            "<p>{why}</p><p>Nothing was changed. Open the link from your message again to sign in once more.</p>"
        ),
    )
}

/// `GET /api/consent/callback?code=..&state=..`: the admin is back from the one-visit
/// sign-in.
pub async fn answer(ctx: &AppContext, open: Open, code: &str, event: &EventContext) -> Response {
    let Open {
        request,
        consent,
        hash,
    } = open;
    let (Some(one_visit), Some(app), Some(cloud)) = (
        consent.one_visit.as_ref(),
        request.progress.app.as_ref(),
        ctx.cloud.as_ref(),
    ) else {
        return refused_page(
            "This sign-in does not belong to a one-visit link",
            "The link you signed in from cannot be approved this way.",
        );
    };
    if ctx.settings.credential != CredentialMode::Federated {
        return refused_page(
            "One-visit approval needs a federated credential",
            "This deployment's app signs in with a client secret; approve with the consent link on the approval page instead.",
        );
    }
    let assertion = match cloud.tokens.client_assertion().await {
        Ok(assertion) => assertion,
        Err(e) => return sign_in_unavailable(&e),
    };
    let redirect = ctx.settings.consent_callback_url();
    let mut attempt = 0;
    let redeemed = loop {
        attempt += 1;
        let redeemed = authorization_code::redeem(
            &cloud.http,
            Redemption {
                tenant: request.consumer.tenant_id,
                client_id: &app.app_id,
                code,
                redirect_uri: redirect.as_str(),
                verifier: &one_visit.verifier,
                auth: ClientAuth::Assertion(assertion.clone()),
            },
        )
        .await;
        // A refused redemption leaves the code usable: the consent's new principal is
        // waited for, a bounded number of times.
        match &redeemed {
            Err(CodeRefused::Refused { codes, .. })
                if codes.contains(&APP_NOT_IN_TENANT) && attempt < SP_LOOKUPS =>
            {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            _ => break redeemed,
        }
    };
    let delegated = match redeemed {
        Ok(delegated) => delegated,
        Err(CodeRefused::Refused { error, codes }) => {
            info!(request_id = %request.id, %error, ?codes, "Entra refused the one-visit code");
            return refused_page(
                "Microsoft's sign-in could not be completed",
                &format!(
                    "Entra refused the sign-in's code ({}{}).",
                    escape(&error),
                    codes
                        .iter()
                        .map(|c| format!(", AADSTS{c}"))
                        .collect::<String>()
                ),
            );
        }
        Err(CodeRefused::Azure(e)) => return sign_in_unavailable(&e),
    };
    // The code must be the answer to this request's own sign-in, in its own tenant.
    if delegated.nonce.as_deref() != Some(one_visit.nonce.as_str()) {
        return refused_page(
            "This sign-in is not the one this link started",
            "The sign-in came back without this request's nonce.",
        );
    }
    let tenant = request.consumer.tenant_id.to_string();
    if !delegated
        .tenant
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case(&tenant))
    {
        return refused_page(
            "This sign-in is for another tenant",
            &format!("Sign in as an administrator of tenant <code>{tenant}</code>."),
        );
    }
    let via = Via::OneVisit {
        user: delegated.user.clone(),
    };
    let approved = match approve(ctx, request.id, &hash, &via, event).await {
        Ok(Some(approved)) => approved,
        Ok(None) => return already_used(false),
        Err(e) => return unavailable(&e),
    };
    let done = grant(ctx, &approved, &delegated.token, &delegated.user, event).await;
    drop(delegated);
    done_page(&approved, &done)
}

/// What the role grant on the admin's behalf came to.
enum Granted {
    /// Every role is assigned.
    All(Vec<AdminGrant>),
    /// ARM refused the admin (their rights are not enough): what it said.
    NotAllowed(String),
    /// It could not be done now (the app's principal not found yet, an outage).
    NotNow(String),
}

async fn grant(
    ctx: &AppContext,
    request: &ShareRequest,
    token: &crate::azure::AccessToken,
    user: &str,
    event: &EventContext,
) -> Granted {
    let (Some(cloud), Some(app)) = (ctx.cloud.as_ref(), request.progress.app.as_ref()) else {
        return Granted::NotNow("no app".into());
    };
    let tenant = request.consumer.tenant_id;
    // The app's service principal in the consumer's tenant: the `oid` of its own token
    // there (consent just created it; Entra takes seconds to serve it everywhere).
    let mut principal = None;
    for attempt in 0..SP_LOOKUPS {
        match cloud
            .tokens
            .app(&app.app_id, tenant, &AppCredential::Federated, scopes::ARM)
            .await
        {
            Ok(t) => {
                principal = t.unverified_claim("oid");
                break;
            }
            Err(e) if attempt + 1 < SP_LOOKUPS => {
                info!(request_id = %request.id, error = %e, "the app's principal is not there yet");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            Err(e) => return Granted::NotNow(e.to_string()),
        }
    }
    let Some(principal) = principal else {
        return Granted::NotNow("the app's token names no principal".into());
    };
    let scope = format!(
        "/subscriptions/{}/resourceGroups/{}",
        request.consumer.subscription_id, request.consumer.resource_group
    );
    let admin = ArmIdentity::Delegated(token.clone());
    let mut made = Vec::new();
    for (name, role) in roles_for(request) {
        match cloud
            .arm
            .assign_role(&admin, &scope, role, &principal)
            .await
        {
            Ok(id) => made.push(AdminGrant {
                assignment_id: id,
                role: name.to_owned(),
                by: user.to_owned(),
                at: event.at,
            }),
            Err(e) if e.has_code("AuthorizationFailed") || e.status() == Some(403) => {
                record(ctx, request, &made, None, event).await;
                return Granted::NotAllowed(e.to_string());
            }
            Err(e) => {
                warn!(request_id = %request.id, error = %e, "the role grant on the admin's behalf failed");
                record(ctx, request, &made, None, event).await;
                return Granted::NotNow(e.to_string());
            }
        }
    }
    record(ctx, request, &made, Some(&scope), event).await;
    Granted::All(made)
}

/// Writes the assignments made (a crash before this leaves them for the revocation notice's
/// "in your tenant" list to miss, never a duplicate: the names are deterministic).
async fn record(
    ctx: &AppContext,
    request: &ShareRequest,
    made: &[AdminGrant],
    scope: Option<&str>,
    event: &EventContext,
) {
    if made.is_empty() {
        return;
    }
    let applied = store::change(ctx.store.as_ref(), request.id, |r| {
        let mut added = Vec::new();
        for grant in made {
            if !r
                .progress
                .access
                .granted_by_admin
                .iter()
                .any(|g| g.assignment_id.eq_ignore_ascii_case(&grant.assignment_id))
            {
                r.progress.access.granted_by_admin.push(grant.clone());
                added.push(grant.role.clone());
            }
        }
        if added.is_empty() {
            return Ok::<_, std::convert::Infallible>(Change::Keep(()));
        }
        let detail = format!(
            "The consumer's admin {} granted the app {} on {} in one visit.",
            made[0].by,
            added.join(" and "),
            scope.unwrap_or("the resource group")
        );
        Ok(Change::Save(
            vec![r.note("roles-granted", detail, event)],
            (),
        ))
    })
    .await;
    match applied {
        Ok(applied) => super::answers::announce(ctx, &applied.request, &applied.entries).await,
        Err(e) => {
            warn!(request_id = %request.id, error = %e, "could not record the admin's role grant")
        }
    }
}

fn sign_in_unavailable(error: &AzureError) -> Response {
    warn!(error = %error, "the one-visit sign-in could not be completed");
    page(
        StatusCode::SERVICE_UNAVAILABLE,
        "The sign-in could not be completed right now",
        "<p>Nothing was changed. Please open the link from your message again in a few minutes.</p>",
    )
}

fn done_page(request: &ShareRequest, granted: &Granted) -> Response {
    let tenant = request.consumer.tenant_id;
    let group = format!(
        "/subscriptions/{}/resourceGroups/{}",
        request.consumer.subscription_id, request.consumer.resource_group
    );
    let portal = format!("https://portal.azure.com/#@{tenant}/resource{group}/users");
    let roles = roles_text(request);
    let body = match granted {
        Granted::All(made) => {
            let list: String = made
                .iter()
                .map(|g| {
                    format!(
                        "<li>{} for imageshare's app on <code>{}</code> (<code>{}</code>)</li>",
                        escape(&g.role),
                        escape(&group),
                        escape(&g.assignment_id)
                    )
                })
                .collect();
            format!(
                "<p>You approved this request, consented to imageshare's app in your tenant <code>{tenant}</code>, and these role assignments were made with your sign-in:</p><ul>{list}</ul>\
                 <p><a href=\"{}\">See them in the resource group's access control</a>. Nothing is left for you to do: imageshare creates the VM now. When the request is revoked you are told which of them to remove (the app may not remove role assignments).</p>",
                escape(&portal)
            )
        }
        Granted::NotAllowed(why) => format!(
            "<p>You approved this request and consented to imageshare's app, but Azure did not let your account grant roles on resource group <code>{}</code>: your account lacks <code>Microsoft.Authorization/roleAssignments/write</code> there.</p>\
             <p>Ask an Owner, User Access Administrator or Role Based Access Control Administrator of subscription <code>{}</code> to give the app {roles} on the resource group (<a href=\"{}\">access control in the portal</a>). The request waits for it; nothing fails meanwhile.</p>\
             <p>Azure said: <code>{}</code></p>",
            escape(request.consumer.resource_group.as_str()),
            request.consumer.subscription_id,
            escape(&portal),
            escape(why),
        ),
        Granted::NotNow(why) => format!(
            "<p>You approved this request and consented to imageshare's app. The role grant could not be made just now ({}): give the app {roles} on resource group <code>{}</code> yourself (<a href=\"{}\">access control in the portal</a>). The request waits for it.</p>",
            escape(why),
            escape(request.consumer.resource_group.as_str()),
            escape(&portal),
        ),
    };
    page(StatusCode::OK, "Thank you: request approved", &body)
}
