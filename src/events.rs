//! Status events: every history entry of every request as a CloudEvents 1.0 JSON document on
//! the `share-events` topic, so automation learns outcomes without polling.
//!
//! The event id is `{request id}:{history seq}` and doubles as the Service Bus MessageId, so
//! publishing the same entry twice (a step re-run after a crash) is dropped by duplicate
//! detection.

use std::{collections::BTreeMap, sync::Mutex};

use async_trait::async_trait;
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;

use crate::{
    azure::service_bus::{Entity, Outgoing, ServiceBusSender},
    context::AppContext,
    domain::{HistoryEntry, Origin, RejectedRequest, RequestId, ShareRequest},
    status::{RejectedDocument, StatusDocument},
};

/// A CloudEvents 1.0 event in structured JSON mode.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CloudEvent {
    /// Always `1.0`.
    pub specversion: &'static str,
    /// Unique per transition: `{request}:{seq}`.
    pub id: String,
    /// The app that produced it.
    pub source: String,
    /// `imageshare.request.{event}`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The request id.
    pub subject: String,
    /// When it happened.
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// Always `application/json`.
    pub datacontenttype: &'static str,
    /// The sender's `CorrelationId`, for queued requests (extension attribute).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlationid: Option<String>,
    /// The sender's `ReplyTo`, for queued requests (extension attribute).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replyto: Option<String>,
    /// The status document at that moment (no secrets, no history: the events are it).
    pub data: Value,
}

/// Publishing failed; the step that made the change is retried and publishes again.
#[derive(Debug, thiserror::Error)]
#[error("could not publish event {id}: {detail}")]
pub struct PublishError {
    /// The event.
    pub id: String,
    /// Why.
    pub detail: String,
}

/// Where events go.
#[async_trait]
pub trait EventSink: Send + Sync + std::fmt::Debug {
    /// Publishes one event.
    async fn publish(&self, event: &CloudEvent) -> Result<(), PublishError>;
}

/// The Service Bus topic.
#[derive(Debug)]
pub struct TopicEvents {
    sender: ServiceBusSender,
    topic: String,
}

impl TopicEvents {
    /// Events to `topic` through `sender`.
    pub fn new(sender: ServiceBusSender, topic: String) -> Self {
        Self { sender, topic }
    }
}

#[async_trait]
impl EventSink for TopicEvents {
    async fn publish(&self, event: &CloudEvent) -> Result<(), PublishError> {
        let body = serde_json::to_string(event).map_err(|e| PublishError {
            id: event.id.clone(),
            detail: e.to_string(),
        })?;
        let mut properties = BTreeMap::new();
        properties.insert("type".to_owned(), event.kind.clone());
        properties.insert(
            "state".to_owned(),
            event.data["state"].as_str().unwrap_or("").to_owned(),
        );
        let message = Outgoing {
            body,
            content_type: Some("application/cloudevents+json; charset=utf-8".to_owned()),
            message_id: event.id.clone(),
            correlation_id: event.correlationid.clone(),
            reply_to: event.replyto.clone(),
            subject: Some(event.kind.clone()),
            scheduled: None,
            properties,
        };
        self.sender
            .send(Entity::Topic(&self.topic), &message)
            .await
            .map_err(|e| PublishError {
                id: event.id.clone(),
                detail: e.to_string(),
            })
    }
}

/// Keeps events in memory (tests and runs without Service Bus).
#[derive(Debug, Default)]
pub struct MemoryEvents(Mutex<Vec<CloudEvent>>);

impl MemoryEvents {
    /// Everything published, in order.
    pub fn published(&self) -> Vec<CloudEvent> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

#[async_trait]
impl EventSink for MemoryEvents {
    async fn publish(&self, event: &CloudEvent) -> Result<(), PublishError> {
        let mut events = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Same id, same event: what Service Bus duplicate detection does.
        if !events.iter().any(|e| e.id == event.id) {
            events.push(event.clone());
        }
        Ok(())
    }
}

/// The event for one history entry of `request`. An event may be published later than its
/// change (from the outbox, after an outage of the topic), so its `state` (and the `state`
/// property subscriptions filter on) is the entry's, not the request's by then.
pub fn event_for(ctx: &AppContext, request: &ShareRequest, entry: &HistoryEntry) -> CloudEvent {
    let mut document =
        serde_json::to_value(StatusDocument::for_event(ctx, request)).unwrap_or(Value::Null);
    if let Some(fields) = document.as_object_mut() {
        fields.insert(
            "state".into(),
            Value::String(entry.state.as_str().to_owned()),
        );
    }
    event(ctx, request.id, &request.origin, entry, document)
}

/// The event of a rejected submission.
pub fn rejected_event(
    ctx: &AppContext,
    rejected: &RejectedRequest,
    entry: &HistoryEntry,
) -> CloudEvent {
    let document =
        serde_json::to_value(RejectedDocument::build(ctx, rejected, None)).unwrap_or(Value::Null);
    event(ctx, rejected.id, &rejected.origin, entry, document)
}

fn event(
    ctx: &AppContext,
    id: RequestId,
    origin: &Origin,
    entry: &HistoryEntry,
    data: Value,
) -> CloudEvent {
    let (correlationid, replyto) = match origin {
        Origin::Queue {
            correlation_id,
            reply_to,
            ..
        } => (correlation_id.clone(), reply_to.clone()),
        Origin::Http { .. } => (None, None),
    };
    let base = &ctx.settings.public_base_url;
    CloudEvent {
        specversion: "1.0",
        id: format!("{id}:{}", entry.seq),
        source: base
            .join("/api/share-requests")
            .map_or_else(|_| base.to_string(), |u| u.to_string()),
        kind: format!("imageshare.request.{}", entry.event),
        subject: id.to_string(),
        time: entry.at,
        datacontenttype: "application/json",
        correlationid,
        replyto,
        data,
    }
}

/// Publishes the event of a rejected submission.
pub async fn publish_rejected(
    ctx: &AppContext,
    rejected: &RejectedRequest,
    entry: &HistoryEntry,
) -> Result<(), PublishError> {
    ctx.events
        .publish(&rejected_event(ctx, rejected, entry))
        .await
}

/// Publishes the events of `entries`, in order; stops at the first failure.
pub async fn publish(
    ctx: &AppContext,
    request: &ShareRequest,
    entries: &[HistoryEntry],
) -> Result<(), PublishError> {
    for entry in entries {
        ctx.events.publish(&event_for(ctx, request, entry)).await?;
    }
    Ok(())
}
