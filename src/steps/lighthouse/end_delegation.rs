//! EndDelegation: at the end of the delegation's lifetime (a scheduled message, the
//! reconciler behind it) or on a revocation, remove the registration assignment, then the
//! definition; the request ends `Completed` (or `Revoked`) with each removal in its history.
//! Idempotent, and safe when the consumer already removed the assignment with the Delete
//! Role (204: already gone). Under the delegation's lock, and only when no other active
//! request of the same tenant and group still uses the delegation (the last one removes it).

use super::{
    KIND, Outcome, POLL, Run, StepError, lifetime, lock, rechecks, record,
    template::{self, DEPLOYMENTS_API, MANAGED_SERVICES_API},
};
use crate::{
    azure::arm::ArmIdentity,
    domain::{Kept, Removable, Removal, RemovalService, ShareRequest, State, Strategy},
};

pub(super) async fn run(run: &Run<'_>) -> Result<Outcome, StepError> {
    let ctx = run.ctx;
    let Some(stored) = record::load(ctx, run.message.request_id).await? else {
        return Ok(Outcome::Stale("no such request".into()));
    };
    let request = stored.request;
    if let Some(outcome) =
        lifetime::end_may_go(run, &request, &KIND, "the delegation's lifetime to end").await?
    {
        return Ok(outcome);
    }

    let scope = template::scope(&request);
    let subject = lock::Subject::delegation(&scope);
    let (removed, kept) = match lock::with(ctx, &subject, request.id, remove(run, &request)).await?
    {
        Removed::Done(removed, kept) => (removed, kept),
        Removed::Running(waiting) => return rechecks::again(run, POLL, waiting).await,
    };

    let done = request
        .progress
        .delegation
        .as_ref()
        .is_some_and(|d| d.done_at.is_some());
    let text = lifetime::EndText {
        completed: (
            "delegation-ended",
            if done {
                "The consumer's admin said they are done; the delegation is removed."
            } else {
                "The delegation's lifetime is over; the delegation is removed."
            }
            .to_owned(),
        ),
        revoked: "Revoked: the delegation is removed.",
        kept: "Another request of the tenant still uses it; that request removes it when it ends.",
    };
    lifetime::finish(run, request.id, &KIND, &removed, &kept, &text).await
}

enum Removed {
    Done(Vec<Removal>, Vec<Kept>),
    Running(String),
}

async fn remove(run: &Run<'_>, request: &ShareRequest) -> Result<Removed, StepError> {
    let arm = &run.cloud()?.arm;
    // A deployment still running would create what is removed here after the removal.
    if let Some(deployment) = arm
        .get(
            &ArmIdentity::Operator,
            &template::deployment_id(request),
            DEPLOYMENTS_API,
        )
        .await?
    {
        let state = deployment["properties"]["provisioningState"]
            .as_str()
            .unwrap_or_default();
        if !matches!(state, "Succeeded" | "Failed" | "Canceled") {
            return Ok(Removed::Running(
                "the delegation's deployment to finish before removing it".into(),
            ));
        }
    }
    let record = request.progress.delegation.clone().unwrap_or_default();
    let scope = template::scope(request);
    if let Some(other) = other_user(run, request, &scope).await? {
        let reason = format!("request {other} still uses the delegation");
        return Ok(Removed::Done(
            Vec::new(),
            [
                (Removable::RegistrationAssignment, record.assignment_id),
                (Removable::RegistrationDefinition, record.definition_id),
            ]
            .into_iter()
            .filter(|(_, id)| !id.is_empty())
            .map(|(what, id)| Kept {
                what,
                id,
                reason: reason.clone(),
            })
            .collect(),
        ));
    }
    // The ids recorded, or (a revocation before the delegation was confirmed) the ones the
    // group's assignments name for this tenant's offer.
    let (mut assignment, mut definition) = (record.assignment_id, record.definition_id);
    if assignment.is_empty() {
        let offer = template::offer_name(request);
        if let Some(a) = super::delegate::assignments(run, &scope).await?.iter().find(|a| {
            a["properties"]["registrationDefinition"]["properties"]["registrationDefinitionName"]
                .as_str()
                == Some(offer.as_str())
        }) {
            assignment = a["id"].as_str().unwrap_or_default().to_owned();
            definition = a["properties"]["registrationDefinitionId"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
        }
    }
    let mut removed = Vec::new();
    if !assignment.is_empty() {
        let deleted = arm
            .delete(&ArmIdentity::Operator, &assignment, MANAGED_SERVICES_API)
            .await?;
        if let Some((url, _)) = &deleted.running {
            match arm.poll(&ArmIdentity::Operator, url).await? {
                crate::azure::arm::Operation::Succeeded => {}
                crate::azure::arm::Operation::Running(_) => {
                    return Ok(Removed::Running(
                        "the registration assignment's removal to finish".into(),
                    ));
                }
                crate::azure::arm::Operation::Failed { code, message } => {
                    return Err(StepError::retryable(anyhow::anyhow!(
                        "removing {assignment} failed: {code} {message}"
                    )));
                }
            }
        }
        removed.push(super::removal::of(
            run,
            Removable::RegistrationAssignment,
            &assignment,
            RemovalService::Arm,
            &deleted,
        ));
    }
    if !definition.is_empty() {
        match arm
            .delete(&ArmIdentity::Operator, &definition, MANAGED_SERVICES_API)
            .await
        {
            Ok(deleted) => {
                removed.push(super::removal::of(
                    run,
                    Removable::RegistrationDefinition,
                    &definition,
                    RemovalService::Arm,
                    &deleted,
                ));
            }
            // The assignment's removal has not reached the definition yet.
            Err(e) if e.has_code("RegistrationDefinitionInUse") => {
                return Ok(Removed::Running(
                    "the registration definition to be free of its assignment".into(),
                ));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Removed::Done(removed, Vec::new()))
}

/// Another active `lighthouse` request of the same tenant and group, if any.
async fn other_user(
    run: &Run<'_>,
    request: &ShareRequest,
    scope: &str,
) -> Result<Option<crate::domain::RequestId>, StepError> {
    let all = run
        .ctx
        .store
        .list_for_consumer(request.consumer.tenant_id)
        .await
        .map_err(StepError::from)?;
    Ok(all
        .into_iter()
        .map(|s| s.request)
        .find(|r| {
            r.id != request.id
                && r.strategy == Strategy::Lighthouse
                && matches!(
                    r.state(),
                    State::Submitted | State::Delegating | State::Delegated
                )
                && template::scope(r).eq_ignore_ascii_case(scope)
        })
        .map(|r| r.id))
}
