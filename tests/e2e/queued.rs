//! Automation's path: share requests sent to the `share-requests` queue with the Service Bus
//! client, outcomes read from the `share-events` topic, nothing polled.

use std::{
    collections::{BTreeMap, HashMap},
    time::{Duration, Instant},
};

use azure_messaging_servicebus::service_bus::{
    QueueClient, SendMessageOptions, SettableBrokerProperties, TopicClient,
};
use azure_sim::scenario::demo;
use imageshare::domain::RequestId;
use local_run::{demo as play, stack::demo_request};
use serde_json::Value;

use crate::stack::{secrets_in, start};

fn queue_client(stack: &local_run::stack::Stack) -> QueueClient {
    QueueClient::new(
        stack.transport.for_azure_core_legacy(),
        demo::SERVICE_BUS_NAMESPACE,
        "share-requests",
        demo::SAS_POLICY,
        demo::SAS_KEY,
    )
    .unwrap()
}

async fn send(client: &QueueClient, body: &str, message_id: &str, content_type: Option<&str>) {
    let options = SendMessageOptions {
        content_type: content_type.map(str::to_owned),
        broker_properties: Some(SettableBrokerProperties {
            message_id: Some(message_id.to_owned()),
            correlation_id: Some(format!("corr-{message_id}")),
            reply_to: Some("share-events".to_owned()),
            ..SettableBrokerProperties::default()
        }),
        custom_properties: None,
    };
    client.send_message(body, Some(options)).await.unwrap();
}

#[tokio::test]
async fn queued_requests_end_in_events_one_completed_the_malformed_rejected_once_and_none_dead_lettered()
 {
    let (stack, _scratch) = start(&[]).await;
    let queue = queue_client(&stack);
    let events = TopicClient::new(
        stack.transport.for_azure_core_legacy(),
        demo::SERVICE_BUS_NAMESPACE,
        demo::TOPIC,
        demo::SAS_POLICY,
        demo::SAS_KEY,
    )
    .unwrap()
    .subscription_receiver(demo::TOPIC_SUBSCRIPTION);

    // One valid request, sent twice under one MessageId.
    let valid = demo_request().to_string();
    send(&queue, &valid, "provision-1", Some("application/json")).await;
    send(&queue, &valid, "provision-1", Some("application/json")).await;
    // Messages that can never succeed.
    let mut bad: Vec<(String, String, Option<&str>)> = Vec::new();
    let edit = |f: &dyn Fn(&mut Value)| {
        let mut d = demo_request();
        f(&mut d);
        d.to_string()
    };
    bad.push((
        "bad-json".into(),
        "{\"consumer\":".into(),
        Some("application/json"),
    ));
    bad.push(("bad-array".into(), "[]".into(), Some("application/json")));
    bad.push(("bad-text".into(), "please share".into(), Some("text/plain")));
    bad.push((
        "bad-tenant".into(),
        edit(&|d| d["consumer"]["tenantId"] = "x".into()),
        Some("application/json"),
    ));
    bad.push((
        "bad-vm-name".into(),
        edit(&|d| d["vm"]["name"] = "vm_1".into()),
        Some("application/json"),
    ));
    bad.push((
        "bad-size".into(),
        edit(&|d| d["vm"]["size"] = "huge".into()),
        None,
    ));
    bad.push((
        "bad-location".into(),
        edit(&|d| d["vm"]["location"] = "West Europe".into()),
        Some("application/json"),
    ));
    bad.push((
        "bad-key".into(),
        edit(&|d| d["vm"]["sshPublicKey"] = "ssh-rsa AAAA".into()),
        Some("application/json"),
    ));
    bad.push((
        "bad-image".into(),
        edit(&|d| d["image"] = serde_json::json!({"name": "windows"})),
        Some("application/json"),
    ));
    bad.push((
        "bad-field".into(),
        edit(&|d| d["owner"] = "me".into()),
        Some("application/json"),
    ));
    bad.push((
        "bad-email".into(),
        edit(&|d| d["consumer"]["adminEmail"] = "nobody".into()),
        Some("application/json"),
    ));
    for (id, body, content_type) in &bad {
        send(&queue, body, id, *content_type).await;
    }

    // Read events until every request has ended, playing the consumer admin when asked.
    let mut story: HashMap<String, Vec<Value>> = HashMap::new();
    let valid_id = RequestId::for_idempotency_key("provision-1").to_string();
    let (mut consented, mut granted) = (false, false);
    let started = Instant::now();
    let ended = |story: &HashMap<String, Vec<Value>>| {
        story.get(&valid_id).is_some_and(|e| {
            e.iter()
                .any(|e| e["type"] == "imageshare.request.completed")
        }) && bad.iter().all(|(id, _, _)| {
            story
                .get(&RequestId::for_idempotency_key(id).to_string())
                .is_some_and(|e| !e.is_empty())
        })
    };
    while !ended(&story) {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "not every request ended: {story:#?}"
        );
        let message = events
            .peek_lock_message2(Some(Duration::from_secs(2)))
            .await
            .unwrap();
        if u16::from(*message.status()) == 201 {
            let event: Value = serde_json::from_str(&message.body()).unwrap();
            message.delete_message().await.unwrap();
            let subject = event["subject"].as_str().unwrap().to_owned();
            if subject == valid_id
                && event["type"] == "imageshare.request.consent-requested"
                && !consented
            {
                let link = play::consent_link_from_mail(&stack.sim).unwrap();
                play::consent_in_browser(&stack.transport, &link)
                    .await
                    .unwrap();
                consented = true;
            }
            if subject == valid_id
                && event["type"] == "imageshare.request.consent-confirmed"
                && !granted
            {
                play::grant_contributor(
                    &stack.sim,
                    event["data"]["app"]["appId"].as_str().unwrap(),
                )
                .await
                .unwrap();
                granted = true;
            }
            story.entry(subject).or_default().push(event);
        }
    }

    // The valid request: one request, its whole story in order, correlated with its message.
    let valid_events = &story[&valid_id];
    let kinds: Vec<&str> = valid_events
        .iter()
        .map(|e| {
            e["type"]
                .as_str()
                .unwrap()
                .trim_start_matches("imageshare.request.")
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "submitted",
            "credentials-issued",
            "consent-requested",
            "consent-reported",
            "consent-confirmed",
            "access-confirmed",
            "vm-creation-started",
            "completed"
        ]
    );
    assert!(
        valid_events
            .iter()
            .all(|e| e["correlationid"] == "corr-provision-1" && e["replyto"] == "share-events")
    );
    let ids: Vec<&str> = valid_events
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(ids, unique, "an event was published twice");

    // Each malformed message: rejected once, with its reasons, and nothing else.
    for (id, _, _) in &bad {
        let events = &story[&RequestId::for_idempotency_key(id).to_string()];
        assert_eq!(events.len(), 1, "{id}: {events:#?}");
        assert_eq!(events[0]["type"], "imageshare.request.rejected", "{id}");
        assert!(
            !events[0]["data"]["errors"].as_array().unwrap().is_empty(),
            "{id}"
        );
    }

    // Every share-requests message was delivered once: none was abandoned (an abandon is a
    // PUT on the message's lock URI) and every lock ended in a complete (DELETE).
    let log = stack.sim.requests();
    let on_queue = |method: &str| {
        log.iter()
            .filter(|r| {
                r.method == method
                    && r.path_and_query.starts_with("/share-requests/messages/")
                    && !r.path_and_query.contains("/head")
            })
            .count()
    };
    assert_eq!(
        on_queue("PUT"),
        0,
        "a share-requests message was abandoned and redelivered"
    );
    assert_eq!(
        on_queue("DELETE"),
        1 + bad.len(),
        "one completion per distinct message"
    );

    // Nothing dead-lettered, nothing left.
    let state = serde_json::to_value(stack.sim.state()).unwrap();
    let counts: BTreeMap<String, Value> = state["queues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| (q["path"].as_str().unwrap().to_owned(), q.clone()))
        .collect();
    for (path, c) in &counts {
        if path.to_ascii_lowercase().contains("deadletter") {
            assert_eq!(c["active"], 0, "{path} holds dead letters: {c}");
        }
    }
    // No event carries a secret.
    let all: String = story.values().flatten().map(Value::to_string).collect();
    assert_eq!(secrets_in(&stack, &all), Vec::<String>::new());
    stack.shutdown().await.unwrap();
}
