//! The OAuth 2.0 authorization code flow with PKCE, driven as a browser and a confidential
//! client would: the consumer tenant's admin signs in and consents on the authorize pages,
//! the app redeems the code with a federated credential's client assertion (no secret) for a
//! delegated Resource Manager token, and uses it with the user's own rights.

// Helpers outside #[test] functions unwrap too: this is test code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use azure_sim::{
    ConsentChoice, Scenario, SignInError, Sim, SimError,
    scenario::{UserSpec, demo},
};
use common::*;
use reqwest::Method;
use serde_json::{Value, json};

const CONTRIBUTOR: &str = "b24988ac-6180-42a0-ab88-20f7382dd24c";

async fn start() -> Sim {
    Sim::start(demo_scenario().with_fabrikam_reader())
        .await
        .unwrap()
}

/// The product's approval app: multi-tenant, the callback registered, trusting the
/// operator's managed identity.
async fn approval_app(sim: &Sim, name: &str) -> CreatedApp {
    let app = operator_creates_app(sim, name, true).await;
    trust_operator_identity(sim, &app).await;
    app
}

fn fabrikam_url(app: &CreatedApp, pkce: &Pkce) -> String {
    authorize_url(
        demo::FABRIKAM_TENANT,
        &app.app_id,
        &format!("{ARM_USER_IMPERSONATION} openid profile"),
        Some(pkce),
        &[],
    )
}

/// Redeems at Fabrikam with the operator's assertion, the callback and `verifier`.
async fn redeem(sim: &Sim, app: &CreatedApp, code: &str, verifier: Option<&str>) -> Answer {
    let assertion = operator_assertion(sim).await;
    redeem_with_assertion(
        sim,
        AssertionRedemption {
            tenant: demo::FABRIKAM_TENANT,
            client_id: &app.app_id,
            assertion: &assertion,
            code,
            redirect_uri: CALLBACK,
            verifier,
            extra: &[],
        },
    )
    .await
}

fn refused(answer: &Answer, status: u16, error: &str, code: u64) {
    let (s, _, body) = answer;
    assert_eq!(*s, status, "{body}");
    assert_eq!(body["error"], error, "{body}");
    assert_eq!(error_codes(body), [code], "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .starts_with(&format!("AADSTS{code}: ")),
        "{body}"
    );
}

#[tokio::test]
async fn the_admin_s_code_redeemed_with_the_s256_verifier_and_a_federated_assertion_gives_a_delegated_arm_token()
 {
    let sim = start().await;
    let app = approval_app(&sim, "approvals").await;
    let pkce = Pkce::new();
    let url = fabrikam_url(&app, &pkce);

    let consent = sign_in_at(
        &sim,
        &url,
        demo::FABRIKAM_ADMIN_UPN,
        demo::FABRIKAM_ADMIN_PASSWORD,
    )
    .await;
    assert_eq!(consent.status, 200, "{}", consent.html);
    assert!(consent.html.contains("approvals"), "the app is named");
    assert!(
        consent.html.contains(ARM_USER_IMPERSONATION),
        "the permission is listed: {}",
        consent.html
    );
    assert!(
        consent.html.contains("name=\"consent_on_behalf\""),
        "an admin may consent for the organization"
    );
    let done = submit_form(&sim, &consent, "accept", &[("consent_on_behalf", "true")]).await;
    assert_eq!(done.status, 302, "{}", done.html);
    let location = done.location.clone().unwrap();
    assert!(location.starts_with(CALLBACK), "{location}");
    let keys: Vec<String> = done.redirect_params().into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["code", "state"]);
    assert_eq!(done.redirect_param("state").as_deref(), Some("state-42"));
    let code = done.redirect_param("code").unwrap();
    assert!(
        sim.contains_known_secret(&location),
        "the code is a known secret"
    );

    let (status, headers, body) = redeem(&sim, &app, &code, Some(&pkce.verifier)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        hv(&headers, "cache-control").as_deref(),
        Some("no-store, no-cache")
    );
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);
    assert_eq!(body["scope"], ARM_USER_IMPERSONATION);
    assert!(
        body.get("refresh_token").is_none(),
        "no offline_access: {body}"
    );
    let access = claims(body["access_token"].as_str().unwrap());
    assert_eq!(access["aud"], "https://management.azure.com");
    assert_eq!(access["oid"], demo::FABRIKAM_ADMIN_ID);
    assert_eq!(access["upn"], demo::FABRIKAM_ADMIN_UPN);
    assert_eq!(access["unique_name"], demo::FABRIKAM_ADMIN_UPN);
    assert_eq!(access["tid"], demo::FABRIKAM_TENANT);
    assert_eq!(access["scp"], "user_impersonation");
    assert_eq!(access["appid"], app.app_id);
    assert_eq!(access["idtyp"], "user");
    assert_eq!(
        access["iss"],
        format!("https://sts.windows.net/{}/", demo::FABRIKAM_TENANT)
    );
    let id = claims(body["id_token"].as_str().unwrap());
    assert_eq!(id["nonce"], "nonce-7");
    assert_eq!(id["aud"], app.app_id);
    assert_eq!(id["oid"], demo::FABRIKAM_ADMIN_ID);
    assert_eq!(id["preferred_username"], demo::FABRIKAM_ADMIN_UPN);
    assert_eq!(id["ver"], "2.0");

    // The token is signed like every other: Resource Manager accepts it.
    let arm = Api::arm(&sim, body["access_token"].as_str().unwrap());
    let (s, _, sub) = arm
        .get(&format!(
            "/subscriptions/{}?api-version=2022-12-01",
            demo::FABRIKAM_SUBSCRIPTION
        ))
        .await;
    assert_eq!(s, 200, "{sub}");
}

#[tokio::test]
async fn a_replayed_code_is_refused_with_aadsts54005() {
    let sim = start().await;
    let app = approval_app(&sim, "replay").await;
    let pkce = Pkce::new();
    let code = fabrikam_admin_code(&sim, &fabrikam_url(&app, &pkce)).await;
    let first = redeem(&sim, &app, &code, Some(&pkce.verifier)).await;
    assert_eq!(first.0, 200, "{}", first.2);
    let again = redeem(&sim, &app, &code, Some(&pkce.verifier)).await;
    refused(&again, 400, "invalid_grant", 54005);
}

#[tokio::test]
async fn a_wrong_verifier_is_refused_with_aadsts501481_and_a_missing_one_with_aadsts50148() {
    let sim = start().await;
    let app = approval_app(&sim, "pkce").await;
    let pkce = Pkce::new();
    let code = fabrikam_admin_code(&sim, &fabrikam_url(&app, &pkce)).await;
    let wrong = redeem(&sim, &app, &code, Some(&Pkce::new().verifier)).await;
    refused(&wrong, 400, "invalid_grant", 501_481);
    let missing = redeem(&sim, &app, &code, None).await;
    refused(&missing, 400, "invalid_grant", 50148);
    // A refused attempt does not use the code up.
    let right = redeem(&sim, &app, &code, Some(&pkce.verifier)).await;
    assert_eq!(right.0, 200, "{}", right.2);
}

#[tokio::test]
async fn a_code_is_refused_with_aadsts70008_once_ten_minutes_have_passed_and_accepted_just_before()
{
    let sim = start().await;
    let app = approval_app(&sim, "expiry").await;
    let pkce = Pkce::new();
    let url = fabrikam_url(&app, &pkce);
    let early = fabrikam_admin_code(&sim, &url).await;
    sim.advance_clock(Duration::from_secs(590));
    let ok = redeem(&sim, &app, &early, Some(&pkce.verifier)).await;
    assert_eq!(ok.0, 200, "{}", ok.2);

    let late = fabrikam_admin_code(&sim, &url).await;
    // "Typically, they expire after about 10 minutes."
    sim.advance_clock(Duration::from_secs(10 * 60 + 1));
    let expired = redeem(&sim, &app, &late, Some(&pkce.verifier)).await;
    refused(&expired, 400, "invalid_grant", 70008);
}

#[tokio::test]
async fn an_unregistered_redirect_uri_shows_an_aadsts50011_page_and_never_redirects() {
    let sim = start().await;
    let app = approval_app(&sim, "strict").await;
    for wrong in [
        "https://evil.example/steal",
        "http://localhost:7071/api/consent/callback/",
        "HTTP://LOCALHOST:7071/api/consent/callback",
    ] {
        let url = fabrikam_url(&app, &Pkce::new()).replace(
            &url::form_urlencoded::byte_serialize(CALLBACK.as_bytes()).collect::<String>(),
            &url::form_urlencoded::byte_serialize(wrong.as_bytes()).collect::<String>(),
        );
        let page = browse(&sim, &url).await;
        assert_eq!(page.status, 400, "{wrong}: {}", page.html);
        assert!(page.location.is_none(), "{wrong}");
        assert!(page.html.contains("AADSTS50011"), "{wrong}: {}", page.html);
        assert!(!page.html.contains("<form"), "{wrong}");
        // The in-process browser stops at the same page.
        let err = sim
            .sign_in_and_consent(
                &url,
                demo::FABRIKAM_ADMIN_UPN,
                demo::FABRIKAM_ADMIN_PASSWORD,
                ConsentChoice::Accept,
            )
            .unwrap_err();
        assert!(
            matches!(&err, SimError::SignIn(SignInError::Page(p)) if p.code == 50011),
            "{err}"
        );
    }
}

#[tokio::test]
async fn a_redirect_uri_at_the_token_endpoint_other_than_the_authorize_one_is_refused_with_aadsts500112()
 {
    let sim = start().await;
    let app = approval_app(&sim, "token-redirect").await;
    let pkce = Pkce::new();
    let code = fabrikam_admin_code(&sim, &fabrikam_url(&app, &pkce)).await;
    let assertion = operator_assertion(&sim).await;
    // Also registered on the app, but not the one the code was issued for.
    let other = redeem_with_assertion(
        &sim,
        AssertionRedemption {
            tenant: demo::FABRIKAM_TENANT,
            client_id: &app.app_id,
            assertion: &assertion,
            code: &code,
            redirect_uri: "https://www.microsoft.com/",
            verifier: Some(&pkce.verifier),
            extra: &[],
        },
    )
    .await;
    refused(&other, 401, "invalid_client", 500_112);
    assert!(
        other.2["error_description"]
            .as_str()
            .unwrap()
            .contains(&format!(
                "reply address '{CALLBACK}' provided when requesting"
            )),
        "{}",
        other.2
    );
}

#[tokio::test]
async fn a_forged_code_is_refused_with_aadsts70000_and_a_malformed_one_with_aadsts9002313() {
    let sim = start().await;
    let app = approval_app(&sim, "forged").await;
    // Consented, so the app is known in Fabrikam: only the code is wrong.
    fabrikam_admin_code(&sim, &fabrikam_url(&app, &Pkce::new())).await;
    let forged = format!("1.A{}", "x".repeat(64));
    refused(
        &redeem(&sim, &app, &forged, Some("v")).await,
        400,
        "invalid_grant",
        70000,
    );
    refused(
        &redeem(&sim, &app, "not-a-code", Some("v")).await,
        400,
        "invalid_grant",
        9_002_313,
    );
}

#[tokio::test]
async fn a_code_issued_to_one_client_is_refused_to_another_with_valid_credentials() {
    let sim = start().await;
    let a = approval_app(&sim, "client-a").await;
    let b = operator_creates_app(&sim, "client-b", true).await;
    sim.consent(demo::FABRIKAM_TENANT, &b.app_id, demo::FABRIKAM_ADMIN_UPN)
        .unwrap();
    let pkce = Pkce::new();
    let code = fabrikam_admin_code(&sim, &fabrikam_url(&a, &pkce)).await;
    let stolen =
        redeem_with_secret(&sim, demo::FABRIKAM_TENANT, &b, &code, Some(&pkce.verifier)).await;
    refused(&stolen, 400, "invalid_grant", 70000);
    // Client A still can.
    let own = redeem(&sim, &a, &code, Some(&pkce.verifier)).await;
    assert_eq!(own.0, 200, "{}", own.2);
}

#[tokio::test]
async fn a_code_is_redeemed_only_in_the_tenant_it_was_issued_for() {
    let sim = start().await;
    let app = approval_app(&sim, "tenant-bound").await;
    let pkce = Pkce::new();
    let code = fabrikam_admin_code(&sim, &fabrikam_url(&app, &pkce)).await;
    let assertion = operator_assertion(&sim).await;
    let elsewhere = redeem_with_assertion(
        &sim,
        AssertionRedemption {
            tenant: demo::CONTOSO_TENANT,
            client_id: &app.app_id,
            assertion: &assertion,
            code: &code,
            redirect_uri: CALLBACK,
            verifier: Some(&pkce.verifier),
            extra: &[],
        },
    )
    .await;
    refused(&elsewhere, 400, "invalid_grant", 700_005);
}

#[tokio::test]
async fn a_confidential_client_without_a_credential_is_refused_with_aadsts7000218() {
    let sim = start().await;
    let app = approval_app(&sim, "no-credential").await;
    let pkce = Pkce::new();
    let code = fabrikam_admin_code(&sim, &fabrikam_url(&app, &pkce)).await;
    let bare = token_request(
        &sim,
        demo::FABRIKAM_TENANT,
        &[
            ("client_id", app.app_id.as_str()),
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", &pkce.verifier),
        ],
    )
    .await;
    refused(&bare, 401, "invalid_client", 7_000_218);
}

#[tokio::test]
async fn cancelling_consent_redirects_with_access_denied_aadsts65004_and_the_state() {
    let sim = start().await;
    let app = approval_app(&sim, "declined").await;
    let consent = sign_in_at(
        &sim,
        &fabrikam_url(&app, &Pkce::new()),
        demo::FABRIKAM_ADMIN_UPN,
        demo::FABRIKAM_ADMIN_PASSWORD,
    )
    .await;
    let done = submit_form(&sim, &consent, "cancel", &[]).await;
    assert_eq!(done.status, 302);
    assert_eq!(
        done.redirect_param("error").as_deref(),
        Some("access_denied")
    );
    assert!(
        done.redirect_param("error_description")
            .unwrap()
            .starts_with("AADSTS65004")
    );
    assert_eq!(done.redirect_param("state").as_deref(), Some("state-42"));
    assert!(done.redirect_param("code").is_none());
    assert!(
        !sim.state()
            .service_principals
            .iter()
            .any(|s| s.tenant == demo::FABRIKAM_TENANT && s.app_id == app.app_id),
        "nothing was consented"
    );
}

#[tokio::test]
async fn the_consent_page_shows_once_and_an_organization_consent_covers_other_users() {
    let sim = start().await;
    let app = approval_app(&sim, "consent-once").await;
    let pkce = Pkce::new();
    let url = fabrikam_url(&app, &pkce);
    fabrikam_admin_code(&sim, &url).await;
    // The admin again: straight back to the app.
    let again = sign_in_at(
        &sim,
        &url,
        demo::FABRIKAM_ADMIN_UPN,
        demo::FABRIKAM_ADMIN_PASSWORD,
    )
    .await;
    assert_eq!(again.status, 302, "{}", again.html);
    assert!(again.redirect_param("code").is_some());
    // Another user of the tenant: covered by the organization's consent.
    let reader = sign_in_at(
        &sim,
        &url,
        demo::FABRIKAM_READER_UPN,
        demo::FABRIKAM_READER_PASSWORD,
    )
    .await;
    assert_eq!(reader.status, 302, "{}", reader.html);
    // prompt=consent shows the page anyway.
    let prompted = sign_in_at(
        &sim,
        &authorize_url(
            demo::FABRIKAM_TENANT,
            &app.app_id,
            ARM_USER_IMPERSONATION,
            Some(&pkce),
            &[("prompt", "consent")],
        ),
        demo::FABRIKAM_ADMIN_UPN,
        demo::FABRIKAM_ADMIN_PASSWORD,
    )
    .await;
    assert!(prompted.has_form("accept"), "{}", prompted.html);
}

#[tokio::test]
async fn a_user_s_own_consent_covers_only_that_user() {
    let sim = start().await;
    let app = approval_app(&sim, "own-consent").await;
    let url = fabrikam_url(&app, &Pkce::new());
    // The admin consents for themselves only (checkbox not ticked).
    let done = sign_in_and_accept(
        &sim,
        &url,
        demo::FABRIKAM_ADMIN_UPN,
        demo::FABRIKAM_ADMIN_PASSWORD,
        false,
    )
    .await;
    assert_eq!(done.status, 302);
    let reader = sign_in_at(
        &sim,
        &url,
        demo::FABRIKAM_READER_UPN,
        demo::FABRIKAM_READER_PASSWORD,
    )
    .await;
    assert_eq!(reader.status, 200);
    assert!(reader.has_form("accept"), "{}", reader.html);
    assert!(
        !reader.html.contains("consent_on_behalf"),
        "a non-admin cannot consent for the organization"
    );
}

#[tokio::test]
async fn a_non_admin_asked_for_admin_restricted_graph_permissions_needs_admin_approval() {
    let sim = start().await;
    let app = approval_app(&sim, "directory-writer").await;
    let url = authorize_url(
        demo::FABRIKAM_TENANT,
        &app.app_id,
        "openid Directory.ReadWrite.All",
        Some(&Pkce::new()),
        &[],
    );
    let page = sign_in_at(
        &sim,
        &url,
        demo::FABRIKAM_READER_UPN,
        demo::FABRIKAM_READER_PASSWORD,
    )
    .await;
    assert_eq!(page.status, 200);
    assert!(page.location.is_none());
    assert!(page.html.contains("AADSTS90094"), "{}", page.html);
    let err = sim
        .sign_in_and_consent(
            &url,
            demo::FABRIKAM_READER_UPN,
            demo::FABRIKAM_READER_PASSWORD,
            ConsentChoice::Accept,
        )
        .unwrap_err();
    assert!(
        matches!(&err, SimError::SignIn(SignInError::Page(p)) if p.code == 90094),
        "{err}"
    );
}

#[tokio::test]
async fn a_wrong_password_shows_the_sign_in_form_again_with_aadsts50126_and_the_login_hint() {
    let sim = start().await;
    let app = approval_app(&sim, "wrong-password").await;
    let url = authorize_url(
        demo::FABRIKAM_TENANT,
        &app.app_id,
        ARM_USER_IMPERSONATION,
        None,
        &[("login_hint", demo::FABRIKAM_ADMIN_UPN)],
    );
    let first = browse(&sim, &url).await;
    assert!(
        first.html.contains(&format!(
            "name=\"login\" value=\"{}\"",
            demo::FABRIKAM_ADMIN_UPN
        )),
        "login_hint fills in the name: {}",
        first.html
    );
    let again = sign_in_at(&sim, &url, demo::FABRIKAM_ADMIN_UPN, "guess").await;
    assert!(again.html.contains("AADSTS50126"));
    assert!(again.has_form("signin"));
}

#[tokio::test]
async fn authorize_errors_after_the_redirect_uri_is_trusted_go_back_to_it_with_the_state() {
    let sim = start().await;
    let app = approval_app(&sim, "bad-requests").await;
    let base = |extra: &[(&str, &str)], pkce: bool| {
        let p = Pkce::new();
        authorize_url(
            demo::FABRIKAM_TENANT,
            &app.app_id,
            ARM_USER_IMPERSONATION,
            pkce.then_some(&p),
            extra,
        )
    };
    let cases: Vec<(String, &str, &str)> = vec![
        (
            base(
                &[
                    ("code_challenge", &"a".repeat(43)),
                    ("code_challenge_method", "S512"),
                ],
                false,
            ),
            "invalid_request",
            "AADSTS50149",
        ),
        (
            base(
                &[
                    ("code_challenge", "too-short"),
                    ("code_challenge_method", "S256"),
                ],
                false,
            ),
            "invalid_request",
            "AADSTS501491",
        ),
        (
            base(&[("code_challenge_method", "S256")], false),
            "invalid_request",
            "AADSTS50147",
        ),
        (
            base(&[("prompt", "none")], true),
            "login_required",
            "AADSTS50058",
        ),
        (
            base(&[], true).replace("response_type=code", "response_type=code+id_token"),
            "unsupported_response_type",
            "AADSTS700054",
        ),
        (
            base(&[], true).replace("response_type=code&", ""),
            "invalid_request",
            "AADSTS900144",
        ),
        (
            base(&[], true).replace(
                "management.azure.com%2Fuser_impersonation",
                "example.com%2Fread",
            ),
            "invalid_resource",
            "AADSTS500011",
        ),
    ];
    for (url, error, code) in cases {
        let page = browse(&sim, &url).await;
        assert_eq!(page.status, 302, "{url}: {}", page.html);
        assert!(page.location.as_deref().unwrap().starts_with(CALLBACK));
        assert_eq!(
            page.redirect_param("error").as_deref(),
            Some(error),
            "{url}"
        );
        assert!(
            page.redirect_param("error_description")
                .unwrap()
                .starts_with(code),
            "{url}: {:?}",
            page.redirect_param("error_description")
        );
        assert_eq!(page.redirect_param("state").as_deref(), Some("state-42"));
    }
}

#[tokio::test]
async fn form_post_answers_an_auto_submitting_form_to_the_redirect_uri() {
    let sim = start().await;
    let app = approval_app(&sim, "form-post").await;
    let pkce = Pkce::new();
    let url = authorize_url(
        demo::FABRIKAM_TENANT,
        &app.app_id,
        ARM_USER_IMPERSONATION,
        Some(&pkce),
        &[("response_mode", "form_post")],
    );
    let done = sign_in_and_accept(
        &sim,
        &url,
        demo::FABRIKAM_ADMIN_UPN,
        demo::FABRIKAM_ADMIN_PASSWORD,
        true,
    )
    .await;
    assert_eq!(done.status, 200, "{}", done.html);
    assert!(done.location.is_none());
    let (action, fields) = form(&done.html, "hiddenform");
    assert_eq!(action, CALLBACK);
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(get("state").as_deref(), Some("state-42"));
    let code = get("code").unwrap();
    let (status, _, body) = redeem(&sim, &app, &code, Some(&pkce.verifier)).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn offline_access_adds_a_refresh_token_the_confidential_client_redeems_with_its_assertion() {
    let sim = start().await;
    let app = approval_app(&sim, "offline").await;
    let pkce = Pkce::new();
    let url = authorize_url(
        demo::FABRIKAM_TENANT,
        &app.app_id,
        &format!("{ARM_USER_IMPERSONATION} offline_access"),
        Some(&pkce),
        &[],
    );
    let code = fabrikam_admin_code(&sim, &url).await;
    let (status, _, body) = redeem(&sim, &app, &code, Some(&pkce.verifier)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("id_token").is_none(), "no openid: {body}");
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    let assertion = operator_assertion(&sim).await;
    let (status, _, again) = token_request(
        &sim,
        demo::FABRIKAM_TENANT,
        &[
            ("client_id", app.app_id.as_str()),
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("scope", "https://management.azure.com/.default"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", &assertion),
        ],
    )
    .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        claims(again["access_token"].as_str().unwrap())["oid"],
        demo::FABRIKAM_ADMIN_ID
    );
    // Without its credential the confidential client cannot refresh.
    let (status, _, bare) = token_request(
        &sim,
        demo::FABRIKAM_TENANT,
        &[
            ("client_id", app.app_id.as_str()),
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("scope", "https://management.azure.com/.default"),
        ],
    )
    .await;
    assert_eq!(status, 401, "{bare}");
    assert_eq!(error_codes(&bare), [7_000_218]);
}

#[tokio::test]
async fn a_token_for_a_resource_the_user_did_not_consent_to_is_refused_with_aadsts65001() {
    let sim = start().await;
    let app = approval_app(&sim, "other-resource").await;
    let pkce = Pkce::new();
    let code = fabrikam_admin_code(&sim, &fabrikam_url(&app, &pkce)).await;
    let assertion = operator_assertion(&sim).await;
    let graph = redeem_with_assertion(
        &sim,
        AssertionRedemption {
            tenant: demo::FABRIKAM_TENANT,
            client_id: &app.app_id,
            assertion: &assertion,
            code: &code,
            redirect_uri: CALLBACK,
            verifier: Some(&pkce.verifier),
            extra: &[("scope", "https://vault.azure.net/user_impersonation")],
        },
    )
    .await;
    refused(&graph, 400, "invalid_grant", 65001);
}

/// The app's service principal in Fabrikam (created by the admin's consent).
fn fabrikam_sp(sim: &Sim, app_id: &str) -> String {
    sim.state()
        .service_principals
        .iter()
        .find(|s| s.tenant == demo::FABRIKAM_TENANT && s.app_id == app_id)
        .map(|s| s.id.clone())
        .expect("the consent created the service principal")
}

fn contributor_for(principal: &str) -> Value {
    json!({"properties": {
        "roleDefinitionId": format!(
            "/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions/{CONTRIBUTOR}",
            demo::FABRIKAM_SUBSCRIPTION
        ),
        "principalId": principal,
        "principalType": "ServicePrincipal",
    }})
}

/// A delegated ARM token of `login` for `app`, through the whole flow.
async fn delegated_arm_token(sim: &Sim, app: &CreatedApp, login: &str, password: &str) -> String {
    let pkce = Pkce::new();
    let answer = sim
        .sign_in_and_consent(
            &fabrikam_url(app, &pkce),
            login,
            password,
            ConsentChoice::Accept,
        )
        .unwrap();
    let code = answer.code().expect("a code").to_owned();
    let (status, _, body) = redeem(sim, app, &code, Some(&pkce.verifier)).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_owner_s_delegated_token_creates_a_role_assignment_for_the_app_in_the_consumer_subscription()
 {
    let sim = start().await;
    let app = approval_app(&sim, "grant-as-owner").await;
    let token = delegated_arm_token(
        &sim,
        &app,
        demo::FABRIKAM_ADMIN_UPN,
        demo::FABRIKAM_ADMIN_PASSWORD,
    )
    .await;
    let sp = fabrikam_sp(&sim, &app.app_id);
    let name = uuid::Uuid::new_v4();
    let (status, _, body) = arm(
        &sim,
        Method::PUT,
        &role_assignment(&fabrikam_rg(), name),
        &token,
        Some(contributor_for(&sp)),
        &[],
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["properties"]["principalId"], sp);
    assert_eq!(body["properties"]["updatedBy"], demo::FABRIKAM_ADMIN_ID);
    assert!(
        sim.state()
            .role_assignments
            .iter()
            .any(|a| a.principal_id == sp && a.scope.eq_ignore_ascii_case(&fabrikam_rg()))
    );
}

#[tokio::test]
async fn the_reader_s_delegated_token_is_refused_with_authorization_failed_naming_the_user_action_and_scope()
 {
    let sim = start().await;
    let app = approval_app(&sim, "grant-as-reader").await;
    let token = delegated_arm_token(
        &sim,
        &app,
        demo::FABRIKAM_READER_UPN,
        demo::FABRIKAM_READER_PASSWORD,
    )
    .await;
    assert_eq!(claims(&token)["oid"], demo::FABRIKAM_READER_ID);
    let sp = fabrikam_sp(&sim, &app.app_id);
    let name = uuid::Uuid::new_v4();
    let path = role_assignment(&fabrikam_rg(), name);
    let (status, _, body) = arm(
        &sim,
        Method::PUT,
        &path,
        &token,
        Some(contributor_for(&sp)),
        &[],
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "AuthorizationFailed");
    // ARM names the scope with `resourcegroups` in lower case.
    let id = path
        .split('?')
        .next()
        .unwrap()
        .replace("/resourceGroups/", "/resourcegroups/");
    assert_eq!(
        body["error"]["message"],
        format!(
            "The client '{}' with object id '{}' does not have authorization to perform action 'Microsoft.Authorization/roleAssignments/write' over scope '{id}' or the scope is invalid. If access was recently granted, please refresh your credentials.",
            demo::FABRIKAM_READER_UPN,
            demo::FABRIKAM_READER_ID
        )
    );
    assert!(
        !sim.state()
            .role_assignments
            .iter()
            .any(|a| a.principal_id == sp)
    );
    // Reader's own rights still work with the same token.
    let (status, _, _) = Api::arm(&sim, token)
        .get(&format!("{}?api-version=2022-09-01", fabrikam_rg()))
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn the_sim_helper_and_the_admin_api_answer_what_the_pages_answer() {
    let sim = start().await;
    let app = approval_app(&sim, "helper").await;
    let pkce = Pkce::new();
    let url = fabrikam_url(&app, &pkce);
    let cancelled = sim
        .sign_in_and_consent(
            &url,
            demo::FABRIKAM_ADMIN_UPN,
            demo::FABRIKAM_ADMIN_PASSWORD,
            ConsentChoice::Cancel,
        )
        .unwrap();
    assert_eq!(cancelled.error(), Some("access_denied"));
    assert_eq!(cancelled.param("state"), Some("state-42"));
    assert!(cancelled.location().starts_with(CALLBACK));

    let wrong = sim
        .sign_in_and_consent(
            &url,
            demo::FABRIKAM_ADMIN_UPN,
            "guess",
            ConsentChoice::Accept,
        )
        .unwrap_err();
    assert!(
        matches!(&wrong, SimError::SignIn(SignInError::Page(p)) if p.code == 50126),
        "{wrong}"
    );

    // The same over HTTP, at the simulator's own address of the URL.
    let sim_url = url.replace("https://", &format!("{}/", sim.url()));
    let r = reqwest::Client::new()
        .post(format!("{}/_sim/authorize", sim.url()))
        .json(&json!({
            "url": sim_url,
            "login": demo::FABRIKAM_ADMIN_UPN,
            "password": demo::FABRIKAM_ADMIN_PASSWORD,
            "consent": "acceptForOrganization",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["responseMode"], "query");
    assert_eq!(v["params"]["state"], "state-42");
    let code = v["params"]["code"].as_str().unwrap();
    let (status, _, body) = redeem(&sim, &app, code, Some(&pkce.verifier)).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_user_added_with_the_scenario_builder_signs_in_with_the_roles_given_to_them() {
    let operator_id = "8d8d8d8d-8888-4888-8888-888888888888";
    let scenario = Scenario::demo()
        .with_replication(azure_sim::Replication::none())
        .with_user(
            UserSpec::member(
                operator_id,
                demo::FABRIKAM_TENANT,
                "ops@fabrikam.onmicrosoft.com",
                "ops-password",
            )
            .with_directory_roles(&["Cloud Application Administrator"]),
        )
        .with_role_assignment(operator_id, "User Access Administrator", &fabrikam_rg());
    let sim = Sim::start(scenario).await.unwrap();
    let app = approval_app(&sim, "ops").await;
    let token =
        delegated_arm_token(&sim, &app, "ops@fabrikam.onmicrosoft.com", "ops-password").await;
    let sp = fabrikam_sp(&sim, &app.app_id);
    let (status, _, body) = arm(
        &sim,
        Method::PUT,
        &role_assignment(&fabrikam_rg(), uuid::Uuid::new_v4()),
        &token,
        Some(contributor_for(&sp)),
        &[],
    )
    .await;
    assert_eq!(status, 201, "{body}");
}
