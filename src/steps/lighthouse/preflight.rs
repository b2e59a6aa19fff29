//! Before anything is delegated: a delegation grants Reader on the whole resource group, so
//! the group must hold only the catalog's galleries, image definitions and versions (unless
//! `IMAGESHARE_LIGHTHOUSE_ALLOW_OTHER_RESOURCES`); and the operator identity must hold what
//! the deployment needs, named action by action when it does not. Lighthouse's onboarding
//! doc asks for `Microsoft.Authorization/roleAssignments/write` "for the subscription being
//! onboarded (or which contains the resource groups being onboarded)", and the template's
//! registration definition lives at subscription scope, so the rights are checked there.

use serde_json::Value;

use super::{
    Run, StepError,
    template::{RESOURCES_API, scope},
};
use crate::{
    azure::arm::{ArmIdentity, allows},
    domain::ShareRequest,
};

/// What the deployment needs of the operator identity on the owner's subscription.
pub(super) const REQUIRED_ACTIONS: [&str; 4] = [
    "Microsoft.Resources/deployments/write",
    "Microsoft.ManagedServices/registrationDefinitions/write",
    "Microsoft.ManagedServices/registrationAssignments/write",
    "Microsoft.Authorization/roleAssignments/write",
];

/// The group's region (where the deployment's metadata is kept), once every check passed.
pub(super) async fn check(run: &Run<'_>, request: &ShareRequest) -> Result<String, StepError> {
    let arm = &run.cloud()?.arm;
    let group = scope(request);
    let Some(rg) = arm
        .get(&ArmIdentity::Operator, &group, RESOURCES_API)
        .await?
    else {
        return Err(StepError::terminal(format!(
            "The gallery's resource group {group} does not exist (or the operator identity cannot read it)."
        )));
    };
    // ARM always answers a group's location; without one there is no right place to guess.
    let Some(location) = rg
        .get("location")
        .and_then(Value::as_str)
        .map(str::to_owned)
    else {
        return Err(StepError::retryable(anyhow::anyhow!(
            "ARM answered the resource group {group} without a location"
        )));
    };

    if !run.ctx.settings.lighthouse.allow_other_resources {
        let listed = arm
            .get(
                &ArmIdentity::Operator,
                &format!("{group}/resources"),
                RESOURCES_API,
            )
            .await?
            .unwrap_or_default();
        let others = outside_catalog(run, &group, &listed);
        if !others.is_empty() {
            return Err(StepError::terminal(format!(
                "The delegation would give the consumer's principals Reader on the whole resource group {group}, which also holds {}. Move the gallery to a resource group of its own, or set IMAGESHARE_LIGHTHOUSE_ALLOW_OTHER_RESOURCES=true to delegate it anyway.",
                others.join(", ")
            )));
        }
    }

    let subscription = format!(
        "/subscriptions/{}",
        request.image.as_resource_id().subscription()
    );
    // No role at all on the subscription: ARM refuses even the read of one's permissions.
    let permissions = match arm.permissions(&ArmIdentity::Operator, &subscription).await {
        Ok(p) => p,
        Err(e) if e.status() == Some(403) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    let missing: Vec<&str> = REQUIRED_ACTIONS
        .into_iter()
        .filter(|a| !allows(&permissions, a))
        .collect();
    if !missing.is_empty() {
        return Err(StepError::terminal(format!(
            "The operator identity may not deploy the delegation: it lacks {} on subscription {subscription}. Grant it Owner there, or deploy infra with lighthouseDelegator=true (a role with exactly these actions).",
            missing.join(", ")
        )));
    }
    Ok(location)
}

/// The resources of the group that are not a catalog image, its definition or its gallery
/// (their ids; a further page counts as more resources, since it was not read).
fn outside_catalog(run: &Run<'_>, group: &str, listed: &Value) -> Vec<String> {
    let mut allowed: Vec<String> = Vec::new();
    for version in run.ctx.settings.catalog.versions() {
        if !version
            .as_resource_id()
            .resource_group_id()
            .eq_ignore_ascii_case(group)
        {
            continue;
        }
        allowed.push(version.as_resource_id().canonical());
        allowed.push(version.image_definition_id().canonical());
        allowed.push(version.gallery_id().canonical());
    }
    let mut others: Vec<String> = listed
        .get("value")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|r| r.get("id").and_then(Value::as_str))
                .filter(|id| {
                    let id = crate::domain::ResourceId::parse(id).map(|r| r.canonical());
                    !id.is_ok_and(|id| allowed.contains(&id))
                })
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if listed.get("nextLink").is_some_and(|l| !l.is_null()) {
        others.push("more resources than one page lists".to_owned());
    }
    others
}
