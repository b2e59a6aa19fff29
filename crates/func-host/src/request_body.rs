//! The HTTP request body limit, and reading a client's body without holding all of it.
//!
//! The real host runs on Kestrel with `MaxRequestBodySize` set from the app setting
//! `FUNCTIONS_REQUEST_BODY_SIZE_LIMIT` (default 104,857,600 bytes). Kestrel answers a body
//! over it with 413 and a body whose framing is broken (bad chunk sizes, a connection closed
//! early) with 400. Here the same: a declared Content-Length over the limit is refused before
//! a byte is read; a streamed body is counted as it goes, and forwarded to the handler as a
//! stream, so a request costs a chunk of memory, not its size.

use std::sync::{Arc, Mutex};

use axum::{
    body::{Body, Bytes},
    response::{IntoResponse, Response},
};
use futures::{Stream, StreamExt};
use http::{HeaderMap, StatusCode};

use crate::settings::AppSettings;

/// The app setting that sets the limit.
pub const LIMIT_SETTING: &str = "FUNCTIONS_REQUEST_BODY_SIZE_LIMIT";
/// The host's default limit: 100 MiB.
pub const DEFAULT_LIMIT: u64 = 104_857_600;

/// The limit from the app settings; a value that is not a byte count keeps the default.
pub fn limit(settings: &AppSettings) -> u64 {
    settings
        .get(LIMIT_SETTING)
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_LIMIT)
}

/// Why a request body was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// Over the limit (413).
    #[error("Request body too large. The max request body size is {limit} bytes.")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// The body could not be read as framed (400).
    #[error("the request body is malformed: {0}")]
    Malformed(String),
}

impl IntoResponse for BodyError {
    fn into_response(self) -> Response {
        let status = match self {
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Malformed(_) => StatusCode::BAD_REQUEST,
        };
        // Kestrel closes the connection after refusing a body; so do we, since the rest of
        // the body may still be on its way.
        (
            status,
            [(http::header::CONNECTION, "close")],
            self.to_string(),
        )
            .into_response()
    }
}

/// The declared Content-Length: `Ok(None)` when absent, an error when over the limit or not
/// a number (Kestrel refuses an unparsable Content-Length with 400).
pub fn declared_length(headers: &HeaderMap, limit: u64) -> Result<Option<u64>, BodyError> {
    let Some(value) = headers.get(http::header::CONTENT_LENGTH) else {
        return Ok(None);
    };
    let length = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .ok_or_else(|| BodyError::Malformed("Content-Length is not a number".to_owned()))?;
    if length > limit {
        return Err(BodyError::TooLarge { limit });
    }
    Ok(Some(length))
}

/// The body's chunks, failing with [`BodyError`] once more than `limit` bytes went by.
fn limited(body: Body, limit: u64) -> impl Stream<Item = Result<Bytes, BodyError>> {
    let mut seen = 0u64;
    body.into_data_stream().map(move |chunk| {
        let chunk = chunk.map_err(|e| BodyError::Malformed(e.to_string()))?;
        seen = seen.saturating_add(chunk.len() as u64);
        if seen > limit {
            return Err(BodyError::TooLarge { limit });
        }
        Ok(chunk)
    })
}

/// Reads the whole body (the default mode embeds it in the invocation, as the host does).
pub async fn read(body: Body, limit: u64) -> Result<Vec<u8>, BodyError> {
    let mut stream = std::pin::pin!(limited(body, limit));
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        bytes.extend_from_slice(&chunk?);
    }
    Ok(bytes)
}

/// Reads the body to its end, keeping nothing: for a body the host does not forward, whose
/// size and framing still decide the answer.
pub async fn drain(body: Body, limit: u64) -> Result<(), BodyError> {
    let mut stream = std::pin::pin!(limited(body, limit));
    while let Some(chunk) = stream.next().await {
        chunk?;
    }
    Ok(())
}

/// What went wrong with a streamed body, once the stream has ended.
#[derive(Clone, Debug, Default)]
pub struct StreamOutcome(Arc<Mutex<Option<BodyError>>>);

impl StreamOutcome {
    /// The client's fault, if the forwarded stream failed because of the body.
    pub fn error(&self) -> Option<BodyError> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn record(&self, error: &BodyError) {
        let mut slot = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        slot.get_or_insert_with(|| error.clone());
    }
}

/// The body as a stream for the outgoing request to the handler. A failure of the stream
/// fails that request; [`StreamOutcome::error`] then tells the client's fault (400/413)
/// from the handler's (500).
pub fn forward(body: Body, limit: u64) -> (reqwest::Body, StreamOutcome) {
    let outcome = StreamOutcome::default();
    let recorder = outcome.clone();
    let stream = limited(body, limit).map(move |chunk| chunk.inspect_err(|e| recorder.record(e)));
    (reqwest::Body::wrap_stream(stream), outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(parts: &[&'static [u8]]) -> Body {
        let parts: Vec<Result<Bytes, std::io::Error>> =
            parts.iter().map(|p| Ok(Bytes::from_static(p))).collect();
        Body::from_stream(futures::stream::iter(parts))
    }

    #[tokio::test]
    async fn a_body_is_read_up_to_the_limit_and_refused_past_it() {
        assert_eq!(read(chunks(&[b"ab", b"cd"]), 4).await.unwrap(), b"abcd");
        assert_eq!(
            read(chunks(&[b"ab", b"cde"]), 4).await.unwrap_err(),
            BodyError::TooLarge { limit: 4 }
        );
        assert!(drain(chunks(&[b"abcde"]), 4).await.is_err());
    }

    #[tokio::test]
    async fn a_body_that_fails_midway_is_malformed() {
        let parts: Vec<Result<Bytes, std::io::Error>> = vec![
            Ok(Bytes::from_static(b"ab")),
            Err(std::io::Error::other("invalid chunk size")),
        ];
        let error = read(Body::from_stream(futures::stream::iter(parts)), 10)
            .await
            .unwrap_err();
        assert!(matches!(error, BodyError::Malformed(m) if m.contains("invalid chunk size")));
    }

    #[test]
    fn a_declared_length_over_the_limit_is_refused_before_reading() {
        let mut headers = HeaderMap::new();
        assert_eq!(declared_length(&headers, 10), Ok(None));
        headers.insert(http::header::CONTENT_LENGTH, "11".parse().unwrap());
        assert_eq!(
            declared_length(&headers, 10),
            Err(BodyError::TooLarge { limit: 10 })
        );
        headers.insert(http::header::CONTENT_LENGTH, "ten".parse().unwrap());
        assert!(matches!(
            declared_length(&headers, 10),
            Err(BodyError::Malformed(_))
        ));
    }

    #[test]
    fn the_limit_comes_from_the_app_setting() {
        assert_eq!(
            limit(&AppSettings::from_pairs([(LIMIT_SETTING, "lots")])),
            DEFAULT_LIMIT
        );
        assert_eq!(
            limit(&AppSettings::from_pairs([(LIMIT_SETTING, "1024")])),
            1024
        );
    }
}
