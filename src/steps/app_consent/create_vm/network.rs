//! Network resources (NSG, VNet, NIC): read first, create only what is absent, continue only
//! what carries this request's tag, never touch anything else; then a short inline wait before
//! handing over to a re-check.
//!
//! Network's 2024-05-01 specs declare no `If-Match` / `If-None-Match` on these PUTs
//! (`networkSecurityGroup.json`, `virtualNetwork.json`, `networkInterface.json` in
//! azure-rest-api-specs), so nothing promises that Network refuses a create over an existing
//! resource. We send `If-None-Match: *` anyway (harmless if ignored, a 412 if honoured), but
//! the guarantee is the read before the PUT: a same-named resource created by someone else in
//! the seconds between our read and our PUT is the one window left open.

use std::time::Duration;

use serde_json::Value;

use super::super::{Outcome, Run, StepError, rechecks};
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
    domain::ShareRequest,
};

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
) -> Result<Option<Outcome>, StepError> {
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
            follow(run, request, who, wanted.id, started).await
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
                other => follow(run, request, who, wanted.id, other).await,
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

/// Follows a PUT: a short inline wait, then a re-check if still running.
async fn follow(
    run: &Run<'_>,
    request: &ShareRequest,
    who: &ArmIdentity,
    id: &str,
    started: Result<Started, AzureError>,
) -> Result<Option<Outcome>, StepError> {
    let cloud = run.cloud()?;
    let started = match started {
        Ok(s) => s,
        Err(e) => return stop(run, request, azure_verdict(run, request, &e)).await,
    };
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
            stop(
                run,
                request,
                classify_operation(run, request, &code, &message),
            )
            .await
        }
        Err(e) => stop(run, request, azure_verdict(run, request, &e)).await,
    }
}

async fn stop(
    run: &Run<'_>,
    request: &ShareRequest,
    v: Verdict,
) -> Result<Option<Outcome>, StepError> {
    verdict(run, request, v).await.map(Some)
}
