//! Sending to Service Bus queues and topics: step messages (with MessageId for duplicate
//! detection and a scheduled enqueue time for re-checks) and status events.
//!
//! Two ways in, as the Functions bindings allow: a namespace connection string (SAS, through
//! `azure_messaging_servicebus`), or the Function App's managed identity (an Entra token on the
//! same REST API), which needs no key at all.

use std::{collections::BTreeMap, sync::Arc};

use async_trait::async_trait;
use azure_messaging_servicebus::service_bus::{
    QueueClient, SendMessageOptions, SettableBrokerProperties, TopicClient,
};
use azure_transport::Transport;
use reqwest::Method;
use time::{OffsetDateTime, format_description::BorrowedFormatItem, macros::format_description};
use url::Url;

use super::{ApiCall, AzureError, HttpStack, Secret, Service, Tokens, scopes};
use crate::{
    config::ServiceBusConnection,
    domain::StepMessage,
    queue::{QueueError, StepQueue},
};

/// Where a message goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entity<'a> {
    /// A queue.
    Queue(&'a str),
    /// A topic.
    Topic(&'a str),
}

impl Entity<'_> {
    fn name(&self) -> &str {
        match self {
            Self::Queue(n) | Self::Topic(n) => n,
        }
    }
}

/// A message to send.
#[derive(Clone, Debug, Default)]
pub struct Outgoing {
    /// The body (JSON text).
    pub body: String,
    /// `Content-Type` (default `application/json`).
    pub content_type: Option<String>,
    /// `MessageId`: repeats within the duplicate-detection window are dropped.
    pub message_id: String,
    /// `CorrelationId`.
    pub correlation_id: Option<String>,
    /// `ReplyTo`.
    pub reply_to: Option<String>,
    /// `Label` (Subject).
    pub subject: Option<String>,
    /// Visible from then on.
    pub scheduled: Option<OffsetDateTime>,
    /// Custom properties (strings).
    pub properties: BTreeMap<String, String>,
}

const RFC1123: &[BorrowedFormatItem<'static>] = format_description!(
    "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
);

/// Sends messages.
#[derive(Clone, Debug)]
pub struct ServiceBusSender {
    connection: ServiceBusConnection,
    transport: Transport,
    http: HttpStack,
    tokens: Arc<Tokens>,
}

impl ServiceBusSender {
    /// A sender on `connection`.
    pub fn new(connection: ServiceBusConnection, http: HttpStack, tokens: Arc<Tokens>) -> Self {
        Self {
            connection,
            transport: http.transport().clone(),
            http,
            tokens,
        }
    }

    /// Sends one message to a queue or topic.
    pub async fn send(&self, entity: Entity<'_>, message: &Outgoing) -> Result<(), AzureError> {
        match &self.connection {
            ServiceBusConnection::SharedKey {
                namespace,
                key_name,
                key,
            } => {
                self.send_with_key(namespace, key_name, key, entity, message)
                    .await
            }
            ServiceBusConnection::Identity { .. } => {
                self.send_with_token(entity.name(), message).await
            }
        }
    }

    async fn send_with_key(
        &self,
        namespace: &str,
        key_name: &str,
        key: &Secret,
        entity: Entity<'_>,
        message: &Outgoing,
    ) -> Result<(), AzureError> {
        let options = SendMessageOptions {
            content_type: Some(
                message
                    .content_type
                    .clone()
                    .unwrap_or_else(|| "application/json".to_owned()),
            ),
            broker_properties: Some(SettableBrokerProperties {
                message_id: Some(message.message_id.clone()),
                correlation_id: message.correlation_id.clone(),
                reply_to: message.reply_to.clone(),
                label: message.subject.clone(),
                scheduled_enqueue_time_utc: message.scheduled,
                ..SettableBrokerProperties::default()
            }),
            custom_properties: (!message.properties.is_empty()).then(|| {
                message
                    .properties
                    .iter()
                    .map(|(k, v)| (k.clone(), json_quoted(v)))
                    .collect()
            }),
        };
        let http = self
            .transport
            .for_azure_core_legacy_sas(key_name, key.expose());
        let error = |e: azure_core_legacy::error::Error| match e.kind() {
            azure_core_legacy::error::ErrorKind::HttpResponse { status, error_code } => {
                AzureError::Api {
                    service: Service::ServiceBus,
                    status: u16::from(*status),
                    code: error_code
                        .clone()
                        .unwrap_or_else(|| "SendFailed".to_owned()),
                    message: e.to_string(),
                    retry_after: None,
                    details: Vec::new(),
                    request_id: None,
                }
            }
            _ => AzureError::Transport {
                service: Service::ServiceBus,
                detail: e.to_string(),
            },
        };
        match entity {
            Entity::Queue(queue) => {
                let client =
                    QueueClient::new(http, namespace, queue, key_name, key.expose().to_owned())
                        .map_err(error)?;
                client
                    .send_message(&message.body, Some(options))
                    .await
                    .map_err(error)
            }
            Entity::Topic(topic) => {
                let client =
                    TopicClient::new(http, namespace, topic, key_name, key.expose().to_owned())
                        .map_err(error)?;
                client
                    .topic_sender()
                    .send_message(&message.body, Some(options))
                    .await
                    .map_err(error)
            }
        }
    }

    async fn send_with_token(&self, entity: &str, message: &Outgoing) -> Result<(), AzureError> {
        let url = Url::parse(&format!(
            "https://{}.servicebus.windows.net/{entity}/messages",
            self.connection.namespace()
        ))
        .map_err(|e| AzureError::Unexpected {
            service: Service::ServiceBus,
            detail: e.to_string(),
        })?;
        let mut broker = serde_json::json!({"MessageId": message.message_id});
        if let Some(c) = &message.correlation_id {
            broker["CorrelationId"] = c.clone().into();
        }
        if let Some(s) = &message.subject {
            broker["Label"] = s.clone().into();
        }
        if let Some(r) = &message.reply_to {
            broker["ReplyTo"] = r.clone().into();
        }
        if let Some(t) = message.scheduled {
            let text = t
                .to_offset(time::UtcOffset::UTC)
                .format(RFC1123)
                .map_err(|e| AzureError::Unexpected {
                    service: Service::ServiceBus,
                    detail: e.to_string(),
                })?;
            broker["ScheduledEnqueueTimeUtc"] = text.into();
        }
        let token = self.tokens.operator(scopes::SERVICE_BUS).await?;
        let mut call = ApiCall::new(Service::ServiceBus, Method::POST, url)
            .header("authorization", &token.bearer())
            .header("brokerproperties", &broker.to_string())
            // The MessageId makes a resend harmless: duplicate detection drops it.
            .idempotent(true);
        for (k, v) in &message.properties {
            if let (Ok(name), Ok(value)) = (
                reqwest::header::HeaderName::from_bytes(k.as_bytes()),
                reqwest::header::HeaderValue::from_str(&json_quoted(v)),
            ) {
                call.headers.insert(name, value);
            }
        }
        let content_type = message
            .content_type
            .clone()
            .unwrap_or_else(|| "application/json".to_owned());
        let call = call.raw(content_type, message.body.clone().into_bytes());
        self.http.send(&call).await.map(|_| ())
    }
}

/// Custom properties travel as headers; string values are JSON-quoted.
fn json_quoted(value: &str) -> String {
    serde_json::Value::String(value.to_owned()).to_string()
}

#[async_trait]
impl StepQueue for ServiceBusSender {
    async fn send(
        &self,
        message: &StepMessage,
        not_before: Option<OffsetDateTime>,
    ) -> Result<(), QueueError> {
        let body = serde_json::to_string(message).map_err(|e| QueueError {
            queue: message.step.queue().to_owned(),
            detail: e.to_string(),
        })?;
        let outgoing = Outgoing {
            body,
            message_id: message.message_id(),
            correlation_id: Some(message.request_id.to_string()),
            subject: Some(message.step.queue().to_owned()),
            scheduled: not_before,
            ..Outgoing::default()
        };
        Self::send(self, Entity::Queue(message.step.queue()), &outgoing)
            .await
            .map_err(|e| QueueError {
                queue: message.step.queue().to_owned(),
                detail: e.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_string_gives_the_namespace_and_key() {
        let c = ServiceBusConnection::from_connection_string(
            "Endpoint=sb://sb-imageshare-demo.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=abc=",
        )
        .unwrap();
        let ServiceBusConnection::SharedKey {
            namespace,
            key_name,
            key,
        } = &c
        else {
            panic!()
        };
        assert_eq!(
            (namespace.as_str(), key_name.as_str(), key.expose()),
            ("sb-imageshare-demo", "RootManageSharedAccessKey", "abc=")
        );
        assert!(
            !format!("{c:?}").contains("abc="),
            "the key leaked into Debug"
        );
    }

    #[test]
    fn malformed_connections_are_refused() {
        assert!(
            ServiceBusConnection::from_connection_string(
                "Endpoint=sb://x.example.com/;SharedAccessKeyName=a;SharedAccessKey=b"
            )
            .is_err()
        );
        assert!(ServiceBusConnection::from_connection_string("SharedAccessKeyName=a").is_err());
        assert!(ServiceBusConnection::from_namespace_host("sb-x.servicebus.windows.net").is_ok());
        assert!(ServiceBusConnection::from_namespace_host("servicebus.windows.net").is_err());
    }

    #[test]
    fn scheduled_times_use_rfc_1123() {
        let t = time::macros::datetime!(2026-11-28 16:05:09 UTC);
        assert_eq!(t.format(RFC1123).unwrap(), "Sat, 28 Nov 2026 16:05:09 GMT");
    }
}
