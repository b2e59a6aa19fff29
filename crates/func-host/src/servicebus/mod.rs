//! Service Bus triggers and outputs over the REST API (azure_messaging_servicebus 0.21
//! on azure-transport, so a simulator can stand in for Azure).

pub mod connection;
pub mod listener;
pub mod message;
pub mod output;
pub mod raw_body;

use std::sync::Arc;

use azure_core_legacy::HttpClient;
use azure_messaging_servicebus::service_bus::{QueueClient, SubscriptionReceiver, TopicClient};

pub use connection::ConnectionString;

use crate::{
    error::ConfigError,
    function_json::{BindingDef, DataType, FunctionDef},
    settings::AppSettings,
};

/// The entity a trigger reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entity {
    /// `queueName`.
    Queue(String),
    /// `topicName` + `subscriptionName`.
    Subscription {
        /// The topic.
        topic: String,
        /// The subscription.
        subscription: String,
    },
}

impl Entity {
    /// The entity path as the SDK reports it.
    pub fn path(&self) -> String {
        match self {
            Self::Queue(q) => q.clone(),
            Self::Subscription {
                topic,
                subscription,
            } => format!("{topic}/Subscriptions/{subscription}"),
        }
    }
}

/// A `serviceBusTrigger` binding, resolved against the app settings.
#[derive(Clone, Debug)]
pub struct ServiceBusTrigger {
    /// The binding name (`Data.<name>`).
    pub binding: String,
    /// What it reads.
    pub entity: Entity,
    /// The connection.
    pub connection: ConnectionString,
    /// `dataType`.
    pub data_type: Option<DataType>,
    /// `autoCompleteMessages` (function.json overrides host.json).
    pub auto_complete: bool,
}

impl ServiceBusTrigger {
    /// Reads the trigger binding of `function`.
    pub fn from_binding(
        function: &FunctionDef,
        binding: &BindingDef,
        settings: &AppSettings,
        host_auto_complete: bool,
    ) -> Result<Self, ConfigError> {
        let invalid = |message: &str| ConfigError::Binding {
            function: function.name.clone(),
            message: message.to_owned(),
        };
        if binding.boolean("isSessionsEnabled") == Some(true) {
            return Err(invalid(
                "session-enabled Service Bus triggers are not supported by the local host (the REST API has no session receive)",
            ));
        }
        if binding
            .string("cardinality")
            .is_some_and(|c| c.eq_ignore_ascii_case("many"))
        {
            return Err(invalid(
                "cardinality 'many' (batch dispatch) is not supported by the local host",
            ));
        }
        let entity = entity_of(binding, settings)?.ok_or_else(|| {
            invalid("serviceBusTrigger needs queueName, or topicName and subscriptionName")
        })?;
        Ok(Self {
            binding: binding.name.clone(),
            entity,
            connection: ConnectionString::from_settings(
                binding.string("connection").as_deref(),
                settings,
            )?,
            data_type: binding.data_type,
            auto_complete: binding
                .boolean("autoCompleteMessages")
                .unwrap_or(host_auto_complete),
        })
    }
}

fn entity_of(binding: &BindingDef, settings: &AppSettings) -> Result<Option<Entity>, ConfigError> {
    let resolve = |key: &str| -> Result<Option<String>, ConfigError> {
        binding
            .string(key)
            .filter(|v| !v.trim().is_empty())
            .map(|v| settings.resolve_binding_expression(&v))
            .transpose()
    };
    if let Some(queue) = resolve("queueName")? {
        return Ok(Some(Entity::Queue(queue)));
    }
    match (resolve("topicName")?, resolve("subscriptionName")?) {
        (Some(topic), Some(subscription)) => Ok(Some(Entity::Subscription {
            topic,
            subscription,
        })),
        (Some(topic), None) if binding.direction != crate::function_json::Direction::In => {
            Ok(Some(Entity::Queue(topic)))
        }
        _ => Ok(None),
    }
}

/// A peek-lock receiver for a queue or a subscription.
#[derive(Clone, Debug)]
pub enum Receiver {
    /// A queue.
    Queue(QueueClient),
    /// A topic subscription.
    Subscription(SubscriptionReceiver),
}

impl Receiver {
    /// A receiver for `entity` over `http` (the routing transport).
    pub fn new(
        http: Arc<dyn HttpClient>,
        connection: &ConnectionString,
        entity: &Entity,
    ) -> Result<Self, azure_core_legacy::Error> {
        let http: Arc<dyn HttpClient> = Arc::new(raw_body::KeepRawBodies(http));
        Ok(match entity {
            Entity::Queue(queue) => Self::Queue(QueueClient::new(
                http,
                connection.namespace.clone(),
                queue.clone(),
                connection.key_name.clone(),
                connection.key().to_owned(),
            )?),
            Entity::Subscription {
                topic,
                subscription,
            } => Self::Subscription(
                TopicClient::new(
                    http,
                    connection.namespace.clone(),
                    topic.clone(),
                    connection.key_name.clone(),
                    connection.key().to_owned(),
                )?
                .subscription_receiver(subscription),
            ),
        })
    }

    /// `POST {entity}/messages/head?timeout=…`: peek-lock one message.
    pub async fn peek_lock(
        &self,
        timeout: std::time::Duration,
    ) -> azure_core_legacy::Result<azure_messaging_servicebus::service_bus::PeekLockResponse> {
        match self {
            Self::Queue(q) => q.peek_lock_message2(Some(timeout)).await,
            Self::Subscription(s) => s.peek_lock_message2(Some(timeout)).await,
        }
    }
}
