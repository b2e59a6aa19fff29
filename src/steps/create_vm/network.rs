//! Network resources: PUT, then a short inline wait before handing over to a re-check.

use std::time::Duration;

use serde_json::Value;

use super::super::{Outcome, Run, StepError, rechecks};
use super::{
    INLINE_BUDGET,
    verdict::{azure_verdict, classify_operation, verdict},
};
use crate::{
    azure::arm::{ArmIdentity, Operation, Started},
    domain::ShareRequest,
};

/// PUTs a network resource and waits briefly; `Some(outcome)` when the step must stop here.
pub(super) async fn put_and_wait(
    run: &Run<'_>,
    request: &ShareRequest,
    who: &ArmIdentity,
    id: &str,
    api_version: &str,
    body: Value,
) -> Result<Option<Outcome>, StepError> {
    let cloud = run.cloud()?;
    let started: Started = match cloud.arm.put(who, id, api_version, body).await {
        Ok(s) => s,
        Err(e) => {
            return verdict(run, request, azure_verdict(run, request, &e))
                .await
                .map(Some);
        }
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
        Ok(Operation::Failed { code, message }) => verdict(
            run,
            request,
            classify_operation(run, request, &code, &message),
        )
        .await
        .map(Some),
        Err(e) => verdict(run, request, azure_verdict(run, request, &e))
            .await
            .map(Some),
    }
}
