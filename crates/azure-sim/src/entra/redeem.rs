//! The B2B invitation redemption pages at `inviteRedeemUrl`
//! (`https://login.microsoftonline.com/redeem?rd=...`), as plain HTML forms a test can submit
//! with HTTP, like the consent pages: the invited person signs in with the home account the
//! invitation was sent to (`<form id="signin">`, fields `login`, `passwd`), then sees the
//! inviting organization's permission review with `<form id="accept">` and
//! `<form id="cancel">`. Accept redeems (`externalUserState` becomes `Accepted`) and 302s to
//! the invitation's `inviteRedirectUrl`; Cancel leaves the invitation pending.
//!
//! Entra's redemption experience ("B2B collaboration invitation redemption") has more steps
//! (privacy terms, MFA, a choice of account type) and its own error pages; the wording of the
//! simulator's pages and their errors is assumed.

use std::collections::HashMap;

use axum::response::Response;
use http::StatusCode;

use super::consent::{escape, hidden, page, redirect};
use crate::{
    context::SimContext,
    directory::{Directory, Invitation},
    request::HostRequest,
};

/// A person signed in on a redemption page, not yet decided.
#[derive(Debug, Clone)]
struct Session {
    tenant: String,
    address: String,
    redirect_url: String,
}

/// Open redemption sessions by id.
#[derive(Debug, Default)]
pub struct RedemptionSessions(HashMap<String, Session>);

/// Page parameters: the query (GET) or the posted form.
fn params(req: &HostRequest) -> Vec<(String, String)> {
    if req.method == http::Method::POST {
        req.form()
    } else {
        req.query
            .as_deref()
            .map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn get<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn failed(message: &str) -> Response {
    page(
        StatusCode::BAD_REQUEST,
        "Invitation redemption failed",
        &format!("<p id=\"error\">{}</p>", escape(message)),
    )
}

/// The invitation an `rd` value (the encoded `https://invitations.microsoft.com/redeem/?tenant=
/// &user=&ticket=` link) names.
fn invitation(directory: &Directory, rd: &str) -> Option<Invitation> {
    let link = url::Url::parse(rd).ok()?;
    let q = |name: &str| {
        link.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let (tenant, id, ticket) = (q("tenant")?, q("user")?, q("ticket")?);
    directory
        .invitations
        .iter()
        .find(|i| {
            i.id.eq_ignore_ascii_case(&id)
                && i.tenant.eq_ignore_ascii_case(&tenant)
                && i.ticket == ticket
        })
        .cloned()
}

fn sign_in_page(tenant_name: &str, inv: &Invitation, rd: &str, error: Option<&str>) -> Response {
    let error = error
        .map(|e| format!("<p id=\"error\">{}</p>\n", escape(e)))
        .unwrap_or_default();
    page(
        StatusCode::OK,
        "Sign in to your account",
        &format!(
            "<p>Sign in with <b>{}</b> to accept the invitation from <b>{}</b>.</p>\n{error}<form id=\"signin\" method=\"post\" action=\"redeem\">\n{}\n<label>Email <input type=\"email\" name=\"login\"></label>\n<label>Password <input type=\"password\" name=\"passwd\"></label>\n<button type=\"submit\">Sign in</button>\n</form>",
            escape(&inv.address),
            escape(tenant_name),
            hidden(&[("rd", rd), ("step", "signin")])
        ),
    )
}

/// Serves `GET|POST /redeem`.
pub fn handle(ctx: &SimContext, req: &HostRequest) -> Response {
    let params = params(req);
    match get(&params, "step") {
        Some(step @ ("accept" | "cancel")) => decide(ctx, &params, step),
        step => {
            let rd = get(&params, "rd").unwrap_or_default().to_owned();
            let (inv, tenant_name) = {
                let world = ctx.world();
                let inv = invitation(&world.directory, &rd);
                let name = inv
                    .as_ref()
                    .and_then(|i| world.directory.tenant(&i.tenant))
                    .map(|t| t.display_name.clone())
                    .unwrap_or_default();
                (inv, name)
            };
            let Some(inv) = inv else {
                return failed(
                    "This invitation link is not valid: the invitation was not found, or its guest user was deleted.",
                );
            };
            if step == Some("signin") {
                sign_in(ctx, &params, &inv, &tenant_name, &rd)
            } else {
                sign_in_page(&tenant_name, &inv, &rd, None)
            }
        }
    }
}

fn sign_in(
    ctx: &SimContext,
    params: &[(String, String)],
    inv: &Invitation,
    tenant_name: &str,
    rd: &str,
) -> Response {
    let login = get(params, "login").unwrap_or_default();
    let password = get(params, "passwd").unwrap_or_default();
    let mut world = ctx.world();
    let d = &mut world.directory;
    let signed_in = d
        .home_account(login)
        .filter(|h| {
            !h.tenant.eq_ignore_ascii_case(&inv.tenant) && h.password.as_deref() == Some(password)
        })
        .map(|h| h.id.clone());
    let Some(home_id) = signed_in else {
        return sign_in_page(
            tenant_name,
            inv,
            rd,
            Some("AADSTS50126: Error validating credentials due to invalid username or password."),
        );
    };
    let invited = d.home_account(&inv.address).map(|h| h.id.clone());
    if invited.as_deref() != Some(home_id.as_str()) {
        return sign_in_page(
            tenant_name,
            inv,
            rd,
            Some(&format!(
                "This invitation was sent to {}. Sign in with that account to accept it.",
                inv.address
            )),
        );
    }
    let session_id = uuid::Uuid::new_v4().to_string();
    d.redemption_sessions.0.insert(
        session_id.clone(),
        Session {
            tenant: inv.tenant.clone(),
            address: inv.address.clone(),
            redirect_url: inv.redirect_url.clone(),
        },
    );
    let form = |step: &str, label: &str| {
        format!(
            "<form id=\"{step}\" method=\"post\" action=\"redeem\">\n{}\n<button type=\"submit\">{label}</button>\n</form>",
            hidden(&[("step", step), ("session", &session_id)])
        )
    };
    page(
        StatusCode::OK,
        "Review permissions",
        &format!(
            "<p id=\"organization\">{}</p>\n<p>This organization would like to:</p>\n<ul id=\"permissions\"><li>Sign you in</li><li>Read your name, email address, and photo</li></ul>\n{}\n{}",
            escape(tenant_name),
            form("accept", "Accept"),
            form("cancel", "Cancel")
        ),
    )
}

fn decide(ctx: &SimContext, params: &[(String, String)], step: &str) -> Response {
    let now = ctx.now();
    let mut world = ctx.world();
    let session =
        get(params, "session").and_then(|id| world.directory.redemption_sessions.0.remove(id));
    let Some(s) = session else {
        return failed("The redemption session is unknown or was already used.");
    };
    if step == "cancel" {
        return page(
            StatusCode::OK,
            "Invitation declined",
            "<p id=\"declined\">You declined the invitation. It stays pending until you accept it.</p>",
        );
    }
    match world.directory.redeem(&s.tenant, &s.address, now) {
        Ok(_) => redirect(&s.redirect_url),
        Err(e) => failed(&e.to_string()),
    }
}
