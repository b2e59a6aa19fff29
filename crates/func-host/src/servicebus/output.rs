//! Service Bus output bindings: `Outputs.<name>` (or `ReturnValue` for `$return`)
//! converted as §3 says and sent with ContentType text/plain before the trigger
//! message is completed.

use super::{ConnectionString, Entity, entity_of};
use crate::{
    error::ConfigError,
    function_json::{DataType, FunctionDef},
    invoke::{InvocationError, InvocationResult},
    output_conversion::message_bodies,
    settings::AppSettings,
};
use azure_messaging_servicebus::service_bus::{
    QueueClient, SendMessageOptions, TopicClient, TopicSender,
};

/// The collector's ContentType (SB `StringToMessageConverter`).
pub const OUTPUT_CONTENT_TYPE: &str = "text/plain";

#[derive(Clone, Debug)]
enum Sender {
    Queue(QueueClient),
    Topic(TopicSender),
}

/// One `serviceBus` output binding.
#[derive(Clone, Debug)]
pub struct ServiceBusOutput {
    /// The binding name (`$return` for the return value).
    pub binding: String,
    /// Where messages go (queue or topic name).
    pub entity: String,
    data_type: Option<DataType>,
    sender: Sender,
}

/// The Service Bus outputs of one function.
#[derive(Clone, Debug, Default)]
pub struct OutputSet {
    outputs: Vec<ServiceBusOutput>,
}

/// A message an output sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentMessage {
    /// The binding.
    pub binding: String,
    /// The target entity.
    pub entity: String,
    /// The body.
    pub body: String,
}

impl OutputSet {
    /// Reads the function's `serviceBus` output bindings. Other output types are ignored
    /// (the HTTP output is handled by the HTTP trigger).
    pub fn from_function(
        function: &FunctionDef,
        settings: &AppSettings,
        transport: &azure_transport::Transport,
    ) -> Result<Self, ConfigError> {
        let mut outputs = Vec::new();
        for binding in function.outputs().filter(|b| b.is("serviceBus")) {
            let entity = entity_of(binding, settings)?.ok_or_else(|| ConfigError::Binding {
                function: function.name.clone(),
                message: format!(
                    "serviceBus output '{}' needs queueName or topicName",
                    binding.name
                ),
            })?;
            let connection =
                ConnectionString::from_settings(binding.string("connection").as_deref(), settings)?;
            let http = transport.for_azure_core_legacy_sas(&connection.key_name, connection.key());
            let client_error = |e: azure_core_legacy::Error| ConfigError::Binding {
                function: function.name.clone(),
                message: format!("serviceBus output '{}': {e}", binding.name),
            };
            let is_topic = binding
                .string("topicName")
                .is_some_and(|t| !t.trim().is_empty())
                && binding
                    .string("queueName")
                    .is_none_or(|q| q.trim().is_empty());
            let name = match &entity {
                Entity::Queue(q) => q.clone(),
                Entity::Subscription { topic, .. } => topic.clone(),
            };
            let sender = if is_topic {
                Sender::Topic(
                    TopicClient::new(
                        http.clone(),
                        connection.namespace.clone(),
                        name.clone(),
                        connection.key_name.clone(),
                        connection.key().to_owned(),
                    )
                    .map_err(client_error)?
                    .topic_sender(),
                )
            } else {
                Sender::Queue(
                    QueueClient::new(
                        http.clone(),
                        connection.namespace.clone(),
                        name.clone(),
                        connection.key_name.clone(),
                        connection.key().to_owned(),
                    )
                    .map_err(client_error)?,
                )
            };
            outputs.push(ServiceBusOutput {
                binding: binding.name.clone(),
                entity: name,
                data_type: binding.data_type,
                sender,
            });
        }
        Ok(Self { outputs })
    }

    /// True when the function has no Service Bus outputs.
    pub fn is_empty(&self) -> bool {
        self.outputs.is_empty()
    }

    /// Sends every output of a successful invocation. Output names match exactly
    /// (case-sensitive); `$return` takes `ReturnValue`.
    pub async fn send(
        &self,
        result: &InvocationResult,
    ) -> Result<Vec<SentMessage>, InvocationError> {
        let mut sent = Vec::new();
        for output in &self.outputs {
            let value = if output.binding == "$return" {
                Some(&result.return_value)
            } else {
                result.outputs.get(&output.binding)
            };
            let Some(value) = value else { continue };
            for body in message_bodies(value, output.data_type) {
                send_one(output, &body).await?;
                sent.push(SentMessage {
                    binding: output.binding.clone(),
                    entity: output.entity.clone(),
                    body,
                });
            }
        }
        Ok(sent)
    }
}

async fn send_one(output: &ServiceBusOutput, body: &str) -> Result<(), InvocationError> {
    let options = || {
        Some(SendMessageOptions {
            content_type: Some(OUTPUT_CONTENT_TYPE.to_owned()),
            ..Default::default()
        })
    };
    let result = match &output.sender {
        Sender::Queue(q) => q.send_message(body, options()).await,
        Sender::Topic(t) => t.send_message(body, options()).await,
    };
    result.map_err(|e| InvocationError::Output {
        binding: output.binding.clone(),
        message: e.to_string(),
    })?;
    tracing::debug!(binding = %output.binding, entity = %output.entity, "output message sent");
    Ok(())
}
