//! Whose a resource at one of our names is (DESIGN §3 rule 3, "never touch what is not ours"):
//! everything CreateVm creates carries the tag `imageshare-request: <request id>`, and a
//! same-named resource without this request's tag belongs to someone else: we leave it as it
//! is and end the request with a reason naming it.

use serde_json::Value;

use super::super::StepError;
use crate::domain::RequestId;

/// The tag naming the request that created a resource.
pub(in crate::steps) const TAG: &str = "imageshare-request";

/// What a read found at one of our resource names.
pub(in crate::steps) enum Found {
    /// Nothing: ours to create.
    Absent,
    /// Created by this request: ours to continue.
    Ours(Value),
    /// Someone else's (another request, or the consumer's own): never touched.
    Theirs,
}

impl Found {
    /// Sorts a GET's answer by the request tag.
    pub(in crate::steps) fn of(resource: Option<Value>, request: RequestId) -> Self {
        match resource {
            None => Self::Absent,
            Some(r) if tagged_by(&r, request) => Self::Ours(r),
            Some(_) => Self::Theirs,
        }
    }
}

/// Whether `resource` carries this request's tag. ARM compares tag names case-insensitively,
/// so we do too; the value is our request id, which we compare the same way.
fn tagged_by(resource: &Value, request: RequestId) -> bool {
    let id = request.to_string();
    resource
        .get("tags")
        .and_then(Value::as_object)
        .is_some_and(|tags| {
            tags.iter().any(|(k, v)| {
                k.eq_ignore_ascii_case(TAG)
                    && v.as_str().is_some_and(|v| v.eq_ignore_ascii_case(&id))
            })
        })
}

/// The terminal failure for a same-named resource that is not ours.
pub(super) fn belongs_to_someone_else(kind: &str, id: &str, request: RequestId) -> StepError {
    StepError::terminal(format!(
        "The {kind} {id} already exists and belongs to someone else: it does not carry the tag {TAG}={request}. imageshare left it unchanged. Choose another VM name, or remove that resource if it is not needed."
    ))
}

/// `properties.provisioningState`, when the resource reports one.
pub(super) fn provisioning_state(resource: &Value) -> Option<&str> {
    resource
        .pointer("/properties/provisioningState")
        .and_then(Value::as_str)
}

/// Whether a state means the resource's operation still runs (ARM: anything but the three
/// terminal states; no state at all means done).
pub(super) fn still_running(resource: &Value) -> bool {
    provisioning_state(resource).is_some_and(|s| {
        !["Succeeded", "Failed", "Canceled"]
            .iter()
            .any(|t| s.eq_ignore_ascii_case(t))
    })
}

/// Whether the resource's last operation ended in failure.
pub(super) fn failed(resource: &Value) -> bool {
    provisioning_state(resource)
        .is_some_and(|s| s.eq_ignore_ascii_case("Failed") || s.eq_ignore_ascii_case("Canceled"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn id() -> RequestId {
        RequestId::parse("0b8d5c3e-8f1a-4c2b-9d3e-7f6a5b4c3d2e").unwrap()
    }

    #[test]
    fn a_resource_is_ours_only_with_this_requests_tag() {
        let ours = json!({"tags": {"Imageshare-Request": id().to_string().to_uppercase()}});
        assert!(matches!(Found::of(Some(ours), id()), Found::Ours(_)));
        let other = json!({"tags": {TAG: "11111111-1111-4111-8111-111111111111"}});
        assert!(matches!(Found::of(Some(other), id()), Found::Theirs));
        assert!(matches!(Found::of(Some(json!({})), id()), Found::Theirs));
        assert!(matches!(Found::of(None, id()), Found::Absent));
    }

    #[test]
    fn only_non_terminal_states_are_running() {
        assert!(still_running(
            &json!({"properties": {"provisioningState": "Creating"}})
        ));
        assert!(!still_running(
            &json!({"properties": {"provisioningState": "Succeeded"}})
        ));
        assert!(!still_running(&json!({"properties": {}})));
        assert!(failed(
            &json!({"properties": {"provisioningState": "Failed"}})
        ));
    }
}
