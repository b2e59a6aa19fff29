//! CreateVm: in the consumer's resource group, the network (the given subnet, or a VNet with
//! an NSG), a NIC, and the VM from the owner's image — the VM PUT carrying the owner tenant's
//! auxiliary token. Provisioning is followed by scheduled re-checks, not by waiting.
//!
//! For a direct share (`DirectShareWithVm`) the image is the shared one: the share is
//! accepted on the admin's behalf, the VM is made from `sharedGalleryImageId` with the app's
//! token in the consumer's tenant alone, and the request is then held `Shared` until the
//! share's lifetime ends.

use std::time::Duration;

use serde_json::{Value, json};

mod image;
mod network;
pub(super) mod ownership;
mod verdict;
mod vm;

use image::{image_facts, vm_body};
use network::{Building, Wanted, ensure, follow_pending};
use ownership::TAG;
use verdict::{Verdict, azure_verdict, classify_operation, verdict};
use vm::Placed;

use super::{
    Outcome, Run, StepError, already_done,
    confirm_consent::app_credential,
    direct_share, rechecks,
    record::{self, Write},
};
use crate::{
    azure::arm::{ArmIdentity, Operation, api_versions},
    domain::{Location, Machine, ShareRequest, State, Step, VmChecks, VmSpec},
};

/// Inline wait for a network operation Azure answered without a pause (a NIC) before
/// handing over to a re-check.
const INLINE_BUDGET: Duration = Duration::from_secs(10);
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
        State::Completed | State::Shared => return already_done(run, &request, None).await,
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
    let direct = request.machine() == Machine::DirectShareWithVm;
    // A shared image needs no token of the owner's tenant: the share is the permission.
    let consumer = ArmIdentity::App {
        app_id: app.app_id.clone(),
        credential: credential.clone(),
        tenant: request.consumer.tenant_id,
        aux_tenant: (!direct).then_some(owner),
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
            // The operation's own answer: the VM is provisioned, no read of it needed.
            Ok(Operation::Succeeded) => done(run, &request, &vm_id).await,
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

    // The image must be replicated where the VM goes (read with the owner tenant's token;
    // a direct share's app holds no Reader, and the operator identity that shared the
    // gallery reads it).
    let reader = if direct {
        ArmIdentity::Operator
    } else {
        ArmIdentity::App {
            app_id: app.app_id.clone(),
            credential,
            tenant: owner,
            aux_tenant: None,
        }
    };
    // The checks before building, made once: the re-checks that follow the network's
    // operations find them recorded.
    let mut building = match request.progress.vm.checked.clone() {
        Some(checks) => Building {
            checks,
            ready: request.progress.vm.network_ready.clone(),
        },
        None => match check_before_building(run, &request, &consumer, &reader, &vm_id).await? {
            Ok(checks) => Building {
                checks,
                ready: Vec::new(),
            },
            Err(stop) => return Ok(stop),
        },
    };
    if let Some(pending) = &request.progress.vm.network_operation
        && let Some(outcome) =
            follow_pending(run, &request, &consumer, pending, &mut building).await?
    {
        return Ok(outcome);
    }
    let vm_seen = if building.checks.vm_was_ours {
        vm::Seen::Ours
    } else {
        vm::Seen::Absent
    };
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
        if let Some(outcome) = ensure(run, &request, &consumer, nsg, &building).await? {
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
        if let Some(outcome) = ensure(run, &request, &consumer, vnet, &building).await? {
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
    if let Some(outcome) = ensure(run, &request, &consumer, nic, &building).await? {
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
        &vm_seen,
        vm_body(
            &request,
            &spec,
            &placed.nic_id,
            &building.checks,
            &image_reference(&request),
        ),
    )
    .await
}

/// What must hold before anything is built: the image (read as `reader`) is Linux and
/// replicated where the VM goes, a direct share is accepted, and the VM's name is free or
/// ours. `Err(outcome)` when the step stops here.
async fn check_before_building(
    run: &Run<'_>,
    request: &ShareRequest,
    consumer: &ArmIdentity,
    reader: &ArmIdentity,
    vm_id: &str,
) -> Result<Result<VmChecks, Outcome>, StepError> {
    let spec = super::vm_of(request)?;
    let direct = request.machine() == Machine::DirectShareWithVm;
    let image = match image_facts(run, request, reader).await {
        Ok(facts) => facts,
        Err(e) => {
            return verdict(run, request, azure_verdict(run, request, &e))
                .await
                .map(Err);
        }
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
    if direct {
        accept_once(run, request, consumer).await?;
    }
    let vm_was_ours = match vm::refuse_if_taken(run, request, consumer, vm_id).await? {
        vm::Seen::Stop(outcome) => return Ok(Err(outcome)),
        vm::Seen::Ours => true,
        vm::Seen::Absent => false,
    };
    Ok(Ok(VmChecks {
        specialized: image.specialized,
        trusted_launch: image.trusted_launch,
        vm_was_ours,
    }))
}

/// The VM's `imageReference`: the owner's image version, or for a direct share its
/// `sharedGalleryImageId`.
fn image_reference(request: &ShareRequest) -> Value {
    match (request.machine(), request.progress.direct_share.as_ref()) {
        (Machine::DirectShareWithVm, Some(share)) => json!({
            "sharedGalleryImageId": share.shared_image_id(request.image.image(), request.image.version())
        }),
        _ => json!({"id": request.image.to_string()}),
    }
}

/// Accepts the share for the consumer's tenant once, on the admin's behalf (their approval
/// covers it); a refusal is recorded and the VM is tried all the same.
async fn accept_once(
    run: &Run<'_>,
    request: &ShareRequest,
    consumer: &ArmIdentity,
) -> Result<(), StepError> {
    if request
        .progress
        .direct_share
        .as_ref()
        .is_none_or(|d| d.accept_tried_at.is_some())
    {
        return Ok(());
    }
    let detail = match direct_share::accept_on_behalf(run, request, consumer).await? {
        direct_share::Accepted::Yes => format!(
            "The share is accepted for tenant {} on the admin's behalf.",
            request.consumer.tenant_id
        ),
        direct_share::Accepted::Refused(why) => format!(
            "The app may not accept the share for tenant {} ({why}); the VM is created without it. If Azure requires the acceptance, the admin accepts as the notice says.",
            request.consumer.tenant_id
        ),
    };
    let event = run.event();
    record::update(run.ctx, request.id, |r| {
        if r.state() != State::CreatingVm {
            return Ok(Write::Keep(()));
        }
        let Some(d) = r.progress.direct_share.as_mut() else {
            return Ok(Write::Keep(()));
        };
        if d.accept_tried_at.is_some() {
            return Ok(Write::Keep(()));
        }
        d.accept_tried_at = Some(event.at);
        let entry = r.note("share-accepted", detail.clone(), &event);
        Ok(Write::Save(vec![entry], ()))
    })
    .await?;
    Ok(())
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
    done(run, request, vm_id).await
}

/// The VM is provisioned: complete the request (or, for a direct share, hold it).
async fn done(run: &Run<'_>, request: &ShareRequest, vm_id: &str) -> Result<Outcome, StepError> {
    if request.machine() == Machine::DirectShareWithVm {
        return hold_share(run, request, vm_id).await;
    }
    let event = run.event();
    record::update(run.ctx, request.id, |r| {
        if r.state() != State::CreatingVm {
            return Ok(Write::Keep(()));
        }
        vm_made(r, vm_id, event.at);
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

/// Records the VM as made: its id, no operation left to follow, the step done.
fn vm_made(r: &mut ShareRequest, vm_id: &str, at: time::OffsetDateTime) {
    r.progress.vm.operation_url = None;
    r.progress.vm.vm_id = Some(vm_id.to_owned());
    r.steps.ran(Step::CreateVm);
    r.steps.completed(Step::CreateVm, at);
}

/// A direct share's VM exists: the request is held `Shared` for the share's lifetime (VMs
/// made from a shared image need it for reimage and scale-out), UnshareGallery is scheduled
/// at its end, and the admin is told once.
async fn hold_share(
    run: &Run<'_>,
    request: &ShareRequest,
    vm_id: &str,
) -> Result<Outcome, StepError> {
    let event = run.event();
    record::update(run.ctx, request.id, |r| {
        if r.state() != State::CreatingVm {
            return Ok(Write::Keep(()));
        }
        vm_made(r, vm_id, event.at);
        Ok(Write::Save(Vec::new(), ()))
    })
    .await?;
    let request = direct_share::hold_after_vm(run, request.id, vm_id).await?;
    direct_share::notify_vm_made(run, &request).await?;
    Ok(Outcome::Done)
}
