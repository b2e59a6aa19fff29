//! A virtual machine's instance view: `GET {vm}?$expand=instanceView` (the VM with
//! `properties.instanceView`) and `GET {vm}/instanceView`, in the shape of the Compute spec's
//! `VirtualMachineInstanceView` (examples `VirtualMachine_Get_WithInstanceView`,
//! `VirtualMachineInstanceView`): the provisioning state and power state as status codes
//! (`ProvisioningState/succeeded`, `PowerState/running`), the OS disk's status, the computer
//! name and Hyper-V generation. A simulated VM runs as soon as it is provisioned.

use serde_json::{Value, json};

/// The instance view of a VM body as stored.
pub fn of(vm: &Value) -> Value {
    let props = &vm["properties"];
    let state = props["provisioningState"].as_str().unwrap_or("Succeeded");
    let time = props["timeCreated"].clone();
    let lower = state.to_ascii_lowercase();
    let provisioning = json!({
        "code": format!("ProvisioningState/{lower}"),
        "level": if lower == "failed" { "Error" } else { "Info" },
        "displayStatus": format!("Provisioning {lower}"),
        "time": time,
    });
    let mut statuses = vec![provisioning.clone()];
    if lower == "succeeded" {
        statuses.push(
            json!({"code": "PowerState/running", "level": "Info", "displayStatus": "VM running"}),
        );
    }
    let disks: Vec<Value> = props["storageProfile"]["osDisk"]["name"]
        .as_str()
        .map(|name| json!({"name": name, "statuses": [provisioning]}))
        .into_iter()
        .collect();
    let mut view = json!({
        "disks": disks,
        "statuses": statuses,
    });
    if let Some(name) = props["osProfile"]["computerName"].as_str() {
        view["computerName"] = json!(name);
    }
    if let Some(generation) = props["instanceView"]["hyperVGeneration"]
        .as_str()
        .or_else(|| vm["hyperVGeneration"].as_str())
    {
        view["hyperVGeneration"] = json!(generation);
    }
    view
}

/// The VM body with its instance view, as `$expand=instanceView` answers.
pub fn expanded(vm: &Value) -> Value {
    let mut body = vm.clone();
    let view = of(vm);
    if let Some(props) = body.get_mut("properties").and_then(Value::as_object_mut) {
        props.insert("instanceView".to_owned(), view);
    }
    body
}
