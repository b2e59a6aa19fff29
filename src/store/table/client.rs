//! The Table service REST calls the store makes, over the shared [`Transport`].
//!
//! Every request carries `x-ms-version: 2019-02-02` (the minimum for Entra tokens on tables),
//! `x-ms-date`, `DataServiceVersion: 3.0` and asks for `application/json;odata=minimalmetadata`,
//! which gives each queried entity its `odata.etag`.

use std::time::Duration;

use azure_transport::Transport;
use reqwest::{
    Method,
    header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue},
};
use serde_json::{Map, Value};
use time::{OffsetDateTime, macros::format_description};
use url::Url;

use super::{auth::Credential, batch};
use crate::store::StoreError;

/// The REST API version sent with every request.
pub const API_VERSION: &str = "2019-02-02";
const MINIMAL_METADATA: &str = "application/json;odata=minimalmetadata";
/// The service gives a request 30 s; allow a little more for the network.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(35);

/// A service error: its HTTP status and the `odata.error` code and message.
#[derive(Debug, Clone)]
pub struct ServiceError {
    /// HTTP status.
    pub status: u16,
    /// `odata.error.code` (or `x-ms-error-code`), empty if the service sent none.
    pub code: String,
    /// `odata.error.message.value`.
    pub message: String,
}

impl ServiceError {
    /// Reads the error document (`{"odata.error":{"code":..,"message":{"value":..}}}`).
    pub fn parse(status: u16, header_code: Option<&str>, body: &str) -> Self {
        let doc: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        let error = &doc["odata.error"];
        let code = error["code"]
            .as_str()
            .or(header_code)
            .unwrap_or_default()
            .to_owned();
        let message = error["message"]["value"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        Self {
            status,
            code,
            message,
        }
    }

    /// The generic mapping: throttling, timeouts and server faults are worth retrying; a
    /// request the service calls invalid is bad data.
    pub fn into_store_error(self) -> StoreError {
        let first_line = self.message.lines().next().unwrap_or_default().to_owned();
        let text = format!("{} {}: {first_line}", self.status, self.code);
        match self.status {
            400 => StoreError::Corrupt(format!("the table service refused the data ({text})")),
            _ => StoreError::Unavailable(format!("table service error {text}")),
        }
    }
}

/// A successful response: headers and body.
#[derive(Debug)]
pub struct Reply {
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// The Table service endpoint, table and credential.
#[derive(Debug, Clone)]
pub struct Client {
    transport: Transport,
    endpoint: Url,
    table: String,
    credential: Credential,
    page_size: Option<u32>,
}

fn rfc1123(now: OffsetDateTime) -> String {
    let format = format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    now.to_offset(time::UtcOffset::UTC)
        .format(&format)
        .unwrap_or_default()
}

/// Entities per query page unless a page size is set: small pages keep a list of many
/// requests from holding megabytes of raw JSON at once (the service's own cap is 1000).
pub const QUERY_PAGE: u32 = 100;

/// Percent-encodes a query value (everything but RFC 3986 unreserved characters), so a
/// space is `%20`, never `+`.
fn encode_query(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An OData string literal: single quotes doubled.
pub fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

impl Client {
    /// A client for `table` at `endpoint`.
    pub fn new(transport: Transport, endpoint: Url, table: String, credential: Credential) -> Self {
        Self {
            transport,
            endpoint,
            table,
            credential,
            page_size: None,
        }
    }

    /// Asks for at most `n` entities per query page (`$top`); the service's own cap is 1000.
    pub fn set_page_size(&mut self, n: u32) {
        self.page_size = Some(n);
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// `{endpoint}/{path}`, keeping any path the endpoint has (the emulator's account).
    fn url(&self, path: &str) -> Result<Url, StoreError> {
        let base = self.endpoint.as_str().trim_end_matches('/');
        Url::parse(&format!("{base}/{path}"))
            .map_err(|e| StoreError::Unavailable(format!("cannot build a table URL: {e}")))
    }

    /// The table's URL, the target of inserts.
    pub fn table_url(&self) -> Result<Url, StoreError> {
        self.url(&self.table)
    }

    /// One entity's URL.
    pub fn entity_url(&self, partition: &str, row: &str) -> Result<Url, StoreError> {
        self.url(&format!(
            "{}(PartitionKey={},RowKey={})",
            self.table,
            literal(partition),
            literal(row)
        ))
    }

    /// Sends one signed request. Non-2xx answers come back as `Err(ServiceError)` inside `Ok`
    /// so each caller decides what a 404 or 409 means; transport failures are `Unavailable`.
    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<(String, Vec<u8>)>,
        extra: &[(&'static str, String)],
    ) -> Result<Result<Reply, ServiceError>, StoreError> {
        let date = rfc1123(OffsetDateTime::now_utc());
        let mut builder = self
            .transport
            .client()
            .request(method.clone(), url.clone())
            .timeout(REQUEST_TIMEOUT)
            .header("x-ms-version", API_VERSION)
            .header("x-ms-date", &date)
            .header("x-ms-client-request-id", uuid::Uuid::new_v4().to_string())
            .header("DataServiceVersion", "3.0")
            .header("MaxDataServiceVersion", "3.0;NetFx")
            .header(ACCEPT, MINIMAL_METADATA);
        for (name, value) in extra {
            let value = HeaderValue::from_str(value)
                .map_err(|_| StoreError::Unavailable(format!("invalid value for header {name}")))?;
            builder = builder.header(HeaderName::from_static(name), value);
        }
        if let Some((content_type, bytes)) = body {
            builder = builder.header(CONTENT_TYPE, content_type).body(bytes);
        }
        let mut request = builder
            .build()
            .map_err(|e| StoreError::Unavailable(format!("cannot build a table request: {e}")))?;
        self.credential
            .authorize(&mut request, &date)
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;

        let started = std::time::Instant::now();
        let response = self.transport.execute(request).await.map_err(|e| {
            StoreError::Unavailable(format!("table service unreachable ({method} {url}): {e}"))
        })?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.text().await.map_err(|e| {
            StoreError::Unavailable(format!("table service response broke off: {e}"))
        })?;
        tracing::debug!(
            %method, %url, status = status.as_u16(),
            elapsed_ms = started.elapsed().as_millis(), "table request"
        );
        if status.is_success() {
            return Ok(Ok(Reply { headers, body }));
        }
        let header_code = headers.get("x-ms-error-code").and_then(|v| v.to_str().ok());
        Ok(Err(ServiceError::parse(
            status.as_u16(),
            header_code,
            &body,
        )))
    }

    /// Creates the table; an existing one is fine.
    pub async fn create_table(&self) -> Result<(), StoreError> {
        let body = serde_json::json!({ "TableName": self.table }).to_string();
        let reply = self
            .send(
                Method::POST,
                self.url("Tables")?,
                Some(("application/json".to_owned(), body.into_bytes())),
                &[("prefer", "return-no-content".to_owned())],
            )
            .await?;
        match reply {
            Ok(_) => Ok(()),
            Err(e) if e.status == 409 && e.code == "TableAlreadyExists" => Ok(()),
            Err(e) => Err(e.into_store_error()),
        }
    }

    /// Reads one entity and its ETag, or `None` if it does not exist.
    pub async fn get_entity(
        &self,
        partition: &str,
        row: &str,
    ) -> Result<Option<(Map<String, Value>, String)>, StoreError> {
        let reply = self
            .send(Method::GET, self.entity_url(partition, row)?, None, &[])
            .await?;
        let reply = match reply {
            Ok(reply) => reply,
            Err(e) if e.status == 404 && e.code == "ResourceNotFound" => return Ok(None),
            Err(e) => return Err(e.into_store_error()),
        };
        let entity = object(serde_json::from_str(&reply.body).map_err(|e| {
            StoreError::Corrupt(format!("entity {partition}/{row} is not JSON: {e}"))
        })?)?;
        let etag = reply
            .header("etag")
            .map(str::to_owned)
            .or_else(|| entity_etag(&entity).ok())
            .ok_or_else(|| {
                StoreError::Unavailable(format!("entity {partition}/{row} came without an ETag"))
            })?;
        Ok(Some((entity, etag)))
    }

    /// Every entity matching `filter`, following continuation tokens to the last page.
    pub async fn query(&self, filter: &str) -> Result<Vec<Map<String, Value>>, StoreError> {
        self.query_map(filter, Ok).await
    }

    /// Every entity matching `filter`, each turned into a `T` by `each` as its page arrives:
    /// only one page of raw entities is held at a time (a list of every active request is
    /// otherwise several copies of the whole table in memory at once). Pages are at most
    /// the page size asked for, else [`QUERY_PAGE`].
    pub async fn query_map<T>(
        &self,
        filter: &str,
        mut each: impl FnMut(Map<String, Value>) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        let mut next: Option<(String, Option<String>)> = None;
        loop {
            let mut query = format!("$filter={}", encode_query(filter));
            query.push_str(&format!("&$top={}", self.page_size.unwrap_or(QUERY_PAGE)));
            if let Some((pk, rk)) = &next {
                query.push_str(&format!("&NextPartitionKey={}", encode_query(pk)));
                if let Some(rk) = rk {
                    query.push_str(&format!("&NextRowKey={}", encode_query(rk)));
                }
            }
            let mut url = self.url(&format!("{}()", self.table))?;
            url.set_query(Some(&query));
            let reply = self
                .send(Method::GET, url, None, &[])
                .await?
                .map_err(ServiceError::into_store_error)?;
            let continuation = |name| reply.header(name).filter(|v| !v.is_empty());
            next = continuation("x-ms-continuation-NextPartitionKey").map(|pk| {
                (
                    pk.to_owned(),
                    continuation("x-ms-continuation-NextRowKey").map(str::to_owned),
                )
            });
            let mut page: Value = serde_json::from_str(&reply.body)
                .map_err(|e| StoreError::Unavailable(format!("a query page is not JSON: {e}")))?;
            drop(reply);
            let Some(Value::Array(entities)) = page.get_mut("value").map(Value::take) else {
                return Err(StoreError::Unavailable(
                    "a query page has no 'value' array".to_owned(),
                ));
            };
            drop(page);
            for entity in entities {
                out.push(each(object(entity)?)?);
            }
            if next.is_none() {
                return Ok(out);
            }
        }
    }

    /// Runs an entity group transaction. `Ok(Ok(parts))` holds one sub-response per operation;
    /// `Ok(Err((index, error)))` is the operation that failed (the whole change set was rolled
    /// back), with its index when the service gave one.
    pub async fn transact(
        &self,
        operations: &[batch::Operation],
    ) -> Result<Result<Vec<batch::Part>, (Option<usize>, ServiceError)>, StoreError> {
        let body = batch::encode(operations)?;
        let reply = self
            .send(
                Method::POST,
                self.url("$batch")?,
                Some((body.content_type, body.bytes)),
                &[],
            )
            .await?;
        let reply = match reply {
            Ok(reply) => reply,
            Err(e) => return Ok(Err((None, e))),
        };
        let content_type = reply.header("content-type").unwrap_or_default();
        let parts = batch::decode(content_type, &reply.body)?;
        if let Some(failed) = parts.iter().find(|p| !(200..300).contains(&p.status)) {
            let error = ServiceError::parse(failed.status, None, &failed.body);
            let index = batch::failed_index(&error.message);
            return Ok(Err((index, error)));
        }
        if parts.len() != operations.len() {
            return Err(StoreError::Unavailable(format!(
                "the table service answered {} of {} operations",
                parts.len(),
                operations.len()
            )));
        }
        Ok(Ok(parts))
    }
}

fn object(value: Value) -> Result<Map<String, Value>, StoreError> {
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(StoreError::Corrupt(
            "the table service returned an entity that is not an object".to_owned(),
        )),
    }
}

/// The `odata.etag` minimal metadata puts on each queried entity.
pub fn entity_etag(entity: &Map<String, Value>) -> Result<String, StoreError> {
    entity
        .get("odata.etag")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| StoreError::Unavailable("a queried entity has no odata.etag".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_rfc1123_in_gmt() {
        let t = time::macros::datetime!(2016-06-27 20:11:08 UTC);
        assert_eq!(rfc1123(t), "Mon, 27 Jun 2016 20:11:08 GMT");
    }

    #[test]
    fn filters_are_percent_encoded_with_spaces_as_percent_20() {
        assert_eq!(
            encode_query("RowKey eq 'request' and Active eq true"),
            "RowKey%20eq%20%27request%27%20and%20Active%20eq%20true"
        );
    }

    #[test]
    fn odata_literals_double_single_quotes() {
        assert_eq!(literal("o'brien"), "'o''brien'");
    }

    #[test]
    fn a_table_error_document_yields_its_code_and_message() {
        let e = ServiceError::parse(
            412,
            None,
            r#"{"odata.error":{"code":"UpdateConditionNotSatisfied","message":{"lang":"en-US","value":"The update condition specified in the request was not satisfied.\nRequestId:1"}}}"#,
        );
        assert_eq!(e.code, "UpdateConditionNotSatisfied");
        assert!(e.message.starts_with("The update condition"));
    }

    #[test]
    fn throttling_and_server_faults_are_unavailable_and_bad_input_is_corrupt() {
        let err = |status| ServiceError::parse(status, Some("X"), "").into_store_error();
        assert!(matches!(err(503), StoreError::Unavailable(_)));
        assert!(matches!(err(500), StoreError::Unavailable(_)));
        assert!(matches!(err(429), StoreError::Unavailable(_)));
        assert!(matches!(err(408), StoreError::Unavailable(_)));
        assert!(matches!(err(400), StoreError::Corrupt(_)));
    }
}
