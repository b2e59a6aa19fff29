//! Direct shared gallery: the owner shares with a subscription or a tenant, the consumer sees
//! the image under `sharedGalleries` and boots a VM from `sharedGalleryImageId` without any
//! auxiliary token; removing the share takes it away again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use azure_sim::{PrincipalRef, RoleGrant, Sim, scenario::demo};
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

// ---------------------------------------------------------------------------------------------
// Sharing with a tenant (direct shared gallery), as `az sig share add --tenant-ids` does it.

const V2: &str = "api-version=2025-12-03";
const OTHER_TENANT: &str = "33333333-3333-4333-8333-333333333333";

/// The demo with its gallery created as `Groups` (the direct shared gallery kind).
fn groups_scenario() -> azure_sim::Scenario {
    let mut scenario = demo_scenario();
    scenario.galleries[0].sharing_permissions = "Groups".into();
    scenario
}

fn tenants(ids: &[&str]) -> Value {
    json!([{"type": "AADTenants", "ids": ids}])
}

fn share_url() -> String {
    format!("{}/share?{V2}", demo::GALLERY_ID)
}

/// The tenants the gallery is shared with, as the simulator holds them.
fn shared_tenants(sim: &Sim) -> Vec<String> {
    sim.state()
        .gallery_sharing(demo::GALLERY_ID)
        .expect("the demo gallery has a sharing profile")
        .tenants()
}

/// `.../locations/{loc}/sharedGalleries` of Fabrikam's subscription.
fn shared_galleries(location: &str) -> String {
    format!(
        "/subscriptions/{}/providers/Microsoft.Compute/locations/{location}/sharedGalleries",
        demo::FABRIKAM_SUBSCRIPTION
    )
}

fn tenant_invite(action: &str) -> String {
    format!(
        "/providers/Microsoft.Compute/locations/eastus/tenantLevelSharedGallerySubscriptions/{}/sharedGalleries/contosoGallery/{action}?{V2}",
        demo::CONTOSO_SUBSCRIPTION
    )
}

#[tokio::test]
async fn sharing_with_a_tenant_is_a_caps_operation_after_which_the_tenant_is_in_the_profile() {
    let sim = Sim::start(groups_scenario()).await.unwrap();
    let owner = arm_as_contoso_admin(&sim).await;
    sim.clear_requests();
    let (s, headers, body) = owner
        .post(
            &share_url(),
            share("Add", &tenants(&[demo::FABRIKAM_TENANT])),
        )
        .await;
    assert_eq!((s, &body), (202, &Value::Null), "as recorded: 202, no body");
    let poller = hv(&headers, "azure-asyncoperation").unwrap();
    let monitor = hv(&headers, "location").unwrap();
    assert!(
        poller.starts_with(&format!(
            "https://management.azure.com/subscriptions/{}/providers/Microsoft.Compute/locations/eastus/capsOperations/",
            demo::CONTOSO_SUBSCRIPTION
        )) && poller.ends_with("?api-version=2025-12-03"),
        "{poller}"
    );
    assert_eq!(
        monitor,
        poller.replace("?api-version=", "?monitor=true&api-version="),
        "the Location is the same operation with monitor=true"
    );
    let (s, _, status) = owner.get(&poller).await;
    assert_eq!(s, 200);
    assert_eq!(status["status"], "Succeeded");
    assert!(status["startTime"].is_string() && status["endTime"].is_string());
    assert_eq!(
        status["name"].as_str().unwrap(),
        poller
            .rsplit('/')
            .next()
            .unwrap()
            .split('?')
            .next()
            .unwrap()
    );
    let (s, _, empty) = owner.get(&monitor).await;
    assert_eq!((s, empty), (200, Value::Null));

    assert_eq!(shared_tenants(&sim), [demo::FABRIKAM_TENANT]);
    let (_, _, plain) = owner.get(&format!("{}?{V2}", demo::GALLERY_ID)).await;
    assert_eq!(
        plain["properties"]["sharingProfile"],
        json!({"permissions": "Groups"}),
        "a plain GET shows no groups"
    );
    assert_eq!(
        plain["properties"]["identifier"]["uniqueName"],
        format!("{}-CONTOSOGALLERY", demo::CONTOSO_SUBSCRIPTION)
    );
    for query in ["$select=Permissions", "$expand=SharingProfile/Groups"] {
        let (_, _, g) = owner
            .get(&format!("{}?{V2}&{query}", demo::GALLERY_ID))
            .await;
        assert_eq!(
            g["properties"]["sharingProfile"],
            json!({"permissions": "Groups", "groups": tenants(&[demo::FABRIKAM_TENANT])}),
            "{query}"
        );
    }
    let calls: Vec<(String, u16)> = sim
        .requests()
        .iter()
        .filter(|r| r.host == "management.azure.com")
        .map(|r| (r.method.clone(), r.status))
        .collect();
    assert_eq!(
        calls,
        [
            ("POST".to_owned(), 202),
            ("GET".to_owned(), 200),
            ("GET".to_owned(), 200),
            ("GET".to_owned(), 200),
            ("GET".to_owned(), 200),
            ("GET".to_owned(), 200)
        ],
        "every call is recorded"
    );
}

#[tokio::test]
async fn adding_a_tenant_twice_leaves_a_single_entry() {
    let sim = Sim::start(groups_scenario()).await.unwrap();
    let owner = arm_as_contoso_admin(&sim).await;
    for _ in 0..2 {
        let (s, _, body) = owner
            .post(
                &share_url(),
                share("Add", &tenants(&[demo::FABRIKAM_TENANT])),
            )
            .await;
        assert_eq!(s, 202, "{body}");
    }
    let (s, _, _) = owner
        .post(
            &share_url(),
            share("Add", &tenants(&[&demo::FABRIKAM_TENANT.to_uppercase()])),
        )
        .await;
    assert_eq!(s, 202);
    assert_eq!(
        shared_tenants(&sim),
        [demo::FABRIKAM_TENANT],
        "ids compare case-insensitively"
    );
}

#[tokio::test]
async fn removing_one_tenant_keeps_the_other_and_reset_clears_both() {
    let sim = Sim::start(groups_scenario()).await.unwrap();
    let owner = arm_as_contoso_admin(&sim).await;
    let (s, _, _) = owner
        .post(
            &share_url(),
            share("Add", &tenants(&[demo::FABRIKAM_TENANT, OTHER_TENANT])),
        )
        .await;
    assert_eq!(s, 202);
    let (s, _, _) = owner
        .post(
            &share_url(),
            share("Remove", &tenants(&[demo::FABRIKAM_TENANT])),
        )
        .await;
    assert_eq!(s, 202);
    assert_eq!(shared_tenants(&sim), [OTHER_TENANT]);
    let (s, _, _) = owner
        .post(&share_url(), json!({"operationType": "Reset"}))
        .await;
    assert_eq!(s, 202);
    let profile = sim
        .state()
        .gallery_sharing(demo::GALLERY_ID)
        .cloned()
        .unwrap();
    assert!(profile.groups.is_empty(), "{profile:?}");
    assert_eq!(profile.permissions, "Groups", "Reset keeps the permissions");
}

#[tokio::test]
async fn a_private_gallery_is_not_shared_and_the_refusal_names_its_permissions() {
    let sim = start_demo().await;
    let owner = arm_as_contoso_admin(&sim).await;
    let (s, _, body) = owner
        .post(
            &share_url(),
            share("Add", &tenants(&[demo::FABRIKAM_TENANT])),
        )
        .await;
    assert_eq!(s, 400, "{body}");
    assert_eq!(body["error"]["code"], "OperationNotAllowed");
    assert_eq!(
        body["error"]["message"],
        "Gallery sharing profile update is only allowed for a gallery whose sharingProfile.permissions is 'Groups'; 'contosoGallery' has 'Private'."
    );
    assert!(shared_tenants(&sim).is_empty());
}

#[tokio::test]
async fn a_sixth_tenant_is_refused_and_the_first_five_stay() {
    let sim = Sim::start(groups_scenario()).await.unwrap();
    let owner = arm_as_contoso_admin(&sim).await;
    let five: Vec<String> = (1..=5)
        .map(|i| format!("{i}{i}{i}{i}0000-0000-4000-8000-000000000000"))
        .collect();
    let five_refs: Vec<&str> = five.iter().map(String::as_str).collect();
    let (s, _, body) = owner
        .post(&share_url(), share("Add", &tenants(&five_refs)))
        .await;
    assert_eq!(s, 202, "five tenants are allowed: {body}");
    let (s, _, body) = owner
        .post(
            &share_url(),
            share("Add", &tenants(&[demo::FABRIKAM_TENANT])),
        )
        .await;
    assert_eq!(s, 400, "{body}");
    assert_eq!(body["error"]["code"], "OperationNotAllowed");
    assert_eq!(
        body["error"]["message"],
        "The gallery 'contosoGallery' can be shared with at most 5 tenants; this request would share it with 6."
    );
    assert_eq!(shared_tenants(&sim), five);
    let (s, _, _) = owner
        .post(&share_url(), share("Add", &tenants(&[&five[0]])))
        .await;
    assert_eq!(s, 202, "re-adding one already there is no sixth");
}

#[tokio::test]
async fn a_subscription_without_the_sigsharing_feature_neither_shares_nor_creates_a_groups_gallery()
{
    let mut scenario = groups_scenario();
    scenario.subscriptions[0].registered_features.clear();
    let sim = Sim::start(scenario).await.unwrap();
    let owner = arm_as_contoso_admin(&sim).await;
    let message = format!(
        "Subscription {} is not registered for feature Microsoft.Compute/SIGSharing required to carry out the requested operation.",
        demo::CONTOSO_SUBSCRIPTION
    );
    let (s, _, body) = owner
        .post(
            &share_url(),
            share("Add", &tenants(&[demo::FABRIKAM_TENANT])),
        )
        .await;
    assert_eq!(
        (s, &body["error"]["code"], &body["error"]["message"]),
        (
            400,
            &json!("SubscriptionNotRegisteredForFeature"),
            &json!(message)
        ),
        "{body}"
    );
    assert!(shared_tenants(&sim).is_empty());
    let gallery = format!(
        "{}/providers/Microsoft.Compute/galleries/newGallery?{V2}",
        common::images_rg()
    );
    let (s, _, body) = owner
        .put(
            &gallery,
            json!({"location": "eastus", "properties": {"sharingProfile": {"permissions": "Groups"}}}),
        )
        .await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (400, Some("SubscriptionNotRegisteredForFeature"))
    );
    let (s, _, _) = owner.put(&gallery, json!({"location": "eastus"})).await;
    assert_eq!(s, 201, "a Private gallery needs no feature");

    let feature = format!(
        "/subscriptions/{}/providers/Microsoft.Features/providers/Microsoft.Compute/features/SIGSharing",
        demo::CONTOSO_SUBSCRIPTION
    );
    let (s, _, body) = owner
        .get(&format!("{feature}?api-version=2021-07-01"))
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        body,
        json!({"id": feature, "name": "Microsoft.Compute/SIGSharing",
               "properties": {"state": "NotRegistered"}, "type": "Microsoft.Features/providers/features"})
    );
    let (s, _, body) = owner
        .post(
            &format!("{feature}/register?api-version=2021-07-01"),
            json!({}),
        )
        .await;
    assert_eq!(
        (s, &body["properties"]["state"]),
        (200, &json!("Pending")),
        "the preview waits for Microsoft's approval: {body}"
    );
    let (s, _, body) = owner
        .post(
            &share_url(),
            share("Add", &tenants(&[demo::FABRIKAM_TENANT])),
        )
        .await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (400, Some("SubscriptionNotRegisteredForFeature"))
    );
}

#[tokio::test]
async fn the_features_api_shows_sigsharing_registered_only_where_the_scenario_says() {
    let sim = start_demo().await;
    let owner = arm_as_contoso_admin(&sim).await;
    let consumer = arm_as_fabrikam_admin(&sim).await;
    let feature = |sub: &str, name: &str| {
        format!(
            "/subscriptions/{sub}/providers/Microsoft.Features/providers/Microsoft.Compute/features/{name}?api-version=2021-07-01"
        )
    };
    let (s, _, body) = owner
        .get(&feature(demo::CONTOSO_SUBSCRIPTION, "sigsharing"))
        .await;
    assert_eq!(s, 200);
    assert_eq!(body["properties"]["state"], "Registered");
    assert_eq!(body["name"], "Microsoft.Compute/SIGSharing");
    let (_, _, body) = consumer
        .get(&feature(demo::FABRIKAM_SUBSCRIPTION, "SIGSharing"))
        .await;
    assert_eq!(body["properties"]["state"], "NotRegistered");
    let (s, _, body) = owner
        .get(&feature(demo::CONTOSO_SUBSCRIPTION, "NoSuchPreview"))
        .await;
    assert_eq!(
        (s, &body["error"]),
        (
            404,
            &json!({"code": "FeatureNotFound", "message": "The feature 'NoSuchPreview' could not be found."})
        )
    );
    let (s, _, body) = owner
        .get(&feature(demo::CONTOSO_SUBSCRIPTION, "SIGSharing").replace("2021-07-01", "2024-07-01"))
        .await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (400, Some("NoRegisteredProviderFound"))
    );
    let (s, _, list) = owner
        .get(&format!(
            "/subscriptions/{}/providers/Microsoft.Features/providers/Microsoft.Compute/features?api-version=2021-07-01",
            demo::CONTOSO_SUBSCRIPTION
        ))
        .await;
    assert_eq!(s, 200);
    assert!(
        list["value"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["name"] == "Microsoft.Compute/SIGSharing"
                && f["properties"]["state"] == "Registered"),
        "{list}"
    );
}

#[tokio::test]
async fn only_owners_and_sharing_admins_may_share_contributors_may_not() {
    let sim = Sim::start(groups_scenario()).await.unwrap();
    let operator = arm_as_operator(&sim).await;
    let add = share("Add", &tenants(&[demo::FABRIKAM_TENANT]));
    let expected = format!(
        "The client '{}' with object id '{}' does not have authorization to perform action 'Microsoft.Compute/galleries/share/action' over scope '{}' or the scope is invalid. If access was recently granted, please refresh your credentials.",
        demo::OPERATOR_CLIENT_ID,
        demo::OPERATOR_PRINCIPAL_ID,
        demo::GALLERY_ID.replace("/resourceGroups/", "/resourcegroups/")
    );
    let grant = |role: &str| RoleGrant {
        tenant: demo::CONTOSO_TENANT.into(),
        admin: demo::CONTOSO_ADMIN_UPN.into(),
        scope: demo::GALLERY_ID.into(),
        role: role.into(),
        principal: PrincipalRef::ObjectId(demo::OPERATOR_PRINCIPAL_ID.into()),
        principal_type: Some("ServicePrincipal".into()),
    };
    sim.assign_role(&grant("Contributor")).unwrap();
    let (s, _, body) = operator.post(&share_url(), add.clone()).await;
    assert_eq!(
        (s, &body["error"]["code"], &body["error"]["message"]),
        (403, &json!("AuthorizationFailed"), &json!(expected)),
        "Contributor's notActions exclude sharing"
    );
    assert!(shared_tenants(&sim).is_empty());
    // The built-in role, by the id the built-in roles reference gives it.
    sim.assign_role(&grant("1ef6a3be-d0ac-425d-8c01-acb62866290b"))
        .unwrap();
    let (s, _, body) = operator.post(&share_url(), add).await;
    assert_eq!(s, 202, "Compute Gallery Sharing Admin may share: {body}");
    assert_eq!(shared_tenants(&sim), [demo::FABRIKAM_TENANT]);
}

#[tokio::test]
async fn the_consumer_reads_the_shared_gallery_only_while_its_tenant_is_shared() {
    let sim = Sim::start(groups_scenario()).await.unwrap();
    let owner = arm_as_contoso_admin(&sim).await;
    let consumer = arm_as_fabrikam_admin(&sim).await;
    let list = format!("{}?{V2}&sharedTo=tenant", shared_galleries("eastus"));
    let one = format!(
        "{}/{}?{V2}",
        shared_galleries("eastus"),
        demo::GALLERY_UNIQUE_NAME
    );
    let version = format!(
        "{}/{}/images/ubuntu-hardened/versions/1.0.0?{V2}",
        shared_galleries("eastus"),
        demo::GALLERY_UNIQUE_NAME
    );
    let (s, _, before) = consumer.get(&list).await;
    assert_eq!((s, &before["value"]), (200, &json!([])));
    let (s, _, body) = consumer.get(&one).await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (404, Some("ResourceNotFound")),
        "{body}"
    );

    let (s, _, _) = owner
        .post(
            &share_url(),
            share("Add", &tenants(&[demo::FABRIKAM_TENANT])),
        )
        .await;
    assert_eq!(s, 202);
    let (_, _, listed) = consumer.get(&list).await;
    assert_eq!(
        listed["value"],
        json!([{"name": demo::GALLERY_UNIQUE_NAME, "location": "eastus",
                "identifier": {"uniqueId": format!("/SharedGalleries/{}", demo::GALLERY_UNIQUE_NAME)}}])
    );
    let (_, _, by_subscription) = consumer
        .get(&format!("{}?{V2}", shared_galleries("eastus")))
        .await;
    assert_eq!(
        by_subscription["value"],
        json!([]),
        "without sharedTo only subscription shares are listed"
    );
    let (s, _, body) = consumer.get(&version).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["identifier"]["uniqueId"], shared_id());
    assert_eq!(body["name"], "1.0.0");

    let (s, _, _) = owner
        .post(
            &share_url(),
            share("Remove", &tenants(&[demo::FABRIKAM_TENANT])),
        )
        .await;
    assert_eq!(s, 202);
    let (_, _, after) = consumer.get(&list).await;
    assert_eq!(after["value"], json!([]));
    let (s, _, _) = consumer.get(&version).await;
    assert_eq!(s, 404, "no longer shared");
}

#[tokio::test]
async fn a_vm_boots_from_the_shared_image_for_a_shared_tenant_and_is_refused_for_another() {
    let sim = Sim::start(groups_scenario()).await.unwrap();
    let owner = arm_as_contoso_admin(&sim).await;
    let consumer = arm_as_fabrikam_admin(&sim).await;
    let nic = vnet_and_nic(&consumer, &fabrikam_rg(), "10.2").await;
    let nic = nic["id"].as_str().unwrap().to_owned();
    let latest = format!(
        "/SharedGalleries/{}/Images/ubuntu-hardened/Versions/latest",
        demo::GALLERY_UNIQUE_NAME
    );
    let refused = format!(
        "The gallery image {latest} is not available or is not shared with subscription '{}'.",
        demo::FABRIKAM_SUBSCRIPTION
    );
    let image = json!({"sharedGalleryImageId": latest});

    let (s, _, _) = owner
        .post(&share_url(), share("Add", &tenants(&[OTHER_TENANT])))
        .await;
    assert_eq!(s, 202);
    let (s, _, body) = consumer
        .put(&vm_url("early"), vm(&image, &nic, "eastus"))
        .await;
    assert_eq!(
        (s, &body["error"]["code"], &body["error"]["message"]),
        (404, &json!("GalleryImageNotFound"), &json!(refused)),
        "shared with another tenant only: {body}"
    );

    let (s, _, _) = owner
        .post(
            &share_url(),
            share("Add", &tenants(&[demo::FABRIKAM_TENANT])),
        )
        .await;
    assert_eq!(s, 202);
    sim.clear_requests();
    let (s, _, created) = consumer
        .put(&vm_url("shared"), vm(&image, &nic, "eastus"))
        .await;
    assert_eq!(s, 201, "{created}");
    assert_eq!(
        created["properties"]["storageProfile"]["imageReference"]["exactVersion"], "1.0.0",
        "latest is the newest version"
    );
    assert!(
        sim.requests()
            .iter()
            .all(|r| !r.path_and_query.contains(demo::CONTOSO_SUBSCRIPTION)),
        "the consumer never calls the owner's subscription"
    );

    let (s, _, _) = owner
        .post(
            &share_url(),
            share("Remove", &tenants(&[demo::FABRIKAM_TENANT])),
        )
        .await;
    assert_eq!(s, 202);
    let (s, _, body) = consumer
        .put(&vm_url("late"), vm(&image, &nic, "eastus"))
        .await;
    assert_eq!((s, &body["error"]["message"]), (404, &json!(refused)));
}

#[tokio::test]
async fn accepting_and_rejecting_a_share_answer_as_the_2025_12_03_examples() {
    let sim = Sim::start(groups_scenario()).await.unwrap();
    let owner = arm_as_contoso_admin(&sim).await;
    let consumer = arm_as_fabrikam_admin(&sim).await;
    let (s, _, body) = consumer.post(&tenant_invite("accept"), json!({})).await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (404, Some("ResourceNotFound")),
        "nothing shared yet: {body}"
    );
    let both = json!([
        {"type": "Subscriptions", "ids": [demo::FABRIKAM_SUBSCRIPTION]},
        {"type": "AADTenants", "ids": [demo::FABRIKAM_TENANT]}
    ]);
    let (s, _, _) = owner.post(&share_url(), share("Add", &both)).await;
    assert_eq!(s, 202);

    let (s, _, body) = consumer.post(&tenant_invite("accept"), json!({})).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        body,
        json!({"type": "AADTenants", "sharedGallerySubscriptionId": demo::CONTOSO_SUBSCRIPTION,
               "sharedGalleryName": "contosoGallery", "location": "eastus", "status": "Accepted"})
    );
    let subscription_invite = |action: &str| {
        format!(
            "/subscriptions/{}/providers/Microsoft.Compute/locations/eastus/sharedGallerySubscriptions/{}/sharedGalleries/contosoGallery/{action}?{V2}",
            demo::FABRIKAM_SUBSCRIPTION,
            demo::CONTOSO_SUBSCRIPTION
        )
    };
    let (s, _, body) = consumer
        .post(&subscription_invite("accept"), json!({}))
        .await;
    assert_eq!(
        (s, &body["type"], &body["status"]),
        (200, &json!("Subscriptions"), &json!("Accepted"))
    );
    let (s, _, body) = consumer
        .post(&subscription_invite("reject"), json!({}))
        .await;
    assert_eq!((s, body), (200, json!({})));
    let (s, _, body) = consumer
        .post(
            &subscription_invite("accept").replace(V2, "api-version=2025-03-03"),
            json!({}),
        )
        .await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (400, Some("NoRegisteredProviderFound")),
        "invitations are new in 2025-12-03"
    );

    let mut answers: Vec<(String, String)> = sim
        .state()
        .shared_gallery_invitations
        .iter()
        .map(|i| (i.grantee_type.clone(), i.status.clone()))
        .collect();
    answers.sort();
    assert_eq!(
        answers,
        [
            ("AADTenants".to_owned(), "Accepted".to_owned()),
            ("Subscriptions".to_owned(), "Rejected".to_owned())
        ]
    );
    // The subscription rejected, the tenant accepted: reached through the tenant only.
    let (_, _, by_subscription) = consumer
        .get(&format!("{}?{V2}", shared_galleries("eastus")))
        .await;
    assert_eq!(by_subscription["value"], json!([]));
    let (_, _, by_tenant) = consumer
        .get(&format!(
            "{}?{V2}&sharedTo=tenant",
            shared_galleries("eastus")
        ))
        .await;
    assert_eq!(by_tenant["value"].as_array().unwrap().len(), 1);
    assert!(
        sim.requests()
            .iter()
            .any(|r| r.method == "POST"
                && r.path_and_query.starts_with("/providers/Microsoft.Compute/locations/eastus/tenantLevelSharedGallerySubscriptions/")
                && r.status == 200),
        "the tenant-level call is recorded"
    );
}

#[tokio::test]
async fn when_acceptance_is_required_the_vm_waits_for_the_tenant_to_accept() {
    let mut scenario = groups_scenario();
    scenario.arm.direct_share_requires_accept = true;
    let sim = Sim::start(scenario).await.unwrap();
    let owner = arm_as_contoso_admin(&sim).await;
    let consumer = arm_as_fabrikam_admin(&sim).await;
    let nic = vnet_and_nic(&consumer, &fabrikam_rg(), "10.3").await;
    let nic = nic["id"].as_str().unwrap().to_owned();
    let image = json!({"sharedGalleryImageId": shared_id()});
    let list = format!("{}?{V2}&sharedTo=tenant", shared_galleries("eastus"));
    let (s, _, _) = owner
        .post(
            &share_url(),
            share("Add", &tenants(&[demo::FABRIKAM_TENANT])),
        )
        .await;
    assert_eq!(s, 202);

    let (_, _, pending) = consumer.get(&list).await;
    assert_eq!(pending["value"], json!([]), "not accepted yet");
    let (s, _, body) = consumer
        .put(&vm_url("before"), vm(&image, &nic, "eastus"))
        .await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (404, Some("GalleryImageNotFound")),
        "{body}"
    );

    let (s, _, _) = consumer.post(&tenant_invite("accept"), json!({})).await;
    assert_eq!(s, 200);
    let (_, _, accepted) = consumer.get(&list).await;
    assert_eq!(accepted["value"].as_array().unwrap().len(), 1);
    let (s, _, created) = consumer
        .put(&vm_url("after"), vm(&image, &nic, "eastus"))
        .await;
    assert_eq!(s, 201, "{created}");

    let (s, _, _) = consumer.post(&tenant_invite("reject"), json!({})).await;
    assert_eq!(s, 200);
    let (s, _, _) = consumer
        .put(&vm_url("rejected"), vm(&image, &nic, "eastus"))
        .await;
    assert_eq!(s, 404, "a rejected share is refused again");
}
