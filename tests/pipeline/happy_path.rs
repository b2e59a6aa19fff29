//! One share request from submission to a running VM, with every step visible.

use azure_sim::{Replication, Scenario, scenario::demo};
use serde_json::Value;

use crate::harness::{Harness, document};

/// Counts what the simulator holds for the demo consumer, from its own records.
pub struct Counts {
    pub apps: usize,
    pub service_principals_owner: usize,
    pub service_principals_consumer: usize,
    pub live_credentials: usize,
    pub reader_assignments: usize,
    pub vms: usize,
    pub consent_mails: usize,
}

pub fn counts(h: &Harness) -> Counts {
    let state = h.sim.state();
    let unique_name = format!("imageshare-{}", demo::FABRIKAM_TENANT);
    let apps: Vec<_> = state
        .applications
        .iter()
        .filter(|a| a.unique_name.as_deref() == Some(unique_name.as_str()))
        .collect();
    let app_id = apps.first().map(|a| a.app_id.clone()).unwrap_or_default();
    let sps = |tenant: &str| {
        state
            .service_principals
            .iter()
            .filter(|s| s.app_id == app_id && s.tenant == tenant)
            .count()
    };
    let live_credentials = apps.first().map_or(0, |a| {
        a.password_credentials.len() + a.federated_identity_credentials.len()
    });
    let owner_sps: Vec<&str> = state
        .service_principals
        .iter()
        .filter(|s| s.app_id == app_id && s.tenant == demo::CONTOSO_TENANT)
        .map(|s| s.id.as_str())
        .collect();
    let reader_assignments = state
        .role_assignments
        .iter()
        .filter(|r| {
            owner_sps.contains(&r.principal_id.as_str())
                && r.role_definition_id
                    .ends_with("acdd72a7-3385-48ef-bd42-f606fba81ae7")
        })
        .count();
    let vms = state
        .resources_of_type("Microsoft.Compute/virtualMachines")
        .iter()
        .filter(|v| v.id.ends_with("/virtualMachines/vm-fabrikam-01"))
        .count();
    let consent_mails = h
        .sim
        .outbox(demo::CONTOSO_TENANT)
        .iter()
        .filter(|m| {
            m.to.iter().any(|t| t == demo::FABRIKAM_ADMIN_UPN)
                && m.content.contains("/api/approval?")
        })
        .count();
    Counts {
        apps: apps.len(),
        service_principals_owner: sps(demo::CONTOSO_TENANT),
        service_principals_consumer: sps(demo::FABRIKAM_TENANT),
        live_credentials,
        reader_assignments,
        vms,
        consent_mails,
    }
}

/// Asserts the "exactly one of everything" outcome.
pub fn assert_one_of_everything(h: &Harness) {
    let c = counts(h);
    assert_eq!(c.apps, 1, "apps per consumer tenant");
    assert_eq!(
        c.service_principals_owner, 1,
        "service principals in the owner tenant"
    );
    assert_eq!(
        c.service_principals_consumer, 1,
        "service principals in the consumer tenant"
    );
    // One, or none once the ended request released it (ReleaseAccess): never two.
    assert!(
        c.live_credentials <= 1,
        "live credentials: {}",
        c.live_credentials
    );
    assert_eq!(
        c.reader_assignments, 1,
        "Reader assignments on the image definition"
    );
    assert_eq!(c.vms, 1, "VMs");
    assert_eq!(c.consent_mails, 1, "consent mails");
}

/// Runs the demo request to Completed, playing the admin; returns the final status.
pub async fn complete(h: &Harness) -> (imageshare::domain::RequestId, Value) {
    let id = h.submit(&document()).await;
    let waiting = h.until_state(id, "AwaitingConsent").await;
    assert_eq!(waiting["state"], "AwaitingConsent", "{waiting:#}");
    let page = h.consent().await;
    assert!(page.contains("Contributor"), "{page}");
    let waiting = h.until_state(id, "AwaitingRoleGrant").await;
    assert_eq!(waiting["state"], "AwaitingRoleGrant", "{waiting:#}");
    h.grant_contributor(waiting["app"]["appId"].as_str().unwrap())
        .await;
    let done = h.until_state(id, "Completed").await;
    (id, done)
}

#[tokio::test]
async fn a_share_request_ends_with_a_vm_in_the_consumer_tenant_and_every_step_recorded() {
    let h = Harness::start(Scenario::demo(), &[]).await;

    let (id, done) = complete(&h).await;

    assert_eq!(done["state"], "Completed", "{done:#}");
    assert!(
        done["vm"]["id"]
            .as_str()
            .unwrap()
            .ends_with("/virtualMachines/vm-fabrikam-01")
    );
    for step in [
        "issue-credentials",
        "send-consent-link",
        "confirm-consent",
        "create-vm",
    ] {
        assert!(
            done["steps"][step]["completedAt"].is_string(),
            "{step} has no completion time: {done:#}"
        );
    }
    let events: Vec<&str> = done["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
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
    assert_one_of_everything(&h);

    // The events of the request tell the same story, in order.
    let published: Vec<String> = h
        .events
        .published()
        .iter()
        .filter(|e| e.subject == id.to_string())
        .map(|e| e.kind.clone())
        .collect();
    let expected: Vec<String> = events
        .iter()
        .map(|e| format!("imageshare.request.{e}"))
        .collect();
    assert_eq!(published, expected);
}

#[tokio::test]
async fn the_vm_put_carried_the_owner_tenants_auxiliary_token() {
    let h = Harness::start(Scenario::demo().with_replication(Replication::none()), &[]).await;
    complete(&h).await;
    let puts: Vec<_> = h
        .sim
        .requests()
        .into_iter()
        .filter(|r| {
            r.method == "PUT"
                && r.host == "management.azure.com"
                && r.path_and_query
                    .contains("/virtualMachines/vm-fabrikam-01?")
        })
        .collect();
    // The simulator refuses a cross-tenant image reference without the auxiliary token
    // (LinkedAuthorizationFailed); a 201 proves it was there and valid.
    assert!(puts.iter().any(|r| r.status == 201), "{puts:?}");
}

#[tokio::test]
async fn every_graph_call_of_the_pipeline_asks_for_low_throttle_priority() {
    let h = Harness::start(Scenario::demo().with_replication(Replication::none()), &[]).await;
    complete(&h).await;
    let priorities = h.sim.throttling().graph_priorities;
    assert!(
        priorities.get("Low").copied().unwrap_or(0) > 0,
        "the pipeline's Graph calls were counted: {priorities:?}"
    );
    assert_eq!(
        priorities.keys().collect::<Vec<_>>(),
        ["Low"],
        "background steps send x-ms-throttle-priority: Low on every Graph call: {priorities:?}"
    );
}

#[tokio::test]
async fn a_client_secret_deployment_keeps_one_secret_in_key_vault_and_completes() {
    let h = Harness::start(
        Scenario::demo(),
        &[
            ("IMAGESHARE_APP_CREDENTIAL", "secret"),
            (
                "IMAGESHARE_KEY_VAULT_URL",
                "https://kv-imageshare-demo.vault.azure.net",
            ),
        ],
    )
    .await;
    let (_, done) = complete(&h).await;
    assert_eq!(done["app"]["credential"], "secret");
    assert_one_of_everything(&h);
}

/// The Standard Webhooks secret of the webhook tests (the specification's example key).
const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A webhook receiver that keeps what it is sent, once it has checked the call's Standard
/// Webhooks signature over the exact bytes received.
async fn webhook() -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<(Option<String>, Value)>>>,
) {
    use axum::{Router, body::Bytes, http::HeaderMap, http::StatusCode, routing::post};
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = received.clone();
    let secret = imageshare::webhook_signature::WebhookSecret::parse(WEBHOOK_SECRET).unwrap();
    let app = Router::new().route(
        "/hooks/imageshare",
        post(move |headers: HeaderMap, body: Bytes| {
            let header = |name: &str| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let key = header("idempotency-key");
            let id = header("webhook-id").unwrap_or_default();
            let timestamp: i64 = header("webhook-timestamp")
                .and_then(|t| t.parse().ok())
                .unwrap_or_default();
            let signed = header("webhook-signature") == Some(secret.sign(&id, timestamp, &body))
                && key.as_deref() == Some(id.as_str());
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            let status = if signed && (now - timestamp).abs() < 300 {
                sink.lock()
                    .unwrap()
                    .push((key, serde_json::from_slice(&body).unwrap()));
                StatusCode::OK
            } else {
                StatusCode::UNAUTHORIZED
            };
            async move { status }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/imageshare", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

#[tokio::test]
async fn a_webhook_deployment_posts_the_consent_link_once_and_the_admin_can_use_it() {
    let (url, received) = webhook().await;
    let h = Harness::start(
        Scenario::demo(),
        &[
            ("IMAGESHARE_NOTIFY", "webhook"),
            ("IMAGESHARE_WEBHOOK_URL", &url),
            ("IMAGESHARE_WEBHOOK_SECRET", WEBHOOK_SECRET),
        ],
    )
    .await;
    let id = h.submit(&document()).await;
    h.until_state(id, "AwaitingConsent").await;

    let posts = received.lock().unwrap().clone();
    assert_eq!(posts.len(), 1, "{posts:?}");
    let (key, body) = &posts[0];
    // One key per link: a repeat of this link is dropped, a fresh link (re-sent) is not.
    assert!(
        key.as_deref()
            .is_some_and(|k| k.starts_with(&format!("{id}:consent-link:"))),
        "{key:?}"
    );
    assert_eq!(body["type"], "imageshare.consent-link");
    assert_eq!(body["adminEmail"], demo::FABRIKAM_ADMIN_UPN);
    assert!(
        body["roleGrant"]["command"]
            .as_str()
            .unwrap()
            .starts_with("az role assignment create")
    );
    assert!(
        h.sim.outbox(demo::CONTOSO_TENANT).is_empty(),
        "a webhook deployment sent mail"
    );

    assert_eq!(
        body["consentUrl"], body["approvalUrl"],
        "the earlier name stays"
    );
    let link = url::Url::parse(body["approvalUrl"].as_str().unwrap()).unwrap();
    local_run::demo::consent_in_browser(&h.transport, &link)
        .await
        .unwrap();
    let waiting = h.until_state(id, "AwaitingRoleGrant").await;
    assert_eq!(waiting["state"], "AwaitingRoleGrant", "{waiting:#}");
}

#[tokio::test]
async fn a_running_network_operation_ends_the_invocation_and_a_recheck_follows_it() {
    let h = Harness::start(Scenario::demo(), &[]).await;
    let id = h.submit(&document()).await;
    h.admin_consents_and_grants(id).await;
    let creating = h.until_state(id, "CreatingVm").await;
    assert_eq!(creating["state"], "CreatingVm", "{creating:#}");

    // The first CreateVm message alone: Network answers the NSG's PUT with `Retry-After`.
    let first = loop {
        let now = h.sim.now();
        if let Some(q) = h.queue.take_due(now) {
            if q.message.step == imageshare::domain::Step::CreateVm {
                break q;
            }
            h.deliver(&q).await;
            continue;
        }
        let at = h.queue.earliest().expect("a CreateVm message is queued");
        h.sim
            .advance_clock(std::time::Duration::try_from(at - now).unwrap_or_default());
    };
    let seen_before = h.sim.requests().len();
    let reads_before = h.store.gets.load(std::sync::atomic::Ordering::SeqCst);
    assert!(h.deliver(&first).await < 300);
    // The load, and the read of the re-check's write; what the write's outbox sent is
    // recorded on the version just written, without reading it again.
    assert_eq!(
        h.store.gets.load(std::sync::atomic::Ordering::SeqCst) - reads_before,
        2
    );
    let during: Vec<(String, String)> = h.sim.requests()[seen_before..]
        .iter()
        .filter(|r| r.host == "management.azure.com")
        .map(|r| (r.method.clone(), r.path_and_query.clone()))
        .collect();
    assert!(
        during
            .iter()
            .any(|(m, p)| m == "PUT" && p.contains("/networkSecurityGroups/")),
        "{during:#?}"
    );
    assert!(
        !during
            .iter()
            .any(|(m, p)| p.contains("/operations/")
                || (m == "PUT" && p.contains("/virtualNetworks/"))),
        "the invocation neither polled the operation nor went on: {during:#?}"
    );
    let waiting = h.status(id).await;
    assert!(
        waiting["waitingFor"]
            .as_str()
            .is_some_and(|w| w.contains("-nsg to be provisioned")),
        "{waiting:#}"
    );

    // The re-checks poll the operation and carry on without reading the image or the VM
    // name again: one read of each for the whole build.
    let done = h.run_until(id, |s| s["state"] == "Completed").await;
    assert_eq!(done["state"], "Completed", "{done:#}");
    let reads = |what: &str| {
        h.sim
            .requests()
            .iter()
            .filter(|r| {
                r.method == "GET"
                    && r.path_and_query.contains(what)
                    && !r.path_and_query.contains("/operations/")
            })
            .count()
    };
    assert_eq!(reads("/images/ubuntu-hardened/versions/"), 1);
    assert_eq!(reads("/virtualMachines/vm-fabrikam-01?"), 1);
}
