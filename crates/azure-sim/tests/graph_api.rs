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
use serde_json::json;

/// A federated identity credential named `name` for `subject`, from a fixed issuer.
fn fic(name: &str, subject: &str) -> serde_json::Value {
    json!({"name": name, "issuer": "https://login.microsoftonline.com/t/v2.0",
        "subject": subject, "audiences": ["api://AzureADTokenExchange"]})
}

#[tokio::test]
async fn an_application_upsert_answers_201_with_the_body_then_204() {
    let sim = start_demo().await;
    let operator = graph_as_operator(&sim).await;
    let body = json!({"displayName": "share-t2", "signInAudience": "AzureADMultipleOrgs"});
    let (status, headers, app) = operator
        .upsert("/applications(uniqueName='share-t2')", body.clone())
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

    let (status, _, empty) = operator
        .upsert(
            "/applications(uniqueName='share-t2')",
            json!({"displayName": "share-t2 renamed"}),
        )
        .await;
    assert_eq!(status, 204);
    assert!(empty.is_null());
    let (status, _, read) = operator
        .get(&format!(
            "/applications(appId='{}')",
            app["appId"].as_str().unwrap()
        ))
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
    let operator = graph_as_operator(&sim).await;
    let (status, _, body) = operator
        .patch(
            "/applications(uniqueName='missing')",
            json!({"displayName": "missing"}),
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "Request_ResourceNotFound");
    assert!(body["error"]["innerError"]["request-id"].is_string());
}

#[tokio::test]
async fn a_service_principal_upsert_answers_201_then_204() {
    let sim = start_demo().await;
    let operator = graph_as_operator(&sim).await;
    let app = operator_creates_app(&sim, "sp-upsert", false).await;
    let path = format!("/servicePrincipals(appId='{}')", app.app_id);
    let (status, headers, sp) = operator.upsert(&path, json!({})).await;
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
    let (status, _, _) = operator.upsert(&path, json!({})).await;
    assert_eq!(status, 204);
    let (status, _, read) = operator.get(&path).await;
    assert_eq!(status, 200);
    assert_eq!(read["id"], sp["id"]);
}

#[tokio::test]
async fn add_password_answers_200_with_the_secret_once_and_reads_hide_it() {
    let sim = start_demo().await;
    let operator = graph_as_operator(&sim).await;
    let app = operator_creates_app(&sim, "pw-app", false).await;
    let (status, headers, pw) = operator.post(&format!("/applications/{}/addPassword", app.id),
        json!({"passwordCredential": {"displayName": "rbac", "startDateTime": "2026-01-01T00:00:00Z", "endDateTime": "2027-01-01T00:00:00Z"}})).await;
    assert_eq!(status, 200);
    assert_eq!(headers["location"], "https://graph.microsoft.com");
    let secret = pw["secretText"].as_str().unwrap();
    assert_eq!(secret.len(), 40);
    assert_eq!(pw["hint"].as_str().unwrap(), &secret[..3]);
    assert_eq!(pw["startDateTime"], "2026-01-01T00:00:00Z");
    assert!(pw["customKeyIdentifier"].is_null());
    assert!(sim.known_secrets().iter().any(|k| k.value == secret));

    let app_path = format!("/applications/{}", app.id);
    let (_, _, read) = operator.get(&app_path).await;
    let creds = read["passwordCredentials"].as_array().unwrap();
    assert_eq!(creds.len(), 2);
    assert!(
        creds
            .iter()
            .all(|c| c["secretText"].is_null() && c["hint"].is_string())
    );

    let (status, _, _) = operator
        .post(
            &format!("{app_path}/removePassword"),
            json!({"keyId": pw["keyId"]}),
        )
        .await;
    assert_eq!(status, 204);
    let (_, _, read) = operator.get(&app_path).await;
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
    let operator = graph_as_operator(&sim).await;
    let (status, _, _) = operator.get("/applications(uniqueName='foreign')").await;
    assert_eq!(status, 200);
    let (status, headers, body) = operator
        .upsert(
            "/applications(uniqueName='foreign')",
            json!({"displayName": "mine now"}),
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(body["error"]["code"], "Authorization_RequestDenied");
    assert_eq!(
        body["error"]["message"],
        "Insufficient privileges to complete the operation."
    );
    assert_eq!(headers["content-type"], "application/json");
    let (status, _, _) = operator
        .post(
            "/applications/7a7a7a7a-7777-4777-8777-777777777777/addPassword",
            json!({}),
        )
        .await;
    assert_eq!(status, 403);
}

/// The Graph caller of a fresh app of the operator's that holds no Graph permission.
async fn app_without_graph_permissions<'a>(sim: &'a Sim, unique_name: &str) -> Api<'a> {
    let app = operator_creates_app(sim, unique_name, true).await;
    let (_, _, body) = secret_grant(
        sim,
        demo::CONTOSO_TENANT,
        &app.app_id,
        &app.secret,
        "https://graph.microsoft.com/.default",
    )
    .await;
    Api::graph(sim, body["access_token"].as_str().unwrap())
}

#[tokio::test]
async fn a_token_without_graph_permissions_is_denied() {
    let sim = start_demo().await;
    let app = app_without_graph_permissions(&sim, "no-roles").await;
    let (status, _, err) = app.post("/applications", json!({"displayName": "x"})).await;
    assert_eq!(status, 403);
    assert_eq!(err["error"]["code"], "Authorization_RequestDenied");
}

#[tokio::test]
async fn graph_refuses_missing_foreign_and_expired_tokens_with_invalid_authentication_token() {
    let sim = start_demo().await;
    let (status, _, body) = Api::graph(&sim, "").get("/applications").await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
    let vault_token = operator_token(&sim, "https://vault.azure.net").await;
    let (status, _, body) = Api::graph(&sim, vault_token).get("/applications").await;
    assert_eq!(status, 401);
    assert_eq!(
        body["error"]["message"],
        "Access token validation failure. Invalid audience."
    );
    let operator = graph_as_operator(&sim).await;
    sim.advance_clock(Duration::from_secs(3600));
    let (status, _, body) = operator.get("/applications").await;
    assert_eq!(status, 401);
    assert_eq!(
        body["error"]["message"],
        "Lifetime validation failed, the token is expired."
    );
}

#[tokio::test]
async fn federated_credentials_are_listed_unique_by_name_and_capped_at_twenty() {
    let sim = start_demo().await;
    let operator = graph_as_operator(&sim).await;
    let app = operator_creates_app(&sim, "fic-cap", false).await;
    let path = format!("/applications/{}/federatedIdentityCredentials", app.id);
    for i in 0..20 {
        let (status, _, _) = operator
            .post(&path, fic(&format!("fic-{i}"), &format!("s-{i}")))
            .await;
        assert_eq!(status, 201);
    }
    let (status, _, _) = operator.post(&path, fic("fic-0", "other")).await;
    assert_eq!(status, 409, "names are unique");
    let (status, _, body) = operator.post(&path, fic("fic-20", "s-20")).await;
    assert_eq!(status, 400, "{body}");
    let (status, _, list) = operator.get(&path).await;
    assert_eq!(status, 200);
    assert_eq!(list["value"].as_array().unwrap().len(), 20);
    let (status, _, _) = operator.delete(&format!("{path}/fic-3")).await;
    assert_eq!(status, 204);
    let (status, _, _) = operator.get(&format!("{path}/fic-3")).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn send_mail_answers_202_and_the_mail_lands_in_the_tenant_outbox() {
    let sim = start_demo().await;
    let operator = graph_as_operator(&sim).await;
    let (status, _, body) = operator.post(&format!("/users/{}/sendMail", demo::MAILBOX_UPN), json!({
        "message": {"subject": "Approve gallery access", "body": {"contentType": "HTML", "content": "<a href=\"x\">Consent</a>"},
                    "toRecipients": [{"emailAddress": {"address": "admin@fabrikam.onmicrosoft.com"}}]},
        "saveToSentItems": false})).await;
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
    let app = app_without_graph_permissions(&sim, "no-mail").await;
    let (status, _, err) = app
        .post(
            &format!("/users/{}/sendMail", demo::MAILBOX_ID),
            json!({"message": {"toRecipients": [{"emailAddress": {"address": "a@b.c"}}]}}),
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(err["error"]["code"], "ErrorAccessDenied");
    assert!(sim.outbox(demo::CONTOSO_TENANT).is_empty());
}

#[tokio::test]
async fn a_throttle_fault_answers_429_with_retry_after_in_graphs_envelope() {
    let sim = start_demo().await;
    let operator = graph_as_operator(&sim).await;
    let id =
        sim.add_fault(Fault::throttle("graph.microsoft.com", "/v1.0/applications*", 7).times(1));
    let (status, headers, body) = operator.get("/applications").await;
    assert_eq!(status, 429);
    assert_eq!(headers["retry-after"], "7");
    assert_eq!(body["error"]["code"], "TooManyRequests");
    assert!(body["error"]["innerError"]["date"].is_string());
    let (status, _, _) = operator.get("/applications").await;
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
    let operator = graph_as_operator(&sim).await;
    operator_creates_app(&sim, "filter-me", true).await;
    let (status, _, list) = operator
        .get("/applications?$filter=startswith(displayName,'filter')")
        .await;
    assert_eq!(status, 200);
    assert_eq!(list["value"].as_array().unwrap().len(), 1);
    let (_, _, none) = operator
        .get("/servicePrincipals?$filter=displayName%20eq%20'nothing'")
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
    let operator = graph_as_operator(&sim).await;
    let upsert = |n: u32| {
        let operator = operator.clone();
        async move {
            operator
                .upsert(
                    &format!("/applications(uniqueName='t-{n}')"),
                    json!({"displayName": format!("t-{n}")}),
                )
                .await
        }
    };
    for n in 0..3 {
        assert_eq!(upsert(n).await.0, 201);
    }
    let (_, _, list) = operator.get("/applications").await;
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
    let operator = graph_as_operator(&sim).await;
    let created = operator_creates_app(&sim, "share-by-name", false).await;
    let (status, _, app) = operator
        .get("/applications(uniqueName='share-by-name')")
        .await;
    assert_eq!(status, 200, "{app}");
    assert_eq!(app["id"], created.id.as_str());
    assert_eq!(app["appId"], created.app_id.as_str());
    assert_eq!(app["uniqueName"], "share-by-name");
    assert!(
        app["passwordCredentials"][0]["secretText"].is_null(),
        "reads never return secrets"
    );
    let (status, _, missing) = operator
        .get("/applications(uniqueName='no-such-app')")
        .await;
    assert_eq!(status, 404);
    assert_eq!(missing["error"]["code"], "Request_ResourceNotFound");
}

/// Graph's ids on one answer: `request-id` (a GUID, returned), `client-request-id` (the
/// caller's when it sent one, else the request-id) and the JSON `x-ms-ags-diagnostic`.
fn graph_ids(what: &str, headers: &reqwest::header::HeaderMap, sent: Option<&str>) -> String {
    let request_id = hv(headers, "request-id").unwrap_or_else(|| panic!("{what}: no request-id"));
    assert!(
        uuid::Uuid::parse_str(&request_id).is_ok(),
        "{what}: request-id {request_id}"
    );
    assert_eq!(
        hv(headers, "client-request-id").as_deref(),
        Some(sent.unwrap_or(&request_id)),
        "{what}: client-request-id"
    );
    let diagnostic = hv(headers, "x-ms-ags-diagnostic")
        .unwrap_or_else(|| panic!("{what}: no x-ms-ags-diagnostic"));
    let diagnostic: serde_json::Value = serde_json::from_str(&diagnostic).unwrap();
    assert!(
        diagnostic["ServerInfo"]["DataCenter"].is_string(),
        "{what}: {diagnostic}"
    );
    request_id
}

#[tokio::test]
async fn every_graph_answer_carries_request_id_client_request_id_and_the_diagnostic_header() {
    let sim = start_demo().await;
    let operator = graph_as_operator(&sim).await;
    let mine = "6d1f3a52-0c2b-4f0e-9a47-3c5b2d9e8f10";
    let with_id = [("client-request-id", mine)];
    let mut seen = vec![];

    let (status, h, app) = operator
        .send(
            reqwest::Method::POST,
            "/applications",
            Some(json!({"displayName": "ids", "signInAudience": "AzureADMultipleOrgs"})),
            &with_id,
        )
        .await;
    assert_eq!(status, 201, "{app}");
    seen.push(graph_ids("POST /applications", &h, Some(mine)));
    let app_path = format!("/applications/{}", app["id"].as_str().unwrap());

    let (status, h, _) = operator.get(&app_path).await;
    assert_eq!(status, 200);
    seen.push(graph_ids("GET application", &h, None));

    let (status, h, _) = operator
        .post(
            &format!("{app_path}/addPassword"),
            json!({"passwordCredential": {"displayName": "ids"}}),
        )
        .await;
    assert_eq!(status, 200);
    seen.push(graph_ids("addPassword", &h, None));

    let fics = format!("{app_path}/federatedIdentityCredentials");
    let (status, h, _) = operator.post(&fics, fic("ids", "s")).await;
    assert_eq!(status, 201);
    seen.push(graph_ids("POST federatedIdentityCredentials", &h, None));
    let (status, h, _) = operator
        .send(
            reqwest::Method::DELETE,
            &format!("{fics}/ids"),
            None,
            &with_id,
        )
        .await;
    assert_eq!(status, 204);
    seen.push(graph_ids(
        "DELETE federatedIdentityCredential",
        &h,
        Some(mine),
    ));

    let (status, h, _) = operator
        .patch(&app_path, json!({"displayName": "ids renamed"}))
        .await;
    assert_eq!(status, 204);
    seen.push(graph_ids("PATCH application", &h, None));

    let (status, h, sp) = operator
        .post("/servicePrincipals", json!({"appId": app["appId"]}))
        .await;
    assert_eq!(status, 201, "{sp}");
    seen.push(graph_ids("POST /servicePrincipals", &h, None));
    let (status, h, _) = operator
        .delete(&format!(
            "/servicePrincipals/{}",
            sp["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, 204);
    seen.push(graph_ids("DELETE servicePrincipal", &h, None));

    let (status, h, _) = operator.post(&format!("/users/{}/sendMail", demo::MAILBOX_UPN), json!({
        "message": {"subject": "s", "body": {"contentType": "Text", "content": "c"},
                    "toRecipients": [{"emailAddress": {"address": "admin@fabrikam.onmicrosoft.com"}}]}})).await;
    assert_eq!(status, 202);
    seen.push(graph_ids("sendMail", &h, None));

    let (status, h, _) = operator
        .send(reqwest::Method::DELETE, &app_path, None, &with_id)
        .await;
    assert_eq!(status, 204);
    seen.push(graph_ids("DELETE application", &h, Some(mine)));

    // Errors name the same ids in the header and in innerError.
    let (status, h, err) = operator
        .send(reqwest::Method::GET, &app_path, None, &with_id)
        .await;
    assert_eq!(status, 404, "{err}");
    let id = graph_ids("404", &h, Some(mine));
    assert_eq!(err["error"]["innerError"]["request-id"], id.as_str());
    assert_eq!(err["error"]["innerError"]["client-request-id"], mine);
    seen.push(id);

    // So do the answers of injected faults, which never reach Graph's handlers.
    sim.add_fault(Fault::throttle("graph.microsoft.com", "/v1.0/applications*", 2).times(2));
    let (status, h, err) = operator
        .send(reqwest::Method::DELETE, &app_path, None, &with_id)
        .await;
    assert_eq!(status, 429, "{err}");
    let id = graph_ids("injected 429", &h, Some(mine));
    assert_eq!(err["error"]["innerError"]["request-id"], id.as_str());
    assert_eq!(err["error"]["innerError"]["client-request-id"], mine);
    seen.push(id);
    let (status, h, err) = operator.get("/applications").await;
    assert_eq!(status, 429);
    let id = graph_ids("injected 429 without a client id", &h, None);
    assert_eq!(err["error"]["innerError"]["client-request-id"], id.as_str());
    seen.push(id);

    let distinct: std::collections::HashSet<_> = seen.iter().collect();
    assert_eq!(
        distinct.len(),
        seen.len(),
        "each answer has its own request-id"
    );
}
