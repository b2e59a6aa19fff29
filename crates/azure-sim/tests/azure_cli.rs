//! The seed's own commands, unmodified, run by the real Azure CLI (azure-cli from PyPI, see
//! `azcli/mod.rs`) against the simulator through an HTTPS proxy: method 1 (an app
//! registration consented in the consumer tenant, `az vm create` with the auxiliary token, as
//! in the seed and Microsoft's "Share gallery VM images across Azure tenants"), method 2
//! (Azure Lighthouse onboarding with `az deployment create`), the discovery commands around
//! them, and the failures Azure answers when a piece is missing.
//!
//! The demo scenario keeps its replication windows (a new app, secret, service principal or
//! role assignment is not usable at once); the people typing these commands take their time,
//! which the tests play by moving the simulated clock on between steps.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod azcli;

use std::time::{Duration, Instant};

use azcli::AzEnv;
use azure_sim::{Scenario, Sim, scenario::demo};
use serde_json::Value;

const CONTOSO: &str = demo::CONTOSO_TENANT;
const FABRIKAM: &str = demo::FABRIKAM_TENANT;
const FABRIKAM_SUB: &str = demo::FABRIKAM_SUBSCRIPTION;
const VM: &str = "Microsoft.Compute/virtualMachines";

fn image_version() -> String {
    demo::IMAGE_VERSION_ID.to_owned()
}

fn consumer_rg() -> String {
    format!("/subscriptions/{FABRIKAM_SUB}/resourceGroups/rg-fabrikam-vms")
}

/// A person pauses between commands (long enough for Entra and ARM to replicate).
fn pause(sim: &Sim) {
    sim.advance_clock(Duration::from_secs(30));
}

/// The demo, with every ARM `Retry-After` at one second (the CLI honours them).
async fn start() -> Sim {
    let mut scenario = Scenario::demo();
    scenario.arm.retry_after_seconds = Some(1);
    Sim::start(scenario).await.unwrap()
}

/// `az login --username ... --password ... --tenant ...` as a scenario user.
async fn user_login(az: &AzEnv, person: &str, upn: &str, password: &str, tenant: &str) -> Value {
    az.ok(
        person,
        &[
            "login",
            "--username",
            upn,
            "--password",
            password,
            "--tenant",
            tenant,
        ],
    )
    .await
    .json()
}

/// Tenant 1's part of method 1, as the Contoso admin: the multi-tenant app, its service
/// principal, a secret, and Reader on the gallery (the seed grants the app 閲覧者 on the
/// gallery; `az vm create` reads the image definition as well as the version).
/// Returns (appId, secret).
async fn owner_registers_the_app(az: &AzEnv, sim: &Sim) -> (String, String) {
    user_login(
        az,
        "contoso-admin",
        demo::CONTOSO_ADMIN_UPN,
        demo::CONTOSO_ADMIN_PASSWORD,
        CONTOSO,
    )
    .await;
    let app = az
        .ok(
            "contoso-admin",
            &[
                "ad",
                "app",
                "create",
                "--display-name",
                "imageshare-seed",
                "--sign-in-audience",
                "AzureADMultipleOrgs",
            ],
        )
        .await
        .json();
    let app_id = app["appId"].as_str().unwrap().to_owned();
    assert_eq!(app["signInAudience"], "AzureADMultipleOrgs");
    pause(sim);
    let sp = az
        .ok("contoso-admin", &["ad", "sp", "create", "--id", &app_id])
        .await
        .json();
    assert_eq!(sp["appId"], app_id.as_str());
    let credential = az
        .ok(
            "contoso-admin",
            &["ad", "app", "credential", "reset", "--id", &app_id],
        )
        .await
        .json();
    assert_eq!(credential["tenant"], CONTOSO);
    let secret = credential["password"].as_str().unwrap().to_owned();
    pause(sim);
    let assignment = az
        .ok(
            "contoso-admin",
            &[
                "role",
                "assignment",
                "create",
                "--assignee",
                &app_id,
                "--role",
                "Reader",
                "--scope",
                demo::GALLERY_ID,
            ],
        )
        .await
        .json();
    assert_eq!(assignment["principalId"], sp["id"]);
    assert_eq!(assignment["principalType"], "ServicePrincipal");
    (app_id, secret)
}

/// Tenant 2's admin consents (creates the app's service principal in Fabrikam) and grants
/// it Contributor on the resource group.
async fn consumer_admin_consents_and_grants(az: &AzEnv, sim: &Sim, app_id: &str) {
    user_login(
        az,
        "fabrikam-admin",
        demo::FABRIKAM_ADMIN_UPN,
        demo::FABRIKAM_ADMIN_PASSWORD,
        FABRIKAM,
    )
    .await;
    let sp = az
        .ok("fabrikam-admin", &["ad", "sp", "create", "--id", app_id])
        .await
        .json();
    assert_eq!(sp["appOwnerOrganizationId"], CONTOSO);
    pause(sim);
    az.ok(
        "fabrikam-admin",
        &[
            "role",
            "assignment",
            "create",
            "--assignee",
            app_id,
            "--role",
            "Contributor",
            "--scope",
            &consumer_rg(),
        ],
    )
    .await;
    pause(sim);
}

/// The seed's consumer-side sign-ins: `az account clear`, then the app into tenant 1 and
/// tenant 2, each followed by `az account get-access-token`.
async fn operator_signs_in_to_both_tenants(az: &AzEnv, app_id: &str, secret: &str) {
    az.ok("operator", &["account", "clear"]).await;
    for tenant in [CONTOSO, FABRIKAM] {
        az.ok(
            "operator",
            &[
                "login",
                "--service-principal",
                "-u",
                app_id,
                "-p",
                secret,
                "--tenant",
                tenant,
            ],
        )
        .await;
        let token = az
            .ok("operator", &["account", "get-access-token"])
            .await
            .json();
        assert_eq!(token["tenant"], tenant);
        assert_eq!(token["tokenType"], "Bearer");
    }
}

fn vm_create_args<'a>(image: &'a str, name: &'a str) -> Vec<&'a str> {
    vec![
        "vm",
        "create",
        "--resource-group",
        "rg-fabrikam-vms",
        "--name",
        name,
        "--image",
        image,
        "--admin-username",
        "azureuser",
        "--generate-ssh-keys",
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn method_1_as_the_seed_writes_it_creates_the_vm_in_the_consumer_from_the_owner_s_image() {
    let sim = start().await;
    let az = AzEnv::new(&sim.url(), "method1");
    let started = Instant::now();
    let calls_before = sim.requests().len();

    let (app_id, secret) = owner_registers_the_app(&az, &sim).await;
    consumer_admin_consents_and_grants(&az, &sim, &app_id).await;
    operator_signs_in_to_both_tenants(&az, &app_id, &secret).await;
    let image = image_version();
    let created = az
        .ok("operator", &vm_create_args(&image, "myVM"))
        .await
        .json();
    assert_eq!(created["powerState"], "VM running");
    assert_eq!(created["resourceGroup"], "rg-fabrikam-vms");
    let vm_id = format!(
        "{}/providers/Microsoft.Compute/virtualMachines/myVM",
        consumer_rg()
    );
    assert_eq!(created["id"], vm_id.as_str());

    let calls = &sim.requests()[calls_before..];
    let by_host = |host: &str| calls.iter().filter(|r| r.host == host).count();
    println!(
        "method 1: {} Azure calls by the CLI ({} Entra, {} Graph, {} Resource Manager) in {:.0?}",
        calls.len(),
        by_host("login.microsoftonline.com"),
        by_host("graph.microsoft.com"),
        by_host("management.azure.com"),
        started.elapsed()
    );
    // az vm create deployed its template with tenant 1's token beside tenant 2's...
    let deployment_put = calls
        .iter()
        .find(|r| {
            r.method == "PUT"
                && r.path_and_query
                    .contains("/Microsoft.Resources/deployments/")
        })
        .expect("az vm create deploys a template");
    assert!(
        deployment_put
            .secrets_seen
            .iter()
            .any(|s| s.place == "header:x-ms-authorization-auxiliary"),
        "the deployment carries the auxiliary token: {:?}",
        deployment_put.secrets_seen
    );
    // ...which reached the VM's linked check: the VM exists in the consumer's
    // subscription, made from the owner's gallery image.
    let state = sim.state();
    let vms = state.resources_of_type(VM);
    assert_eq!(vms.len(), 1, "{vms:?}");
    assert!(vms[0].id.eq_ignore_ascii_case(&vm_id));
    assert_eq!(vms[0].provisioning_state.as_deref(), Some("Succeeded"));

    let shown = az
        .ok(
            "operator",
            &["vm", "show", "-d", "-g", "rg-fabrikam-vms", "-n", "myVM"],
        )
        .await
        .json();
    assert_eq!(
        shown["storageProfile"]["imageReference"]["id"]
            .as_str()
            .map(str::to_ascii_lowercase),
        Some(image.to_ascii_lowercase())
    );
    assert_eq!(shown["powerState"], "VM running");
    assert_eq!(shown["privateIps"], "10.0.0.4");
    let listed = az.ok("operator", &["vm", "list"]).await.json();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert_eq!(names, ["myVM"]);
}

/// The seed's param.json with its placeholders filled: tenant 2's id and the object id of
/// the operator there (the Fabrikam admin), delegating the gallery's resource group.
fn seed_parameters() -> Value {
    serde_json::json!({
        "$schema": "https://schema.management.azure.com/schemas/2015-01-01/deploymentParameters.json#",
        "contentVersion": "1.0.0.0",
        "parameters": {
            "mspOfferName": {"value": "xxxxxx shared image"},
            "rgName": {"value": demo::IMAGES_RESOURCE_GROUP},
            "mspOfferDescription": {"value": "xxxxxx shared image"},
            "managedByTenantId": {"value": FABRIKAM},
            "authorizations": {"value": [
                {"principalId": demo::FABRIKAM_ADMIN_ID, "roleDefinitionId": "acdd72a7-3385-48ef-bd42-f606fba81ae7", "principalIdDisplayName": "PIM_Group"},
                {"principalId": demo::FABRIKAM_ADMIN_ID, "roleDefinitionId": "91c1777a-f3dc-4fae-b103-61d183457e46", "principalIdDisplayName": "PIM_Group"}
            ]}
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn method_2_az_deployment_create_delegates_the_gallery_s_group_until_the_owner_removes_it() {
    let sim = start().await;
    let az = AzEnv::new(&sim.url(), "method2");
    // Microsoft's rgDelegatedResourceManagement.json, downloaded and used as it is (the
    // seed), and the seed's parameter file.
    let template = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/recordings/lighthouse_rgDelegatedResourceManagement.json"
    );
    let params = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("seed-param-{}.json", std::process::id()));
    std::fs::write(
        &params,
        serde_json::to_string_pretty(&seed_parameters()).unwrap(),
    )
    .unwrap();
    let params = params.to_str().unwrap().to_owned();

    user_login(
        &az,
        "contoso-admin",
        demo::CONTOSO_ADMIN_UPN,
        demo::CONTOSO_ADMIN_PASSWORD,
        CONTOSO,
    )
    .await;
    let deployment = az
        .ok(
            "contoso-admin",
            &[
                "deployment",
                "create",
                "--name",
                "image-share-lighthouse",
                "--location",
                "japaneast",
                "--template-file",
                template,
                "--parameters",
                &params,
                "--verbose",
                "--subscription",
                demo::CONTOSO_SUBSCRIPTION,
            ],
        )
        .await
        .json();
    assert_eq!(deployment["properties"]["provisioningState"], "Succeeded");
    assert_eq!(
        deployment["properties"]["outputs"]["mspOfferName"]["value"],
        "Managed by xxxxxx shared image"
    );
    let assignment = sim
        .state()
        .resources_of_type("Microsoft.ManagedServices/registrationAssignments")
        .first()
        .map(|r| r.id.clone())
        .expect("the deployment created the registration assignment");
    let delegated_rg = format!(
        "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.ManagedServices/registrationAssignments/",
        demo::CONTOSO_SUBSCRIPTION,
        demo::IMAGES_RESOURCE_GROUP
    );
    assert!(
        assignment
            .to_ascii_lowercase()
            .starts_with(&delegated_rg.to_ascii_lowercase()),
        "{assignment}"
    );
    pause(&sim);

    // Tenant 2's operator signs in: the delegated subscription is listed, the image is
    // readable with tenant 2's own token, and a VM can be created from it.
    let accounts = user_login(
        &az,
        "fabrikam-admin",
        demo::FABRIKAM_ADMIN_UPN,
        demo::FABRIKAM_ADMIN_PASSWORD,
        FABRIKAM,
    )
    .await;
    let delegated = accounts
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == demo::CONTOSO_SUBSCRIPTION)
        .expect("the delegated subscription is listed");
    assert_eq!(delegated["tenantId"], FABRIKAM);
    assert_eq!(delegated["managedByTenants"][0]["tenantId"], FABRIKAM);
    let show_image = [
        "sig",
        "image-version",
        "show",
        "--resource-group",
        demo::IMAGES_RESOURCE_GROUP,
        "--gallery-name",
        "contosoGallery",
        "--gallery-image-definition",
        "ubuntu-hardened",
        "--gallery-image-version",
        "1.0.0",
        "--subscription",
        demo::CONTOSO_SUBSCRIPTION,
    ];
    let image = az.ok("fabrikam-admin", &show_image).await.json();
    assert_eq!(image["id"], demo::IMAGE_VERSION_ID);
    az.ok(
        "fabrikam-admin",
        &["account", "set", "--subscription", FABRIKAM_SUB],
    )
    .await;
    let image_id = image_version();
    let created = az
        .ok("fabrikam-admin", &vm_create_args(&image_id, "lhVM"))
        .await
        .json();
    assert_eq!(created["powerState"], "VM running");
    let state = sim.state();
    let vms = state.resources_of_type(VM);
    assert_eq!(vms.len(), 1);
    assert!(vms[0].id.ends_with("/virtualMachines/lhVM"), "{vms:?}");

    // The seed: once the VMs exist the delegation may go (tenant 1 removes it).
    az.ok(
        "contoso-admin",
        &[
            "managedservices",
            "assignment",
            "delete",
            "--assignment",
            &assignment,
            "--yes",
        ],
    )
    .await;
    assert!(
        sim.state()
            .resources_of_type("Microsoft.ManagedServices/registrationAssignments")
            .is_empty()
    );
    az.fails_with(
        "fabrikam-admin",
        &show_image,
        "InvalidAuthenticationTokenTenant",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_without_a_tenant_finds_the_home_tenant_and_the_discovery_commands_answer() {
    let sim = start().await;
    let az = AzEnv::new(&sim.url(), "discovery");
    let me = "fabrikam-admin";
    // No --tenant: MSAL signs in at `organizations`, the CLI lists /tenants and then the
    // subscriptions of each tenant with a token from the refresh token.
    let accounts = az
        .ok(
            me,
            &[
                "login",
                "--username",
                demo::FABRIKAM_ADMIN_UPN,
                "--password",
                demo::FABRIKAM_ADMIN_PASSWORD,
            ],
        )
        .await
        .json();
    assert_eq!(accounts[0]["id"], FABRIKAM_SUB);
    assert_eq!(accounts[0]["tenantId"], FABRIKAM);
    assert_eq!(accounts[0]["tenantDisplayName"], "Fabrikam");
    assert_eq!(accounts[0]["user"]["type"], "user");
    let listed = az.ok(me, &["account", "list"]).await.json();
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    assert_eq!(listed[0]["isDefault"], true);

    let user = az.ok(me, &["ad", "signed-in-user", "show"]).await.json();
    assert_eq!(user["userPrincipalName"], demo::FABRIKAM_ADMIN_UPN);
    assert_eq!(user["id"], demo::FABRIKAM_ADMIN_ID);
    let graph_me = az
        .ok(
            me,
            &[
                "rest",
                "--method",
                "get",
                "--url",
                "https://graph.microsoft.com/v1.0/me",
            ],
        )
        .await
        .json();
    assert_eq!(graph_me["displayName"], "Fabrikam Admin");
    let graph_token = az
        .ok(
            me,
            &["account", "get-access-token", "--resource-type", "ms-graph"],
        )
        .await
        .json();
    assert_eq!(graph_token["tenant"], FABRIKAM);

    // Role assignments name their principals through Graph's directoryObjects/getByIds.
    let assignments = az
        .ok(me, &["role", "assignment", "list", "--all"])
        .await
        .json();
    assert!(
        assignments
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["principalName"] == demo::FABRIKAM_ADMIN_UPN
                && a["roleDefinitionName"] == "Owner"),
        "{assignments}"
    );

    let sizes = az
        .ok(me, &["vm", "list-sizes", "-l", "eastus"])
        .await
        .json();
    let size_names: Vec<&str> = sizes
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert!(size_names.contains(&"Standard_D2s_v5"), "{size_names:?}");
    let skus = az.ok(me, &["vm", "list-skus", "-l", "eastus"]).await.json();
    assert!(
        skus.as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "Standard_B2s"),
        "{skus}"
    );
    let compute = az
        .ok(me, &["provider", "show", "-n", "Microsoft.Compute"])
        .await
        .json();
    assert_eq!(compute["registrationState"], "Registered");
    let vm_type = compute["resourceTypes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["resourceType"] == "virtualMachines")
        .expect("virtualMachines is listed");
    assert!(
        vm_type["apiVersions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v == "2026-04-01"),
        "{vm_type}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_consent_the_auxiliary_token_or_the_reader_role_the_commands_fail_as_azure_answers()
{
    let sim = start().await;
    let az = AzEnv::new(&sim.url(), "refusals");
    let (app_id, secret) = owner_registers_the_app(&az, &sim).await;
    let sp_login = |tenant: &'static str| {
        [
            "login",
            "--service-principal",
            "-u",
            app_id.as_str(),
            "-p",
            secret.as_str(),
            "--tenant",
            tenant,
        ]
    };

    // Consent missing: the app has no service principal in tenant 2 yet. (Tried from
    // another configuration directory: MSAL keeps a refused token request in its HTTP cache
    // in AZURE_CONFIG_DIR and answers a repeat from there for a while, wall-clock time.)
    let refused = az
        .fails_with(
            "operator-too-early",
            &sp_login(FABRIKAM),
            &format!(
                "AADSTS700016: Application with identifier '{app_id}' was not found in the directory '{FABRIKAM}'."
            ),
        )
        .await;
    assert!(
        refused
            .stderr
            .contains("consented to by any user in the tenant")
    );

    consumer_admin_consents_and_grants(&az, &sim, &app_id).await;
    az.ok("operator", &sp_login(FABRIKAM)).await;

    // The auxiliary token missing. Signed in to tenant 2 only, az vm create refuses by
    // itself, before any call: the CLI knows no tenant for the image's subscription.
    let image = image_version();
    az.fails_with(
        "operator",
        &vm_create_args(&image, "myVM"),
        &format!("Subscription '{}' not found.", demo::CONTOSO_SUBSCRIPTION),
    )
    .await;
    // The same network and VM resources deployed as a template without an auxiliary token:
    // Resource Manager refuses the VM's linked access to tenant 1's image.
    let template = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/azcli/vm-from-image.json"
    );
    let image_param = format!("image={image}");
    az.fails_with(
        "operator",
        &[
            "deployment",
            "group",
            "create",
            "--resource-group",
            "rg-fabrikam-vms",
            "--template-file",
            template,
            "--parameters",
            &image_param,
        ],
        &format!(
            "\"code\":\"LinkedAuthorizationFailed\",\"message\":\"The client has permission to perform action 'Microsoft.Compute/galleries/images/versions/read' on scope '/subscriptions/{FABRIKAM_SUB}/resourcegroups/rg-fabrikam-vms/providers/Microsoft.Compute/virtualMachines/auxVM', however the current tenant '{FABRIKAM}' is not authorized to access linked subscription '{}'.\""
            ,
            demo::CONTOSO_SUBSCRIPTION
        ),
    )
    .await;

    // A role missing: signed in to both tenants as the seed does, but tenant 1 has taken
    // back Reader on the gallery.
    operator_signs_in_to_both_tenants(&az, &app_id, &secret).await;
    az.ok(
        "contoso-admin",
        &[
            "role",
            "assignment",
            "delete",
            "--assignee",
            &app_id,
            "--role",
            "Reader",
            "--scope",
            demo::GALLERY_ID,
        ],
    )
    .await;
    pause(&sim);
    let sp_object_id = sim
        .state()
        .service_principals
        .iter()
        .find(|s| s.app_id == app_id && s.tenant == CONTOSO)
        .map(|s| s.id.clone())
        .unwrap();
    az.fails_with(
        "operator",
        &vm_create_args(&image, "myVM"),
        &format!(
            "(AuthorizationFailed) The client '{app_id}' with object id '{sp_object_id}' does not have authorization to perform action 'Microsoft.Compute/galleries/images/read' over scope '/subscriptions/{}/resourcegroups/rg-images/providers/Microsoft.Compute/galleries/contosoGallery/images/ubuntu-hardened' or the scope is invalid.",
            demo::CONTOSO_SUBSCRIPTION
        ),
    )
    .await;
    assert!(sim.state().resources_of_type(VM).is_empty());
}
