//! The exact Resource Manager calls the imageshare pipeline makes, in order: the operator
//! grants Reader on the image definition, the share app checks its permissions in the
//! consumer's resource group, reads the image, builds the network and creates the VM with
//! the owner tenant's auxiliary token, polls it and reads it back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use azure_sim::{PrincipalRef, Replication, RoleGrant, Scenario, Sim, scenario::demo};
use common::{
    ARM, ARM_SCOPE, Answer, Api, READER, app_token, arm_as_operator, assignment_body,
    fabrikam_rg as rg, hv, operator_creates_app, role_assignment, start_demo, vnet_and_nic,
};
use reqwest::Method;
use serde_json::{Value, json};

fn reader_on_image(principal: &str) -> Value {
    assignment_body(READER, principal, Some("ServicePrincipal"))
}

/// The share app's Resource Manager token in `tenant`, as a caller.
async fn share_app_in<'a>(sim: &'a Sim, app: &common::CreatedApp, tenant: &str) -> Api<'a> {
    Api::arm(
        sim,
        app_token(sim, tenant, &app.app_id, &app.secret, ARM_SCOPE).await,
    )
}

/// PUT of a VM with the image owner's token as `x-ms-authorization-auxiliary`.
async fn put_vm(arm: &Api<'_>, url: &str, body: Value, aux: &str) -> Answer {
    arm.send(
        Method::PUT,
        url,
        Some(body),
        &[("x-ms-authorization-auxiliary", aux)],
    )
    .await
}

/// The share app's service principal in Contoso, after the operator created app, secret and SP.
async fn share_app(sim: &Sim) -> (common::CreatedApp, String) {
    let app = operator_creates_app(sim, "share-fabrikam", true).await;
    let sp = sim
        .state()
        .service_principals
        .into_iter()
        .find(|s| s.app_id == app.app_id && s.tenant == demo::CONTOSO_TENANT)
        .unwrap();
    (app, sp.id)
}

fn contributor_for(app_id: &str) -> RoleGrant {
    RoleGrant {
        tenant: demo::FABRIKAM_TENANT.into(),
        admin: demo::FABRIKAM_ADMIN_UPN.into(),
        scope: rg(),
        role: "Contributor".into(),
        principal: PrincipalRef::App {
            app_id: app_id.into(),
        },
        principal_type: None,
    }
}

fn nsg_body() -> Value {
    json!({"location": "eastus", "properties": {"securityRules": [{"name": "ssh", "properties": {
        "protocol": "Tcp", "sourcePortRange": "*", "destinationPortRange": "22",
        "sourceAddressPrefix": "*", "destinationAddressPrefix": "*", "access": "Allow",
        "priority": 1000, "direction": "Inbound"}}]}})
}

fn vm_body(nic: &str) -> Value {
    json!({"location": "eastus", "properties": {
        "hardwareProfile": {"vmSize": "Standard_D2s_v5"},
        "storageProfile": {
            "imageReference": {"id": demo::IMAGE_VERSION_ID},
            "osDisk": {"createOption": "FromImage", "managedDisk": {"storageAccountType": "Standard_LRS"}}},
        "osProfile": {"computerName": "vm1", "adminUsername": "azureuser", "linuxConfiguration": {
            "disablePasswordAuthentication": true,
            "ssh": {"publicKeys": [{"path": "/home/azureuser/.ssh/authorized_keys", "keyData": "ssh-rsa AAAAB3NzaC1yc2E test"}]}}},
        "networkProfile": {"networkInterfaces": [{"id": nic, "properties": {"primary": true}}]}}})
}

#[tokio::test]
async fn the_pipeline_shares_the_image_and_creates_a_vm_with_an_auxiliary_token() {
    let sim = start_demo().await;
    let (app, contoso_sp) = share_app(&sim).await;
    sim.consent(demo::FABRIKAM_TENANT, &app.app_id, demo::FABRIKAM_ADMIN_UPN)
        .unwrap();

    // Operator (managed identity, Contoso): Reader on the image definition for the share app.
    let operator = arm_as_operator(&sim).await;
    let path = role_assignment(demo::IMAGE_DEFINITION_ID, uuid::Uuid::new_v4());
    let (status, headers, body) = operator.put(&path, reader_on_image(&contoso_sp)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["properties"]["scope"], demo::IMAGE_DEFINITION_ID);
    assert_eq!(
        body["properties"]["createdBy"],
        Value::Null,
        "null in the PUT answer, as recorded"
    );
    assert_eq!(body["properties"]["updatedBy"], demo::OPERATOR_PRINCIPAL_ID);
    assert!(hv(&headers, "x-ms-ratelimit-remaining-subscription-writes").is_some());
    assert!(
        hv(&headers, "azure-asyncoperation").is_none(),
        "role assignments are synchronous"
    );
    let (status, _, _) = operator.put(&path, reader_on_image(&contoso_sp)).await;
    assert_eq!(status, 200, "the same assignment again is 200");

    // Fabrikam's admin gives the app Contributor on the VM resource group (portal).
    sim.assign_role(&contributor_for(&app.app_id)).unwrap();

    let contoso = share_app_in(&sim, &app, demo::CONTOSO_TENANT).await;
    let fabrikam = share_app_in(&sim, &app, demo::FABRIKAM_TENANT).await;

    let (status, _, perms) = fabrikam
        .get(&format!(
            "{}/providers/Microsoft.Authorization/permissions?api-version=2022-04-01",
            rg()
        ))
        .await;
    assert_eq!(status, 200, "{perms}");
    assert_eq!(perms["value"][0]["actions"], json!(["*"]));
    assert!(
        perms["value"][0]["notActions"]
            .as_array()
            .unwrap()
            .contains(&json!("Microsoft.Authorization/*/Write"))
    );

    let (status, headers, version) = contoso
        .get(&format!(
            "{}?api-version=2024-03-03",
            demo::IMAGE_VERSION_ID
        ))
        .await;
    assert_eq!(status, 200, "{version}");
    let regions: Vec<&str> = version["properties"]["publishingProfile"]["targetRegions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(regions, ["East US", "West Europe"]);
    assert_eq!(
        version["properties"]["storageProfile"]["osDiskImage"]["sizeInGB"],
        30
    );
    assert!(
        hv(&headers, "x-ms-ratelimit-remaining-resource")
            .unwrap()
            .contains("GetGalleryImageVersion3Min")
    );
    let (status, _, image) = contoso
        .get(&format!(
            "{}?api-version=2024-03-03",
            demo::IMAGE_DEFINITION_ID
        ))
        .await;
    assert_eq!(status, 200, "{image}");
    assert_eq!(image["properties"]["osType"], "Linux");
    assert_eq!(image["properties"]["osState"], "Generalized");
    assert_eq!(image["properties"]["hyperVGeneration"], "V2");
    assert_eq!(
        image["properties"]["features"][0],
        json!({"name": "SecurityType", "value": "TrustedLaunchSupported"})
    );

    let net = format!("{}/providers/Microsoft.Network", rg());
    let (status, headers, nsg) = fabrikam
        .put(
            &format!("{net}/networkSecurityGroups/nsg1?api-version=2024-05-01"),
            nsg_body(),
        )
        .await;
    assert_eq!(status, 201, "{nsg}");
    assert_eq!(nsg["properties"]["provisioningState"], "Updating");
    assert_eq!(
        nsg["properties"]["defaultSecurityRules"]
            .as_array()
            .unwrap()
            .len(),
        6
    );
    assert!(
        hv(&headers, "azure-asyncoperation")
            .unwrap()
            .contains("/providers/Microsoft.Network/locations/eastus/operations/")
    );
    let nsg_id = nsg["id"].as_str().unwrap().to_owned();
    let vnet = json!({"location": "eastus", "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
        "subnets": [{"name": "default", "properties": {"addressPrefix": "10.0.0.0/24", "networkSecurityGroup": {"id": nsg_id}}}]}});
    let (status, _, vnet) = fabrikam
        .put(
            &format!("{net}/virtualNetworks/vnet1?api-version=2024-05-01"),
            vnet,
        )
        .await;
    assert_eq!(status, 201, "{vnet}");
    let subnet = vnet["properties"]["subnets"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        vnet["properties"]["subnets"][0]["properties"]["networkSecurityGroup"]["id"],
        nsg_id
    );
    let nic = json!({"location": "eastus", "properties": {"ipConfigurations": [{"name": "ipconfig1", "properties": {"subnet": {"id": subnet}}}], "networkSecurityGroup": {"id": nsg_id}}});
    let (status, _, nic) = fabrikam
        .put(
            &format!("{net}/networkInterfaces/nic1?api-version=2024-05-01"),
            nic,
        )
        .await;
    assert_eq!(status, 201, "{nic}");
    assert_eq!(
        nic["properties"]["provisioningState"], "Succeeded",
        "NICs are ready at once, as recorded"
    );
    assert_eq!(
        nic["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"],
        "10.0.0.4"
    );
    let nic_id = nic["id"].as_str().unwrap().to_owned();

    let vm_path = format!("{}?api-version=2024-07-01", vm("vm1"));
    let aux = format!("Bearer {}", contoso.token);
    let (status, headers, vm) = put_vm(&fabrikam, &vm_path, vm_body(&nic_id), &aux).await;
    assert_eq!(status, 201, "{vm}");
    assert_eq!(vm["properties"]["provisioningState"], "Creating");
    assert_eq!(
        vm["properties"]["storageProfile"]["imageReference"]["exactVersion"],
        "1.0.0"
    );
    assert!(vm["properties"]["osProfile"].get("adminPassword").is_none());
    assert_eq!(hv(&headers, "retry-after").as_deref(), Some("10"));
    let poll = hv(&headers, "azure-asyncoperation").unwrap();
    assert!(
        poll.starts_with(&format!(
            "{ARM}/subscriptions/{}/providers/Microsoft.Compute/locations/eastus/operations/",
            demo::FABRIKAM_SUBSCRIPTION
        )),
        "{poll}"
    );
    assert!(
        poll.contains("?p=") && poll.ends_with("&api-version=2024-07-01"),
        "{poll}"
    );
    let op_name = poll
        .split('?')
        .next()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(hv(&headers, "x-ms-request-id").unwrap(), op_name);

    let mut statuses = vec![];
    for n in 0..10 {
        let (status, headers, s) = fabrikam.get(&poll).await;
        assert_eq!(status, 200, "{s}");
        assert_eq!(s["name"], op_name.as_str());
        assert!(s["startTime"].as_str().unwrap().ends_with("+00:00"));
        if n == 0 {
            assert_eq!(
                hv(&headers, "retry-after").as_deref(),
                Some("50"),
                "the first poll says 50, as recorded"
            );
        }
        statuses.push(s["status"].as_str().unwrap().to_owned());
        if s["status"] != "InProgress" {
            assert!(s["endTime"].is_string());
            break;
        }
    }
    assert_eq!(
        statuses,
        ["InProgress", "InProgress", "InProgress", "Succeeded"]
    );
    let (status, _, vm) = fabrikam.get(&vm_path).await;
    assert_eq!(status, 200);
    assert_eq!(vm["properties"]["provisioningState"], "Succeeded");
    assert!(
        vm["properties"]["storageProfile"]["osDisk"]["managedDisk"]["id"]
            .as_str()
            .unwrap()
            .contains("/providers/Microsoft.Compute/disks/vm1_OsDisk_1_")
    );
    assert_eq!(
        vm["properties"]["osProfile"]["linuxConfiguration"]["disablePasswordAuthentication"],
        true
    );

    let state = sim.state();
    for kind in [
        "Microsoft.Compute/virtualMachines",
        "Microsoft.Network/networkInterfaces",
        "Microsoft.Network/virtualNetworks",
    ] {
        assert_eq!(state.resources_of_type(kind).len(), 1, "{kind}");
    }
    let (status, _, nic_now) = fabrikam
        .get(&format!("{nic_id}?api-version=2024-05-01"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(nic_now["properties"]["virtualMachine"]["id"], vm["id"]);
}

#[tokio::test]
async fn new_principals_and_new_role_assignments_replicate_before_arm_sees_them() {
    // Only Resource Manager's windows: Entra's are exercised elsewhere.
    let replication = Replication {
        role_assignment_seconds: demo::ROLE_ASSIGNMENT_SECONDS,
        arm_principal_seconds: demo::ARM_PRINCIPAL_SECONDS,
        ..Replication::none()
    };
    let sim = Sim::start(Scenario::demo().with_replication(replication))
        .await
        .unwrap();
    let operator = arm_as_operator(&sim).await;
    let (app, contoso_sp) = share_app(&sim).await;
    let new_path = || role_assignment(demo::IMAGE_DEFINITION_ID, uuid::Uuid::new_v4());
    let mut without_type = reader_on_image(&contoso_sp);
    without_type["properties"]
        .as_object_mut()
        .unwrap()
        .remove("principalType");
    let (status, _, body) = operator.put(&new_path(), without_type.clone()).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "PrincipalNotFound");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&contoso_sp.replace('-', "")) && message.contains("principalType"),
        "{message}"
    );

    let (status, _, body) = operator
        .put(&new_path(), reader_on_image(&contoso_sp))
        .await;
    assert_eq!(
        status, 201,
        "with principalType the assignment is created at once: {body}"
    );
    let (status, _, body) = operator
        .put(&new_path(), reader_on_image(&contoso_sp))
        .await;
    assert_eq!(
        status, 409,
        "same principal, role and scope under another name"
    );
    assert_eq!(body["error"]["code"], "RoleAssignmentExists");

    sim.advance_clock(Duration::from_secs(u64::from(
        demo::ROLE_ASSIGNMENT_SECONDS.max(demo::ARM_PRINCIPAL_SECONDS),
    )));
    let contoso = share_app_in(&sim, &app, demo::CONTOSO_TENANT).await;
    let version = format!("{}?api-version=2024-03-03", demo::IMAGE_VERSION_ID);
    let (status, _, _) = contoso.get(&version).await;
    assert_eq!(status, 200, "effective once replicated");

    // A fresh assignment is visible at once but only authorizes after the window.
    sim.consent(demo::FABRIKAM_TENANT, &app.app_id, demo::FABRIKAM_ADMIN_UPN)
        .unwrap();
    sim.advance_clock(Duration::from_secs(10));
    let fabrikam = share_app_in(&sim, &app, demo::FABRIKAM_TENANT).await;
    let perms = format!(
        "{}/providers/Microsoft.Authorization/permissions?api-version=2022-04-01",
        rg()
    );
    let (status, _, body) = fabrikam.get(&perms).await;
    assert_eq!(
        status, 403,
        "no role in the consumer's resource group yet: {body}"
    );
    assert_eq!(body["error"]["code"], "AuthorizationFailed");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("'Microsoft.Authorization/permissions/read'"),
        "{message}"
    );
    assert!(
        message.contains(&format!(
            "/subscriptions/{}/resourcegroups/{}",
            demo::FABRIKAM_SUBSCRIPTION,
            demo::FABRIKAM_RESOURCE_GROUP
        )),
        "{message}"
    );
    sim.assign_role(&contributor_for(&app.app_id)).unwrap();
    assert!(
        !sim.state()
            .role_assignments
            .iter()
            .find(|a| a.role_name == "Contributor")
            .unwrap()
            .effective
    );
    let (status, _, _) = fabrikam.get(&perms).await;
    assert_eq!(status, 403, "still replicating");
    sim.advance_clock(Duration::from_secs(u64::from(
        demo::ROLE_ASSIGNMENT_SECONDS,
    )));
    let (status, _, body) = fabrikam.get(&perms).await;
    assert_eq!(status, 200, "{body}");
}

/// Everything before the VM PUT: the app shared, granted, a NIC built. (Fabrikam caller, aux header, NIC id)
async fn ready_for_a_vm(sim: &Sim) -> (Api<'_>, String, String) {
    let (app, contoso_sp) = share_app(sim).await;
    sim.consent(demo::FABRIKAM_TENANT, &app.app_id, demo::FABRIKAM_ADMIN_UPN)
        .unwrap();
    let operator = arm_as_operator(sim).await;
    let path = role_assignment(demo::IMAGE_DEFINITION_ID, uuid::Uuid::new_v4());
    let (status, _, _) = operator.put(&path, reader_on_image(&contoso_sp)).await;
    assert_eq!(status, 201);
    sim.assign_role(&contributor_for(&app.app_id)).unwrap();
    let contoso = share_app_in(sim, &app, demo::CONTOSO_TENANT).await;
    let fabrikam = share_app_in(sim, &app, demo::FABRIKAM_TENANT).await;
    let nic = vnet_and_nic(&fabrikam, &rg(), "10.0").await;
    (
        fabrikam,
        format!("Bearer {}", contoso.token),
        nic["id"].as_str().unwrap().to_owned(),
    )
}

fn vm(name: &str) -> String {
    format!(
        "{}/providers/Microsoft.Compute/virtualMachines/{name}",
        rg()
    )
}

#[tokio::test]
async fn faults_inject_throttling_and_quota_refusals_on_vm_creation() {
    let sim = start_demo().await;
    let (fabrikam, aux, nic) = ready_for_a_vm(&sim).await;
    let put = format!("{}?api-version=2024-07-01", vm("a"));
    let throttle = sim.add_fault(
        azure_sim::Fault::throttle("management.azure.com", &vm("*"), 7)
            .method("PUT")
            .times(2),
    );
    for _ in 0..2 {
        let (s, h, body) = put_vm(&fabrikam, &put, vm_body(&nic), &aux).await;
        assert_eq!(s, 429, "{body}");
        assert_eq!(hv(&h, "retry-after").as_deref(), Some("7"));
        assert_eq!(body["error"]["code"], "TooManyRequests");
    }
    sim.remove_fault(throttle);
    sim.add_fault(azure_sim::Fault::new("management.azure.com", &vm("a"), 503).times(1));
    let (s, _, body) = put_vm(&fabrikam, &put, vm_body(&nic), &aux).await;
    assert_eq!(s, 503);
    assert_eq!(body["error"]["code"], "ServiceUnavailable");
    sim.add_fault(azure_sim::Fault::quota_exceeded(&vm("a"), "eastus").times(1));
    let (s, _, body) = put_vm(&fabrikam, &put, vm_body(&nic), &aux).await;
    assert_eq!(s, 409);
    assert_eq!(body["error"]["code"], "QuotaExceeded");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Location: eastus")
    );
    sim.add_fault(
        azure_sim::Fault::sku_not_available(&vm("a"), "Standard_D2s_v5", "eastus").times(1),
    );
    let (s, _, body) = put_vm(&fabrikam, &put, vm_body(&nic), &aux).await;
    assert_eq!(s, 409);
    assert_eq!(body["error"]["code"], "SkuNotAvailable");
    let (s, _, body) = put_vm(&fabrikam, &put, vm_body(&nic), &aux).await;
    assert_eq!(s, 201, "the faults are spent: {body}");
    assert_eq!(
        sim.state()
            .resources_of_type("Microsoft.Compute/virtualMachines")
            .len(),
        1
    );
}

#[tokio::test]
async fn a_size_the_region_does_not_offer_is_refused_with_sku_not_available() {
    let sim = start_demo().await;
    let (fabrikam, aux, nic) = ready_for_a_vm(&sim).await;
    let mut body = vm_body(&nic);
    body["properties"]["hardwareProfile"]["vmSize"] = json!("Standard_M128s");
    let url = format!("{}?api-version=2024-07-01", vm("big"));
    let (s, _, answer) = put_vm(&fabrikam, &url, body, &aux).await;
    assert_eq!(s, 409, "{answer}");
    assert_eq!(answer["error"]["code"], "SkuNotAvailable");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Standard_M128s")
    );
}

#[tokio::test]
async fn a_provisioning_fault_lets_the_put_succeed_and_the_operation_end_failed() {
    let mut scenario = Scenario::demo().with_replication(Replication::none());
    scenario.arm.vm_provisioning_polls = 1;
    scenario.arm.retry_after_seconds = Some(0);
    let sim = Sim::start(scenario).await.unwrap();
    let (fabrikam, aux, nic) = ready_for_a_vm(&sim).await;
    sim.add_fault(azure_sim::Fault::provisioning_failure(
        &vm("a"),
        "OSProvisioningTimedOut",
        "OS Provisioning for VM 'a' did not finish in the allotted time.",
    ));
    let url = format!("{}?api-version=2024-07-01", vm("a"));
    let (s, h, body) = put_vm(&fabrikam, &url, vm_body(&nic), &aux).await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(
        hv(&h, "retry-after").as_deref(),
        Some("0"),
        "the scenario's Retry-After override"
    );
    let poll = hv(&h, "azure-asyncoperation").unwrap();
    let (_, _, first) = fabrikam.get(&poll).await;
    assert_eq!(
        first["status"], "InProgress",
        "one InProgress poll, as configured"
    );
    let (_, _, last) = fabrikam.get(&poll).await;
    assert_eq!(last["status"], "Failed");
    assert_eq!(last["error"]["code"], "OSProvisioningTimedOut");
    let (_, _, vm_now) = fabrikam.get(&url).await;
    assert_eq!(vm_now["properties"]["provisioningState"], "Failed");
    assert!(
        sim.requests()
            .iter()
            .any(|r| r.fault.is_some() && r.method == "PUT" && r.status == 201)
    );
}

#[tokio::test]
async fn deleting_the_vm_then_its_network_leaves_nothing_behind() {
    let sim = start_demo().await;
    let (fabrikam, aux, nic) = ready_for_a_vm(&sim).await;
    let vm_url = format!("{}?api-version=2024-07-01", vm("a"));
    let (s, _, _) = put_vm(&fabrikam, &vm_url, vm_body(&nic), &aux).await;
    assert_eq!(s, 201);
    let nic_url = format!("{nic}?api-version=2024-05-01");
    let (s, _, body) = fabrikam.delete(&nic_url).await;
    assert_eq!(s, 400, "the NIC is still attached: {body}");
    assert_eq!(body["error"]["code"], "NicInUse");
    let (s, h, _) = fabrikam.delete(&vm_url).await;
    assert_eq!(s, 202);
    let monitor = hv(&h, "location").unwrap();
    assert!(monitor.contains("monitor=true"));
    let (s, _, done) = fabrikam.get(&monitor).await;
    assert_eq!((s, done), (200, Value::Null));
    let (s, _, _) = fabrikam.get(&vm_url).await;
    assert_eq!(s, 404);
    let (s, h, _) = fabrikam.delete(&nic_url).await;
    assert_eq!(s, 202);
    assert!(hv(&h, "location").unwrap().contains("/operationResults/"));
    let vnet_url = format!(
        "{}/providers/Microsoft.Network/virtualNetworks/v?api-version=2024-05-01",
        rg()
    );
    let (s, _, _) = fabrikam.delete(&vnet_url).await;
    assert_eq!(s, 202);
    let state = sim.state();
    for kind in [
        "Microsoft.Compute/virtualMachines",
        "Microsoft.Network/networkInterfaces",
        "Microsoft.Network/virtualNetworks",
        "Microsoft.Network/virtualNetworks/subnets",
    ] {
        assert!(
            state.resources_of_type(kind).is_empty(),
            "{kind} left behind"
        );
    }
}

#[tokio::test]
async fn a_vm_put_while_its_creation_still_runs_is_refused_with_computes_409_conflict() {
    let sim = start_demo().await;
    let (fabrikam, aux, nic) = ready_for_a_vm(&sim).await;
    let url = format!("{}?api-version=2024-07-01", vm("a"));
    let (s, _, created) = put_vm(&fabrikam, &url, vm_body(&nic), &aux).await;
    assert_eq!(s, 201, "{created}");

    let mut bigger = vm_body(&nic);
    bigger["properties"]["hardwareProfile"]["vmSize"] = json!("Standard_B2s");
    let (s, _, refused) = put_vm(&fabrikam, &url, bigger, &aux).await;

    assert_eq!(s, 409, "{refused}");
    assert_eq!(refused["error"]["code"], "Conflict");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("The request failed due to conflict with a concurrent request."),
        "{refused}"
    );
    let (_, _, now) = fabrikam.get(&url).await;
    assert_eq!(
        now["properties"]["hardwareProfile"]["vmSize"], "Standard_D2s_v5",
        "the refused PUT changed nothing"
    );
}

#[tokio::test]
async fn if_none_match_star_on_an_existing_vm_is_refused_with_412_and_changes_nothing() {
    let sim = start_demo().await;
    let (fabrikam, aux, nic) = ready_for_a_vm(&sim).await;
    let url = format!("{}?api-version=2024-07-01", vm("a"));
    let (s, _, created) = put_vm(&fabrikam, &url, vm_body(&nic), &aux).await;
    assert_eq!(s, 201, "{created}");
    assert_eq!(created["etag"], "\"1\"", "Compute's counter etag");
    let (_, _, before) = fabrikam.get(&url).await;

    let mut other = vm_body(&nic);
    other["tags"] = json!({"owner": "someone else"});
    let (s, _, refused) = fabrikam
        .send(
            Method::PUT,
            &url,
            Some(other),
            &[
                ("x-ms-authorization-auxiliary", &aux),
                ("if-none-match", "*"),
            ],
        )
        .await;

    assert_eq!(s, 412, "{refused}");
    assert_eq!(refused["error"]["code"], "PreconditionFailed");
    let (_, _, after) = fabrikam.get(&url).await;
    assert_eq!(after["tags"], before["tags"]);
    assert_eq!(after["etag"], before["etag"]);
}

#[tokio::test]
async fn if_none_match_star_creates_an_absent_vm() {
    let sim = start_demo().await;
    let (fabrikam, aux, nic) = ready_for_a_vm(&sim).await;
    let url = format!("{}?api-version=2024-07-01", vm("a"));
    let (s, _, created) = fabrikam
        .send(
            Method::PUT,
            &url,
            Some(vm_body(&nic)),
            &[
                ("x-ms-authorization-auxiliary", &aux),
                ("if-none-match", "*"),
            ],
        )
        .await;
    assert_eq!(s, 201, "{created}");
}

#[tokio::test]
async fn an_if_match_that_is_not_the_vms_etag_is_refused_with_412_in_computes_words() {
    let mut scenario = Scenario::demo().with_replication(Replication::none());
    scenario.arm.vm_provisioning_polls = 0;
    let sim = Sim::start(scenario).await.unwrap();
    let (fabrikam, aux, nic) = ready_for_a_vm(&sim).await;
    let url = format!("{}?api-version=2024-07-01", vm("a"));
    let (s, _, _) = put_vm(&fabrikam, &url, vm_body(&nic), &aux).await;
    assert_eq!(s, 201);
    let (_, _, done) = fabrikam.get(&url).await;
    assert_eq!(done["properties"]["provisioningState"], "Succeeded");

    let (s, _, refused) = fabrikam
        .send(
            Method::PUT,
            &url,
            Some(vm_body(&nic)),
            &[
                ("x-ms-authorization-auxiliary", &aux),
                ("if-match", "\"7\""),
            ],
        )
        .await;
    assert_eq!(s, 412, "{refused}");
    assert_eq!(refused["error"]["code"], "PreconditionFailed");
    assert_eq!(
        refused["error"]["message"],
        "Etag provided in if-match header \"7\" does not match etag \"1\" of resource."
    );

    let (s, _, updated) = fabrikam
        .send(
            Method::PUT,
            &url,
            Some(vm_body(&nic)),
            &[
                ("x-ms-authorization-auxiliary", &aux),
                ("if-match", "\"1\""),
            ],
        )
        .await;
    assert_eq!(s, 200, "{updated}");
    assert_eq!(updated["etag"], "\"2\"");
}

#[tokio::test]
async fn a_network_put_while_its_operation_still_runs_is_refused_with_another_operation_in_progress()
 {
    let sim = start_demo().await;
    let fabrikam = common::arm_as_fabrikam_admin(&sim).await;
    let url = format!(
        "{}/providers/Microsoft.Network/networkSecurityGroups/nsg?api-version=2024-05-01",
        rg()
    );
    let (s, h, _) = fabrikam.put(&url, nsg_body()).await;
    assert_eq!(s, 201);
    let poll = hv(&h, "azure-asyncoperation").unwrap();

    let (s, _, refused) = fabrikam
        .put(
            &url,
            json!({"location": "eastus", "properties": {"securityRules": []}}),
        )
        .await;

    assert_eq!(s, 409, "{refused}");
    assert_eq!(refused["error"]["code"], "AnotherOperationInProgress");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("Another operation on this or dependent resource is in progress. To retrieve status of the operation use uri: "),
        "{message}"
    );
    assert!(
        message.contains(&poll),
        "names the running operation: {message}"
    );
    // Once the operation has ended, the same PUT is accepted.
    loop {
        let (_, _, status) = fabrikam.get(&poll).await;
        if status["status"] != "InProgress" {
            break;
        }
    }
    let (s, _, _) = fabrikam
        .put(
            &url,
            json!({"location": "eastus", "properties": {"securityRules": []}}),
        )
        .await;
    assert_eq!(s, 200);
}

/// Resource Manager's ids on one answer: `x-ms-request-id` (a GUID), `x-ms-correlation-request-id`
/// (the caller's when it sent one, else a GUID of ARM's own, not the request id, as recorded)
/// and `x-ms-routing-request-id` ending with the correlation id. Returns the correlation id.
fn arm_ids(what: &str, h: &reqwest::header::HeaderMap, sent: Option<&str>) -> String {
    let request_id =
        hv(h, "x-ms-request-id").unwrap_or_else(|| panic!("{what}: no x-ms-request-id"));
    assert!(
        uuid::Uuid::parse_str(&request_id).is_ok(),
        "{what}: x-ms-request-id {request_id}"
    );
    let correlation = hv(h, "x-ms-correlation-request-id")
        .unwrap_or_else(|| panic!("{what}: no x-ms-correlation-request-id"));
    if let Some(s) = sent {
        assert_eq!(
            correlation, s,
            "{what}: the caller's correlation id is echoed"
        );
    } else {
        assert!(
            uuid::Uuid::parse_str(&correlation).is_ok(),
            "{what}: x-ms-correlation-request-id {correlation}"
        );
        assert_ne!(
            correlation, request_id,
            "{what}: ARM's own correlation id is not the request id"
        );
    }
    let routing = hv(h, "x-ms-routing-request-id")
        .unwrap_or_else(|| panic!("{what}: no x-ms-routing-request-id"));
    assert!(
        routing.ends_with(&format!(":{correlation}")),
        "{what}: {routing}"
    );
    correlation
}

#[tokio::test]
async fn every_resource_manager_answer_carries_its_request_and_correlation_ids() {
    let sim = start_demo().await;
    let (fabrikam, aux, nic) = ready_for_a_vm(&sim).await;
    let mine = "0f7c2a9e-5b1d-4c3e-8a6f-9d2e1b0c4a57";
    let with_id = [("x-ms-correlation-request-id", mine)];
    let mut seen = vec![];

    let net = format!("{}/providers/Microsoft.Network", rg());
    let nsg_url = format!("{net}/networkSecurityGroups/ids?api-version=2024-05-01");
    let (s, h, body) = fabrikam
        .send(Method::PUT, &nsg_url, Some(nsg_body()), &with_id)
        .await;
    assert_eq!(s, 201, "{body}");
    seen.push(arm_ids("NSG PUT", &h, Some(mine)));
    let (s, h, _) = fabrikam.get(&hv(&h, "azure-asyncoperation").unwrap()).await;
    assert_eq!(s, 200);
    seen.push(arm_ids("NSG poll", &h, None));

    let vm_url = format!("{}?api-version=2024-07-01", vm("ids"));
    let (s, h, body) = put_vm(&fabrikam, &vm_url, vm_body(&nic), &aux).await;
    assert_eq!(s, 201, "{body}");
    seen.push(arm_ids("VM PUT", &h, None));
    let (s, h, _) = fabrikam.get(&hv(&h, "azure-asyncoperation").unwrap()).await;
    assert_eq!(s, 200);
    seen.push(arm_ids("VM poll", &h, None));
    let (s, h, _) = fabrikam.get(&vm_url).await;
    assert_eq!(s, 200);
    seen.push(arm_ids("VM GET", &h, None));

    let (s, h, _) = fabrikam.send(Method::DELETE, &vm_url, None, &with_id).await;
    assert_eq!(s, 202);
    seen.push(arm_ids("VM DELETE", &h, Some(mine)));
    let (async_op, monitor) = (
        hv(&h, "azure-asyncoperation").unwrap(),
        hv(&h, "location").unwrap(),
    );
    let (s, h, _) = fabrikam.get(&async_op).await;
    assert_eq!(s, 200);
    seen.push(arm_ids("VM DELETE poll", &h, None));
    let (s, h, _) = fabrikam.get(&monitor).await;
    assert_eq!(s, 200);
    seen.push(arm_ids("VM DELETE monitor", &h, None));
    let (s, h, _) = fabrikam.delete(&vm_url).await;
    assert_eq!(s, 204, "deleting an absent VM");
    seen.push(arm_ids("VM DELETE again", &h, None));

    let nic_url = format!("{nic}?api-version=2024-05-01");
    let (s, h, _) = fabrikam.delete(&nic_url).await;
    assert_eq!(s, 202);
    seen.push(arm_ids("NIC DELETE", &h, None));
    let (s, h, _) = fabrikam.get(&hv(&h, "location").unwrap()).await;
    assert!(s == 202 || s == 204, "{s}");
    seen.push(arm_ids("NIC DELETE result", &h, None));
    let (s, h, _) = fabrikam.delete(&nic_url).await;
    assert_eq!(s, 204, "deleting an absent NIC");
    seen.push(arm_ids("NIC DELETE again", &h, None));
    for url in [
        nsg_url.clone(),
        format!("{net}/virtualNetworks/v?api-version=2024-05-01"),
    ] {
        let (s, h, body) = fabrikam.delete(&url).await;
        assert_eq!(s, 202, "{url}: {body}");
        seen.push(arm_ids("network DELETE", &h, None));
        let (s, h, _) = fabrikam.delete(&url).await;
        assert_eq!(s, 204, "{url} again");
        seen.push(arm_ids("network DELETE again", &h, None));
    }

    let operator = arm_as_operator(&sim).await;
    // Reader on the gallery (ready_for_a_vm granted it on the image definition already).
    let grant = role_assignment(demo::GALLERY_ID, uuid::Uuid::new_v4());
    let state = sim.state();
    let app = state
        .applications
        .iter()
        .find(|a| a.display_name == "share-fabrikam")
        .unwrap();
    let contoso_sp = state
        .service_principals
        .iter()
        .find(|s| s.app_id == app.app_id && s.tenant == demo::CONTOSO_TENANT)
        .unwrap()
        .id
        .clone();
    let (s, h, _) = operator.put(&grant, reader_on_image(&contoso_sp)).await;
    assert_eq!(s, 201);
    seen.push(arm_ids("role assignment PUT", &h, None));
    let (s, h, _) = operator.send(Method::DELETE, &grant, None, &with_id).await;
    assert_eq!(s, 200);
    seen.push(arm_ids("role assignment DELETE", &h, Some(mine)));
    let (s, h, _) = operator.delete(&grant).await;
    assert_eq!(s, 204, "deleting an absent role assignment");
    seen.push(arm_ids("role assignment DELETE again", &h, None));

    let (s, h, _) = fabrikam.get(&vm_url).await;
    assert_eq!(s, 404);
    seen.push(arm_ids("404", &h, None));
    sim.add_fault(azure_sim::Fault::new("management.azure.com", &vm("*"), 503).times(2));
    let (s, h, _) = fabrikam.send(Method::GET, &vm_url, None, &with_id).await;
    assert_eq!(s, 503);
    seen.push(arm_ids("injected 503", &h, Some(mine)));
    let (s, h, _) = fabrikam.delete(&vm_url).await;
    assert_eq!(s, 503);
    seen.push(arm_ids("injected 503 without a correlation id", &h, None));

    let own: Vec<_> = seen.iter().filter(|c| c.as_str() != mine).collect();
    let distinct: std::collections::HashSet<_> = own.iter().collect();
    assert_eq!(
        distinct.len(),
        own.len(),
        "each call gets its own correlation id"
    );
}
