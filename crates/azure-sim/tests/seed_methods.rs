//! The two ways the seed post (Insight Technology's "sharing a VM image with another tenant",
//! part 2) shares a gallery image, played with plain HTTP against the simulator:
//! method 1, an app registration consented in the consumer tenant, with `az vm create`'s
//! auxiliary token; method 2, Azure Lighthouse onboarding with the post's template and
//! parameters.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use azure_sim::{Replication, Scenario, Sim, scenario::demo};
use common::{ARM, app_token, arm, form, graph, header, hv, transport, user_arm_token};
use reqwest::Method;
use serde_json::{Value, json};

const MGMT: &str = "https://management.azure.com/.default";

async fn user_graph_token(sim: &Sim, tenant: &str, upn: &str, password: &str) -> String {
    let (status, _, body) = common::token_request(
        sim,
        tenant,
        &[
            ("client_id", common::AZURE_CLI),
            ("grant_type", "password"),
            ("username", upn),
            ("password", password),
            (
                "scope",
                "https://graph.microsoft.com/.default offline_access openid profile",
            ),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

/// `az role assignment create --assignee {appId} --role {role} --scope {scope}` as the
/// signed-in admin: resolve the service principal through Graph, then PUT the assignment.
async fn az_role_assignment_create(
    sim: &Sim,
    tenant: &str,
    upn: &str,
    app_id: &str,
    role: &str,
    scope: &str,
) -> Value {
    // Both demo admins have the same (demo-only) password.
    let password = if upn == demo::CONTOSO_ADMIN_UPN {
        demo::CONTOSO_ADMIN_PASSWORD
    } else {
        demo::FABRIKAM_ADMIN_PASSWORD
    };
    let graph_token = user_graph_token(sim, tenant, upn, password).await;
    let (status, _, sp) = graph(
        sim,
        Method::GET,
        &format!("/servicePrincipals(appId='{app_id}')"),
        &graph_token,
        None,
        &[],
    )
    .await;
    assert_eq!(status, 200, "{sp}");
    let arm_token = user_arm_token(sim, tenant, upn, password).await;
    let sub = scope.split('/').nth(2).unwrap();
    let (status, _, defs) = arm(sim, Method::GET, &format!("{scope}/providers/Microsoft.Authorization/roleDefinitions?$filter=roleName%20eq%20%27{role}%27&api-version=2022-04-01"), &arm_token, None, &[]).await;
    assert_eq!(status, 200, "{defs}");
    let role_id = defs["value"][0]["id"].as_str().unwrap().to_owned();
    assert!(role_id.starts_with(&format!(
        "/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/"
    )));
    let (status, _, body) = arm(
        sim,
        Method::PUT,
        &format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{}?api-version=2022-04-01", uuid::Uuid::new_v4()),
        &arm_token,
        Some(json!({"properties": {"roleDefinitionId": role_id, "principalId": sp["id"], "principalType": "ServicePrincipal"}})),
        &[],
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body
}

/// The admin opens the post's authorize URL, signs in and accepts.
async fn consent_through_the_authorize_url(sim: &Sim, app_id: &str) {
    let url = format!(
        "https://login.microsoftonline.com/{}/oauth2/authorize?client_id={app_id}&response_type=code&redirect_uri=https%3A%2F%2Fwww.microsoft.com%2F",
        demo::FABRIKAM_TENANT
    );
    let t = transport(sim);
    let page = t
        .execute(t.client().get(&url).build().unwrap())
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let (action, mut fields) = form(&page.text().await.unwrap(), "signin");
    fields.push(("login".into(), demo::FABRIKAM_ADMIN_UPN.into()));
    fields.push(("passwd".into(), demo::FABRIKAM_ADMIN_PASSWORD.into()));
    let target = url::Url::parse(&url).unwrap().join(&action).unwrap();
    let consent = t
        .execute(
            t.client()
                .post(target.clone())
                .form(&fields)
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(consent.status(), 200);
    let (action, fields) = form(&consent.text().await.unwrap(), "accept");
    let target = target.join(&action).unwrap();
    let done = t
        .execute(t.client().post(target).form(&fields).build().unwrap())
        .await
        .unwrap();
    assert_eq!(done.status(), 302);
    assert!(
        header(&done, "location")
            .unwrap()
            .starts_with("https://www.microsoft.com/?code=")
    );
}

fn network_and_vm(rg: &str) -> (Vec<(String, Value)>, String) {
    let net = format!("{rg}/providers/Microsoft.Network");
    let subnet = format!("{net}/virtualNetworks/myVMVNET/subnets/myVMSubnet");
    let nic = format!("{net}/networkInterfaces/myVMVMNic");
    let puts = vec![
        (
            format!("{net}/networkSecurityGroups/myVMNSG"),
            json!({"location": "eastus", "properties": {"securityRules": [{"name": "default-allow-ssh", "properties": {"protocol": "Tcp", "sourcePortRange": "*", "destinationPortRange": "22", "sourceAddressPrefix": "*", "destinationAddressPrefix": "*", "access": "Allow", "priority": 1000, "direction": "Inbound"}}]}}),
        ),
        (
            format!("{net}/publicIPAddresses/myVMPublicIP"),
            json!({"location": "eastus", "sku": {"name": "Standard"}, "properties": {"publicIPAllocationMethod": "Static"}}),
        ),
        (
            format!("{net}/virtualNetworks/myVMVNET"),
            json!({"location": "eastus", "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}, "subnets": [{"name": "myVMSubnet", "properties": {"addressPrefix": "10.0.0.0/24"}}]}}),
        ),
        (
            nic.clone(),
            json!({"location": "eastus", "properties": {
            "ipConfigurations": [{"name": "ipconfigmyVM", "properties": {"subnet": {"id": subnet}, "publicIPAddress": {"id": format!("{net}/publicIPAddresses/myVMPublicIP")}}}],
            "networkSecurityGroup": {"id": format!("{net}/networkSecurityGroups/myVMNSG")}}}),
        ),
    ];
    (puts, nic)
}

fn vm_body(nic: &str) -> Value {
    json!({"location": "eastus", "properties": {
        "hardwareProfile": {"vmSize": "Standard_B2s"},
        "storageProfile": {"imageReference": {"id": demo::IMAGE_VERSION_ID}, "osDisk": {"createOption": "FromImage", "caching": "ReadWrite", "managedDisk": {"storageAccountType": "Premium_LRS"}}},
        "osProfile": {"computerName": "myVM", "adminUsername": "azureuser", "linuxConfiguration": {"disablePasswordAuthentication": true, "ssh": {"publicKeys": [{"path": "/home/azureuser/.ssh/authorized_keys", "keyData": "ssh-rsa AAAAB3Nza generated"}]}}},
        "networkProfile": {"networkInterfaces": [{"id": nic}]}}})
}

#[tokio::test]
async fn method_1_app_registration_consent_and_auxiliary_token_creates_the_vm() {
    let sim = Sim::start(Scenario::demo().with_replication(Replication::none()))
        .await
        .unwrap();

    // Tenant 1: register the app (multi-tenant, redirect URI https://www.microsoft.com as the
    // Azure docs' walkthrough has it) and a secret, as the Contoso admin; Reader on the gallery.
    let admin_graph = user_graph_token(
        &sim,
        demo::CONTOSO_TENANT,
        demo::CONTOSO_ADMIN_UPN,
        demo::CONTOSO_ADMIN_PASSWORD,
    )
    .await;
    let (status, _, app) = graph(
        &sim,
        Method::POST,
        "/applications",
        &admin_graph,
        Some(json!({"displayName": "image-share", "signInAudience": "AzureADMultipleOrgs", "web": {"redirectUris": ["https://www.microsoft.com/"]}})),
        &[],
    )
    .await;
    assert_eq!(status, 201, "{app}");
    let app_id = app["appId"].as_str().unwrap().to_owned();
    let (status, _, secret) = graph(
        &sim,
        Method::POST,
        &format!("/applications/{}/addPassword", app["id"].as_str().unwrap()),
        &admin_graph,
        Some(json!({"passwordCredential": {"displayName": "share"}})),
        &[],
    )
    .await;
    assert_eq!(status, 200, "{secret}");
    let secret = secret["secretText"].as_str().unwrap().to_owned();
    let (status, _, _) = graph(
        &sim,
        Method::POST,
        "/servicePrincipals",
        &admin_graph,
        Some(json!({"appId": app_id})),
        &[],
    )
    .await;
    assert_eq!(status, 201);
    let reader = az_role_assignment_create(
        &sim,
        demo::CONTOSO_TENANT,
        demo::CONTOSO_ADMIN_UPN,
        &app_id,
        "Reader",
        demo::GALLERY_ID,
    )
    .await;
    assert_eq!(reader["properties"]["scope"], demo::GALLERY_ID);

    // Tenant 2: consent through the post's URL, then Contributor on the resource group.
    consent_through_the_authorize_url(&sim, &app_id).await;
    let rg = format!(
        "/subscriptions/{}/resourceGroups/{}",
        demo::FABRIKAM_SUBSCRIPTION,
        demo::FABRIKAM_RESOURCE_GROUP
    );
    az_role_assignment_create(
        &sim,
        demo::FABRIKAM_TENANT,
        demo::FABRIKAM_ADMIN_UPN,
        &app_id,
        "Contributor",
        &rg,
    )
    .await;

    // `az login --service-principal` into both tenants, `az account get-access-token` in each.
    let t1 = app_token(&sim, demo::CONTOSO_TENANT, &app_id, &secret, MGMT).await;
    let t2 = app_token(&sim, demo::FABRIKAM_TENANT, &app_id, &secret, MGMT).await;

    // `az vm create --image {image version id}`: the network, then the VM with the auxiliary token.
    let (puts, nic) = network_and_vm(&rg);
    for (id, body) in puts {
        let (status, _, answer) = arm(
            &sim,
            Method::PUT,
            &format!("{id}?api-version=2024-05-01"),
            &t2,
            Some(body),
            &[],
        )
        .await;
        assert_eq!(status, 201, "{id}: {answer}");
    }
    let vm =
        format!("{rg}/providers/Microsoft.Compute/virtualMachines/myVM?api-version=2024-07-01");
    let (status, _, body) = arm(&sim, Method::PUT, &vm, &t2, Some(vm_body(&nic)), &[]).await;
    assert_eq!(status, 403, "without the auxiliary token: {body}");
    assert_eq!(body["error"]["code"], "LinkedAuthorizationFailed");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("'Microsoft.Compute/galleries/images/versions/read'"),
        "{message}"
    );
    assert!(
        message.contains(&format!(
            "however the current tenant '{}' is not authorized to access linked subscription '{}'",
            demo::FABRIKAM_TENANT,
            demo::CONTOSO_SUBSCRIPTION
        )),
        "{message}"
    );
    assert!(
        sim.state()
            .resources_of_type("Microsoft.Compute/virtualMachines")
            .is_empty()
    );

    // azure-cli's older credential path joins auxiliary tokens with ';'.
    let aux = format!("Bearer {t1};");
    let (status, headers, body) = arm(
        &sim,
        Method::PUT,
        &vm,
        &t2,
        Some(vm_body(&nic)),
        &[("x-ms-authorization-auxiliary", &aux)],
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let poll = hv(&headers, "azure-asyncoperation").unwrap();
    let mut status_now = String::new();
    for _ in 0..10 {
        let (_, _, s) = arm(&sim, Method::GET, &poll, &t2, None, &[]).await;
        status_now = s["status"].as_str().unwrap().to_owned();
        if status_now != "InProgress" {
            break;
        }
    }
    assert_eq!(status_now, "Succeeded");
    let (_, _, vm_now) = arm(&sim, Method::GET, &vm, &t2, None, &[]).await;
    assert_eq!(vm_now["properties"]["provisioningState"], "Succeeded");
    assert_eq!(
        vm_now["properties"]["storageProfile"]["imageReference"]["id"],
        demo::IMAGE_VERSION_ID
    );
}

#[tokio::test]
async fn method_1_refuses_an_auxiliary_principal_without_read_on_the_image() {
    let sim = Sim::start(Scenario::demo().with_replication(Replication::none()))
        .await
        .unwrap();
    let app = common::operator_creates_app(&sim, "no-reader", true).await;
    sim.consent(demo::FABRIKAM_TENANT, &app.app_id, demo::FABRIKAM_ADMIN_UPN)
        .unwrap();
    let rg = format!(
        "/subscriptions/{}/resourceGroups/{}",
        demo::FABRIKAM_SUBSCRIPTION,
        demo::FABRIKAM_RESOURCE_GROUP
    );
    az_role_assignment_create(
        &sim,
        demo::FABRIKAM_TENANT,
        demo::FABRIKAM_ADMIN_UPN,
        &app.app_id,
        "Contributor",
        &rg,
    )
    .await;
    let t1 = app_token(&sim, demo::CONTOSO_TENANT, &app.app_id, &app.secret, MGMT).await;
    let t2 = app_token(&sim, demo::FABRIKAM_TENANT, &app.app_id, &app.secret, MGMT).await;
    let (puts, nic) = network_and_vm(&rg);
    for (id, body) in puts {
        let (status, _, _) = arm(
            &sim,
            Method::PUT,
            &format!("{id}?api-version=2024-05-01"),
            &t2,
            Some(body),
            &[],
        )
        .await;
        assert_eq!(status, 201);
    }
    let vm =
        format!("{rg}/providers/Microsoft.Compute/virtualMachines/myVM?api-version=2024-07-01");
    let aux = format!("Bearer {t1}");
    let (status, _, body) = arm(
        &sim,
        Method::PUT,
        &vm,
        &t2,
        Some(vm_body(&nic)),
        &[("x-ms-authorization-auxiliary", &aux)],
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "LinkedAuthorizationFailed");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("The client '{}' with object id", app.app_id)),
        "{message}"
    );
    assert!(message.contains("does not have permission to perform action 'Microsoft.Compute/galleries/images/versions/read' on the linked scope(s)"), "{message}");

    sim.advance_clock(Duration::from_secs(3600));
    let (status, _, body) = arm(&sim, Method::PUT, &vm, &t2, Some(vm_body(&nic)), &[]).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("ExpiredAuthenticationToken")),
        "an hour later the primary token has expired"
    );
    let fresh = app_token(&sim, demo::FABRIKAM_TENANT, &app.app_id, &app.secret, MGMT).await;
    let (status, _, body) = arm(
        &sim,
        Method::PUT,
        &vm,
        &fresh,
        Some(vm_body(&nic)),
        &[("x-ms-authorization-auxiliary", &aux)],
    )
    .await;
    assert_eq!(status, 401, "an expired auxiliary token is refused: {body}");
    assert_eq!(body["error"]["code"], "ExpiredAuthenticationToken");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&app.app_id)
    );
}

/// The post's parameter file, with the demo's tenants: Fabrikam manages Contoso's rg-images.
fn post_parameters(principal: &str) -> Value {
    json!({
        "mspOfferName": {"value": "xxxxxx shared image"},
        "rgName": {"value": demo::IMAGES_RESOURCE_GROUP},
        "mspOfferDescription": {"value": "xxxxxx shared image"},
        "managedByTenantId": {"value": demo::FABRIKAM_TENANT},
        "authorizations": {"value": [
            {"principalId": principal, "roleDefinitionId": "acdd72a7-3385-48ef-bd42-f606fba81ae7", "principalIdDisplayName": "PIM_Group"},
            {"principalId": principal, "roleDefinitionId": "91c1777a-f3dc-4fae-b103-61d183457e46", "principalIdDisplayName": "PIM_Group"}
        ]}
    })
}

fn post_template() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/recordings/lighthouse_rgDelegatedResourceManagement.json"
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

#[tokio::test]
async fn method_2_lighthouse_delegation_lets_the_consumer_read_the_image() {
    let sim = Sim::start(Scenario::demo().with_replication(Replication::none()))
        .await
        .unwrap();
    let consumer = user_arm_token(
        &sim,
        demo::FABRIKAM_TENANT,
        demo::FABRIKAM_ADMIN_UPN,
        demo::FABRIKAM_ADMIN_PASSWORD,
    )
    .await;
    let version = format!("{}?api-version=2024-03-03", demo::IMAGE_VERSION_ID);
    let (status, _, body) = arm(&sim, Method::GET, &version, &consumer, None, &[]).await;
    assert_eq!(
        status, 401,
        "before onboarding Contoso's subscription does not trust Fabrikam: {body}"
    );
    assert_eq!(body["error"]["code"], "InvalidAuthenticationTokenTenant");

    // `az deployment create --name ... --location japaneast --template-file template.json
    //  --parameters param.json --subscription {tenant 1 subscription}` as the Contoso admin.
    let owner = user_arm_token(
        &sim,
        demo::CONTOSO_TENANT,
        demo::CONTOSO_ADMIN_UPN,
        demo::CONTOSO_ADMIN_PASSWORD,
    )
    .await;
    let deployment = format!(
        "/subscriptions/{}/providers/Microsoft.Resources/deployments/image-share-lighthouse",
        demo::CONTOSO_SUBSCRIPTION
    );
    let body = json!({"location": "japaneast", "properties": {"mode": "Incremental", "template": post_template(), "parameters": post_parameters(demo::FABRIKAM_ADMIN_ID)}});
    let (status, headers, accepted) = arm(
        &sim,
        Method::PUT,
        &format!("{deployment}?api-version=2024-03-01"),
        &owner,
        Some(body),
        &[],
    )
    .await;
    assert_eq!(status, 201, "{accepted}");
    assert_eq!(accepted["properties"]["provisioningState"], "Accepted");
    assert_eq!(
        accepted["properties"]["parameters"]["rgName"],
        json!({"type": "String", "value": demo::IMAGES_RESOURCE_GROUP})
    );
    let poll = hv(&headers, "azure-asyncoperation").unwrap();
    assert!(
        poll.starts_with(&format!("{ARM}{deployment}/operationStatuses/")),
        "{poll}"
    );
    let (_, _, first) = arm(&sim, Method::GET, &poll, &owner, None, &[]).await;
    assert_eq!(first, json!({"status": "Running"}));
    let (_, _, second) = arm(&sim, Method::GET, &poll, &owner, None, &[]).await;
    assert_eq!(second, json!({"status": "Succeeded"}));
    let (_, _, done) = arm(
        &sim,
        Method::GET,
        &format!("{deployment}?api-version=2024-03-01"),
        &owner,
        None,
        &[],
    )
    .await;
    assert_eq!(done["properties"]["provisioningState"], "Succeeded");
    assert_eq!(
        done["properties"]["outputs"]["mspOfferName"]["value"],
        "Managed by xxxxxx shared image"
    );

    let definition = azure_sim::arm::template::arm_guid(&["xxxxxx shared image".into()]);
    let assignment = azure_sim::arm::template::arm_guid(&[demo::IMAGES_RESOURCE_GROUP.into()]);
    let (status, _, def) = arm(&sim, Method::GET, &format!("/subscriptions/{}/providers/Microsoft.ManagedServices/registrationDefinitions/{definition}?api-version=2022-10-01", demo::CONTOSO_SUBSCRIPTION), &owner, None, &[]).await;
    assert_eq!(status, 200, "{def}");
    assert_eq!(def["properties"]["managedByTenantName"], "Fabrikam");
    let images_rg = format!(
        "/subscriptions/{}/resourceGroups/{}",
        demo::CONTOSO_SUBSCRIPTION,
        demo::IMAGES_RESOURCE_GROUP
    );
    let assignment_url = format!(
        "{images_rg}/providers/Microsoft.ManagedServices/registrationAssignments/{assignment}?api-version=2022-10-01"
    );
    let (status, _, a) = arm(&sim, Method::GET, &assignment_url, &owner, None, &[]).await;
    assert_eq!(status, 200, "{a}");
    assert_eq!(a["properties"]["provisioningState"], "Succeeded");
    assert!(
        a["properties"]["registrationDefinitionId"]
            .as_str()
            .unwrap()
            .ends_with(&definition)
    );

    // The delegated consumer principal now reads the image with its own tenant's token.
    let (status, _, image) = arm(&sim, Method::GET, &version, &consumer, None, &[]).await;
    assert_eq!(status, 200, "{image}");
    assert_eq!(image["id"], demo::IMAGE_VERSION_ID);
    let (status, _, perms) = arm(
        &sim,
        Method::GET,
        &format!(
            "{images_rg}/providers/Microsoft.Authorization/permissions?api-version=2022-04-01"
        ),
        &consumer,
        None,
        &[],
    )
    .await;
    assert_eq!(status, 200, "{perms}");
    assert_eq!(perms["value"][0]["actions"], json!(["*/read"]));
    let (status, _, body) = arm(
        &sim,
        Method::PUT,
        &format!("{images_rg}/providers/Microsoft.Compute/galleries/other?api-version=2024-03-03"),
        &consumer,
        Some(json!({"location": "eastus"})),
        &[],
    )
    .await;
    assert_eq!(status, 403, "Reader only: {body}");
    let (status, _, _) = arm(
        &sim,
        Method::GET,
        &format!(
            "/subscriptions/{}/resourceGroups/{}?api-version=2024-03-01",
            demo::CONTOSO_SUBSCRIPTION,
            demo::IMAGESHARE_RESOURCE_GROUP
        ),
        &consumer,
        None,
        &[],
    )
    .await;
    assert_eq!(status, 403, "only rg-images is delegated");
    let (_, _, sub) = arm(
        &sim,
        Method::GET,
        &format!(
            "/subscriptions/{}?api-version=2024-03-01",
            demo::CONTOSO_SUBSCRIPTION
        ),
        &owner,
        None,
        &[],
    )
    .await;
    assert_eq!(
        sub["managedByTenants"],
        json!([{"tenantId": demo::FABRIKAM_TENANT}])
    );

    // The post: after creating VMs the delegation may be removed; the consumer may do it
    // itself through the "Registration assignment Delete Role".
    let (status, headers, _) =
        arm(&sim, Method::DELETE, &assignment_url, &consumer, None, &[]).await;
    assert_eq!(status, 202);
    let (status, _, gone) = arm(
        &sim,
        Method::GET,
        &hv(&headers, "location").unwrap(),
        &owner,
        None,
        &[],
    )
    .await;
    assert_eq!((status, gone), (200, json!({"status": "Succeeded"})));
    let (status, _, _) = arm(&sim, Method::GET, &version, &consumer, None, &[]).await;
    assert_eq!(status, 401, "the delegation is gone");
}

#[tokio::test]
async fn lighthouse_onboarding_needs_a_deployer_who_may_assign_roles() {
    let sim = Sim::start(Scenario::demo().with_replication(Replication::none()))
        .await
        .unwrap();
    // The operator holds RBAC Administrator and Reader on rg-images only, not on the subscription.
    let operator = common::operator_token(&sim, "https://management.azure.com").await;
    let deployment = format!(
        "/subscriptions/{}/providers/Microsoft.Resources/deployments/d?api-version=2024-03-01",
        demo::CONTOSO_SUBSCRIPTION
    );
    let body = json!({"location": "eastus", "properties": {"mode": "Incremental", "template": post_template(), "parameters": post_parameters(demo::FABRIKAM_ADMIN_ID)}});
    let (status, _, answer) = arm(&sim, Method::PUT, &deployment, &operator, Some(body), &[]).await;
    assert_eq!(status, 403, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Microsoft.Resources/deployments/write")
    );

    let owner = user_arm_token(
        &sim,
        demo::CONTOSO_TENANT,
        demo::CONTOSO_ADMIN_UPN,
        demo::CONTOSO_ADMIN_PASSWORD,
    )
    .await;
    let mut params = post_parameters(demo::FABRIKAM_ADMIN_ID);
    params["managedByTenantId"]["value"] = json!(demo::CONTOSO_TENANT);
    let body = json!({"location": "eastus", "properties": {"mode": "Incremental", "template": post_template(), "parameters": params}});
    let (status, headers, _) = arm(&sim, Method::PUT, &deployment, &owner, Some(body), &[]).await;
    assert_eq!(status, 201, "accepted, then fails while deploying");
    let poll = hv(&headers, "azure-asyncoperation").unwrap();
    let (_, _, _) = arm(&sim, Method::GET, &poll, &owner, None, &[]).await;
    let (_, _, failed) = arm(&sim, Method::GET, &poll, &owner, None, &[]).await;
    assert_eq!(failed["status"], "Failed");
    assert_eq!(failed["error"]["code"], "DeploymentFailed");
    assert_eq!(
        failed["error"]["details"][0]["code"],
        "InvalidRegistrationDefinition"
    );

    let mut template = post_template();
    template["resources"][0]["properties"]["description"] = json!("[uniqueString('x')]");
    let body = json!({"location": "eastus", "properties": {"mode": "Incremental", "template": template, "parameters": post_parameters(demo::FABRIKAM_ADMIN_ID)}});
    let (status, _, answer) = arm(&sim, Method::PUT, &deployment, &owner, Some(body), &[]).await;
    assert_eq!(status, 400);
    assert_eq!(answer["error"]["code"], "InvalidTemplate");
}
