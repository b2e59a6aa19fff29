//! The message that triggers a step: ids only, never models or secrets (DESIGN §2).

use serde::{Deserialize, Serialize};

use crate::domain::{RequestId, Step};

/// `{"requestId":"...","step":"issue-credentials","attempt":0}`
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
}

impl StepMessage {
    /// The first message of `step` for a request.
    pub fn first(request_id: RequestId, step: Step) -> Self {
        Self {
            request_id,
            step,
            attempt: 0,
        }
    }

    /// The Service Bus MessageId: request + step + attempt, so that re-sending the same
    /// transition is dropped by duplicate detection.
    pub fn message_id(&self) -> String {
        format!("{}:{}:{}", self.request_id, self.step, self.attempt)
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
    fn unknown_fields_in_a_step_message_are_refused() {
        let text = r#"{"requestId":"0f8fad5b-d9cb-469f-a165-70867728950e","step":"create-vm","secret":"x"}"#;
        assert!(serde_json::from_str::<StepMessage>(text).is_err());
    }
}
