//! Entra: tokens (managed identity, client credentials, password), the operator's app
//! registrations, and the HTML forms of the sign-in and consent pages.

use azure_sim::{Sim, scenario::demo};
use reqwest::Method;
use serde_json::{Value, json};

use super::{
    api::{Answer, Api},
    transport,
};

/// The Azure CLI's public client id.
pub const AZURE_CLI: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";

/// `GET` of the App Service managed identity endpoint with `query` and `X-IDENTITY-HEADER`.
pub async fn identity_request(sim: &Sim, query: &str, identity_header: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{}?{query}", sim.identity_endpoint()))
        .header("x-identity-header", identity_header)
        .send()
        .await
        .unwrap()
}

/// A managed identity token of the demo operator for `resource`, from the App Service endpoint.
pub async fn operator_token(sim: &Sim, resource: &str) -> String {
    let query = format!(
        "api-version=2019-08-01&resource={resource}&client_id={}",
        demo::OPERATOR_CLIENT_ID
    );
    let r = identity_request(sim, &query, demo::IDENTITY_HEADER).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    v["access_token"].as_str().unwrap().to_owned()
}

/// The demo operator's managed identity on Microsoft Graph.
pub async fn graph_as_operator(sim: &Sim) -> Api<'_> {
    Api::graph(
        sim,
        operator_token(sim, "https://graph.microsoft.com").await,
    )
}

/// A token request to `tenant`'s v2.0 endpoint: status, headers and JSON body.
pub async fn token_request(sim: &Sim, tenant: &str, form: &[(&str, &str)]) -> Answer {
    let t = transport(sim);
    let req = t
        .client()
        .post(format!(
            "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"
        ))
        .form(form)
        .build()
        .unwrap();
    let r = t.execute(req).await.unwrap();
    let status = r.status().as_u16();
    let h = r.headers().clone();
    (status, h, r.json().await.unwrap())
}

/// The form of a client-credentials request with a client secret.
pub fn secret_form<'a>(
    app_id: &'a str,
    secret: &'a str,
    scope: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("client_id", app_id),
        ("client_secret", secret),
        ("grant_type", "client_credentials"),
        ("scope", scope),
    ]
}

/// A client-credentials request with a client secret: status, headers and JSON body.
pub async fn secret_grant(
    sim: &Sim,
    tenant: &str,
    app_id: &str,
    secret: &str,
    scope: &str,
) -> Answer {
    token_request(sim, tenant, &secret_form(app_id, secret, scope)).await
}

/// A client-credentials token for `scope` (`https://management.azure.com/.default`).
pub async fn app_token(sim: &Sim, tenant: &str, app_id: &str, secret: &str, scope: &str) -> String {
    let (status, _, body) = secret_grant(sim, tenant, app_id, secret, scope).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

/// A user's ARM token as `az login -u user -p password` gets it (password grant, CLI client).
pub async fn user_arm_token(sim: &Sim, tenant: &str, upn: &str, password: &str) -> String {
    let (status, _, body) = token_request(
        sim,
        tenant,
        &[
            ("client_id", AZURE_CLI),
            ("grant_type", "password"),
            ("username", upn),
            ("password", password),
            (
                "scope",
                "https://management.core.windows.net//.default offline_access openid profile",
            ),
            ("client_info", "1"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

/// An application the operator created through Graph, with its home service principal and a secret.
pub struct CreatedApp {
    /// Object id.
    pub id: String,
    /// Client id.
    pub app_id: String,
    /// Secret text.
    pub secret: String,
}

/// Upserts a multi-tenant app as the demo operator; adds a secret; optionally its home SP.
pub async fn operator_creates_app(sim: &Sim, unique_name: &str, with_sp: bool) -> CreatedApp {
    let operator = graph_as_operator(sim).await;
    let (status, _, app) = operator
        .upsert(
            &format!("/applications(uniqueName='{unique_name}')"),
            json!({
                "displayName": unique_name,
                "signInAudience": "AzureADMultipleOrgs",
                "web": {"redirectUris": ["https://www.microsoft.com/", "http://localhost:7071/api/consent/callback"]},
            }),
        )
        .await;
    assert_eq!(status, 201, "{app}");
    let id = app["id"].as_str().unwrap().to_owned();
    let app_id = app["appId"].as_str().unwrap().to_owned();
    let (status, _, pw) = operator
        .post(
            &format!("/applications/{id}/addPassword"),
            json!({"passwordCredential": {"displayName": "test"}}),
        )
        .await;
    assert_eq!(status, 200, "{pw}");
    if with_sp {
        let (status, _, sp) = operator
            .post("/servicePrincipals", json!({"appId": app_id}))
            .await;
        assert_eq!(status, 201, "{sp}");
    }
    CreatedApp {
        id,
        app_id,
        secret: pw["secretText"].as_str().unwrap().to_owned(),
    }
}

/// The claims of a JWT (unverified), for assertions.
pub fn claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// An HTML form on a page: its action and fields (hidden inputs).
pub fn form(html: &str, id: &str) -> (String, Vec<(String, String)>) {
    let start = html
        .find(&format!("<form id=\"{id}\""))
        .unwrap_or_else(|| panic!("no form {id} in {html}"));
    let rest = &html[start..];
    let end = rest.find("</form>").unwrap();
    let form = &rest[..end];
    let attr = |tag: &str, name: &str| -> Option<String> {
        let key = format!("{name}=\"");
        let i = tag.find(&key)? + key.len();
        let j = tag[i..].find('"')? + i;
        Some(unescape(&tag[i..j]))
    };
    let action = attr(form, "action").unwrap();
    let mut fields = vec![];
    for input in form.split("<input").skip(1) {
        let tag = &input[..input.find('>').unwrap()];
        if attr(tag, "type").as_deref() == Some("hidden") {
            fields.push((
                attr(tag, "name").unwrap(),
                attr(tag, "value").unwrap_or_default(),
            ));
        }
    }
    (action, fields)
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}
