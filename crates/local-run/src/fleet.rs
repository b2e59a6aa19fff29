//! A fleet run: `shares` app-consent share requests for `tenants` generated consumer tenants
//! ([`azure_sim::scenario::fleet`]), through several instances of the app (each its own
//! func-host and handler process) on one Azurite table store and one simulator, with Resource
//! Manager's regional throttling and Microsoft Graph's identity throttling on. Every tenant's
//! admin is an [`AdminScript`]. The bench `benches/fleet.rs` and the e2e test
//! `tests/e2e/fleet.rs` both run it; [`FleetReport`] holds what they print and assert.
//!
//! **Load.** Requests come in waves, as when the owner publishes a new image version for every
//! customer at once: wave `w` is one request per tenant for version `1.0.{w}` (VM `vm-w{w}`),
//! all of it submitted at once; the next wave follows `wave_interval` of simulated time later
//! (default 0: at once).
//!
//! **Clock.** With [`ClockMode::Driven`] the driver moves the simulator's clock (which the
//! handlers and hosts follow) forward whenever nothing can happen before a scheduled time:
//! no Service Bus message is visible or locked (no invocation runs), no admin move is due and
//! no wave is due. It then jumps to the earliest of: the next scheduled message (re-checks,
//! retries), the next admin move, the next wave. Waiting that a real run spends idle —
//! `Retry-After` between polls, replication, a person's pause — so costs no wall time, and
//! nothing is made to happen sooner than its scheduled time. What it does not change: every
//! throttling bucket refills on the simulated clock, so the budgets are the documented ones
//! per simulated second, and an invocation's own work (and an in-invocation retry's sleep)
//! takes real time, during which the clock runs at real speed. Compare the throttling bound
//! with the simulated time too.

mod chain;
mod lags;
mod report;
mod step_times;

use std::{
    collections::HashMap,
    net::SocketAddr,
    path::PathBuf,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use azure_sim::{
    Scenario, Sim,
    scenario::{Bucket, demo, fleet},
};
use func_host::RunningHost;
use futures::StreamExt;
use serde_json::{Value, json};

pub use report::{
    ApiMinimum, BucketBound, Duplicates, Events, FleetReport, InstanceReport, Service, Throttled,
};

use crate::{
    admin::{AdminScript, ConsumerAdmin, Pauses},
    stack::{DEMO_SSH_KEY, LocalStore, Stack, StackOptions},
};

/// How the simulated clock moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockMode {
    /// At real speed only.
    Real,
    /// Forward to the next scheduled time whenever nothing is left to do before it.
    Driven,
}

/// How to run a fleet.
#[derive(Clone, Debug)]
pub struct FleetOptions {
    /// Share requests in all (rounded up to whole waves of one per tenant).
    pub shares: usize,
    /// Generated consumer tenants.
    pub tenants: usize,
    /// App instances (func-host + handler each).
    pub instances: usize,
    /// `maxConcurrentCalls` per queue function and instance (the host.json default is 8).
    pub max_concurrent_calls: usize,
    /// Simulated time between waves.
    pub wave_interval: Duration,
    /// The admins' pauses.
    pub pauses: Pauses,
    /// Seed of the admins' pauses.
    pub seed: u64,
    /// How the clock moves.
    pub clock: ClockMode,
    /// Give up after this much wall time.
    pub timeout: Duration,
    /// Where requests are kept.
    pub store: LocalStore,
    /// The repository root (host.json, functions/).
    pub source_root: PathBuf,
    /// The built `handler`.
    pub handler_binary: PathBuf,
    /// A scratch directory (the staged app, Azurite's files).
    pub scratch: PathBuf,
    /// More app settings.
    pub extra_settings: Vec<(String, String)>,
    /// Resource Manager's write bucket per principal and subscription instead of the
    /// documented 200 at 10/s: a smaller one plays subscriptions whose budget other work
    /// already draws on, so that the run meets 429s.
    pub arm_writes: Option<Bucket>,
    /// Progress lines go here (wall-clock seconds, a sentence).
    pub progress: bool,
}

impl FleetOptions {
    /// 1,000 shares for 50 tenants on two instances, driven clock, Azurite.
    pub fn new(source_root: PathBuf, handler_binary: PathBuf, scratch: PathBuf) -> Self {
        Self {
            shares: 1_000,
            tenants: 50,
            instances: 2,
            max_concurrent_calls: 32,
            wave_interval: Duration::ZERO,
            pauses: Pauses::default(),
            seed: 17,
            clock: ClockMode::Driven,
            timeout: Duration::from_secs(3_600),
            store: LocalStore::Azurite,
            source_root,
            handler_binary,
            scratch,
            extra_settings: Vec::new(),
            arm_writes: None,
            progress: false,
        }
    }

    /// Waves of one request per tenant.
    pub fn waves(&self) -> usize {
        self.shares.div_ceil(self.tenants.max(1))
    }
}

/// The scenario of a fleet run: the demo owner, `tenants` consumers, one image version per
/// wave, documented throttling on.
pub fn scenario(options: &FleetOptions) -> Scenario {
    let mut scenario = Scenario::fleet(options.tenants)
        .with_image_versions(options.waves())
        .with_documented_throttling();
    if let (Some(writes), Some(arm)) = (
        options.arm_writes,
        scenario.arm.regional_throttling.as_mut(),
    ) {
        arm.writes = writes;
    }
    scenario
}

/// The catalog name of wave `w`'s version.
pub fn catalog_name(wave: usize) -> String {
    if wave == 0 {
        "ubuntu-hardened".to_owned()
    } else {
        format!("ubuntu-hardened-1.0.{wave}")
    }
}

fn catalog(waves: usize) -> String {
    let entries: serde_json::Map<String, Value> = (0..waves)
        .map(|w| (catalog_name(w), Value::String(fleet::image_version_id(w))))
        .collect();
    Value::Object(entries).to_string()
}

/// The share request of wave `wave` for `consumer`.
pub fn request_document(consumer: &fleet::Consumer, wave: usize) -> Value {
    json!({
        "consumer": {
            "tenantId": consumer.tenant,
            "subscriptionId": consumer.subscription,
            "resourceGroup": consumer.resource_group,
            "adminEmail": consumer.admin_upn
        },
        "image": {"name": catalog_name(wave)},
        "vm": {
            "name": format!("vm-w{wave:03}"),
            "size": "Standard_D2s_v5",
            "location": "eastus",
            "adminUsername": "azureuser",
            "sshPublicKey": DEMO_SSH_KEY
        }
    })
}

/// One submitted request.
#[derive(Clone, Debug)]
struct Submitted {
    id: String,
    status_url: String,
}

fn is_terminal(state: &str) -> bool {
    matches!(
        state,
        "Completed" | "Failed" | "Expired" | "Rejected" | "Declined" | "Revoked"
    )
}

/// Whether an entity's messages are work for the app (queues), not the events topic's
/// subscription (read by automation, not by the app) or a dead-letter queue.
fn is_work_entity(path: &str) -> bool {
    !path.contains("/subscriptions/") && !path.to_ascii_lowercase().contains("$deadletterqueue")
}

/// A running fleet: the stack, the extra instances and the admins.
struct Fleet {
    stack: Stack,
    more: Vec<RunningHost>,
    bases: Vec<String>,
    scripts: Vec<AdminScript>,
    by_upn: HashMap<String, usize>,
    mail_seen: usize,
    client: reqwest::Client,
}

impl Fleet {
    /// Runs every instance's reconciler once through the host's admin API
    /// (`POST /admin/functions/Reconcile`), and gives it a moment to send.
    async fn reconcile(&self) {
        for base in &self.bases {
            let Ok(mut url) = url::Url::parse(base) else {
                continue;
            };
            url.set_path("/admin/functions/Reconcile");
            let sent = self
                .client
                .post(url)
                .json(&serde_json::json!({"input": ""}))
                .send()
                .await
                .and_then(reqwest::Response::error_for_status);
            if let Err(e) = sent {
                eprintln!("the reconciler of {base} could not be run: {e}");
            }
        }
        tokio::time::sleep(RECONCILE_SETTLE).await;
    }

    async fn start(options: &FleetOptions) -> anyhow::Result<Self> {
        let any: SocketAddr = ([127, 0, 0, 1], 0).into();
        let mut extra = vec![
            (
                "IMAGESHARE_IMAGE_CATALOG".to_owned(),
                catalog(options.waves()),
            ),
            (
                "AzureFunctionsJobHost__extensions__serviceBus__maxConcurrentCalls".to_owned(),
                options.max_concurrent_calls.to_string(),
            ),
        ];
        extra.extend(options.extra_settings.iter().cloned());
        let stack = Stack::start(StackOptions {
            source_root: options.source_root.clone(),
            handler_binary: options.handler_binary.clone(),
            app_dir: options.scratch.join("app"),
            listen: any,
            sim_listen: any,
            scenario: scenario(options),
            store: options.store,
            extra_settings: extra,
        })
        .await?;
        let mut more = Vec::new();
        let mut bases = vec![stack.base_url.clone()];
        for _ in 1..options.instances.max(1) {
            let host = stack.add_instance().await?;
            bases.push(format!("http://{}", host.addr()));
            more.push(host);
        }
        let scripts: Vec<AdminScript> = fleet::consumers(options.tenants)
            .iter()
            .map(|c| {
                AdminScript::new(
                    ConsumerAdmin::of(c),
                    options.pauses,
                    options
                        .seed
                        .wrapping_mul(1_000_003)
                        .wrapping_add(c.index as u64),
                )
            })
            .collect();
        let by_upn = scripts
            .iter()
            .enumerate()
            .map(|(i, s)| (s.admin().upn.to_ascii_lowercase(), i))
            .collect();
        Ok(Self {
            stack,
            more,
            bases,
            scripts,
            by_upn,
            mail_seen: 0,
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(64)
                .build()?,
        })
    }

    fn sim(&self) -> &Sim {
        &self.stack.sim
    }

    /// Submits one wave: one request per tenant, spread over the instances.
    async fn submit_wave(&self, wave: usize, count: usize) -> anyhow::Result<Vec<Submitted>> {
        let consumers = fleet::consumers(count);
        let submissions = consumers.iter().enumerate().map(|(i, c)| {
            let base = self.bases[(i + wave) % self.bases.len()].clone();
            let document = request_document(c, wave);
            let key = format!("fleet-{wave}-{}", c.index);
            let client = self.client.clone();
            async move { submit(&client, &base, &key, &document).await }
        });
        futures::future::join_all(submissions)
            .await
            .into_iter()
            .collect()
    }

    /// Reads new mail and hands it to the admins.
    fn read_mail(&mut self) {
        let mails = self
            .stack
            .sim
            .outbox_since(demo::CONTOSO_TENANT, self.mail_seen);
        self.mail_seen += mails.len();
        for mail in &mails {
            for to in &mail.to {
                if let Some(&i) = self.by_upn.get(&to.to_ascii_lowercase()) {
                    self.scripts[i].read(mail);
                }
            }
        }
    }

    /// Every admin makes the moves due now; the number made.
    async fn act(&mut self) -> usize {
        let now = self.stack.sim.now();
        let sim = &self.stack.sim;
        let transport = &self.stack.transport;
        let due = self
            .scripts
            .iter_mut()
            .filter(|s| s.next_due().is_some_and(|at| at <= now))
            .map(|s| s.act(sim, transport, now));
        futures::future::join_all(due).await.into_iter().sum()
    }

    async fn shutdown(self) -> anyhow::Result<()> {
        for host in self.more {
            host.shutdown().await.context("stopping an instance")?;
        }
        self.stack.shutdown().await
    }
}

async fn submit(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    document: &Value,
) -> anyhow::Result<Submitted> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let response = client
            .post(format!("{base}/api/share-requests"))
            .header("Idempotency-Key", key)
            .json(document)
            .send()
            .await
            .context("submitting a share request")?;
        let status = response.status().as_u16();
        if status == 202 {
            let body: Value = response.json().await?;
            let id = body["id"].as_str().unwrap_or_default().to_owned();
            return Ok(Submitted {
                status_url: format!("{base}/api/share-requests/{id}"),
                id,
            });
        }
        // The table is created at the first start; a moment's 503 says retry (same key).
        if status == 503 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(250)).await;
            continue;
        }
        bail!(
            "the submission answered {status}: {}",
            response.text().await.unwrap_or_default()
        );
    }
}

async fn status_of(client: &reqwest::Client, url: &str) -> anyhow::Result<Value> {
    let response = client.get(url).send().await.context("reading a status")?;
    response.json().await.context("a status document")
}

/// Whether a status document is finished: terminal, and its access release recorded.
fn finished(status: &Value) -> bool {
    status["state"].as_str().is_some_and(is_terminal)
        && (status["state"] != "Completed" || status["accessRelease"].is_object())
}

/// When a finished request was done: its last history entry or its access release,
/// whichever came later.
fn finished_at(status: &Value) -> Option<time::OffsetDateTime> {
    let history = status["history"]
        .as_array()
        .and_then(|h| h.iter().filter_map(|e| step_times::time_at(&e["at"])).max());
    let release = step_times::time_at(&status["accessRelease"]["at"]);
    history.max(release)
}

/// The run's simulated length: from `started` to the latest request's end. The driver sees
/// the end only when it next reads the statuses (at most every [`POLL_EVERY`] of wall time,
/// and only while nothing runs), and may have moved the clock meanwhile to messages that
/// find nothing left to do (superseded re-checks): that is not the run's time. `None`
/// when a status does not say when it ended.
fn simulated_length(started: time::OffsetDateTime, statuses: &[Value]) -> Option<Duration> {
    let mut latest = started;
    for s in statuses {
        latest = latest.max(finished_at(s)?);
    }
    Duration::try_from(latest - started).ok()
}

/// Runs the fleet to the end (every request finished) or the timeout.
pub async fn run(options: &FleetOptions) -> anyhow::Result<FleetReport> {
    let mut fleet = Fleet::start(options).await?;
    let result = drive(&mut fleet, options).await;
    if result.is_ok() {
        settle_events(fleet.sim()).await;
    }
    let instance_reports = instance_reports(&fleet);
    let report = match result {
        Ok(driven) => Ok(report::build(&fleet, options, &driven, instance_reports)),
        Err(e) => Err(e),
    };
    fleet.shutdown().await?;
    report
}

/// Waits (up to 10 s) until the events topic's subscription stops growing: a request is
/// finished once its state is written, and its last events leave its outbox just after, so
/// counting at once could miss an event that is not lost.
async fn settle_events(sim: &Sim) {
    let delivered = || -> usize {
        sim.queue_counts()
            .iter()
            .filter(|c| c.path.to_ascii_lowercase().contains("/subscriptions/"))
            .map(|c| c.active + c.scheduled + c.locked)
            .sum()
    };
    let mut last = delivered();
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = delivered();
        if now == last {
            return;
        }
        last = now;
    }
}

/// What the drive loop found.
struct Driven {
    /// The simulator's time when the first wave went out.
    started_at: time::OffsetDateTime,
    submitted: Vec<Submitted>,
    statuses: Vec<Value>,
    wall: Duration,
    /// To the latest request's end ([`simulated_length`]).
    simulated: Duration,
    /// The simulator's clock when the driver saw the end, from the start.
    clock_at_end: Duration,
    skipped: Duration,
    jumps: usize,
    peak_locked: usize,
}

fn instance_reports(fleet: &Fleet) -> Vec<InstanceReport> {
    std::iter::once(&fleet.stack.host)
        .chain(fleet.more.iter())
        .map(|h| {
            let pid = h.handler_pid();
            let (peak, end) = pid.map_or((None, None), report::memory_of);
            InstanceReport {
                addr: h.addr(),
                pid,
                rss_peak_kib: peak,
                rss_end_kib: end,
            }
        })
        .collect()
}

/// How long a quiet moment must last before the clock is moved (the host may be between a
/// receive and its lock showing, or a handler between its send and its answer).
const QUIET: Duration = Duration::from_millis(40);
/// How often the loop looks.
const TICK: Duration = Duration::from_millis(10);
/// Status polls of the unfinished requests, at most this often.
const POLL_EVERY: Duration = Duration::from_secs(3);
/// How many status documents the driver reads at once, as a client polling with a bounded
/// connection pool would. Reading all 1,000 at once had the handler hold 1,000 status requests
/// (and their table reads) together: its memory peak was the driver's, not the shares'.
const LOOKS_AT_ONCE: usize = 16;
/// The longest jump: the reconciler's period. The host's timer runs on the wall clock, so
/// after a jump this long the driver runs the reconciler of every instance itself (the
/// host's admin API), as its timer would have in that much time: a request whose chain
/// broke is found as in production, not left until a deadline the jump went past.
const IDLE_STEP: Duration = Duration::from_secs(300);
/// How long a reconciler run the driver asked for is given to show its sends.
const RECONCILE_SETTLE: Duration = Duration::from_millis(300);

async fn drive(fleet: &mut Fleet, options: &FleetOptions) -> anyhow::Result<Driven> {
    let waves = options.waves();
    let started = Instant::now();
    let sim_started = fleet.sim().now();
    fleet.sim().clear_requests();
    fleet.sim().clear_throttling();
    let mut submitted: Vec<Submitted> = Vec::new();
    let mut next_wave = 0;
    let mut skipped = Duration::ZERO;
    let mut jumps = 0;
    let mut peak_locked = 0;
    let mut quiet_since: Option<Instant> = None;
    let mut last_poll = Instant::now();
    let mut unfinished: Vec<usize> = Vec::new();
    let mut statuses: Vec<Value> = Vec::new();
    let mut last_progress = Instant::now();
    let interval = time::Duration::try_from(options.wave_interval).unwrap_or_default();
    let wave_at = |w: usize| sim_started + interval * u32::try_from(w).unwrap_or(u32::MAX);
    loop {
        if started.elapsed() > options.timeout {
            bail!(
                "the fleet did not finish within {:?}: {} of {} requests unfinished",
                options.timeout,
                unfinished
                    .len()
                    .max(options.shares.saturating_sub(submitted.len())),
                options.shares
            );
        }
        let now = fleet.sim().now();
        let mut acted = 0;
        while next_wave < waves && wave_at(next_wave) <= now {
            let count = options
                .tenants
                .min(options.shares - next_wave * options.tenants);
            let wave = fleet.submit_wave(next_wave, count).await?;
            for s in wave {
                unfinished.push(submitted.len());
                statuses.push(Value::Null);
                submitted.push(s);
            }
            next_wave += 1;
            acted += 1;
        }
        fleet.read_mail();
        acted += fleet.act().await;

        let counts = fleet.sim().queue_counts();
        let work: Vec<_> = counts.iter().filter(|c| is_work_entity(&c.path)).collect();
        let locked: usize = work.iter().map(|c| c.locked).sum();
        peak_locked = peak_locked.max(locked);
        let busy = acted > 0 || work.iter().any(|c| c.active > 0 || c.locked > 0);
        if options.progress && last_progress.elapsed() > Duration::from_secs(10) {
            last_progress = Instant::now();
            let active: usize = work.iter().map(|c| c.active).sum();
            let scheduled: usize = work.iter().map(|c| c.scheduled).sum();
            // Where the messages wait, queue by queue (visible/locked), to see which step binds.
            let by_queue: Vec<String> = work
                .iter()
                .filter(|c| c.active > 0 || c.locked > 0)
                .map(|c| format!("{} {}/{}", c.path, c.active, c.locked))
                .collect();
            eprintln!(
                "{:>7.1}s wall, {:>8.1}s simulated: {} submitted, {} unfinished at the last look; messages {active} visible, {locked} locked, {scheduled} scheduled [{}]",
                started.elapsed().as_secs_f64(),
                (fleet.sim().now() - sim_started).as_seconds_f64(),
                submitted.len(),
                unfinished.len(),
                by_queue.join(", "),
            );
        }
        if busy {
            quiet_since = None;
            tokio::time::sleep(TICK).await;
            continue;
        }
        let quiet_for = *quiet_since.get_or_insert_with(Instant::now);
        if quiet_for.elapsed() < QUIET {
            tokio::time::sleep(TICK).await;
            continue;
        }
        let now = fleet.sim().now();
        let next_message = work.iter().filter_map(|c| c.next_scheduled_at).min();
        let next_admin = fleet.scripts.iter().filter_map(AdminScript::next_due).min();
        let next_wave_at = (next_wave < waves).then(|| wave_at(next_wave));
        let target = [next_message, next_admin, next_wave_at]
            .into_iter()
            .flatten()
            .min();
        let far = target.is_none_or(|t| t - now > time::Duration::minutes(10));
        if next_wave >= waves && (far || last_poll.elapsed() > POLL_EVERY) {
            last_poll = Instant::now();
            let looks = unfinished.iter().map(|&i| {
                let client = fleet.client.clone();
                let url = submitted[i].status_url.clone();
                async move { (i, status_of(&client, &url).await) }
            });
            let mut still = Vec::new();
            let read: Vec<_> = futures::stream::iter(looks)
                .buffer_unordered(LOOKS_AT_ONCE)
                .collect()
                .await;
            for (i, status) in read {
                match status {
                    Ok(s) if finished(&s) => statuses[i] = s,
                    Ok(s) => {
                        statuses[i] = s;
                        still.push(i);
                    }
                    Err(_) => still.push(i),
                }
            }
            unfinished = still;
            if unfinished.is_empty() {
                break;
            }
        }
        if options.clock == ClockMode::Real {
            tokio::time::sleep(TICK).await;
            continue;
        }
        let longest = time::Duration::try_from(IDLE_STEP).unwrap_or_default();
        let (step, a_period) = match target {
            Some(t) if t > now && t - now <= longest => (t - now, false),
            Some(t) if t > now => (longest, true),
            Some(_) => {
                tokio::time::sleep(TICK).await;
                continue;
            }
            None => (longest, true),
        };
        let step = Duration::try_from(step).unwrap_or_default() + Duration::from_millis(5);
        fleet.sim().advance_clock(step);
        skipped += step;
        jumps += 1;
        if a_period {
            fleet.reconcile().await;
        }
        quiet_since = None;
    }
    let clock_at_end = Duration::try_from(fleet.sim().now() - sim_started).unwrap_or_default();
    let simulated = simulated_length(sim_started, &statuses).unwrap_or(clock_at_end);
    Ok(Driven {
        started_at: sim_started,
        submitted,
        statuses,
        wall: started.elapsed(),
        simulated,
        clock_at_end,
        skipped,
        jumps,
        peak_locked,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::macros::datetime;

    use super::*;

    #[test]
    fn the_simulated_length_ends_at_the_latest_requests_end_not_when_the_driver_looked() {
        let t0 = datetime!(2026-12-07 08:00:00 UTC);
        let statuses = [
            json!({"history": [{"at": "2026-12-07T08:00:01Z"}, {"at": "2026-12-07T08:03:00Z"}],
                   "accessRelease": {"at": "2026-12-07T08:03:05Z"}}),
            json!({"history": [{"at": "2026-12-07T08:02:00Z"}], "state": "Failed"}),
        ];
        assert_eq!(
            simulated_length(t0, &statuses),
            Some(Duration::from_secs(185))
        );
        assert_eq!(
            simulated_length(t0, &[json!({"state": "Completed"})]),
            None,
            "a status without times says nothing"
        );
    }
}
