//! A share request over HTTP, through func-host and Service Bus, to a running VM.

use std::time::Duration;

use local_run::demo;

use crate::stack::{secrets_in, start};

#[tokio::test]
async fn the_demo_reaches_a_vm_and_no_secret_reaches_a_log_a_queue_message_or_a_status() {
    let (stack, _scratch) = start(&[]).await;

    let report = demo::run(&stack, Duration::from_secs(300), |_| {})
        .await
        .unwrap();

    assert_eq!(report.status["state"], "Completed", "{:#}", report.status);
    for step in [
        "issue-credentials",
        "send-consent-link",
        "confirm-consent",
        "create-vm",
    ] {
        assert!(
            report.status["steps"][step]["completedAt"].is_string(),
            "{step}: {:#}",
            report.status
        );
    }
    assert!(report.status["vm"]["id"].as_str().is_some());
    // The consent state the admin's link carried: only the link may hold it.
    let link = demo::consent_link_from_mail(&stack.sim).expect("a consent mail");
    let state = demo::request_of_link(&link)
        .and_then(|id| {
            link.query_pairs()
                .find(|(k, _)| k == "state")
                .map(|(_, v)| v.trim_start_matches(&format!("{id}.")).to_owned())
        })
        .expect("a state in the link");

    // Status responses.
    let status = reqwest::get(report.status["links"]["self"].as_str().unwrap())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        secrets_in(&stack, &status),
        Vec::<String>::new(),
        "a secret in the status document"
    );
    assert!(
        !status.contains(&state),
        "the consent state in the status document"
    );
    // Queue messages and everything else sent to Service Bus: the simulator saw each body.
    let leaking: Vec<_> = stack
        .sim
        .requests()
        .into_iter()
        .filter(|r| {
            r.host.ends_with(".servicebus.windows.net")
                && r.method == "POST"
                && r.path_and_query.contains("/messages")
                && !r.path_and_query.contains("/head")
        })
        .filter(|r| r.contains_known_secret)
        .collect();
    assert!(
        leaking.is_empty(),
        "a secret in a queue message: {leaking:?}"
    );
    // Logs of the handler (relayed by func-host) and of the host, after everything stopped.
    let secrets = stack.sim.known_secrets();
    assert!(
        secrets
            .iter()
            .any(|s| format!("{:?}", s.kind).contains("Token")),
        "the scan would not see tokens"
    );
    stack.shutdown().await.unwrap();
    let logs = crate::logs::text();
    assert!(
        logs.contains("IssueCredentials"),
        "the handler's logs were not captured"
    );
    let found: Vec<String> = secrets
        .iter()
        .filter(|s| s.value.len() >= 8 && logs.contains(&s.value))
        .map(|s| format!("{:?}", s.kind))
        .collect();
    assert_eq!(found, Vec::<String>::new(), "a secret in the logs");
    assert!(!logs.contains(&state), "the consent state in the logs");
}
