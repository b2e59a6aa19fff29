//! The transport as an `azure_core` 1.x `HttpClient`.

use azure_core::{
    error::{Error, ErrorKind},
    http::{
        AsyncRawResponse, HttpClient, Request,
        headers::{HeaderName, HeaderValue, Headers},
        request::Body,
    },
};
use futures::TryStreamExt;

use crate::Transport;

#[derive(Debug)]
pub(crate) struct ModernClient(pub(crate) Transport);

#[async_trait::async_trait]
impl HttpClient for ModernClient {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        let builder = self
            .0
            .builder(
                request.method().as_str(),
                request.url().clone(),
                request
                    .headers()
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str())),
            )
            .map_err(|e| Error::with_message(ErrorKind::DataConversion, e))?;
        let built = match request.body().clone() {
            Body::Bytes(bytes) => builder.body(bytes).build(),
            Body::SeekableStream(stream) => {
                builder.body(reqwest::Body::wrap_stream(stream)).build()
            }
        }
        .map_err(|e| Error::with_error(ErrorKind::Other, e, "failed to build request"))?;

        let response = self.0.execute(built).await.map_err(|e| {
            let kind = if e.is_connect() {
                ErrorKind::Connection
            } else {
                ErrorKind::Io
            };
            Error::with_error(kind, e, "failed to execute request")
        })?;

        let status = response.status().as_u16().into();
        let headers = Headers::from(
            crate::text_headers(response.headers())
                .map(|(k, v)| (HeaderName::from(k), HeaderValue::from(v)))
                .collect::<std::collections::HashMap<_, _>>(),
        );
        let body = Box::pin(
            response
                .bytes_stream()
                .map_err(|e| Error::with_error(ErrorKind::Io, e, "failed to read response body")),
        );
        Ok(AsyncRawResponse::new(status, headers, body))
    }
}
