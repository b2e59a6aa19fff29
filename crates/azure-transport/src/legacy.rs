//! The transport as an `azure_core` 0.21 `HttpClient`, for `azure_messaging_servicebus`.

use azure_core_legacy::{
    Body, HttpClient, Request, Response, StatusCode,
    error::{Error, ErrorKind},
    headers::{HeaderName, HeaderValue, Headers},
};
use futures::TryStreamExt;

use crate::{Transport, simulated_time::SasKey};

#[derive(Debug)]
pub(crate) struct LegacyClient {
    pub(crate) transport: Transport,
    /// The key to re-sign SAS tokens with at the simulated time (simulated mode only).
    pub(crate) sas: Option<SasKey>,
}

#[async_trait::async_trait]
impl HttpClient for LegacyClient {
    async fn execute_request(&self, request: &Request) -> azure_core_legacy::Result<Response> {
        let response = self.send(request).await?;
        // A token re-signed by an offset read before a jump of the simulator's clock is
        // already expired there (401 ExpiredToken). Reading the clock now and sending once
        // more is what a client whose clock moved with the simulator's would have seen; a
        // caller whose message it is (an outbox send) would otherwise wait for the
        // reconciler. Only bodies that can be sent again are.
        if response.status().as_u16() == 401
            && self.sas.is_some()
            && matches!(request.body(), Body::Bytes(_))
        {
            self.transport.sync_simulator_clock().await;
            return wrap(self.send(request).await?);
        }
        wrap(response)
    }
}

impl LegacyClient {
    async fn send(&self, request: &Request) -> azure_core_legacy::Result<reqwest::Response> {
        let ahead = !self.transport.time.offset().is_zero();
        let resigned = |name: &str, value: &str| -> Option<String> {
            let key = self.sas.as_ref().filter(|_| ahead)?;
            name.eq_ignore_ascii_case("authorization")
                .then(|| key.resign(value, &self.transport.time))?
        };
        // `url` 2.x is shared by both crates, so the URL type is the same.
        let headers: Vec<(String, String)> = request
            .headers()
            .iter()
            .map(|(n, v)| {
                let value =
                    resigned(n.as_str(), v.as_str()).unwrap_or_else(|| v.as_str().to_owned());
                (n.as_str().to_owned(), value)
            })
            .collect();
        let builder = self
            .transport
            .builder(
                request.method().as_ref(),
                request.url().clone(),
                headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
            )
            .map_err(|e| Error::message(ErrorKind::DataConversion, e))?;
        let built = match request.body().clone() {
            Body::Bytes(bytes) => builder.body(bytes).build(),
            Body::SeekableStream(stream) => {
                builder.body(reqwest::Body::wrap_stream(stream)).build()
            }
        }
        .map_err(|e| Error::full(ErrorKind::Other, e, "failed to build request"))?;

        self.transport
            .execute(built)
            .await
            .map_err(|e| Error::full(ErrorKind::Io, e, "failed to execute request"))
    }
}

/// The reqwest response as the one `azure_core` 0.21 expects.
fn wrap(response: reqwest::Response) -> azure_core_legacy::Result<Response> {
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
