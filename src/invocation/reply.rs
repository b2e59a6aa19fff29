//! The reply to a non-HTTP invocation: `{"Outputs":{},"Logs":[...],"ReturnValue":null}`.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Serialize;
use serde_json::{Map, Value};

/// The body the host reads back. It must never be empty: an empty or `null` body leaves the
/// invocation hanging until `functionTimeout` (reference §3).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InvocationReply {
    /// Output bindings by name. We declare none: steps send their successors with a Service
    /// Bus client (MessageId and scheduling cannot be set through output bindings).
    pub outputs: Map<String, Value>,
    /// Lines the host logs at Information under the function's logger.
    pub logs: Vec<String>,
    /// `$return`: unused.
    pub return_value: Value,
}

impl InvocationReply {
    /// A reply carrying `logs`.
    pub fn with_logs(logs: Vec<String>) -> Self {
        Self {
            logs,
            ..Self::default()
        }
    }

    /// 200: the host completes the message. Also used for recorded terminal failures.
    pub fn done(self) -> Response {
        (StatusCode::OK, Json(self)).into_response()
    }

    /// 500: the host fails the invocation and abandons the message, so Service Bus redelivers
    /// it (and dead-letters it after MaxDeliveryCount). The body is still a full envelope.
    pub fn retry(self) -> Response {
        (StatusCode::INTERNAL_SERVER_ERROR, Json(self)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_reply_is_a_full_envelope_even_on_failure() {
        let response = InvocationReply::with_logs(vec!["x".into()]).retry();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.headers()["content-type"], "application/json");
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        assert_eq!(
            &body[..],
            br#"{"Outputs":{},"Logs":["x"],"ReturnValue":null}"#
        );
    }
}
