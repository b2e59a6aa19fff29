//! The admin consent pages driven with plain HTTP form posts, as a browser would.

// Helpers outside #[test] functions unwrap too: this is test code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use azure_sim::{
    Sim,
    scenario::{UserSpec, demo},
};
use common::*;

const REDIRECT: &str = "http://localhost:7071/api/consent/callback";

struct Page {
    status: u16,
    location: Option<String>,
    html: String,
}

impl Page {
    async fn from(r: reqwest::Response) -> Self {
        Self {
            status: r.status().as_u16(),
            location: header(&r, "location"),
            html: r.text().await.unwrap(),
        }
    }
}

async fn open(sim: &Sim, url: &str) -> Page {
    let t = transport(sim);
    let r = t
        .execute(t.client().get(url).build().unwrap())
        .await
        .unwrap();
    Page::from(r).await
}

/// Submits a form of `page_url`'s page: the action resolves against the page URL, as in a browser.
async fn submit(
    sim: &Sim,
    page_url: &str,
    form: (String, Vec<(String, String)>),
    extra: &[(&str, &str)],
) -> Page {
    let (action, mut fields) = form;
    for (k, v) in extra {
        fields.push(((*k).to_owned(), (*v).to_owned()));
    }
    let target = url::Url::parse(page_url).unwrap().join(&action).unwrap();
    let t = transport(sim);
    let r = t
        .execute(t.client().post(target).form(&fields).build().unwrap())
        .await
        .unwrap();
    Page::from(r).await
}

fn v2_url(client_id: &str, redirect: &str) -> String {
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", client_id)
        .append_pair("scope", "https://graph.microsoft.com/.default")
        .append_pair("redirect_uri", redirect)
        .append_pair("state", "req-42")
        .finish();
    format!(
        "https://login.microsoftonline.com/{}/v2.0/adminconsent?{q}",
        demo::FABRIKAM_TENANT
    )
}

async fn sign_in(sim: &Sim, url: &str, user: &str, password: &str) -> Page {
    let page = open(sim, url).await;
    assert_eq!(page.status, 200, "{}", page.html);
    submit(
        sim,
        url,
        form(&page.html, "signin"),
        &[("login", user), ("passwd", password)],
    )
    .await
}

/// Fabrikam's admin signs in on the page at `url`.
async fn fabrikam_admin_signs_in(sim: &Sim, url: &str) -> Page {
    sign_in(
        sim,
        url,
        demo::FABRIKAM_ADMIN_UPN,
        demo::FABRIKAM_ADMIN_PASSWORD,
    )
    .await
}

fn has_sp(sim: &Sim, tenant: &str, app_id: &str) -> bool {
    sim.state()
        .service_principals
        .iter()
        .any(|s| s.tenant == tenant && s.app_id == app_id)
}

#[tokio::test]
async fn an_admin_accepting_v2_admin_consent_creates_the_service_principal_and_is_redirected_back()
{
    let sim = start_demo().await;
    let app = operator_creates_app(&sim, "consent-me", true).await;
    let url = v2_url(&app.app_id, REDIRECT);
    let consent = fabrikam_admin_signs_in(&sim, &url).await;
    assert_eq!(consent.status, 200);
    assert!(
        consent.html.contains("consent-me"),
        "the app's name is shown"
    );
    assert!(
        consent.html.contains("Contoso (contoso.onmicrosoft.com)"),
        "the publisher tenant is shown"
    );
    assert!(
        consent
            .html
            .contains("https://graph.microsoft.com/.default"),
        "the requested permissions are shown"
    );
    assert!(
        !has_sp(&sim, demo::FABRIKAM_TENANT, &app.app_id),
        "nothing happens before Accept"
    );

    let done = submit(&sim, &url, form(&consent.html, "accept"), &[]).await;
    assert_eq!(done.status, 302);
    let location = url::Url::parse(&done.location.unwrap()).unwrap();
    assert!(location.as_str().starts_with(REDIRECT));
    let q: Vec<(String, String)> = location.query_pairs().into_owned().collect();
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(get("admin_consent").as_deref(), Some("True"));
    assert_eq!(get("tenant").as_deref(), Some(demo::FABRIKAM_TENANT));
    assert_eq!(
        get("scope").as_deref(),
        Some("https://graph.microsoft.com/.default")
    );
    assert_eq!(get("state").as_deref(), Some("req-42"));
    assert!(has_sp(&sim, demo::FABRIKAM_TENANT, &app.app_id));
}

#[tokio::test]
async fn cancel_redirects_with_the_documented_error_and_creates_nothing() {
    let sim = start_demo().await;
    let app = operator_creates_app(&sim, "cancel-me", true).await;
    let url = v2_url(&app.app_id, REDIRECT);
    let consent = fabrikam_admin_signs_in(&sim, &url).await;
    let done = submit(&sim, &url, form(&consent.html, "cancel"), &[]).await;
    assert_eq!(done.status, 302);
    let location = url::Url::parse(&done.location.unwrap()).unwrap();
    let q: Vec<(String, String)> = location.query_pairs().into_owned().collect();
    assert!(q.contains(&("error".into(), "consent_required".into())));
    assert!(
        q.iter()
            .any(|(k, v)| k == "error_description" && v.starts_with("AADSTS65004"))
    );
    assert!(q.contains(&("state".into(), "req-42".into())));
    assert!(!has_sp(&sim, demo::FABRIKAM_TENANT, &app.app_id));
}

#[tokio::test]
async fn v1_authorize_redirects_with_a_code_and_session_state() {
    let sim = start_demo().await;
    let app = operator_creates_app(&sim, "authorize-me", true).await;
    let url = format!(
        "https://login.microsoftonline.com/{}/oauth2/authorize?client_id={}&response_type=code&redirect_uri=https%3A%2F%2Fwww.microsoft.com%2F&state=s1&prompt=admin_consent",
        demo::FABRIKAM_TENANT,
        app.app_id
    );
    let consent = fabrikam_admin_signs_in(&sim, &url).await;
    let done = submit(&sim, &url, form(&consent.html, "accept"), &[]).await;
    assert_eq!(done.status, 302);
    let location = url::Url::parse(&done.location.unwrap()).unwrap();
    assert_eq!(location.host_str(), Some("www.microsoft.com"));
    let keys: Vec<String> = location
        .query_pairs()
        .map(|(k, _)| k.into_owned())
        .collect();
    assert_eq!(keys, ["code", "state", "session_state"]);
    assert!(has_sp(&sim, demo::FABRIKAM_TENANT, &app.app_id));
}

#[tokio::test]
async fn a_non_admin_gets_need_admin_approval_and_nothing_changes() {
    let mut scenario = demo_scenario();
    scenario.users.push(UserSpec {
        id: "6f6f6f6f-6666-4666-8666-666666666666".into(),
        tenant: demo::FABRIKAM_TENANT.into(),
        user_principal_name: "dev@fabrikam.onmicrosoft.com".into(),
        display_name: "Developer".into(),
        password: Some("dev-password".into()),
        directory_roles: vec![],
    });
    let sim = Sim::start(scenario).await.unwrap();
    let app = operator_creates_app(&sim, "not-for-devs", true).await;
    let page = sign_in(
        &sim,
        &v2_url(&app.app_id, REDIRECT),
        "dev@fabrikam.onmicrosoft.com",
        "dev-password",
    )
    .await;
    assert_eq!(page.status, 200);
    assert!(page.location.is_none());
    assert!(page.html.contains("AADSTS90094"), "{}", page.html);
    assert!(!has_sp(&sim, demo::FABRIKAM_TENANT, &app.app_id));
}

#[tokio::test]
async fn a_wrong_password_shows_the_sign_in_form_again_with_aadsts50126() {
    let sim = start_demo().await;
    let app = operator_creates_app(&sim, "wrong-password", true).await;
    let page = sign_in(
        &sim,
        &v2_url(&app.app_id, REDIRECT),
        demo::FABRIKAM_ADMIN_UPN,
        "guess",
    )
    .await;
    assert!(page.html.contains("AADSTS50126"));
    assert!(page.html.contains("<form id=\"signin\""));
}

#[tokio::test]
async fn an_unregistered_redirect_uri_shows_aadsts50011_and_does_not_redirect() {
    let sim = start_demo().await;
    let app = operator_creates_app(&sim, "strict-redirects", true).await;
    let page = open(&sim, &v2_url(&app.app_id, "https://evil.example/steal")).await;
    assert_eq!(page.status, 400);
    assert!(page.location.is_none());
    assert!(page.html.contains("AADSTS50011"));
    assert!(!page.html.contains("<form"));
}

#[tokio::test]
async fn an_unknown_client_id_shows_aadsts700016() {
    let sim = start_demo().await;
    let page = open(
        &sim,
        &v2_url("0badc0de-0000-4000-8000-000000000000", REDIRECT),
    )
    .await;
    assert_eq!(page.status, 400);
    assert!(page.html.contains("AADSTS700016"));
}

#[tokio::test]
async fn consenting_then_asking_for_a_token_in_the_consumer_tenant_succeeds() {
    let sim = start_demo().await;
    let app = operator_creates_app(&sim, "end-to-end", true).await;
    let url = v2_url(&app.app_id, REDIRECT);
    let consent = fabrikam_admin_signs_in(&sim, &url).await;
    submit(&sim, &url, form(&consent.html, "accept"), &[]).await;
    let (status, _, body) = secret_grant(
        &sim,
        demo::FABRIKAM_TENANT,
        &app.app_id,
        &app.secret,
        ARM_SCOPE,
    )
    .await;
    assert_eq!(status, 200, "{body}");
}
