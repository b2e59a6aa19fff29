//! Delegate: deploy Microsoft's resource-group delegation template at subscription scope in
//! the owner's subscription (as `az deployment sub create` does), follow the deployment,
//! confirm the registration assignment reached `Succeeded`, then tell the consumer's admin.
//!
//! `Submitted`: under the delegation's lock, the preflight runs and the deployment is PUT
//! unless it already exists, so two requests for the same tenant and group make one
//! deployment, one definition and one assignment (the second follows the first's). A group
//! already delegated by anyone else, or to the same tenant with other principals, is refused:
//! the template names its assignment after the group, so deploying again would replace it.
//! `Delegating`: each re-check reads the deployment; its end decides.

use serde_json::Value;

use super::{
    KIND, Outcome, POLL, Run, StepError, already_done, lifetime, lock, notice, preflight, rechecks,
    record,
    template::{self, DEPLOYMENTS_API, MANAGED_SERVICES_API},
};
use crate::{
    azure::arm::ArmIdentity,
    consent_state,
    domain::{DelegationRecord, ShareRequest, State, Step},
};

pub(super) async fn run(run: &Run<'_>) -> Result<Outcome, StepError> {
    let ctx = run.ctx;
    let Some(stored) = record::load(ctx, run.message.request_id).await? else {
        return Ok(Outcome::Stale("no such request".into()));
    };
    let request = stored.request;
    match request.state() {
        State::Submitted | State::Delegating => {}
        State::Delegated => return notify_once(run, &request).await,
        s if s.pipeline_is_over() => return Ok(Outcome::Stale(format!("the request is {s}"))),
        s => return Ok(Outcome::Stale(format!("the request is {s}"))),
    }
    if let Some(stale) = rechecks::superseded(run, &request) {
        return Ok(stale);
    }
    if request.delegation.is_none() {
        return Err(StepError::terminal(
            "The request has no delegation plan; strategy 'lighthouse' needs consumer.principals.",
        ));
    }
    if request.state() == State::Submitted {
        start(run, &request).await?;
    }
    follow(run, request.id).await
}

/// Preflight and the deployment's PUT, under the lock; then `Delegating`.
async fn start(run: &Run<'_>, request: &ShareRequest) -> Result<(), StepError> {
    let ctx = run.ctx;
    let scope = template::scope(request);
    let deploy = async {
        let location = preflight::check(run, request).await?;
        refuse_foreign_delegation(run, request, &scope).await?;
        let deployment = template::deployment_id(request);
        let arm = &run.cloud()?.arm;
        if let Some(existing) = arm
            .get(&ArmIdentity::Operator, &deployment, DEPLOYMENTS_API)
            .await?
        {
            same_principals(request, &existing)?;
        } else {
            let body =
                template::deployment_body(request, &location).map_err(StepError::terminal)?;
            arm.put(&ArmIdentity::Operator, &deployment, DEPLOYMENTS_API, body)
                .await?;
        }
        let begin = lifetime::Begin {
            to: State::Delegating,
            event: "delegating",
            step: Step::Delegate,
        };
        let detail = format!(
            "Deploying the delegation of {scope} to tenant {}: {deployment}.",
            request.consumer.tenant_id
        );
        let first = DelegationRecord {
            deployment_id: deployment.clone(),
            scope: scope.clone(),
            ..DelegationRecord::default()
        };
        lifetime::begin(run, request.id, &KIND, &begin, &detail, first).await
    };
    lock::with(ctx, &lock::Subject::delegation(&scope), request.id, deploy).await
}

/// Refuses a group already delegated by a definition that is not this tenant's offer.
async fn refuse_foreign_delegation(
    run: &Run<'_>,
    request: &ShareRequest,
    scope: &str,
) -> Result<(), StepError> {
    let assignments = assignments(run, scope).await?;
    let offer = template::offer_name(request);
    for a in &assignments {
        let definition = &a["properties"]["registrationDefinition"]["properties"];
        let ours = definition["registrationDefinitionName"].as_str() == Some(offer.as_str())
            && definition["managedByTenantId"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case(&request.consumer.tenant_id.to_string()));
        if !ours {
            return Err(StepError::terminal(format!(
                "The resource group {scope} is already delegated ({}, to tenant {}); Microsoft's template names its assignment after the resource group, so delegating it again would replace that delegation. Remove it first, or keep the gallery in a resource group of its own.",
                a["id"].as_str().unwrap_or("a registration assignment"),
                definition["managedByTenantId"]
                    .as_str()
                    .unwrap_or("unknown")
            )));
        }
        if template::principal_ids(&definition["authorizations"])
            != template::principal_ids(&template::authorizations(request))
        {
            return Err(different_principals(scope));
        }
    }
    Ok(())
}

fn different_principals(scope: &str) -> StepError {
    StepError::terminal(format!(
        "The resource group {scope} is already delegated to this tenant with other principals; a delegation's principals are changed by the image owner, not by a second request. Use the same principals, or revoke the earlier request first."
    ))
}

/// A deployment made for an earlier request of the pair must name the same principals.
fn same_principals(request: &ShareRequest, deployment: &Value) -> Result<(), StepError> {
    let given = &deployment["properties"]["parameters"]["authorizations"]["value"];
    if template::principal_ids(given) == template::principal_ids(&template::authorizations(request))
    {
        Ok(())
    } else {
        Err(different_principals(&template::scope(request)))
    }
}

/// The group's registration assignments, each with its definition.
pub(super) async fn assignments(run: &Run<'_>, scope: &str) -> Result<Vec<Value>, StepError> {
    let listed = run
        .cloud()?
        .arm
        .get(
            &ArmIdentity::Operator,
            &format!(
                "{scope}/providers/Microsoft.ManagedServices/registrationAssignments?$expandRegistrationDefinition=true"
            ),
            MANAGED_SERVICES_API,
        )
        .await?
        .unwrap_or_default();
    Ok(listed
        .get("value")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default())
}

/// Reads the deployment: running → look again; failed → the request fails with ARM's
/// reason; succeeded → confirm the assignment and move to `Delegated`.
async fn follow(run: &Run<'_>, id: crate::domain::RequestId) -> Result<Outcome, StepError> {
    let Some(stored) = record::load(run.ctx, id).await? else {
        return Ok(Outcome::Stale("no such request".into()));
    };
    let request = stored.request;
    if request.state() != State::Delegating {
        return already_done(run, &request, None).await;
    }
    let arm = &run.cloud()?.arm;
    let deployment = template::deployment_id(&request);
    let Some(found) = arm
        .get(&ArmIdentity::Operator, &deployment, DEPLOYMENTS_API)
        .await?
    else {
        return Err(StepError::retryable(anyhow::anyhow!(
            "the deployment {deployment} is not there yet"
        )));
    };
    let state = found["properties"]["provisioningState"]
        .as_str()
        .unwrap_or_default();
    match state {
        "Succeeded" => {}
        "Failed" | "Canceled" => {
            let error = &found["properties"]["error"];
            let details = error["details"]
                .as_array()
                .map(|d| {
                    d.iter()
                        .filter_map(|x| x["message"].as_str())
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default();
            return Err(StepError::terminal(format!(
                "The delegation's deployment {deployment} ended {state}: {} {} {details}",
                error["code"].as_str().unwrap_or("DeploymentFailed"),
                error["message"].as_str().unwrap_or("")
            )));
        }
        _ => {
            return rechecks::again(run, POLL, "the delegation's deployment to finish".into())
                .await;
        }
    }
    let scope = template::scope(&request);
    let offer = template::offer_name(&request);
    let assignments = assignments(run, &scope).await?;
    let ours = assignments.iter().find(|a| {
        a["properties"]["registrationDefinition"]["properties"]["registrationDefinitionName"]
            .as_str()
            == Some(offer.as_str())
    });
    let Some(assignment) = ours else {
        return rechecks::again(run, POLL, "the registration assignment to appear".into()).await;
    };
    if assignment["properties"]["provisioningState"].as_str() != Some("Succeeded") {
        return rechecks::again(run, POLL, "the registration assignment to succeed".into()).await;
    }
    let assignment_id = assignment["id"].as_str().unwrap_or_default().to_owned();
    let definition_id = assignment["properties"]["registrationDefinitionId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let hold = lifetime::Hold {
        from: State::Delegating,
        event: "delegated",
        days: |r| r.delegation.as_ref().map_or(0, |d| d.lifetime_days),
        end: Step::EndDelegation,
    };
    let request = lifetime::hold(run, request.id, &KIND, &hold, |record, now, expires| {
        record.assignment_id.clone_from(&assignment_id);
        record.definition_id.clone_from(&definition_id);
        record.confirmed_at = Some(now);
        record.expires_at = Some(expires);
        format!(
            "Delegated: {assignment_id} (definition {definition_id}) Succeeded; the consumer's principals can use the image until {}.",
            lifetime::rfc3339(expires)
        )
    })
    .await?;
    notify_once(run, &request).await?;
    Ok(Outcome::Done)
}

/// Sends the admin's notice once, with the single-use "we are done" link where the admin
/// reads it (mail or webhook): its secret is in that message alone, its hash in the record.
async fn notify_once(run: &Run<'_>, request: &ShareRequest) -> Result<Outcome, StepError> {
    let link = consent_state::generate(request.id);
    let hash = link.hash.clone();
    let mut url = run.ctx.settings.delegation_done_url();
    url.query_pairs_mut().append_pair("state", &link.value);
    let done_url = url.to_string();
    let text = lifetime::NoticeText {
        label: "delegation notice",
        event: "delegation-notice",
        sent: "The consumer's admin was sent the portal steps, the image id, the expiry and the \"we are done\" link.",
    };
    lifetime::notice_once(
        run,
        request,
        &KIND,
        &text,
        |d| d.done_link_hash = Some(hash.clone()),
        || notice::send(run, request, Some(&done_url)),
    )
    .await
}
