//! Throttling as Azure does it today, behind scenario settings that are off by default:
//! Resource Manager's regional token buckets, Compute's PutVM quotas, Microsoft Graph's
//! identity and access limits, and the counters a bench reads.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use azure_sim::{
    Scenario, Sim,
    scenario::{ArmRegionalThrottling, Bucket, GraphIdentityThrottling, Quota, demo},
};
use common::{
    READER, arm_as_contoso_admin, arm_as_operator, assignment_body, demo_scenario,
    graph_as_operator, hv, images_rg, role_assignment, vnet_and_nic,
};
use reqwest::Method;
use serde_json::{Value, json};

fn gallery() -> String {
    format!("{}?api-version=2024-03-03", demo::GALLERY_ID)
}

fn regional(f: impl FnOnce(&mut ArmRegionalThrottling)) -> Scenario {
    let mut scenario = demo_scenario();
    let mut t = ArmRegionalThrottling::default();
    f(&mut t);
    scenario.arm.regional_throttling = Some(t);
    scenario
}

fn new_assignment() -> String {
    assignment_at(&images_rg())
}

fn assignment_at(scope: &str) -> String {
    role_assignment(scope, uuid::Uuid::new_v4())
}

#[tokio::test]
async fn without_the_settings_arm_keeps_its_hourly_headers_and_graph_its_recorded_cost_header() {
    let sim = Sim::start(demo_scenario()).await.unwrap();
    let (status, headers, _) = arm_as_operator(&sim).await.get(&gallery()).await;
    assert_eq!(status, 200);
    assert_eq!(
        hv(&headers, "x-ms-ratelimit-remaining-subscription-reads").as_deref(),
        Some("11999")
    );
    assert_eq!(
        hv(
            &headers,
            "x-ms-ratelimit-remaining-subscription-global-reads"
        ),
        None
    );
    let (status, headers, _) = graph_as_operator(&sim).await.get("/applications").await;
    assert_eq!(status, 200);
    assert_eq!(
        hv(&headers, "x-ms-resource-unit").as_deref(),
        Some("1"),
        "the recorded constant, not the documented cost of 2"
    );
}

#[tokio::test]
async fn the_documented_buckets_show_in_the_remaining_and_global_headers() {
    let sim = Sim::start(regional(|_| {})).await.unwrap();
    let operator = arm_as_operator(&sim).await;
    let (status, headers, _) = operator.get(&gallery()).await;
    assert_eq!(status, 200);
    assert_eq!(
        hv(&headers, "x-ms-ratelimit-remaining-subscription-reads").as_deref(),
        Some("249")
    );
    assert_eq!(
        hv(
            &headers,
            "x-ms-ratelimit-remaining-subscription-global-reads"
        )
        .as_deref(),
        Some("3749")
    );
    let url = new_assignment();
    let (status, headers, body) = operator
        .put(
            &url,
            assignment_body(READER, demo::MAILBOX_ID, Some("User")),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        hv(&headers, "x-ms-ratelimit-remaining-subscription-writes").as_deref(),
        Some("199")
    );
    assert_eq!(
        hv(
            &headers,
            "x-ms-ratelimit-remaining-subscription-global-writes"
        )
        .as_deref(),
        Some("2999")
    );
    let (_, headers, _) = operator.delete(&url).await;
    assert_eq!(
        hv(&headers, "x-ms-ratelimit-remaining-subscription-deletes").as_deref(),
        Some("199")
    );
    assert_eq!(
        hv(
            &headers,
            "x-ms-ratelimit-remaining-subscription-global-deletes"
        )
        .as_deref(),
        Some("2999")
    );
    let (_, headers, _) = operator.get("/tenants?api-version=2022-12-01").await;
    assert_eq!(
        hv(&headers, "x-ms-ratelimit-remaining-tenant-reads").as_deref(),
        Some("249"),
        "a request without a subscription takes from the tenant bucket"
    );
}

#[tokio::test]
async fn a_burst_of_reads_beyond_the_bucket_gets_429_with_retry_after_until_the_clock_refills_it() {
    let sim = Sim::start(regional(|t| t.reads = Bucket::new(5, 1)))
        .await
        .unwrap();
    let operator = arm_as_operator(&sim).await;
    let mut left = vec![];
    for _ in 0..5 {
        let (status, headers, _) = operator.get(&gallery()).await;
        assert_eq!(status, 200);
        left.push(hv(&headers, "x-ms-ratelimit-remaining-subscription-reads").unwrap());
    }
    assert_eq!(left, ["4", "3", "2", "1", "0"]);
    let (status, headers, body) = operator.get(&gallery()).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(hv(&headers, "retry-after").as_deref(), Some("1"));
    assert_eq!(
        hv(&headers, "x-ms-ratelimit-remaining-subscription-reads").as_deref(),
        Some("0")
    );
    assert_eq!(body["error"]["code"], "SubscriptionRequestsThrottled");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("Number of 'read' requests for subscription"),
        "{message}"
    );
    assert!(message.contains(demo::OPERATOR_PRINCIPAL_ID), "{message}");
    sim.advance_clock(Duration::from_secs(1));
    let (status, _, _) = operator.get(&gallery()).await;
    assert_eq!(status, 200, "one token refilled");
}

#[tokio::test]
async fn writes_and_deletes_have_their_own_buckets_with_their_figures() {
    let sim = Sim::start(regional(|t| {
        t.writes = Bucket::new(2, 1);
        t.deletes = Bucket::new(1, 1);
    }))
    .await
    .unwrap();
    let operator = arm_as_operator(&sim).await;
    let body = || assignment_body(READER, demo::MAILBOX_ID, Some("User"));
    let first = new_assignment();
    assert_eq!(operator.put(&first, body()).await.0, 201);
    let (status, headers, answer) = operator.put(&assignment_at(demo::GALLERY_ID), body()).await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(
        hv(&headers, "x-ms-ratelimit-remaining-subscription-writes").as_deref(),
        Some("0")
    );
    let (status, headers, answer) = operator
        .put(&assignment_at(demo::IMAGE_DEFINITION_ID), body())
        .await;
    assert_eq!(status, 429, "{answer}");
    assert_eq!(hv(&headers, "retry-after").as_deref(), Some("1"));
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Number of 'write' requests")
    );
    let (status, headers, _) = operator.delete(&first).await;
    assert_eq!(status, 200, "deletes are a bucket of their own");
    assert_eq!(
        hv(&headers, "x-ms-ratelimit-remaining-subscription-deletes").as_deref(),
        Some("0")
    );
    let (status, headers, answer) = operator.delete(&first).await;
    assert_eq!(status, 429, "{answer}");
    assert_eq!(hv(&headers, "retry-after").as_deref(), Some("1"));
    assert_eq!(operator.get(&gallery()).await.0, 200, "reads are untouched");
    sim.advance_clock(Duration::from_secs(1));
    let (status, _, answer) = operator
        .put(&assignment_at(demo::IMAGE_DEFINITION_ID), body())
        .await;
    assert_eq!(status, 201, "{answer}");
    assert_ne!(operator.delete(&first).await.0, 429);
}

#[tokio::test]
async fn per_principal_buckets_of_one_subscription_are_independent() {
    // No refill, so the wall-clock time the test takes cannot add tokens.
    let sim = Sim::start(regional(|t| t.reads = Bucket::new(3, 0)))
        .await
        .unwrap();
    let operator = arm_as_operator(&sim).await;
    let admin = arm_as_contoso_admin(&sim).await;
    for _ in 0..3 {
        assert_eq!(operator.get(&gallery()).await.0, 200);
    }
    assert_eq!(operator.get(&gallery()).await.0, 429);
    let (status, headers, _) = admin.get(&gallery()).await;
    assert_eq!(status, 200, "another principal has its own bucket");
    assert_eq!(
        hv(&headers, "x-ms-ratelimit-remaining-subscription-reads").as_deref(),
        Some("2")
    );
    assert_eq!(
        hv(
            &headers,
            "x-ms-ratelimit-remaining-subscription-global-reads"
        )
        .as_deref(),
        Some("41"),
        "the global bucket is 15 times the principal's and counts both"
    );
}

#[tokio::test]
async fn the_global_subscription_bucket_is_shared_by_every_principal() {
    let sim = Sim::start(regional(|t| {
        t.reads = Bucket::new(3, 0);
        t.global_multiplier = 1;
    }))
    .await
    .unwrap();
    let operator = arm_as_operator(&sim).await;
    let admin = arm_as_contoso_admin(&sim).await;
    assert_eq!(operator.get(&gallery()).await.0, 200);
    assert_eq!(operator.get(&gallery()).await.0, 200);
    let (status, headers, _) = admin.get(&gallery()).await;
    assert_eq!(status, 200);
    assert_eq!(
        hv(&headers, "x-ms-ratelimit-remaining-subscription-reads").as_deref(),
        Some("2")
    );
    assert_eq!(
        hv(
            &headers,
            "x-ms-ratelimit-remaining-subscription-global-reads"
        )
        .as_deref(),
        Some("0")
    );
    let (status, headers, body) = admin.get(&gallery()).await;
    assert_eq!(status, 429, "the global bucket is empty: {body}");
    assert!(hv(&headers, "retry-after").is_some());
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("exceeded the global limit")
    );
}

fn vm_body(nic: &str) -> Value {
    json!({"location": "eastus", "properties": {
        "hardwareProfile": {"vmSize": "Standard_D2s_v5"},
        "storageProfile": {
            "imageReference": {"id": demo::IMAGE_VERSION_ID},
            "osDisk": {"createOption": "FromImage", "managedDisk": {"storageAccountType": "Standard_LRS"}}},
        "osProfile": {"computerName": "vm1", "adminUsername": "azureuser", "linuxConfiguration": {
            "disablePasswordAuthentication": true,
            "ssh": {"publicKeys": [{"path": "/home/azureuser/.ssh/authorized_keys", "keyData": "ssh-rsa AAAAB3NzaC1yc2E test"}]}}},
        "networkProfile": {"networkInterfaces": [{"id": nic, "properties": {"primary": true}}]}}})
}

#[tokio::test]
async fn put_vm_3min_exhaustion_answers_429_and_the_resource_header_counts_down() {
    let mut scenario = demo_scenario();
    scenario.arm.vm_provisioning_polls = 0;
    let sim = Sim::start(scenario).await.unwrap();
    let owner = arm_as_contoso_admin(&sim).await;
    let rg = images_rg();
    let nic = vnet_and_nic(&owner, &rg, "10.7").await;
    let nic_id = nic["id"].as_str().unwrap().to_owned();
    let vm =
        format!("{rg}/providers/Microsoft.Compute/virtualMachines/burst?api-version=2024-07-01");
    let mut quota = vec![];
    for i in 0..240 {
        let (status, headers, body) = owner.put(&vm, vm_body(&nic_id)).await;
        assert!(status == 200 || status == 201, "PUT {i}: {status} {body}");
        quota.push(hv(&headers, "x-ms-ratelimit-remaining-resource").unwrap());
        // Poll the operation to its end, or the next PUT conflicts with it.
        let poll = hv(&headers, "azure-asyncoperation").unwrap();
        let (_, _, op) = owner.get(&poll).await;
        assert_eq!(op["status"], "Succeeded", "{op}");
    }
    assert_eq!(
        quota[0],
        "Microsoft.Compute/PutVM3Min;239,Microsoft.Compute/PutVM30Min;1199"
    );
    assert_eq!(
        quota[1],
        "Microsoft.Compute/PutVM3Min;238,Microsoft.Compute/PutVM30Min;1198"
    );
    assert_eq!(
        quota[239],
        "Microsoft.Compute/PutVM3Min;0,Microsoft.Compute/PutVM30Min;960"
    );
    let (status, headers, body) = owner.put(&vm, vm_body(&nic_id)).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "OperationNotAllowed");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Microsoft.Compute/PutVM3Min")
    );
    let wait: i64 = hv(&headers, "retry-after").unwrap().parse().unwrap();
    assert!((1..=180).contains(&wait), "{wait}");
    sim.advance_clock(Duration::from_secs(181));
    let (status, _, body) = owner.put(&vm, vm_body(&nic_id)).await;
    assert!(
        status == 200 || status == 201,
        "after three minutes: {body}"
    );
    let report = sim.throttling();
    assert_eq!(report.service("compute").throttled, 1);
    assert_eq!(report.events[0].retried_early, Some(false));
}

fn graph_limits(f: impl FnOnce(&mut GraphIdentityThrottling)) -> Scenario {
    let mut scenario = demo_scenario();
    let mut t = GraphIdentityThrottling::default();
    f(&mut t);
    scenario.graph_identity_throttling = Some(t);
    scenario
}

#[tokio::test]
async fn graph_requests_cost_the_documented_resource_units() {
    let sim = Sim::start(graph_limits(|_| {})).await.unwrap();
    let graph = graph_as_operator(&sim).await;
    let (status, headers, _) = graph.get("/applications").await;
    assert_eq!(status, 200);
    assert_eq!(hv(&headers, "x-ms-resource-unit").as_deref(), Some("2"));
    let (_, headers, _) = graph.get("/applications?$select=id,appId").await;
    assert_eq!(
        hv(&headers, "x-ms-resource-unit").as_deref(),
        Some("1"),
        "$select takes one off"
    );
    let (status, headers, body) = graph
        .post("/applications", json!({"displayName": "costed"}))
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(hv(&headers, "x-ms-resource-unit").as_deref(), Some("1"));
}

#[tokio::test]
async fn a_graph_app_tenant_write_budget_exhausted_answers_429_and_recovers_after_the_window() {
    let sim = Sim::start(graph_limits(|t| t.app_tenant_writes = Quota::new(3, 60)))
        .await
        .unwrap();
    let graph = graph_as_operator(&sim).await;
    for i in 0..3 {
        let (status, _, body) = graph
            .post("/applications", json!({"displayName": format!("w{i}")}))
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, headers, body) = graph
        .post("/applications", json!({"displayName": "w3"}))
        .await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "TooManyRequests");
    let wait: u64 = hv(&headers, "retry-after").unwrap().parse().unwrap();
    assert!(
        (1..=20).contains(&wait),
        "one write back at 3 per 60 s: {wait}"
    );
    assert_eq!(
        hv(&headers, "x-ms-throttle-scope").unwrap(),
        format!(
            "Tenant_Application/Write/{}/{}",
            demo::OPERATOR_CLIENT_ID,
            demo::CONTOSO_TENANT
        )
    );
    assert_eq!(
        hv(&headers, "x-ms-throttle-information").as_deref(),
        Some("WriteLimitExceeded")
    );
    assert_eq!(graph.get("/applications").await.0, 200, "reads still pass");
    sim.advance_clock(Duration::from_secs(60));
    let (status, _, body) = graph
        .post("/applications", json!({"displayName": "w4"}))
        .await;
    assert_eq!(status, 201, "the window has refilled: {body}");
}

#[tokio::test]
async fn the_counters_report_each_429_and_a_retry_made_before_its_retry_after() {
    let sim = Sim::start(regional(|t| t.reads = Bucket::new(2, 1)))
        .await
        .unwrap();
    let operator = arm_as_operator(&sim).await;
    assert_eq!(operator.get(&gallery()).await.0, 200);
    assert_eq!(operator.get(&gallery()).await.0, 200);
    assert_eq!(operator.get(&gallery()).await.0, 429);
    assert_eq!(operator.get(&gallery()).await.0, 429, "retried at once");
    sim.advance_clock(Duration::from_secs(2));
    assert_eq!(
        operator.get(&gallery()).await.0,
        200,
        "retried after waiting"
    );

    let graph = graph_as_operator(&sim).await;
    graph
        .send(
            Method::GET,
            "/applications",
            None,
            &[("x-ms-throttle-priority", "Low")],
        )
        .await;
    graph.get("/applications").await;

    let report = sim.throttling();
    let arm = report.service("arm");
    assert_eq!(arm.throttled, 2);
    assert_eq!(arm.retried_early, 1);
    assert_eq!(report.events[0].retry_after_seconds, 1);
    assert_eq!(report.events[0].retried_early, Some(true));
    assert_eq!(report.events[1].retried_early, Some(false));
    assert_eq!(report.graph_priorities.get("Low"), Some(&1));
    assert_eq!(report.graph_priorities.get("(none)"), Some(&1));

    let client = reqwest::Client::new();
    let over_http: Value = client
        .get(format!("{}/_sim/throttling", sim.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(over_http["services"]["arm"]["throttled"], 2);
    assert_eq!(over_http["services"]["arm"]["retriedEarly"], 1);
    assert_eq!(over_http["events"][0]["retryAfterSeconds"], 1);
    assert_eq!(over_http["graphPriorities"]["Low"], 1);
    let cleared = client
        .delete(format!("{}/_sim/throttling", sim.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(cleared.status(), 204);
    assert_eq!(sim.throttling().service("arm").throttled, 0);
}
