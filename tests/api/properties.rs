//! Generated hostile input at both doors: HTTP submissions (documents and headers), status
//! look-ups with arbitrary path bytes, and queued messages. Each property runs a fixed number
//! of cases from a fixed seed, so a failure reproduces on every run and every machine.
//!
//! The router is driven in-process (`tower::ServiceExt::oneshot`), with fresh in-memory
//! dependencies per case, so "nothing was stored" is a plain emptiness check.

use std::sync::Arc;

use axum::{
    Router,
    body::{Body, to_bytes},
    http::{Request, StatusCode},
};
use azure_transport::Transport;
use base64::{Engine, engine::general_purpose::STANDARD};
use imageshare::{
    app::router,
    config::Settings,
    context::{AppContext, SystemClock},
    domain::RequestId,
    events::MemoryEvents,
    queue::MemoryQueue,
    store::{MemoryStore, RequestStore},
};
use proptest::{
    prelude::*,
    test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner},
};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use tower::ServiceExt;

use crate::helpers::{IMAGE_ID, SSH_KEY, settings, valid_document};

/// Cases per property (three properties: 3,000 generated inputs a run, a few seconds).
const CASES: u32 = 1_000;
/// The seed of every run. Change it to explore; a failure prints the input it shrank to.
const SEED: [u8; 32] = *b"imageshare-bad-input-at-the-door";

fn runner() -> TestRunner {
    let config = Config {
        cases: CASES,
        failure_persistence: None,
        max_shrink_iters: 200,
        ..Config::default()
    };
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &SEED))
}

/// One case's app: the real router over fresh in-memory dependencies.
struct Case {
    router: Router,
    store: Arc<MemoryStore>,
    queue: Arc<MemoryQueue>,
    events: Arc<MemoryEvents>,
}

impl Case {
    fn new((settings, transport): &(Arc<Settings>, Transport)) -> Self {
        let store = Arc::new(MemoryStore::new());
        let queue = Arc::new(MemoryQueue::default());
        let events = Arc::new(MemoryEvents::default());
        let ctx = AppContext {
            settings: settings.clone(),
            store: store.clone(),
            queue: queue.clone(),
            events: events.clone(),
            clock: Arc::new(SystemClock),
            cloud: None,
            // Shared: building a client loads the TLS roots, which would dominate a case.
            transport: transport.clone(),
        };
        Self {
            router: router(ctx),
            store,
            queue,
            events,
        }
    }

    async fn send(&self, request: Request<Body>) -> (StatusCode, Option<String>, Vec<u8>) {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (status, content_type, body.to_vec())
    }

    fn rejected_event_subjects(&self) -> Vec<String> {
        self.events
            .published()
            .iter()
            .filter(|e| e.kind == "imageshare.request.rejected")
            .map(|e| {
                serde_json::to_value(e).unwrap()["subject"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    }
}

/// Every HTTP error is problem+json whose `status` is the response's.
fn assert_problem(
    status: StatusCode,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<(), TestCaseError> {
    prop_assert!(status.as_u16() < 500, "a 5xx: {status}");
    if status.is_client_error() {
        prop_assert_eq!(content_type, Some("application/problem+json"));
        let problem: Value = serde_json::from_slice(body)
            .map_err(|e| TestCaseError::fail(format!("the problem is not JSON: {e}")))?;
        prop_assert_eq!(&problem["status"], &json!(status.as_u16()));
        prop_assert!(
            problem["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("urn:imageshare:problem:"))
        );
    }
    Ok(())
}

// ---- generated values -----------------------------------------------------------------

/// Strings that are near a valid value or known to break parsers.
fn tricky_string() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "",
            " ",
            "00000000-0000-0000-0000-000000000000",
            "ffffffff-ffff-ffff-ffff-ffffffffffff",
            "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF",
            "22222222-2222-4222-8222-222222222222",
            "{22222222-2222-4222-8222-222222222222}",
            "22222222222242228222222222222222",
            "rg-fabrikam-vms",
            "rg.",
            "../../etc/passwd",
            "ubuntu-hardened",
            "Ubuntu-Hardened",
            "not-in-catalog",
            IMAGE_ID,
            "eastus",
            "East US",
            "Standard_D2s_v5",
            "vm-fabrikam-01",
            "azureuser",
            "admin",
            SSH_KEY,
            "ssh-rsa AAAA",
            "admin@fabrikam.onmicrosoft.com",
            "app-consent",
            "lighthouse",
            "\u{0}",
            "\u{202e}evil",
            "😀",
        ])
        .prop_map(str::to_owned),
        "[ -~]{0,40}",
        any::<String>().prop_map(|s| s.chars().take(40).collect()),
        (1usize..400).prop_map(|n| "x".repeat(n)),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        tricky_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z]{1,12}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Where a field of the document is, or might be.
const POINTERS: &[&str] = &[
    "/strategy",
    "/consumer",
    "/consumer/tenantId",
    "/consumer/subscriptionId",
    "/consumer/resourceGroup",
    "/consumer/adminEmail",
    "/image",
    "/image/name",
    "/image/id",
    "/vm",
    "/vm/name",
    "/vm/size",
    "/vm/location",
    "/vm/adminUsername",
    "/vm/sshPublicKey",
    "/vm/subnetId",
    "/vm/adminPassword",
    "/MessageId",
    "/CorrelationId",
    "/ContentType",
    "/extra",
];

/// Keys a text edit can repeat.
const KEYS: &[&str] = &[
    "consumer",
    "tenantId",
    "subscriptionId",
    "resourceGroup",
    "adminEmail",
    "image",
    "name",
    "vm",
    "size",
    "location",
    "adminUsername",
    "sshPublicKey",
];

#[derive(Clone, Debug)]
enum Edit {
    Set(&'static str, Value),
    Remove(&'static str),
}

#[derive(Clone, Debug)]
enum TextEdit {
    None,
    /// Gives `key` once more, before its first occurrence, with `value`.
    Repeat(&'static str, Value),
    Truncate(usize),
    InsertByte(usize, u8),
}

/// A submitted body and whether it repeats a key.
#[derive(Clone)]
struct Document {
    bytes: Vec<u8>,
    repeats_a_key: bool,
}

/// As text, so a shrunk failing input can be read.
impl std::fmt::Debug for Document {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Document")
            .field("text", &String::from_utf8_lossy(&self.bytes))
            .field("len", &self.bytes.len())
            .field("repeats_a_key", &self.repeats_a_key)
            .finish()
    }
}

fn edit() -> impl Strategy<Value = Edit> {
    let pointer = prop::sample::select(POINTERS);
    prop_oneof![
        3 => (pointer.clone(), json_value()).prop_map(|(p, v)| Edit::Set(p, v)),
        1 => pointer.prop_map(Edit::Remove),
    ]
}

fn text_edit() -> impl Strategy<Value = TextEdit> {
    prop_oneof![
        3 => Just(TextEdit::None),
        2 => (prop::sample::select(KEYS), json_value()).prop_map(|(k, v)| TextEdit::Repeat(k, v)),
        1 => any::<usize>().prop_map(TextEdit::Truncate),
        1 => (any::<usize>(), any::<u8>()).prop_map(|(at, b)| TextEdit::InsertByte(at, b)),
    ]
}

fn apply(doc: &mut Value, edit: &Edit) {
    let (parent, key) = match edit {
        Edit::Set(p, _) | Edit::Remove(p) => p.rsplit_once('/').unwrap_or(("", p)),
    };
    let Some(Value::Object(map)) = doc.pointer_mut(parent) else {
        return;
    };
    match edit {
        Edit::Set(_, value) => {
            map.insert(key.to_owned(), value.clone());
        }
        Edit::Remove(_) => {
            map.remove(key);
        }
    }
}

fn render(doc: &Value, text_edit: &TextEdit) -> Document {
    let text = doc.to_string();
    let mut repeats_a_key = false;
    let bytes = match text_edit {
        TextEdit::None => text.into_bytes(),
        TextEdit::Repeat(key, value) => {
            let quoted = format!("\"{key}\":");
            repeats_a_key = text.contains(&quoted);
            text.replacen(&quoted, &format!("{quoted}{value},{quoted}"), 1)
                .into_bytes()
        }
        TextEdit::Truncate(at) => text.as_bytes()[..at % (text.len() + 1)].to_vec(),
        TextEdit::InsertByte(at, byte) => {
            let mut bytes = text.into_bytes();
            bytes.insert(at % (bytes.len() + 1), *byte);
            bytes
        }
    };
    Document {
        bytes,
        repeats_a_key,
    }
}

/// Mostly edited valid documents; some arbitrary bytes, deep nesting and oversize bodies.
fn document() -> impl Strategy<Value = Document> {
    let edited = (prop::collection::vec(edit(), 0..4), text_edit()).prop_map(|(edits, t)| {
        let mut doc = valid_document();
        for e in &edits {
            apply(&mut doc, e);
        }
        render(&doc, &t)
    });
    let raw = |bytes: Vec<u8>| Document {
        bytes,
        repeats_a_key: false,
    };
    prop_oneof![
        12 => edited,
        2 => prop::collection::vec(any::<u8>(), 0..64).prop_map(raw),
        1 => (100usize..300).prop_map(move |depth| raw(format!("{}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes())),
        1 => (16 * 1024usize..20 * 1024).prop_map(move |n| raw(valid_document().to_string().replace("vm-fabrikam-01", &"v".repeat(n)).into_bytes())),
    ]
}

/// A header's values: absent, one, or given twice.
fn header_values(
    one: impl Strategy<Value = Vec<u8>> + Clone,
) -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop_oneof![
        2 => Just(Vec::new()),
        6 => one.clone().prop_map(|v| vec![v]),
        1 => (one.clone(), one).prop_map(|(a, b)| vec![a, b]),
    ]
}

fn content_type() -> impl Strategy<Value = Vec<u8>> + Clone {
    prop::sample::select(vec![
        "application/json",
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/merge-patch+json",
        "application/json; charset=latin1",
        "text/plain",
        "application/x-www-form-urlencoded",
        "",
    ])
    .prop_map(|s| s.as_bytes().to_vec())
}

fn idempotency_key() -> impl Strategy<Value = Vec<u8>> + Clone {
    prop_oneof![
        4 => "[A-Za-z0-9._-]{1,40}".prop_map(String::into_bytes),
        1 => Just(Vec::new()),
        1 => Just(vec![b'k'; 256]),
        1 => Just(b"has space".to_vec()),
        1 => prop::collection::vec(128u8..=255, 1..8),
    ]
}

// ---- HTTP -----------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct Submission {
    document: Document,
    content_types: Vec<Vec<u8>>,
    keys: Vec<Vec<u8>>,
}

fn submission() -> impl Strategy<Value = Submission> {
    (
        document(),
        header_values(content_type()),
        header_values(idempotency_key()),
    )
        .prop_map(|(document, content_types, keys)| Submission {
            document,
            content_types,
            keys,
        })
}

fn submit_request(s: &Submission) -> Request<Body> {
    let mut request = Request::post("/api/share-requests");
    for value in &s.content_types {
        request = request.header("content-type", value.as_slice());
    }
    for value in &s.keys {
        request = request.header("idempotency-key", value.as_slice());
    }
    request.body(Body::from(s.document.bytes.clone())).unwrap()
}

#[test]
fn no_generated_submission_gets_a_5xx_or_a_non_problem_error_or_leaves_a_trace_when_refused() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let settings = (Arc::new(settings()), Transport::direct().unwrap());
    let accepted = std::cell::Cell::new(0u32);
    runner()
        .run(&submission(), |s| {
            rt.block_on(async {
                let case = Case::new(&settings);
                let (status, content_type, body) = case.send(submit_request(&s)).await;

                assert_problem(status, content_type.as_deref(), &body)?;
                if status == StatusCode::ACCEPTED {
                    accepted.set(accepted.get() + 1);
                    prop_assert!(!s.document.repeats_a_key, "a repeated key was accepted");
                    prop_assert_eq!(case.store.len(), 1);
                    prop_assert_eq!(case.queue.sent().len(), 1);
                } else {
                    prop_assert!(
                        status.is_client_error(),
                        "neither accepted nor refused: {status}"
                    );
                    prop_assert!(case.store.is_empty(), "a refused submission was stored");
                    prop_assert!(
                        case.queue.sent().is_empty(),
                        "a refused submission was queued"
                    );
                    prop_assert!(
                        case.events.published().is_empty(),
                        "a refusal was announced"
                    );
                }
                Ok(())
            })
        })
        .unwrap();
    // The generator must reach past validation too, or the property says little.
    assert!(accepted.get() > 0, "no generated submission was valid");
}

#[test]
fn no_generated_status_path_gets_a_5xx_or_a_non_problem_error() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let settings = (Arc::new(settings()), Transport::direct().unwrap());
    let segment = prop::collection::vec(any::<u8>(), 0..40);
    runner()
        .run(&segment, |bytes| {
            rt.block_on(async {
                let case = Case::new(&settings);
                // Every byte percent-encoded: the path reaches the router as any client sends it.
                let encoded: String = bytes.iter().map(|b| format!("%{b:02X}")).collect();
                let request = Request::get(format!("/api/share-requests/{encoded}"))
                    .body(Body::empty())
                    .unwrap();
                let (status, content_type, body) = case.send(request).await;

                assert_problem(status, content_type.as_deref(), &body)?;
                prop_assert!(status.is_client_error(), "{status}");
                Ok(())
            })
        })
        .unwrap();
}

// ---- the queue ------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct Message {
    document: Document,
    message_id: Option<String>,
    key_property: Option<Value>,
    content_type: Option<String>,
}

fn message() -> impl Strategy<Value = Message> {
    let id = prop_oneof![
        1 => Just(None),
        4 => "[A-Za-z0-9-]{1,30}".prop_map(Some),
        1 => Just(Some("has space".to_owned())),
        1 => Just(Some("m".repeat(256))),
    ];
    let key = prop_oneof![
        3 => Just(None),
        3 => "[A-Za-z0-9-]{1,30}".prop_map(|k| Some(Value::String(k))),
        1 => Just(Some(Value::String(String::new()))),
        1 => any::<i32>().prop_map(|n| Some(Value::from(n))),
    ];
    let content_type = prop_oneof![
        2 => Just(None),
        4 => Just(Some("application/json".to_owned())),
        1 => Just(Some("text/plain".to_owned())),
    ];
    (document(), id, key, content_type).prop_map(
        |(document, message_id, key_property, content_type)| Message {
            document,
            message_id,
            key_property,
            content_type,
        },
    )
}

/// The invocation the host sends for `m` (binary trigger: the body base64).
fn envelope(m: &Message) -> Value {
    let mut metadata = json!({
        "DeliveryCount": "1",
        "SequenceNumber": "17",
        "LockToken": "\"5e0c6a1f-7f3b-4f4e-9d7e-2b1c8f0a9e11\"",
        "EnqueuedTimeUtc": "2026-11-28T10:20:30",
        "sys": {"MethodName": "ReceiveShareRequest", "UtcNow": "2026-11-28T10:20:31Z", "RandGuid": "9b2f3a64-0c1d-4f8e-a7b5-6d3c2e1f0a98"},
    });
    let properties = m
        .key_property
        .as_ref()
        .map(|k| json!({"Idempotency-Key": k}))
        .unwrap_or_else(|| json!({}));
    metadata["ApplicationProperties"] = properties.clone();
    metadata["UserProperties"] = properties;
    if let Some(id) = &m.message_id {
        metadata["MessageId"] = serde_json::to_string(id).unwrap().into();
    }
    if let Some(ct) = &m.content_type {
        metadata["ContentType"] = serde_json::to_string(ct).unwrap().into();
    }
    json!({"Data": {"message": STANDARD.encode(&m.document.bytes)}, "Metadata": metadata})
}

fn valid_key(k: &str) -> bool {
    (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic())
}

/// The key the README promises: the property, else the MessageId unless the body has a
/// top-level `MessageId`, else `sha256:` and the body's digest.
fn documented_key(m: &Message) -> String {
    let shadowed = serde_json::from_slice::<Value>(&m.document.bytes)
        .ok()
        .and_then(|v| v.as_object().cloned())
        .is_some_and(|o| {
            o.iter()
                .any(|(k, v)| k.eq_ignore_ascii_case("MessageId") && !v.is_array())
        });
    let property = m.key_property.as_ref().map(|v| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    });
    property
        .filter(|k| valid_key(k))
        .or_else(|| m.message_id.clone().filter(|k| valid_key(k) && !shadowed))
        .unwrap_or_else(|| {
            let hex: String = Sha256::digest(&m.document.bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            format!("sha256:{hex}")
        })
}

#[test]
fn every_generated_message_is_admitted_or_rejected_exactly_once_under_its_documented_id() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let settings = (Arc::new(settings()), Transport::direct().unwrap());
    let (admitted, rejected) = (std::cell::Cell::new(0u32), std::cell::Cell::new(0u32));
    runner()
        .run(&message(), |m| {
            rt.block_on(async {
                let case = Case::new(&settings);
                let deliver = || {
                    Request::post("/ReceiveShareRequest")
                        .header(
                            "x-azure-functions-invocationid",
                            "2a7d3c1e-4b5f-4e6a-8d9c-0b1a2c3d4e5f",
                        )
                        .body(Body::from(envelope(&m).to_string()))
                        .unwrap()
                };
                // Delivered twice: at-least-once delivery must not double anything.
                for _ in 0..2 {
                    let (status, content_type, _) = case.send(deliver()).await;
                    prop_assert_eq!(
                        status,
                        StatusCode::OK,
                        "a hopeless or valid message is completed"
                    );
                    prop_assert_eq!(content_type.as_deref(), Some("application/json"));
                }

                let id = RequestId::for_idempotency_key(&documented_key(&m));
                let subjects = case.rejected_event_subjects();
                if case.store.is_empty() {
                    rejected.set(rejected.get() + 1);
                    prop_assert_eq!(
                        subjects,
                        vec![id.to_string()],
                        "one rejection, announced once"
                    );
                    prop_assert!(case.store.get_rejected(id).await.unwrap().is_some());
                    prop_assert_eq!(case.store.history(id).await.unwrap().len(), 1);
                    prop_assert!(
                        case.queue.sent().is_empty(),
                        "a rejected message was queued"
                    );
                } else {
                    admitted.set(admitted.get() + 1);
                    prop_assert!(!m.document.repeats_a_key, "a repeated key was admitted");
                    prop_assert_eq!(case.store.len(), 1);
                    prop_assert!(case.store.get(id).await.unwrap().is_some());
                    prop_assert!(subjects.is_empty());
                    // The replay re-sends the first step with the same MessageId, which
                    // duplicate detection drops: one distinct message.
                    let mut sent: Vec<_> =
                        case.queue.sent().into_iter().map(|s| s.message).collect();
                    sent.dedup();
                    prop_assert_eq!(sent.len(), 1, "queued once");
                }
                Ok(())
            })
        })
        .unwrap();
    let (admitted, rejected) = (admitted.get(), rejected.get());
    assert!(
        admitted > 0 && rejected > 0,
        "admitted {admitted}, rejected {rejected}"
    );
}
