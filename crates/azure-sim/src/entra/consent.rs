//! The interactive sign-in and consent pages, as plain HTML forms a test can submit with HTTP:
//! `GET /{tenant}/v2.0/adminconsent`, `GET /{tenant}/adminconsent` (v1),
//! `GET /{tenant}/oauth2/authorize` (v1) and `GET /{tenant}/oauth2/v2.0/authorize` show a
//! sign-in form (`<form id="signin">`, fields `login`, `passwd`); then, unless the user
//! already consented, the consent page (app, publisher, permissions) with
//! `<form id="accept">` (for an admin with the checkbox `consent_on_behalf`, "Consent on
//! behalf of your organization") and `<form id="cancel">`. The admin consent endpoints create
//! the app's service principal and redirect back; the authorize endpoints record the consent,
//! issue an authorization code ([`super::authcode`]) and send it to `redirect_uri`.
//!
//! The authorize endpoint follows "Microsoft identity platform and OAuth 2.0 authorization
//! code flow" (MicrosoftDocs/entra-docs `docs/identity-platform/v2-oauth2-auth-code-flow.md`):
//! parameters `client_id`, `response_type` (must include `code`), `redirect_uri` ("must
//! exactly match one of the redirect URIs you registered"), `scope`, `response_mode`
//! (`query` default, `fragment`, `form_post`), `state`, `prompt` (`login`, `none`, `consent`,
//! `select_account`; and `admin_consent`, which the v1 endpoint documents), `login_hint`,
//! `nonce`, `code_challenge`, `code_challenge_method` (`S256` or `plain`, "If excluded,
//! `code_challenge` is assumed to be plaintext"). Success: `redirect_uri?code=...&state=...`;
//! errors "may also be sent to the `redirect_uri`": `error` + `error_description` + `state`.
//!
//! What is refused how (codes from "Microsoft Entra authentication and authorization error
//! codes", `docs/identity-platform/reference-error-codes.md`, unless noted). On an error page,
//! never a redirect (RFC 6749 §4.1.2.1: the client and redirect URI are not trusted yet):
//! an unknown tenant (90002), no `client_id` (900144), an unknown client (700016), a
//! `redirect_uri` that is not registered, compared exactly (50011 InvalidReplyTo), none at
//! the v2 endpoint (900971 "No reply address provided."). Redirected to `redirect_uri`:
//! `invalid_request` for a missing `response_type` or `scope` (900144), an unknown
//! `response_mode` (70007, sent as a query), a `code_challenge_method` without a
//! `code_challenge` (50147 MissingCodeChallenge), an unknown method (50149 "Invalid
//! Code_Challenge_method parameter.", in the table since MicrosoftDocs/entra-docs#1538), a
//! challenge outside RFC 7636's 43–128 characters (501491 "Invalid size of Code_Challenge
//! parameter."); `unsupported_response_type` for `id_token` / `token` (700054, the hybrid flow
//! is not simulated) or no `code` (70005); `invalid_resource` for an unknown resource
//! (500011); `invalid_scope` (70011); `login_required` for `prompt=none` (50058: the
//! simulator keeps no browser session); `access_denied` with AADSTS65004 "User declined to
//! consent to access the app." when the user cancels. A user whose password is wrong sees the
//! form again with AADSTS50126; a non-admin asked for admin-restricted permissions (or for
//! `prompt=admin_consent`) sees "Need admin approval" with AADSTS90094.
//!
//! **Assumed** (not documented): the pages' wording and layout; that an admin's consent to
//! admin-restricted permissions is always for the organization; that the v2 success redirect
//! carries `code` and `state` only (the doc's example) while the v1 one adds `session_state`
//! (as before); that errors after the redirect URI is validated are redirected rather than
//! shown, also for `response_type`.

use std::collections::HashMap;

use axum::response::Response;
use http::StatusCode;

use super::{
    authcode::{self, ChallengeMethod, IssuedCode},
    scopes::{ScopeError, Scopes},
};
use crate::{
    context::SimContext,
    directory::{Application, User},
    request::{HostRequest, respond},
};

/// Which consent protocol the page was opened with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// `/{tenant}/v2.0/adminconsent`
    AdminConsentV2,
    /// `/{tenant}/adminconsent`
    AdminConsentV1,
    /// `/{tenant}/oauth2/authorize` (v1: `resource`, answers add `session_state`)
    Authorize,
    /// `/{tenant}/oauth2/v2.0/authorize`
    AuthorizeV2,
}

impl Flow {
    /// True for the authorization endpoints (which issue codes).
    pub fn is_authorize(self) -> bool {
        matches!(self, Self::Authorize | Self::AuthorizeV2)
    }

    /// The tenant and flow of a path on `login.microsoftonline.com`.
    pub fn of_path(path: &str) -> Option<(String, Self)> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let flow = match segments.as_slice() {
            [_, "v2.0", "adminconsent"] => Self::AdminConsentV2,
            [_, "adminconsent"] => Self::AdminConsentV1,
            [_, "oauth2", "authorize"] => Self::Authorize,
            [_, "oauth2", "v2.0", "authorize"] => Self::AuthorizeV2,
            _ => return None,
        };
        Some((segments[0].to_owned(), flow))
    }
}

/// What an error page says: an AADSTS code and its message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("AADSTS{code}: {message}")]
pub struct PageError {
    /// The AADSTS number.
    pub code: u32,
    /// The message after `AADSTSnnnn: `.
    pub message: String,
}

fn page_error(code: u32, message: impl Into<String>) -> PageError {
    PageError {
        code,
        message: message.into(),
    }
}

/// How the authorize endpoint answers the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMode {
    /// Parameters in the redirect's query.
    Query,
    /// Parameters in the redirect's fragment.
    Fragment,
    /// An auto-submitting `<form id="hiddenform" method="post">` to the redirect URI.
    FormPost,
}

impl ResponseMode {
    fn parse(value: Option<&str>) -> Option<Self> {
        match value {
            None | Some("query") => Some(Self::Query),
            Some("fragment") => Some(Self::Fragment),
            Some("form_post") => Some(Self::FormPost),
            Some(_) => None,
        }
    }

    /// `query`, `fragment` or `form_post`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Query => "query",
            Self::Fragment => "fragment",
            Self::FormPost => "form_post",
        }
    }
}

/// What the endpoint sends back to the client's `redirect_uri`: a code (`code`, `state`) or
/// an error (`error`, `error_description`, `state`), or the admin consent result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizeResponse {
    /// Where it goes.
    pub redirect_uri: String,
    /// How.
    pub response_mode: ResponseMode,
    /// The parameters, in order.
    pub params: Vec<(String, String)>,
}

impl AuthorizeResponse {
    fn new(redirect_uri: &str, mode: ResponseMode, pairs: &[(&str, Option<&str>)]) -> Self {
        Self {
            redirect_uri: redirect_uri.to_owned(),
            response_mode: mode,
            params: pairs
                .iter()
                .filter_map(|(k, v)| v.map(|v| ((*k).to_owned(), v.to_owned())))
                .collect(),
        }
    }

    /// A parameter's value.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The authorization code, on success.
    pub fn code(&self) -> Option<&str> {
        self.param("code")
    }

    /// The OAuth `error`, on failure.
    pub fn error(&self) -> Option<&str> {
        self.param("error")
    }

    /// The URL a browser ends at: the redirect URI with the parameters in its query or
    /// fragment (`form_post`: in its query, as a reader's convenience; the browser POSTs them).
    pub fn location(&self) -> String {
        let Ok(mut url) = url::Url::parse(&self.redirect_uri) else {
            return self.redirect_uri.clone();
        };
        if self.response_mode == ResponseMode::Fragment {
            let fragment: String = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&self.params)
                .finish();
            url.set_fragment(Some(&fragment));
        } else {
            url.query_pairs_mut().extend_pairs(&self.params);
        }
        url.to_string()
    }

    /// The HTTP answer: a 302, or the auto-submitting form of `form_post`.
    pub fn http(&self) -> Response {
        if self.response_mode != ResponseMode::FormPost {
            return redirect(&self.location());
        }
        let fields: Vec<(&str, &str)> = self
            .params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        respond(
            StatusCode::OK,
            &[
                ("content-type", "text/html; charset=utf-8".to_owned()),
                ("cache-control", "no-store, no-cache".to_owned()),
                ("pragma", "no-cache".to_owned()),
            ],
            format!(
                "<html><head><title>Working...</title></head><body><form id=\"hiddenform\" method=\"POST\" name=\"hiddenform\" action=\"{}\">{}<noscript><p>Script is disabled. Click Submit to continue.</p><input type=\"submit\" value=\"Submit\" /></noscript></form><script language=\"javascript\">document.forms[0].submit();</script></body></html>",
                escape(&self.redirect_uri),
                hidden(&fields)
            ),
        )
    }
}

/// What the person does on the consent page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentChoice {
    /// Accept (for themselves; for the organization when the permissions need an admin).
    Accept,
    /// Accept with "Consent on behalf of your organization" checked (admins only).
    AcceptForOrganization,
    /// Cancel.
    Cancel,
}

/// The authorize request's own parameters, checked.
#[derive(Debug, Clone)]
struct AuthorizeParams {
    response_mode: ResponseMode,
    scopes: Scopes,
    nonce: Option<String>,
    challenge: Option<(String, ChallengeMethod)>,
    prompt: Option<String>,
}

/// A signed-in user looking at a consent page.
#[derive(Debug, Clone)]
pub struct ConsentSession {
    tenant: String,
    user_id: String,
    user_upn: String,
    client_id: String,
    redirect_uri: String,
    state: Option<String>,
    scope: Option<String>,
    flow: Flow,
    authorize: Option<AuthorizeParams>,
    /// The consent will be for the organization whatever the checkbox says.
    for_organization: bool,
}

/// Open consent sessions by id.
#[derive(Debug, Default)]
pub struct ConsentSessions(HashMap<String, ConsentSession>);

pub(super) fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

pub(super) fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{}</title></head>\n<body>\n<h1>{}</h1>\n{body}\n</body></html>\n",
        escape(title),
        escape(title)
    );
    respond(
        status,
        &[
            ("content-type", "text/html; charset=utf-8".to_owned()),
            ("cache-control", "no-store, no-cache".to_owned()),
            ("pragma", "no-cache".to_owned()),
        ],
        html,
    )
}

fn error_page(e: &PageError, req: &HostRequest) -> Response {
    page(
        StatusCode::BAD_REQUEST,
        "Sign in to your account",
        &format!(
            "<p id=\"error\">AADSTS{}: {}</p>\n<p>Request Id: {}</p>",
            e.code,
            escape(&e.message),
            escape(&req.request_id)
        ),
    )
}

fn need_admin_message(app: &str) -> String {
    format!(
        "Admin consent is required for the permissions requested by this application. {app} needs permission to access resources in your organization that only an admin can grant. Please ask an admin to grant permission to this app before you can use it."
    )
}

fn need_admin_page(app: &str) -> Response {
    page(
        StatusCode::OK,
        "Need admin approval",
        &format!(
            "<p id=\"error\">AADSTS90094: {}</p>",
            escape(&need_admin_message(app))
        ),
    )
}

pub(super) fn hidden(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                escape(k),
                escape(v)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub(super) fn redirect(location: &str) -> Response {
    respond(
        StatusCode::FOUND,
        &[
            ("location", location.to_owned()),
            ("cache-control", "no-store, no-cache".to_owned()),
            ("content-type", "text/html; charset=utf-8".to_owned()),
        ],
        format!(
            "<html><head><title>Object moved</title></head><body><h2>Object moved to <a href=\"{}\">here</a>.</h2></body></html>",
            escape(location)
        ),
    )
}

/// Parameters of the page, from the query (GET) or the posted form.
struct Params(Vec<(String, String)>);

impl Params {
    fn of(req: &HostRequest) -> Self {
        if req.method == http::Method::POST {
            Self(req.form())
        } else {
            Self::of_query(req.query.as_deref().unwrap_or_default())
        }
    }

    fn of_query(query: &str) -> Self {
        Self(
            url::form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
        )
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }
}

/// What was checked before the sign-in page.
struct Checked {
    tenant_id: String,
    tenant_name: String,
    app: Application,
    publisher: String,
    redirect_uri: String,
}

/// The checks whose failure is an error page: tenant, client, redirect URI.
fn check(
    ctx: &SimContext,
    tenant: &str,
    params: &Params,
    flow: Flow,
) -> Result<Checked, PageError> {
    let world = ctx.world();
    let directory = &world.directory;
    let Some(t) = directory.tenant(tenant) else {
        return Err(page_error(
            90002,
            format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            ),
        ));
    };
    let Some(client_id) = params.get("client_id") else {
        return Err(page_error(
            900_144,
            "The request body must contain the following parameter: 'client_id'.",
        ));
    };
    let app = directory.application_by_app_id(client_id).cloned();
    let Some(app) = app.filter(|a| a.tenant.eq_ignore_ascii_case(&t.id) || a.is_multi_tenant())
    else {
        return Err(page_error(
            700_016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory '{}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.",
                t.display_name
            ),
        ));
    };
    let registered = app.redirect_uris();
    let redirect_uri = match params.get("redirect_uri") {
        Some(uri) => uri.to_owned(),
        None if flow == Flow::AuthorizeV2 => {
            return Err(page_error(900_971, "No reply address provided."));
        }
        None if flow != Flow::AdminConsentV2 && !registered.is_empty() => registered[0].clone(),
        None => String::new(),
    };
    if !registered.iter().any(|r| r == &redirect_uri) {
        return Err(page_error(
            50011,
            format!(
                "The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs configured for the application '{}'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal. Navigate to https://aka.ms/redirectUriMismatchError to learn more about how to fix this.",
                app.app_id
            ),
        ));
    }
    let publisher = directory
        .tenant(&app.tenant)
        .map(|p| format!("{} ({})", p.display_name, p.domain))
        .unwrap_or_else(|| app.tenant.clone());
    Ok(Checked {
        tenant_id: t.id.clone(),
        tenant_name: t.display_name.clone(),
        app,
        publisher,
        redirect_uri,
    })
}

/// An error sent to the client's redirect URI.
fn redirected_error(
    checked: &Checked,
    params: &Params,
    mode: ResponseMode,
    error: &str,
    code: u32,
    message: &str,
) -> AuthorizeResponse {
    let description = format!("AADSTS{code}: {message}");
    AuthorizeResponse::new(
        &checked.redirect_uri,
        mode,
        &[
            ("error", Some(error)),
            ("error_description", Some(&description)),
            ("state", params.get("state")),
        ],
    )
}

/// The authorize request's checks whose failure is sent to the redirect URI.
fn authorize_params(
    checked: &Checked,
    params: &Params,
    flow: Flow,
) -> Result<AuthorizeParams, AuthorizeResponse> {
    let Some(mode) = ResponseMode::parse(params.get("response_mode")) else {
        return Err(redirected_error(
            checked,
            params,
            ResponseMode::Query,
            "invalid_request",
            70007,
            &format!(
                "The application returned an unsupported value of 'response_mode' ('{}') when requesting a token.",
                params.get("response_mode").unwrap_or_default()
            ),
        ));
    };
    let fail = |error: &str, code: u32, message: &str| {
        Err(redirected_error(
            checked, params, mode, error, code, message,
        ))
    };
    let missing =
        |name: &str| format!("The request body must contain the following parameter: '{name}'.");
    let Some(response_type) = params.get("response_type") else {
        return fail("invalid_request", 900_144, &missing("response_type"));
    };
    let types: Vec<&str> = response_type.split_whitespace().collect();
    if types.contains(&"id_token") || types.contains(&"token") {
        return fail(
            "unsupported_response_type",
            700_054,
            "response_type 'id_token' is not enabled for the application.",
        );
    }
    if types != ["code"] {
        return fail(
            "unsupported_response_type",
            70005,
            &format!(
                "The provided value for the input parameter 'response_type' ('{response_type}') is not supported."
            ),
        );
    }
    let scope_text = match (params.get("scope"), params.get("resource")) {
        (Some(s), _) => s.to_owned(),
        (None, Some(resource)) if flow == Flow::Authorize => format!("{resource}/.default"),
        (None, _) if flow == Flow::Authorize => String::new(),
        (None, _) => return fail("invalid_request", 900_144, &missing("scope")),
    };
    let scopes = match Scopes::parse(&scope_text) {
        Ok(s) => s,
        Err(ScopeError::UnknownResource(r)) => {
            return fail(
                "invalid_resource",
                500_011,
                &format!(
                    "The resource principal named {r} was not found in the tenant named {}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.",
                    checked.tenant_name
                ),
            );
        }
        Err(ScopeError::InvalidScope(s)) => {
            return fail(
                "invalid_scope",
                70011,
                &format!(
                    "The provided value for the input parameter 'scope' is not valid. The scope {s} is not valid."
                ),
            );
        }
    };
    let method = params.get("code_challenge_method");
    let challenge = match params.get("code_challenge") {
        None if method.is_some() => {
            return fail(
                "invalid_request",
                50147,
                "MissingCodeChallenge: the code_challenge parameter is required when code_challenge_method is sent.",
            );
        }
        None => None,
        Some(c) => {
            let Some(m) = ChallengeMethod::parse(method) else {
                return fail(
                    "invalid_request",
                    50149,
                    "Invalid Code_Challenge_method parameter.",
                );
            };
            if !(43..=128).contains(&c.len()) {
                return fail(
                    "invalid_request",
                    501_491,
                    "Invalid size of Code_Challenge parameter.",
                );
            }
            Some((c.to_owned(), m))
        }
    };
    let prompt = params.get("prompt").map(str::to_owned);
    if prompt.as_deref() == Some("none") {
        return fail(
            "login_required",
            50058,
            "A silent sign-in request was sent but no user is signed in.",
        );
    }
    Ok(AuthorizeParams {
        response_mode: mode,
        scopes,
        nonce: params.get("nonce").map(str::to_owned),
        challenge,
        prompt,
    })
}

/// Why the flow stops before its sign-in page: an error page, or an answer to the client.
enum Halt {
    Page(PageError),
    Respond(AuthorizeResponse),
}

/// Every check of the first request (GET), for `flow`.
fn prepare(
    ctx: &SimContext,
    tenant: &str,
    params: &Params,
    flow: Flow,
) -> Result<(Checked, Option<AuthorizeParams>), Halt> {
    let checked = check(ctx, tenant, params, flow).map_err(Halt::Page)?;
    let authorize = if flow.is_authorize() {
        Some(authorize_params(&checked, params, flow).map_err(Halt::Respond)?)
    } else {
        None
    };
    Ok((checked, authorize))
}

const PASS_THROUGH: [&str; 13] = [
    "client_id",
    "redirect_uri",
    "state",
    "scope",
    "response_type",
    "response_mode",
    "prompt",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "login_hint",
    "domain_hint",
    "resource",
];

fn sign_in_page(checked: &Checked, params: &Params, action: &str, error: Option<&str>) -> Response {
    let mut fields: Vec<(&str, &str)> = PASS_THROUGH
        .iter()
        .filter_map(|k| params.get(k).map(|v| (*k, v)))
        .collect();
    fields.push(("step", "signin"));
    let error = error
        .map(|e| format!("<p id=\"error\">{}</p>\n", escape(e)))
        .unwrap_or_default();
    let login = params
        .get("login")
        .or_else(|| params.get("login_hint"))
        .unwrap_or_default();
    page(
        StatusCode::OK,
        "Sign in to your account",
        &format!(
            "<p>Sign in to <b>{}</b> to review permissions requested by <b>{}</b>.</p>\n{error}<form id=\"signin\" method=\"post\" action=\"{}\">\n{}\n<label>Email <input type=\"email\" name=\"login\" value=\"{}\"></label>\n<label>Password <input type=\"password\" name=\"passwd\"></label>\n<button type=\"submit\">Sign in</button>\n</form>",
            escape(&checked.tenant_name),
            escape(checked.app.display_name()),
            escape(action),
            hidden(&fields),
            escape(login)
        ),
    )
}

/// The admin consent pages' list: the `scope` words and the app's required resource access.
fn permissions(app: &Application, scope: Option<&str>) -> Vec<String> {
    let mut out: Vec<String> = scope
        .map(|s| {
            s.split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if let Some(rra) = app
        .props
        .get("requiredResourceAccess")
        .and_then(|v| v.as_array())
    {
        for resource in rra {
            let resource_id = resource
                .get("resourceAppId")
                .and_then(|v| v.as_str())
                .unwrap_or_default();
            for access in resource
                .get("resourceAccess")
                .and_then(|v| v.as_array())
                .into_iter()
                .flatten()
            {
                let id = access
                    .get("id")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default();
                let kind = access
                    .get("type")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default();
                let name = match id {
                    "e1fe6dd8-ba31-4d61-89e7-88639da4683d" => {
                        "User.Read (Sign in and read user profile)".to_owned()
                    }
                    _ => format!("{id} ({kind}) on {resource_id}"),
                };
                out.push(name);
            }
        }
    }
    out
}

fn consent_page(
    checked: &Checked,
    session: &ConsentSession,
    session_id: &str,
    admin: bool,
    action: &str,
) -> Response {
    let listed = match &session.authorize {
        Some(a) if !a.scopes.oidc.is_empty() || !a.scopes.permissions.is_empty() => {
            a.scopes.descriptions()
        }
        _ => permissions(&checked.app, session.scope.as_deref()),
    };
    let items: String = listed
        .iter()
        .map(|p| format!("<li>{}</li>", escape(p)))
        .collect();
    // Entra's checkbox: "Consent on behalf of your organization", for admins only.
    let on_behalf = if admin && session.authorize.is_some() && !session.for_organization {
        "\n<label><input type=\"checkbox\" name=\"consent_on_behalf\" value=\"true\"> Consent on behalf of your organization</label>"
    } else {
        ""
    };
    let form = |step: &str, label: &str, extra: &str| {
        format!(
            "<form id=\"{step}\" method=\"post\" action=\"{}\">\n{}{extra}\n<button type=\"submit\">{label}</button>\n</form>",
            escape(action),
            hidden(&[("step", step), ("session", session_id)])
        )
    };
    let whom = if session.for_organization || session.authorize.is_none() {
        format!("Accept for your organization ({}):", checked.tenant_name)
    } else {
        format!("{} would like to:", checked.app.display_name())
    };
    page(
        StatusCode::OK,
        "Permissions requested",
        &format!(
            "<p id=\"app\">{}</p>\n<p id=\"publisher\">{}</p>\n<p id=\"user\">{}</p>\n<p>{}</p>\n<ul id=\"permissions\">{items}</ul>\n{}\n{}",
            escape(checked.app.display_name()),
            escape(&checked.publisher),
            escape(&session.user_upn),
            escape(&whom),
            form("accept", "Accept", on_behalf),
            form("cancel", "Cancel", "")
        ),
    )
}

/// Where signing in leads.
enum SignedIn {
    /// The sign-in form again, with this error.
    Again(String),
    /// "Need admin approval" (AADSTS90094) for this app.
    NeedAdmin(String),
    /// The consent page of this session.
    Consent(String, Box<ConsentSession>, bool),
    /// Consent was given before: the answer to the client at once.
    Done(AuthorizeResponse),
}

fn sign_in(
    ctx: &SimContext,
    tenant: &str,
    params: &Params,
    flow: Flow,
) -> Result<(Checked, SignedIn), Halt> {
    let (checked, authorize) = prepare(ctx, tenant, params, flow)?;
    let login = params.get("login").unwrap_or_default();
    let password = params.get("passwd").unwrap_or_default();
    let user = ctx
        .world()
        .directory
        .user(&checked.tenant_id, login)
        .cloned();
    let Some(user) = user.filter(|u| u.password.as_deref() == Some(password)) else {
        return Ok((
            checked,
            SignedIn::Again(
                "AADSTS50126: Error validating credentials due to invalid username or password."
                    .to_owned(),
            ),
        ));
    };
    let app_name = checked.app.display_name().to_owned();
    let Some(authorize) = authorize else {
        // The admin consent endpoints: only an admin goes on.
        if !user.is_admin() {
            return Ok((checked, SignedIn::NeedAdmin(app_name)));
        }
        let session = new_session(&checked, &user, params, flow, None, true);
        return Ok(open_session(ctx, checked, session, true));
    };
    let admin_prompt = authorize.prompt.as_deref() == Some("admin_consent");
    let for_organization = admin_prompt || authorize.scopes.needs_admin();
    let consented = {
        let world = ctx.world();
        let d = &world.directory;
        d.service_principal(&checked.tenant_id, &checked.app.app_id)
            .is_some()
            && d.delegated_grants.cover(
                &checked.tenant_id,
                &checked.app.app_id,
                &user.id,
                &authorize.scopes,
            )
    };
    if consented && !admin_prompt && authorize.prompt.as_deref() != Some("consent") {
        let session = new_session(&checked, &user, params, flow, Some(authorize), false);
        return Ok((checked, SignedIn::Done(issue_code(ctx, &session))));
    }
    if for_organization && !user.is_admin() {
        return Ok((checked, SignedIn::NeedAdmin(app_name)));
    }
    let admin = user.is_admin();
    let session = new_session(
        &checked,
        &user,
        params,
        flow,
        Some(authorize),
        for_organization,
    );
    Ok(open_session(ctx, checked, session, admin))
}

fn new_session(
    checked: &Checked,
    user: &User,
    params: &Params,
    flow: Flow,
    authorize: Option<AuthorizeParams>,
    for_organization: bool,
) -> ConsentSession {
    ConsentSession {
        tenant: checked.tenant_id.clone(),
        user_id: user.id.clone(),
        user_upn: user.upn.clone(),
        client_id: checked.app.app_id.clone(),
        redirect_uri: checked.redirect_uri.clone(),
        state: params.get("state").map(str::to_owned),
        scope: params.get("scope").map(str::to_owned),
        flow,
        authorize,
        for_organization,
    }
}

fn open_session(
    ctx: &SimContext,
    checked: Checked,
    session: ConsentSession,
    admin: bool,
) -> (Checked, SignedIn) {
    let session_id = uuid::Uuid::new_v4().to_string();
    ctx.world()
        .directory
        .consent_sessions
        .0
        .insert(session_id.clone(), session.clone());
    (
        checked,
        SignedIn::Consent(session_id, Box::new(session), admin),
    )
}

/// Issues the code of an authorize session and the answer that carries it.
fn issue_code(ctx: &SimContext, s: &ConsentSession) -> AuthorizeResponse {
    let Some(a) = &s.authorize else {
        return AuthorizeResponse::new(&s.redirect_uri, ResponseMode::Query, &[]);
    };
    let code = authcode::issue(
        ctx,
        IssuedCode {
            tenant: s.tenant.clone(),
            client_id: s.client_id.clone(),
            redirect_uri: s.redirect_uri.clone(),
            user_id: s.user_id.clone(),
            scopes: a.scopes.clone(),
            nonce: a.nonce.clone(),
            challenge: a.challenge.clone(),
            issued_at: ctx.now(),
            redeemed: false,
        },
    );
    let session_state = (s.flow == Flow::Authorize).then(|| uuid::Uuid::new_v4().to_string());
    AuthorizeResponse::new(
        &s.redirect_uri,
        a.response_mode,
        &[
            ("code", Some(&code)),
            ("state", s.state.as_deref()),
            ("session_state", session_state.as_deref()),
        ],
    )
}

/// Accept or Cancel on the consent page of `session_id`.
fn decide(
    ctx: &SimContext,
    session_id: Option<&str>,
    choice: ConsentChoice,
) -> Result<AuthorizeResponse, PageError> {
    let session = session_id.and_then(|id| ctx.world().directory.consent_sessions.0.remove(id));
    let Some(s) = session else {
        return Err(page_error(
            50058,
            "A silent sign-in request was sent but no user is signed in. The consent session is unknown or was already used.",
        ));
    };
    let state = s.state.as_deref();
    let query = ResponseMode::Query;
    if choice == ConsentChoice::Cancel {
        return Ok(match (s.flow, &s.authorize) {
            (Flow::AdminConsentV2, _) => AuthorizeResponse::new(
                &s.redirect_uri,
                query,
                &[
                    ("admin_consent", Some("True")),
                    ("error", Some("consent_required")),
                    (
                        "error_description",
                        Some(
                            "AADSTS65004: The resource owner or authorization server denied the request.",
                        ),
                    ),
                    ("state", state),
                ],
            ),
            (Flow::AdminConsentV1, _) => AuthorizeResponse::new(
                &s.redirect_uri,
                query,
                &[
                    ("error", Some("permission_denied")),
                    ("error_description", Some("The admin canceled the request")),
                    ("state", state),
                ],
            ),
            (_, a) => AuthorizeResponse::new(
                &s.redirect_uri,
                a.as_ref().map_or(query, |a| a.response_mode),
                &[
                    ("error", Some("access_denied")),
                    (
                        "error_description",
                        Some("AADSTS65004: User declined to consent to access the app."),
                    ),
                    ("state", state),
                ],
            ),
        });
    }
    let now = ctx.now();
    if let Some(a) = &s.authorize {
        let for_organization = s.for_organization || choice == ConsentChoice::AcceptForOrganization;
        let mut world = ctx.world();
        let d = &mut world.directory;
        let admin = d.user(&s.tenant, &s.user_id).is_some_and(User::is_admin);
        d.consent_delegated(
            &s.tenant,
            &s.client_id,
            &s.user_id,
            for_organization && admin,
            &a.scopes,
            now,
        )
        .map_err(|e| page_error(90094, e.to_string()))?;
        drop(world);
        return Ok(issue_code(ctx, &s));
    }
    ctx.world()
        .directory
        .admin_consent(&s.tenant, &s.client_id, &s.user_upn, now)
        .map_err(|e| page_error(90094, e.to_string()))?;
    Ok(match s.flow {
        Flow::AdminConsentV1 => AuthorizeResponse::new(
            &s.redirect_uri,
            query,
            &[
                ("admin_consent", Some("True")),
                ("tenant", Some(&s.tenant)),
                ("state", state),
            ],
        ),
        _ => AuthorizeResponse::new(
            &s.redirect_uri,
            query,
            &[
                ("admin_consent", Some("True")),
                ("tenant", Some(&s.tenant)),
                ("scope", s.scope.as_deref()),
                ("state", state),
            ],
        ),
    })
}

/// Serves the consent pages for `tenant`; `action` is the form target (the last path segment).
pub fn handle(
    ctx: &SimContext,
    req: &HostRequest,
    tenant: &str,
    flow: Flow,
    action: &str,
) -> Response {
    let params = Params::of(req);
    let halted = |h: Halt| match h {
        Halt::Page(e) => error_page(&e, req),
        Halt::Respond(r) => r.http(),
    };
    match params.get("step") {
        Some(step @ ("accept" | "cancel")) => {
            let choice = match (step, params.get("consent_on_behalf")) {
                ("cancel", _) => ConsentChoice::Cancel,
                (_, Some("true" | "on" | "1")) => ConsentChoice::AcceptForOrganization,
                _ => ConsentChoice::Accept,
            };
            match decide(ctx, params.get("session"), choice) {
                Ok(r) => r.http(),
                Err(e) => error_page(&e, req),
            }
        }
        Some("signin") => match sign_in(ctx, tenant, &params, flow) {
            Err(h) => halted(h),
            Ok((checked, SignedIn::Again(error))) => {
                sign_in_page(&checked, &params, action, Some(&error))
            }
            Ok((_, SignedIn::NeedAdmin(app))) => need_admin_page(&app),
            Ok((checked, SignedIn::Consent(id, session, admin))) => {
                consent_page(&checked, &session, &id, admin, action)
            }
            Ok((_, SignedIn::Done(r))) => r.http(),
        },
        _ => match prepare(ctx, tenant, &params, flow) {
            Ok((checked, _)) => sign_in_page(&checked, &params, action, None),
            Err(h) => halted(h),
        },
    }
}

/// Why [`sign_in_and_consent`] stopped short of an answer to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignInError {
    /// Not a sign-in URL of `login.microsoftonline.com` the simulator serves.
    #[error("not an authorize or admin consent URL of login.microsoftonline.com: {0}")]
    NotASignInUrl(String),
    /// What the page showed instead: an error page (50011, 700016, ...), the sign-in form
    /// again (50126) or "Need admin approval" (90094).
    #[error(transparent)]
    Page(PageError),
}

/// Plays the browser through an authorize (or admin consent) URL as the client built it:
/// `login` signs in with `password` and, when the consent page shows, makes `choice`. The
/// answer is what the client's `redirect_uri` receives — a code, or an error such as
/// `access_denied` — exactly as the HTML pages would produce it. `url` may name the real host
/// (`https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize?...`) or the
/// simulator's address of it (`http://127.0.0.1:PORT/login.microsoftonline.com/...`).
pub fn sign_in_and_consent(
    ctx: &SimContext,
    url: &str,
    login: &str,
    password: &str,
    choice: ConsentChoice,
) -> Result<AuthorizeResponse, SignInError> {
    let not_ours = || SignInError::NotASignInUrl(url.to_owned());
    let parsed = url::Url::parse(url).map_err(|_| not_ours())?;
    let path = if parsed.host_str() == Some("login.microsoftonline.com") {
        parsed.path().to_owned()
    } else {
        parsed
            .path()
            .strip_prefix("/login.microsoftonline.com")
            .ok_or_else(not_ours)?
            .to_owned()
    };
    let (tenant, flow) = Flow::of_path(&path).ok_or_else(not_ours)?;
    let mut params = Params::of_query(parsed.query().unwrap_or_default());
    params.0.retain(|(k, _)| k != "login" && k != "passwd");
    params.0.push(("login".to_owned(), login.to_owned()));
    params.0.push(("passwd".to_owned(), password.to_owned()));
    match sign_in(ctx, &tenant, &params, flow) {
        Err(Halt::Page(e)) => Err(SignInError::Page(e)),
        Err(Halt::Respond(r)) | Ok((_, SignedIn::Done(r))) => Ok(r),
        Ok((_, SignedIn::Again(error))) => Err(SignInError::Page(page_error(
            50126,
            error.trim_start_matches("AADSTS50126: "),
        ))),
        Ok((_, SignedIn::NeedAdmin(app))) => Err(SignInError::Page(page_error(
            90094,
            need_admin_message(&app),
        ))),
        Ok((_, SignedIn::Consent(id, _, _))) => {
            decide(ctx, Some(&id), choice).map_err(SignInError::Page)
        }
    }
}
