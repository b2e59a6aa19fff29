//! The user grants of a first-party public client: the resource-owner password credentials
//! grant (`grant_type=password`, what `az login -u user -p password` does with the Azure
//! CLI's client id) and the refresh token grant that MSAL uses for every later token
//! (`grant_type=refresh_token`, "Refresh the access token" in the Microsoft identity
//! platform's authorization code flow doc). Confidential clients must use their credentials
//! (a confidential client refreshes the refresh token of its authorization code with them).
//!
//! A B2B guest signs in to the resource tenant with its home account's name and password
//! once it has redeemed its invitation (before that, and after the guest object is deleted,
//! AADSTS50034 as for any unknown account); its tokens are the resource tenant's (`tid`,
//! `iss`), name the guest object (`oid`) and carry `idp` = the home tenant's issuer,
//! `unique_name` and `email`, no `upn` (Entra "Understand user tokens in B2B collaboration").
//!
//! Refresh tokens are opaque to clients; here they are signed like access tokens (audience
//! [`REFRESH_AUDIENCE`], which no simulated service accepts) so redeeming one needs no
//! stored state. Like Entra's, one refresh token serves any resource (a multi-resource refresh
//! token) and lives 90 days ("Refresh token lifetime", configurable token lifetimes doc).

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
    context::{GuestIdentity, SimContext, TokenRequest},
    directory::{Directory, Tenant, User},
    request::{HostRequest, respond},
};

/// The Azure CLI's public client id.
pub const AZURE_CLI: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";
/// Azure PowerShell's public client id.
pub const AZURE_POWERSHELL: &str = "1950a258-227b-4e31-a9cf-717495945fc2";

const PUBLIC_CLIENTS: [&str; 2] = [AZURE_CLI, AZURE_POWERSHELL];
const OIDC_SCOPES: [&str; 3] = ["openid", "profile", "offline_access"];

/// The audience of the simulator's refresh tokens.
pub const REFRESH_AUDIENCE: &str = "urn:azure-sim:refresh-token";
/// 90 days.
pub(super) const REFRESH_LIFETIME_SECONDS: u32 = 90 * 24 * 3600;

/// True for the authorities that name no tenant: `organizations` (work and school accounts)
/// and `common` (those and personal accounts); the tenant comes from the account.
pub fn is_multi_tenant_authority(tenant: &str) -> bool {
    tenant.eq_ignore_ascii_case("organizations") || tenant.eq_ignore_ascii_case("common")
}

fn missing(parameter: &str) -> Refusal {
    Refusal(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        900_144,
        format!("The request body must contain the following parameter: '{parameter}'."),
    )
}

/// The public client asking, or the refusal Entra gives a confidential or unknown one.
fn public_client<'a>(
    ctx: &SimContext,
    tenant: &str,
    form: &'a [(String, String)],
) -> Result<&'a str, Refusal> {
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
                    "Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
                ),
            )
        });
    }
    Ok(client_id)
}

/// The client of a refresh: a first-party public client, or a confidential client (one
/// that redeemed an authorization code with `offline_access`) with its credential.
fn refreshing_client<'a>(
    ctx: &SimContext,
    req: &HostRequest,
    authority: &str,
    form: &'a [(String, String)],
    now: OffsetDateTime,
) -> Result<&'a str, Refusal> {
    let client_id = form_value(form, "client_id").ok_or_else(|| missing("client_id"))?;
    let app = ctx
        .world()
        .directory
        .application_by_app_id(client_id)
        .cloned();
    if let Some(app) = app
        && super::token::authenticate_client(ctx, req, form, &app, now)?
    {
        return Ok(client_id);
    }
    public_client(ctx, authority, form)
}

/// The resource a space-separated scope list asks for (`{resource}/.default` or
/// `{resource}/user_impersonation`, beside the OpenID Connect scopes).
fn resource_of(scope: &str) -> Result<&str, Refusal> {
    scope
        .split_whitespace()
        .filter(|w| !OIDC_SCOPES.contains(w))
        .find_map(|w| {
            w.strip_suffix("/.default")
                .or_else(|| w.strip_suffix("/user_impersonation"))
        })
        .ok_or_else(|| {
            Refusal(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                70_011,
                format!(
                    "The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid."
                ),
            )
        })
}

/// The home tenant of the account `username` names, for the `organizations` and `common`
/// authorities.
pub(super) fn account_tenant(ctx: &SimContext, form: &[(String, String)]) -> Option<Tenant> {
    let username = form_value(form, "username")?;
    let world = ctx.world();
    let user = world
        .directory
        .users
        .iter()
        .find(|u| u.upn.eq_ignore_ascii_case(username))?;
    world.directory.tenant(&user.tenant).cloned()
}

/// Who signs in: the user object in the tenant asked for, and the guest claims when that
/// object is a B2B guest the person redeemed there.
pub(super) struct SignedIn {
    /// The user object of the tenant (its `id` is the token's `oid`).
    pub(super) account: User,
    /// Set for a guest.
    pub(super) guest: Option<GuestIdentity>,
}

impl SignedIn {
    fn member(account: User) -> Self {
        Self {
            account,
            guest: None,
        }
    }
}

/// AADSTS50034, as Entra answers a password grant for an account the tenant does not know:
/// also what a person who is not (or not yet) a redeemed guest there gets with their home
/// credentials (Azure/azure-cli#17323 shows this answer to `az login -u` for a guest).
fn not_in_directory(tenant: &Tenant) -> Refusal {
    Refusal(
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        50_034,
        format!(
            "The user account {{EmailHidden}} does not exist in the {} directory. To sign into this application, the account must be added to the directory.",
            tenant.id
        ),
    )
}

/// The guest claims of `account` in a tenant, for the person `(home tenant, home id)`.
fn guest_identity(
    directory: &Directory,
    account: &User,
    person: (&str, &str),
) -> Option<GuestIdentity> {
    account.guest.as_ref()?;
    let home = directory.user(person.0, person.1)?;
    Some(GuestIdentity {
        home_tenant: home.tenant.clone(),
        home_user_id: home.id.clone(),
        address: home.upn.clone(),
    })
}

/// Answers a password grant in `tenant`: a member with its own password, or a person whose
/// guest object in `tenant` is redeemed, with the home account's name and password (the
/// token is the resource tenant's: `tid` = `tenant`, `oid` = the guest object).
pub(super) fn issue(
    ctx: &SimContext,
    req: &HostRequest,
    tenant: &Tenant,
    form: &[(String, String)],
    now: OffsetDateTime,
) -> Result<Response, Refusal> {
    let client_id = public_client(ctx, &tenant.id, form)?;
    let username = form_value(form, "username").ok_or_else(|| missing("username"))?;
    let password = form_value(form, "password").ok_or_else(|| missing("password"))?;
    let scope = form_value(form, "scope").ok_or_else(|| missing("scope"))?;
    let resource = resource_of(scope)?;
    let found = {
        let world = ctx.world();
        let d = &world.directory;
        if let Some(member) = d.user(&tenant.id, username) {
            Some((SignedIn::member(member.clone()), member.password.clone()))
        } else {
            d.home_account(username)
                .filter(|h| !h.tenant.eq_ignore_ascii_case(&tenant.id))
                .and_then(|home| {
                    let person = (home.tenant.as_str(), home.id.as_str());
                    let account = d.account_in(&tenant.id, person)?;
                    Some((
                        SignedIn {
                            account: account.clone(),
                            guest: guest_identity(d, account, person),
                        },
                        home.password.clone(),
                    ))
                })
        }
    };
    let Some((signed_in, expected)) = found else {
        return Err(not_in_directory(tenant));
    };
    if expected.as_deref() != Some(password) {
        return Err(Refusal(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            50_126,
            "Error validating credentials due to invalid username or password.".to_owned(),
        ));
    }
    Ok(answer(
        ctx, req, form, tenant, &signed_in, client_id, scope, resource, now,
    ))
}

/// Answers `grant_type=refresh_token` at `authority` (a tenant, `organizations` or `common`).
pub(super) fn refresh(
    ctx: &SimContext,
    req: &HostRequest,
    authority: &str,
    form: &[(String, String)],
    now: OffsetDateTime,
) -> Result<Response, Refusal> {
    let client_id = refreshing_client(ctx, req, authority, form, now)?;
    let presented = form_value(form, "refresh_token").ok_or_else(|| missing("refresh_token"))?;
    let scope = form_value(form, "scope").ok_or_else(|| missing("scope"))?;
    let resource = resource_of(scope)?;
    let invalid = |code: u32, message: &str| {
        Refusal(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            code,
            message.to_owned(),
        )
    };
    let claims = match ctx.signer.verify(presented, now) {
        Ok(c) if c.aud == REFRESH_AUDIENCE => c,
        Err(crate::tokens::AuthError::Expired { .. }) => {
            return Err(invalid(
                700_082,
                "The refresh token has expired due to inactivity. The token was issued on a date and was inactive for 90.00:00:00.",
            ));
        }
        _ => {
            return Err(invalid(
                9_002_313,
                "Invalid request. Request is malformed or invalid.",
            ));
        }
    };
    // A refresh token is bound to the client it was issued to.
    if !claims.appid.eq_ignore_ascii_case(client_id) {
        return Err(invalid(70_000, "Provided grant is invalid or malformed."));
    }
    let target = if is_multi_tenant_authority(authority) {
        claims.tid.clone()
    } else {
        authority.to_owned()
    };
    let world = ctx.world();
    let Some(tenant) = world.directory.tenant(&target).cloned() else {
        return Err(Refusal(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            format!(
                "Tenant '{target}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
            ),
        ));
    };
    // The person must have an account in the tenant asked for: their own there, or a guest
    // object they redeemed there.
    let (home_tenant, home_id) = world.directory.person_of(&claims.tid, &claims.oid);
    let person = (home_tenant.as_str(), home_id.as_str());
    let Some(account) = world.directory.account_in(&tenant.id, person).cloned() else {
        return Err(invalid(
            50_020,
            &format!(
                "User account '{{EmailHidden}}' from identity provider 'https://sts.windows.net/{home_tenant}/' does not exist in tenant '{}' and cannot access the application '{client_id}'({client_id}) in that tenant. The account needs to be added as an external user in the tenant first. Sign out and sign in again with a different Azure Active Directory user account.",
                tenant.display_name
            ),
        ));
    };
    let signed_in = SignedIn {
        guest: guest_identity(&world.directory, &account, person),
        account,
    };
    drop(world);
    Ok(answer(
        ctx, req, form, &tenant, &signed_in, client_id, scope, resource, now,
    ))
}

/// The token response of a user grant: access token, and refresh token / id token when
/// `offline_access` / `openid` are asked for.
#[allow(clippy::too_many_arguments)]
fn answer(
    ctx: &SimContext,
    req: &HostRequest,
    form: &[(String, String)],
    tenant: &Tenant,
    signed_in: &SignedIn,
    client_id: &str,
    scope: &str,
    resource: &str,
    now: OffsetDateTime,
) -> Response {
    let user = &signed_in.account;
    // A guest's token has no `upn` (its `unique_name`, `email` and `idp` name the home
    // account instead).
    let upn = signed_in.guest.is_none().then(|| user.upn.clone());
    let request = |audience: &str, lifetime: u32| TokenRequest {
        tenant: tenant.id.clone(),
        object_id: user.id.clone(),
        app_id: client_id.to_owned(),
        audience: audience.to_owned(),
        roles: vec![],
        mi_resource_id: None,
        lifetime_seconds: Some(lifetime),
        upn: upn.clone(),
        guest: signed_in.guest.clone(),
        scopes: None,
    };
    let words: Vec<&str> = scope.split_whitespace().collect();
    // A client declaring continuous access evaluation (`xms_cc` `cp1` in `claims`, which
    // MSAL sends for the Azure CLI's client capability CP1) gets a long-lived token, as the
    // recorded client-credentials answer shows (86399 s; "Continuous access evaluation":
    // CAE tokens live up to 28 hours).
    let cae = form_value(form, "claims").is_some_and(|c| c.to_ascii_lowercase().contains("cp1"));
    let lifetime = if cae {
        86_399
    } else {
        ctx.scenario.token_lifetime_seconds
    };
    let (token, _) = ctx.issue_token(request(resource, lifetime));
    let mut body = json!({
        "token_type": "Bearer",
        "scope": format!("{resource}/user_impersonation {resource}/.default"),
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": token,
    });
    if words.contains(&"offline_access") {
        let (refresh, _) = ctx.issue_token(request(REFRESH_AUDIENCE, REFRESH_LIFETIME_SECONDS));
        body["refresh_token"] = json!(refresh);
    }
    if words.contains(&"openid") {
        let (id_token, _) = ctx.issue_token(request(client_id, lifetime));
        body["id_token"] = json!(id_token);
        // MSAL's client_info names the home account (a guest's home uid / utid).
        let (uid, utid) = signed_in.guest.as_ref().map_or_else(
            || (user.id.clone(), tenant.id.clone()),
            |g| (g.home_user_id.clone(), g.home_tenant.clone()),
        );
        body["client_info"] =
            json!(URL_SAFE_NO_PAD.encode(json!({"uid": uid, "utid": utid}).to_string()));
    }
    respond(
        StatusCode::OK,
        &errors::token_headers(&req.request_id, now),
        body.to_string(),
    )
}
