//! Keeping peek-locked message bodies as bytes.
//!
//! `azure_messaging_servicebus` 0.21 decodes a peek-lock response body as UTF-8 and fails
//! the whole receive when it is not: the message stays locked, nobody settles it, and it is
//! dead-lettered after MaxDeliveryCount lock expiries. The real host receives bytes, so with
//! `dataType: binary` such a message reaches the handler (base64) on its first delivery, and
//! in string mode the invocation fails and the message is abandoned (SB
//! `MessageToStringConverter`). This wrapper around the transport moves a body that is not
//! UTF-8 into a response header, base64-encoded, and leaves an empty body for the crate;
//! [`super::message::ReceivedMessage::from_parts`] puts it back.

use std::sync::Arc;

use azure_core_legacy::{
    BytesStream, HttpClient, Method, Request, Response,
    headers::{HeaderName, HeaderValue},
};
use base64::{Engine, engine::general_purpose::STANDARD};

/// The header a body that is not UTF-8 travels in, past the crate. Not a real Service Bus
/// header; it never leaves this process.
pub const RAW_BODY_HEADER: &str = "x-func-host-raw-body-base64";

/// The transport, with peek-lock bodies kept as bytes.
#[derive(Debug)]
pub struct KeepRawBodies(pub Arc<dyn HttpClient>);

/// `POST {entity}/messages/head`: the only call whose body is a message.
fn is_peek_lock(request: &Request) -> bool {
    *request.method() == Method::Post && request.url().path().ends_with("/messages/head")
}

#[async_trait::async_trait]
impl HttpClient for KeepRawBodies {
    async fn execute_request(&self, request: &Request) -> azure_core_legacy::Result<Response> {
        let response = self.0.execute_request(request).await?;
        if !is_peek_lock(request) {
            return Ok(response);
        }
        let (status, mut headers, body) = response.deconstruct();
        let bytes = body.collect().await?;
        if std::str::from_utf8(&bytes).is_ok() {
            return Ok(Response::new(
                status,
                headers,
                Box::pin(BytesStream::new(bytes)),
            ));
        }
        headers.insert(
            HeaderName::from_static(RAW_BODY_HEADER),
            HeaderValue::from(STANDARD.encode(&bytes)),
        );
        Ok(Response::new(
            status,
            headers,
            Box::pin(BytesStream::new_empty()),
        ))
    }
}
