//! Replays of the recorded Resource Manager traffic: role definitions and a role assignment
//! (azure-cli `create-for-rbac`), VNet/subnet/NIC/VM with their pollers (azure-sdk-for-js
//! compute test), a gallery with an image version shared to a subscription and a tenant and
//! read back through the consumer view (azure-cli `sig share`), and Lighthouse definitions
//! and assignments (azure-cli `managedservices`).

use azure_sim::{
    Sim,
    scenario::{
        ManagedImageSpec, PlatformImageSpec, ResourceGroupSpec, RoleAssignmentSpec,
        SubscriptionSpec, TenantSpec, demo,
    },
};
use serde_json::json;

use crate::{
    common::{self, arm, hv, operator_token},
    harness::{Ids, Interaction, Replay, assert_clean, load_json, load_yaml},
    sanitized_tenant_scenario,
};

/// The subscription azure-cli's recordings are sanitized to.
const CLI_SUBSCRIPTION: &str = "00000000-0000-0000-0000-000000000000";

const ARM_EXACT: [&str; 1] = ["content-type"];
const ARM_PRESENT: [&str; 6] = [
    "x-ms-request-id",
    "x-ms-ratelimit-remaining-subscription-writes",
    "x-ms-ratelimit-remaining-subscription-reads",
    "x-ms-ratelimit-remaining-subscription-deletes",
    "cache-control",
    "strict-transport-security",
];

fn subscription(id: &str, tenant: &str, groups: &[&str]) -> SubscriptionSpec {
    SubscriptionSpec {
        id: id.into(),
        display_name: format!("recorded {id}"),
        tenant: tenant.into(),
        resource_groups: groups
            .iter()
            .map(|g| ResourceGroupSpec {
                name: (*g).into(),
                location: "eastus".into(),
            })
            .collect(),
        vm_sizes: Default::default(),
        // The recorded `sig share` ran in a subscription admitted to the direct sharing preview.
        registered_features: vec![demo::SIG_SHARING_FEATURE.into()],
    }
}

fn owner(principal: &str, subscription: &str) -> RoleAssignmentSpec {
    RoleAssignmentSpec {
        principal_id: principal.into(),
        role: "Owner".into(),
        scope: format!("/subscriptions/{subscription}"),
        ..RoleAssignmentSpec::default()
    }
}

/// azure-cli scrubs Authorization from its recordings; each ARM call carried one.
fn with_placeholder(interactions: Vec<Interaction>) -> Vec<Interaction> {
    interactions
        .into_iter()
        .map(|mut i| {
            i.request_headers
                .push(("Authorization".into(), "scrubbed".into()));
            i
        })
        .collect()
}

#[tokio::test]
async fn role_definitions_and_a_role_assignment_replay_like_the_create_for_rbac_recording() {
    let mut scenario = common::demo_scenario();
    scenario.subscriptions.push(subscription(
        CLI_SUBSCRIPTION,
        demo::CONTOSO_TENANT,
        &["cli_sp_create_for_rbac000001"],
    ));
    scenario
        .role_assignments
        .push(owner(demo::OPERATOR_PRINCIPAL_ID, CLI_SUBSCRIPTION));
    let sim = Sim::start(scenario).await.unwrap();
    let graph_token = operator_token(&sim, "https://graph.microsoft.com").await;
    let arm_token = operator_token(&sim, "https://management.azure.com").await;
    let replay = Replay {
        sim: &sim,
        authorization: Box::new(|i, _| {
            Some(if i.uri.starts_with("https://management.azure.com/") {
                format!("Bearer {arm_token}")
            } else {
                format!("Bearer {graph_token}")
            })
        }),
        skip: Box::new(|_| None),
        allowed_extra: &[
            "uniqueName",
            "nativeAuthenticationApisEnabled",
            "samlMetadataUrl",
            "servicePrincipalLockConfiguration",
            "requestSignatureVerification",
            "redirectUriSettings",
        ],
        exact_headers: &["content-type"],
        present_headers: &ARM_PRESENT,
        url_headers: &[],
        ignored: &[],
    };
    let interactions = with_placeholder(load_yaml(
        "test_create_for_rbac_with_password_with_assignment.yaml",
    ));
    let (n, diffs) = replay.run(&interactions).await;
    assert_clean(n, 7, &diffs);
    let state = sim.state();
    let sp = state
        .service_principals
        .iter()
        .find(|s| s.display_name.as_deref() == Some("cli_sp_create_for_rbac000001"))
        .unwrap();
    let a = state
        .role_assignments
        .iter()
        .find(|a| a.name == "88888888-0000-0000-0000-000000000001")
        .unwrap();
    assert_eq!(
        (a.principal_id.as_str(), a.role_name.as_str()),
        (sp.id.as_str(), "Reader")
    );
}

#[tokio::test]
async fn network_and_vm_creation_with_their_pollers_replay_like_the_sdk_recording() {
    let mut scenario = sanitized_tenant_scenario();
    scenario.subscriptions.push(subscription(
        "azure_subscription_id",
        crate::SANITIZED_TENANT,
        &["myjstest"],
    ));
    scenario.role_assignments.push(owner(
        "e0e0e0e0-0000-4000-8000-000000000000",
        "azure_subscription_id",
    ));
    scenario.platform_images.push(PlatformImageSpec {
        publisher: "MicrosoftWindowsServer".into(),
        offer: "WindowsServer".into(),
        sku: "2016-Datacenter".into(),
        version: "14393.5125.220505".into(),
        os_type: "Windows".into(),
        os_disk_size_gb: 127,
    });
    let sim = Sim::start(scenario).await.unwrap();
    let token = crate::managed_identity_token(&sim, "https://management.azure.com").await;
    let replay = Replay {
        sim: &sim,
        authorization: Box::new(|_, _| Some(format!("Bearer {token}"))),
        skip: Box::new(|_| None),
        allowed_extra: &[],
        exact_headers: &[
            "content-type",
            "azure-asyncoperation",
            "retry-after",
            "azure-asyncnotification",
        ],
        present_headers: &[
            "x-ms-request-id",
            "x-ms-correlation-request-id",
            "x-ms-routing-request-id",
            "x-ms-ratelimit-remaining-subscription-writes",
            "x-ms-ratelimit-remaining-subscription-reads",
            "x-ms-ratelimit-remaining-resource",
            "x-ms-arm-service-request-id",
        ],
        url_headers: &[],
        // Azure Policy tags Microsoft's own test subscription with these; ARM adds none.
        ignored: &["tags"],
    };
    let interactions = load_json("recording_virtualmachines_create_test.json");
    let (n, diffs) = replay.run(&interactions).await;
    assert_clean(n, 13, &diffs);
    let vm = sim
        .state()
        .resources_of_type("Microsoft.Compute/virtualMachines")
        .into_iter()
        .map(|r| r.provisioning_state.clone())
        .collect::<Vec<_>>();
    assert_eq!(vm, [Some("Succeeded".to_owned())]);
}

#[tokio::test]
async fn a_gallery_shared_to_a_subscription_and_a_tenant_replays_like_the_sig_share_recording() {
    const RG: &str = "clitest.rg000001";
    let mut scenario = sanitized_tenant_scenario();
    scenario.subscriptions.push(subscription(
        CLI_SUBSCRIPTION,
        crate::SANITIZED_TENANT,
        &[RG],
    ));
    scenario.role_assignments.push(owner(
        "e0e0e0e0-0000-4000-8000-000000000000",
        CLI_SUBSCRIPTION,
    ));
    let managed_image = format!(
        "/subscriptions/{CLI_SUBSCRIPTION}/resourceGroups/{RG}/providers/Microsoft.Compute/images/managedImage1"
    );
    // As the recorded version reports its source: a 30 GB OS disk and a 10 GB data disk.
    scenario.managed_images.push(ManagedImageSpec {
        id: managed_image.clone(),
        location: "eastus".into(),
        os_type: "Linux".into(),
        os_disk_size_gb: 30,
        data_disk_sizes_gb: vec![10],
    });
    let sim = Sim::start(scenario).await.unwrap();
    let token = crate::managed_identity_token(&sim, "https://management.azure.com").await;
    let replay = Replay {
        sim: &sim,
        authorization: Box::new(|_, _| Some(format!("Bearer {token}"))),
        skip: Box::new(|_| None),
        allowed_extra: &[],
        exact_headers: &["content-type", "azure-asyncoperation", "location"],
        present_headers: &["x-ms-ratelimit-remaining-resource"],
        url_headers: &[],
        ignored: &[],
    };
    let all = with_placeholder(load_yaml("test_create_vm_with_shared_gallery_image.yaml"));
    let mut ids = Ids::default();
    let (n, diffs) = replay.run_with(&mut ids, &all[..2]).await;
    assert_clean(n, 2, &diffs);

    // The excerpt leaves out the image definition and version PUTs; make them as azure-cli did
    // and learn the version's operation, which the next two recorded interactions poll.
    let gallery = format!(
        "/subscriptions/{CLI_SUBSCRIPTION}/resourceGroups/{RG}/providers/Microsoft.Compute/galleries/gellery000007"
    );
    let (status, _, _) = arm(
        &sim,
        reqwest::Method::PUT,
        &format!("{gallery}/images/image000008?api-version=2021-07-01"),
        &token,
        Some(json!({"location": "eastus", "properties": {
        "osType": "Linux", "osState": "Generalized", "hyperVGeneration": "V1",
        "identifier": {"publisher": "publisher1", "offer": "offer1", "sku": "sku1"}}})),
        &[],
    )
    .await;
    assert_eq!(status, 201);
    let (status, headers, _) = arm(&sim, reqwest::Method::PUT, &format!("{gallery}/images/image000008/versions/1.1.2?api-version=2021-07-01"), &token, Some(json!({"location": "eastus", "properties": {
        "publishingProfile": {"targetRegions": [{"name": "eastus", "regionalReplicaCount": 1}], "replicaCount": 1},
        "storageProfile": {"source": {"id": managed_image}}}})), &[]).await;
    assert_eq!(status, 201);
    let recorded_poll = &all[2].uri;
    ids.learn_str(
        recorded_poll,
        &hv(&headers, "azure-asyncoperation").unwrap(),
    );
    // azure-cli's sanitizer renamed the gallery but not the uniqueName derived from it.
    ids.learn_exact("GELLERYIYETCQAE3", "GELLERY000007");

    let (n, diffs) = replay.run_with(&mut ids, &all[2..]).await;
    assert_clean(n, 8, &diffs);
}

#[tokio::test]
async fn lighthouse_definitions_and_assignments_replay_like_the_managedservices_recording() {
    let managing = "bab3375b-6197-4a15-a44b-16c41faa91d7";
    let mut scenario = sanitized_tenant_scenario();
    // The recorded service names the managing tenant by its display name.
    scenario.tenants.push(TenantSpec {
        id: managing.into(),
        domain: "managing.onmicrosoft.com".into(),
        display_name: "Default Directory".into(),
    });
    scenario
        .subscriptions
        .push(subscription(CLI_SUBSCRIPTION, crate::SANITIZED_TENANT, &[]));
    scenario.role_assignments.push(owner(
        "e0e0e0e0-0000-4000-8000-000000000000",
        CLI_SUBSCRIPTION,
    ));
    let sim = Sim::start(scenario).await.unwrap();
    let token = crate::managed_identity_token(&sim, "https://management.azure.com").await;
    // The subscription already held the definition the final list shows.
    let (status, _, _) = arm(&sim, reqwest::Method::PUT, &format!("/subscriptions/{CLI_SUBSCRIPTION}/providers/Microsoft.ManagedServices/registrationDefinitions/cdf9b8f3-dce9-437c-b410-236987eff11b?api-version=2019-06-01"), &token, Some(json!({"properties": {
        "registrationDefinitionName": "clideftest", "managedByTenantId": managing,
        "authorizations": [{"principalId": "d6f6c88a-5b7a-455e-ba40-ce146d4d3671", "roleDefinitionId": "acdd72a7-3385-48ef-bd42-f606fba81ae7"}]}})), &[]).await;
    assert_eq!(status, 201);
    let replay = Replay {
        sim: &sim,
        authorization: Box::new(|_, _| Some(format!("Bearer {token}"))),
        skip: Box::new(|_| None),
        allowed_extra: &[],
        exact_headers: &ARM_EXACT,
        present_headers: &ARM_PRESENT,
        url_headers: &["azure-asyncoperation", "location"],
        ignored: &[],
    };
    let interactions = with_placeholder(load_yaml("test_managedservices_commands.yaml"));
    let (n, diffs) = replay.run(&interactions).await;
    assert_clean(n, 11, &diffs);
    assert!(
        sim.state()
            .resources_of_type("Microsoft.ManagedServices/registrationAssignments")
            .is_empty()
    );
}
