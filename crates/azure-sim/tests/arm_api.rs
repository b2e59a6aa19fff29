//! Resource Manager's common behaviour: authentication answers, api-version rules, ids that
//! compare case-insensitively, role assignment semantics and lists, RBAC inheritance, the
//! AuthorizationFailed wording, paging, throttling, and the admin's role grants.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use azure_sim::{PrincipalRef, RoleGrant, Sim, scenario::demo};
use common::{
    Api, READER, arm_as_contoso_admin, arm_as_operator, assignment_body, demo_scenario, hv,
    images_rg, operator_token, role_assignment, start_demo, transport,
};
use serde_json::{Value, json};

/// `error.code` of an ARM error body.
fn code(body: &Value) -> Option<&str> {
    body["error"]["code"].as_str()
}

const CONTRIBUTOR: &str = "b24988ac-6180-42a0-ab88-20f7382dd24c";

#[tokio::test]
async fn calls_without_a_usable_token_get_arms_401_answers() {
    let sim = start_demo().await;
    let operator = arm_as_operator(&sim).await;
    let gallery = format!("{}?api-version=2024-03-03", demo::GALLERY_ID);
    let url = format!("{}{gallery}", common::ARM);
    let t = transport(&sim);
    let r = t
        .execute(t.client().get(&url).build().unwrap())
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        common::header(&r, "www-authenticate")
            .unwrap()
            .contains("missing 'Authorization' header")
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "AuthenticationFailed");

    let graph = operator_token(&sim, "https://graph.microsoft.com").await;
    let (status, _, body) = Api::arm(&sim, graph).get(&gallery).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "InvalidAuthenticationTokenAudience");

    let (status, _, body) = Api::arm(&sim, "not.a.token").get(&gallery).await;
    assert_eq!(
        (status, code(&body)),
        (401, Some("InvalidAuthenticationToken"))
    );

    let fabrikam_rg = format!("{}?api-version=2024-03-01", common::fabrikam_rg());
    let (status, headers, body) = operator.get(&fabrikam_rg).await;
    assert_eq!(status, 401, "a Contoso token in Fabrikam's subscription");
    assert_eq!(body["error"]["code"], "InvalidAuthenticationTokenTenant");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&format!(
                "https://sts.windows.net/{}/",
                demo::FABRIKAM_TENANT
            ))
    );
    assert!(hv(&headers, "www-authenticate").unwrap().contains(&format!(
        "https://login.windows.net/{}",
        demo::FABRIKAM_TENANT
    )));

    let (status, _, body) = operator.get("/subscriptions/99999999-9999-4999-8999-999999999999/resourceGroups/x?api-version=2024-03-01").await;
    assert_eq!((status, code(&body)), (404, Some("SubscriptionNotFound")));
}

#[tokio::test]
async fn api_version_is_required_well_formed_and_served_by_the_provider() {
    let sim = start_demo().await;
    let operator = arm_as_operator(&sim).await;
    let (status, _, body) = operator.get(demo::GALLERY_ID).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "MissingApiVersionParameter");
    assert_eq!(
        body["error"]["message"],
        "The api-version query parameter (?api-version=) is required for all requests."
    );
    for (version, refusal, listed) in [
        ("latest", "InvalidApiVersionParameter", None),
        (
            "2099-01-01",
            "NoRegisteredProviderFound",
            Some("2025-03-03"),
        ),
    ] {
        let url = format!("{}?api-version={version}", demo::GALLERY_ID);
        let (status, _, body) = operator.get(&url).await;
        assert_eq!((status, code(&body)), (400, Some(refusal)), "{version}");
        if let Some(supported) = listed {
            assert!(
                body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains(supported),
                "lists the supported versions"
            );
        }
    }
}

#[tokio::test]
async fn ids_match_case_insensitively_and_unknown_body_fields_are_tolerated() {
    let sim = start_demo().await;
    let operator = arm_as_operator(&sim).await;
    let shouting = demo::IMAGE_VERSION_ID
        .to_ascii_uppercase()
        .replace("/SUBSCRIPTIONS/", "/subscriptions/");
    let (status, _, body) = operator
        .get(&format!("{shouting}?api-version=2024-03-03"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["id"],
        demo::IMAGE_VERSION_ID,
        "the id keeps the casing it was created with"
    );

    let owner = arm_as_contoso_admin(&sim).await;
    let rg = format!(
        "/subscriptions/{}/resourcegroups/rg-new?api-version=2024-03-01",
        demo::CONTOSO_SUBSCRIPTION
    );
    let (status, _, body) = owner
        .put(
            &rg,
            json!({"location": "eastus", "managedBy": null, "aFieldFromTheFuture": {"x": 1}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, _, _) = owner.put(&rg, json!({"location": "eastus"})).await;
    assert_eq!(status, 200, "an existing resource group is updated");
    let (status, _, body) = owner.put(&rg, json!({"location": "westeurope"})).await;
    assert_eq!(
        (status, code(&body)),
        (409, Some("InvalidResourceGroupLocation"))
    );
    let (status, _, body) = owner
        .get(&format!(
            "/subscriptions/{}/resourceGroups/missing?api-version=2024-03-01",
            demo::CONTOSO_SUBSCRIPTION
        ))
        .await;
    assert_eq!((status, code(&body)), (404, Some("ResourceGroupNotFound")));
}

#[tokio::test]
async fn role_assignment_names_are_immutable_and_triples_unique() {
    let sim = start_demo().await;
    let operator = arm_as_operator(&sim).await;
    let name = uuid::Uuid::new_v4();
    let url = role_assignment(&images_rg(), name);
    let (status, _, created) = operator
        .put(
            &url,
            assignment_body(READER, demo::MAILBOX_ID, Some("User")),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let (status, _, body) = operator
        .put(
            &url,
            assignment_body(READER, demo::CONTOSO_ADMIN_ID, Some("User")),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (400, Some("RoleAssignmentUpdateNotPermitted"))
    );
    assert_eq!(
        body["error"]["message"],
        "Tenant ID, application ID, principal ID, and scope are not allowed to be updated."
    );
    let (status, _, body) = operator
        .put(
            &url,
            assignment_body(READER, demo::MAILBOX_ID, Some("User")),
        )
        .await;
    assert_eq!(status, 200, "the same assignment: {body}");

    // Under another name: refusals for the triple, the principal's type, the role and the principal.
    let other = role_assignment(&images_rg(), uuid::Uuid::new_v4());
    for (body, refusal, why) in [
        (
            assignment_body(READER, demo::MAILBOX_ID, None),
            (409, Some("RoleAssignmentExists")),
            "the same principal, role and scope",
        ),
        (
            assignment_body(READER, demo::CONTOSO_ADMIN_ID, Some("ServicePrincipal")),
            (400, Some("UnmatchedPrincipalType")),
            "a user said to be a service principal",
        ),
        (
            assignment_body(
                "11111111-2222-3333-4444-555555555555",
                demo::CONTOSO_ADMIN_ID,
                None,
            ),
            (400, Some("RoleDefinitionDoesNotExist")),
            "an unknown role",
        ),
        (
            assignment_body(READER, "99999999-9999-4999-8999-999999999999", None),
            (400, Some("PrincipalNotFound")),
            "an unknown principal without principalType",
        ),
    ] {
        let (status, _, body) = operator.put(&other, body).await;
        assert_eq!((status, code(&body)), refusal, "{why}");
    }

    let (status, _, read) = operator.get(&url).await;
    assert_eq!(status, 200);
    assert_eq!(
        read["properties"]["createdBy"],
        demo::OPERATOR_PRINCIPAL_ID,
        "filled in on reads"
    );
    let (status, _, deleted) = operator.delete(&url).await;
    assert_eq!(status, 200);
    assert_eq!(deleted["name"], name.to_string());
    let (status, _, body) = operator.delete(&url).await;
    assert_eq!((status, body), (204, Value::Null));
    let (status, _, body) = operator.get(&url).await;
    assert_eq!((status, code(&body)), (404, Some("RoleAssignmentNotFound")));
}

#[tokio::test]
async fn contributor_cannot_assign_roles_and_is_told_so_in_arms_words() {
    let mut scenario = demo_scenario();
    for a in &mut scenario.role_assignments {
        if a.role == "Role Based Access Control Administrator" {
            a.role = "Contributor".into();
        }
    }
    let sim = Sim::start(scenario).await.unwrap();
    let operator = arm_as_operator(&sim).await;
    let name = uuid::Uuid::new_v4();
    let (status, _, body) = operator
        .put(
            &role_assignment(&images_rg(), name),
            assignment_body(READER, demo::MAILBOX_ID, Some("User")),
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(body["error"]["code"], "AuthorizationFailed");
    assert_eq!(
        body["error"]["message"],
        format!(
            "The client '{}' with object id '{}' does not have authorization to perform action 'Microsoft.Authorization/roleAssignments/write' over scope '/subscriptions/{}/resourcegroups/{}/providers/Microsoft.Authorization/roleAssignments/{name}' or the scope is invalid. If access was recently granted, please refresh your credentials.",
            demo::OPERATOR_CLIENT_ID,
            demo::OPERATOR_PRINCIPAL_ID,
            demo::CONTOSO_SUBSCRIPTION,
            demo::IMAGES_RESOURCE_GROUP
        )
    );
    let (status, _, _) = operator
        .get(&format!(
            "{}?api-version=2024-03-03",
            demo::IMAGE_VERSION_ID
        ))
        .await;
    assert_eq!(status, 200, "Contributor still reads");
}

#[tokio::test]
async fn roles_are_inherited_downwards_and_lists_filter_and_page() {
    let mut scenario = demo_scenario();
    scenario.arm.page_size = 2;
    let sim = Sim::start(scenario).await.unwrap();
    let operator = arm_as_operator(&sim).await;
    // Reader on rg-images (from the demo) covers the gallery, the image and the version below it.
    for id in [
        demo::GALLERY_ID,
        demo::IMAGE_DEFINITION_ID,
        demo::IMAGE_VERSION_ID,
    ] {
        let (status, _, _) = operator.get(&format!("{id}?api-version=2024-03-03")).await;
        assert_eq!(status, 200, "{id}");
    }
    let (status, _, body) = operator
        .get(&format!(
            "/subscriptions/{}/resourceGroups/{}?api-version=2024-03-01",
            demo::CONTOSO_SUBSCRIPTION,
            demo::IMAGESHARE_RESOURCE_GROUP
        ))
        .await;
    assert_eq!(status, 403, "not in a sibling resource group: {body}");

    for principal in [demo::MAILBOX_ID, demo::CONTOSO_ADMIN_ID] {
        let url = role_assignment(demo::IMAGE_DEFINITION_ID, uuid::Uuid::new_v4());
        let (status, _, _) = operator
            .put(&url, assignment_body(READER, principal, Some("User")))
            .await;
        assert_eq!(status, 201);
    }
    let list = format!(
        "{}/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01",
        images_rg()
    );
    let mut seen = vec![];
    let mut next = Some(list.clone());
    let mut pages = 0;
    while let Some(url) = next {
        let (status, _, page) = operator.get(&url).await;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        seen.extend(
            page["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["properties"]["scope"].as_str().unwrap().to_owned()),
        );
        next = page["nextLink"].as_str().map(str::to_owned);
    }
    assert!(pages >= 2, "paged through nextLink");
    assert_eq!(
        seen.len(),
        5,
        "the Contoso admin's Owner above, the operator's two at the resource group, two below it: {seen:?}"
    );
    let (_, _, at) = operator.get(&format!("{list}&$filter=atScope()")).await;
    assert!(
        at["value"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["properties"]["scope"] == images_rg())
    );
    let (_, _, mine) = operator
        .get(&format!(
            "{list}&$filter=principalId%20eq%20'{}'",
            demo::MAILBOX_ID
        ))
        .await;
    assert_eq!(mine["value"].as_array().unwrap().len(), 1);
    assert_eq!(
        sim.state()
            .role_assignments
            .iter()
            .filter(|a| a.scope == demo::IMAGE_DEFINITION_ID)
            .count(),
        2
    );

    let (_, _, defs) = operator.get(&format!("{}/providers/Microsoft.Authorization/roleDefinitions?api-version=2022-04-01&$filter=roleName%20eq%20'Role%20Based%20Access%20Control%20Administrator'", images_rg())).await;
    assert_eq!(
        defs["value"][0]["name"],
        "f58310d9-a9f6-439a-9e8d-f62e7b41a168"
    );
    assert_eq!(
        defs["value"][0]["properties"]["permissions"][0]["actions"][0],
        "Microsoft.Authorization/roleAssignments/write"
    );
}

#[tokio::test]
async fn a_principal_over_its_read_budget_is_throttled_with_retry_after() {
    let mut scenario = demo_scenario();
    scenario.arm.throttling.reads = 3;
    scenario.arm.throttling.window_seconds = 60;
    let sim = Sim::start(scenario).await.unwrap();
    let operator = arm_as_operator(&sim).await;
    let url = format!("{}?api-version=2024-03-03", demo::GALLERY_ID);
    let mut remaining = vec![];
    for _ in 0..3 {
        let (status, headers, _) = operator.get(&url).await;
        assert_eq!(status, 200);
        remaining.push(hv(&headers, "x-ms-ratelimit-remaining-subscription-reads").unwrap());
    }
    assert_eq!(remaining, ["2", "1", "0"]);
    let (status, headers, body) = operator.get(&url).await;
    assert_eq!(status, 429);
    assert_eq!(body["error"]["code"], "SubscriptionRequestsThrottled");
    let wait: u64 = hv(&headers, "retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait));
    let owner = arm_as_contoso_admin(&sim).await;
    let (status, _, _) = owner.get(&url).await;
    assert_eq!(status, 200, "budgets are per principal");
    let (status, headers, _) = operator
        .put(
            &role_assignment(&images_rg(), uuid::Uuid::new_v4()),
            assignment_body(READER, demo::MAILBOX_ID, Some("User")),
        )
        .await;
    assert_eq!(status, 201, "writes have their own budget");
    assert_eq!(
        hv(&headers, "x-ms-ratelimit-remaining-subscription-writes").as_deref(),
        Some("1199")
    );
    sim.advance_clock(std::time::Duration::from_secs(61));
    let (status, _, _) = operator.get(&url).await;
    assert_eq!(status, 200, "the window has passed");
}

#[tokio::test]
async fn an_admin_grants_roles_through_the_admin_api_as_its_own_roles_allow() {
    let sim = start_demo().await;
    let app = common::operator_creates_app(&sim, "granted", true).await;
    sim.consent(demo::FABRIKAM_TENANT, &app.app_id, demo::FABRIKAM_ADMIN_UPN)
        .unwrap();
    let rg = common::fabrikam_rg();
    let client = reqwest::Client::new();
    let post = |body: Value| {
        client
            .post(format!("{}/_sim/role-assignments", sim.url()))
            .json(&body)
            .send()
    };
    let r = post(json!({"tenant": demo::FABRIKAM_DOMAIN, "admin": demo::FABRIKAM_ADMIN_UPN, "scope": rg, "role": "Contributor", "principal": {"appId": app.app_id}})).await.unwrap();
    assert_eq!(r.status(), 201);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["properties"]["principalType"], "ServicePrincipal");
    assert!(
        body["properties"]["roleDefinitionId"]
            .as_str()
            .unwrap()
            .ends_with(CONTRIBUTOR)
    );
    let r = post(json!({"tenant": demo::FABRIKAM_TENANT, "admin": demo::FABRIKAM_ADMIN_UPN, "scope": demo::GALLERY_ID, "role": "Reader", "principal": demo::FABRIKAM_ADMIN_ID})).await.unwrap();
    assert_eq!(r.status(), 400, "Contoso's gallery is not in Fabrikam");
    // The Contoso mailbox user holds no role: it cannot grant any.
    let r = post(json!({"tenant": demo::CONTOSO_TENANT, "admin": demo::MAILBOX_UPN, "scope": images_rg(), "role": "Reader", "principal": demo::CONTOSO_ADMIN_ID})).await.unwrap();
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "AuthorizationFailed");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains(demo::MAILBOX_UPN)
    );

    let err = sim
        .assign_role(&RoleGrant {
            tenant: demo::FABRIKAM_TENANT.into(),
            admin: demo::FABRIKAM_ADMIN_UPN.into(),
            scope: rg.clone(),
            role: "Contributor".into(),
            principal: PrincipalRef::App {
                app_id: app.app_id.clone(),
            },
            principal_type: None,
        })
        .unwrap_err();
    assert!(err.to_string().contains("RoleAssignmentExists"), "{err}");
    let state: Value = client
        .get(format!("{}/_sim/state", sim.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        state["roleAssignments"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["scope"] == rg.as_str() && a["roleName"] == "Contributor")
    );
    assert!(
        state["resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["type"] == "Microsoft.Compute/galleries/images/versions")
    );
}
