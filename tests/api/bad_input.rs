//! Every kind of bad submission gets a problem+json naming what is wrong, and nothing is
//! stored or queued.

use serde_json::{Value, json};

use crate::helpers::{IMAGE_ID, SSH_KEY, spawn_app, valid_document};

/// How a case is sent.
enum Send {
    /// The valid document changed by `edit`.
    Edit(fn(&mut Value)),
    /// Raw bytes with a content type.
    Raw(&'static str, Vec<u8>),
}

struct Case {
    name: &'static str,
    send: Send,
    status: u16,
    /// The JSON Pointer that must appear in `errors` (None: a document-level problem).
    pointer: Option<&'static str>,
}

fn set(doc: &mut Value, pointer: &str, value: Value) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    doc.pointer_mut(parent)
        .unwrap()
        .as_object_mut()
        .unwrap()
        .insert(key.to_owned(), value);
}

fn remove(doc: &mut Value, pointer: &str) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    doc.pointer_mut(parent)
        .unwrap()
        .as_object_mut()
        .unwrap()
        .remove(key);
}

/// The valid document as compact JSON text, changed by `edit`: for what a `Value` cannot
/// hold, such as a key given twice.
fn with_text(edit: impl FnOnce(String) -> String) -> Vec<u8> {
    let text = valid_document().to_string();
    let edited = edit(text.clone());
    assert_ne!(edited, text, "the edit changed nothing");
    edited.into_bytes()
}

fn cases() -> Vec<Case> {
    use Send::{Edit, Raw};
    let case = |name, send, status, pointer| Case {
        name,
        send,
        status,
        pointer,
    };
    vec![
        case(
            "tenant id is not a GUID",
            Edit(|d| set(d, "/consumer/tenantId", json!("fabrikam"))),
            400,
            Some("#/consumer/tenantId"),
        ),
        case(
            "tenant id is a number",
            Edit(|d| set(d, "/consumer/tenantId", json!(42))),
            400,
            Some("#/consumer/tenantId"),
        ),
        case(
            "tenant id in braces",
            Edit(|d| {
                set(
                    d,
                    "/consumer/tenantId",
                    json!("{22222222-2222-4222-8222-222222222222}"),
                )
            }),
            400,
            Some("#/consumer/tenantId"),
        ),
        case(
            "tenant id is the nil GUID",
            Edit(|d| {
                set(
                    d,
                    "/consumer/tenantId",
                    json!("00000000-0000-0000-0000-000000000000"),
                )
            }),
            400,
            Some("#/consumer/tenantId"),
        ),
        case(
            "subscription id is the all-f GUID",
            Edit(|d| {
                set(
                    d,
                    "/consumer/subscriptionId",
                    json!("ffffffff-ffff-ffff-ffff-ffffffffffff"),
                )
            }),
            400,
            Some("#/consumer/subscriptionId"),
        ),
        case(
            "tenant id missing",
            Edit(|d| remove(d, "/consumer/tenantId")),
            400,
            Some("#/consumer/tenantId"),
        ),
        case(
            "subscription id is not a GUID",
            Edit(|d| set(d, "/consumer/subscriptionId", json!("2b2b2b2b"))),
            400,
            Some("#/consumer/subscriptionId"),
        ),
        case(
            "resource group has a slash",
            Edit(|d| set(d, "/consumer/resourceGroup", json!("rg/vms"))),
            400,
            Some("#/consumer/resourceGroup"),
        ),
        case(
            "resource group ends with a period",
            Edit(|d| set(d, "/consumer/resourceGroup", json!("rg."))),
            400,
            Some("#/consumer/resourceGroup"),
        ),
        case(
            "resource group too long",
            Edit(|d| set(d, "/consumer/resourceGroup", json!("r".repeat(91)))),
            400,
            Some("#/consumer/resourceGroup"),
        ),
        case(
            "admin e-mail malformed",
            Edit(|d| set(d, "/consumer/adminEmail", json!("admin-at-fabrikam"))),
            400,
            Some("#/consumer/adminEmail"),
        ),
        case(
            "admin e-mail is null",
            Edit(|d| set(d, "/consumer/adminEmail", json!(null))),
            400,
            Some("#/consumer/adminEmail"),
        ),
        case(
            "consumer is an array",
            Edit(|d| set(d, "/consumer", json!([]))),
            400,
            Some("#/consumer"),
        ),
        case(
            "consumer missing",
            Edit(|d| remove(d, "/consumer")),
            400,
            Some("#/consumer"),
        ),
        case(
            "unknown consumer field",
            Edit(|d| set(d, "/consumer/tenant", json!("x"))),
            400,
            Some("#/consumer/tenant"),
        ),
        case(
            "unknown top-level field",
            Edit(|d| set(d, "/secret", json!("hunter2"))),
            400,
            Some("#/secret"),
        ),
        case(
            "image id is not an ARM id",
            Edit(|d| set(d, "/image", json!({"id": "ubuntu:latest"}))),
            400,
            Some("#/image/id"),
        ),
        case(
            "image id names a definition, not a version",
            Edit(|d| {
                set(
                    d,
                    "/image",
                    json!({"id": IMAGE_ID.trim_end_matches("/versions/1.0.0")}),
                )
            }),
            400,
            Some("#/image/id"),
        ),
        case(
            "image gives both id and name",
            Edit(|d| {
                set(
                    d,
                    "/image",
                    json!({"id": IMAGE_ID, "name": "ubuntu-hardened"}),
                )
            }),
            400,
            Some("#/image"),
        ),
        case(
            "image gives neither",
            Edit(|d| set(d, "/image", json!({}))),
            400,
            Some("#/image"),
        ),
        case(
            "image is a string",
            Edit(|d| set(d, "/image", json!("ubuntu-hardened"))),
            400,
            Some("#/image"),
        ),
        case(
            "image id not in the allow-list",
            Edit(|d| {
                set(
                    d,
                    "/image",
                    json!({"id": IMAGE_ID.replace("1.0.0", "9.9.9")}),
                )
            }),
            403,
            Some("#/image/id"),
        ),
        case(
            "image name not in the catalog",
            Edit(|d| set(d, "/image", json!({"name": "windows-2022"}))),
            403,
            Some("#/image/name"),
        ),
        case(
            "VM name with an underscore",
            Edit(|d| set(d, "/vm/name", json!("vm_01"))),
            400,
            Some("#/vm/name"),
        ),
        case(
            "VM name only digits",
            Edit(|d| set(d, "/vm/name", json!("12345"))),
            400,
            Some("#/vm/name"),
        ),
        case(
            "VM name too long",
            Edit(|d| set(d, "/vm/name", json!("v".repeat(65)))),
            400,
            Some("#/vm/name"),
        ),
        case(
            "VM size without tier",
            Edit(|d| set(d, "/vm/size", json!("D2s_v5"))),
            400,
            Some("#/vm/size"),
        ),
        case(
            "location as a display name",
            Edit(|d| set(d, "/vm/location", json!("East US"))),
            400,
            Some("#/vm/location"),
        ),
        case(
            "reserved admin username",
            Edit(|d| set(d, "/vm/adminUsername", json!("admin"))),
            400,
            Some("#/vm/adminUsername"),
        ),
        case(
            "SSH key truncated",
            Edit(|d| set(d, "/vm/sshPublicKey", json!(&SSH_KEY[..50]))),
            400,
            Some("#/vm/sshPublicKey"),
        ),
        case(
            "SSH key is PEM",
            Edit(|d| {
                set(
                    d,
                    "/vm/sshPublicKey",
                    json!("-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----"),
                )
            }),
            400,
            Some("#/vm/sshPublicKey"),
        ),
        case(
            "subnet is not a subnet id",
            Edit(|d| {
                set(
                    d,
                    "/vm/subnetId",
                    json!(
                        "/subscriptions/2b2b2b2b-2222-4222-8222-222222222222/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v"
                    ),
                )
            }),
            400,
            Some("#/vm/subnetId"),
        ),
        case(
            "subnet in another subscription",
            Edit(|d| {
                set(
                    d,
                    "/vm/subnetId",
                    json!(
                        "/subscriptions/1a1a1a1a-1111-4111-8111-111111111111/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/s"
                    ),
                )
            }),
            400,
            Some("#/vm/subnetId"),
        ),
        case(
            "unknown VM field",
            Edit(|d| set(d, "/vm/adminPassword", json!("P@ssw0rd!"))),
            400,
            Some("#/vm/adminPassword"),
        ),
        case(
            "rbac-guest without a guest",
            Edit(|d| {
                set(d, "/strategy", json!("rbac-guest"));
                remove(d, "/vm");
            }),
            400,
            Some("#/guest"),
        ),
        case(
            "rbac-guest with a guest address that is not one",
            Edit(|d| {
                set(d, "/strategy", json!("rbac-guest"));
                remove(d, "/vm");
                set(d, "/guest", json!({"email": "ops at fabrikam"}));
            }),
            400,
            Some("#/guest/email"),
        ),
        case(
            "rbac-guest with a vm",
            Edit(|d| {
                set(d, "/strategy", json!("rbac-guest"));
                set(d, "/guest", json!({"email": "ops@fabrikam.com"}));
            }),
            400,
            Some("#/vm"),
        ),
        case(
            "rbac-guest longer than the maximum",
            Edit(|d| {
                set(d, "/strategy", json!("rbac-guest"));
                remove(d, "/vm");
                set(
                    d,
                    "/guest",
                    json!({"email": "ops@fabrikam.com", "days": 400}),
                );
            }),
            400,
            Some("#/guest/days"),
        ),
        case(
            "a guest for app-consent",
            Edit(|d| set(d, "/guest", json!({"email": "ops@fabrikam.com"}))),
            400,
            Some("#/guest"),
        ),
        case(
            "lighthouse without principals",
            Edit(|d| {
                set(d, "/strategy", json!("lighthouse"));
                remove(d, "/vm");
            }),
            400,
            Some("#/consumer/principals"),
        ),
        case(
            "lighthouse with a vm",
            Edit(|d| {
                set(d, "/strategy", json!("lighthouse"));
                set(
                    d,
                    "/consumer/principals",
                    json!([{"objectId": "6f6f6f6f-6666-4666-8666-666666666666", "displayName": "Ops", "kind": "group"}]),
                );
            }),
            400,
            Some("#/vm"),
        ),
        case(
            "lighthouse delegation longer than the maximum",
            Edit(|d| {
                set(d, "/strategy", json!("lighthouse"));
                remove(d, "/vm");
                set(
                    d,
                    "/consumer/principals",
                    json!([{"objectId": "6f6f6f6f-6666-4666-8666-666666666666", "displayName": "Ops", "kind": "group"}]),
                );
                set(d, "/delegation", json!({"days": 400}));
            }),
            400,
            Some("#/delegation/days"),
        ),
        case(
            "lighthouse principal of an unknown kind",
            Edit(|d| {
                set(d, "/strategy", json!("lighthouse"));
                remove(d, "/vm");
                set(
                    d,
                    "/consumer/principals",
                    json!([{"objectId": "6f6f6f6f-6666-4666-8666-666666666666", "displayName": "Ops", "kind": "robot"}]),
                );
            }),
            400,
            Some("#/consumer/principals/0/kind"),
        ),
        case(
            "direct-share with an incomplete vm",
            Edit(|d| {
                set(d, "/strategy", json!("direct-share"));
                remove(d, "/vm/sshPublicKey");
            }),
            400,
            Some("#/vm/sshPublicKey"),
        ),
        case(
            "direct-share with principals",
            Edit(|d| {
                set(d, "/strategy", json!("direct-share"));
                remove(d, "/vm");
                set(
                    d,
                    "/consumer/principals",
                    json!([{"objectId": "6f6f6f6f-6666-4666-8666-666666666666", "displayName": "Ops", "kind": "group"}]),
                );
            }),
            400,
            Some("#/consumer/principals"),
        ),
        case(
            "direct-share longer than the maximum",
            Edit(|d| {
                set(d, "/strategy", json!("direct-share"));
                remove(d, "/vm");
                set(d, "/share", json!({"days": 400}));
            }),
            400,
            Some("#/share/days"),
        ),
        case(
            "direct-share of zero days",
            Edit(|d| {
                set(d, "/strategy", json!("direct-share"));
                remove(d, "/vm");
                set(d, "/share", json!({"days": 0}));
            }),
            400,
            Some("#/share/days"),
        ),
        case(
            "a share section for app-consent",
            Edit(|d| set(d, "/share", json!({"days": 3}))),
            400,
            Some("#/share"),
        ),
        case(
            "principals for app-consent",
            Edit(|d| set(d, "/consumer/principals", json!([]))),
            400,
            Some("#/consumer/principals"),
        ),
        case(
            "strategy unknown",
            Edit(|d| set(d, "/strategy", json!("email-the-secret"))),
            400,
            Some("#/strategy"),
        ),
        case(
            "image name given twice, the last one in the catalog",
            Raw(
                "application/json",
                with_text(|t| {
                    t.replace(
                        r#""image":{"name":"ubuntu-hardened"}"#,
                        r#""image":{"name":"not-in-catalog","name":"ubuntu-hardened"}"#,
                    )
                }),
            ),
            400,
            Some("#/image/name"),
        ),
        case(
            "consumer given twice",
            Raw(
                "application/json",
                with_text(|t| {
                    let consumer = serde_json::to_string(&valid_document()["consumer"]).unwrap();
                    t.replacen('{', &format!(r#"{{"consumer":{consumer},"#), 1)
                }),
            ),
            400,
            Some("#/consumer"),
        ),
        case(
            "document is an array",
            Raw("application/json", b"[]".to_vec()),
            400,
            Some("#"),
        ),
        case(
            "malformed JSON",
            Raw("application/json", br#"{"consumer": "#.to_vec()),
            400,
            None,
        ),
        case("empty body", Raw("application/json", Vec::new()), 400, None),
        case(
            "form-encoded body",
            Raw("application/x-www-form-urlencoded", b"consumer=x".to_vec()),
            415,
            None,
        ),
        case(
            "text/plain body",
            Raw("text/plain", serde_json::to_vec(&valid_document()).unwrap()),
            415,
            None,
        ),
        case(
            "JSON in a non-UTF-8 charset",
            Raw(
                "application/json; charset=latin1",
                serde_json::to_vec(&valid_document()).unwrap(),
            ),
            415,
            None,
        ),
        case(
            "oversize body",
            Raw("application/json", {
                let mut d = valid_document();
                d["vm"]["name"] = json!("x".repeat(20_000));
                serde_json::to_vec(&d).unwrap()
            }),
            413,
            None,
        ),
    ]
}

#[tokio::test]
async fn every_bad_submission_gets_a_problem_naming_what_is_wrong_and_nothing_is_stored() {
    let app = spawn_app().await;
    let cases = cases();
    assert!(cases.len() >= 30);

    for case in cases {
        let request = app.client.post(format!("{}/api/share-requests", app.url));
        let request = match case.send {
            Send::Edit(edit) => {
                let mut doc = valid_document();
                edit(&mut doc);
                request.json(&doc)
            }
            Send::Raw(content_type, body) => {
                request.header("content-type", content_type).body(body)
            }
        };
        let response = request.send().await.unwrap();

        assert_eq!(response.status().as_u16(), case.status, "{}", case.name);
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{}",
            case.name
        );
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["status"], case.status, "{}", case.name);
        assert!(
            problem["type"]
                .as_str()
                .unwrap()
                .starts_with("urn:imageshare:problem:"),
            "{}",
            case.name
        );
        assert!(
            !problem["detail"].as_str().unwrap().is_empty(),
            "{}",
            case.name
        );
        if let Some(pointer) = case.pointer {
            let pointers: Vec<&str> = problem["errors"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["pointer"].as_str().unwrap())
                .collect();
            assert!(pointers.contains(&pointer), "{}: {pointers:?}", case.name);
        }
    }

    assert!(app.store.is_empty(), "a bad submission was stored");
    assert!(app.queue.sent().is_empty(), "a bad submission was queued");
}

#[tokio::test]
async fn all_problems_of_a_document_are_reported_at_once() {
    let app = spawn_app().await;
    let mut doc = valid_document();
    set(&mut doc, "/consumer/tenantId", json!("x"));
    set(&mut doc, "/vm/size", json!("big"));
    set(&mut doc, "/vm/extra", json!(1));

    let problem: Value = app.submit(&doc, None).await.json().await.unwrap();

    let pointers: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pointer"].as_str().unwrap())
        .collect();
    assert_eq!(pointers, ["#/consumer/tenantId", "#/vm/extra", "#/vm/size"]);
}

#[tokio::test]
async fn an_invalid_idempotency_key_is_refused() {
    let app = spawn_app().await;
    let response = app.submit(&valid_document(), Some(&"k".repeat(300))).await;
    assert_eq!(response.status(), 400);
    assert!(app.store.is_empty());
}

/// The content type and the body of an answer.
async fn content_type_and_problem(response: reqwest::Response) -> (u16, String, Value) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = response.bytes().await.unwrap();
    let problem = serde_json::from_slice(&body).unwrap_or(Value::Null);
    (status, content_type, problem)
}

#[tokio::test]
async fn a_path_segment_that_is_not_utf8_gets_a_problem_not_plain_text() {
    let app = spawn_app().await;
    for path in ["/api/share-requests/%FF", "/api/share-requests/%C3%28"] {
        let (status, content_type, problem) = content_type_and_problem(app.get(path).await).await;

        assert_eq!(status, 400, "{path}");
        assert_eq!(content_type, "application/problem+json", "{path}");
        assert_eq!(problem["status"], 400, "{path}");
        assert_eq!(problem["instance"], path, "{path}");
        assert!(!problem["detail"].as_str().unwrap().is_empty(), "{path}");
    }
}

#[tokio::test]
async fn every_error_the_router_or_an_extractor_answers_is_problem_json() {
    let app = spawn_app().await;
    let url = |path: &str| format!("{}{path}", app.url);
    let document = serde_json::to_vec(&valid_document()).unwrap();
    let requests = [
        ("unknown path", app.client.get(url("/api/nothing-here"))),
        ("wrong method", app.client.put(url("/api/share-requests"))),
        (
            "invalid UTF-8 in the path",
            app.client.get(url("/api/share-requests/%E2%82")),
        ),
        (
            "two content types",
            app.client
                .post(url("/api/share-requests"))
                .header("content-type", "application/json")
                .header("content-type", "text/plain")
                .body(document.clone()),
        ),
        (
            "an Idempotency-Key given twice",
            app.client
                .post(url("/api/share-requests"))
                .header("content-type", "application/json")
                .header("idempotency-key", "k-1")
                .header("idempotency-key", "k-2")
                .body(document.clone()),
        ),
        (
            "an Idempotency-Key that is not ASCII",
            app.client
                .post(url("/api/share-requests"))
                .header("content-type", "application/json")
                .header(
                    "idempotency-key",
                    reqwest::header::HeaderValue::from_bytes(b"k\xff").unwrap(),
                )
                .body(document.clone()),
        ),
        (
            "an invocation over the body extractor's limit",
            app.client
                .post(url("/ReceiveShareRequest"))
                .body(vec![b' '; 3 * 1024 * 1024]),
        ),
    ];
    for (name, request) in requests {
        let (status, content_type, problem) =
            content_type_and_problem(request.send().await.unwrap()).await;

        assert!((400..500).contains(&status), "{name}: {status}");
        assert_eq!(content_type, "application/problem+json", "{name}");
        assert_eq!(problem["status"], status, "{name}");
    }
    assert!(app.store.is_empty());
    assert!(app.queue.sent().is_empty());
}
