//! Direct shared gallery: the owner shares with a subscription or a tenant, the consumer sees
//! the image under `sharedGalleries` and boots a VM from `sharedGalleryImageId` without any
//! auxiliary token; removing the share takes it away again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use azure_sim::{Replication, Scenario, Sim, scenario::demo};
use common::{arm, hv, operator_token, user_arm_token};
use reqwest::Method;
use serde_json::{Value, json};

const V: &str = "api-version=2025-03-03";

fn share(operation: &str, groups: &Value) -> Value {
    json!({"operationType": operation, "groups": groups})
}

fn fabrikam_rg() -> String {
    format!(
        "/subscriptions/{}/resourceGroups/{}",
        demo::FABRIKAM_SUBSCRIPTION,
        demo::FABRIKAM_RESOURCE_GROUP
    )
}

fn shared_id() -> String {
    format!(
        "/SharedGalleries/{}/Images/ubuntu-hardened/Versions/1.0.0",
        demo::GALLERY_UNIQUE_NAME
    )
}

async fn nic(sim: &Sim, token: &str) -> String {
    let net = format!("{}/providers/Microsoft.Network", fabrikam_rg());
    let vnet = json!({"location": "eastus", "properties": {"addressSpace": {"addressPrefixes": ["10.1.0.0/16"]}, "subnets": [{"name": "default", "properties": {"addressPrefix": "10.1.0.0/24"}}]}});
    let (s, _, vnet) = arm(
        sim,
        Method::PUT,
        &format!("{net}/virtualNetworks/v?api-version=2024-05-01"),
        token,
        Some(vnet),
        &[],
    )
    .await;
    assert_eq!(s, 201);
    let nic = json!({"location": "eastus", "properties": {"ipConfigurations": [{"name": "ip", "properties": {"subnet": {"id": vnet["properties"]["subnets"][0]["id"]}}}]}});
    let (s, _, nic) = arm(
        sim,
        Method::PUT,
        &format!("{net}/networkInterfaces/n?api-version=2024-05-01"),
        token,
        Some(nic),
        &[],
    )
    .await;
    assert_eq!(s, 201);
    assert_eq!(
        nic["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"],
        "10.1.0.4"
    );
    nic["id"].as_str().unwrap().to_owned()
}

fn vm(image: &Value, nic: &str, location: &str) -> Value {
    json!({"location": location, "properties": {
        "hardwareProfile": {"vmSize": "Standard_B2s"},
        "storageProfile": {"imageReference": image},
        "osProfile": {"computerName": "shared", "adminUsername": "azureuser", "adminPassword": "never-echoed-Pa55!"},
        "networkProfile": {"networkInterfaces": [{"id": nic}]}}})
}

#[tokio::test]
async fn a_gallery_shared_with_a_subscription_boots_vms_there_without_an_auxiliary_token() {
    let sim = Sim::start(Scenario::demo().with_replication(Replication::none()))
        .await
        .unwrap();
    let owner = user_arm_token(
        &sim,
        demo::CONTOSO_TENANT,
        demo::CONTOSO_ADMIN_UPN,
        demo::CONTOSO_ADMIN_PASSWORD,
    )
    .await;
    let consumer = user_arm_token(
        &sim,
        demo::FABRIKAM_TENANT,
        demo::FABRIKAM_ADMIN_UPN,
        demo::FABRIKAM_ADMIN_PASSWORD,
    )
    .await;
    let to_fabrikam = json!([{"type": "Subscriptions", "ids": [demo::FABRIKAM_SUBSCRIPTION]}]);
    let share_url = format!("{}/share?{V}", demo::GALLERY_ID);

    let operator = operator_token(&sim, "https://management.azure.com").await;
    let (s, _, body) = arm(
        &sim,
        Method::POST,
        &share_url,
        &operator,
        Some(share("Add", &to_fabrikam)),
        &[],
    )
    .await;
    assert_eq!(
        s, 403,
        "Reader and RBAC Administrator may not share: {body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("'Microsoft.Compute/galleries/share/action'")
    );
    let (s, _, body) = arm(
        &sim,
        Method::POST,
        &share_url,
        &owner,
        Some(share("Add", &to_fabrikam)),
        &[],
    )
    .await;
    assert_eq!(s, 400, "a Private gallery cannot be shared: {body}");

    let (s, _, gallery) = arm(&sim, Method::PUT, &format!("{}?{V}", demo::GALLERY_ID), &owner, Some(json!({"location": "eastus", "properties": {"sharingProfile": {"permissions": "Groups"}}})), &[]).await;
    assert_eq!(s, 200, "{gallery}");
    assert_eq!(
        gallery["properties"]["identifier"]["uniqueName"],
        demo::GALLERY_UNIQUE_NAME,
        "the unique name survives an update"
    );
    let (s, headers, body) = arm(
        &sim,
        Method::POST,
        &share_url,
        &owner,
        Some(share("Add", &to_fabrikam)),
        &[],
    )
    .await;
    assert_eq!((s, body), (202, Value::Null));
    let poller = hv(&headers, "azure-asyncoperation").unwrap();
    let monitor = hv(&headers, "location").unwrap();
    assert!(poller.contains("/capsOperations/") && monitor.contains("monitor=true"));
    assert!(
        hv(&headers, "x-ms-ratelimit-remaining-resource")
            .unwrap()
            .starts_with("Microsoft.Compute/PostShareGallery3Min;9,")
    );
    let (_, _, status) = arm(&sim, Method::GET, &poller, &owner, None, &[]).await;
    assert_eq!(status["status"], "Succeeded");
    let (s, _, empty) = arm(&sim, Method::GET, &monitor, &owner, None, &[]).await;
    assert_eq!((s, empty), (200, Value::Null));
    let (_, _, with_groups) = arm(
        &sim,
        Method::GET,
        &format!("{}?{V}&$select=Permissions", demo::GALLERY_ID),
        &owner,
        None,
        &[],
    )
    .await;
    assert_eq!(
        with_groups["properties"]["sharingProfile"]["groups"],
        to_fabrikam
    );

    let loc = format!(
        "/subscriptions/{}/providers/Microsoft.Compute/locations/eastus/sharedGalleries",
        demo::FABRIKAM_SUBSCRIPTION
    );
    let (s, _, list) = arm(
        &sim,
        Method::GET,
        &format!("{loc}?{V}"),
        &consumer,
        None,
        &[],
    )
    .await;
    assert_eq!(s, 200, "{list}");
    assert_eq!(
        list["value"][0]["identifier"]["uniqueId"],
        format!("/SharedGalleries/{}", demo::GALLERY_UNIQUE_NAME)
    );
    let (s, _, version) = arm(
        &sim,
        Method::GET,
        &format!(
            "{loc}/{}/images/ubuntu-hardened/versions/1.0.0?{V}",
            demo::GALLERY_UNIQUE_NAME
        ),
        &consumer,
        None,
        &[],
    )
    .await;
    assert_eq!(s, 200, "{version}");
    assert_eq!(version["identifier"]["uniqueId"], shared_id());
    assert!(
        version.get("id").is_none() && version["properties"].get("provisioningState").is_none(),
        "the consumer view is minimal"
    );
    let (_, _, image) = arm(
        &sim,
        Method::GET,
        &format!(
            "{loc}/{}/images/ubuntu-hardened?{V}",
            demo::GALLERY_UNIQUE_NAME
        ),
        &consumer,
        None,
        &[],
    )
    .await;
    assert_eq!(image["properties"]["osType"], "Linux");

    let nic = nic(&sim, &consumer).await;
    let rg = fabrikam_rg();
    let (s, _, body) = arm(
        &sim,
        Method::PUT,
        &format!(
            "{rg}/providers/Microsoft.Compute/virtualMachines/wrongfield?api-version=2024-07-01"
        ),
        &consumer,
        Some(vm(&json!({"id": shared_id()}), &nic, "eastus")),
        &[],
    )
    .await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (400, Some("LinkedInvalidPropertyId")),
        "{body}"
    );
    let (s, _, body) = arm(
        &sim,
        Method::PUT,
        &format!("{rg}/providers/Microsoft.Compute/virtualMachines/far?api-version=2024-07-01"),
        &consumer,
        Some(vm(
            &json!({"sharedGalleryImageId": shared_id()}),
            &nic,
            "japaneast",
        )),
        &[],
    )
    .await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (404, Some("GalleryImageNotFound")),
        "not replicated to Japan East: {body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("is not available in japaneast region")
    );
    let vm_url =
        format!("{rg}/providers/Microsoft.Compute/virtualMachines/shared?api-version=2024-07-01");
    let (s, _, created) = arm(
        &sim,
        Method::PUT,
        &vm_url,
        &consumer,
        Some(vm(
            &json!({"sharedGalleryImageId": shared_id()}),
            &nic,
            "eastus",
        )),
        &[],
    )
    .await;
    assert_eq!(s, 201, "no auxiliary token needed: {created}");
    assert_eq!(
        created["properties"]["storageProfile"]["imageReference"]["exactVersion"],
        "1.0.0"
    );
    assert!(
        !created.to_string().contains("never-echoed"),
        "adminPassword is never echoed"
    );

    let (s, _, _) = arm(
        &sim,
        Method::POST,
        &share_url,
        &owner,
        Some(share("Remove", &to_fabrikam)),
        &[],
    )
    .await;
    assert_eq!(s, 202);
    let (s, _, _) = arm(
        &sim,
        Method::GET,
        &format!("{loc}/{}?{V}", demo::GALLERY_UNIQUE_NAME),
        &consumer,
        None,
        &[],
    )
    .await;
    assert_eq!(s, 404, "no longer shared");
    let (s, _, body) = arm(
        &sim,
        Method::PUT,
        &format!("{rg}/providers/Microsoft.Compute/virtualMachines/late?api-version=2024-07-01"),
        &consumer,
        Some(vm(
            &json!({"sharedGalleryImageId": shared_id()}),
            &nic,
            "eastus",
        )),
        &[],
    )
    .await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (404, Some("GalleryImageNotFound"))
    );
}

#[tokio::test]
async fn a_tenant_share_lists_under_shared_to_tenant_and_reset_clears_every_group() {
    let mut scenario = Scenario::demo().with_replication(Replication::none());
    scenario.galleries[0].sharing_permissions = "Groups".into();
    let sim = Sim::start(scenario).await.unwrap();
    let owner = user_arm_token(
        &sim,
        demo::CONTOSO_TENANT,
        demo::CONTOSO_ADMIN_UPN,
        demo::CONTOSO_ADMIN_PASSWORD,
    )
    .await;
    let consumer = user_arm_token(
        &sim,
        demo::FABRIKAM_TENANT,
        demo::FABRIKAM_ADMIN_UPN,
        demo::FABRIKAM_ADMIN_PASSWORD,
    )
    .await;
    let share_url = format!("{}/share?{V}", demo::GALLERY_ID);
    let (s, _, _) = arm(
        &sim,
        Method::POST,
        &share_url,
        &owner,
        Some(share(
            "Add",
            &json!([{"type": "AADTenants", "ids": [demo::FABRIKAM_TENANT]}]),
        )),
        &[],
    )
    .await;
    assert_eq!(s, 202);
    let loc = format!(
        "/subscriptions/{}/providers/Microsoft.Compute/locations/westeurope/sharedGalleries",
        demo::FABRIKAM_SUBSCRIPTION
    );
    let (_, _, by_subscription) = arm(
        &sim,
        Method::GET,
        &format!("{loc}?{V}"),
        &consumer,
        None,
        &[],
    )
    .await;
    assert_eq!(by_subscription["value"], json!([]));
    let (_, _, by_tenant) = arm(
        &sim,
        Method::GET,
        &format!("{loc}?{V}&sharedTo=tenant"),
        &consumer,
        None,
        &[],
    )
    .await;
    assert_eq!(
        by_tenant["value"].as_array().unwrap().len(),
        1,
        "replicated to West Europe, so listed there: {by_tenant}"
    );
    let (s, _, _) = arm(
        &sim,
        Method::POST,
        &share_url,
        &owner,
        Some(json!({"operationType": "Reset"})),
        &[],
    )
    .await;
    assert_eq!(s, 202);
    let (_, _, after) = arm(
        &sim,
        Method::GET,
        &format!("{loc}?{V}&sharedTo=tenant"),
        &consumer,
        None,
        &[],
    )
    .await;
    assert_eq!(after["value"], json!([]));
    let (_, _, gallery) = arm(
        &sim,
        Method::GET,
        &format!("{}?{V}&$select=Permissions", demo::GALLERY_ID),
        &owner,
        None,
        &[],
    )
    .await;
    assert_eq!(gallery["properties"]["sharingProfile"]["groups"], json!([]));

    // Compute's share quota is tiny: ten per three minutes.
    for _ in 0..8 {
        let (s, _, _) = arm(
            &sim,
            Method::POST,
            &share_url,
            &owner,
            Some(json!({"operationType": "Reset"})),
            &[],
        )
        .await;
        assert_eq!(s, 202);
    }
    let (s, headers, body) = arm(
        &sim,
        Method::POST,
        &share_url,
        &owner,
        Some(json!({"operationType": "Reset"})),
        &[],
    )
    .await;
    assert_eq!(s, 429, "{body}");
    assert!(hv(&headers, "retry-after").is_some());
    assert!(
        hv(&headers, "x-ms-ratelimit-remaining-resource")
            .unwrap()
            .contains("PostShareGallery3Min;0")
    );
}
