//! The message that triggers a step: ids only, never models or secrets (DESIGN §2).

use serde::{Deserialize, Serialize};

use super::{RequestId, Step};

/// `{"requestId":"...","step":"issue-credentials","attempt":0}`; a retry after a transient
/// failure adds `"retry":n`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StepMessage {
    /// The request to work on.
    pub request_id: RequestId,
    /// The step it is for (must match the queue it arrived on).
    pub step: Step,
    /// 0 for the first message of a step; re-checks count up.
    #[serde(default)]
    pub attempt: u32,
    /// 0 for a message sent by the pipeline; a retry of the same attempt after a transient
    /// failure counts up (scheduled instead of holding the invocation, DESIGN §3 rule 5).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retry: u32,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl StepMessage {
    /// The first message of `step` for a request.
    pub fn first(request_id: RequestId, step: Step) -> Self {
        Self {
            request_id,
            step,
            attempt: 0,
            retry: 0,
        }
    }

    /// Message `attempt` of `step` for a request (a re-check, or the reconciler's re-send).
    pub fn attempt(request_id: RequestId, step: Step, attempt: u32) -> Self {
        Self {
            request_id,
            step,
            attempt,
            retry: 0,
        }
    }

    /// The next retry of this message after a transient failure.
    #[must_use]
    pub fn retried(&self) -> Self {
        Self {
            retry: self.retry + 1,
            ..self.clone()
        }
    }

    /// The Service Bus MessageId: request + step + attempt (+ retry), so that re-sending the
    /// same transition is dropped by duplicate detection.
    pub fn message_id(&self) -> String {
        if self.retry == 0 {
            format!("{}:{}:{}", self.request_id, self.step, self.attempt)
        } else {
            format!(
                "{}:{}:{}:retry-{}",
                self.request_id, self.step, self.attempt, self.retry
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_message_is_ids_only() {
        let id = RequestId::parse("0f8fad5b-d9cb-469f-a165-70867728950e").unwrap();
        let m = StepMessage {
            request_id: id,
            step: Step::ConfirmConsent,
            attempt: 3,
            retry: 0,
        };
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"requestId":"0f8fad5b-d9cb-469f-a165-70867728950e","step":"confirm-consent","attempt":3}"#
        );
        assert_eq!(
            m.message_id(),
            "0f8fad5b-d9cb-469f-a165-70867728950e:confirm-consent:3"
        );
    }

    #[test]
    fn a_retry_has_its_own_message_id_and_keeps_the_attempt() {
        let id = RequestId::parse("0f8fad5b-d9cb-469f-a165-70867728950e").unwrap();
        let m = StepMessage::attempt(id, Step::CreateVm, 2)
            .retried()
            .retried();
        assert_eq!((m.attempt, m.retry), (2, 2));
        assert_eq!(
            m.message_id(),
            "0f8fad5b-d9cb-469f-a165-70867728950e:create-vm:2:retry-2"
        );
        assert!(serde_json::to_string(&m).unwrap().contains(r#""retry":2"#));
    }

    #[test]
    fn unknown_fields_in_a_step_message_are_refused() {
        let text = r#"{"requestId":"0f8fad5b-d9cb-469f-a165-70867728950e","step":"create-vm","secret":"x"}"#;
        assert!(serde_json::from_str::<StepMessage>(text).is_err());
    }
}
