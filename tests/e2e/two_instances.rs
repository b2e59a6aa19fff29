//! Two instances of the app (two func-hosts, each with its own handler process) on one
//! Azurite table store and one simulator, as a scaled-out Function App runs: twenty requests
//! split between them, Graph and Resource Manager failing now and then, both reconcilers firing
//! at the same moments. Same counts as one instance, nothing left active.

use std::time::{Duration, Instant};

use azure_sim::{Fault, scenario::demo};
use local_run::{demo as play, stack::LocalStore};
use serde_json::Value;

use crate::stack::start_with;

const REQUESTS: usize = 20;

#[tokio::test]
async fn two_instances_on_one_store_share_twenty_requests_under_faults_with_one_of_everything() {
    let (stack, _scratch) = start_with(
        LocalStore::Azurite,
        &[
            // Both instances reconcile every 20 s, at the same seconds.
            ("IMAGESHARE_RECONCILE_SCHEDULE", "*/20 * * * * *"),
            ("IMAGESHARE_RECONCILE_GRACE_MINUTES", "1"),
        ],
    )
    .await;
    let second = stack.add_instance().await.unwrap();
    let bases = [stack.base_url.clone(), format!("http://{}", second.addr())];
    stack
        .sim
        .add_fault(Fault::new("graph.microsoft.com", "*", 503).with_probability(0.05, 7));
    stack
        .sim
        .add_fault(Fault::new("management.azure.com", "*", 503).with_probability(0.05, 11));

    let client = reqwest::Client::new();
    let mut locations = Vec::new();
    for n in 0..REQUESTS {
        let mut document = local_run::stack::demo_request();
        document["vm"]["name"] = format!("vm-fabrikam-{n:02}").into();
        let base = &bases[n % 2];
        let deadline = Instant::now() + Duration::from_secs(60);
        let location = loop {
            let response = client
                .post(format!("{base}/api/share-requests"))
                .header("Idempotency-Key", format!("two-instances-{n}"))
                .json(&document)
                .send()
                .await
                .unwrap();
            match response.status().as_u16() {
                202 => {
                    let body: Value = response.json().await.unwrap();
                    break format!("{base}/api/share-requests/{}", body["id"].as_str().unwrap());
                }
                // The table is created at the first start; a moment's 503 says retry.
                503 if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                other => panic!(
                    "submit answered {other}: {}",
                    response.text().await.unwrap()
                ),
            }
        };
        locations.push(location);
    }

    // The consumer's admin approves every request through its own link (an earlier consent
    // is never enough) and grants the role once (one app per tenant).
    let mut approved = std::collections::HashSet::new();
    let mut granted = false;
    let started = Instant::now();
    let statuses = loop {
        let mut all = Vec::new();
        for location in &locations {
            all.push(
                client
                    .get(location)
                    .send()
                    .await
                    .unwrap()
                    .json::<Value>()
                    .await
                    .unwrap(),
            );
        }
        if all.iter().all(|s| {
            matches!(
                s["state"].as_str(),
                Some("Completed" | "Failed" | "Expired" | "Rejected" | "Declined")
            ) && s["accessRelease"].is_object()
        }) {
            break all;
        }
        assert!(
            started.elapsed() < Duration::from_secs(420),
            "not every request ended: {:#?}",
            all.iter()
                .map(|s| (s["id"].clone(), s["state"].clone(), s["waitingFor"].clone()))
                .collect::<Vec<_>>()
        );
        let waiting: Vec<&str> = all
            .iter()
            .filter(|s| s["state"] == "AwaitingConsent")
            .filter_map(|s| s["id"].as_str())
            .collect();
        for link in play::consent_links_from_mail(&stack.sim) {
            let Some(id) = play::request_of_link(&link) else {
                continue;
            };
            if waiting.contains(&id.as_str()) && approved.insert(id) {
                play::consent_in_browser(&stack.transport, &link)
                    .await
                    .unwrap();
            }
        }
        if !granted
            && let Some(app_id) = all
                .iter()
                .find(|s| s["state"] == "AwaitingRoleGrant")
                .and_then(|s| s["app"]["appId"].as_str())
        {
            play::grant_contributor(&stack.sim, app_id).await.unwrap();
            granted = true;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };

    for s in &statuses {
        assert_eq!(s["state"], "Completed", "{s:#}");
    }
    assert_eq!(
        approved.len(),
        REQUESTS,
        "each request was approved on its own link"
    );
    let state = stack.sim.state();
    let unique_name = format!("imageshare-{}", demo::FABRIKAM_TENANT);
    let apps: Vec<_> = state
        .applications
        .iter()
        .filter(|a| a.unique_name.as_deref() == Some(unique_name.as_str()))
        .collect();
    assert_eq!(apps.len(), 1, "one app per consumer tenant");
    let app = apps[0];
    // By default the last request of the tenant to end removes the federated credential (a
    // later one may have put it back meanwhile): each credential made is removed exactly once,
    // and none is left.
    let fic_calls = |method: &str, status: u16| {
        stack
            .sim
            .requests()
            .iter()
            .filter(|r| {
                r.method == method
                    && r.status == status
                    && r.host == "graph.microsoft.com"
                    && r.path_and_query.contains("/federatedIdentityCredentials")
            })
            .count()
    };
    let created = fic_calls("POST", 201);
    assert!(created >= 1, "a credential was made");
    assert_eq!(fic_calls("DELETE", 204), created, "each removed once");
    let released: usize = statuses
        .iter()
        .map(|s| {
            s["accessRelease"]["removed"]
                .as_array()
                .map_or(0, |removed| {
                    removed.iter().filter(|r| r["outcome"] == "removed").count()
                })
        })
        .sum();
    assert_eq!(
        released, created,
        "each removal is in one request's history"
    );
    assert_eq!(
        app.password_credentials.len() + app.federated_identity_credentials.len(),
        0,
        "no credential left after the last request ended"
    );
    for tenant in [demo::CONTOSO_TENANT, demo::FABRIKAM_TENANT] {
        let sps = state
            .service_principals
            .iter()
            .filter(|s| s.app_id == app.app_id && s.tenant == tenant)
            .count();
        assert_eq!(sps, 1, "service principals in {tenant}");
    }
    let owner_sp: Vec<&str> = state
        .service_principals
        .iter()
        .filter(|s| s.app_id == app.app_id && s.tenant == demo::CONTOSO_TENANT)
        .map(|s| s.id.as_str())
        .collect();
    let readers = state
        .role_assignments
        .iter()
        .filter(|r| owner_sp.contains(&r.principal_id.as_str()))
        .count();
    assert_eq!(readers, 1, "one Reader assignment");
    let vms = state.resources_of_type("Microsoft.Compute/virtualMachines");
    assert_eq!(vms.len(), REQUESTS, "one VM per request");
    let mails = stack
        .sim
        .outbox(demo::CONTOSO_TENANT)
        .iter()
        .filter(|m| m.content.contains("/api/approval?"))
        .count();
    assert_eq!(mails, REQUESTS, "one consent mail per request");
    let faulted = stack
        .sim
        .requests()
        .iter()
        .filter(|r| r.fault.is_some())
        .count();
    assert!(faulted > 0, "the faults were felt");

    second.shutdown().await.unwrap();
    stack.shutdown().await.unwrap();
}
