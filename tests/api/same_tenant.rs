//! A request whose consumer tenant is the owner's own tenant is refused (DESIGN §3): the
//! pipeline's consent step would otherwise be skipped with nobody approving the share.

use imageshare::{domain::RequestId, store::RequestStore};
use serde_json::Value;

use crate::helpers::{spawn_app, valid_document};

/// The owner tenant of `helpers::settings_pairs`.
const OWNER_TENANT: &str = "11111111-1111-4111-8111-111111111111";

pub fn same_tenant_document() -> Value {
    let mut document = valid_document();
    document["consumer"]["tenantId"] = OWNER_TENANT.into();
    document
}

#[tokio::test]
async fn a_request_to_the_owners_own_tenant_is_refused_with_422_and_nothing_is_stored() {
    let app = spawn_app().await;

    let response = app
        .submit(&same_tenant_document(), Some("same-tenant"))
        .await;

    assert_eq!(response.status(), 422);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = response.json().await.unwrap();
    assert_eq!(
        problem["type"].as_str().map(|t| t.ends_with("same-tenant")),
        Some(true),
        "{problem}"
    );
    assert_eq!(problem["errors"][0]["pointer"], "#/consumer/tenantId");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("owner's own tenant"),
        "{problem}"
    );
    assert_eq!(app.store.len(), 0, "no request stored");
    assert!(app.queue.sent().is_empty(), "no step queued");
    assert!(
        app.store
            .get(RequestId::for_http_idempotency_key("same-tenant"))
            .await
            .unwrap()
            .is_none()
    );
}
