//! What a PUT meets when the resource is busy or not what the caller expected:
//! - a write on a resource whose own operation is still running is refused with 409, in the
//!   provider's words: Network's `AnotherOperationInProgress` ("Another operation on this or
//!   dependent resource is in progress. To retrieve status of the operation use uri: ..."), as
//!   public issue threads quote it (microsoft/AzureTRE#2222, pulumi/pulumi-azure-native#1024);
//!   Compute's `Conflict` ("The request failed due to conflict with a concurrent request. ..."),
//!   as a VM PUT answered it in Azure/azure-cli#15765;
//! - conditional requests where the spec declares them (Compute's VM PUT has `If-Match` and
//!   `If-None-Match` from 2024-07-01 on; Network's 2024-05-01 NSG, VNet and NIC PUTs declare
//!   neither, so Network ignores them): `If-None-Match: *` on an existing resource, or an
//!   `If-Match` that is not the resource's etag, answers 412 `PreconditionFailed`. The If-Match
//!   wording is Compute's (kubernetes-sigs/cloud-provider-azure#9728, a VMSS PUT); the
//!   If-None-Match wording is assumed (no source found).

use http::StatusCode;

use super::{ArmError, Call, Resource, lro::Operation};
use crate::context::World;

/// The operation still running on `id`, if any.
pub fn running<'w>(world: &'w World, id: &str) -> Option<&'w Operation> {
    let op = world.arm.get(id)?.operation.as_deref()?;
    world
        .arm
        .operations
        .get(&op.to_ascii_lowercase())
        .filter(|o| o.ended.is_none())
}

/// 409 `AnotherOperationInProgress` (Network) while an operation on `id` runs.
pub fn network_busy(world: &World, id: &str) -> Result<(), ArmError> {
    let Some(op) = running(world, id) else {
        return Ok(());
    };
    Err(ArmError::new(
        StatusCode::CONFLICT,
        "AnotherOperationInProgress",
        format!(
            "Another operation on this or dependent resource is in progress. To retrieve status of the operation use uri: {}.",
            op.urls().async_operation
        ),
    ))
}

/// 409 `Conflict` (Compute) while an operation on `id` runs.
pub fn compute_busy(world: &World, id: &str) -> Result<(), ArmError> {
    if running(world, id).is_none() {
        return Ok(());
    }
    Err(ArmError::new(
        StatusCode::CONFLICT,
        "Conflict",
        "The request failed due to conflict with a concurrent request. To resolve it, please refer to https://aka.ms/activitylog to get more details on the conflicting requests.",
    ))
}

/// `If-None-Match` / `If-Match` of a PUT against what is stored (`etag`: the stored one).
pub fn preconditions(
    call: &Call<'_>,
    existing: Option<&Resource>,
    etag: Option<&str>,
) -> Result<(), ArmError> {
    if let Some(none_match) = call.req.header("if-none-match")
        && existing.is_some()
        && (none_match.trim() == "*" || etag.is_some_and(|e| etag_in(none_match, e)))
    {
        return Err(ArmError::new(
            StatusCode::PRECONDITION_FAILED,
            "PreconditionFailed",
            format!(
                "Etag provided in if-none-match header {} matches the existing resource: it was not modified.",
                quoted(none_match.trim())
            ),
        ));
    }
    if let Some(if_match) = call.req.header("if-match") {
        let matches = match (existing, etag) {
            (None, _) => false,
            (Some(_), _) if if_match.trim() == "*" => true,
            (Some(_), Some(e)) => etag_in(if_match, e),
            (Some(_), None) => false,
        };
        if !matches {
            return Err(ArmError::new(
                StatusCode::PRECONDITION_FAILED,
                "PreconditionFailed",
                format!(
                    "Etag provided in if-match header {} does not match etag {} of resource.",
                    quoted(if_match.trim()),
                    quoted(etag.unwrap_or(""))
                ),
            ));
        }
    }
    Ok(())
}

/// Whether a comma-separated header list names `etag` (quotes optional on either side).
fn etag_in(list: &str, etag: &str) -> bool {
    let bare = |s: &str| {
        s.trim()
            .trim_start_matches("W/")
            .trim_matches('"')
            .to_owned()
    };
    let want = bare(etag);
    list.split(',').any(|t| bare(t) == want)
}

/// `"2"` for `2` or `"2"`, as Compute quotes etags in its messages.
fn quoted(etag: &str) -> String {
    format!("\"{}\"", etag.trim_matches('"'))
}

#[cfg(test)]
mod tests {
    #[test]
    fn etags_match_with_or_without_quotes_and_weak_prefixes() {
        assert!(super::etag_in("\"3\"", "3"));
        assert!(super::etag_in("1, \"3\"", "\"3\""));
        assert!(super::etag_in("W/\"abc\"", "W/\"abc\""));
        assert!(!super::etag_in("\"2\"", "\"3\""));
    }
}
