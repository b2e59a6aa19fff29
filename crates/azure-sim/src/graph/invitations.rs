//! `POST /invitations` (Graph v1.0 "Create invitation", `invitation-post.md`): adds an
//! external user to the caller's tenant. The invitation creates the user object at once
//! (`userType` `Guest` by default, `externalUserState` `PendingAcceptance`, UPN
//! `{local}_{domain}#EXT#@{tenant domain}`); the person redeems it at `inviteRedeemUrl`
//! (the simulator's page, `entra::redeem`) or through `POST /_sim/redeem`.
//!
//! Permissions (the page's table): `User.Invite.All`, or the higher `User.ReadWrite.All` /
//! `Directory.ReadWrite.All`; else 403 `Authorization_RequestDenied`. Inviting an address that
//! already has a guest in the tenant answers with that guest (`invitedUser.id` unchanged, no
//! second user), as the reset-redemption doc and the LOB onboarding guide describe re-inviting.
//! Assumed, no public source found (marked where they are built): the wording of the 400s for
//! a missing `invitedUserEmailAddress` / `inviteRedirectUrl`, a malformed address, an unknown
//! `invitedUserType`, an address of a member of the tenant itself, the invitation `status`
//! `Completed` for an already redeemed guest, and the invitation mail's subject and text.

use axum::response::Response;
use http::{Method, StatusCode};
use serde_json::{Map, Value, json};

use super::{Call, errors};
use crate::directory::{ExternalUserState, Invitation, Mail};

/// The permissions that may create invitations.
const INVITE: [&str; 3] = [
    "User.Invite.All",
    "User.ReadWrite.All",
    "Directory.ReadWrite.All",
];

/// Routes `/v1.0/invitations`.
pub fn route(call: &Call<'_>, segments: &[&str]) -> Response {
    let (req, now) = (call.req, call.now);
    match (segments, &req.method) {
        (["invitations"], &Method::POST) => create(call),
        // Graph has no readable invitations collection: GET answers 404 UnknownError with
        // an IIS page as the message (microsoftgraph/microsoft-graph-explorer-v4#2456).
        (["invitations", ..], &Method::GET) => errors::error(
            StatusCode::NOT_FOUND,
            "UnknownError",
            "<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Strict//EN\" \"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd\"><html xmlns=\"http://www.w3.org/1999/xhtml\"><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=iso-8859-1\"/><title>404 - File or directory not found.</title><style type=\"text/css\"></style></head><body><div id=\"header\"><h1>Server Error</h1></div><div id=\"content\"> <div class=\"content-container\"><fieldset>  <h2>404 - File or directory not found.</h2>  <h3>The resource you are looking for might have been removed, had its name changed, or is temporarily unavailable.</h3> </fieldset></div></div></body></html>",
            None,
            req,
            now,
        ),
        (["invitations"], _) => errors::method_not_allowed(req, now),
        _ => errors::segment_not_found(segments.get(1).copied().unwrap_or_default(), req, now),
    }
}

fn bad_request(message: &str, call: &Call<'_>) -> Response {
    errors::error(
        StatusCode::BAD_REQUEST,
        "BadRequest",
        message,
        None,
        call.req,
        call.now,
    )
}

/// `invitedUserMessageInfo` as Graph echoes it: the example answers an absent one with
/// nulls and one empty cc recipient.
fn message_info(sent: Option<&Value>) -> Value {
    let field = |k: &str| sent.and_then(|m| m.get(k)).cloned().unwrap_or(Value::Null);
    let cc: Vec<Value> = sent
        .and_then(|m| m.get("ccRecipients"))
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|r| {
                    let e = r.get("emailAddress");
                    json!({"emailAddress": {
                        "name": e.and_then(|e| e.get("name")).cloned().unwrap_or(Value::Null),
                        "address": e.and_then(|e| e.get("address")).cloned().unwrap_or(Value::Null),
                    }})
                })
                .collect()
        })
        .filter(|l: &Vec<Value>| !l.is_empty())
        .unwrap_or_else(|| vec![json!({"emailAddress": {"name": null, "address": null}})]);
    json!({
        "messageLanguage": field("messageLanguage"),
        "customizedMessageBody": field("customizedMessageBody"),
        "ccRecipients": cc,
    })
}

fn text<'a>(body: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    body.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn well_formed(address: &str) -> bool {
    let mut parts = address.split('@');
    matches!(
        (parts.next(), parts.next(), parts.next()),
        (Some(local), Some(domain), None)
            if !local.is_empty() && domain.contains('.') && !address.contains(char::is_whitespace)
    )
}

fn create(call: &Call<'_>) -> Response {
    let (req, now) = (call.req, call.now);
    if !call.caller.has_any(&INVITE) {
        return errors::denied(req, now);
    }
    let body = match call.body() {
        Ok(b) => b,
        Err(r) => return r,
    };
    // Assumed wording (the docs name both properties required, not the refusal's text).
    let Some(address) = text(&body, "invitedUserEmailAddress") else {
        return bad_request(
            "The property 'invitedUserEmailAddress' is required to create an invitation.",
            call,
        );
    };
    let Some(redirect) = text(&body, "inviteRedirectUrl") else {
        return bad_request(
            "The property 'inviteRedirectUrl' is required to create an invitation.",
            call,
        );
    };
    if !well_formed(address) {
        return bad_request(
            &format!("The invited user email address '{address}' is not valid."),
            call,
        );
    }
    let user_type = match text(&body, "invitedUserType") {
        None => "Guest",
        Some(t) if t.eq_ignore_ascii_case("Guest") => "Guest",
        Some(t) if t.eq_ignore_ascii_case("Member") => "Member",
        Some(t) => {
            return bad_request(
                &format!("Invalid invitedUserType '{t}'. Allowed values are 'Guest' and 'Member'."),
                call,
            );
        }
    };
    if body.get("resetRedemption").and_then(Value::as_bool) == Some(true) {
        return bad_request(
            "azure-sim does not simulate resetRedemption: delete the guest and invite it again.",
            call,
        );
    }
    let send = body
        .get("sendInvitationMessage")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let info = message_info(body.get("invitedUserMessageInfo"));

    let mut world = call.ctx.world();
    let d = &mut world.directory;
    let Some(tenant) = d.tenant(&call.caller.tenant).cloned() else {
        return errors::not_found(&call.caller.tenant, req, now);
    };
    if let Some(member) = d.member_by_address(&tenant.id, address) {
        // Assumed wording: Graph's refusal to invite a member of the inviting tenant itself
        // is not documented (an internal user is converted with `invitedUser: {id}`, which
        // azure-sim does not simulate).
        return bad_request(
            &format!(
                "The invited user already exists in the directory as a member of this organization (object ID {}). Members cannot be invited as guests.",
                member.id
            ),
            call,
        );
    }
    let user = match d.guest_by_address(&tenant.id, address).cloned() {
        Some(existing) => existing,
        None => d.add_guest(
            &tenant,
            address,
            text(&body, "invitedUserDisplayName"),
            user_type,
            now,
        ),
    };
    let redeemed = user
        .guest
        .as_ref()
        .is_some_and(|g| g.state == ExternalUserState::Accepted);
    let invitation = Invitation {
        id: uuid::Uuid::new_v4().to_string(),
        tenant: tenant.id.clone(),
        user_id: user.id.clone(),
        address: address.to_owned(),
        redirect_url: redirect.to_owned(),
        ticket: uuid::Uuid::new_v4().simple().to_string(),
        created_at: now,
    };
    let redeem_url = invitation.redeem_url();
    let answer = json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#invitations/$entity",
        "id": invitation.id,
        "inviteRedeemUrl": redeem_url,
        "invitedUserDisplayName": body.get("invitedUserDisplayName").cloned().unwrap_or(Value::Null),
        "invitedUserType": user.user_type,
        "invitedUserEmailAddress": address,
        "sendInvitationMessage": send,
        "resetRedemption": false,
        "inviteRedirectUrl": redirect,
        // `Completed` for a guest that already redeemed: one of the documented values, the
        // mapping is assumed.
        "status": if redeemed { "Completed" } else { "PendingAcceptance" },
        "invitedUserMessageInfo": info,
        "invitedUser": {"id": user.id},
    });
    d.invitations.push(invitation);
    if send {
        let mut to = vec![address.to_owned()];
        to.extend(
            info["ccRecipients"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| {
                    r.pointer("/emailAddress/address")?
                        .as_str()
                        .map(str::to_owned)
                }),
        );
        let custom = info["customizedMessageBody"].as_str().unwrap_or_default();
        let content = format!(
            "<p>You're invited to the {} organization.</p><p>{}</p><p><a href=\"{redeem_url}\">Accept invitation</a></p>",
            tenant.display_name, custom
        );
        d.mail.push(Mail {
            tenant: tenant.id.clone(),
            from: "invites@microsoft.com".to_owned(),
            to,
            subject: format!("You're invited to the {} organization", tenant.display_name),
            content_type: "HTML".to_owned(),
            content: content.clone(),
            sent_at: now,
            message: json!({"subject": format!("You're invited to the {} organization", tenant.display_name),
                            "body": {"contentType": "HTML", "content": content},
                            "inviteRedeemUrl": redeem_url}),
        });
    }
    errors::ok(StatusCode::CREATED, &answer, None, req, now)
}
