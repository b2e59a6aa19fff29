//! CreateVm: in the consumer's resource group, the network (the given subnet, or a VNet with
//! an NSG), a NIC, and the VM from the owner's image — the VM PUT carrying the owner tenant's
//! auxiliary token. Provisioning is followed by scheduled re-checks, not by waiting.

use std::time::Duration;

use serde_json::{Value, json};

mod image;
mod network;
pub(super) mod ownership;
mod verdict;
mod vm;

use image::{image_facts, vm_body};
use network::{Wanted, ensure};
use ownership::TAG;
use verdict::{Verdict, azure_verdict, classify_operation, verdict};
use vm::Placed;

use super::{
    Outcome, Run, StepError, already_done,
    confirm_consent::app_credential,
    rechecks,
    record::{self, Write},
};
use crate::{
    azure::arm::{ArmIdentity, Operation, api_versions},
    domain::{Location, ShareRequest, State, Step, VmSpec},
};

/// Inline wait for quick network operations before handing over to a re-check.
const INLINE_BUDGET: Duration = Duration::from_secs(30);
/// Re-check interval while the VM provisions.
const POLL: Duration = Duration::from_secs(15);

pub(super) fn ids(request: &ShareRequest, vm: &VmSpec) -> (String, String, String, String, String) {
    let group = format!(
        "/subscriptions/{}/resourceGroups/{}",
        request.consumer.subscription_id, request.consumer.resource_group
    );
    let name = vm.name.as_str();
    (
        format!("{group}/providers/Microsoft.Compute/virtualMachines/{name}"),
        format!("{group}/providers/Microsoft.Network/networkInterfaces/{name}-nic"),
        format!("{group}/providers/Microsoft.Network/virtualNetworks/{name}-vnet"),
        format!("{group}/providers/Microsoft.Network/networkSecurityGroups/{name}-nsg"),
        group,
    )
}

pub(super) async fn run(run: &Run<'_>) -> Result<Outcome, StepError> {
    let ctx = run.ctx;
    let Some(stored) = record::load(ctx, run.message.request_id).await? else {
        return Ok(Outcome::Stale("no such request".into()));
    };
    let request = stored.request;
    let spec = super::vm_of(&request)?.clone();
    match request.state() {
        State::CreatingVm => {}
        State::Completed => return already_done(run, &request, None).await,
        s if s.pipeline_is_over() => return Ok(Outcome::Stale(format!("the request is {s}"))),
        s => return Ok(Outcome::Stale(format!("the request is still {s}"))),
    }
    if let Some(stale) = rechecks::superseded(run, &request) {
        return Ok(stale);
    }
    let app = request
        .progress
        .app
        .clone()
        .ok_or_else(|| StepError::Retryable(anyhow::anyhow!("no app recorded")))?;
    let credential = app_credential(run, &app).await?;
    let cloud = run.cloud()?;
    let owner = ctx.settings.owner_tenant;
    let consumer = ArmIdentity::App {
        app_id: app.app_id.clone(),
        credential: credential.clone(),
        tenant: request.consumer.tenant_id,
        aux_tenant: Some(owner),
    };
    let (vm_id, nic_id, vnet_id, nsg_id, _) = ids(&request, &spec);

    if let Some(operation) = request.progress.vm.operation_url.clone() {
        let url = url::Url::parse(&operation).map_err(|e| StepError::Retryable(e.into()))?;
        return match cloud.arm.poll(&consumer, &url).await {
            Ok(Operation::Running(after)) => {
                rechecks::again(
                    run,
                    after.unwrap_or(POLL).max(Duration::from_secs(5)),
                    "the VM to finish provisioning".into(),
                )
                .await
            }
            Ok(Operation::Succeeded) => finish(run, &request, &consumer, &vm_id).await,
            Ok(Operation::Failed { code, message }) => {
                let v = classify_operation(run, &request, &code, &message);
                if matches!(v, Verdict::Later(..)) {
                    // Start over next time: the VM (ours, Failed) is PUT again.
                    record::update(ctx, request.id, |r| {
                        r.progress.vm.operation_url = None;
                        r.progress.vm.vm_id = None;
                        Ok(Write::Save(Vec::new(), ()))
                    })
                    .await?;
                }
                verdict(run, &request, v).await
            }
            Err(e) => verdict(run, &request, azure_verdict(run, &request, &e)).await,
        };
    }

    // Our VM exists already (a re-run found it, or its PUT left nothing to poll): follow its
    // provisioning state, without reading everything else again.
    if request.progress.vm.vm_id.is_some() {
        return finish(run, &request, &consumer, &vm_id).await;
    }

    // The image must be replicated where the VM goes (read with the owner tenant's token).
    let reader = ArmIdentity::App {
        app_id: app.app_id.clone(),
        credential,
        tenant: owner,
        aux_tenant: None,
    };
    let image = match image_facts(run, &request, &reader).await {
        Ok(facts) => facts,
        Err(e) => return verdict(run, &request, azure_verdict(run, &request, &e)).await,
    };
    if !image.linux {
        return Err(StepError::terminal(
            "The image is not a Linux image; imageshare creates Linux VMs with SSH keys.",
        ));
    }
    let replicated = image
        .regions
        .iter()
        .filter_map(|r| Location::from_display_name(r))
        .any(|l| l == spec.location);
    if !replicated {
        return Err(StepError::terminal(format!(
            "The image version {} is not replicated to {}; it is replicated to {}. Ask the image owner to replicate it there, or choose one of those regions.",
            request.image.version(),
            spec.location,
            if image.regions.is_empty() {
                "no region".to_owned()
            } else {
                image.regions.join(", ")
            }
        )));
    }

    if let Some(outcome) = vm::refuse_if_taken(run, &request, &consumer, &vm_id).await? {
        return Ok(outcome);
    }
    let location = spec.location.as_str();
    let tags = json!({TAG: request.id.to_string()});
    let subnet_id = if let Some(subnet) = &spec.subnet_id {
        // The consumer's own subnet: referenced, never changed.
        subnet.to_string()
    } else {
        let nsg = Wanted {
            kind: "network security group",
            id: &nsg_id,
            api_version: api_versions::NETWORK,
            body: json!({"location": location, "tags": tags, "properties": {"securityRules": []}}),
        };
        if let Some(outcome) = ensure(run, &request, &consumer, nsg).await? {
            return Ok(outcome);
        }
        let vnet = Wanted {
            kind: "virtual network",
            id: &vnet_id,
            api_version: api_versions::NETWORK,
            body: json!({
                "location": location,
                "tags": tags,
                "properties": {
                    "addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
                    "subnets": [{"name": "default", "properties": {"addressPrefix": "10.0.0.0/24", "networkSecurityGroup": {"id": nsg_id}}}]
                }
            }),
        };
        if let Some(outcome) = ensure(run, &request, &consumer, vnet).await? {
            return Ok(outcome);
        }
        format!("{vnet_id}/subnets/default")
    };
    let nic = Wanted {
        kind: "network interface",
        id: &nic_id,
        api_version: api_versions::NETWORK,
        body: json!({
            "location": location,
            "tags": tags,
            "properties": {"ipConfigurations": [{"name": "ipconfig1", "properties": {"subnet": {"id": subnet_id}, "privateIPAllocationMethod": "Dynamic"}}]}
        }),
    };
    if let Some(outcome) = ensure(run, &request, &consumer, nic).await? {
        return Ok(outcome);
    }

    let placed = Placed {
        subnet_id,
        nic_id,
        vm_id,
    };
    vm::create(
        run,
        &request,
        &consumer,
        &placed,
        vm_body(&request, &spec, &placed.nic_id, &image),
    )
    .await
}

/// The operation finished: confirm the VM, then complete the request.
pub(super) async fn finish(
    run: &Run<'_>,
    request: &ShareRequest,
    who: &ArmIdentity,
    vm_id: &str,
) -> Result<Outcome, StepError> {
    let cloud = run.cloud()?;
    let vm = match cloud.arm.get(who, vm_id, api_versions::COMPUTE).await {
        Ok(Some(vm)) => vm,
        Ok(None) => return rechecks::again(run, POLL, "the VM to appear".into()).await,
        Err(e) => return verdict(run, request, azure_verdict(run, request, &e)).await,
    };
    match vm
        .pointer("/properties/provisioningState")
        .and_then(Value::as_str)
    {
        Some("Succeeded") | None => {}
        Some("Failed") => {
            return Err(StepError::terminal(format!(
                "The VM {vm_id} ended in provisioning state Failed."
            )));
        }
        Some(other) => {
            return rechecks::again(
                run,
                POLL,
                format!("the VM to finish provisioning ({other})"),
            )
            .await;
        }
    }
    let event = run.event();
    record::update(run.ctx, request.id, |r| {
        if r.state() != State::CreatingVm {
            return Ok(Write::Keep(()));
        }
        r.progress.vm.operation_url = None;
        r.progress.vm.vm_id = Some(vm_id.to_owned());
        r.steps.ran(Step::CreateVm);
        r.steps.completed(Step::CreateVm, event.at);
        let entry = r.transition(
            State::Completed,
            "completed",
            format!("VM {vm_id} is running in the consumer's tenant."),
            &event,
        )?;
        Ok(Write::Save(vec![entry], ()))
    })
    .await?;
    Ok(Outcome::Done)
}
