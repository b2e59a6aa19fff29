//! The VM itself: read first; absent → create with `If-None-Match: *` (ComputeRP 2024-07-01
//! declares `If-None-Match` on `VirtualMachines_CreateOrUpdate`: "Set to '*' to allow a new
//! record set to be created, but to prevent updating an existing record set"), so a VM that
//! appeared since our read is refused with 412 instead of being overwritten; ours → follow
//! it to the end without a second PUT; someone else's → fail, leaving it as it is.

use std::time::Duration;

use serde_json::Value;

use super::super::{
    Outcome, Run, StepError, rechecks,
    record::{self, Write},
};
use super::{
    POLL, finish,
    ownership::{self, Found},
    verdict::{azure_verdict, verdict},
};
use crate::{
    azure::arm::{ArmIdentity, Started, api_versions},
    domain::{ShareRequest, State},
};

/// Where the VM goes: the network it was given.
pub(super) struct Placed {
    pub(super) subnet_id: String,
    pub(super) nic_id: String,
    pub(super) vm_id: String,
}

/// What the read before the network found of the VM.
pub(super) enum Seen {
    /// No VM of that name: [`create`] PUTs it with `If-None-Match: *` without reading again
    /// (a VM made since is refused with 412, and then read).
    Absent,
    /// Ours already: [`create`] reads it again after the network is built.
    Ours,
    /// The step stops here (a read that must be retried later).
    Stop(Outcome),
}

/// Before anything is built: a VM of our name that is someone else's ends the request at
/// once, so no network is created for a VM that can never be ours.
pub(super) async fn refuse_if_taken(
    run: &Run<'_>,
    request: &ShareRequest,
    who: &ArmIdentity,
    vm_id: &str,
) -> Result<Seen, StepError> {
    let cloud = run.cloud()?;
    match cloud.arm.get(who, vm_id, api_versions::COMPUTE).await {
        Ok(r) => match Found::of(r, request.id) {
            Found::Theirs => Err(someone_elses(request, vm_id)),
            Found::Ours(_) => Ok(Seen::Ours),
            Found::Absent => Ok(Seen::Absent),
        },
        Err(e) => verdict(run, request, azure_verdict(run, request, &e))
            .await
            .map(Seen::Stop),
    }
}

/// Creates the VM once, or continues the one this request created. `seen` is what the read
/// before the network found: absent, the conditional create alone guards against a VM made
/// since.
pub(super) async fn create(
    run: &Run<'_>,
    request: &ShareRequest,
    who: &ArmIdentity,
    placed: &Placed,
    seen: &Seen,
    body: Value,
) -> Result<Outcome, StepError> {
    let cloud = run.cloud()?;
    let vm_id = placed.vm_id.as_str();
    let existing = match seen {
        Seen::Absent => Found::Absent,
        Seen::Ours | Seen::Stop(_) => {
            match cloud.arm.get(who, vm_id, api_versions::COMPUTE).await {
                Ok(r) => Found::of(r, request.id),
                Err(e) => return verdict(run, request, azure_verdict(run, request, &e)).await,
            }
        }
    };
    let started = match existing {
        Found::Theirs => return Err(someone_elses(request, vm_id)),
        // Ours, and its last operation failed in a way judged worth retrying (a terminal
        // failure would have ended the request): it is ours to PUT again.
        Found::Ours(vm) if ownership::failed(&vm) => {
            cloud.arm.put(who, vm_id, api_versions::COMPUTE, body).await
        }
        // Ours (a crash lost the record of our PUT, or another run made it): no second PUT;
        // the VM's provisioningState tells the rest.
        Found::Ours(_) => return continue_ours(run, request, who, placed).await,
        Found::Absent => {
            cloud
                .arm
                .create_only(who, vm_id, api_versions::COMPUTE, body)
                .await
        }
    };
    let started = match started {
        Ok(started) => started,
        // Someone created it between our read and our PUT: decide again on what is there.
        Err(e) if e.status() == Some(412) => {
            return match cloud.arm.get(who, vm_id, api_versions::COMPUTE).await {
                Ok(r) => match Found::of(r, request.id) {
                    Found::Theirs => Err(someone_elses(request, vm_id)),
                    Found::Ours(_) => continue_ours(run, request, who, placed).await,
                    Found::Absent => rechecks::again(run, POLL, "the VM to appear".into()).await,
                },
                Err(e) => verdict(run, request, azure_verdict(run, request, &e)).await,
            };
        }
        Err(e) => return verdict(run, request, azure_verdict(run, request, &e)).await,
    };
    record_started(
        run,
        request,
        placed,
        started.poll_url().map(ToString::to_string),
    )
    .await?;
    if started.poll_url().is_none() {
        return finish(run, request, who, vm_id).await;
    }
    rechecks::again(
        run,
        first_poll(&started).max(Duration::from_secs(5)),
        "the VM to finish provisioning".into(),
    )
    .await
}

fn first_poll(started: &Started) -> Duration {
    started.retry_after.unwrap_or(POLL)
}

fn someone_elses(request: &ShareRequest, vm_id: &str) -> StepError {
    ownership::belongs_to_someone_else("virtual machine", vm_id, request.id)
}

/// Our VM exists: record where it is, then follow its provisioning state.
async fn continue_ours(
    run: &Run<'_>,
    request: &ShareRequest,
    who: &ArmIdentity,
    placed: &Placed,
) -> Result<Outcome, StepError> {
    record_started(run, request, placed, None).await?;
    finish(run, request, who, &placed.vm_id).await
}

/// Records the VM as accepted by Resource Manager (once in the history).
async fn record_started(
    run: &Run<'_>,
    request: &ShareRequest,
    placed: &Placed,
    operation: Option<String>,
) -> Result<(), StepError> {
    let event = run.event();
    let detail = format!(
        "VM creation accepted by Resource Manager: {}{}, from image {}.",
        placed.vm_id,
        request
            .vm
            .as_ref()
            .map(|vm| format!(" ({})", vm.size))
            .unwrap_or_default(),
        request.image
    );
    record::update(run.ctx, request.id, |r| {
        if r.state() != State::CreatingVm {
            return Ok(Write::Keep(()));
        }
        let first_time = r.progress.vm.vm_id.is_none();
        r.progress.vm.subnet_id = Some(placed.subnet_id.clone());
        r.progress.vm.nic_id = Some(placed.nic_id.clone());
        r.progress.vm.vm_id = Some(placed.vm_id.clone());
        r.progress.vm.operation_url.clone_from(&operation);
        // The network is built: what followed it is of no further use.
        r.progress.vm.network_operation = None;
        r.progress.vm.network_ready.clear();
        r.progress.vm.checked = None;
        let entries = if first_time {
            vec![r.note("vm-creation-started", detail.clone(), &event)]
        } else {
            Vec::new()
        };
        Ok(Write::Save(entries, ()))
    })
    .await?;
    Ok(())
}
