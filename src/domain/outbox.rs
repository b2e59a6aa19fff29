//! What a change of a request still has to send (DESIGN §3 rule 7): written in the same
//! atomic write as the change, sent after it, and cleared once sent. A crash between the write
//! and the send leaves it here for the next run or the reconciler, so no successor message and
//! no event is lost, and a change never waits on the events topic.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::StepMessage;

/// A step message to send.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingMessage {
    /// The message (its MessageId makes a repeated send a duplicate).
    pub message: StepMessage,
    /// When it may be delivered (`ScheduledEnqueueTimeUtc`); `None` for at once.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub not_before: Option<OffsetDateTime>,
}

/// The messages and events of a request not yet handed to Service Bus.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Outbox {
    /// Step messages to send, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<PendingMessage>,
    /// The events of history entries up to this seq are published; later ones are pending.
    #[serde(default)]
    pub events_through: u32,
}

impl Outbox {
    /// Queues `message` (once: the same MessageId twice is one message).
    pub fn send(&mut self, message: StepMessage, not_before: Option<OffsetDateTime>) {
        let id = message.message_id();
        if !self.messages.iter().any(|m| m.message.message_id() == id) {
            self.messages.push(PendingMessage {
                message,
                not_before,
            });
        }
    }

    /// Forgets the messages with these ids (they were sent) and records the events published.
    pub fn sent(&mut self, message_ids: &[String], events_through: u32) {
        self.messages
            .retain(|m| !message_ids.contains(&m.message.message_id()));
        self.events_through = self.events_through.max(events_through);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{RequestId, Step};

    #[test]
    fn a_message_queued_twice_is_sent_once_and_forgotten_when_sent() {
        let id = RequestId::new_random();
        let mut outbox = Outbox::default();
        outbox.send(StepMessage::first(id, Step::CreateVm), None);
        outbox.send(StepMessage::first(id, Step::CreateVm), None);
        outbox.send(StepMessage::attempt(id, Step::CreateVm, 1), None);
        assert_eq!(outbox.messages.len(), 2);

        outbox.sent(&[StepMessage::first(id, Step::CreateVm).message_id()], 4);
        outbox.sent(&[], 2);
        assert_eq!(outbox.messages.len(), 1);
        assert_eq!(outbox.messages[0].message.attempt, 1);
        assert_eq!(outbox.events_through, 4, "the watermark never goes back");
    }
}
