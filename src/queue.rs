//! The port the steps send their messages through. Service Bus implements it with the Azure
//! clients (`azure::service_bus`); the in-memory one here records what would have been sent
//! (the embedded run and tests).

use std::sync::Mutex;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::domain::StepMessage;

/// Sending failed; the caller's step is retried.
#[derive(Debug, thiserror::Error)]
#[error("could not send the {queue} message: {detail}")]
pub struct QueueError {
    /// The target queue.
    pub queue: String,
    /// What went wrong.
    pub detail: String,
}

/// Where step messages go.
#[async_trait]
pub trait StepQueue: Send + Sync + std::fmt::Debug {
    /// Sends `message` to its step's queue, visible from `not_before` if given.
    async fn send(
        &self,
        message: &StepMessage,
        not_before: Option<OffsetDateTime>,
    ) -> Result<(), QueueError>;
}

/// A message the in-memory queue accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentMessage {
    /// The message.
    pub message: StepMessage,
    /// When it becomes visible, if scheduled.
    pub not_before: Option<OffsetDateTime>,
}

/// Records messages instead of sending them.
#[derive(Debug, Default)]
pub struct MemoryQueue {
    sent: Mutex<Vec<SentMessage>>,
}

impl MemoryQueue {
    /// Everything sent so far.
    pub fn sent(&self) -> Vec<SentMessage> {
        self.sent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

#[async_trait]
impl StepQueue for MemoryQueue {
    async fn send(
        &self,
        message: &StepMessage,
        not_before: Option<OffsetDateTime>,
    ) -> Result<(), QueueError> {
        self.sent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(SentMessage {
                message: message.clone(),
                not_before,
            });
        Ok(())
    }
}
