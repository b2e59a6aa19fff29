//! Microsoft Graph: upserts, credentials, permissions, errors, mail.

// Helpers outside #[test] functions unwrap too: this is test code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use azure_sim::{
    Fault, Scenario, Sim,
    scenario::{ApplicationSpec, demo},
};
use common::*;
use reqwest::Method;
use serde_json::json;

const GRAPH: &str = "https://graph.microsoft.com";

#[tokio::test]
async fn an_application_upsert_answers_201_with_the_body_then_204() {
    let sim = start_demo().await;
    let token = operator_token(&sim, GRAPH).await;
    let body = json!({"displayName": "share-t2", "signInAudience": "AzureADMultipleOrgs"});
    let (status, headers, app) = graph(
        &sim,
        Method::PATCH,
        "/applications(uniqueName='share-t2')",
        &token,
        Some(body.clone()),
        &[("prefer", "create-if-missing")],
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(app["uniqueName"], "share-t2");
    assert_eq!(app["signInAudience"], "AzureADMultipleOrgs");
    assert_eq!(
        app["description"],
        serde_json::Value::Null,
        "null properties are present"
    );
    assert_eq!(
        app["createdDateTime"].as_str().unwrap().len(),
        "2022-05-07T06:56:45.8939424Z".len()
    );
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json;odata.metadata=minimal")
    );
    let location = headers["location"].to_str().unwrap();
    assert_eq!(
        location,
        format!(
            "https://graph.microsoft.com/v2/{}/directoryObjects/{}/Microsoft.DirectoryServices.Application",
            demo::CONTOSO_TENANT,
            app["id"].as_str().unwrap()
        )
    );

    let (status, _, empty) = graph(
        &sim,
        Method::PATCH,
        "/applications(uniqueName='share-t2')",
        &token,
        Some(json!({"displayName": "share-t2 renamed"})),
        &[("prefer", "create-if-missing")],
    )
    .await;
    assert_eq!(status, 204);
    assert!(empty.is_null());
    let (status, _, read) = graph(
        &sim,
        Method::GET,
        &format!("/applications(appId='{}')", app["appId"].as_str().unwrap()),
        &token,
        None,
        &[],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(read["displayName"], "share-t2 renamed");
    assert_eq!(
        read["createdDateTime"].as_str().unwrap().len(),
        "2022-05-07T06:56:45Z".len(),
        "reads truncate to seconds"
    );
}

#[tokio::test]
async fn an_upsert_without_prefer_on_a_missing_application_answers_404() {
    let sim = start_demo().await;
    let token = operator_token(&sim, GRAPH).await;
    let (status, _, body) = graph(
        &sim,
        Method::PATCH,
        "/applications(uniqueName='missing')",
        &token,
        Some(json!({"displayName": "missing"})),
        &[],
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "Request_ResourceNotFound");
    assert!(body["error"]["innerError"]["request-id"].is_string());
}

#[tokio::test]
async fn a_service_principal_upsert_answers_201_then_204() {
    let sim = start_demo().await;
    let token = operator_token(&sim, GRAPH).await;
    let app = operator_creates_app(&sim, "sp-upsert", false).await;
    let path = format!("/servicePrincipals(appId='{}')", app.app_id);
    let (status, headers, sp) = graph(
        &sim,
        Method::PATCH,
        &path,
        &token,
        Some(json!({})),
        &[("prefer", "create-if-missing")],
    )
    .await;
    assert_eq!(status, 201, "{sp}");
    assert_eq!(sp["appId"], app.app_id.as_str());
    assert_eq!(sp["appOwnerOrganizationId"], demo::CONTOSO_TENANT);
    assert_eq!(sp["servicePrincipalNames"], json!([app.app_id]));
    assert!(
        headers["location"]
            .to_str()
            .unwrap()
            .ends_with("/Microsoft.DirectoryServices.ServicePrincipal")
    );
    let (status, _, _) = graph(
        &sim,
        Method::PATCH,
        &path,
        &token,
        Some(json!({})),
        &[("prefer", "create-if-missing")],
    )
    .await;
    assert_eq!(status, 204);
    let (status, _, read) = graph(&sim, Method::GET, &path, &token, None, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(read["id"], sp["id"]);
}

#[tokio::test]
async fn add_password_answers_200_with_the_secret_once_and_reads_hide_it() {
    let sim = start_demo().await;
    let token = operator_token(&sim, GRAPH).await;
    let app = operator_creates_app(&sim, "pw-app", false).await;
    let (status, headers, pw) = graph(&sim, Method::POST, &format!("/applications/{}/addPassword", app.id), &token,
        Some(json!({"passwordCredential": {"displayName": "rbac", "startDateTime": "2026-01-01T00:00:00Z", "endDateTime": "2027-01-01T00:00:00Z"}})), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(headers["location"], "https://graph.microsoft.com");
    let secret = pw["secretText"].as_str().unwrap();
    assert_eq!(secret.len(), 40);
    assert_eq!(pw["hint"].as_str().unwrap(), &secret[..3]);
    assert_eq!(pw["startDateTime"], "2026-01-01T00:00:00Z");
    assert!(pw["customKeyIdentifier"].is_null());
    assert!(sim.known_secrets().iter().any(|k| k.value == secret));

    let (_, _, read) = graph(
        &sim,
        Method::GET,
        &format!("/applications/{}", app.id),
        &token,
        None,
        &[],
    )
    .await;
    let creds = read["passwordCredentials"].as_array().unwrap();
    assert_eq!(creds.len(), 2);
    assert!(
        creds
            .iter()
            .all(|c| c["secretText"].is_null() && c["hint"].is_string())
    );

    let (status, _, _) = graph(
        &sim,
        Method::POST,
        &format!("/applications/{}/removePassword", app.id),
        &token,
        Some(json!({"keyId": pw["keyId"]})),
        &[],
    )
    .await;
    assert_eq!(status, 204);
    let (_, _, read) = graph(
        &sim,
        Method::GET,
        &format!("/applications/{}", app.id),
        &token,
        None,
        &[],
    )
    .await;
    assert_eq!(read["passwordCredentials"].as_array().unwrap().len(), 1);
}

fn scenario_with_foreign_app() -> Scenario {
    let mut s = demo_scenario();
    s.applications.push(ApplicationSpec {
        id: "7a7a7a7a-7777-4777-8777-777777777777".into(),
        app_id: "7b7b7b7b-7777-4777-8777-777777777777".into(),
        tenant: demo::CONTOSO_TENANT.into(),
        display_name: "someone else's app".into(),
        unique_name: Some("foreign".into()),
        sign_in_audience: "AzureADMultipleOrgs".into(),
        redirect_uris: vec![],
        owners: vec!["5e5e5e5e-5555-4555-8555-555555555555".into()],
        password_credentials: vec![],
        federated_identity_credentials: vec![],
    });
    s
}

#[tokio::test]
async fn owned_by_may_read_but_not_change_an_application_it_does_not_own() {
    let sim = Sim::start(scenario_with_foreign_app()).await.unwrap();
    let token = operator_token(&sim, GRAPH).await;
    let (status, _, _) = graph(
        &sim,
        Method::GET,
        "/applications(uniqueName='foreign')",
        &token,
        None,
        &[],
    )
    .await;
    assert_eq!(status, 200);
    let (status, headers, body) = graph(
        &sim,
        Method::PATCH,
        "/applications(uniqueName='foreign')",
        &token,
        Some(json!({"displayName": "mine now"})),
        &[("prefer", "create-if-missing")],
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(body["error"]["code"], "Authorization_RequestDenied");
    assert_eq!(
        body["error"]["message"],
        "Insufficient privileges to complete the operation."
    );
    assert_eq!(headers["content-type"], "application/json");
    let (status, _, _) = graph(
        &sim,
        Method::POST,
        "/applications/7a7a7a7a-7777-4777-8777-777777777777/addPassword",
        &token,
        Some(json!({})),
        &[],
    )
    .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn a_token_without_graph_permissions_is_denied() {
    let sim = start_demo().await;
    let app = operator_creates_app(&sim, "no-roles", true).await;
    let (_, _, body) = token_request(
        &sim,
        demo::CONTOSO_TENANT,
        &[
            ("client_id", app.app_id.as_str()),
            ("client_secret", app.secret.as_str()),
            ("grant_type", "client_credentials"),
            ("scope", "https://graph.microsoft.com/.default"),
        ],
    )
    .await;
    let token = body["access_token"].as_str().unwrap();
    let (status, _, err) = graph(
        &sim,
        Method::POST,
        "/applications",
        token,
        Some(json!({"displayName": "x"})),
        &[],
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(err["error"]["code"], "Authorization_RequestDenied");
}

#[tokio::test]
async fn graph_refuses_missing_foreign_and_expired_tokens_with_invalid_authentication_token() {
    let sim = start_demo().await;
    let (status, _, body) = graph(&sim, Method::GET, "/applications", "", None, &[]).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
    let vault_token = operator_token(&sim, "https://vault.azure.net").await;
    let (status, _, body) =
        graph(&sim, Method::GET, "/applications", &vault_token, None, &[]).await;
    assert_eq!(status, 401);
    assert_eq!(
        body["error"]["message"],
        "Access token validation failure. Invalid audience."
    );
    let token = operator_token(&sim, GRAPH).await;
    sim.advance_clock(Duration::from_secs(3600));
    let (status, _, body) = graph(&sim, Method::GET, "/applications", &token, None, &[]).await;
    assert_eq!(status, 401);
    assert_eq!(
        body["error"]["message"],
        "Lifetime validation failed, the token is expired."
    );
}

#[tokio::test]
async fn federated_credentials_are_listed_unique_by_name_and_capped_at_twenty() {
    let sim = start_demo().await;
    let token = operator_token(&sim, GRAPH).await;
    let app = operator_creates_app(&sim, "fic-cap", false).await;
    let path = format!("/applications/{}/federatedIdentityCredentials", app.id);
    for i in 0..20 {
        let (status, _, _) = graph(
            &sim,
            Method::POST,
            &path,
            &token,
            Some(json!({
            "name": format!("fic-{i}"), "issuer": "https://login.microsoftonline.com/t/v2.0",
            "subject": format!("s-{i}"), "audiences": ["api://AzureADTokenExchange"]})),
            &[],
        )
        .await;
        assert_eq!(status, 201);
    }
    let (status, _, _) = graph(&sim, Method::POST, &path, &token, Some(json!({
        "name": "fic-0", "issuer": "https://login.microsoftonline.com/t/v2.0", "subject": "other", "audiences": ["api://AzureADTokenExchange"]})), &[]).await;
    assert_eq!(status, 409, "names are unique");
    let (status, _, body) = graph(&sim, Method::POST, &path, &token, Some(json!({
        "name": "fic-20", "issuer": "https://login.microsoftonline.com/t/v2.0", "subject": "s-20", "audiences": ["api://AzureADTokenExchange"]})), &[]).await;
    assert_eq!(status, 400, "{body}");
    let (status, _, list) = graph(&sim, Method::GET, &path, &token, None, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(list["value"].as_array().unwrap().len(), 20);
    let (status, _, _) = graph(
        &sim,
        Method::DELETE,
        &format!("{path}/fic-3"),
        &token,
        None,
        &[],
    )
    .await;
    assert_eq!(status, 204);
    let (status, _, _) = graph(
        &sim,
        Method::GET,
        &format!("{path}/fic-3"),
        &token,
        None,
        &[],
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn send_mail_answers_202_and_the_mail_lands_in_the_tenant_outbox() {
    let sim = start_demo().await;
    let token = operator_token(&sim, GRAPH).await;
    let (status, _, body) = graph(&sim, Method::POST, &format!("/users/{}/sendMail", demo::MAILBOX_UPN), &token, Some(json!({
        "message": {"subject": "Approve gallery access", "body": {"contentType": "HTML", "content": "<a href=\"x\">Consent</a>"},
                    "toRecipients": [{"emailAddress": {"address": "admin@fabrikam.onmicrosoft.com"}}]},
        "saveToSentItems": false})), &[]).await;
    assert_eq!(status, 202);
    assert!(body.is_null());
    let outbox = sim.outbox(demo::CONTOSO_DOMAIN);
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].from, demo::MAILBOX_UPN);
    assert_eq!(
        outbox[0].to,
        vec!["admin@fabrikam.onmicrosoft.com".to_owned()]
    );
    assert_eq!(outbox[0].subject, "Approve gallery access");
    assert!(sim.outbox(demo::FABRIKAM_TENANT).is_empty());
}

#[tokio::test]
async fn send_mail_without_mail_send_is_refused_by_exchange() {
    let sim = start_demo().await;
    let app = operator_creates_app(&sim, "no-mail", true).await;
    let (_, _, body) = token_request(
        &sim,
        demo::CONTOSO_TENANT,
        &[
            ("client_id", app.app_id.as_str()),
            ("client_secret", app.secret.as_str()),
            ("grant_type", "client_credentials"),
            ("scope", "https://graph.microsoft.com/.default"),
        ],
    )
    .await;
    let (status, _, err) = graph(
        &sim,
        Method::POST,
        &format!("/users/{}/sendMail", demo::MAILBOX_ID),
        body["access_token"].as_str().unwrap(),
        Some(json!({"message": {"toRecipients": [{"emailAddress": {"address": "a@b.c"}}]}})),
        &[],
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(err["error"]["code"], "ErrorAccessDenied");
    assert!(sim.outbox(demo::CONTOSO_TENANT).is_empty());
}

#[tokio::test]
async fn a_throttle_fault_answers_429_with_retry_after_in_graphs_envelope() {
    let sim = start_demo().await;
    let token = operator_token(&sim, GRAPH).await;
    let id =
        sim.add_fault(Fault::throttle("graph.microsoft.com", "/v1.0/applications*", 7).times(1));
    let (status, headers, body) =
        graph(&sim, Method::GET, "/applications", &token, None, &[]).await;
    assert_eq!(status, 429);
    assert_eq!(headers["retry-after"], "7");
    assert_eq!(body["error"]["code"], "TooManyRequests");
    assert!(body["error"]["innerError"]["date"].is_string());
    let (status, _, _) = graph(&sim, Method::GET, "/applications", &token, None, &[]).await;
    assert_eq!(status, 200, "the fault fired once");
    let entry = sim.faults().into_iter().find(|f| f.id == id).unwrap();
    assert_eq!(entry.fired, 1);
    assert_eq!(
        sim.requests()
            .iter()
            .filter(|r| r.fault == Some(id))
            .count(),
        1
    );
}

#[tokio::test]
async fn filters_find_applications_and_service_principals_by_display_name() {
    let sim = start_demo().await;
    let token = operator_token(&sim, GRAPH).await;
    operator_creates_app(&sim, "filter-me", true).await;
    let (status, _, list) = graph(
        &sim,
        Method::GET,
        "/applications?$filter=startswith(displayName,'filter')",
        &token,
        None,
        &[],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(list["value"].as_array().unwrap().len(), 1);
    let (_, _, none) = graph(
        &sim,
        Method::GET,
        "/servicePrincipals?$filter=displayName%20eq%20'nothing'",
        &token,
        None,
        &[],
    )
    .await;
    assert_eq!(none["value"], json!([]));
    assert_eq!(
        none["@odata.context"],
        "https://graph.microsoft.com/v1.0/$metadata#servicePrincipals"
    );
}

#[tokio::test]
async fn a_graph_write_budget_throttles_with_retry_after_and_throttle_headers() {
    let mut scenario = demo_scenario();
    scenario.graph_throttling = Some(azure_sim::scenario::GraphThrottling {
        writes: 3,
        window_seconds: 10,
    });
    let sim = Sim::start(scenario).await.unwrap();
    let token = operator_token(&sim, GRAPH).await;
    let upsert = |n: u32| {
        let (sim, token) = (&sim, token.clone());
        async move {
            graph(
                sim,
                Method::PATCH,
                &format!("/applications(uniqueName='t-{n}')"),
                &token,
                Some(json!({"displayName": format!("t-{n}")})),
                &[("prefer", "create-if-missing")],
            )
            .await
        }
    };
    for n in 0..3 {
        assert_eq!(upsert(n).await.0, 201);
    }
    let (_, _, list) = graph(&sim, Method::GET, "/applications", &token, None, &[]).await;
    assert_eq!(
        list["value"].as_array().unwrap().len(),
        3,
        "reads are not part of the write budget"
    );
    let (status, headers, body) = upsert(3).await;
    assert_eq!(status, 429);
    assert_eq!(body["error"]["code"], "TooManyRequests");
    assert!(
        headers["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u32>()
            .unwrap()
            >= 1
    );
    assert_eq!(headers["x-ms-throttle-information"], "WriteLimitExceeded");
    assert_eq!(
        headers["x-ms-throttle-scope"].to_str().unwrap(),
        format!(
            "Tenant_Application/Write/{}/{}",
            demo::OPERATOR_CLIENT_ID,
            demo::CONTOSO_TENANT
        )
    );
    sim.advance_clock(Duration::from_secs(11));
    assert_eq!(upsert(3).await.0, 201, "the window has passed");
}

#[tokio::test]
async fn an_application_is_read_by_its_unique_name_as_get_mg_application_by_unique_name_does() {
    let sim = start_demo().await;
    let token = operator_token(&sim, GRAPH).await;
    let created = operator_creates_app(&sim, "share-by-name", false).await;
    let (status, _, app) = graph(
        &sim,
        Method::GET,
        "/applications(uniqueName='share-by-name')",
        &token,
        None,
        &[],
    )
    .await;
    assert_eq!(status, 200, "{app}");
    assert_eq!(app["id"], created.id.as_str());
    assert_eq!(app["appId"], created.app_id.as_str());
    assert_eq!(app["uniqueName"], "share-by-name");
    assert!(
        app["passwordCredentials"][0]["secretText"].is_null(),
        "reads never return secrets"
    );
    let (status, _, missing) = graph(
        &sim,
        Method::GET,
        "/applications(uniqueName='no-such-app')",
        &token,
        None,
        &[],
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(missing["error"]["code"], "Request_ResourceNotFound");
}
