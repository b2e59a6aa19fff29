//! Linked authorization: a write that references another resource (a VM's image, a NIC's
//! subnet) also needs an action on that resource. When the referenced resource lives in a
//! subscription of another tenant, the caller's own token cannot speak for it: the request
//! must carry an auxiliary token of that tenant whose principal holds the action there
//! (or the caller must hold it through a Lighthouse delegation), else 403
//! `LinkedAuthorizationFailed` with ARM's two wordings.

use http::StatusCode;

use super::evaluate::{self, Principal};
use crate::{
    arm::{ArmError, Call, auxiliary, path},
    context::World,
};

/// The caller holds `action` on `target` but the tenant cannot reach the linked subscription.
pub fn tenant_not_authorized(
    call: &Call<'_>,
    action: &str,
    target: &str,
    linked_subscription: &str,
) -> ArmError {
    ArmError::new(
        StatusCode::FORBIDDEN,
        "LinkedAuthorizationFailed",
        format!(
            "The client has permission to perform action '{action}' on scope '{}', however the current tenant '{}' is not authorized to access linked subscription '{linked_subscription}'.",
            path::message_scope(target),
            call.caller.tenant
        ),
    )
}

/// A principal lacks the linked action.
pub fn missing_linked_action(
    client: &str,
    object_id: &str,
    primary_action: &str,
    target: &str,
    linked_action: &str,
    linked: &str,
) -> ArmError {
    ArmError::new(
        StatusCode::FORBIDDEN,
        "LinkedAuthorizationFailed",
        format!(
            "The client '{client}' with object id '{object_id}' has permission to perform action '{primary_action}' on scope '{target}'; however, it does not have permission to perform action '{linked_action}' on the linked scope(s) '{}' or the linked scope(s) are invalid.",
            path::message_scope(linked)
        ),
    )
}

/// Checks `linked_action` on `linked` for a write (`primary_action` on `target`).
pub fn check(
    call: &Call<'_>,
    world: &World,
    primary_action: &str,
    target: &str,
    linked_action: &str,
    linked: &str,
) -> Result<(), ArmError> {
    let caller = call.caller.principal();
    if evaluate::allowed(world, call.now, caller, linked_action, linked) {
        return Ok(());
    }
    let linked_sub = path::subscription_of(linked).unwrap_or_default();
    let linked_tenant = call.subscription_tenant(&linked_sub);
    let same_tenant = linked_tenant
        .as_deref()
        .is_none_or(|t| t.eq_ignore_ascii_case(&call.caller.tenant));
    if same_tenant {
        return Err(missing_linked_action(
            call.caller.client_name(),
            &call.caller.object_id,
            primary_action,
            target,
            linked_action,
            linked,
        ));
    }
    let linked_tenant = linked_tenant.unwrap_or_default();
    let Some(aux) = auxiliary::for_tenant(&call.aux, &linked_tenant) else {
        return Err(tenant_not_authorized(
            call,
            linked_action,
            target,
            &linked_sub,
        ));
    };
    let who = Principal {
        tenant: &aux.tid,
        object_id: &aux.oid,
    };
    if evaluate::allowed(world, call.now, who, linked_action, linked) {
        return Ok(());
    }
    Err(missing_linked_action(
        aux.user_name().unwrap_or(&aux.appid),
        &aux.oid,
        primary_action,
        target,
        linked_action,
        linked,
    ))
}
