//! The interactive admin consent pages, as plain HTML forms a test can submit with HTTP:
//! `GET /{tenant}/v2.0/adminconsent`, `GET /{tenant}/adminconsent` (v1) and
//! `GET /{tenant}/oauth2/authorize` show a sign-in form; signing in as an admin of the
//! tenant shows the consent page (app, publisher, permissions) with Accept and Cancel;
//! Accept creates the app's service principal in the tenant and redirects back.

use std::collections::HashMap;

use axum::response::Response;
use http::StatusCode;

use crate::{
    context::SimContext,
    directory::Application,
    request::{HostRequest, respond},
};

/// Which consent protocol the page was opened with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// `/{tenant}/v2.0/adminconsent`
    AdminConsentV2,
    /// `/{tenant}/adminconsent`
    AdminConsentV1,
    /// `/{tenant}/oauth2/authorize` (and `/oauth2/v2.0/authorize`)
    Authorize,
}

/// A signed-in admin looking at the consent page.
#[derive(Debug, Clone)]
pub struct ConsentSession {
    tenant: String,
    user_upn: String,
    client_id: String,
    redirect_uri: String,
    state: Option<String>,
    scope: Option<String>,
    flow: Flow,
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

fn error_page(code: u32, message: &str, req: &HostRequest) -> Response {
    page(
        StatusCode::BAD_REQUEST,
        "Sign in to your account",
        &format!(
            "<p id=\"error\">AADSTS{code}: {}</p>\n<p>Request Id: {}</p>",
            escape(message),
            escape(&req.request_id)
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

fn with_query(base: &str, pairs: &[(&str, Option<&str>)]) -> String {
    let Ok(mut url) = url::Url::parse(base) else {
        return base.to_owned();
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in pairs {
            if let Some(v) = v {
                q.append_pair(k, v);
            }
        }
    }
    url.to_string()
}

/// Parameters of the page, from the query (GET) or the posted form.
struct Params(Vec<(String, String)>);

impl Params {
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

fn check(
    ctx: &SimContext,
    req: &HostRequest,
    tenant: &str,
    params: &Params,
    flow: Flow,
) -> Result<Checked, Response> {
    let world = ctx.world();
    let directory = &world.directory;
    let Some(t) = directory.tenant(tenant) else {
        return Err(error_page(
            90002,
            &format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            ),
            req,
        ));
    };
    let Some(client_id) = params.get("client_id") else {
        return Err(error_page(
            900_144,
            "The request body must contain the following parameter: 'client_id'.",
            req,
        ));
    };
    let app = directory.application_by_app_id(client_id).cloned();
    let Some(app) = app.filter(|a| a.tenant.eq_ignore_ascii_case(&t.id) || a.is_multi_tenant())
    else {
        return Err(error_page(
            700_016,
            &format!(
                "Application with identifier '{client_id}' was not found in the directory '{}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.",
                t.display_name
            ),
            req,
        ));
    };
    if flow == Flow::Authorize && params.get("response_type").is_none() {
        return Err(error_page(
            900_144,
            "The request body must contain the following parameter: 'response_type'.",
            req,
        ));
    }
    let registered = app.redirect_uris();
    let redirect_uri = match params.get("redirect_uri") {
        Some(uri) => uri.to_owned(),
        None if flow != Flow::AdminConsentV2 && !registered.is_empty() => registered[0].clone(),
        None => String::new(),
    };
    if !registered.iter().any(|r| r == &redirect_uri) {
        return Err(error_page(
            50011,
            &format!(
                "The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs configured for the application '{}'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal. Navigate to https://aka.ms/redirectUriMismatchError to learn more about how to fix this.",
                app.app_id
            ),
            req,
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

const PASS_THROUGH: [&str; 6] = [
    "client_id",
    "redirect_uri",
    "state",
    "scope",
    "response_type",
    "prompt",
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
    page(
        StatusCode::OK,
        "Sign in to your account",
        &format!(
            "<p>Sign in to <b>{}</b> to review permissions requested by <b>{}</b>.</p>\n{error}<form id=\"signin\" method=\"post\" action=\"{}\">\n{}\n<label>Email <input type=\"email\" name=\"login\"></label>\n<label>Password <input type=\"password\" name=\"passwd\"></label>\n<button type=\"submit\">Sign in</button>\n</form>",
            escape(&checked.tenant_name),
            escape(checked.app.display_name()),
            escape(action),
            hidden(&fields)
        ),
    )
}

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
    session_id: &str,
    scope: Option<&str>,
    action: &str,
) -> Response {
    let items: String = permissions(&checked.app, scope)
        .iter()
        .map(|p| format!("<li>{}</li>", escape(p)))
        .collect();
    let form = |step: &str, label: &str| {
        format!(
            "<form id=\"{step}\" method=\"post\" action=\"{}\">\n{}\n<button type=\"submit\">{label}</button>\n</form>",
            escape(action),
            hidden(&[("step", step), ("session", session_id)])
        )
    };
    page(
        StatusCode::OK,
        "Permissions requested",
        &format!(
            "<p id=\"app\">{}</p>\n<p id=\"publisher\">{}</p>\n<p>Accept for your organization ({}):</p>\n<ul id=\"permissions\">{items}</ul>\n{}\n{}",
            escape(checked.app.display_name()),
            escape(&checked.publisher),
            escape(&checked.tenant_name),
            form("accept", "Accept"),
            form("cancel", "Cancel")
        ),
    )
}

/// Serves the consent pages for `tenant`; `action` is the form target (the last path segment).
pub fn handle(
    ctx: &SimContext,
    req: &HostRequest,
    tenant: &str,
    flow: Flow,
    action: &str,
) -> Response {
    let params = if req.method == http::Method::POST {
        Params(req.form())
    } else {
        Params(
            req.query
                .as_deref()
                .map(|q| {
                    url::form_urlencoded::parse(q.as_bytes())
                        .into_owned()
                        .collect()
                })
                .unwrap_or_default(),
        )
    };
    match params.get("step") {
        Some("accept" | "cancel") => decide(ctx, req, &params),
        Some("signin") => sign_in(ctx, req, tenant, &params, flow, action),
        _ => match check(ctx, req, tenant, &params, flow) {
            Ok(checked) => sign_in_page(&checked, &params, action, None),
            Err(response) => response,
        },
    }
}

fn sign_in(
    ctx: &SimContext,
    req: &HostRequest,
    tenant: &str,
    params: &Params,
    flow: Flow,
    action: &str,
) -> Response {
    let checked = match check(ctx, req, tenant, params, flow) {
        Ok(c) => c,
        Err(response) => return response,
    };
    let login = params.get("login").unwrap_or_default();
    let password = params.get("passwd").unwrap_or_default();
    let user = ctx
        .world()
        .directory
        .user(&checked.tenant_id, login)
        .cloned();
    let Some(user) = user.filter(|u| u.password.as_deref() == Some(password)) else {
        return sign_in_page(
            &checked,
            params,
            action,
            Some("AADSTS50126: Error validating credentials due to invalid username or password."),
        );
    };
    if !user.is_admin() {
        return page(
            StatusCode::OK,
            "Need admin approval",
            &format!(
                "<p id=\"error\">AADSTS90094: Admin consent is required for the permissions requested by this application. {} needs permission to access resources in your organization that only an admin can grant. Please ask an admin to grant permission to this app before you can use it.</p>",
                escape(checked.app.display_name())
            ),
        );
    }
    let session_id = uuid::Uuid::new_v4().to_string();
    let session = ConsentSession {
        tenant: checked.tenant_id.clone(),
        user_upn: user.upn,
        client_id: checked.app.app_id.clone(),
        redirect_uri: checked.redirect_uri.clone(),
        state: params.get("state").map(str::to_owned),
        scope: params.get("scope").map(str::to_owned),
        flow,
    };
    ctx.world()
        .directory
        .consent_sessions
        .0
        .insert(session_id.clone(), session);
    consent_page(&checked, &session_id, params.get("scope"), action)
}

fn decide(ctx: &SimContext, req: &HostRequest, params: &Params) -> Response {
    let session = params
        .get("session")
        .and_then(|id| ctx.world().directory.consent_sessions.0.remove(id));
    let Some(s) = session else {
        return error_page(
            50058,
            "A silent sign-in request was sent but no user is signed in. The consent session is unknown or was already used.",
            req,
        );
    };
    let state = s.state.as_deref();
    if params.get("step") == Some("cancel") {
        let location = match s.flow {
            Flow::AdminConsentV2 => with_query(
                &s.redirect_uri,
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
            Flow::AdminConsentV1 => with_query(
                &s.redirect_uri,
                &[
                    ("error", Some("permission_denied")),
                    ("error_description", Some("The admin canceled the request")),
                    ("state", state),
                ],
            ),
            Flow::Authorize => with_query(
                &s.redirect_uri,
                &[
                    ("error", Some("access_denied")),
                    (
                        "error_description",
                        Some("AADSTS65004: User declined to consent to access the app."),
                    ),
                    ("state", state),
                ],
            ),
        };
        return redirect(&location);
    }
    let now = ctx.now();
    if let Err(e) = ctx
        .world()
        .directory
        .admin_consent(&s.tenant, &s.client_id, &s.user_upn, now)
    {
        return error_page(90094, &e.to_string(), req);
    }
    let location = match s.flow {
        Flow::AdminConsentV2 => with_query(
            &s.redirect_uri,
            &[
                ("admin_consent", Some("True")),
                ("tenant", Some(&s.tenant)),
                ("scope", s.scope.as_deref()),
                ("state", state),
            ],
        ),
        Flow::AdminConsentV1 => with_query(
            &s.redirect_uri,
            &[
                ("admin_consent", Some("True")),
                ("tenant", Some(&s.tenant)),
                ("state", state),
            ],
        ),
        Flow::Authorize => {
            let code = format!("0.A{}", uuid::Uuid::new_v4().simple());
            let session_state = uuid::Uuid::new_v4().to_string();
            with_query(
                &s.redirect_uri,
                &[
                    ("code", Some(&code)),
                    ("state", state),
                    ("session_state", Some(&session_state)),
                ],
            )
        }
    };
    redirect(&location)
}
