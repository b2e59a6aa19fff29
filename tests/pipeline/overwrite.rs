//! Nothing overwritten (issue 11): resources named like the request's that are not ours are
//! left exactly as they were and the request fails naming them; our own VM, found again after
//! a crash or a busy answer, is followed to the end and never created twice.

use std::collections::BTreeMap;

use azure_sim::{
    Fault,
    arm::Resource,
    scenario::{Scenario, demo},
};
use reqwest::Method;
use serde_json::{Value, json};

use crate::{
    happy_path::{assert_one_of_everything, complete},
    harness::{Harness, document, is_terminal},
};

const ARM: &str = "https://management.azure.com";
const NETWORK: &str = "api-version=2024-05-01";

fn rg() -> String {
    format!(
        "/subscriptions/{}/resourceGroups/{}",
        demo::FABRIKAM_SUBSCRIPTION,
        demo::FABRIKAM_RESOURCE_GROUP
    )
}

fn vm_id() -> String {
    format!(
        "{}/providers/Microsoft.Compute/virtualMachines/vm-fabrikam-01",
        rg()
    )
}

fn nsg_id() -> String {
    format!(
        "{}/providers/Microsoft.Network/networkSecurityGroups/vm-fabrikam-01-nsg",
        rg()
    )
}

fn vnet_id() -> String {
    format!(
        "{}/providers/Microsoft.Network/virtualNetworks/vm-fabrikam-01-vnet",
        rg()
    )
}

/// The consumer's admin calling Resource Manager (password grant, as `az login -u` does).
struct ConsumerAdmin<'a> {
    h: &'a Harness,
    token: String,
}

impl<'a> ConsumerAdmin<'a> {
    async fn sign_in(h: &'a Harness) -> Self {
        let url = format!(
            "https://login.microsoftonline.com/{}/oauth2/v2.0/token",
            demo::FABRIKAM_TENANT
        );
        let request = h
            .transport
            .client()
            .post(url)
            .form(&[
                ("client_id", "04b07795-8ddb-461a-bbee-02f9e1bf7b46"),
                ("grant_type", "password"),
                ("username", demo::FABRIKAM_ADMIN_UPN),
                ("password", demo::FABRIKAM_ADMIN_PASSWORD),
                ("scope", "https://management.azure.com/.default"),
            ])
            .build()
            .unwrap();
        let answer: Value = h
            .transport
            .execute(request)
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Self {
            h,
            token: answer["access_token"].as_str().unwrap().to_owned(),
        }
    }

    async fn call(&self, method: Method, url: &str, body: Option<Value>) -> (u16, Value) {
        let url = if url.starts_with("https://") {
            url.to_owned()
        } else {
            format!("{ARM}{url}")
        };
        let mut b = self
            .h
            .transport
            .client()
            .request(method, url)
            .bearer_auth(&self.token);
        if let Some(body) = body {
            b = b.json(&body);
        }
        let r = self.h.transport.execute(b.build().unwrap()).await.unwrap();
        let status = r.status().as_u16();
        let async_op = r
            .headers()
            .get("azure-asyncoperation")
            .map(|v| v.to_str().unwrap().to_owned());
        let text = r.text().await.unwrap();
        let mut json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if let Some(op) = async_op {
            json["__poll"] = json!(op);
        }
        (status, json)
    }

    /// PUTs a resource and polls its operation to the end, as the portal does.
    async fn create(&self, id: &str, body: Value) {
        let (status, answer) = self
            .call(Method::PUT, &format!("{id}?{NETWORK}"), Some(body))
            .await;
        assert_eq!(status, 201, "{answer}");
        let poll = answer["__poll"].as_str().unwrap().to_owned();
        for _ in 0..20 {
            let (_, status) = self.call(Method::GET, &poll, None).await;
            if status["status"] != "InProgress" {
                return;
            }
        }
        panic!("{id} never finished provisioning");
    }
}

/// Every resource the simulator stores in the consumer's resource group, as stored.
fn stored(h: &Harness) -> BTreeMap<String, Value> {
    let prefix = format!("{}/", rg().to_ascii_lowercase());
    h.sim
        .context()
        .world()
        .arm
        .resources
        .iter()
        .filter(|(k, _)| k.starts_with(&prefix))
        .map(|(k, r)| {
            (
                k.clone(),
                json!({"body": r.body, "created": r.created_at.to_string()}),
            )
        })
        .collect()
}

/// The consumer's own VM of the request's name (no image the admin can read exists in the
/// demo, so it is placed in the simulator's store directly), untagged.
fn consumers_vm(h: &Harness) {
    let id = vm_id();
    let body = json!({
        "name": "vm-fabrikam-01", "id": id, "type": "Microsoft.Compute/virtualMachines",
        "location": "eastus", "tags": {"owner": "fabrikam-ops"},
        "properties": {"hardwareProfile": {"vmSize": "Standard_B2s"}, "provisioningState": "Succeeded",
                       "vmId": "9e9e9e9e-0000-4000-8000-000000000009"}
    });
    let now = h.sim.now();
    h.sim.context().world().arm.insert(Resource::new(
        &id,
        "Microsoft.Compute/virtualMachines",
        body,
        now,
    ));
}

/// Runs the demo request through consent and the role grant, then to its end.
async fn run_to_the_end(h: &Harness) -> Value {
    let id = h.submit(&document()).await;
    h.admin_consents_and_grants(id).await;
    h.run_until(id, is_terminal).await
}

/// Writes (PUT, PATCH, DELETE) the simulator saw on `id` and below it.
fn writes_on(h: &Harness, id: &str) -> Vec<(String, u16)> {
    let id = id.to_ascii_lowercase();
    h.sim
        .requests()
        .iter()
        .filter(|r| r.host == "management.azure.com" && r.method != "GET")
        .filter(|r| {
            let path = r.path_and_query.split('?').next().unwrap_or_default();
            path.to_ascii_lowercase().starts_with(&id)
        })
        .map(|r| (r.method.clone(), r.status))
        .collect()
}

#[tokio::test]
async fn a_consumers_own_vm_nsg_and_vnet_of_the_same_names_are_left_byte_for_byte_unchanged() {
    let h = Harness::start(Scenario::demo(), &[]).await;
    let admin = ConsumerAdmin::sign_in(&h).await;
    admin
        .create(
            &nsg_id(),
            json!({"location": "eastus", "properties": {"securityRules": [{"name": "rdp-from-office",
                "properties": {"protocol": "Tcp", "sourcePortRange": "*", "destinationPortRange": "3389",
                "sourceAddressPrefix": "203.0.113.0/24", "destinationAddressPrefix": "*",
                "access": "Allow", "priority": 300, "direction": "Inbound"}}]}}),
        )
        .await;
    admin
        .create(
            &vnet_id(),
            json!({"location": "eastus", "properties": {"addressSpace": {"addressPrefixes": ["172.16.0.0/16"]},
                "subnets": [{"name": "apps", "properties": {"addressPrefix": "172.16.1.0/24"}},
                            {"name": "data", "properties": {"addressPrefix": "172.16.2.0/24"}}]}}),
        )
        .await;
    consumers_vm(&h);
    let before = stored(&h);
    h.sim.clear_requests();

    let done = run_to_the_end(&h).await;

    assert_eq!(done["state"], "Failed", "{done:#}");
    let reason = done["failure"].as_str().unwrap();
    assert!(reason.contains(&vm_id()), "names the resource: {reason}");
    assert!(reason.contains("belongs to someone else"), "{reason}");
    assert_eq!(stored(&h), before, "something of the consumer's changed");
    for id in [vm_id(), nsg_id(), vnet_id()] {
        assert_eq!(writes_on(&h, &id), vec![], "a write reached {id}");
    }
}

#[tokio::test]
async fn a_consumers_nsg_of_the_request_name_fails_the_request_and_keeps_its_rules() {
    let h = Harness::start(Scenario::demo(), &[]).await;
    let admin = ConsumerAdmin::sign_in(&h).await;
    admin
        .create(
            &nsg_id(),
            json!({"location": "eastus", "tags": {"imageshare-request": "11111111-2222-4333-8444-555555555555"},
                "properties": {"securityRules": [{"name": "ssh-from-bastion",
                "properties": {"protocol": "Tcp", "sourcePortRange": "*", "destinationPortRange": "22",
                "sourceAddressPrefix": "10.9.0.4", "destinationAddressPrefix": "*",
                "access": "Allow", "priority": 100, "direction": "Inbound"}}]}}),
        )
        .await;
    let before = stored(&h);

    let done = run_to_the_end(&h).await;

    assert_eq!(done["state"], "Failed", "{done:#}");
    let reason = done["failure"].as_str().unwrap();
    assert!(
        reason.contains(&nsg_id()) && reason.contains("network security group"),
        "{reason}"
    );
    assert_eq!(stored(&h), before, "another request's NSG changed");
    assert_eq!(writes_on(&h, &nsg_id()).len(), 1, "only its own creation");
    assert!(
        h.sim
            .state()
            .resources_of_type("Microsoft.Compute/virtualMachines")
            .is_empty()
    );
}

#[tokio::test]
async fn a_crash_between_the_vm_put_and_its_state_write_ends_completed_with_one_vm_put() {
    let h = Harness::start(Scenario::demo(), &[]).await;
    h.store
        .crash_once(|r, _| r.progress.vm.operation_url.is_some());

    let (_, done) = complete(&h).await;

    assert_eq!(done["state"], "Completed", "{done:#}");
    assert_eq!(*h.store.crashed.lock().unwrap(), 1);
    // The re-run carries on from the checks recorded while the network was built (the name
    // was free then): its conditional create is refused and it follows the VM it finds.
    assert_eq!(
        writes_on(&h, &vm_id()),
        vec![("PUT".to_owned(), 201), ("PUT".to_owned(), 412)],
        "the re-run followed the VM it found instead of creating it again"
    );
    assert_one_of_everything(&h);
}

#[tokio::test]
async fn a_409_for_an_operation_still_running_on_the_vm_is_waited_for_not_failed() {
    let h = Harness::start(Scenario::demo(), &[]).await;
    // The answer Compute gives a VM PUT that meets a running operation (Azure/azure-cli#15765),
    // after a crash lost our record of the first one.
    h.store
        .crash_once(|r, _| r.progress.vm.operation_url.is_some());
    h.sim.add_fault(
        Fault::arm_error(
            "*/virtualMachines/vm-fabrikam-01",
            409,
            "Conflict",
            "The request failed due to conflict with a concurrent request. To resolve it, please refer to https://aka.ms/activitylog to get more details on the conflicting requests.",
        )
        .method("PUT")
        .times(1),
    );
    h.sim.add_fault(
        Fault::arm_error(
            "*/networkSecurityGroups/vm-fabrikam-01-nsg",
            409,
            "AnotherOperationInProgress",
            "Another operation on this or dependent resource is in progress. To retrieve status of the operation use uri: https://management.azure.com/subscriptions/2b2b2b2b-2222-4222-8222-222222222222/providers/Microsoft.Network/locations/eastus/operations/0d0d0d0d-0000-4000-8000-000000000000?api-version=2024-05-01.",
        )
        .method("PUT")
        .times(1),
    );

    let (_, done) = complete(&h).await;

    assert_eq!(done["state"], "Completed", "{done:#}");
    let vm_puts = writes_on(&h, &vm_id());
    assert_eq!(
        vm_puts,
        vec![
            ("PUT".to_owned(), 409),
            ("PUT".to_owned(), 201),
            ("PUT".to_owned(), 412)
        ],
        "one refused, one accepted, and after the crash the conditional create refused"
    );
    assert_eq!(
        writes_on(&h, &nsg_id()),
        vec![("PUT".to_owned(), 409), ("PUT".to_owned(), 201)]
    );
    assert_one_of_everything(&h);
}

#[tokio::test]
async fn a_412_on_the_conditional_vm_create_is_read_again_not_failed() {
    let h = Harness::start(Scenario::demo(), &[]).await;
    // As Compute answers If-None-Match: * when a VM appeared between our read and our PUT;
    // here the read after it finds none (it was removed again), so the create is retried.
    h.sim.add_fault(
        Fault::arm_error(
            "*/virtualMachines/vm-fabrikam-01",
            412,
            "PreconditionFailed",
            "Etag provided in if-none-match header \"*\" matches the existing resource: it was not modified.",
        )
        .method("PUT")
        .times(1),
    );

    let (_, done) = complete(&h).await;

    assert_eq!(done["state"], "Completed", "{done:#}");
    assert_eq!(
        writes_on(&h, &vm_id()),
        vec![("PUT".to_owned(), 412), ("PUT".to_owned(), 201)]
    );
    assert_one_of_everything(&h);
}
