//! The two ways the seed post (Insight Technology's "sharing a VM image with another tenant",
//! part 2) shares a gallery image, played with plain HTTP against the simulator:
//! method 1, an app registration consented in the consumer tenant, with `az vm create`'s
//! auxiliary token; method 2, Azure Lighthouse onboarding with the post's template and
//! parameters.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use azure_sim::{Sim, scenario::demo};
use common::{
    ARM, ARM_SCOPE as MGMT, Api, app_token, arm_as_contoso_admin, arm_as_fabrikam_admin,
    arm_as_operator, fabrikam_rg, form, header, hv, images_rg, start_demo, transport,
    user_arm_token,
};
use serde_json::{Value, json};

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
    let graph = Api::graph(sim, user_graph_token(sim, tenant, upn, password).await);
    let (status, _, sp) = graph
        .get(&format!("/servicePrincipals(appId='{app_id}')"))
        .await;
    assert_eq!(status, 200, "{sp}");
    let arm = Api::arm(sim, user_arm_token(sim, tenant, upn, password).await);
    let sub = scope.split('/').nth(2).unwrap();
    let (status, _, defs) = arm.get(&format!("{scope}/providers/Microsoft.Authorization/roleDefinitions?$filter=roleName%20eq%20%27{role}%27&api-version=2022-04-01")).await;
    assert_eq!(status, 200, "{defs}");
    let role_id = defs["value"][0]["id"].as_str().unwrap().to_owned();
    assert!(role_id.starts_with(&format!(
        "/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/"
    )));
    let (status, _, body) = arm
        .put(
            &common::role_assignment(scope, uuid::Uuid::new_v4()),
            json!({"properties": {"roleDefinitionId": role_id, "principalId": sp["id"], "principalType": "ServicePrincipal"}}),
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

/// `az vm create`'s network resources, PUT one by one by `arm`; each must be created.
async fn create_network(arm: &Api<'_>, puts: Vec<(String, Value)>) {
    for (id, body) in puts {
        let (status, _, answer) = arm.put(&format!("{id}?api-version=2024-05-01"), body).await;
        assert_eq!(status, 201, "{id}: {answer}");
    }
}

/// PUT of a VM with `aux` as `x-ms-authorization-auxiliary`.
async fn put_vm(arm: &Api<'_>, url: &str, nic: &str, aux: &str) -> common::Answer {
    arm.send(
        reqwest::Method::PUT,
        url,
        Some(vm_body(nic)),
        &[("x-ms-authorization-auxiliary", aux)],
    )
    .await
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
    let sim = start_demo().await;

    // Tenant 1: register the app (multi-tenant, redirect URI https://www.microsoft.com as the
    // Azure docs' walkthrough has it) and a secret, as the Contoso admin; Reader on the gallery.
    let admin = Api::graph(
        &sim,
        user_graph_token(
            &sim,
            demo::CONTOSO_TENANT,
            demo::CONTOSO_ADMIN_UPN,
            demo::CONTOSO_ADMIN_PASSWORD,
        )
        .await,
    );
    let (status, _, app) = admin
        .post(
            "/applications",
            json!({"displayName": "image-share", "signInAudience": "AzureADMultipleOrgs", "web": {"redirectUris": ["https://www.microsoft.com/"]}}),
        )
        .await;
    assert_eq!(status, 201, "{app}");
    let app_id = app["appId"].as_str().unwrap().to_owned();
    let (status, _, secret) = admin
        .post(
            &format!("/applications/{}/addPassword", app["id"].as_str().unwrap()),
            json!({"passwordCredential": {"displayName": "share"}}),
        )
        .await;
    assert_eq!(status, 200, "{secret}");
    let secret = secret["secretText"].as_str().unwrap().to_owned();
    let (status, _, _) = admin
        .post("/servicePrincipals", json!({"appId": app_id}))
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
    let rg = fabrikam_rg();
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
    let t2 = Api::arm(
        &sim,
        app_token(&sim, demo::FABRIKAM_TENANT, &app_id, &secret, MGMT).await,
    );

    // `az vm create --image {image version id}`: the network, then the VM with the auxiliary token.
    let (puts, nic) = network_and_vm(&rg);
    create_network(&t2, puts).await;
    let vm =
        format!("{rg}/providers/Microsoft.Compute/virtualMachines/myVM?api-version=2024-07-01");
    let (status, _, body) = t2.put(&vm, vm_body(&nic)).await;
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
    let (status, headers, body) = put_vm(&t2, &vm, &nic, &aux).await;
    assert_eq!(status, 201, "{body}");
    let poll = hv(&headers, "azure-asyncoperation").unwrap();
    let mut status_now = String::new();
    for _ in 0..10 {
        let (_, _, s) = t2.get(&poll).await;
        status_now = s["status"].as_str().unwrap().to_owned();
        if status_now != "InProgress" {
            break;
        }
    }
    assert_eq!(status_now, "Succeeded");
    let (_, _, vm_now) = t2.get(&vm).await;
    assert_eq!(vm_now["properties"]["provisioningState"], "Succeeded");
    assert_eq!(
        vm_now["properties"]["storageProfile"]["imageReference"]["id"],
        demo::IMAGE_VERSION_ID
    );
}

#[tokio::test]
async fn method_1_refuses_an_auxiliary_principal_without_read_on_the_image() {
    let sim = start_demo().await;
    let app = common::operator_creates_app(&sim, "no-reader", true).await;
    sim.consent(demo::FABRIKAM_TENANT, &app.app_id, demo::FABRIKAM_ADMIN_UPN)
        .unwrap();
    let rg = fabrikam_rg();
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
    let t2 = Api::arm(
        &sim,
        app_token(&sim, demo::FABRIKAM_TENANT, &app.app_id, &app.secret, MGMT).await,
    );
    let (puts, nic) = network_and_vm(&rg);
    create_network(&t2, puts).await;
    let vm =
        format!("{rg}/providers/Microsoft.Compute/virtualMachines/myVM?api-version=2024-07-01");
    let aux = format!("Bearer {t1}");
    let (status, _, body) = put_vm(&t2, &vm, &nic, &aux).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "LinkedAuthorizationFailed");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("The client '{}' with object id", app.app_id)),
        "{message}"
    );
    assert!(message.contains("does not have permission to perform action 'Microsoft.Compute/galleries/images/versions/read' on the linked scope(s)"), "{message}");

    sim.advance_clock(Duration::from_secs(3600));
    let (status, _, body) = t2.put(&vm, vm_body(&nic)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("ExpiredAuthenticationToken")),
        "an hour later the primary token has expired"
    );
    let fresh = Api::arm(
        &sim,
        app_token(&sim, demo::FABRIKAM_TENANT, &app.app_id, &app.secret, MGMT).await,
    );
    let (status, _, body) = put_vm(&fresh, &vm, &nic, &aux).await;
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

/// The deployment body `az deployment sub create` sends with `template` and `parameters`.
fn deployment_body(location: &str, template: &Value, parameters: &Value) -> Value {
    json!({"location": location, "properties": {"mode": "Incremental", "template": template, "parameters": parameters}})
}

#[tokio::test]
async fn method_2_lighthouse_delegation_lets_the_consumer_read_the_image() {
    let sim = start_demo().await;
    let consumer = arm_as_fabrikam_admin(&sim).await;
    let version = format!("{}?api-version=2024-03-03", demo::IMAGE_VERSION_ID);
    let (status, _, body) = consumer.get(&version).await;
    assert_eq!(
        status, 401,
        "before onboarding Contoso's subscription does not trust Fabrikam: {body}"
    );
    assert_eq!(body["error"]["code"], "InvalidAuthenticationTokenTenant");

    // `az deployment create --name ... --location japaneast --template-file template.json
    //  --parameters param.json --subscription {tenant 1 subscription}` as the Contoso admin.
    let owner = arm_as_contoso_admin(&sim).await;
    let deployment = format!(
        "/subscriptions/{}/providers/Microsoft.Resources/deployments/image-share-lighthouse",
        demo::CONTOSO_SUBSCRIPTION
    );
    let body = deployment_body(
        "japaneast",
        &post_template(),
        &post_parameters(demo::FABRIKAM_ADMIN_ID),
    );
    let (status, headers, accepted) = owner
        .put(&format!("{deployment}?api-version=2024-03-01"), body)
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
    let (_, _, first) = owner.get(&poll).await;
    assert_eq!(first, json!({"status": "Running"}));
    let (_, _, second) = owner.get(&poll).await;
    assert_eq!(second, json!({"status": "Succeeded"}));
    let (_, _, done) = owner
        .get(&format!("{deployment}?api-version=2024-03-01"))
        .await;
    assert_eq!(done["properties"]["provisioningState"], "Succeeded");
    assert_eq!(
        done["properties"]["outputs"]["mspOfferName"]["value"],
        "Managed by xxxxxx shared image"
    );

    let definition = azure_sim::arm::template::arm_guid(&["xxxxxx shared image".into()]);
    let assignment = azure_sim::arm::template::arm_guid(&[demo::IMAGES_RESOURCE_GROUP.into()]);
    let (status, _, def) = owner.get(&format!("/subscriptions/{}/providers/Microsoft.ManagedServices/registrationDefinitions/{definition}?api-version=2022-10-01", demo::CONTOSO_SUBSCRIPTION)).await;
    assert_eq!(status, 200, "{def}");
    assert_eq!(def["properties"]["managedByTenantName"], "Fabrikam");
    let images_rg = images_rg();
    let assignment_url = format!(
        "{images_rg}/providers/Microsoft.ManagedServices/registrationAssignments/{assignment}?api-version=2022-10-01"
    );
    let (status, _, a) = owner.get(&assignment_url).await;
    assert_eq!(status, 200, "{a}");
    assert_eq!(a["properties"]["provisioningState"], "Succeeded");
    assert!(
        a["properties"]["registrationDefinitionId"]
            .as_str()
            .unwrap()
            .ends_with(&definition)
    );

    // The delegated consumer principal now reads the image with its own tenant's token.
    let (status, _, image) = consumer.get(&version).await;
    assert_eq!(status, 200, "{image}");
    assert_eq!(image["id"], demo::IMAGE_VERSION_ID);
    let (status, _, perms) = consumer
        .get(&format!(
            "{images_rg}/providers/Microsoft.Authorization/permissions?api-version=2022-04-01"
        ))
        .await;
    assert_eq!(status, 200, "{perms}");
    assert_eq!(perms["value"][0]["actions"], json!(["*/read"]));
    let (status, _, body) = consumer
        .put(
            &format!(
                "{images_rg}/providers/Microsoft.Compute/galleries/other?api-version=2024-03-03"
            ),
            json!({"location": "eastus"}),
        )
        .await;
    assert_eq!(status, 403, "Reader only: {body}");
    let (status, _, _) = consumer
        .get(&format!(
            "/subscriptions/{}/resourceGroups/{}?api-version=2024-03-01",
            demo::CONTOSO_SUBSCRIPTION,
            demo::IMAGESHARE_RESOURCE_GROUP
        ))
        .await;
    assert_eq!(status, 403, "only rg-images is delegated");
    let (_, _, sub) = owner
        .get(&format!(
            "/subscriptions/{}?api-version=2024-03-01",
            demo::CONTOSO_SUBSCRIPTION
        ))
        .await;
    assert_eq!(
        sub["managedByTenants"],
        json!([{"tenantId": demo::FABRIKAM_TENANT}])
    );

    // The post: after creating VMs the delegation may be removed; the consumer may do it
    // itself through the "Registration assignment Delete Role".
    let (status, headers, _) = consumer.delete(&assignment_url).await;
    assert_eq!(status, 202);
    let (status, _, gone) = owner.get(&hv(&headers, "location").unwrap()).await;
    assert_eq!((status, gone), (200, json!({"status": "Succeeded"})));
    let (status, _, _) = consumer.get(&version).await;
    assert_eq!(status, 401, "the delegation is gone");
}

#[tokio::test]
async fn lighthouse_onboarding_needs_a_deployer_who_may_assign_roles() {
    let sim = start_demo().await;
    // The operator holds RBAC Administrator and Reader on rg-images only, not on the subscription.
    let operator = arm_as_operator(&sim).await;
    let deployment = format!(
        "/subscriptions/{}/providers/Microsoft.Resources/deployments/d?api-version=2024-03-01",
        demo::CONTOSO_SUBSCRIPTION
    );
    let body = deployment_body(
        "eastus",
        &post_template(),
        &post_parameters(demo::FABRIKAM_ADMIN_ID),
    );
    let (status, _, answer) = operator.put(&deployment, body).await;
    assert_eq!(status, 403, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Microsoft.Resources/deployments/write")
    );

    let owner = arm_as_contoso_admin(&sim).await;
    let mut params = post_parameters(demo::FABRIKAM_ADMIN_ID);
    params["managedByTenantId"]["value"] = json!(demo::CONTOSO_TENANT);
    let body = deployment_body("eastus", &post_template(), &params);
    let (status, headers, _) = owner.put(&deployment, body).await;
    assert_eq!(status, 201, "accepted, then fails while deploying");
    let poll = hv(&headers, "azure-asyncoperation").unwrap();
    let (_, _, _) = owner.get(&poll).await;
    let (_, _, failed) = owner.get(&poll).await;
    assert_eq!(failed["status"], "Failed");
    assert_eq!(failed["error"]["code"], "DeploymentFailed");
    assert_eq!(
        failed["error"]["details"][0]["code"],
        "InvalidRegistrationDefinition"
    );

    let mut template = post_template();
    template["resources"][0]["properties"]["description"] = json!("[uniqueString('x')]");
    let body = deployment_body(
        "eastus",
        &template,
        &post_parameters(demo::FABRIKAM_ADMIN_ID),
    );
    let (status, _, answer) = owner.put(&deployment, body).await;
    assert_eq!(status, 400);
    assert_eq!(answer["error"]["code"], "InvalidTemplate");
}
