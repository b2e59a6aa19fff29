//! Network resources (NSG, VNet, NIC): read first, create only what is absent, continue only
//! what carries this request's tag, never touch anything else. A creation Azure asks to look
//! at again later (`Retry-After`) is followed by re-checks that poll its operation, so no
//! invocation holds one of the host's concurrent calls while Network works (DESIGN §3 rule
//! 6); one answered without a pause (a NIC) is followed inline for a moment.
//!
//! Network's 2024-05-01 specs declare no `If-Match` / `If-None-Match` on these PUTs
//! (`networkSecurityGroup.json`, `virtualNetwork.json`, `networkInterface.json` in
//! azure-rest-api-specs), so nothing promises that Network refuses a create over an existing
//! resource. We send `If-None-Match: *` anyway (harmless if ignored, a 412 if honoured), but
//! the guarantee is the read before the PUT: a same-named resource created by someone else in
//! the seconds between our read and our PUT is the one window left open.

use std::time::Duration;

use serde_json::Value;

use super::super::{
    Outcome, Run, StepError, rechecks,
    record::{self, Write},
};
use super::{
    INLINE_BUDGET,
    ownership::{self, Found},
    verdict::{Verdict, azure_verdict, classify_operation, verdict},
};
use crate::{
    azure::{
        AzureError,
        arm::{ArmIdentity, Operation, Started},
    },
    domain::{NetworkOperation, ShareRequest, State, VmChecks},
};

/// The longest pause between looks at a running network operation. Network answers
/// `Retry-After: 10` to a first poll of operations that take a few seconds; looking after
/// at most 5 s is what the inline wait this replaces did, and costs no extra poll.
const LOOK_AGAIN_AT_MOST: Duration = Duration::from_secs(5);

/// What this run of CreateVm knows while it builds the network: the checks made before it
/// (recorded with the first network operation) and the resources found ready.
pub(super) struct Building {
    pub(super) checks: VmChecks,
    pub(super) ready: Vec<String>,
}

impl Building {
    fn is_ready(&self, id: &str) -> bool {
        self.ready.iter().any(|r| r.eq_ignore_ascii_case(id))
    }
}

fn pause(after: Option<Duration>) -> Duration {
    after
        .unwrap_or(LOOK_AGAIN_AT_MOST)
        .clamp(Duration::from_secs(1), LOOK_AGAIN_AT_MOST)
}

/// Polls the network operation an earlier run left running: `Some(outcome)` when the step
/// stops here (still running: the next re-check; failed: the verdict), `None` once it
/// succeeded and the resource is added to `building.ready`.
pub(super) async fn follow_pending(
    run: &Run<'_>,
    request: &ShareRequest,
    who: &ArmIdentity,
    pending: &NetworkOperation,
    building: &mut Building,
) -> Result<Option<Outcome>, StepError> {
    let cloud = run.cloud()?;
    let url = url::Url::parse(&pending.url).map_err(|e| StepError::Retryable(e.into()))?;
    match cloud.arm.poll(who, &url).await {
        Ok(Operation::Running(after)) => rechecks::again(
            run,
            pause(after),
            format!("{} to be provisioned", pending.id),
        )
        .await
        .map(Some),
        Ok(Operation::Succeeded) => {
            building.ready.push(pending.id.clone());
            Ok(None)
        }
        Ok(Operation::Failed { code, message }) => {
            // Read and PUT again next time: the resource is ours, its operation is over.
            record::update(run.ctx, request.id, |r| {
                if r.state() != State::CreatingVm {
                    return Ok(Write::Keep(()));
                }
                r.progress.vm.network_operation = None;
                Ok(Write::Save(Vec::new(), ()))
            })
            .await?;
            operation_failed(run, request, &code, &message).await
        }
        Err(e) => stop(run, request, azure_verdict(run, request, &e)).await,
    }
}

/// A network resource CreateVm owns.
pub(super) struct Wanted<'a> {
    /// What a person calls it ("network security group").
    pub(super) kind: &'a str,
    /// Its id.
    pub(super) id: &'a str,
    /// Its api-version.
    pub(super) api_version: &'a str,
    /// The body to create it with (carrying our tag).
    pub(super) body: Value,
}

/// Makes sure `wanted` exists and is ours; `Some(outcome)` when the step must stop here
/// (waiting, or failed).
pub(super) async fn ensure(
    run: &Run<'_>,
    request: &ShareRequest,
    who: &ArmIdentity,
    wanted: Wanted<'_>,
    building: &Building,
) -> Result<Option<Outcome>, StepError> {
    if building.is_ready(wanted.id) {
        return Ok(None);
    }
    let cloud = run.cloud()?;
    let found = match cloud.arm.get(who, wanted.id, wanted.api_version).await {
        Ok(r) => Found::of(r, request.id),
        Err(e) => return stop(run, request, azure_verdict(run, request, &e)).await,
    };
    match found {
        Found::Theirs => Err(ownership::belongs_to_someone_else(
            wanted.kind,
            wanted.id,
            request.id,
        )),
        Found::Ours(r) if ownership::still_running(&r) => Ok(Some(
            rechecks::again(
                run,
                Duration::from_secs(10),
                format!("{} to be provisioned", wanted.id),
            )
            .await?,
        )),
        // Our own, and its last operation failed: PUT it again (it is ours to update).
        Found::Ours(r) if ownership::failed(&r) => {
            let started = cloud
                .arm
                .put(who, wanted.id, wanted.api_version, wanted.body)
                .await;
            follow(run, request, who, wanted.id, started, building).await
        }
        Found::Ours(_) => Ok(None),
        Found::Absent => {
            let started = cloud
                .arm
                .create_only(who, wanted.id, wanted.api_version, wanted.body)
                .await;
            match started {
                // Someone created it between our read and our PUT: decide again on what is
                // there now, once (a further race waits for the next re-check).
                Err(e) if e.status() == Some(412) => {
                    after_lost_race(
                        run,
                        request,
                        who,
                        wanted.kind,
                        wanted.id,
                        wanted.api_version,
                    )
                    .await
                }
                other => follow(run, request, who, wanted.id, other, building).await,
            }
        }
    }
}

/// After a 412 on our create: ours now → continue (or wait for it); theirs → fail; gone again
/// → look once more at the next re-check.
async fn after_lost_race(
    run: &Run<'_>,
    request: &ShareRequest,
    who: &ArmIdentity,
    kind: &str,
    id: &str,
    api_version: &str,
) -> Result<Option<Outcome>, StepError> {
    let cloud = run.cloud()?;
    match cloud.arm.get(who, id, api_version).await {
        Ok(r) => match Found::of(r, request.id) {
            Found::Theirs => Err(ownership::belongs_to_someone_else(kind, id, request.id)),
            Found::Ours(r) if !ownership::still_running(&r) && !ownership::failed(&r) => Ok(None),
            Found::Ours(_) | Found::Absent => Ok(Some(
                rechecks::again(
                    run,
                    Duration::from_secs(10),
                    format!("{id} to be provisioned"),
                )
                .await?,
            )),
        },
        Err(e) => stop(run, request, azure_verdict(run, request, &e)).await,
    }
}

/// Follows a PUT: a re-check when Azure asks for a pause, else a short inline wait (and a
/// re-check if that is not enough).
async fn follow(
    run: &Run<'_>,
    request: &ShareRequest,
    who: &ArmIdentity,
    id: &str,
    started: Result<Started, AzureError>,
    building: &Building,
) -> Result<Option<Outcome>, StepError> {
    let cloud = run.cloud()?;
    let started = match started {
        Ok(s) => s,
        Err(e) => return stop(run, request, azure_verdict(run, request, &e)).await,
    };
    if let (Some(url), Some(after)) = (started.poll_url(), started.retry_after) {
        let pending = NetworkOperation {
            id: id.to_owned(),
            url: url.to_string(),
        };
        let (checks, ready) = (building.checks.clone(), building.ready.clone());
        return rechecks::again_noting(
            run,
            pause(Some(after)),
            format!("{id} to be provisioned"),
            move |r| {
                r.progress.vm.network_operation = Some(pending.clone());
                r.progress.vm.network_ready.clone_from(&ready);
                r.progress.vm.checked = Some(checks.clone());
            },
        )
        .await
        .map(Some);
    }
    match cloud.arm.wait(who, &started, INLINE_BUDGET).await {
        Ok(Operation::Succeeded) => Ok(None),
        Ok(Operation::Running(_)) => rechecks::again(
            run,
            Duration::from_secs(10),
            format!("{id} to be provisioned"),
        )
        .await
        .map(Some),
        Ok(Operation::Failed { code, message }) => {
            operation_failed(run, request, &code, &message).await
        }
        Err(e) => stop(run, request, azure_verdict(run, request, &e)).await,
    }
}

/// An operation that ended `Failed`: its verdict (a transient code is tried again).
async fn operation_failed(
    run: &Run<'_>,
    request: &ShareRequest,
    code: &str,
    message: &str,
) -> Result<Option<Outcome>, StepError> {
    stop(
        run,
        request,
        classify_operation(run, request, code, message),
    )
    .await
}

async fn stop(
    run: &Run<'_>,
    request: &ShareRequest,
    v: Verdict,
) -> Result<Option<Outcome>, StepError> {
    verdict(run, request, v).await.map(Some)
}
