//! Submitting a share request and reading its status.

use imageshare::{
    domain::{RequestId, State, Step},
    store::RequestStore,
};
use serde_json::Value;

use crate::helpers::{IMAGE_ID, PUBLIC_BASE_URL, spawn_app, valid_document};

#[tokio::test]
async fn a_valid_submission_is_accepted_stored_and_queued() {
    let app = spawn_app().await;

    let response = app.submit(&valid_document(), None).await;

    assert_eq!(response.status(), 202);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["state"], "Submitted");
    assert_eq!(body["image"]["id"], IMAGE_ID);
    assert_eq!(
        location,
        format!(
            "{PUBLIC_BASE_URL}/api/share-requests/{}",
            body["id"].as_str().unwrap()
        )
    );
    let id = RequestId::parse(body["id"].as_str().unwrap()).unwrap();
    let sent = app.queue.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].message.request_id, sent[0].message.step),
        (id, Step::IssueCredentials)
    );
    let stored = app.store.get(id).await.unwrap().unwrap();
    assert_eq!(stored.request.state(), State::Submitted);
}

#[tokio::test]
async fn the_location_answers_with_the_status_document() {
    let app = spawn_app().await;
    let submitted = app.submit(&valid_document(), None).await;
    let location = submitted.headers()["location"].to_str().unwrap().to_owned();

    let response = app.follow(&location).await;

    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["state"], "Submitted");
    assert_eq!(body["links"]["self"], location.as_str());
    assert_eq!(body["history"][0]["event"], "submitted");
    assert_eq!(body["history"][0]["actor"], "api");
    assert!(body["createdAt"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn the_same_idempotency_key_returns_the_same_request() {
    let app = spawn_app().await;
    let first: Value = app
        .submit(&valid_document(), Some("ticket-4711"))
        .await
        .json()
        .await
        .unwrap();

    // Same document, other key order and case: still the same request.
    let mut again = valid_document();
    again["consumer"]["tenantId"] = "22222222-2222-4222-8222-222222222222".to_uppercase().into();
    let response = app.submit(&again, Some("ticket-4711")).await;

    assert_eq!(response.status(), 202);
    assert_eq!(response.headers()["idempotent-replayed"], "true");
    let second: Value = response.json().await.unwrap();
    assert_eq!(first["id"], second["id"]);
    assert_eq!(app.store.len(), 1);
}

#[tokio::test]
async fn the_same_idempotency_key_with_another_body_is_refused() {
    let app = spawn_app().await;
    app.submit(&valid_document(), Some("ticket-4711")).await;
    let mut other = valid_document();
    other["vm"]["name"] = "vm-other".into();

    let response = app.submit(&other, Some("ticket-4711")).await;

    assert_eq!(response.status(), 422);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    assert_eq!(app.store.len(), 1);
}

#[tokio::test]
async fn an_unknown_request_is_404_problem_json() {
    let app = spawn_app().await;
    for path in [
        "/api/share-requests/0f8fad5b-d9cb-469f-a165-70867728950e",
        "/api/share-requests/not-a-guid",
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 404, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
    }
}

#[tokio::test]
async fn different_requests_without_a_key_get_different_ids() {
    let app = spawn_app().await;
    let a: Value = app
        .submit(&valid_document(), None)
        .await
        .json()
        .await
        .unwrap();
    let b: Value = app
        .submit(&valid_document(), None)
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(a["id"], b["id"]);
}

#[tokio::test]
async fn a_submission_is_announced_once_as_a_cloudevent_even_when_replayed() {
    let app = spawn_app().await;
    let first: Value = app
        .submit(&valid_document(), Some("ticket-7"))
        .await
        .json()
        .await
        .unwrap();
    app.submit(&valid_document(), Some("ticket-7")).await;

    let events = app.events.published();
    assert_eq!(events.len(), 1, "{events:?}");
    let event = serde_json::to_value(&events[0]).unwrap();
    assert_eq!(event["specversion"], "1.0");
    assert_eq!(event["type"], "imageshare.request.submitted");
    assert_eq!(event["subject"], first["id"]);
    assert_eq!(event["id"], format!("{}:1", first["id"].as_str().unwrap()));
    assert_eq!(event["data"]["state"], "Submitted");
    assert!(event["data"].get("history").is_none());
}

/// A claim on the demo VM by a request that was never stored, taken `age` ago.
async fn unstored_claim(app: &crate::helpers::TestApp, age: time::Duration) -> RequestId {
    let holder = RequestId::new_random();
    let vm = "/subscriptions/2b2b2b2b-2222-4222-8222-222222222222/resourceGroups/rg-fabrikam-vms/providers/Microsoft.Compute/virtualMachines/vm-fabrikam-01";
    let claim = imageshare::store::VmClaim {
        key: imageshare::store::VmClaim::key_for(vm),
        request: holder,
        claimed_at: time::OffsetDateTime::now_utc() - age,
    };
    app.store.put_claim(&claim, None).await.unwrap();
    holder
}

#[tokio::test]
async fn a_vm_claimed_by_an_admission_still_in_flight_is_refused_with_409() {
    let app = spawn_app().await;
    let holder = unstored_claim(&app, time::Duration::seconds(10)).await;

    let response = app.submit(&valid_document(), Some("k")).await;

    assert_eq!(response.status(), 409);
    let problem: Value = response.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains(&holder.to_string()),
        "{problem}"
    );
    assert_eq!(app.store.len(), 0, "nothing stored");
}

#[tokio::test]
async fn a_vm_claimed_by_an_admission_that_died_long_ago_is_free_again() {
    let app = spawn_app().await;
    unstored_claim(&app, time::Duration::minutes(30)).await;

    let response = app.submit(&valid_document(), Some("k")).await;

    assert_eq!(response.status(), 202);
}
