//! The message store of the simulated Service Bus: queues, topics with subscriptions,
//! dead-letter sub-queues, peek-lock, scheduled delivery and duplicate detection.
//! Pure state: no HTTP, no auth. Time is always passed in.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use time::{Duration, OffsetDateTime};

use super::message::build_message;
pub use super::message::{Incoming, Lock, MAX_TTL_TEXT, Message};
use crate::{
    scenario::{EntitySpec, NamespaceSpec, SasPolicySpec},
    timefmt,
};

/// What a receive or lock operation can fail with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrokerError {
    /// No queue, topic or subscription at that path.
    #[error("no messaging entity '{0}'")]
    NoSuchEntity(String),
    /// The lock token does not name a current lock (expired, completed or never issued).
    #[error("the lock supplied is invalid")]
    LockLost,
    /// Receiving from a topic (only its subscriptions hold messages).
    #[error("cannot receive from a topic")]
    ReceiveFromTopic,
    /// Sending to a subscription or a dead-letter queue.
    #[error("cannot send to '{0}'")]
    SendNotAllowed(String),
}

/// Settings of a queue or subscription.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Peek-lock duration.
    pub lock_duration: Duration,
    /// Deliveries before dead-lettering (`u32::MAX` for dead-letter queues).
    pub max_delivery_count: u32,
    /// Duplicate-detection window.
    pub duplicate_window: Option<Duration>,
}

impl Settings {
    fn from_spec(spec: &EntitySpec) -> Self {
        Self {
            lock_duration: timefmt::parse_iso_duration(&spec.lock_duration)
                .unwrap_or(Duration::minutes(1)),
            max_delivery_count: spec.max_delivery_count.max(1),
            duplicate_window: spec
                .duplicate_detection_window
                .as_deref()
                .and_then(timefmt::parse_iso_duration),
        }
    }
}

/// A queue, a subscription, or a dead-letter queue of either.
#[derive(Debug)]
pub struct Entity {
    /// Path as declared (`share-requests`, `share-events/subscriptions/all`).
    pub path: String,
    settings: Settings,
    messages: Vec<Message>,
    next_sequence: i64,
    seen_ids: HashMap<String, OffsetDateTime>,
    dead_letter_path: Option<String>,
}

impl Entity {
    fn new(path: String, settings: Settings, dead_letter_path: Option<String>) -> Self {
        Self {
            path,
            settings,
            messages: Vec::new(),
            next_sequence: 1,
            seen_ids: HashMap::new(),
            dead_letter_path,
        }
    }

    /// True when this MessageId was sent within the window (and records it otherwise).
    fn is_duplicate(&mut self, message_id: &str, now: OffsetDateTime) -> bool {
        let Some(window) = self.settings.duplicate_window else {
            return false;
        };
        self.seen_ids.retain(|_, at| *at + window > now);
        if self.seen_ids.contains_key(message_id) {
            return true;
        }
        self.seen_ids.insert(message_id.to_owned(), now);
        false
    }

    fn enqueue(&mut self, mut message: Message) {
        message.sequence_number = self.next_sequence;
        self.next_sequence += 1;
        self.messages.push(message);
    }

    /// Expired locks are released; messages past MaxDeliveryCount are returned for the
    /// dead-letter queue; messages past their TimeToLive are dropped.
    fn sweep(&mut self, now: OffsetDateTime) -> Vec<Message> {
        // In place: every receive sweeps every entity, and moving each message out and back
        // (an undelivered events subscription holds thousands) was most of the fleet
        // bench's simulator time.
        let mut dead = Vec::new();
        let max = self.settings.max_delivery_count;
        self.messages.retain_mut(|m| {
            if m.lock.as_ref().is_some_and(|l| l.until <= now) {
                m.lock = None;
                if m.delivery_count >= max {
                    dead.push(m.clone());
                    return false;
                }
            }
            let expired = m.lock.is_none()
                && m.time_to_live
                    .is_some_and(|ttl| m.enqueued_at + Duration::seconds_f64(ttl.min(1e12)) <= now);
            !expired
        });
        dead
    }

    fn next_visible(&mut self, now: OffsetDateTime) -> Option<usize> {
        self.messages
            .iter()
            .enumerate()
            .filter(|(_, m)| m.lock.is_none() && m.scheduled_for.is_none_or(|at| at <= now))
            .min_by_key(|(_, m)| m.sequence_number)
            .map(|(i, _)| i)
    }

    fn find_locked(
        &mut self,
        message_ref: &str,
        token: &str,
        now: OffsetDateTime,
    ) -> Option<usize> {
        self.messages.iter().position(|m| {
            (m.sequence_number.to_string() == message_ref || m.message_id == message_ref)
                && m.lock
                    .as_ref()
                    .is_some_and(|l| l.token.eq_ignore_ascii_case(token) && l.until > now)
        })
    }
}

struct Topic {
    subscriptions: Vec<String>,
    duplicate_window: Option<Duration>,
    seen_ids: HashMap<String, OffsetDateTime>,
}

/// One namespace.
pub struct Namespace {
    /// Name (host label).
    pub name: String,
    /// Tenant whose Entra tokens it accepts.
    pub tenant: String,
    /// ARM resource id.
    pub resource_id: String,
    /// Shared access policies.
    pub policies: Vec<SasPolicySpec>,
    entities: BTreeMap<String, Entity>,
    topics: BTreeMap<String, Topic>,
}

impl std::fmt::Debug for Namespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Namespace")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// How a receive treats the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiveMode {
    /// Lock it; complete, abandon or renew later.
    PeekLock,
    /// Remove it at once.
    ReceiveAndDelete,
}

/// What to do with a locked message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockAction {
    /// Delete it (DELETE lock URI).
    Complete,
    /// Release the lock (PUT lock URI).
    Abandon,
    /// Extend the lock (POST lock URI).
    Renew,
}

/// Counts per entity, for the admin API.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityCounts {
    /// Namespace.
    pub namespace: String,
    /// Entity path.
    pub path: String,
    /// Visible now.
    pub active: usize,
    /// Waiting for their scheduled time.
    pub scheduled: usize,
    /// Currently locked.
    pub locked: usize,
    /// When the earliest scheduled message becomes visible (none scheduled: absent).
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub next_scheduled_at: Option<OffsetDateTime>,
}

const DLQ: &str = "$deadletterqueue";

fn key(path: &str) -> String {
    path.trim_matches('/').to_ascii_lowercase()
}

impl Namespace {
    /// Builds a namespace from its scenario declaration.
    pub fn from_spec(spec: &NamespaceSpec) -> Self {
        let mut entities = BTreeMap::new();
        let mut add = |path: String, settings: Settings| {
            let dlq = format!("{path}/$DeadLetterQueue");
            let dlq_settings = Settings {
                max_delivery_count: u32::MAX,
                duplicate_window: None,
                ..settings
            };
            entities.insert(key(&dlq), Entity::new(dlq.clone(), dlq_settings, None));
            entities.insert(key(&path), Entity::new(path, settings, Some(key(&dlq))));
        };
        for q in &spec.queues {
            add(q.name.clone(), Settings::from_spec(q));
        }
        let mut topics = BTreeMap::new();
        for t in &spec.topics {
            let mut subscriptions = Vec::new();
            for s in &t.subscriptions {
                let path = format!("{}/subscriptions/{}", t.name, s.name);
                subscriptions.push(key(&path));
                // Duplicate detection is a topic feature; subscriptions never see repeats.
                let settings = Settings {
                    duplicate_window: None,
                    ..Settings::from_spec(s)
                };
                add(path, settings);
            }
            topics.insert(
                key(&t.name),
                Topic {
                    subscriptions,
                    duplicate_window: t
                        .duplicate_detection_window
                        .as_deref()
                        .and_then(timefmt::parse_iso_duration),
                    seen_ids: HashMap::new(),
                },
            );
        }
        Self {
            name: spec.name.clone(),
            tenant: spec.tenant.clone(),
            resource_id: spec.resource_id.clone(),
            policies: spec.sas_policies.clone(),
            entities,
            topics,
        }
    }

    /// True when `name` is a topic of this namespace.
    pub fn is_topic(&self, name: &str) -> bool {
        self.topics.contains_key(&key(name))
    }

    /// True when `path` names a queue, subscription, dead-letter queue or topic.
    pub fn has_entity(&self, path: &str) -> bool {
        let k = key(path);
        self.entities.contains_key(&k) || self.topics.contains_key(&k)
    }

    /// Sweeps `only` that entity and the one whose dead-letter queue it is (a receive or a
    /// settlement looks at no other), or all.
    fn sweep(&mut self, now: OffsetDateTime, only: Option<&str>) {
        let mut moved: Vec<(String, Message)> = Vec::new();
        for (_, entity) in self.entities.iter_mut().filter(|(k, e)| {
            only.is_none_or(|o| {
                k.as_str() == o || e.dead_letter_path.as_deref().is_some_and(|d| key(d) == o)
            })
        }) {
            let dead = entity.sweep(now);
            if let Some(dlq) = &entity.dead_letter_path {
                let max = entity.settings.max_delivery_count;
                for mut m in dead {
                    m.custom.retain(|(k, _)| {
                        !k.eq_ignore_ascii_case("DeadLetterReason")
                            && !k.eq_ignore_ascii_case("DeadLetterErrorDescription")
                    });
                    m.custom.push((
                        "DeadLetterReason".to_owned(),
                        "\"MaxDeliveryCountExceeded\"".to_owned(),
                    ));
                    m.custom.push((
                        "DeadLetterErrorDescription".to_owned(),
                        format!("\"Message could not be consumed after {max} delivery attempts.\""),
                    ));
                    moved.push((dlq.clone(), m));
                }
            }
        }
        for (dlq, m) in moved {
            if let Some(entity) = self.entities.get_mut(&dlq) {
                // A dead-lettered message keeps its sequence number.
                entity.messages.push(m);
            }
        }
    }

    /// Sends a message to a queue or topic. `Ok(false)`: accepted but dropped as a duplicate.
    pub fn send(
        &mut self,
        path: &str,
        incoming: Incoming,
        now: OffsetDateTime,
    ) -> Result<bool, BrokerError> {
        let k = key(path);
        let message = build_message(incoming, now);
        if let Some(topic) = self.topics.get_mut(&k) {
            if let Some(window) = topic.duplicate_window {
                topic.seen_ids.retain(|_, at| *at + window > now);
                if topic.seen_ids.contains_key(&message.message_id) {
                    return Ok(false);
                }
                topic.seen_ids.insert(message.message_id.clone(), now);
            }
            for sub in topic.subscriptions.clone() {
                if let Some(entity) = self.entities.get_mut(&sub) {
                    entity.enqueue(message.clone());
                }
            }
            return Ok(true);
        }
        let entity = self
            .entities
            .get_mut(&k)
            .ok_or_else(|| BrokerError::NoSuchEntity(path.to_owned()))?;
        if entity.dead_letter_path.is_none() || k.contains("/subscriptions/") {
            return Err(BrokerError::SendNotAllowed(path.to_owned()));
        }
        if entity.is_duplicate(&message.message_id, now) {
            return Ok(false);
        }
        entity.enqueue(message);
        Ok(true)
    }

    /// Receives the next visible message, if any.
    pub fn receive(
        &mut self,
        path: &str,
        mode: ReceiveMode,
        now: OffsetDateTime,
    ) -> Result<Option<Message>, BrokerError> {
        let k = key(path);
        if self.topics.contains_key(&k) {
            return Err(BrokerError::ReceiveFromTopic);
        }
        self.sweep(now, Some(&k));
        let entity = self
            .entities
            .get_mut(&k)
            .ok_or_else(|| BrokerError::NoSuchEntity(path.to_owned()))?;
        let Some(index) = entity.next_visible(now) else {
            return Ok(None);
        };
        match mode {
            ReceiveMode::PeekLock => {
                let lock_duration = entity.settings.lock_duration;
                let m = &mut entity.messages[index];
                if let Some(at) = m.scheduled_for
                    && m.delivery_count == 0
                {
                    m.enqueued_at = at.max(m.enqueued_at);
                }
                m.delivery_count += 1;
                m.lock = Some(Lock {
                    token: uuid::Uuid::new_v4().to_string(),
                    until: now + lock_duration,
                });
                Ok(Some(m.clone()))
            }
            ReceiveMode::ReceiveAndDelete => {
                let mut m = entity.messages.remove(index);
                m.delivery_count += 1;
                Ok(Some(m))
            }
        }
    }

    /// Completes, abandons or renews a lock. Returns the (new) lock expiry for a renew.
    pub fn lock_action(
        &mut self,
        path: &str,
        message_ref: &str,
        token: &str,
        action: LockAction,
        now: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>, BrokerError> {
        let k = key(path);
        if !self.entities.contains_key(&k) {
            return Err(BrokerError::NoSuchEntity(path.to_owned()));
        }
        self.sweep(now, Some(&k));
        let entity = self
            .entities
            .get_mut(&k)
            .ok_or_else(|| BrokerError::NoSuchEntity(path.to_owned()))?;
        let index = entity
            .find_locked(message_ref, token, now)
            .ok_or(BrokerError::LockLost)?;
        match action {
            LockAction::Complete => {
                entity.messages.remove(index);
                Ok(None)
            }
            LockAction::Renew => {
                let until = now + entity.settings.lock_duration;
                if let Some(lock) = entity.messages[index].lock.as_mut() {
                    lock.until = until;
                }
                Ok(Some(until))
            }
            LockAction::Abandon => {
                // Abandoning is the same as the lock running out now: it may dead-letter.
                if let Some(lock) = entity.messages[index].lock.as_mut() {
                    lock.until = now;
                }
                self.sweep(now, Some(&k));
                Ok(None)
            }
        }
    }

    /// Counts per entity.
    pub fn counts(&mut self, now: OffsetDateTime) -> Vec<EntityCounts> {
        self.sweep(now, None);
        self.entities
            .values()
            .map(|e| EntityCounts {
                namespace: self.name.clone(),
                path: e.path.clone(),
                active: e
                    .messages
                    .iter()
                    .filter(|m| m.lock.is_none() && m.scheduled_for.is_none_or(|at| at <= now))
                    .count(),
                scheduled: e
                    .messages
                    .iter()
                    .filter(|m| m.scheduled_for.is_some_and(|at| at > now))
                    .count(),
                locked: e.messages.iter().filter(|m| m.lock.is_some()).count(),
                next_scheduled_at: e
                    .messages
                    .iter()
                    .filter_map(|m| m.scheduled_for.filter(|at| *at > now))
                    .min(),
            })
            .collect()
    }

    /// True when `path` is a dead-letter queue.
    pub fn is_dead_letter_path(path: &str) -> bool {
        key(path).ends_with(DLQ)
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::scenario::Scenario;

    fn namespace() -> Namespace {
        Namespace::from_spec(&Scenario::demo().service_bus_namespaces[0])
    }

    fn text(body: &str) -> Incoming {
        Incoming {
            body: Bytes::from(body.to_owned()),
            ..Incoming::default()
        }
    }

    #[test]
    fn broker_properties_are_alphabetical_with_rfc1123_dates_and_max_ttl() {
        let mut ns = namespace();
        let now = time::macros::datetime!(2019-04-25 06:37:16 UTC);
        ns.send("create-vm", text("x"), now).unwrap();
        let m = ns
            .receive("create-vm", ReceiveMode::ReceiveAndDelete, now)
            .unwrap()
            .unwrap();
        let bp = m.broker_properties();
        assert!(bp.starts_with(r#"{"DeliveryCount":1,"EnqueuedSequenceNumber":0,"EnqueuedTimeUtc":"Thu, 25 Apr 2019 06:37:16 GMT","MessageId":""#), "{bp}");
        assert!(
            bp.ends_with(r#""SequenceNumber":1,"State":"Active","TimeToLive":922337203685.47754}"#),
            "{bp}"
        );
    }

    #[test]
    fn a_subscription_receives_a_copy_of_each_topic_message() {
        let mut ns = namespace();
        let now = OffsetDateTime::now_utc();
        ns.send("share-events", text("e"), now).unwrap();
        let got = ns
            .receive(
                "share-events/subscriptions/all",
                ReceiveMode::ReceiveAndDelete,
                now,
            )
            .unwrap();
        assert_eq!(got.unwrap().body, Bytes::from("e"));
        assert!(matches!(
            ns.receive("share-events", ReceiveMode::PeekLock, now),
            Err(BrokerError::ReceiveFromTopic)
        ));
    }
}
