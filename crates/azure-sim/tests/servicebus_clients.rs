//! azure_messaging_servicebus 0.21, unchanged, against the simulator through azure-transport.

// Helpers outside #[test] functions unwrap too: this is test code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::{collections::HashMap, time::Duration};

use azure_messaging_servicebus::service_bus::{
    QueueClient, SendMessageOptions, SettableBrokerProperties, TopicClient,
};
use azure_sim::scenario::demo;
use common::{start_demo, transport};

fn queue(sim: &azure_sim::Sim, name: &str) -> QueueClient {
    QueueClient::new(
        transport(sim).for_azure_core_legacy(),
        demo::SERVICE_BUS_NAMESPACE,
        name,
        demo::SAS_POLICY,
        demo::SAS_KEY.to_owned(),
    )
    .unwrap()
}

#[tokio::test]
async fn queue_client_sends_peek_locks_unlocks_and_deletes_a_message() {
    let sim = start_demo().await;
    let q = queue(&sim, "create-vm");
    let options = SendMessageOptions {
        content_type: Some("application/json".into()),
        broker_properties: Some(SettableBrokerProperties {
            message_id: Some("req-1-create-vm-1".into()),
            correlation_id: Some("req-1".into()),
            label: Some("create-vm".into()),
            ..Default::default()
        }),
        custom_properties: Some(HashMap::from([(
            "step".to_owned(),
            "\"create-vm\"".to_owned(),
        )])),
    };
    q.send_message(r#"{"requestId":"req-1"}"#, Some(options))
        .await
        .unwrap();

    let first = q
        .peek_lock_message2(Some(Duration::from_secs(5)))
        .await
        .unwrap();
    assert_eq!(u16::from(*first.status()), 201);
    assert_eq!(first.body(), r#"{"requestId":"req-1"}"#);
    let bp = first
        .broker_properties()
        .expect("BrokerProperties on a peek-lock");
    assert_eq!(bp.delivery_count, 1);
    assert_eq!(bp.message_id, "req-1-create-vm-1");
    assert_eq!(bp.state, "Active");
    assert!(bp.locked_until_utc > bp.enqueued_time_utc.unwrap());

    first.unlock_message().await.unwrap();
    let second = q
        .peek_lock_message2(Some(Duration::from_secs(5)))
        .await
        .unwrap();
    let bp2 = second.broker_properties().unwrap();
    assert_eq!(
        bp2.delivery_count, 2,
        "an abandoned message comes back with DeliveryCount+1"
    );
    assert_eq!(bp2.sequence_number, bp.sequence_number);
    assert_ne!(bp2.lock_token, bp.lock_token);

    second.renew_message_lock().await.unwrap();
    second.delete_message().await.unwrap();
    let empty = q.peek_lock_message2(Some(Duration::ZERO)).await.unwrap();
    assert_eq!(u16::from(*empty.status()), 204);
    assert!(empty.broker_properties().is_none());
    // The old lock of a completed message is gone.
    assert!(first.delete_message().await.is_err());
}

#[tokio::test]
async fn queue_client_custom_properties_and_content_type_come_back_on_receive() {
    let sim = start_demo().await;
    let q = queue(&sim, "confirm-consent");
    let options = SendMessageOptions {
        content_type: Some("application/json".into()),
        broker_properties: None,
        custom_properties: Some(HashMap::from([
            ("attempt".to_owned(), "3".to_owned()),
            ("step".to_owned(), "\"confirm-consent\"".to_owned()),
        ])),
    };
    q.send_message("{}", Some(options)).await.unwrap();
    let got = q
        .peek_lock_message2(Some(Duration::from_secs(5)))
        .await
        .unwrap();
    let headers: azure_core_legacy::headers::Headers = got.custom_properties().unwrap();
    assert_eq!(headers.get_optional_str(&"attempt".into()), Some("3"));
    assert_eq!(
        headers.get_optional_str(&"step".into()),
        Some("\"confirm-consent\"")
    );
    assert_eq!(
        headers.get_optional_str(&"content-type".into()),
        Some("application/json")
    );
}

#[tokio::test]
async fn queue_client_scheduled_message_stays_invisible_until_the_clock_reaches_it() {
    let sim = start_demo().await;
    let q = queue(&sim, "confirm-consent");
    let due = sim.now() + time::Duration::minutes(5);
    let options = SendMessageOptions {
        broker_properties: Some(SettableBrokerProperties {
            scheduled_enqueue_time_utc: Some(due),
            ..Default::default()
        }),
        ..Default::default()
    };
    q.send_message("later", Some(options)).await.unwrap();
    let early = q.peek_lock_message2(Some(Duration::ZERO)).await.unwrap();
    assert_eq!(u16::from(*early.status()), 204);

    sim.advance_clock(Duration::from_secs(301));
    let on_time = q.peek_lock_message2(Some(Duration::ZERO)).await.unwrap();
    assert_eq!(u16::from(*on_time.status()), 201);
    assert_eq!(on_time.body(), "later");
    let enqueued = on_time
        .broker_properties()
        .unwrap()
        .enqueued_time_utc
        .unwrap();
    assert_eq!(enqueued.unix_timestamp(), due.unix_timestamp());
}

#[tokio::test]
async fn queue_client_receive_and_delete_removes_the_message() {
    let sim = start_demo().await;
    let q = queue(&sim, "share-requests");
    q.send_message("once", None).await.unwrap();
    assert_eq!(q.receive_and_delete_message().await.unwrap(), "once");
    let empty = q.peek_lock_message2(Some(Duration::ZERO)).await.unwrap();
    assert_eq!(u16::from(*empty.status()), 204);
}

#[tokio::test]
async fn topic_client_fans_out_to_the_subscription_receiver() {
    let sim = start_demo().await;
    let topic = TopicClient::new(
        transport(&sim).for_azure_core_legacy(),
        demo::SERVICE_BUS_NAMESPACE,
        demo::TOPIC,
        demo::SAS_POLICY,
        demo::SAS_KEY.to_owned(),
    )
    .unwrap();
    topic
        .topic_sender()
        .send_message(r#"{"type":"Submitted"}"#, None)
        .await
        .unwrap();
    let receiver = topic.subscription_receiver(demo::TOPIC_SUBSCRIPTION);
    let got = receiver
        .peek_lock_message2(Some(Duration::from_secs(5)))
        .await
        .unwrap();
    assert_eq!(u16::from(*got.status()), 201);
    assert_eq!(got.body(), r#"{"type":"Submitted"}"#);
    got.delete_message().await.unwrap();
    let empty = receiver
        .peek_lock_message2(Some(Duration::ZERO))
        .await
        .unwrap();
    assert_eq!(u16::from(*empty.status()), 204);
}

#[tokio::test]
async fn a_client_with_the_wrong_key_is_refused() {
    let sim = start_demo().await;
    let q = QueueClient::new(
        transport(&sim).for_azure_core_legacy(),
        demo::SERVICE_BUS_NAMESPACE,
        "create-vm",
        demo::SAS_POLICY,
        "bm90LXRoZS1rZXk=".to_owned(),
    )
    .unwrap();
    let err = q.send_message("x", None).await.unwrap_err();
    assert!(
        matches!(
            err.kind(),
            azure_core_legacy::error::ErrorKind::HttpResponse { status, .. }
                if *status == azure_core_legacy::StatusCode::Unauthorized
        ),
        "{err:?}"
    );
}
