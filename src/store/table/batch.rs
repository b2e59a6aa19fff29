//! Entity group transactions: one `POST /$batch` whose single change set holds every write,
//! applied all or nothing ("Performing entity group transactions").
//!
//! The request body is `multipart/mixed` (boundary `batch_{uuid}`) around one
//! `multipart/mixed` change set (boundary `changeset_{uuid}`) of `application/http` parts,
//! each a complete sub-request with an absolute URL. The service answers `202 Accepted` with the
//! same nesting (`batchresponse_`/`changesetresponse_`): one response per operation on success,
//! or a single failing response whose error message starts with the operation's index.

use serde_json::Value;
use url::Url;

use crate::store::StoreError;

/// At most this many operations per transaction.
pub const MAX_OPERATIONS: usize = 100;
/// At most this many bytes per transaction.
pub const MAX_PAYLOAD: usize = 4 * 1024 * 1024;

/// One write of a change set.
#[derive(Debug)]
pub enum Operation {
    /// Insert Entity: fails with 409 `EntityAlreadyExists` if the keys are taken.
    Insert {
        /// The table URL (`{endpoint}/{table}`).
        table: Url,
        /// The entity, keys included.
        entity: Value,
    },
    /// Update Entity (replace): fails with 412 `UpdateConditionNotSatisfied` unless the entity
    /// is still at `if_match`, or 404 if it does not exist.
    Replace {
        /// The entity URL (`{endpoint}/{table}(PartitionKey='..',RowKey='..')`).
        entity_url: Url,
        /// The ETag the caller read.
        if_match: String,
        /// The new entity.
        entity: Value,
    },
}

/// A serialized transaction: its `Content-Type` header and body.
#[derive(Debug)]
pub struct Body {
    /// `multipart/mixed; boundary=batch_...`.
    pub content_type: String,
    /// The body.
    pub bytes: Vec<u8>,
}

/// Serializes the operations as one change set.
pub fn encode(operations: &[Operation]) -> Result<Body, StoreError> {
    if operations.is_empty() || operations.len() > MAX_OPERATIONS {
        return Err(StoreError::Corrupt(format!(
            "a table transaction holds 1 to {MAX_OPERATIONS} operations, not {}",
            operations.len()
        )));
    }
    let batch = format!("batch_{}", uuid::Uuid::new_v4());
    let changeset = format!("changeset_{}", uuid::Uuid::new_v4());
    let mut out = String::new();
    out.push_str(&format!(
        "--{batch}\r\nContent-Type: multipart/mixed; boundary={changeset}\r\n\r\n"
    ));
    for op in operations {
        out.push_str(&format!(
            "--{changeset}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
        ));
        let (line, extra, entity) = match op {
            Operation::Insert { table, entity } => (
                format!("POST {table} HTTP/1.1"),
                "Prefer: return-no-content\r\n".to_owned(),
                entity,
            ),
            Operation::Replace {
                entity_url,
                if_match,
                entity,
            } => (
                format!("PUT {entity_url} HTTP/1.1"),
                format!("If-Match: {if_match}\r\n"),
                entity,
            ),
        };
        // The body is one line of compact JSON: some parsers (the emulator's) expect that.
        let json = serde_json::to_string(entity)
            .map_err(|e| StoreError::Corrupt(format!("cannot serialize an entity: {e}")))?;
        out.push_str(&format!(
            "{line}\r\nContent-Type: application/json\r\nAccept: application/json;odata=minimalmetadata\r\nDataServiceVersion: 3.0;\r\n{extra}\r\n{json}\r\n"
        ));
    }
    out.push_str(&format!("--{changeset}--\r\n--{batch}--\r\n"));
    if out.len() > MAX_PAYLOAD {
        return Err(StoreError::Corrupt(format!(
            "a table transaction may carry at most {MAX_PAYLOAD} bytes; this one has {}",
            out.len()
        )));
    }
    Ok(Body {
        content_type: format!("multipart/mixed; boundary={batch}"),
        bytes: out.into_bytes(),
    })
}

/// One sub-response of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// Its HTTP status.
    pub status: u16,
    /// Its headers, names lowercased.
    pub headers: Vec<(String, String)>,
    /// Its body (an error document on failure, usually empty on success).
    pub body: String,
}

impl Part {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn boundary_of(content_type: &str) -> Option<&str> {
    content_type.split(';').find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"'))
    })
}

/// Splits a multipart body into its parts, each without the delimiter line.
fn parts<'a>(body: &'a str, boundary: &str) -> Vec<&'a str> {
    let delimiter = format!("--{boundary}");
    let mut out = Vec::new();
    for chunk in body.split(delimiter.as_str()).skip(1) {
        if chunk.starts_with("--") {
            break;
        }
        let chunk = chunk
            .strip_prefix("\r\n")
            .or_else(|| chunk.strip_prefix('\n'));
        if let Some(chunk) = chunk {
            out.push(chunk);
        }
    }
    out
}

/// Splits `headers \r\n\r\n rest`, tolerating bare `\n` line ends.
fn split_head(text: &str) -> (&str, &str) {
    for sep in ["\r\n\r\n", "\n\n"] {
        if let Some(i) = text.find(sep) {
            return (&text[..i], &text[i + sep.len()..]);
        }
    }
    (text, "")
}

fn header_lines(head: &str) -> impl Iterator<Item = (String, String)> + '_ {
    head.lines().filter_map(|l| {
        let (n, v) = l.split_once(':')?;
        Some((n.trim().to_ascii_lowercase(), v.trim().to_owned()))
    })
}

/// Reads one `application/http` part: MIME headers, then a status line, headers and a body.
fn http_part(part: &str) -> Result<Part, String> {
    let (_mime, message) = split_head(part);
    let (head, body) = split_head(message);
    let mut lines = head.lines();
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("a sub-response has no status line: {status_line:?}"))?;
    let rest = lines.collect::<Vec<_>>().join("\n");
    Ok(Part {
        status,
        headers: header_lines(&rest).collect(),
        body: body.trim_end().to_owned(),
    })
}

/// Parses a `202 Accepted` batch response into its sub-responses, in operation order.
pub fn decode(content_type: &str, body: &str) -> Result<Vec<Part>, StoreError> {
    let unreadable = |why: String| {
        StoreError::Unavailable(format!(
            "the table service's batch response is unreadable: {why}"
        ))
    };
    let boundary = boundary_of(content_type)
        .ok_or_else(|| unreadable(format!("no boundary in Content-Type {content_type:?}")))?;
    let mut out = Vec::new();
    for outer in parts(body, boundary) {
        let (mime, content) = split_head(outer);
        let inner_boundary = header_lines(mime)
            .find(|(n, _)| n == "content-type")
            .and_then(|(_, v)| boundary_of(&v).map(str::to_owned));
        match inner_boundary {
            Some(inner) => {
                for part in parts(content, &inner) {
                    out.push(http_part(part).map_err(unreadable)?);
                }
            }
            // A response outside any change set (a whole-batch error).
            None => out.push(http_part(outer).map_err(unreadable)?),
        }
    }
    if out.is_empty() {
        return Err(unreadable("it holds no sub-responses".to_owned()));
    }
    Ok(out)
}

/// Which operation a failing sub-response is about: its error message starts with `{index}:`.
pub fn failed_index(error_message: &str) -> Option<usize> {
    let (index, _) = error_message.split_once(':')?;
    index.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn a_change_set_nests_inside_the_batch_with_one_http_part_per_operation() {
        let body = encode(&[
            Operation::Replace {
                entity_url: url(
                    "https://acct.table.core.windows.net/T(PartitionKey='p',RowKey='request')",
                ),
                if_match: "W/\"datetime'2024-01-01T00%3A00%3A00Z'\"".into(),
                entity: json!({"PartitionKey":"p","RowKey":"request"}),
            },
            Operation::Insert {
                table: url("https://acct.table.core.windows.net/T"),
                entity: json!({"PartitionKey":"p","RowKey":"history-0000000002"}),
            },
        ])
        .unwrap();
        let text = String::from_utf8(body.bytes).unwrap();
        let batch = boundary_of(&body.content_type).unwrap();
        assert!(batch.starts_with("batch_"));
        assert!(text.starts_with(&format!(
            "--{batch}\r\nContent-Type: multipart/mixed; boundary=changeset_"
        )));
        assert!(text.ends_with(&format!("--{batch}--\r\n")));
        assert!(text.contains("PUT https://acct.table.core.windows.net/T(PartitionKey='p',RowKey='request') HTTP/1.1\r\n"));
        assert!(text.contains("If-Match: W/\"datetime'2024-01-01T00%3A00%3A00Z'\"\r\n"));
        assert!(text.contains("POST https://acct.table.core.windows.net/T HTTP/1.1\r\n"));
        assert_eq!(text.matches("Content-Type: application/http").count(), 2);
    }

    #[test]
    fn more_than_a_hundred_operations_are_refused() {
        let ops: Vec<_> = (0..101)
            .map(|i| Operation::Insert {
                table: url("https://a.table.core.windows.net/T"),
                entity: json!({"RowKey": i}),
            })
            .collect();
        assert!(matches!(encode(&ops), Err(StoreError::Corrupt(_))));
    }

    /// The documented shape of a successful response (two operations).
    const SUCCESS: &str = "--batchresponse_7ab1c2b5\r\nContent-Type: multipart/mixed; boundary=changesetresponse_ef1f\r\n\r\n--changesetresponse_ef1f\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\nHTTP/1.1 204 No Content\r\nContent-ID: 1\r\nX-Content-Type-Options: nosniff\r\nCache-Control: no-cache\r\nDataServiceVersion: 1.0;\r\nETag: W/\"datetime'2013-10-01T22%3A29%3A18.9256736Z'\"\r\n\r\n\r\n--changesetresponse_ef1f\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\nHTTP/1.1 204 No Content\r\nContent-ID: 2\r\nPreference-Applied: return-no-content\r\nETag: W/\"datetime'2013-10-01T22%3A29%3A18.9256737Z'\"\r\n\r\n\r\n--changesetresponse_ef1f--\r\n--batchresponse_7ab1c2b5--\r\n";

    #[test]
    fn a_successful_response_yields_one_part_per_operation_with_its_etag() {
        let parts = decode("multipart/mixed; boundary=batchresponse_7ab1c2b5", SUCCESS).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].status, 204);
        assert_eq!(
            parts[1].header("etag"),
            Some("W/\"datetime'2013-10-01T22%3A29%3A18.9256737Z'\"")
        );
    }

    #[test]
    fn a_failed_response_yields_the_failing_part_and_its_index() {
        let body = "--batchresponse_1\r\nContent-Type: multipart/mixed; boundary=changesetresponse_2\r\n\r\n--changesetresponse_2\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\nHTTP/1.1 409 Conflict\r\nContent-ID: 2\r\nContent-Type: application/json;odata=minimalmetadata;streaming=true;charset=utf-8\r\n\r\n{\"odata.error\":{\"code\":\"EntityAlreadyExists\",\"message\":{\"lang\":\"en-US\",\"value\":\"1:The specified entity already exists.\\nRequestId:x\"}}}\r\n--changesetresponse_2--\r\n--batchresponse_1--\r\n";
        let parts = decode("multipart/mixed; boundary=batchresponse_1", body).unwrap();
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].status, 409);
        let error: Value = serde_json::from_str(&parts[0].body).unwrap();
        let message = error["odata.error"]["message"]["value"].as_str().unwrap();
        assert_eq!(failed_index(message), Some(1));
    }

    #[test]
    fn a_response_without_a_boundary_is_unavailable_not_a_panic() {
        assert!(matches!(
            decode("application/json", "{}"),
            Err(StoreError::Unavailable(_))
        ));
    }
}
