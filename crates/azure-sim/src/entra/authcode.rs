//! Authorization codes: issued by the authorize endpoint once a user has signed in (and
//! consented), redeemed once at `POST /{tenant}/oauth2/v2.0/token` with
//! `grant_type=authorization_code` for a delegated token.
//!
//! Source: "Microsoft identity platform and OAuth 2.0 authorization code flow"
//! (MicrosoftDocs/entra-docs `docs/identity-platform/v2-oauth2-auth-code-flow.md`,
//! <https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow>): the code
//! is short-lived ("Typically, they expire after about 10 minutes"), the redemption sends
//! `client_id`, `code`, `redirect_uri` ("The same `redirect_uri` value that was used to
//! acquire the `authorization_code`"), `grant_type`, `code_verifier` ("Required if PKCE was
//! used"), an optional `scope` ("The scopes must all be from a single resource") and the
//! client's credential (`client_secret`, or `client_assertion` +
//! `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`); the
//! answer has `access_token`, `token_type`, `expires_in`, `scope`, `refresh_token` ("Only
//! provided if `offline_access` scope was requested") and `id_token` ("Only provided if
//! `openid` scope was requested").
//!
//! Refusals, checked in this order (codes from "Microsoft Entra authentication and
//! authorization error codes", `docs/identity-platform/reference-error-codes.md`, unless
//! noted):
//! - 900144 `invalid_request`: `code` or `redirect_uri` missing.
//! - The client's own checks, as for client credentials (700016, 7000215, 7000222, 70021,
//!   700211-700213, ...); no credential from a confidential (web) client: 7000218.
//! - 9002313 `invalid_grant` "Invalid request. Request is malformed or invalid." for a code
//!   not of this simulator's form (what a truncated or mangled code gets:
//!   AzureAD/microsoft-authentication-library-for-js#3088); 70000 `invalid_grant` "The
//!   provided value for the 'code' parameter is not valid." for a well-formed code it never
//!   issued (abraunegg/onedrive#1370) and, **assumed** (no public source shows that answer),
//!   for a code issued to another client.
//! - 700005 `invalid_grant` "Provided Authorization Code is intended to use against other
//!   tenant, thus rejected."
//! - 54005 `invalid_grant` "OAuth2 Authorization code was already redeemed, please retry
//!   with a new valid code or use an existing refresh token."
//! - 70008 `invalid_grant` "The provided authorization code or refresh token has expired due
//!   to inactivity. ..." (the table's ExpiredOrRevokedGrant; the wording as snok/django-auth-adfs#245
//!   quotes it), at 600 seconds.
//! - 500112 `invalid_client` (401) "The reply address '{sent}' does not match the reply
//!   address '{at authorize}' provided when requesting Authorization code." — the wording of
//!   the older AADSTS50011 form of this refusal (PartnerCenterSamples/Reseller-Web-Application#73,
//!   `invalid_client` there), under the code current answers carry (public Entra integrations
//!   of 2024-2026 name AADSTS500112 for a token-leg redirect mismatch). **Assumed**: the
//!   401 status.
//! - 50148 `invalid_grant` "The code_verifier does not match the code_challenge supplied in
//!   the authorization request for PKCE." when the verifier is not sent (pennersr/django-allauth#2916:
//!   the answer to a redemption that sent none), 501481 `invalid_grant` "The Code_Verifier
//!   does not match the code_challenge supplied in the authorization request." when it does
//!   not match (documented).
//! - 700022 `invalid_scope` for a `scope` naming two resources (documented), 65001
//!   `invalid_grant` (DelegationDoesNotExist, documented) for a resource the user did not
//!   consent to at authorize.
//!
//! **Assumed** where the docs are silent: a code is used up only by a successful redemption
//! (a refused attempt leaves it redeemable), a `code_verifier` sent for a code issued without
//! a challenge is ignored, and a public client (a `spa` or `publicClient` redirect URI)
//! redeems without a credential while a credential it sends is AADSTS700025.

use std::collections::HashMap;

use axum::response::Response;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use http::StatusCode;
use rand::RngCore;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::{
    errors,
    scopes::{Permission, Scopes},
    token::{Refusal, form_value},
};
use crate::{
    context::{SimContext, TokenRequest},
    directory::Tenant,
    request::{HostRequest, respond},
    secrets::SecretKind,
    tokens::v2_issuer,
};

/// "Authorization codes are short lived. Typically, they expire after about 10 minutes."
pub const CODE_LIFETIME_SECONDS: i64 = 600;

/// How a `code_challenge` was derived from the verifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeMethod {
    /// `BASE64URL(SHA256(ASCII(code_verifier)))` (RFC 7636 §4.2).
    S256,
    /// The verifier itself ("If excluded, `code_challenge` is assumed to be plaintext"; "The
    /// Microsoft identity platform supports both `plain` and `S256`").
    Plain,
}

impl ChallengeMethod {
    /// Reads `code_challenge_method` (absent: `plain`, as the doc says); `None` for a value
    /// Entra does not know (AADSTS50149).
    pub fn parse(value: Option<&str>) -> Option<Self> {
        match value {
            None => Some(Self::Plain),
            Some("S256") => Some(Self::S256),
            Some("plain") => Some(Self::Plain),
            Some(_) => None,
        }
    }

    fn derive(self, verifier: &str) -> String {
        match self {
            Self::S256 => s256_challenge(verifier),
            Self::Plain => verifier.to_owned(),
        }
    }
}

/// The S256 `code_challenge` of `verifier`: `BASE64URL(SHA256(ASCII(verifier)))` without
/// padding (RFC 7636 §4.2), for tests that play the client.
pub fn s256_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// A code the authorize endpoint issued and what it is bound to.
#[derive(Clone)]
pub struct IssuedCode {
    /// Tenant id the user signed in to.
    pub tenant: String,
    /// The client it was issued to.
    pub client_id: String,
    /// The `redirect_uri` of the authorize request.
    pub redirect_uri: String,
    /// The user's object id in `tenant`.
    pub user_id: String,
    /// The scopes asked for (and consented to).
    pub scopes: Scopes,
    /// The authorize request's `nonce` (the ID token's `nonce` claim).
    pub nonce: Option<String>,
    /// `code_challenge` and its method.
    pub challenge: Option<(String, ChallengeMethod)>,
    /// When it was issued.
    pub issued_at: OffsetDateTime,
    /// Set by the redemption that succeeded.
    pub redeemed: bool,
}

impl std::fmt::Debug for IssuedCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedCode")
            .field("tenant", &self.tenant)
            .field("client_id", &self.client_id)
            .field("redeemed", &self.redeemed)
            .finish_non_exhaustive()
    }
}

/// Every code issued, by value (redeemed and expired ones are kept, to answer 54005 / 70008).
#[derive(Debug, Default)]
pub struct AuthorizationCodes(HashMap<String, IssuedCode>);

/// Codes start like Entra's (`1.A…`), then 64 random base64url characters.
const CODE_PREFIX: &str = "1.A";

fn well_formed(code: &str) -> bool {
    code.strip_prefix(CODE_PREFIX).is_some_and(|rest| {
        rest.len() == 64
            && rest
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    })
}

/// Stores `issued` under a fresh opaque code and remembers the code as a known secret.
pub fn issue(ctx: &SimContext, issued: IssuedCode) -> String {
    let mut bytes = [0_u8; 48];
    rand::rng().fill_bytes(&mut bytes);
    let code = format!("{CODE_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    ctx.secrets.add(SecretKind::AuthorizationCode, &code);
    ctx.world()
        .directory
        .authorization_codes
        .0
        .insert(code.clone(), issued);
    code
}

fn invalid_grant(code: u32, message: impl Into<String>) -> Refusal {
    Refusal(
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        code,
        message.into(),
    )
}

fn missing(parameter: &str) -> Refusal {
    Refusal(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        900_144,
        format!("The request body must contain the following parameter: '{parameter}'."),
    )
}

/// Answers `grant_type=authorization_code` in `target`.
pub(super) fn redeem(
    ctx: &SimContext,
    req: &HostRequest,
    target: &Tenant,
    form: &[(String, String)],
    now: OffsetDateTime,
) -> Result<Response, Refusal> {
    let client = super::token::client_id(req, form)?;
    let code_value = form_value(form, "code").ok_or_else(|| missing("code"))?;
    let redirect_uri = form_value(form, "redirect_uri").ok_or_else(|| missing("redirect_uri"))?;
    let (app, sp) = super::token::client_in_tenant(ctx, &client, target, now)?;
    let authenticated = super::token::authenticate_client(ctx, req, form, &app, now)?;

    let issued = ctx
        .world()
        .directory
        .authorization_codes
        .0
        .get(code_value)
        .cloned();
    let Some(issued) = issued else {
        return Err(if well_formed(code_value) {
            invalid_grant(
                70_000,
                "The provided value for the 'code' parameter is not valid.",
            )
        } else {
            invalid_grant(
                9_002_313,
                "Invalid request. Request is malformed or invalid.",
            )
        });
    };
    if !issued.client_id.eq_ignore_ascii_case(&app.app_id) {
        return Err(invalid_grant(
            70_000,
            "The provided value for the 'code' parameter is not valid.",
        ));
    }
    // Public clients (SPA and mobile/desktop redirect URIs) hold no credential.
    let public = !app
        .web_redirect_uris()
        .iter()
        .any(|u| u == &issued.redirect_uri);
    match (public, authenticated) {
        (false, false) => {
            return Err(Refusal(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                7_000_218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.".to_owned(),
            ));
        }
        (true, true) => {
            return Err(Refusal(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                700_025,
                "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.".to_owned(),
            ));
        }
        _ => {}
    }
    super::token::require_service_principal(ctx, sp, &app.app_id, target, now)?;
    if !issued.tenant.eq_ignore_ascii_case(&target.id) {
        return Err(invalid_grant(
            700_005,
            "Provided Authorization Code is intended to use against other tenant, thus rejected.",
        ));
    }
    if issued.redeemed {
        return Err(invalid_grant(
            54_005,
            "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.",
        ));
    }
    if now >= issued.issued_at + time::Duration::seconds(CODE_LIFETIME_SECONDS) {
        return Err(invalid_grant(
            70_008,
            format!(
                "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource. The code was issued on {}.",
                crate::timefmt::graph_seconds(issued.issued_at)
            ),
        ));
    }
    if issued.redirect_uri != redirect_uri {
        return Err(Refusal(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            500_112,
            format!(
                "The reply address '{redirect_uri}' does not match the reply address '{}' provided when requesting Authorization code.",
                issued.redirect_uri
            ),
        ));
    }
    if let Some((challenge, method)) = &issued.challenge {
        let Some(verifier) = form_value(form, "code_verifier") else {
            return Err(invalid_grant(
                50_148,
                "The code_verifier does not match the code_challenge supplied in the authorization request for PKCE.",
            ));
        };
        if method.derive(verifier) != *challenge {
            return Err(invalid_grant(
                501_481,
                "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
            ));
        }
    }
    let permissions = token_permissions(&issued, form_value(form, "scope"), &app)?;

    let user = {
        let mut world = ctx.world();
        let user = world
            .directory
            .user(&issued.tenant, &issued.user_id)
            .cloned();
        if let Some(code) = world.directory.authorization_codes.0.get_mut(code_value) {
            code.redeemed = user.is_some();
        }
        user
    };
    let Some(user) = user else {
        // The user was deleted between sign-in and redemption.
        return Err(invalid_grant(
            70_000,
            "The provided value for the 'code' parameter is not valid.",
        ));
    };
    Ok(answer(
        ctx,
        req,
        form,
        target,
        &issued,
        &user,
        &app.app_id,
        &permissions,
        now,
    ))
}

/// The permissions the access token carries: those of the token leg's `scope` (one resource,
/// consented at authorize), else those of the first resource the authorize leg named.
fn token_permissions(
    issued: &IssuedCode,
    scope: Option<&str>,
    app: &crate::directory::Application,
) -> Result<Vec<Permission>, Refusal> {
    let asked = match scope {
        Some(s) => Scopes::parse(s).map_err(|_| {
            Refusal(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                70_011,
                format!(
                    "The provided value for the input parameter 'scope' is not valid. The scope {s} is not valid."
                ),
            )
        })?,
        None => issued.scopes.clone(),
    };
    if scope.is_some() && asked.resources().len() > 1 {
        return Err(Refusal(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            700_022,
            "The provided value for the input parameter scope is not valid because it contains more than one resource. Scope {scope} is not valid.".replace("{scope}", scope.unwrap_or_default()),
        ));
    }
    let Some(resource) = asked.resources().into_iter().next() else {
        // Only OpenID Connect scopes: Entra's token is then Microsoft Graph's (assumed).
        return Ok(vec![Permission {
            resource: super::scopes::GRAPH_RESOURCE.to_owned(),
            name: "User.Read".to_owned(),
        }]);
    };
    let consented: Vec<&Permission> = issued
        .scopes
        .permissions
        .iter()
        .filter(|p| p.resource_key() == resource)
        .collect();
    let wanted: Vec<Permission> = asked
        .permissions
        .into_iter()
        .filter(|p| p.resource_key() == resource)
        .collect();
    if consented.is_empty()
        || wanted
            .iter()
            .any(|w| !consented.iter().any(|c| c.key() == w.key()))
    {
        return Err(invalid_grant(
            65_001,
            format!(
                "The user or administrator has not consented to use the application with ID '{}' named '{}'. Send an interactive authorization request for this user and resource.",
                app.app_id,
                app.display_name()
            ),
        ));
    }
    Ok(wanted)
}

/// The claims of an ID token (v2.0, "ID token claims reference"): `aud` = the client, the
/// authorize request's `nonce`, `preferred_username`, `name`, `oid`, `tid` and a `sub`
/// that is pairwise (per application).
#[derive(Serialize)]
struct IdTokenClaims<'a> {
    aud: &'a str,
    iss: String,
    iat: i64,
    nbf: i64,
    exp: i64,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    oid: &'a str,
    preferred_username: &'a str,
    sub: String,
    tid: &'a str,
    uti: String,
    ver: &'static str,
}

#[allow(clippy::too_many_arguments)]
fn answer(
    ctx: &SimContext,
    req: &HostRequest,
    form: &[(String, String)],
    tenant: &Tenant,
    issued: &IssuedCode,
    user: &crate::directory::User,
    client_id: &str,
    permissions: &[Permission],
    now: OffsetDateTime,
) -> Response {
    let cae = form_value(form, "claims").is_some_and(|c| c.to_ascii_lowercase().contains("cp1"));
    let lifetime = if cae {
        86_399
    } else {
        ctx.scenario.token_lifetime_seconds
    };
    let resource = permissions
        .first()
        .map(|p| p.resource.clone())
        .unwrap_or_default();
    let names: Vec<&str> = permissions.iter().map(|p| p.name.as_str()).collect();
    let request = |audience: &str, lifetime: u32, scopes: Option<String>| TokenRequest {
        tenant: tenant.id.clone(),
        object_id: user.id.clone(),
        app_id: client_id.to_owned(),
        audience: audience.to_owned(),
        roles: vec![],
        mi_resource_id: None,
        lifetime_seconds: Some(lifetime),
        upn: Some(user.upn.clone()),
        guest: None,
        scopes,
    };
    let (access_token, _) = ctx.issue_token(request(
        resource.trim_end_matches('/'),
        lifetime,
        Some(names.join(" ")),
    ));
    let scope: Vec<String> = permissions.iter().map(Permission::uri).collect();
    let mut body = json!({
        "token_type": "Bearer",
        "scope": scope.join(" "),
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": access_token,
    });
    if issued.scopes.has_oidc("offline_access") {
        let (refresh, _) = ctx.issue_token(request(
            super::password::REFRESH_AUDIENCE,
            super::password::REFRESH_LIFETIME_SECONDS,
            None,
        ));
        body["refresh_token"] = json!(refresh);
    }
    if issued.scopes.has_oidc("openid") {
        let t = now.unix_timestamp();
        let sub = URL_SAFE_NO_PAD.encode(Sha256::digest(format!("{client_id}|{}", user.id)));
        let claims = IdTokenClaims {
            aud: client_id,
            iss: v2_issuer(&tenant.id),
            iat: t,
            nbf: t,
            exp: t + i64::from(lifetime),
            name: &user.display_name,
            nonce: issued.nonce.as_deref(),
            oid: &user.id,
            preferred_username: &user.upn,
            sub,
            tid: &tenant.id,
            uti: uuid::Uuid::new_v4().simple().to_string(),
            ver: "2.0",
        };
        let id_token = ctx.signer.sign_json(&claims);
        ctx.secrets.add(SecretKind::AccessToken, &id_token);
        body["id_token"] = json!(id_token);
    }
    if form_value(form, "client_info") == Some("1") {
        body["client_info"] =
            json!(URL_SAFE_NO_PAD.encode(json!({"uid": user.id, "utid": tenant.id}).to_string()));
    }
    respond(
        StatusCode::OK,
        &errors::token_headers(&req.request_id, now),
        body.to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_s256_challenge_is_rfc_7636_s_example() {
        // RFC 7636 Appendix B.
        assert_eq!(
            s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn only_s256_and_plain_are_known_methods_and_absent_means_plain() {
        assert_eq!(
            ChallengeMethod::parse(Some("S256")),
            Some(ChallengeMethod::S256)
        );
        assert_eq!(ChallengeMethod::parse(None), Some(ChallengeMethod::Plain));
        assert_eq!(ChallengeMethod::parse(Some("s256")), None);
        assert_eq!(ChallengeMethod::parse(Some("S512")), None);
    }

    #[test]
    fn codes_of_another_shape_are_malformed() {
        assert!(well_formed(&format!("1.A{}", "a".repeat(64))));
        assert!(!well_formed("1.Ashort"));
        assert!(!well_formed(&format!("0.B{}", "a".repeat(64))));
    }
}
