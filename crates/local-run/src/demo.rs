//! `--demo`: submit the sample share request, follow it, play the consumer's admin (one
//! sign-in on the approval page's one-visit link: approval, consent and the role grant), and
//! report how long each step took and how many Azure calls it made.

use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use azure_sim::{Sim, scenario::demo};
use azure_transport::Transport;
use serde_json::Value;
use url::Url;

use crate::{
    admin::ConsumerAdmin,
    browser::Browser,
    stack::{Stack, demo_request},
};

/// What the demo measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// The request id.
    pub request_id: String,
    /// The final status document.
    pub status: Value,
    /// Wall time from submission to the terminal state.
    pub total: Duration,
    /// Azure calls the simulator served, by host, sorted.
    pub calls_by_host: Vec<(String, usize)>,
    /// All Azure calls.
    pub calls: usize,
    /// Azure calls by method, host and path with ids folded (`{id}`), sorted.
    pub calls_by_operation: Vec<(String, usize)>,
}

/// `GET management.azure.com/subscriptions/{id}/...`: ids and query strings folded, so that
/// calls of one kind count together.
pub fn operation(method: &str, host: &str, path_and_query: &str) -> String {
    let path = path_and_query.split('?').next().unwrap_or_default();
    let folded: Vec<String> = path
        .split('/')
        .map(|segment| {
            let guid = segment.len() == 36 && segment.chars().filter(|c| *c == '-').count() == 4;
            let token = segment.len() > 20
                && segment.chars().any(|c| c.is_ascii_digit())
                && !segment.contains('.');
            match segment.split_once('(') {
                Some((name, _)) => format!("{name}({{key}})"),
                None if guid || token => "{id}".to_owned(),
                None => segment.to_owned(),
            }
        })
        .collect();
    format!("{method} {host}{}", folded.join("/"))
}

impl Report {
    /// A printable summary: per-step durations and call counts.
    pub fn render(&self) -> String {
        let mut out = format!(
            "request {}: {} in {:.1}s\n",
            self.request_id,
            self.status["state"],
            self.total.as_secs_f64()
        );
        if let Some(steps) = self.status["steps"].as_object() {
            let order = [
                "issue-credentials",
                "send-consent-link",
                "confirm-consent",
                "create-vm",
            ];
            for (step, times) in order.iter().filter_map(|s| steps.get(*s).map(|t| (*s, t))) {
                let seconds = duration_between(&times["startedAt"], &times["completedAt"])
                    .map_or_else(|| "-".to_owned(), |d| format!("{:.1}s", d.as_secs_f64()));
                out.push_str(&format!(
                    "  {step:<18} {seconds:>8}  runs {}\n",
                    times["runs"]
                ));
            }
        }
        out.push_str(&format!("Azure calls: {}\n", self.calls));
        for (host, n) in &self.calls_by_host {
            out.push_str(&format!("  {host:<45} {n:>4}\n"));
        }
        out.push_str("by operation:\n");
        for (operation, n) in &self.calls_by_operation {
            out.push_str(&format!("  {n:>4}  {operation}\n"));
        }
        out
    }
}

fn duration_between(start: &Value, end: &Value) -> Option<Duration> {
    let parse = |v: &Value| {
        time::OffsetDateTime::parse(v.as_str()?, &time::format_description::well_known::Rfc3339)
            .ok()
    };
    Duration::try_from(parse(end)? - parse(start)?).ok()
}

/// The approval link in the newest mail to the consumer's admin, as a person clicks it.
pub fn consent_link_from_mail(sim: &Sim) -> Option<Url> {
    consent_links_from_mail(sim).pop()
}

/// Every approval link mailed to the demo admin, oldest first: one per request, each working
/// for its own request only.
pub fn consent_links_from_mail(sim: &Sim) -> Vec<Url> {
    ConsumerAdmin::fabrikam().approval_links(&sim.outbox(demo::CONTOSO_TENANT))
}

pub use crate::admin::request_of_link;

async fn status(client: &reqwest::Client, location: &str) -> anyhow::Result<Value> {
    let response = client
        .get(location)
        .send()
        .await
        .with_context(|| format!("GET {location}"))?;
    response.json().await.context("reading the status document")
}

/// Plays the demo's consumer admin in the browser: opens the approval link and approves, on
/// the page itself when the tenant consented to the app before, else on Microsoft's consent
/// page (sign in, accept). Returns the last page, ours.
pub async fn consent_in_browser(transport: &Transport, link: &Url) -> anyhow::Result<String> {
    Ok(ConsumerAdmin::fabrikam()
        .approve_in_browser(transport, link)
        .await?
        .html)
}

/// Plays the Fabrikam admin approving in one visit: the approval page's one-visit link, one
/// sign-in on Entra (and its consent page, the first time), and back on imageshare's page,
/// which says what was done in the tenant. The page's HTML.
pub async fn approve_in_one_visit(transport: &Transport, link: &Url) -> anyhow::Result<String> {
    approve_in_one_visit_as(
        transport,
        link,
        demo::FABRIKAM_ADMIN_UPN,
        demo::FABRIKAM_ADMIN_PASSWORD,
    )
    .await
}

/// As [`approve_in_one_visit`], signed in as `login`.
pub async fn approve_in_one_visit_as(
    transport: &Transport,
    link: &Url,
    login: &str,
    password: &str,
) -> anyhow::Result<String> {
    let browser = Browser::new(transport.clone())?;
    let approval = browser.open(link).await?;
    if !approval.status.is_success() {
        bail!(
            "the approval page answered {}: {}",
            approval.status,
            approval.html
        );
    }
    let signin = browser.open(&approval.link("one-visit")?).await?;
    let form = signin.form("signin")?;
    let after = browser
        .submit(&form, &[("login", login), ("passwd", password)])
        .await?;
    // Consent is asked the first time only; afterwards Entra sends the admin straight back.
    let redirect = match after.form("accept") {
        Ok(accept) => {
            browser
                .submit(&accept, &[("consent_on_behalf", "true")])
                .await?
        }
        Err(_) => after,
    };
    let done = browser.follow(&redirect).await?;
    if !done.status.is_success() {
        bail!(
            "the one-visit approval answered {}: {}",
            done.status,
            done.html
        );
    }
    Ok(done.html)
}

/// Plays the consumer admin declining on the approval page, with `reason`.
pub async fn decline_in_browser(
    transport: &Transport,
    link: &Url,
    reason: &str,
) -> anyhow::Result<crate::browser::Page> {
    let browser = Browser::new(transport.clone())?;
    let approval = browser.open(link).await?;
    let form = approval.form("decline")?;
    browser.submit(&form, &[("reason", reason)]).await
}

/// Plays the demo's consumer admin granting the app Contributor on the resource group, as in
/// the portal (the simulator acts with the admin's own rights).
pub async fn grant_contributor(sim: &Sim, app_id: &str) -> anyhow::Result<()> {
    ConsumerAdmin::fabrikam()
        .grant_contributor(sim, app_id)
        .await
}

/// Runs the demo to a terminal state, or fails saying where it stopped.
pub async fn run(
    stack: &Stack,
    timeout: Duration,
    mut progress: impl FnMut(&str),
) -> anyhow::Result<Report> {
    let client = reqwest::Client::new();
    stack.sim.clear_requests();
    let started = Instant::now();
    let submitted = client
        .post(format!("{}/api/share-requests", stack.base_url))
        .header(
            "Idempotency-Key",
            format!("demo-{}", stack.sim.now().unix_timestamp()),
        )
        .json(&demo_request())
        .send()
        .await
        .context("submitting the share request")?;
    if submitted.status() != 202 {
        bail!(
            "the submission answered {}: {}",
            submitted.status(),
            submitted.text().await.unwrap_or_default()
        );
    }
    let location = submitted
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| anyhow!("no Location"))?
        .to_owned();
    let first: Value = submitted.json().await?;
    let request_id = first["id"].as_str().unwrap_or_default().to_owned();
    progress(&format!("submitted request {request_id}"));

    let mut last_state = String::new();
    let mut consented = false;
    loop {
        let document = status(&client, &location).await?;
        let state = document["state"].as_str().unwrap_or_default().to_owned();
        if state != last_state {
            progress(&format!(
                "{:>6.1}s  {state}: {}",
                started.elapsed().as_secs_f64(),
                document["summary"].as_str().unwrap_or_default()
            ));
            last_state.clone_from(&state);
        }
        match state.as_str() {
            "Completed" => {
                let records: Vec<_> = stack
                    .sim
                    .requests()
                    .into_iter()
                    .filter(|r| !r.host.starts_with("_sim"))
                    .collect();
                let mut by_host = std::collections::BTreeMap::<String, usize>::new();
                let mut by_operation = std::collections::BTreeMap::<String, usize>::new();
                for r in &records {
                    *by_host.entry(r.host.clone()).or_default() += 1;
                    *by_operation
                        .entry(operation(&r.method, &r.host, &r.path_and_query))
                        .or_default() += 1;
                }
                return Ok(Report {
                    request_id,
                    status: document,
                    total: started.elapsed(),
                    calls: records.len(),
                    calls_by_host: by_host.into_iter().collect(),
                    calls_by_operation: by_operation.into_iter().collect(),
                });
            }
            "Failed" | "Expired" | "Rejected" => {
                bail!(
                    "the request ended {state}: {}",
                    document["failure"].as_str().unwrap_or("no reason given")
                );
            }
            "AwaitingConsent" if !consented => {
                if let Some(link) = consent_link_from_mail(&stack.sim) {
                    progress(
                        "         the consumer's admin opens the link from the mail and approves in one sign-in (approval, consent and role grant)",
                    );
                    approve_in_one_visit(&stack.transport, &link).await?;
                    consented = true;
                }
            }
            _ => {}
        }
        if started.elapsed() > timeout {
            bail!(
                "stopped after {}s in state {state}: {}",
                timeout.as_secs(),
                document["summary"]
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
