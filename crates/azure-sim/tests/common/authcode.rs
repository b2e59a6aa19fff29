//! The authorization code flow as a browser and a confidential client play it: the authorize
//! URL, the sign-in and consent forms over plain HTTP, and the code's redemption.

use azure_sim::{Sim, s256_challenge, scenario::demo};
use serde_json::json;

use super::{
    api::Answer,
    entra::{CreatedApp, form, graph_as_operator, operator_token, token_request},
    header, transport,
};

/// The callback the test apps register (beside `https://www.microsoft.com/`).
pub const CALLBACK: &str = "http://localhost:7071/api/consent/callback";

/// Resource Manager's delegated scope.
pub const ARM_USER_IMPERSONATION: &str = "https://management.azure.com/user_impersonation";

/// A PKCE pair: a 43-character verifier and its S256 challenge.
#[derive(Debug, Clone)]
pub struct Pkce {
    /// `code_verifier`.
    pub verifier: String,
    /// `code_challenge` (S256).
    pub challenge: String,
}

impl Pkce {
    /// A fresh pair.
    pub fn new() -> Self {
        let verifier = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            &uuid::Uuid::new_v4().simple().to_string()[..11]
        );
        let challenge = s256_challenge(&verifier);
        Self {
            verifier,
            challenge,
        }
    }
}

/// `https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize?...` with
/// `response_type=code`, the given parameters, and the PKCE challenge (S256) when given.
pub fn authorize_url(
    tenant: &str,
    client_id: &str,
    scope: &str,
    pkce: Option<&Pkce>,
    extra: &[(&str, &str)],
) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("client_id", client_id)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", CALLBACK)
        .append_pair("scope", scope)
        .append_pair("state", "state-42")
        .append_pair("nonce", "nonce-7");
    if let Some(p) = pkce {
        q.append_pair("code_challenge", &p.challenge)
            .append_pair("code_challenge_method", "S256");
    }
    for (k, v) in extra {
        q.append_pair(k, v);
    }
    format!(
        "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize?{}",
        q.finish()
    )
}

/// A page as a browser got it.
#[derive(Debug)]
pub struct Seen {
    /// The URL it was loaded from (a form's action resolves against it).
    pub url: String,
    /// HTTP status.
    pub status: u16,
    /// `Location`, for a redirect.
    pub location: Option<String>,
    /// The HTML.
    pub html: String,
}

impl Seen {
    /// The query parameters of the redirect's `Location`.
    pub fn redirect_params(&self) -> Vec<(String, String)> {
        let location = self
            .location
            .as_deref()
            .unwrap_or_else(|| panic!("not a redirect ({}): {}", self.status, self.html));
        url::Url::parse(location)
            .unwrap()
            .query_pairs()
            .into_owned()
            .collect()
    }

    /// One query parameter of the redirect.
    pub fn redirect_param(&self, name: &str) -> Option<String> {
        self.redirect_params()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// True when the page has `<form id="{id}"`.
    pub fn has_form(&self, id: &str) -> bool {
        self.html.contains(&format!("<form id=\"{id}\""))
    }
}

async fn seen(url: String, r: reqwest::Response) -> Seen {
    Seen {
        url,
        status: r.status().as_u16(),
        location: header(&r, "location"),
        html: r.text().await.unwrap(),
    }
}

/// `GET url` as a browser (no redirect followed).
pub async fn browse(sim: &Sim, url: &str) -> Seen {
    let t = transport(sim);
    let r = t
        .execute(t.client().get(url).build().unwrap())
        .await
        .unwrap();
    seen(url.to_owned(), r).await
}

/// Submits the form `id` of `page` with its hidden fields and `extra` (as a browser would).
pub async fn submit_form(sim: &Sim, page: &Seen, id: &str, extra: &[(&str, &str)]) -> Seen {
    let (action, mut fields) = form(&page.html, id);
    fields.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let target = url::Url::parse(&page.url).unwrap().join(&action).unwrap();
    let t = transport(sim);
    let r = t
        .execute(
            t.client()
                .post(target.clone())
                .form(&fields)
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    seen(target.to_string(), r).await
}

/// Opens `url` and signs in as `login`: the page after the sign-in form (the consent page, a
/// redirect when consent was given before, an error page).
pub async fn sign_in_at(sim: &Sim, url: &str, login: &str, password: &str) -> Seen {
    let first = browse(sim, url).await;
    assert_eq!(first.status, 200, "{}", first.html);
    submit_form(
        sim,
        &first,
        "signin",
        &[("login", login), ("passwd", password)],
    )
    .await
}

/// Signs in as `login` and accepts (for the organization when `for_organization`): the
/// redirect to the callback.
pub async fn sign_in_and_accept(
    sim: &Sim,
    url: &str,
    login: &str,
    password: &str,
    for_organization: bool,
) -> Seen {
    let consent = sign_in_at(sim, url, login, password).await;
    if consent.status == 302 {
        return consent;
    }
    assert!(consent.has_form("accept"), "{}", consent.html);
    let extra: &[(&str, &str)] = if for_organization {
        &[("consent_on_behalf", "true")]
    } else {
        &[]
    };
    submit_form(sim, &consent, "accept", extra).await
}

/// Fabrikam's admin through the whole flow (consenting for the organization): the code.
pub async fn fabrikam_admin_code(sim: &Sim, url: &str) -> String {
    let done = sign_in_and_accept(
        sim,
        url,
        demo::FABRIKAM_ADMIN_UPN,
        demo::FABRIKAM_ADMIN_PASSWORD,
        true,
    )
    .await;
    assert_eq!(done.status, 302, "{}", done.html);
    done.redirect_param("code").expect("a code")
}

/// Adds a federated identity credential trusting the demo operator's managed identity (the
/// product's confidential client authenticates with that identity's token, no secret).
pub async fn trust_operator_identity(sim: &Sim, app: &CreatedApp) {
    let (status, _, body) = graph_as_operator(sim)
        .await
        .post(
            &format!("/applications/{}/federatedIdentityCredentials", app.id),
            json!({
                "name": "operator",
                "issuer": format!("https://login.microsoftonline.com/{}/v2.0", demo::CONTOSO_TENANT),
                "subject": demo::OPERATOR_PRINCIPAL_ID,
                "audiences": ["api://AzureADTokenExchange"],
            }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

/// The operator's managed identity token for `api://AzureADTokenExchange`: the client
/// assertion.
pub async fn operator_assertion(sim: &Sim) -> String {
    operator_token(sim, "api://AzureADTokenExchange").await
}

/// A redemption of `code` at `tenant`'s token endpoint by `client_id` with a client
/// assertion, `redirect_uri`, the verifier (when given) and `extra` fields.
#[derive(Debug, Clone, Copy)]
pub struct AssertionRedemption<'a> {
    /// The token endpoint's tenant.
    pub tenant: &'a str,
    /// `client_id`.
    pub client_id: &'a str,
    /// `client_assertion`.
    pub assertion: &'a str,
    /// `code`.
    pub code: &'a str,
    /// `redirect_uri`.
    pub redirect_uri: &'a str,
    /// `code_verifier`.
    pub verifier: Option<&'a str>,
    /// More fields (`scope`, `client_info`).
    pub extra: &'a [(&'a str, &'a str)],
}

/// Sends `r` to the token endpoint.
pub async fn redeem_with_assertion(sim: &Sim, r: AssertionRedemption<'_>) -> Answer {
    let mut f = vec![
        ("client_id", r.client_id),
        ("grant_type", "authorization_code"),
        ("code", r.code),
        ("redirect_uri", r.redirect_uri),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", r.assertion),
    ];
    if let Some(v) = r.verifier {
        f.push(("code_verifier", v));
    }
    f.extend_from_slice(r.extra);
    token_request(sim, r.tenant, &f).await
}

/// Redeems `code` with a client secret.
pub async fn redeem_with_secret(
    sim: &Sim,
    tenant: &str,
    app: &CreatedApp,
    code: &str,
    verifier: Option<&str>,
) -> Answer {
    let mut f = vec![
        ("client_id", app.app_id.as_str()),
        ("client_secret", app.secret.as_str()),
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", CALLBACK),
    ];
    if let Some(v) = verifier {
        f.push(("code_verifier", v));
    }
    token_request(sim, tenant, &f).await
}

/// The AADSTS codes of an Entra error body.
pub fn error_codes(body: &serde_json::Value) -> Vec<u64> {
    body["error_codes"]
        .as_array()
        .map(|a| a.iter().filter_map(serde_json::Value::as_u64).collect())
        .unwrap_or_default()
}
