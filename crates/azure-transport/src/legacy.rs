//! The transport as an `azure_core` 0.21 `HttpClient`, for `azure_messaging_servicebus`.

use azure_core_legacy::{
    Body, HttpClient, Request, Response, StatusCode,
    error::{Error, ErrorKind},
    headers::{HeaderName, HeaderValue, Headers},
};
use futures::TryStreamExt;

use crate::Transport;

#[derive(Debug)]
pub(crate) struct LegacyClient(pub(crate) Transport);

#[async_trait::async_trait]
impl HttpClient for LegacyClient {
    async fn execute_request(&self, request: &Request) -> azure_core_legacy::Result<Response> {
        // `url` 2.x is shared by both crates, so the URL type is the same.
        let builder = self
            .0
            .builder(
                request.method().as_ref(),
                request.url().clone(),
                request
                    .headers()
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str())),
            )
            .map_err(|e| Error::message(ErrorKind::DataConversion, e))?;
        let built = match request.body().clone() {
            Body::Bytes(bytes) => builder.body(bytes).build(),
            Body::SeekableStream(stream) => {
                builder.body(reqwest::Body::wrap_stream(stream)).build()
            }
        }
        .map_err(|e| Error::full(ErrorKind::Other, e, "failed to build request"))?;

        let response = self
            .0
            .execute(built)
            .await
            .map_err(|e| Error::full(ErrorKind::Io, e, "failed to execute request"))?;

        let status = StatusCode::try_from(response.status().as_u16())
            .map_err(|_| Error::message(ErrorKind::DataConversion, "invalid HTTP status code"))?;
        let headers = Headers::from(
            crate::text_headers(response.headers())
                .map(|(k, v)| (HeaderName::from(k), HeaderValue::from(v)))
                .collect::<std::collections::HashMap<_, _>>(),
        );
        let body = Box::pin(
            response
                .bytes_stream()
                .map_err(|e| Error::full(ErrorKind::Io, e, "failed to read response body")),
        );
        Ok(Response::new(status, headers, body))
    }
}
