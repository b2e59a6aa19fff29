//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use azure_sim::{Replication, Scenario, Sim, scenario::demo};
use azure_transport::Transport;

/// The demo scenario, immediately consistent.
pub fn demo_scenario() -> Scenario {
    Scenario::demo().with_replication(Replication::none())
}

/// A running simulator of the immediately consistent demo.
pub async fn start_demo() -> Sim {
    Sim::start(demo_scenario()).await.unwrap()
}

/// The routing transport the product uses, pointed at `sim`.
pub fn transport(sim: &Sim) -> Transport {
    Transport::simulated(&sim.url()).unwrap()
}

/// `https://sb-imageshare-demo.servicebus.windows.net/{path}`.
pub fn sb_url(path: &str) -> String {
    format!(
        "https://{}.servicebus.windows.net/{path}",
        demo::SERVICE_BUS_NAMESPACE
    )
}

/// A SAS token for `url` signed with `key`, expiring at `expiry` (Unix seconds).
pub fn sas(url: &str, key: &str, key_name: &str, expiry: i64) -> String {
    let sr: String = url::form_urlencoded::byte_serialize(url.as_bytes()).collect();
    let sig = azure_sim::servicebus::sas::sign(key, &sr, expiry);
    let sig: String = url::form_urlencoded::byte_serialize(sig.as_bytes()).collect();
    format!("SharedAccessSignature sr={sr}&sig={sig}&se={expiry}&skn={key_name}")
}

/// A demo SAS token for the whole namespace, valid for an hour of simulated time.
pub fn demo_sas(sim: &Sim) -> String {
    sas(
        &sb_url(""),
        demo::SAS_KEY,
        demo::SAS_POLICY,
        sim.now().unix_timestamp() + 3600,
    )
}

/// Sends `method url` with headers and body through the transport.
pub async fn call(
    transport: &Transport,
    method: reqwest::Method,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    let mut builder = transport.client().request(method, url).body(body);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    transport.execute(builder.build().unwrap()).await.unwrap()
}

/// A header as text.
pub fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// A managed identity token of the demo operator for `resource`, from the App Service endpoint.
pub async fn operator_token(sim: &Sim, resource: &str) -> String {
    let url = format!(
        "{}?api-version=2019-08-01&resource={resource}&client_id={}",
        sim.identity_endpoint(),
        demo::OPERATOR_CLIENT_ID
    );
    let r = reqwest::Client::new()
        .get(url)
        .header("x-identity-header", demo::IDENTITY_HEADER)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    v["access_token"].as_str().unwrap().to_owned()
}

/// A Graph call with a bearer token: status, headers and JSON body (Null when empty).
pub async fn graph(
    sim: &Sim,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<serde_json::Value>,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
    let t = transport(sim);
    let mut b = t
        .client()
        .request(method, format!("https://graph.microsoft.com/v1.0{path}"))
        .bearer_auth(token);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    if let Some(body) = body {
        b = b.json(&body);
    }
    let r = t.execute(b.build().unwrap()).await.unwrap();
    let status = r.status().as_u16();
    let h = r.headers().clone();
    let text = r.text().await.unwrap();
    let json = if text.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    };
    (status, h, json)
}

/// A client-credentials token request: status and JSON body.
pub async fn token_request(
    sim: &Sim,
    tenant: &str,
    form: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
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
    let token = operator_token(sim, "https://graph.microsoft.com").await;
    let (status, _, app) = graph(
        sim,
        reqwest::Method::PATCH,
        &format!("/applications(uniqueName='{unique_name}')"),
        &token,
        Some(serde_json::json!({
            "displayName": unique_name,
            "signInAudience": "AzureADMultipleOrgs",
            "web": {"redirectUris": ["https://www.microsoft.com/", "http://localhost:7071/api/consent/callback"]},
        })),
        &[("prefer", "create-if-missing")],
    )
    .await;
    assert_eq!(status, 201, "{app}");
    let id = app["id"].as_str().unwrap().to_owned();
    let app_id = app["appId"].as_str().unwrap().to_owned();
    let (status, _, pw) = graph(
        sim,
        reqwest::Method::POST,
        &format!("/applications/{id}/addPassword"),
        &token,
        Some(serde_json::json!({"passwordCredential": {"displayName": "test"}})),
        &[],
    )
    .await;
    assert_eq!(status, 200, "{pw}");
    if with_sp {
        let (status, _, sp) = graph(
            sim,
            reqwest::Method::POST,
            "/servicePrincipals",
            &token,
            Some(serde_json::json!({"appId": app_id})),
            &[],
        )
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
pub fn claims(token: &str) -> serde_json::Value {
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

/// Resource Manager's host.
pub const ARM: &str = "https://management.azure.com";

/// An ARM call through the transport: status, headers and JSON body (Null when empty).
pub async fn arm(
    sim: &Sim,
    method: reqwest::Method,
    path_and_query: &str,
    token: &str,
    body: Option<serde_json::Value>,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
    let url = if path_and_query.starts_with("https://") {
        path_and_query.to_owned()
    } else {
        format!("{ARM}{path_and_query}")
    };
    let t = transport(sim);
    let mut b = t.client().request(method, url).bearer_auth(token);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    if let Some(body) = body {
        b = b.json(&body);
    }
    let r = t.execute(b.build().unwrap()).await.unwrap();
    let status = r.status().as_u16();
    let h = r.headers().clone();
    let text = r.text().await.unwrap();
    let json = if text.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
    };
    (status, h, json)
}

/// A client-credentials token for `scope` (`https://management.azure.com/.default`).
pub async fn app_token(sim: &Sim, tenant: &str, app_id: &str, secret: &str, scope: &str) -> String {
    let (status, _, body) = token_request(
        sim,
        tenant,
        &[
            ("client_id", app_id),
            ("client_secret", secret),
            ("grant_type", "client_credentials"),
            ("scope", scope),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

/// The Azure CLI's public client id.
pub const AZURE_CLI: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";

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

/// A header as text, from a header map.
pub fn hv(headers: &reqwest::header::HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}
