//! One active request per VM (issue 11): a second submission for a VM another active request
//! is creating is refused with 409 until that request has ended; a replay of the first is not
//! a second request.

use azure_sim::Scenario;
use serde_json::Value;

use crate::harness::{Harness, document, is_terminal};

/// POSTs a document with an Idempotency-Key; status, content type, body.
async fn submit(h: &Harness, document: &Value, key: &str) -> (u16, String, Value) {
    let response = h
        .client
        .post(format!("{}/api/share-requests", h.url))
        .header("Idempotency-Key", key)
        .json(document)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, response.json().await.unwrap())
}

#[tokio::test]
async fn a_second_request_for_an_active_requests_vm_is_refused_until_the_first_has_ended() {
    let h = Harness::start(Scenario::demo(), &[]).await;
    // A region the image is not replicated to: the first request will end Failed.
    let mut first_document = document();
    first_document["vm"]["location"] = "japaneast".into();
    let (status, _, first) = submit(&h, &first_document, "first").await;
    assert_eq!(status, 202, "{first}");
    let first_id = first["id"].as_str().unwrap().to_owned();

    // The same VM resource id, written in other cases and sent with another key.
    let mut second_document = document();
    second_document["consumer"]["resourceGroup"] = "RG-FABRIKAM-VMS".into();
    second_document["vm"]["name"] = "VM-Fabrikam-01".into();
    let (status, content_type, refused) = submit(&h, &second_document, "second").await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(content_type, "application/problem+json");
    assert_eq!(refused["type"], "urn:imageshare:problem:vm-in-use");
    let detail = refused["detail"].as_str().unwrap();
    assert!(
        detail.contains(&first_id),
        "names the active request: {detail}"
    );

    // The first request's own replay is not a second request.
    let (status, _, replay) = submit(&h, &first_document, "first").await;
    assert_eq!(status, 202, "{replay}");
    assert_eq!(replay["id"], first_id.as_str());

    let id = imageshare::domain::RequestId::parse(&first_id).unwrap();
    h.admin_consents_and_grants(id).await;
    let ended = h.run_until(id, is_terminal).await;
    assert_eq!(ended["state"], "Failed", "{ended:#}");

    let (status, _, accepted) = submit(&h, &second_document, "second").await;
    assert_eq!(
        status, 202,
        "the VM is free once the first has ended: {accepted}"
    );
    assert_ne!(accepted["id"], first_id.as_str());
}
