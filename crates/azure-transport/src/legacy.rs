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
        let method = reqwest::Method::from_bytes(request.method().as_ref().as_bytes())
            .map_err(|e| Error::full(ErrorKind::DataConversion, e, "unsupported HTTP method"))?;
        // `url` 2.x is shared by both crates, so the URL type is the same.
        let mut builder = self.0.client().request(method, request.url().clone());
        for (name, value) in request.headers().iter() {
            builder = builder.header(name.as_str(), value.as_str());
        }
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
            response
                .headers()
                .iter()
                .filter_map(|(k, v)| {
                    let value = v.to_str().ok()?;
                    Some((
                        HeaderName::from(k.as_str().to_owned()),
                        HeaderValue::from(value.to_owned()),
                    ))
                })
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
