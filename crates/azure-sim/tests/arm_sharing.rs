//! Direct shared gallery: the owner shares with a subscription or a tenant, the consumer sees
//! the image under `sharedGalleries` and boots a VM from `sharedGalleryImageId` without any
//! auxiliary token; removing the share takes it away again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use azure_sim::{Sim, scenario::demo};
use common::{
    arm_as_contoso_admin, arm_as_fabrikam_admin, arm_as_operator, demo_scenario, fabrikam_rg, hv,
    start_demo, vnet_and_nic,
};
use serde_json::{Value, json};

const V: &str = "api-version=2025-03-03";

fn share(operation: &str, groups: &Value) -> Value {
    json!({"operationType": operation, "groups": groups})
}

fn shared_id() -> String {
    format!(
        "/SharedGalleries/{}/Images/ubuntu-hardened/Versions/1.0.0",
        demo::GALLERY_UNIQUE_NAME
    )
}

fn vm(image: &Value, nic: &str, location: &str) -> Value {
    json!({"location": location, "properties": {
        "hardwareProfile": {"vmSize": "Standard_B2s"},
        "storageProfile": {"imageReference": image},
        "osProfile": {"computerName": "shared", "adminUsername": "azureuser", "adminPassword": "never-echoed-Pa55!"},
        "networkProfile": {"networkInterfaces": [{"id": nic}]}}})
}

/// The URL of the consumer's VM `name`.
fn vm_url(name: &str) -> String {
    format!(
        "{}/providers/Microsoft.Compute/virtualMachines/{name}?api-version=2024-07-01",
        fabrikam_rg()
    )
}

#[tokio::test]
async fn a_gallery_shared_with_a_subscription_boots_vms_there_without_an_auxiliary_token() {
    let sim = start_demo().await;
    let owner = arm_as_contoso_admin(&sim).await;
    let consumer = arm_as_fabrikam_admin(&sim).await;
    let to_fabrikam = json!([{"type": "Subscriptions", "ids": [demo::FABRIKAM_SUBSCRIPTION]}]);
    let share_url = format!("{}/share?{V}", demo::GALLERY_ID);

    let operator = arm_as_operator(&sim).await;
    let (s, _, body) = operator.post(&share_url, share("Add", &to_fabrikam)).await;
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
    let (s, _, body) = owner.post(&share_url, share("Add", &to_fabrikam)).await;
    assert_eq!(s, 400, "a Private gallery cannot be shared: {body}");

    let (s, _, gallery) = owner
        .put(
            &format!("{}?{V}", demo::GALLERY_ID),
            json!({"location": "eastus", "properties": {"sharingProfile": {"permissions": "Groups"}}}),
        )
        .await;
    assert_eq!(s, 200, "{gallery}");
    assert_eq!(
        gallery["properties"]["identifier"]["uniqueName"],
        demo::GALLERY_UNIQUE_NAME,
        "the unique name survives an update"
    );
    let (s, headers, body) = owner.post(&share_url, share("Add", &to_fabrikam)).await;
    assert_eq!((s, body), (202, Value::Null));
    let poller = hv(&headers, "azure-asyncoperation").unwrap();
    let monitor = hv(&headers, "location").unwrap();
    assert!(poller.contains("/capsOperations/") && monitor.contains("monitor=true"));
    assert!(
        hv(&headers, "x-ms-ratelimit-remaining-resource")
            .unwrap()
            .starts_with("Microsoft.Compute/PostShareGallery3Min;9,")
    );
    let (_, _, status) = owner.get(&poller).await;
    assert_eq!(status["status"], "Succeeded");
    let (s, _, empty) = owner.get(&monitor).await;
    assert_eq!((s, empty), (200, Value::Null));
    let (_, _, with_groups) = owner
        .get(&format!("{}?{V}&$select=Permissions", demo::GALLERY_ID))
        .await;
    assert_eq!(
        with_groups["properties"]["sharingProfile"]["groups"],
        to_fabrikam
    );

    let loc = format!(
        "/subscriptions/{}/providers/Microsoft.Compute/locations/eastus/sharedGalleries",
        demo::FABRIKAM_SUBSCRIPTION
    );
    let (s, _, list) = consumer.get(&format!("{loc}?{V}")).await;
    assert_eq!(s, 200, "{list}");
    assert_eq!(
        list["value"][0]["identifier"]["uniqueId"],
        format!("/SharedGalleries/{}", demo::GALLERY_UNIQUE_NAME)
    );
    let (s, _, version) = consumer
        .get(&format!(
            "{loc}/{}/images/ubuntu-hardened/versions/1.0.0?{V}",
            demo::GALLERY_UNIQUE_NAME
        ))
        .await;
    assert_eq!(s, 200, "{version}");
    assert_eq!(version["identifier"]["uniqueId"], shared_id());
    assert!(
        version.get("id").is_none() && version["properties"].get("provisioningState").is_none(),
        "the consumer view is minimal"
    );
    let (_, _, image) = consumer
        .get(&format!(
            "{loc}/{}/images/ubuntu-hardened?{V}",
            demo::GALLERY_UNIQUE_NAME
        ))
        .await;
    assert_eq!(image["properties"]["osType"], "Linux");

    let nic = vnet_and_nic(&consumer, &fabrikam_rg(), "10.1").await;
    assert_eq!(
        nic["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"],
        "10.1.0.4"
    );
    let nic = nic["id"].as_str().unwrap().to_owned();
    let shared = json!({"sharedGalleryImageId": shared_id()});
    let (s, _, body) = consumer
        .put(
            &vm_url("wrongfield"),
            vm(&json!({"id": shared_id()}), &nic, "eastus"),
        )
        .await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (400, Some("LinkedInvalidPropertyId")),
        "{body}"
    );
    let (s, _, body) = consumer
        .put(&vm_url("far"), vm(&shared, &nic, "japaneast"))
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
    let (s, _, created) = consumer
        .put(&vm_url("shared"), vm(&shared, &nic, "eastus"))
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

    let (s, _, _) = owner.post(&share_url, share("Remove", &to_fabrikam)).await;
    assert_eq!(s, 202);
    let (s, _, _) = consumer
        .get(&format!("{loc}/{}?{V}", demo::GALLERY_UNIQUE_NAME))
        .await;
    assert_eq!(s, 404, "no longer shared");
    let (s, _, body) = consumer
        .put(&vm_url("late"), vm(&shared, &nic, "eastus"))
        .await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (404, Some("GalleryImageNotFound"))
    );
}

#[tokio::test]
async fn a_tenant_share_lists_under_shared_to_tenant_and_reset_clears_every_group() {
    let mut scenario = demo_scenario();
    scenario.galleries[0].sharing_permissions = "Groups".into();
    let sim = Sim::start(scenario).await.unwrap();
    let owner = arm_as_contoso_admin(&sim).await;
    let consumer = arm_as_fabrikam_admin(&sim).await;
    let share_url = format!("{}/share?{V}", demo::GALLERY_ID);
    let to_tenant = json!([{"type": "AADTenants", "ids": [demo::FABRIKAM_TENANT]}]);
    let (s, _, _) = owner.post(&share_url, share("Add", &to_tenant)).await;
    assert_eq!(s, 202);
    let loc = format!(
        "/subscriptions/{}/providers/Microsoft.Compute/locations/westeurope/sharedGalleries",
        demo::FABRIKAM_SUBSCRIPTION
    );
    let (_, _, by_subscription) = consumer.get(&format!("{loc}?{V}")).await;
    assert_eq!(by_subscription["value"], json!([]));
    let (_, _, by_tenant) = consumer.get(&format!("{loc}?{V}&sharedTo=tenant")).await;
    assert_eq!(
        by_tenant["value"].as_array().unwrap().len(),
        1,
        "replicated to West Europe, so listed there: {by_tenant}"
    );
    let reset = json!({"operationType": "Reset"});
    let (s, _, _) = owner.post(&share_url, reset.clone()).await;
    assert_eq!(s, 202);
    let (_, _, after) = consumer.get(&format!("{loc}?{V}&sharedTo=tenant")).await;
    assert_eq!(after["value"], json!([]));
    let (_, _, gallery) = owner
        .get(&format!("{}?{V}&$select=Permissions", demo::GALLERY_ID))
        .await;
    assert_eq!(gallery["properties"]["sharingProfile"]["groups"], json!([]));

    // Compute's share quota is tiny: ten per three minutes.
    for _ in 0..8 {
        let (s, _, _) = owner.post(&share_url, reset.clone()).await;
        assert_eq!(s, 202);
    }
    let (s, headers, body) = owner.post(&share_url, reset).await;
    assert_eq!(s, 429, "{body}");
    assert!(hv(&headers, "retry-after").is_some());
    assert!(
        hv(&headers, "x-ms-ratelimit-remaining-resource")
            .unwrap()
            .contains("PostShareGallery3Min;0")
    );
}
