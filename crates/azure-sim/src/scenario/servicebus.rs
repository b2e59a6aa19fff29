//! The Service Bus part of a scenario: namespaces, their shared access policies, queues and
//! topics.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A Service Bus namespace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NamespaceSpec {
    /// Namespace name (the host label).
    pub name: String,
    /// Tenant whose tokens the namespace accepts.
    pub tenant: String,
    /// ARM resource id (the scope role assignments name).
    pub resource_id: String,
    /// Shared access policies.
    #[serde(default)]
    pub sas_policies: Vec<SasPolicySpec>,
    /// Queues.
    #[serde(default)]
    pub queues: Vec<EntitySpec>,
    /// Topics.
    #[serde(default)]
    pub topics: Vec<TopicSpec>,
}

/// A shared access policy.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SasPolicySpec {
    /// Key name (`RootManageSharedAccessKey`).
    pub name: String,
    /// Primary key (the base64 text is the HMAC key, used as its UTF-8 bytes).
    pub primary_key: String,
    /// Secondary key.
    #[serde(default)]
    pub secondary_key: Option<String>,
    /// `Manage`, `Send`, `Listen`.
    pub rights: Vec<String>,
}

impl fmt::Debug for SasPolicySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SasPolicySpec")
            .field("name", &self.name)
            .field("rights", &self.rights)
            .finish_non_exhaustive()
    }
}

/// A queue or a topic subscription.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EntitySpec {
    /// Name.
    pub name: String,
    /// ISO 8601 lock duration (`PT30S`; Service Bus default `PT1M`).
    #[serde(default = "default_lock")]
    pub lock_duration: String,
    /// Deliveries before dead-lettering (default 10).
    #[serde(default = "default_max_delivery")]
    pub max_delivery_count: u32,
    /// ISO 8601 duplicate-detection window; absent: no duplicate detection.
    #[serde(default)]
    pub duplicate_detection_window: Option<String>,
}

fn default_lock() -> String {
    "PT1M".to_owned()
}

fn default_max_delivery() -> u32 {
    10
}

/// A topic and its subscriptions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TopicSpec {
    /// Name.
    pub name: String,
    /// ISO 8601 duplicate-detection window of the topic.
    #[serde(default)]
    pub duplicate_detection_window: Option<String>,
    /// Subscriptions (each gets a copy of every message).
    #[serde(default)]
    pub subscriptions: Vec<EntitySpec>,
}
