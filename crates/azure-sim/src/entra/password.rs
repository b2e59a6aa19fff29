//! The resource-owner password credentials grant (`grant_type=password`) for scenario users
//! signing in through a first-party public client — what `az login -u user -p password`
//! does with the Azure CLI's client id. Confidential clients must use their credentials.

use axum::response::Response;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use http::StatusCode;
use serde_json::json;
use time::OffsetDateTime;

use super::{
    errors,
    token::{Refusal, form_value},
};
use crate::{
    context::{SimContext, TokenRequest},
    directory::Tenant,
    request::{HostRequest, respond},
    secrets::SecretKind,
};

/// The Azure CLI's public client id.
pub const AZURE_CLI: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";
/// Azure PowerShell's public client id.
pub const AZURE_POWERSHELL: &str = "1950a258-227b-4e31-a9cf-717495945fc2";

const PUBLIC_CLIENTS: [&str; 2] = [AZURE_CLI, AZURE_POWERSHELL];
const OIDC_SCOPES: [&str; 3] = ["openid", "profile", "offline_access"];

fn missing(parameter: &str) -> Refusal {
    Refusal(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        900_144,
        format!("The request body must contain the following parameter: '{parameter}'."),
    )
}

/// Answers a password grant in `tenant`.
pub(super) fn issue(
    ctx: &SimContext,
    req: &HostRequest,
    tenant: &Tenant,
    form: &[(String, String)],
    now: OffsetDateTime,
) -> Result<Response, Refusal> {
    let client_id = form_value(form, "client_id").ok_or_else(|| missing("client_id"))?;
    if !PUBLIC_CLIENTS
        .iter()
        .any(|c| c.eq_ignore_ascii_case(client_id))
    {
        let known = ctx
            .world()
            .directory
            .application_by_app_id(client_id)
            .is_some();
        return Err(if known {
            Refusal(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                7_000_218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.".to_owned(),
            )
        } else {
            Refusal(
                StatusCode::BAD_REQUEST,
                "unauthorized_client",
                700_016,
                format!(
                    "Application with identifier '{client_id}' was not found in the directory '{}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.",
                    tenant.id
                ),
            )
        });
    }
    let username = form_value(form, "username").ok_or_else(|| missing("username"))?;
    let password = form_value(form, "password").ok_or_else(|| missing("password"))?;
    let scope = form_value(form, "scope").ok_or_else(|| missing("scope"))?;
    let words: Vec<&str> = scope.split_whitespace().collect();
    let Some(resource) = words
        .iter()
        .filter(|w| !OIDC_SCOPES.contains(w))
        .find_map(|w| {
            w.strip_suffix("/.default")
                .or_else(|| w.strip_suffix("/user_impersonation"))
        })
    else {
        return Err(Refusal(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            70_011,
            format!(
                "The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid."
            ),
        ));
    };
    let user = ctx.world().directory.user(&tenant.id, username).cloned();
    let Some(user) = user else {
        return Err(Refusal(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            50_034,
            format!(
                "The user account {{EmailHidden}} does not exist in the {} directory. To sign into this application, the account must be added to the directory.",
                tenant.id
            ),
        ));
    };
    if user.password.as_deref() != Some(password) {
        return Err(Refusal(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            50_126,
            "Error validating credentials due to invalid username or password.".to_owned(),
        ));
    }
    let lifetime = ctx.scenario.token_lifetime_seconds;
    let (token, _) = ctx.issue_token(TokenRequest {
        tenant: tenant.id.clone(),
        object_id: user.id.clone(),
        app_id: client_id.to_owned(),
        audience: resource.to_owned(),
        roles: vec![],
        mi_resource_id: None,
        lifetime_seconds: Some(lifetime),
        upn: Some(user.upn.clone()),
    });
    let mut body = json!({
        "token_type": "Bearer",
        "scope": format!("{resource}/user_impersonation {resource}/.default"),
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": token,
    });
    if words.contains(&"offline_access") {
        let refresh = format!(
            "1.{}",
            URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes().repeat(4))
        );
        ctx.secrets.add(SecretKind::AccessToken, &refresh);
        body["refresh_token"] = json!(refresh);
    }
    if words.contains(&"openid") {
        let (id_token, _) = ctx.issue_token(TokenRequest {
            tenant: tenant.id.clone(),
            object_id: user.id.clone(),
            app_id: client_id.to_owned(),
            audience: client_id.to_owned(),
            roles: vec![],
            mi_resource_id: None,
            lifetime_seconds: Some(lifetime),
            upn: Some(user.upn.clone()),
        });
        body["id_token"] = json!(id_token);
        body["client_info"] =
            json!(URL_SAFE_NO_PAD.encode(json!({"uid": user.id, "utid": tenant.id}).to_string()));
    }
    Ok(respond(
        StatusCode::OK,
        &errors::token_headers(&req.request_id, now),
        body.to_string(),
    ))
}
