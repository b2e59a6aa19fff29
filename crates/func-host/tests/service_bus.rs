//! Service Bus triggers and outputs end to end: func-host + the test handler + azure-sim.

#![allow(clippy::unwrap_used)]

mod common;

use std::{collections::HashMap, sync::Arc, time::Duration};

use azure_messaging_servicebus::service_bus::{
    QueueClient, SendMessageOptions, SettableBrokerProperties, TopicClient,
};
use azure_sim::{
    Scenario, Sim,
    scenario::{EntitySpec, Replication, TopicSpec, demo},
};
use common::{App, body_of, eventually, host_json, start};
use serde_json::{Value, json};

const NS: &str = demo::SERVICE_BUS_NAMESPACE;
const KEY_NAME: &str = demo::SAS_POLICY;
const KEY: &str = demo::SAS_KEY;

fn connection_string() -> String {
    format!(
        "Endpoint=sb://{NS}.servicebus.windows.net/;SharedAccessKeyName={KEY_NAME};SharedAccessKey={KEY}"
    )
}

fn queue(name: &str, max_delivery_count: u32) -> EntitySpec {
    EntitySpec {
        name: name.to_owned(),
        lock_duration: "PT30S".to_owned(),
        max_delivery_count,
        duplicate_detection_window: None,
    }
}

async fn sim(queues: Vec<EntitySpec>, topics: Vec<TopicSpec>) -> Sim {
    // The demo cloud's namespace (its tenant and SAS policy), with this test's entities.
    let mut scenario = Scenario::demo().with_replication(Replication::none());
    scenario.service_bus_namespaces[0].queues.extend(queues);
    scenario.service_bus_namespaces[0].topics.extend(topics);
    Sim::start(scenario).await.unwrap()
}

fn http(sim: &Sim) -> Arc<dyn azure_core_legacy::HttpClient> {
    azure_transport::Transport::simulated(&sim.url())
        .unwrap()
        .for_azure_core_legacy()
}

fn queue_client(sim: &Sim, name: &str) -> QueueClient {
    QueueClient::new(http(sim), NS, name, KEY_NAME, KEY).unwrap()
}

/// Receives everything currently in `entity` (peek-lock + complete), bodies in order.
async fn drain(sim: &Sim, entity: &str) -> Vec<(String, Option<String>)> {
    let client = queue_client(sim, entity);
    let mut bodies = Vec::new();
    loop {
        let m = client
            .peek_lock_message2(Some(Duration::from_secs(1)))
            .await
            .unwrap();
        if u16::from(*m.status()) == 204 {
            return bodies;
        }
        let headers: func_host::servicebus::message::RawHeaders = m.custom_properties().unwrap();
        let content_type = headers
            .0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            .map(|(_, v)| v.clone());
        bodies.push((m.body(), content_type));
        m.delete_message().await.unwrap();
    }
}

fn trigger(queue: &str) -> Value {
    json!({"type": "serviceBusTrigger", "direction": "in", "name": "msg", "queueName": queue, "connection": "ServiceBusConnection"})
}

async fn host_for(app: &App, sim: &Sim) -> func_host::RunningHost {
    start(
        app,
        &[("ServiceBusConnection", &connection_string())],
        Some(sim.url()),
    )
    .await
}

#[tokio::test]
async fn every_metadata_key_arrives_encoded_as_the_host_encodes_it() {
    let sim = sim(vec![queue("orders", 10)], vec![]).await;
    let app = App::new(
        &host_json(json!({})),
        &[("OrderProcessor", json!({"bindings": [trigger("orders")]}))],
        &json!({}),
    );
    let host = host_for(&app, &sim).await;

    let body = r#"{"orderId":42,"messageid":"from-body","nested":{"a":1},"list":[1,2],"flag":true,"none":null}"#;
    let options = SendMessageOptions {
        content_type: Some("application/json".to_owned()),
        broker_properties: Some(SettableBrokerProperties {
            message_id: Some("m-1".to_owned()),
            correlation_id: Some("req-1".to_owned()),
            label: Some("subject-1".to_owned()),
            reply_to: Some("replies".to_owned()),
            to: Some("someone".to_owned()),
            ..Default::default()
        }),
        custom_properties: Some(HashMap::from([
            ("tenant".to_owned(), "\"contoso\"".to_owned()),
            ("attempt".to_owned(), "7".to_owned()),
        ])),
    };
    queue_client(&sim, "orders")
        .send_message(body, Some(options))
        .await
        .unwrap();

    let request = eventually("the invocation", || {
        app.requests_to("/OrderProcessor").into_iter().next()
    })
    .await;
    assert_eq!(request["method"], "POST");
    assert_eq!(request["query"], Value::Null, "no query string");
    let headers = &request["headers"];
    assert!(
        headers["x-azure-functions-invocationid"]
            .as_str()
            .is_some_and(|s| uuid::Uuid::parse_str(s).is_ok())
    );
    assert_eq!(
        headers["x-azure-functions-hostversion"],
        func_host::invoke::HOST_VERSION
    );
    assert!(
        headers["user-agent"]
            .as_str()
            .unwrap()
            .starts_with("Azure-Functions-Host/")
    );
    assert_eq!(headers["content-type"], "application/json; charset=utf-8");

    let raw = request["body"].as_str().unwrap();
    assert!(
        raw.starts_with(r#"{"Data":{"msg":"\"{\\\"orderId\\\":42,"#),
        "the body is JSON-encoded twice: {raw}"
    );
    let invocation = body_of(&request);
    assert_eq!(
        invocation["Data"]["msg"],
        json!(serde_json::to_string(body).unwrap())
    );
    let m = &invocation["Metadata"];
    assert_eq!(m["DeliveryCount"], "1");
    assert!(
        m["SequenceNumber"].as_str().unwrap().parse::<i64>().is_ok(),
        "a long as a string"
    );
    assert_eq!(m["CorrelationId"], "\"req-1\"");
    assert_eq!(m["Label"], "\"subject-1\"");
    assert_eq!(m["Subject"], "\"subject-1\"");
    assert_eq!(m["ReplyTo"], "\"replies\"");
    assert_eq!(m["To"], "\"someone\"");
    assert_eq!(m["ContentType"], "\"application/json\"");
    assert!(m["LockToken"].as_str().unwrap().starts_with('"'));
    let enqueued_utc = m["EnqueuedTimeUtc"].as_str().unwrap();
    assert_eq!(
        enqueued_utc.len(),
        19,
        "DateTime without offset or fraction: {enqueued_utc}"
    );
    assert_eq!(m["EnqueuedTime"], format!("{enqueued_utc}+00:00"));
    assert_eq!(m["ExpiresAtUtc"], "9999-12-31T23:59:59");
    assert_eq!(
        m["ApplicationProperties"],
        json!({"tenant": "contoso", "attempt": 7})
    );
    assert_eq!(m["UserProperties"], m["ApplicationProperties"]);
    // The body-merge quirk: top-level fields land in Metadata, overwriting MessageId
    // case-insensitively under its original name.
    assert_eq!(m["MessageId"], "\"from-body\"");
    assert!(m.get("messageid").is_none());
    assert_eq!(m["orderId"], "\"42\"");
    assert_eq!(m["flag"], "\"True\"");
    assert_eq!(m["nested"], json!({"a": 1}));
    assert!(m.get("list").is_none() && m.get("none").is_none());
    assert_eq!(m["sys"]["MethodName"], "OrderProcessor");
    assert!(m["Client"]["FullyQualifiedNamespace"] == format!("{NS}.servicebus.windows.net"));

    host.shutdown().await.unwrap();
    assert!(
        drain(&sim, "orders").await.is_empty(),
        "a successful invocation completes the message"
    );
}

#[tokio::test]
async fn binary_data_type_sends_base64_and_skips_the_body_merge() {
    let sim = sim(vec![queue("bin", 10)], vec![]).await;
    let mut t = trigger("bin");
    t["dataType"] = json!("binary");
    let app = App::new(
        &host_json(json!({})),
        &[("Bin", json!({"bindings": [t]}))],
        &json!({}),
    );
    let host = host_for(&app, &sim).await;
    queue_client(&sim, "bin")
        .send_message(r#"{"MessageId":"evil"}"#, None)
        .await
        .unwrap();
    let request = eventually("the invocation", || {
        app.requests_to("/Bin").into_iter().next()
    })
    .await;
    let invocation = body_of(&request);
    assert_eq!(invocation["Data"]["msg"], "eyJNZXNzYWdlSWQiOiJldmlsIn0=");
    assert_ne!(invocation["Metadata"]["MessageId"], "\"evil\"");
    host.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_non_2xx_reply_is_redelivered_with_a_higher_delivery_count_then_dead_lettered() {
    let sim = sim(vec![queue("flaky", 3)], vec![]).await;
    let app = App::new(
        &host_json(json!({})),
        &[("Flaky", json!({"bindings": [trigger("flaky")]}))],
        &json!({"functions": {"Flaky": {"kind": "status", "status": 500}}}),
    );
    let host = host_for(&app, &sim).await;
    queue_client(&sim, "flaky")
        .send_message("poison", None)
        .await
        .unwrap();
    let requests = eventually("three deliveries", || {
        let r = app.requests_to("/Flaky");
        (r.len() >= 3).then_some(r)
    })
    .await;
    let counts: Vec<Value> = requests
        .iter()
        .map(|r| body_of(r)["Metadata"]["DeliveryCount"].clone())
        .collect();
    assert_eq!(counts, vec![json!("1"), json!("2"), json!("3")]);
    let dead = eventually_async_drain(&sim, "flaky/$DeadLetterQueue").await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].0, "poison");
    host.shutdown().await.unwrap();
    assert_eq!(
        app.requests_to("/Flaky").len(),
        3,
        "no delivery past MaxDeliveryCount"
    );
}

async fn eventually_async_drain(sim: &Sim, entity: &str) -> Vec<(String, Option<String>)> {
    for _ in 0..100 {
        let got = drain(sim, entity).await;
        if !got.is_empty() {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("nothing arrived in {entity}");
}

#[tokio::test]
async fn empty_null_and_non_json_replies_fail_the_invocation_and_dead_letter_after_one_delivery() {
    let sim = sim(
        vec![
            queue("empty", 1),
            queue("null", 1),
            queue("text", 1),
            queue("fine", 1),
        ],
        vec![],
    )
    .await;
    let app = App::new(
        &host_json(json!({})),
        &[
            ("Empty", json!({"bindings": [trigger("empty")]})),
            ("Null", json!({"bindings": [trigger("null")]})),
            ("Text", json!({"bindings": [trigger("text")]})),
            ("Fine", json!({"bindings": [trigger("fine")]})),
        ],
        &json!({"functions": {"Empty": {"kind": "empty"}, "Null": {"kind": "null"}, "Text": {"kind": "text"}, "Fine": {"kind": "echo"}}}),
    );
    let host = host_for(&app, &sim).await;
    for q in ["empty", "null", "text", "fine"] {
        queue_client(&sim, q)
            .send_message(&format!("to {q}"), None)
            .await
            .unwrap();
    }
    for q in ["empty", "null", "text"] {
        let dead = eventually_async_drain(&sim, &format!("{q}/$DeadLetterQueue")).await;
        assert_eq!(
            dead[0].0,
            format!("to {q}"),
            "{q} failed and was dead-lettered"
        );
    }
    eventually("the fine invocation", || {
        app.requests_to("/Fine").into_iter().next()
    })
    .await;
    host.shutdown().await.unwrap();
    assert!(
        drain(&sim, "fine/$DeadLetterQueue").await.is_empty(),
        "a good reply completes"
    );
    assert!(drain(&sim, "fine").await.is_empty());
}

#[tokio::test]
async fn outputs_split_arrays_indent_objects_and_reproduce_the_base64_trap() {
    let sim = sim(
        vec![queue("in", 10), queue("out", 10), queue("trap", 10)],
        vec![],
    )
    .await;
    let app = App::new(
        &host_json(json!({})),
        &[(
            "Fanout",
            json!({"bindings": [
                trigger("in"),
                {"type": "serviceBus", "direction": "out", "name": "out", "queueName": "out", "connection": "ServiceBusConnection"},
                {"type": "serviceBus", "direction": "out", "name": "trap", "queueName": "trap", "connection": "ServiceBusConnection"}]}),
        )],
        &json!({"functions": {"Fanout": {"kind": "reply", "body": {
            "Outputs": {"out": ["one", "test", {"k": "v"}], "trap": "test", "Out": ["ignored: names are case-sensitive"]},
            "Logs": [], "ReturnValue": null}}}}),
    );
    let host = host_for(&app, &sim).await;
    queue_client(&sim, "in")
        .send_message("go", None)
        .await
        .unwrap();
    let out = eventually_async_drain(&sim, "out").await;
    let mut out = out;
    for _ in 0..50 {
        if out.len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        out.extend(drain(&sim, "out").await);
    }
    let bodies: Vec<&str> = out.iter().map(|(b, _)| b.as_str()).collect();
    assert_eq!(bodies, vec!["one", "test", "{\n  \"k\": \"v\"\n}"]);
    assert!(
        out.iter()
            .all(|(_, ct)| ct.as_deref() == Some("text/plain")),
        "{out:?}"
    );
    let trap = eventually_async_drain(&sim, "trap").await;
    assert_eq!(
        trap[0].0, "System.Byte[]",
        "a string that decodes as base64 is sent as a byte[]"
    );
    host.shutdown().await.unwrap();
    assert!(
        drain(&sim, "in").await.is_empty(),
        "outputs sent, then the trigger completed"
    );
}

#[tokio::test]
async fn a_hanging_handler_is_restarted_and_the_message_redelivered() {
    let sim = sim(vec![queue("slow", 10)], vec![]).await;
    let app = App::new(
        &host_json(json!({"functionTimeout": "00:00:02"})),
        &[("Slow", json!({"bindings": [trigger("slow")]}))],
        &json!({"functions": {"Slow": {"kind": "hang", "after_restart": {"kind": "echo"}}}}),
    );
    let host = host_for(&app, &sim).await;
    queue_client(&sim, "slow")
        .send_message("wait for me", None)
        .await
        .unwrap();
    let requests = eventually("the redelivery", || {
        let r = app.requests_to("/Slow");
        (r.len() >= 2).then_some(r)
    })
    .await;
    assert_eq!(requests[0]["start"], 1);
    assert_eq!(
        requests[1]["start"], 2,
        "the second delivery reaches a new process"
    );
    assert_eq!(body_of(&requests[1])["Metadata"]["DeliveryCount"], "2");
    host.shutdown().await.unwrap();
    assert!(drain(&sim, "slow").await.is_empty());
}

#[tokio::test]
async fn a_topic_subscription_triggers_and_max_concurrent_calls_allows_parallel_invocations() {
    let sim = sim(
        vec![],
        vec![TopicSpec {
            name: "events".to_owned(),
            duplicate_detection_window: None,
            subscriptions: vec![queue("audit", 10)],
        }],
    )
    .await;
    let app = App::new(
        &host_json(json!({"extensions": {"serviceBus": {"maxConcurrentCalls": 2}}})),
        &[(
            "Audit",
            json!({"bindings": [{"type": "serviceBusTrigger", "direction": "in", "name": "msg", "topicName": "events",
                                  "subscriptionName": "audit", "connection": "ServiceBusConnection"}]}),
        )],
        &json!({"functions": {"Audit": {"kind": "hang"}}}),
    );
    let host = host_for(&app, &sim).await;
    let sender = TopicClient::new(http(&sim), NS, "events", KEY_NAME, KEY)
        .unwrap()
        .topic_sender();
    for i in 0..3 {
        sender
            .send_message(&format!("event {i}"), None)
            .await
            .unwrap();
    }
    // Both hang, so both being recorded proves two invocations run at once.
    let running = eventually("two parallel invocations", || {
        let r = app.requests_to("/Audit");
        (r.len() >= 2).then_some(r)
    })
    .await;
    assert_eq!(
        body_of(&running[0])["Metadata"]["MessageReceiver"]["EntityPath"],
        "events/Subscriptions/audit"
    );
    host.shutdown().await.unwrap();
}

#[tokio::test]
async fn locks_are_renewed_while_a_long_invocation_runs() {
    let mut short_lock = queue("long", 10);
    short_lock.lock_duration = "PT2S".to_owned();
    let sim = sim(vec![short_lock], vec![]).await;
    let app = App::new(
        &host_json(json!({})),
        &[("Long", json!({"bindings": [trigger("long")]}))],
        &json!({"functions": {"Long": {"kind": "sleep", "ms": 5000}}}),
    );
    let host = host_for(&app, &sim).await;
    queue_client(&sim, "long")
        .send_message("take your time", None)
        .await
        .unwrap();
    eventually("the invocation", || {
        app.requests_to("/Long").into_iter().next()
    })
    .await;
    // Completion empties the queue; without renewal the 2 s lock would lapse during the
    // 5 s invocation and the message would come back for a second delivery.
    let client = queue_client(&sim, "long");
    let redelivered = client
        .peek_lock_message2(Some(Duration::from_secs(8)))
        .await
        .unwrap();
    assert_eq!(
        u16::from(*redelivered.status()),
        204,
        "the message was completed, not redelivered"
    );
    assert_eq!(app.requests_to("/Long").len(), 1);
    host.shutdown().await.unwrap();
}

/// Sends `body` as it is (the crate's `send_message` takes only text), signed with the
/// namespace's SAS key.
async fn send_bytes(sim: &Sim, queue: &str, body: &'static [u8]) {
    let resource = format!("https://{NS}.servicebus.windows.net/{queue}");
    let sr: String = url::form_urlencoded::byte_serialize(resource.as_bytes()).collect();
    let expiry = time::OffsetDateTime::now_utc().unix_timestamp() + 3600;
    let signature = azure_sim::servicebus::sas::sign(KEY, &sr, expiry);
    let sig: String = url::form_urlencoded::byte_serialize(signature.as_bytes()).collect();
    let response = reqwest::Client::new()
        .post(format!(
            "{}/{NS}.servicebus.windows.net/{queue}/messages",
            sim.url()
        ))
        .header(
            "authorization",
            format!("SharedAccessSignature sr={sr}&sig={sig}&se={expiry}&skn={KEY_NAME}"),
        )
        .header("content-type", "application/octet-stream")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
}

/// Counts what is in `entity`, completing it; bodies that are not UTF-8 included.
async fn drain_count(sim: &Sim, entity: &str) -> usize {
    let http: Arc<dyn azure_core_legacy::HttpClient> =
        Arc::new(func_host::servicebus::raw_body::KeepRawBodies(http(sim)));
    let client = QueueClient::new(http, NS, entity, KEY_NAME, KEY).unwrap();
    let mut count = 0;
    loop {
        let m = client
            .peek_lock_message2(Some(Duration::from_secs(1)))
            .await
            .unwrap();
        if u16::from(*m.status()) == 204 {
            return count;
        }
        count += 1;
        m.delete_message().await.unwrap();
    }
}

#[tokio::test]
async fn a_body_that_is_not_utf8_reaches_a_binary_trigger_on_its_first_delivery() {
    let sim = sim(vec![queue("raw", 10)], vec![]).await;
    let mut t = trigger("raw");
    t["dataType"] = json!("binary");
    let app = App::new(
        &host_json(json!({})),
        &[("Raw", json!({"bindings": [t]}))],
        &json!({}),
    );
    let host = host_for(&app, &sim).await;

    send_bytes(&sim, "raw", b"{\"a\":\"\xff\xfe\"}").await;

    let request = eventually("the invocation", || {
        app.requests_to("/Raw").into_iter().next()
    })
    .await;
    let invocation = body_of(&request);
    assert_eq!(invocation["Data"]["msg"], "eyJhIjoi//4ifQ==");
    assert_eq!(invocation["Metadata"]["DeliveryCount"], "1");
    host.shutdown().await.unwrap();
    assert_eq!(app.requests_to("/Raw").len(), 1, "delivered once");
    assert_eq!(drain_count(&sim, "raw").await, 0, "completed");
}

#[tokio::test]
async fn a_body_that_is_not_utf8_fails_a_string_trigger_and_is_dead_lettered_by_delivery_count() {
    let sim = sim(vec![queue("rawtext", 2)], vec![]).await;
    let app = App::new(
        &host_json(json!({})),
        &[("RawText", json!({"bindings": [trigger("rawtext")]}))],
        &json!({}),
    );
    let host = host_for(&app, &sim).await;

    send_bytes(&sim, "rawtext", b"\xff").await;

    // Abandoned at once on each delivery (no lock expiry: the lock here is 30 s).
    let started = std::time::Instant::now();
    let mut dead = 0;
    while dead == 0 && started.elapsed() < Duration::from_secs(20) {
        dead = drain_count(&sim, "rawtext/$DeadLetterQueue").await;
    }
    assert_eq!(dead, 1, "dead-lettered after MaxDeliveryCount abandons");
    assert!(started.elapsed() < Duration::from_secs(20));
    host.shutdown().await.unwrap();
    assert!(
        app.requests_to("/RawText").is_empty(),
        "the handler is never called"
    );
}

#[tokio::test]
async fn a_send_signed_before_a_jump_of_the_simulators_clock_is_signed_again_at_the_new_time() {
    let sim = sim(vec![queue("after-jump", 10)], vec![]).await;
    // Not following the clock: the SDK signs with the machine's clock, an hour ahead, which
    // the simulator a day on refuses. The transport reads the clock on that 401 and re-signs.
    let transport = azure_transport::Transport::simulated(&sim.url()).unwrap();
    let client = QueueClient::new(
        transport.for_azure_core_legacy_sas(KEY_NAME, KEY),
        NS,
        "after-jump",
        KEY_NAME,
        KEY,
    )
    .unwrap();
    sim.advance_clock(Duration::from_secs(24 * 3600));
    client.send_message("after the jump", None).await.unwrap();
    let received = client
        .peek_lock_message2(Some(Duration::from_secs(1)))
        .await
        .unwrap();
    assert_eq!(u16::from(*received.status()), 201);
    assert_eq!(received.body(), "after the jump");
    assert!(
        transport.simulated_offset() >= Duration::from_secs(24 * 3600),
        "the offset was read: {:?}",
        transport.simulated_offset()
    );
}

#[tokio::test]
async fn while_messages_keep_coming_several_receives_are_open_at_once() {
    let sim = sim(vec![queue("backlog", 10)], vec![]).await;
    let client = queue_client(&sim, "backlog");
    for i in 0..6 {
        client
            .send_message(&format!("message {i}"), None)
            .await
            .unwrap();
    }
    // Every receive takes 400 ms to be answered: one receive at a time would make each
    // arrive at least that long after the one before.
    let slow = std::time::Duration::from_millis(400);
    sim.add_fault(
        azure_sim::Fault {
            status: None,
            ..azure_sim::Fault::new(
                &format!("{NS}.servicebus.windows.net"),
                "/backlog/messages/head",
                200,
            )
        }
        .delay(slow),
    );
    let app = App::new(
        &host_json(json!({"extensions": {"serviceBus": {"maxConcurrentCalls": 8}}})),
        &[("Backlog", json!({"bindings": [trigger("backlog")]}))],
        &json!({"functions": {"Backlog": {"kind": "echo"}}}),
    );
    let host = host_for(&app, &sim).await;
    eventually("six invocations", || {
        (app.requests_to("/Backlog").len() >= 6).then_some(())
    })
    .await;
    host.shutdown().await.unwrap();
    let mut arrivals: Vec<time::OffsetDateTime> = sim
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path_and_query.starts_with("/backlog/messages/head"))
        .map(|r| r.time)
        .collect();
    arrivals.sort();
    let overlapping = arrivals
        .windows(2)
        .filter(|w| w[1] - w[0] < time::Duration::try_from(slow).unwrap())
        .count();
    assert!(overlapping >= 2, "receives one after another: {arrivals:?}");
}
