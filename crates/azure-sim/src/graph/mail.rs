//! `POST /users/{id|userPrincipalName}/sendMail`: 202, and the mail lands in the sender
//! tenant's outbox (read it with `Sim::outbox` or `GET /_sim/outbox/{tenant}`).

use axum::response::Response;
use http::{Method, StatusCode};
use serde_json::Value;

use super::{Call, errors};
use crate::directory::Mail;

/// Routes `/v1.0/users/...`.
pub fn route(call: &Call<'_>, segments: &[&str]) -> Response {
    let (req, now) = (call.req, call.now);
    let ["users", user, "sendMail"] = segments else {
        return errors::error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "azure-sim serves only POST /users/{id}/sendMail under /users.",
            None,
            req,
            now,
        );
    };
    if req.method != Method::POST {
        return errors::method_not_allowed(req, now);
    }
    // Mail is Exchange behind Graph: its refusal is ErrorAccessDenied, not Authorization_RequestDenied.
    if !call.caller.has_any(&["Mail.Send"]) {
        return errors::error(
            StatusCode::FORBIDDEN,
            "ErrorAccessDenied",
            "Access is denied. Check credentials and try again.",
            None,
            req,
            now,
        );
    }
    let body = match call.body() {
        Ok(b) => b,
        Err(r) => return r,
    };
    let mut world = call.ctx.world();
    let Some(sender) = world.directory.user(&call.caller.tenant, user).cloned() else {
        return errors::error(
            StatusCode::NOT_FOUND,
            "ErrorInvalidUser",
            &format!("The requested user '{user}' is invalid."),
            None,
            req,
            now,
        );
    };
    let message = body.get("message").cloned().unwrap_or(Value::Null);
    let to: Vec<String> = message
        .get("toRecipients")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| {
            r.pointer("/emailAddress/address")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect();
    if to.is_empty() {
        return errors::error(
            StatusCode::BAD_REQUEST,
            "ErrorInvalidRecipients",
            "At least one recipient is required, but none were found.",
            None,
            req,
            now,
        );
    }
    let text = |p: &str| {
        message
            .pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    world.directory.mail.push(Mail {
        tenant: sender.tenant.clone(),
        from: sender.upn,
        to,
        subject: text("/subject"),
        content_type: text("/body/contentType"),
        content: text("/body/content"),
        sent_at: now,
        message,
    });
    errors::empty(StatusCode::ACCEPTED, req, now)
}
