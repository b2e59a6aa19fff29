//! The Entra token endpoint: success shape, every AADSTS error the product branches on,
//! replication windows, and federated credentials.

// Helpers outside #[test] functions unwrap too: this is test code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use azure_sim::{Replication, Scenario, Sim, scenario::demo};
use common::*;
use serde_json::json;

fn assert_entra_error(body: &serde_json::Value, error: &str, code: u64) {
    assert_eq!(body["error"], error, "{body}");
    assert_eq!(body["error_codes"], json!([code]), "{body}");
    let description = body["error_description"].as_str().unwrap();
    assert!(
        description.starts_with(&format!("AADSTS{code}: ")),
        "{description}"
    );
    for key in ["timestamp", "trace_id", "correlation_id"] {
        assert!(body[key].is_string(), "{key} missing in {body}");
    }
    assert_eq!(
        body["error_uri"],
        format!("https://login.microsoftonline.com/error?code={code}")
    );
}

#[tokio::test]
async fn a_client_secret_gets_a_token_with_the_recorded_shape_and_headers() {
    let sim = start_demo().await;
    let app = operator_creates_app(&sim, "shape-app", true).await;
    let (status, headers, body) = secret_grant(
        &sim,
        demo::CONTOSO_TENANT,
        &app.app_id,
        &app.secret,
        "https://management.azure.com/.default",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);
    assert!(body["ext_expires_in"].is_u64());
    assert!(body.get("refresh_token").is_none() && body.get("expires_on").is_none());
    assert_eq!(headers["cache-control"], "no-store, no-cache");
    assert_eq!(headers["pragma"], "no-cache");
    assert!(headers.contains_key("x-ms-request-id"));
    let c = claims(body["access_token"].as_str().unwrap());
    assert_eq!(c["tid"], demo::CONTOSO_TENANT);
    assert_eq!(c["appid"], app.app_id.as_str());
    assert_eq!(c["aud"], "https://management.azure.com");
    assert_eq!(
        c["iss"],
        format!("https://sts.windows.net/{}/", demo::CONTOSO_TENANT)
    );
    let sp = sim
        .state()
        .service_principals
        .into_iter()
        .find(|s| s.app_id == app.app_id)
        .unwrap();
    assert_eq!(c["oid"], sp.id.as_str());
}

#[tokio::test]
async fn a_verified_domain_names_the_tenant_and_http_basic_carries_the_secret() {
    let sim = start_demo().await;
    let app = operator_creates_app(&sim, "basic-app", true).await;
    let t = transport(&sim);
    let req = t
        .client()
        .post(format!(
            "https://login.microsoftonline.com/{}/oauth2/v2.0/token",
            demo::CONTOSO_DOMAIN
        ))
        .basic_auth(&app.app_id, Some(&app.secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .build()
        .unwrap();
    let r = t.execute(req).await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn a_consumer_tenant_answers_700016_until_its_admin_consents() {
    let sim = start_demo().await;
    let app = operator_creates_app(&sim, "consent-app", true).await;
    let form = secret_form(
        &app.app_id,
        &app.secret,
        "https://management.azure.com/.default",
    );
    let (status, _, body) = token_request(&sim, demo::FABRIKAM_TENANT, &form).await;
    assert_eq!(status, 400);
    assert_entra_error(&body, "unauthorized_client", 700_016);

    sim.consent(demo::FABRIKAM_TENANT, &app.app_id, demo::FABRIKAM_ADMIN_UPN)
        .unwrap();
    let (status, _, body) = token_request(&sim, demo::FABRIKAM_TENANT, &form).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        claims(body["access_token"].as_str().unwrap())["tid"],
        demo::FABRIKAM_TENANT
    );
}

#[tokio::test]
async fn the_home_tenant_without_a_service_principal_answers_7000229() {
    let sim = start_demo().await;
    let app = operator_creates_app(&sim, "no-sp-app", false).await;
    let (status, _, body) = secret_grant(
        &sim,
        demo::CONTOSO_TENANT,
        &app.app_id,
        &app.secret,
        "https://graph.microsoft.com/.default",
    )
    .await;
    assert_eq!(status, 401);
    assert_entra_error(&body, "invalid_client", 7_000_229);
}

#[tokio::test]
async fn a_wrong_secret_answers_7000215_with_401() {
    let sim = start_demo().await;
    let app = operator_creates_app(&sim, "wrong-secret-app", true).await;
    let (status, _, body) = secret_grant(
        &sim,
        demo::CONTOSO_TENANT,
        &app.app_id,
        "not-the-secret",
        "https://graph.microsoft.com/.default",
    )
    .await;
    assert_eq!(status, 401);
    assert_entra_error(&body, "invalid_client", 7_000_215);
}

#[tokio::test]
async fn an_expired_secret_answers_7000222() {
    let sim = start_demo().await;
    let operator = graph_as_operator(&sim).await;
    let app = operator_creates_app(&sim, "expiring-app", true).await;
    let end = azure_sim::timefmt::graph_seconds(sim.now() + time::Duration::hours(1));
    let (_, _, pw) = operator
        .post(
            &format!("/applications/{}/addPassword", app.id),
            json!({"passwordCredential": {"displayName": "short", "endDateTime": end}}),
        )
        .await;
    let short = pw["secretText"].as_str().unwrap().to_owned();
    assert_eq!(
        pw["endDateTime"],
        end.as_str(),
        "the end date comes back as sent"
    );
    sim.advance_clock(Duration::from_secs(2 * 3600));
    let (status, _, body) = secret_grant(
        &sim,
        demo::CONTOSO_TENANT,
        &app.app_id,
        &short,
        "https://graph.microsoft.com/.default",
    )
    .await;
    assert_eq!(status, 401);
    assert_entra_error(&body, "invalid_client", 7_000_222);
}

#[tokio::test]
async fn an_unknown_tenant_answers_90002() {
    let sim = start_demo().await;
    let (status, _, body) = secret_grant(
        &sim,
        "33333333-3333-4333-8333-333333333333",
        "00000000-0000-0000-0000-000000000001",
        "x",
        "https://graph.microsoft.com/.default",
    )
    .await;
    assert_eq!(status, 400);
    assert_entra_error(&body, "invalid_request", 90002);
}

#[tokio::test]
async fn an_unknown_application_answers_700016() {
    let sim = start_demo().await;
    let (status, _, body) = secret_grant(
        &sim,
        demo::CONTOSO_TENANT,
        "00000000-0000-0000-0000-000000000001",
        "x",
        "https://graph.microsoft.com/.default",
    )
    .await;
    assert_eq!(status, 400);
    assert_entra_error(&body, "unauthorized_client", 700_016);
}

#[tokio::test]
async fn a_cae_client_gets_a_day_long_token_as_recorded() {
    let sim = start_demo().await;
    let app = operator_creates_app(&sim, "cae-app", true).await;
    let mut form = secret_form(&app.app_id, &app.secret, "https://vault.azure.net/.default");
    form.push((
        "claims",
        r#"{"access_token":{"xms_cc":{"values":["cp1"]}}}"#,
    ));
    let (status, _, body) = token_request(&sim, demo::CONTOSO_TENANT, &form).await;
    assert_eq!(status, 200);
    assert_eq!(body["expires_in"], 86399);
}

fn slow_scenario() -> Scenario {
    Scenario::demo().with_replication(Replication {
        new_application_seconds: 5,
        new_secret_seconds: 10,
        new_service_principal_seconds: 15,
        ..Replication::none()
    })
}

#[tokio::test]
async fn creating_a_service_principal_right_after_its_app_fails_with_no_backing_application_object()
{
    let sim = Sim::start(slow_scenario()).await.unwrap();
    let operator = graph_as_operator(&sim).await;
    let (_, _, app) = operator
        .post("/applications", json!({"displayName": "fresh"}))
        .await;
    let app_id = app["appId"].as_str().unwrap();
    let (status, _, body) = operator
        .post("/servicePrincipals", json!({"appId": app_id}))
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "Request_BadRequest");
    assert_eq!(
        body["error"]["details"][0]["code"],
        "NoBackingApplicationObject"
    );
    assert_eq!(body["error"]["details"][0]["target"], "appId");

    sim.advance_clock(Duration::from_secs(6));
    let (status, _, _) = operator
        .upsert(&format!("/servicePrincipals(appId='{app_id}')"), json!({}))
        .await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn a_new_secret_and_a_new_service_principal_are_refused_until_they_replicate() {
    let sim = Sim::start(slow_scenario()).await.unwrap();
    let operator = graph_as_operator(&sim).await;
    let (_, _, app) = operator
        .post("/applications", json!({"displayName": "lagging"}))
        .await;
    let (id, app_id) = (app["id"].as_str().unwrap(), app["appId"].as_str().unwrap());
    sim.advance_clock(Duration::from_secs(6));
    let (status, _, _) = operator
        .post("/servicePrincipals", json!({"appId": app_id}))
        .await;
    assert_eq!(status, 201);
    let (_, _, pw) = operator
        .post(&format!("/applications/{id}/addPassword"), json!({}))
        .await;
    let secret = pw["secretText"].as_str().unwrap();
    let form = secret_form(app_id, secret, "https://graph.microsoft.com/.default");

    let (status, _, body) = token_request(&sim, demo::CONTOSO_TENANT, &form).await;
    assert_eq!(status, 401);
    assert_entra_error(&body, "invalid_client", 7_000_215);

    sim.advance_clock(Duration::from_secs(11));
    let (status, _, body) = token_request(&sim, demo::CONTOSO_TENANT, &form).await;
    assert_eq!(
        status, 400,
        "the secret replicated but the principal has not: {body}"
    );
    assert_entra_error(&body, "unauthorized_client", 700_016);

    sim.advance_clock(Duration::from_secs(5));
    let (status, _, _) = token_request(&sim, demo::CONTOSO_TENANT, &form).await;
    assert_eq!(status, 200);
}

async fn app_with_fic(sim: &Sim, issuer: &str, subject: &str, audience: &str) -> String {
    let operator = graph_as_operator(sim).await;
    let app =
        operator_creates_app(sim, &format!("fic-{}", uuid::Uuid::new_v4().simple()), true).await;
    let (status, _, fic) = operator
        .post(
            &format!("/applications/{}/federatedIdentityCredentials", app.id),
            json!({"name": "operator-mi", "issuer": issuer, "subject": subject, "audiences": [audience]}),
        )
        .await;
    assert_eq!(status, 201, "{fic}");
    assert_eq!(fic["subject"], subject);
    app.app_id
}

async fn exchange(sim: &Sim, app_id: &str, tenant: &str) -> (u16, serde_json::Value) {
    let assertion = operator_token(sim, "api://AzureADTokenExchange").await;
    let form = [
        ("client_id", app_id),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", assertion.as_str()),
        ("grant_type", "client_credentials"),
        ("scope", "https://management.azure.com/.default"),
    ];
    let (status, _, body) = token_request(sim, tenant, &form).await;
    (status, body)
}

fn contoso_v2_issuer() -> String {
    format!(
        "https://login.microsoftonline.com/{}/v2.0",
        demo::CONTOSO_TENANT
    )
}

#[tokio::test]
async fn a_managed_identity_assertion_matching_a_federated_credential_is_exchanged_in_both_tenants()
{
    let sim = start_demo().await;
    let app_id = app_with_fic(
        &sim,
        &contoso_v2_issuer(),
        demo::OPERATOR_PRINCIPAL_ID,
        "api://AzureADTokenExchange",
    )
    .await;
    let (status, body) = exchange(&sim, &app_id, demo::CONTOSO_TENANT).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        claims(body["access_token"].as_str().unwrap())["appid"],
        app_id.as_str()
    );

    sim.consent(demo::FABRIKAM_TENANT, &app_id, demo::FABRIKAM_ADMIN_ID)
        .unwrap();
    let (status, body) = exchange(&sim, &app_id, demo::FABRIKAM_TENANT).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        claims(body["access_token"].as_str().unwrap())["tid"],
        demo::FABRIKAM_TENANT
    );
}

#[tokio::test]
async fn a_federated_credential_for_another_subject_answers_700213() {
    let sim = start_demo().await;
    let app_id = app_with_fic(
        &sim,
        &contoso_v2_issuer(),
        "99999999-9999-4999-8999-999999999999",
        "api://AzureADTokenExchange",
    )
    .await;
    let (status, body) = exchange(&sim, &app_id, demo::CONTOSO_TENANT).await;
    assert_eq!(status, 401);
    assert_entra_error(&body, "invalid_client", 700_213);
}

#[tokio::test]
async fn a_federated_credential_for_another_issuer_or_audience_is_refused() {
    let sim = start_demo().await;
    let wrong_issuer = app_with_fic(
        &sim,
        "https://sts.windows.net/other/",
        demo::OPERATOR_PRINCIPAL_ID,
        "api://AzureADTokenExchange",
    )
    .await;
    let (status, body) = exchange(&sim, &wrong_issuer, demo::CONTOSO_TENANT).await;
    assert_eq!(status, 401);
    assert_entra_error(&body, "invalid_client", 700_211);
    let wrong_audience = app_with_fic(
        &sim,
        &contoso_v2_issuer(),
        demo::OPERATOR_PRINCIPAL_ID,
        "api://SomethingElse",
    )
    .await;
    let (status, body) = exchange(&sim, &wrong_audience, demo::CONTOSO_TENANT).await;
    assert_eq!(status, 401);
    assert_entra_error(&body, "invalid_client", 700_212);
}

#[tokio::test]
async fn a_scope_without_default_is_refused_as_invalid_scope() {
    let sim = start_demo().await;
    let app = operator_creates_app(&sim, "scope-app", true).await;
    let (status, _, body) = secret_grant(
        &sim,
        demo::CONTOSO_TENANT,
        &app.app_id,
        &app.secret,
        "User.Read",
    )
    .await;
    assert_eq!(status, 400);
    assert_entra_error(&body, "invalid_scope", 1_002_012);
}

#[tokio::test]
async fn the_managed_identity_endpoint_refuses_a_wrong_identity_header() {
    let sim = start_demo().await;
    let vault = "api-version=2019-08-01&resource=https://vault.azure.net";
    let operator = format!("{vault}&client_id={}", demo::OPERATOR_CLIENT_ID);
    let r = identity_request(&sim, &operator, "guess").await;
    assert_eq!(r.status(), 401);
    let unknown = format!("{vault}&client_id=00000000-0000-0000-0000-000000000000");
    let r = identity_request(&sim, &unknown, demo::IDENTITY_HEADER).await;
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn the_managed_identity_endpoint_answers_the_app_service_shape() {
    let sim = start_demo().await;
    let query = format!(
        "api-version=2019-08-01&resource=https://vault.azure.net&principal_id={}",
        demo::OPERATOR_PRINCIPAL_ID
    );
    let r = identity_request(&sim, &query, demo::IDENTITY_HEADER).await;
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(
        body["expires_on"].as_str().unwrap().parse::<i64>().is_ok(),
        "expires_on is a string of epoch seconds"
    );
    assert_eq!(body["resource"], "https://vault.azure.net");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["client_id"], demo::OPERATOR_CLIENT_ID);
    let c = claims(body["access_token"].as_str().unwrap());
    assert_eq!(c["oid"], demo::OPERATOR_PRINCIPAL_ID);
    assert_eq!(c["xms_mirid"], demo::OPERATOR_RESOURCE_ID);
}

/// A password grant through `client` for the ARM scopes the Azure CLI asks for.
async fn password_grant(
    sim: &Sim,
    tenant: &str,
    client: &str,
    user: &str,
    password: &str,
) -> Answer {
    let form = [
        ("client_id", client),
        ("grant_type", "password"),
        ("username", user),
        ("password", password),
        (
            "scope",
            "https://management.core.windows.net//.default offline_access openid profile",
        ),
    ];
    token_request(sim, tenant, &form).await
}

#[tokio::test]
async fn a_scenario_user_signs_in_with_a_password_through_the_azure_cli_client() {
    let sim = start_demo().await;
    let (status, headers, body) = password_grant(
        &sim,
        demo::FABRIKAM_DOMAIN,
        AZURE_CLI,
        demo::FABRIKAM_ADMIN_UPN,
        demo::FABRIKAM_ADMIN_PASSWORD,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["cache-control"], "no-store, no-cache");
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["refresh_token"].is_string() && body["id_token"].is_string());
    let c = claims(body["access_token"].as_str().unwrap());
    assert_eq!(c["aud"], "https://management.core.windows.net/");
    assert_eq!(c["tid"], demo::FABRIKAM_TENANT);
    assert_eq!(c["oid"], demo::FABRIKAM_ADMIN_ID);
    assert_eq!(c["upn"], demo::FABRIKAM_ADMIN_UPN);
    assert_eq!(c["idtyp"], "user");
    assert_eq!(c["scp"], "user_impersonation");
    assert!(sim.contains_known_secret(body["refresh_token"].as_str().unwrap()));
}

#[tokio::test]
async fn wrong_passwords_unknown_users_and_confidential_clients_are_refused() {
    let sim = start_demo().await;
    let (status, _, body) = password_grant(
        &sim,
        demo::FABRIKAM_TENANT,
        AZURE_CLI,
        demo::FABRIKAM_ADMIN_UPN,
        "wrong",
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(body["error_codes"][0], 50126);
    let (status, _, body) = password_grant(
        &sim,
        demo::CONTOSO_TENANT,
        AZURE_CLI,
        demo::FABRIKAM_ADMIN_UPN,
        demo::FABRIKAM_ADMIN_PASSWORD,
    )
    .await;
    assert_eq!(
        (status, body["error_codes"][0].as_u64()),
        (400, Some(50034)),
        "a Fabrikam user in Contoso"
    );
    let app = operator_creates_app(&sim, "confidential", true).await;
    let (status, _, body) = password_grant(
        &sim,
        demo::CONTOSO_TENANT,
        &app.app_id,
        demo::CONTOSO_ADMIN_UPN,
        demo::CONTOSO_ADMIN_PASSWORD,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "{body}"
    );
    assert_eq!(body["error_codes"][0], 7_000_218);
}

/// A password grant at `authority` for the Fabrikam admin through the Azure CLI's client,
/// asking for a refresh token.
async fn fabrikam_admin_password_grant(sim: &Sim, authority: &str) -> serde_json::Value {
    let (status, _, body) = token_request(
        sim,
        authority,
        &[
            ("client_id", AZURE_CLI),
            ("grant_type", "password"),
            ("username", demo::FABRIKAM_ADMIN_UPN),
            ("password", demo::FABRIKAM_ADMIN_PASSWORD),
            (
                "scope",
                "https://management.core.windows.net//.default offline_access openid profile",
            ),
            ("client_info", "1"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn the_organizations_authority_signs_a_user_in_at_their_home_tenant() {
    let sim = start_demo().await;
    let body = fabrikam_admin_password_grant(&sim, "organizations").await;
    let access = claims(body["access_token"].as_str().unwrap());
    assert_eq!(access["tid"], demo::FABRIKAM_TENANT);
    assert_eq!(access["upn"], demo::FABRIKAM_ADMIN_UPN);
    let (status, _, body) = token_request(
        &sim,
        "organizations",
        &[
            ("client_id", AZURE_CLI),
            ("grant_type", "password"),
            ("username", "nobody@fabrikam.onmicrosoft.com"),
            ("password", "x"),
            ("scope", "https://management.core.windows.net//.default"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error_codes"][0].as_u64()),
        (400, Some(50034))
    );
}

#[tokio::test]
async fn a_refresh_token_serves_any_resource_for_its_client_in_the_user_s_tenant_only() {
    let sim = start_demo().await;
    let first = fabrikam_admin_password_grant(&sim, demo::FABRIKAM_TENANT).await;
    let refresh = first["refresh_token"].as_str().unwrap().to_owned();
    let redeem = |authority: &'static str, client: &'static str, scope: &'static str| {
        let refresh = refresh.clone();
        let sim = &sim;
        async move {
            token_request(
                sim,
                authority,
                &[
                    ("client_id", client),
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &refresh),
                    ("scope", scope),
                ],
            )
            .await
        }
    };
    // Another resource, at the organizations authority: the token's own tenant answers.
    let (status, _, graph) = redeem(
        "organizations",
        AZURE_CLI,
        "https://graph.microsoft.com/.default offline_access",
    )
    .await;
    assert_eq!(status, 200, "{graph}");
    let access = claims(graph["access_token"].as_str().unwrap());
    assert_eq!(access["aud"], "https://graph.microsoft.com");
    assert_eq!(access["tid"], demo::FABRIKAM_TENANT);
    assert!(graph["refresh_token"].is_string());

    let (status, _, other_client) = redeem(
        demo::FABRIKAM_TENANT,
        "1950a258-227b-4e31-a9cf-717495945fc2",
        "https://graph.microsoft.com/.default",
    )
    .await;
    assert_eq!(
        (
            status,
            other_client["error"].as_str(),
            other_client["error_codes"][0].as_u64()
        ),
        (400, Some("invalid_grant"), Some(70000))
    );
    let (status, _, elsewhere) = redeem(
        demo::CONTOSO_TENANT,
        AZURE_CLI,
        "https://management.core.windows.net//.default",
    )
    .await;
    assert_eq!(
        (status, elsewhere["error_codes"][0].as_u64()),
        (400, Some(50020))
    );
    assert!(
        elsewhere["error_description"]
            .as_str()
            .unwrap()
            .contains("does not exist in tenant 'Contoso'")
    );
    let (status, _, forged) = token_request(
        &sim,
        demo::FABRIKAM_TENANT,
        &[
            ("client_id", AZURE_CLI),
            ("grant_type", "refresh_token"),
            ("refresh_token", "1.not-a-refresh-token"),
            ("scope", "https://graph.microsoft.com/.default"),
        ],
    )
    .await;
    assert_eq!(
        (status, forged["error_codes"][0].as_u64()),
        (400, Some(9_002_313))
    );
}

#[tokio::test]
async fn user_realm_discovery_calls_the_scenario_s_domains_managed() {
    let sim = start_demo().await;
    let t = transport(&sim);
    for (user, kind) in [
        ("admin@fabrikam.onmicrosoft.com", "Managed"),
        ("someone@example.org", "Unknown"),
    ] {
        let response = call(
            &t,
            reqwest::Method::GET,
            &format!("https://login.microsoftonline.com/common/userrealm/{user}?api-version=1.0"),
            &[],
            Vec::<u8>::new(),
        )
        .await;
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["account_type"], kind, "{user}");
        assert_eq!(body["cloud_instance_name"], "microsoftonline.com");
    }
}

#[tokio::test]
async fn a_user_grant_declaring_cae_gets_the_long_lived_token() {
    let sim = start_demo().await;
    let grant = |claims: Option<&'static str>| {
        let sim = &sim;
        async move {
            let mut form = vec![
                ("client_id", AZURE_CLI),
                ("grant_type", "password"),
                ("username", demo::FABRIKAM_ADMIN_UPN),
                ("password", demo::FABRIKAM_ADMIN_PASSWORD),
                ("scope", "https://management.core.windows.net//.default"),
            ];
            if let Some(c) = claims {
                form.push(("claims", c));
            }
            token_request(sim, demo::FABRIKAM_TENANT, &form).await
        }
    };
    // MSAL sends the Azure CLI's client capability CP1 this way.
    let (status, _, cae) =
        grant(Some(r#"{"access_token": {"xms_cc": {"values": ["CP1"]}}}"#)).await;
    assert_eq!((status, cae["expires_in"].as_u64()), (200, Some(86_399)));
    let (status, _, plain) = grant(None).await;
    assert_eq!((status, plain["expires_in"].as_u64()), (200, Some(3599)));
}

#[tokio::test]
async fn after_its_federated_credential_is_deleted_a_multi_tenant_app_gets_no_token_in_the_consumer_tenant()
 {
    let sim = start_demo().await;
    let operator = graph_as_operator(&sim).await;
    let app = operator_creates_app(&sim, "fic-revoked", true).await;
    let fics = format!("/applications/{}/federatedIdentityCredentials", app.id);
    let (status, _, fic) = operator
        .post(
            &fics,
            json!({"name": "operator-mi", "issuer": contoso_v2_issuer(),
                "subject": demo::OPERATOR_PRINCIPAL_ID, "audiences": ["api://AzureADTokenExchange"]}),
        )
        .await;
    assert_eq!(status, 201, "{fic}");
    sim.consent(demo::FABRIKAM_TENANT, &app.app_id, demo::FABRIKAM_ADMIN_ID)
        .unwrap();
    let (status, body) = exchange(&sim, &app.app_id, demo::FABRIKAM_TENANT).await;
    assert_eq!(status, 200, "the exchange works before the delete: {body}");
    assert_eq!(
        claims(body["access_token"].as_str().unwrap())["tid"],
        demo::FABRIKAM_TENANT
    );

    let (status, _, _) = operator
        .delete(&format!("{fics}/{}", fic["id"].as_str().unwrap()))
        .await;
    assert_eq!(status, 204);

    for tenant in [demo::FABRIKAM_TENANT, demo::CONTOSO_TENANT] {
        let (status, body) = exchange(&sim, &app.app_id, tenant).await;
        assert_eq!(status, 400, "{tenant}: {body}");
        assert_entra_error(&body, "invalid_request", 70_021);
        let description = body["error_description"].as_str().unwrap();
        assert!(
            description.starts_with(
                "AADSTS70021: No matching federated identity record found for presented assertion."
            ),
            "{description}"
        );
        assert!(
            description.contains(&format!(
                "Assertion Subject: '{}'",
                demo::OPERATOR_PRINCIPAL_ID
            )),
            "{description}"
        );
    }
    // The app's secret still works: only the federated credential is gone.
    let (status, _, body) = secret_grant(
        &sim,
        demo::FABRIKAM_TENANT,
        &app.app_id,
        &app.secret,
        "https://management.azure.com/.default",
    )
    .await;
    assert_eq!(status, 200, "{body}");
}
