//! `POST /{tenant}/oauth2/v2.0/token`: the client credentials grant, with a client secret
//! (form or HTTP Basic) or a client assertion (a managed identity token this simulator
//! issued, matched against the app's federated identity credentials); the authorization code
//! grant ([`super::authcode`]) and the user grants ([`super::password`]) authenticate
//! confidential clients the same way.

use axum::response::Response;
use base64::{Engine, engine::general_purpose::STANDARD};
use http::StatusCode;
use serde_json::json;
use time::OffsetDateTime;

use super::errors;
use crate::{
    context::{SimContext, TOKEN_EXCHANGE_AUDIENCE, TokenRequest},
    directory::{Application, ServicePrincipal, Tenant},
    entra::msi::GRAPH_RESOURCE,
    request::{HostRequest, respond},
    secrets::SecretKind,
    tokens::{AuthError, audience_matches},
};

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A refusal: status, OAuth error, AADSTS code, message.
pub(super) struct Refusal(
    pub(super) StatusCode,
    pub(super) &'static str,
    pub(super) u32,
    pub(super) String,
);

fn invalid_client(code: u32, message: String) -> Refusal {
    Refusal(StatusCode::UNAUTHORIZED, "invalid_client", code, message)
}

fn not_in_directory(app_id: &str, tenant: &str) -> Refusal {
    Refusal(
        StatusCode::BAD_REQUEST,
        "unauthorized_client",
        700_016,
        format!(
            "Application with identifier '{app_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
        ),
    )
}

/// Answers the token endpoint for `tenant` (a GUID or a verified domain).
pub fn token(ctx: &SimContext, req: &HostRequest, tenant: &str) -> Response {
    let now = ctx.now();
    match issue(ctx, req, tenant, now) {
        Ok(response) => response,
        Err(Refusal(status, error, code, message)) => {
            errors::response(status, error, code, &message, &req.request_id, now)
        }
    }
}

pub(super) fn form_value<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

fn basic_credentials(req: &HostRequest) -> Option<(String, String)> {
    let value = req.header("authorization")?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| {
        url::form_urlencoded::parse(format!("v={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((unescape(id), unescape(secret)))
}

fn issue(
    ctx: &SimContext,
    req: &HostRequest,
    tenant: &str,
    now: OffsetDateTime,
) -> Result<Response, Refusal> {
    let form = req.form();
    let grant = form_value(&form, "grant_type").unwrap_or_default();
    if grant == "refresh_token" {
        return super::password::refresh(ctx, req, tenant, &form, now);
    }
    let directory_tenant = if grant == "password"
        && super::password::is_multi_tenant_authority(tenant)
    {
        // The account's home tenant answers; an unknown account is AADSTS50034.
        let home = super::password::account_tenant(ctx, &form);
        if home.is_none() {
            return Err(Refusal(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                50_034,
                "The user account {EmailHidden} does not exist in the directory. To sign into this application, the account must be added to the directory.".to_owned(),
            ));
        }
        home
    } else {
        let world = ctx.world();
        world.directory.tenant(tenant).cloned()
    };
    let Some(target) = directory_tenant else {
        return Err(Refusal(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
            ),
        ));
    };
    if grant == "password" {
        return super::password::issue(ctx, req, &target, &form, now);
    }
    if grant == "authorization_code" {
        return super::authcode::redeem(ctx, req, &target, &form, now);
    }
    if grant != "client_credentials" {
        return Err(Refusal(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type ''. azure-sim serves client_credentials, authorization_code, password and refresh_token only.".replace("''", &format!("'{grant}'")),
        ));
    }
    let client_id = client_id(req, &form)?;
    let scope = form_value(&form, "scope").ok_or_else(|| {
        Refusal(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900_144,
            "The request body must contain the following parameter: 'scope'.".to_owned(),
        )
    })?;
    let Some(resource) = scope
        .trim()
        .strip_suffix("/.default")
        .filter(|r| !r.contains(' '))
    else {
        return Err(Refusal(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            1_002_012,
            format!(
                "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
            ),
        ));
    };

    let (app, sp) = client_in_tenant(ctx, &client_id, &target, now)?;
    if !authenticate_client(ctx, req, &form, &app, now)? {
        return Err(invalid_client(
            7_000_218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.".to_owned(),
        ));
    }
    let sp = require_service_principal(ctx, sp, &client_id, &target, now)?;

    // Continuous access evaluation clients (xms_cc cp1) get day-long tokens.
    let cae = form_value(&form, "claims").is_some_and(|c| c.contains("cp1"));
    let lifetime = if cae {
        86_399
    } else {
        ctx.scenario.token_lifetime_seconds
    };
    let roles = if audience_matches(
        resource,
        &[GRAPH_RESOURCE, "00000003-0000-0000-c000-000000000000"],
    ) {
        sp.graph_permissions.clone()
    } else {
        vec![]
    };
    let (token, _) = ctx.issue_token(TokenRequest {
        tenant: target.id,
        object_id: sp.id,
        app_id: client_id,
        audience: resource.to_owned(),
        roles,
        mi_resource_id: None,
        lifetime_seconds: Some(lifetime),
        upn: None,
        guest: None,
        scopes: None,
    });
    let body = json!({
        "token_type": "Bearer",
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": token,
    });
    Ok(respond(
        StatusCode::OK,
        &errors::token_headers(&req.request_id, now),
        body.to_string(),
    ))
}

/// The `client_id` of a token request: the form's, else HTTP Basic's (AADSTS900144 without).
pub(super) fn client_id(req: &HostRequest, form: &[(String, String)]) -> Result<String, Refusal> {
    form_value(form, "client_id")
        .map(str::to_owned)
        .or_else(|| basic_credentials(req).map(|(id, _)| id))
        .ok_or_else(|| {
            Refusal(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                900_144,
                "The request body must contain the following parameter: 'client_id'.".to_owned(),
            )
        })
}

/// The application `client_id` names and its service principal in `target`, or AADSTS700016
/// when `target` does not know the app yet: unknown, not replicated, single-tenant
/// elsewhere, or (outside its home tenant) without a replicated service principal there.
pub(super) fn client_in_tenant(
    ctx: &SimContext,
    client_id: &str,
    target: &Tenant,
    now: OffsetDateTime,
) -> Result<(Application, Option<ServicePrincipal>), Refusal> {
    let world = ctx.world();
    let directory = &world.directory;
    let Some(app) = directory.application_by_app_id(client_id).cloned() else {
        return Err(not_in_directory(client_id, &target.id));
    };
    let replication = directory.replication;
    if !directory.replicated(app.created_at, replication.new_application_seconds, now) {
        return Err(not_in_directory(client_id, &target.id));
    }
    let home = app.tenant.eq_ignore_ascii_case(&target.id);
    if !home && !app.is_multi_tenant() {
        return Err(not_in_directory(client_id, &target.id));
    }
    let sp = directory.service_principal(&target.id, client_id).cloned();
    let sp_ready = sp.as_ref().is_some_and(|s| {
        directory.replicated(s.created_at, replication.new_service_principal_seconds, now)
    });
    if !home && !sp_ready {
        return Err(not_in_directory(client_id, &target.id));
    }
    Ok((app, sp))
}

/// The service principal a token needs: AADSTS7000229 in the home tenant without one,
/// AADSTS700016 while it replicates.
pub(super) fn require_service_principal(
    ctx: &SimContext,
    sp: Option<ServicePrincipal>,
    client_id: &str,
    target: &Tenant,
    now: OffsetDateTime,
) -> Result<ServicePrincipal, Refusal> {
    let Some(sp) = sp else {
        return Err(invalid_client(
            7_000_229,
            format!(
                "The client application {client_id} is missing service principal in the tenant {}. See instructions here: https://go.microsoft.com/fwlink/?linkid=2225119",
                target.id
            ),
        ));
    };
    let world = ctx.world();
    let d = &world.directory;
    if !d.replicated(
        sp.created_at,
        d.replication.new_service_principal_seconds,
        now,
    ) {
        return Err(not_in_directory(client_id, &target.id));
    }
    Ok(sp)
}

/// Checks the credential a confidential client presented: a client assertion (a token of
/// this simulator matched against the app's federated identity credentials) or a client
/// secret (form or HTTP Basic). `Ok(false)` when it presented none.
pub(super) fn authenticate_client(
    ctx: &SimContext,
    req: &HostRequest,
    form: &[(String, String)],
    app: &Application,
    now: OffsetDateTime,
) -> Result<bool, Refusal> {
    if let Some(assertion) = form_value(form, "client_assertion") {
        if form_value(form, "client_assertion_type") != Some(JWT_BEARER) {
            return Err(Refusal(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                700_025,
                "The client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer.".to_owned(),
            ));
        }
        check_assertion(ctx, app, assertion)?;
        return Ok(true);
    }
    let secret = form_value(form, "client_secret")
        .map(str::to_owned)
        .or_else(|| basic_credentials(req).map(|(_, s)| s));
    let Some(secret) = secret else {
        return Ok(false);
    };
    let delay = ctx.world().directory.replication.new_secret_seconds;
    check_secret(app, &secret, delay, now)?;
    Ok(true)
}

fn check_secret(
    app: &Application,
    secret: &str,
    delay: u32,
    now: OffsetDateTime,
) -> Result<(), Refusal> {
    let wrong = || {
        invalid_client(
            7_000_215,
            format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.",
                app.app_id
            ),
        )
    };
    let credential = app
        .passwords
        .iter()
        .find(|p| p.secret == secret)
        .ok_or_else(wrong)?;
    // A new secret is not yet known where the token is issued.
    if credential.added_at + time::Duration::seconds(i64::from(delay)) > now {
        return Err(wrong());
    }
    if credential.end <= now {
        return Err(invalid_client(
            7_000_222,
            format!(
                "The provided client secret keys for app '{}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.",
                app.app_id
            ),
        ));
    }
    if credential.start > now {
        return Err(wrong());
    }
    Ok(())
}

fn check_assertion(ctx: &SimContext, app: &Application, assertion: &str) -> Result<(), Refusal> {
    let claims = ctx
        .signer
        .verify(assertion, ctx.now())
        .map_err(|e| match e {
            AuthError::Expired { .. } | AuthError::NotYetValid => invalid_client(
                700_024,
                "Client assertion is not within its valid time range.".to_owned(),
            ),
            _ => invalid_client(
                700_027,
                "Client assertion failed signature validation.".to_owned(),
            ),
        })?;
    if app.federated.is_empty() {
        // No record at all: an app whose credentials were all removed, or (in Entra) one whose
        // new credential has not reached the region yet. Entra's generic code, documented for
        // that propagation case (workload-identity-federation-considerations) and observed
        // with this wording and a 400 `invalid_request` (Azure/azure-workload-identity#616).
        return Err(Refusal(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            70_021,
            format!(
                "No matching federated identity record found for presented assertion. Assertion Issuer: '{}'. Assertion Subject: '{}'. Assertion Audience: '{}'. https://learn.microsoft.com/entra/workload-id/workload-identity-federation",
                claims.iss, claims.sub, claims.aud
            ),
        ));
    }
    let hint = "Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation";
    let by_issuer: Vec<_> = app
        .federated
        .iter()
        .filter(|f| f.issuer == claims.iss)
        .collect();
    if by_issuer.is_empty() {
        return Err(invalid_client(
            700_211,
            format!(
                "No matching federated identity record found for presented assertion issuer '{}'. {hint}",
                claims.iss
            ),
        ));
    }
    // Subjects compare case-sensitively, as Entra does.
    let by_subject: Vec<_> = by_issuer
        .into_iter()
        .filter(|f| f.subject == claims.sub)
        .collect();
    if by_subject.is_empty() {
        return Err(invalid_client(
            700_213,
            format!(
                "No matching federated identity record found for presented assertion subject '{}'. {hint}",
                claims.sub
            ),
        ));
    }
    if !by_subject
        .iter()
        .any(|f| f.audiences.iter().any(|a| a == &claims.aud))
    {
        return Err(invalid_client(
            700_212,
            format!(
                "No matching federated identity record found for presented assertion audience '{}'. {hint}",
                claims.aud
            ),
        ));
    }
    if claims.aud != TOKEN_EXCHANGE_AUDIENCE {
        tracing::debug!(aud = %claims.aud, "federated credential accepts a non-standard audience");
    }
    ctx.secrets.add(SecretKind::AccessToken, assertion);
    Ok(())
}
