//! Deletions in the consumer's tenant (`deleteResources`): the VM, its NIC, and the VNet and
//! NSG imageshare made for it, as the app, while the consumer's consent and role grant still
//! let it. Only resources carrying this request's tag are deleted; anything else at those
//! names is the consumer's and is left alone.

use std::time::Duration;

use super::super::{
    Run, StepError,
    create_vm::{ids, ownership::Found},
    entra_codes,
};
use super::owner::removal;
use crate::{
    azure::{
        AzureError,
        arm::{ArmIdentity, Operation, api_versions},
    },
    domain::{Removable, Removal, RemovalOutcome, RemovalService, ShareRequest},
};

/// How long one run follows a VM delete before handing over to a re-check.
const INLINE_BUDGET: Duration = Duration::from_secs(45);

/// What one pass over the consumer's resources did.
#[derive(Debug)]
pub(in crate::steps) enum Pass {
    /// Everything of ours is gone (the removals made by this pass).
    Done(Vec<Removal>),
    /// A delete is still running; look again after the pause.
    Running(Vec<Removal>, Duration),
    /// The app can no longer act in the consumer's tenant (consent or role removed, the
    /// credential refused): what is left is for the consumer's admin (the reason).
    Unable(Vec<Removal>, String),
}

/// Whether an error means the app may not act in the consumer's tenant any more, rather
/// than an outage.
fn is_refusal(error: &AzureError) -> bool {
    matches!(error, AzureError::Token { .. }) && !error.is_retryable()
        || matches!(error.status(), Some(401 | 403))
}

/// This request's resources in the consumer's tenant, in the order they can be deleted.
fn targets(request: &ShareRequest) -> Vec<(Removable, String, &'static str)> {
    let Some(spec) = &request.vm else {
        return Vec::new();
    };
    let (vm, nic, vnet, nsg, _) = ids(request, spec);
    vec![
        (Removable::VirtualMachine, vm, api_versions::COMPUTE),
        (Removable::NetworkInterface, nic, api_versions::NETWORK),
        (Removable::VirtualNetwork, vnet, api_versions::NETWORK),
        (Removable::NetworkSecurityGroup, nsg, api_versions::NETWORK),
    ]
}

/// What could not be deleted, for the consumer's admin: what the request recorded making.
pub(in crate::steps) fn left_behind(
    run: &Run<'_>,
    request: &ShareRequest,
    reason: &str,
) -> Vec<Removal> {
    let made = &request.progress.vm;
    let mut left = Vec::new();
    let now = run.ctx.clock.now();
    let own_network = request.vm.as_ref().is_some_and(|vm| vm.subnet_id.is_none());
    for (what, id, _) in targets(request) {
        let recorded = match what {
            Removable::VirtualMachine => made.vm_id.is_some() || made.operation_url.is_some(),
            Removable::NetworkInterface => made.nic_id.is_some(),
            _ => own_network && made.subnet_id.is_some(),
        };
        if recorded {
            left.push(Removal {
                what,
                id,
                at: now,
                outcome: RemovalOutcome::NotRemoved,
                service: RemovalService::Arm,
                service_request_id: None,
                detail: Some(reason.to_owned()),
            });
        }
    }
    left
}

/// Deletes what is ours, one resource after another. `propagating`: the credential was put
/// back moments ago, so Entra refusing it is taken as propagation (retried), not as the end.
pub(in crate::steps) async fn delete_ours(
    run: &Run<'_>,
    request: &ShareRequest,
    who: &ArmIdentity,
    propagating: bool,
) -> Result<Pass, StepError> {
    let cloud = run.cloud()?;
    let mut removed = Vec::new();
    for (what, id, api_version) in targets(request) {
        let found = match cloud.arm.get(who, &id, api_version).await {
            Ok(resource) => Found::of(resource, request.id),
            Err(e)
                if propagating
                    && matches!(
                        entra_codes::classify(&e),
                        entra_codes::TokenFault::CredentialRefused(_)
                    ) =>
            {
                return Err(StepError::retryable(e));
            }
            Err(e) if is_refusal(&e) => {
                return Ok(Pass::Unable(removed, e.to_string()));
            }
            Err(e) => return Err(e.into()),
        };
        if !matches!(found, Found::Ours(_)) {
            continue;
        }
        let deleted = match cloud.arm.delete(who, &id, api_version).await {
            Ok(deleted) => deleted,
            Err(e) if is_refusal(&e) => return Ok(Pass::Unable(removed, e.to_string())),
            Err(e) => return Err(e.into()),
        };
        if let Some((url, after)) = &deleted.running {
            match follow(run, who, url, *after).await? {
                Operation::Running(after) => {
                    return Ok(Pass::Running(
                        removed,
                        after.unwrap_or(Duration::from_secs(10)),
                    ));
                }
                Operation::Failed { code, message } => {
                    return Err(StepError::retryable(anyhow::anyhow!(
                        "deleting {id} failed: {code}: {message}"
                    )));
                }
                Operation::Succeeded => {}
            }
        }
        removed.push(removal(run, what, &id, RemovalService::Arm, &deleted));
    }
    Ok(Pass::Done(removed))
}

/// Follows a delete within the inline budget.
async fn follow(
    run: &Run<'_>,
    who: &ArmIdentity,
    url: &url::Url,
    first: Option<Duration>,
) -> Result<Operation, StepError> {
    let cloud = run.cloud()?;
    let deadline = tokio::time::Instant::now() + INLINE_BUDGET;
    let mut wait = first
        .unwrap_or(Duration::from_secs(2))
        .min(Duration::from_secs(10));
    loop {
        if tokio::time::Instant::now() + wait > deadline {
            return Ok(Operation::Running(Some(wait)));
        }
        tokio::time::sleep(wait).await;
        match cloud.arm.poll(who, url).await? {
            Operation::Running(after) => {
                wait = after.unwrap_or(wait).min(Duration::from_secs(10));
            }
            done => return Ok(done),
        }
    }
}
