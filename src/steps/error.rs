//! Step errors, classified (DESIGN §3 rule 5): retryable only where Azure says so (429, 5xx,
//! timeouts, documented transient codes), terminal otherwise with a reason a person can act on.
//!
//! There is no blanket conversion from "any error": each boundary's error type says here what
//! it means, so a `?` can no longer turn a refusal that needs a person into ten redeliveries.

use std::{fmt, time::Duration};

use crate::{
    azure::AzureError,
    domain::IllegalTransition,
    events::PublishError,
    queue::QueueError,
    store::{ChangeError, StoreError},
};

/// Why a step run did not succeed.
pub enum StepError {
    /// Worth another try: scheduled again after a pause (or redelivered by Service Bus).
    Retryable(anyhow::Error),
    /// Will never succeed: recorded on the request as `Failed` with this reason for a person.
    Terminal(String),
}

impl StepError {
    /// A terminal failure with a reason a person can act on.
    pub fn terminal(reason: impl Into<String>) -> Self {
        Self::Terminal(reason.into())
    }

    /// A transient failure.
    pub fn retryable(error: impl Into<anyhow::Error>) -> Self {
        Self::Retryable(error.into())
    }

    /// True for errors worth retrying.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Retryable(_))
    }

    /// How long the service asked us to wait (`Retry-After`), when it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Retryable(e) => e
                .downcast_ref::<AzureError>()
                .and_then(AzureError::retry_after),
            Self::Terminal(_) => None,
        }
    }

    /// True when another request holds a lock this step needs: it waits its turn.
    pub fn waits_for_lock(&self) -> bool {
        matches!(self, Self::Retryable(e) if e.downcast_ref::<super::lock::LockBusy>().is_some())
    }

    /// The `Retry-After` of a throttling answer (429): the service pacing its callers, not a
    /// failure of the request.
    pub fn throttled_for(&self) -> Option<Duration> {
        match self {
            Self::Retryable(e) => e
                .downcast_ref::<AzureError>()
                .filter(|e| e.status() == Some(429))
                .and_then(AzureError::retry_after),
            Self::Terminal(_) => None,
        }
    }
}

/// Azure's own classification: transient statuses and codes retry, everything else is a
/// refusal a person must act on, worded with the service, status, code and message.
impl From<AzureError> for StepError {
    fn from(error: AzureError) -> Self {
        if error.is_retryable() {
            Self::Retryable(error.into())
        } else {
            Self::Terminal(format!("{error}."))
        }
    }
}

/// The store: unavailable and conflicts retry; a corrupt record never heals by itself.
impl From<StoreError> for StepError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Corrupt(_) => Self::Terminal(format!(
                "{error}. The stored request cannot be read; an operator must repair or remove it."
            )),
            StoreError::Conflict | StoreError::NotFound(_) | StoreError::Unavailable(_) => {
                Self::Retryable(error.into())
            }
        }
    }
}

/// A transition the state machine refuses is a bug or a record edited by hand: retrying the
/// same message repeats it.
impl From<IllegalTransition> for StepError {
    fn from(error: IllegalTransition) -> Self {
        Self::Terminal(format!(
            "{error}: the pipeline tried a change its state machine forbids (a defect; please report it)."
        ))
    }
}

/// Sending a step message failed: Service Bus will be back.
impl From<QueueError> for StepError {
    fn from(error: QueueError) -> Self {
        Self::Retryable(error.into())
    }
}

/// Publishing an event failed: Service Bus will be back.
impl From<PublishError> for StepError {
    fn from(error: PublishError) -> Self {
        Self::Retryable(error.into())
    }
}

impl From<ChangeError<Self>> for StepError {
    fn from(error: ChangeError<Self>) -> Self {
        match error {
            ChangeError::Refused(e) => e,
            ChangeError::Store(e) => e.into(),
        }
    }
}

impl fmt::Debug for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Retryable(e) => write!(f, "Retryable({e:#})"),
            Self::Terminal(reason) => write!(f, "Terminal({reason})"),
        }
    }
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Retryable(e) => write!(f, "{e:#}"),
            Self::Terminal(reason) => f.write_str(reason),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::azure::Service;

    fn api(status: u16, code: &str) -> AzureError {
        AzureError::Api {
            service: Service::ResourceManager,
            status,
            code: code.into(),
            message: "m".into(),
            retry_after: (status == 429).then(|| Duration::from_secs(17)),
            details: Vec::new(),
            request_id: None,
        }
    }

    #[test]
    fn throttling_and_outages_retry_and_keep_their_retry_after() {
        let throttled = StepError::from(api(429, "TooManyRequests"));
        assert!(throttled.is_retryable());
        assert_eq!(throttled.retry_after(), Some(Duration::from_secs(17)));
        assert!(StepError::from(api(503, "ServiceUnavailable")).is_retryable());
        assert!(
            StepError::from(AzureError::Transport {
                service: Service::Graph,
                detail: "timed out".into()
            })
            .is_retryable()
        );
    }

    #[test]
    fn only_a_429_and_a_busy_lock_are_waits_for_a_turn_not_failures() {
        let throttled = StepError::from(api(429, "TooManyRequests"));
        assert_eq!(throttled.throttled_for(), Some(Duration::from_secs(17)));
        assert!(!throttled.waits_for_lock());
        let outage = StepError::from(api(503, "ServiceUnavailable"));
        assert_eq!(outage.throttled_for(), None);
        assert!(!outage.waits_for_lock());
        let busy = StepError::retryable(super::super::lock::LockBusy::for_tests("held"));
        assert!(busy.waits_for_lock());
        assert_eq!(busy.throttled_for(), None);
    }

    #[test]
    fn a_refusal_a_person_must_fix_is_terminal_with_its_code() {
        let e = StepError::from(api(400, "InvalidParameter"));
        assert!(!e.is_retryable());
        assert!(e.to_string().contains("InvalidParameter"), "{e}");
        assert!(!StepError::from(api(404, "SubscriptionNotFound")).is_retryable());
    }

    #[test]
    fn a_corrupt_record_and_an_illegal_transition_are_terminal() {
        assert!(!StepError::from(StoreError::Corrupt("bad json".into())).is_retryable());
        assert!(StepError::from(StoreError::Unavailable("down".into())).is_retryable());
        let illegal = IllegalTransition {
            from: crate::domain::State::Submitted,
            to: crate::domain::State::Completed,
        };
        assert!(!StepError::from(illegal).is_retryable());
    }
}
