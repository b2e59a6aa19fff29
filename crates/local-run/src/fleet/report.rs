//! What a fleet run measured, and how it prints: calls by service against the API minimum,
//! the throttling bound of every bucket, 429s, memory, events and the duplicate counts.

use std::{
    collections::{BTreeMap, HashMap},
    net::SocketAddr,
    time::Duration,
};

use azure_sim::{
    RequestRecord, Scenario, Sim,
    scenario::{Bucket, demo, fleet},
};

use super::{
    Driven, Fleet, FleetOptions,
    chain::{ChainBound, Pauses, PutWindow, chain_bound},
    finished, is_terminal,
    lags::{Lags, lags},
    scenario,
    step_times::{StepTimes, step_times},
};
use crate::{admin::AdminCounts, demo::operation};

/// Which Azure service a simulator request was for, from the handler's side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Service {
    /// Microsoft Graph.
    Graph,
    /// Resource Manager.
    Arm,
    /// Entra tokens (token endpoint, managed identity) and discovery.
    Entra,
    /// Key Vault.
    KeyVault,
    /// Service Bus (steps, re-checks, events and the hosts' receives).
    ServiceBus,
    /// The admin's browser on Entra's consent pages (not the handler's).
    AdminBrowser,
    /// The simulator's own admin API.
    Simulator,
}

impl Service {
    /// The service of a logged request.
    pub fn of(record: &RequestRecord) -> Self {
        let host = record.host.as_str();
        let path = record.path_and_query.as_str();
        if host.starts_with("_sim") {
            Self::Simulator
        } else if host == "_identity" {
            Self::Entra
        } else if host == "graph.microsoft.com" {
            Self::Graph
        } else if host == "management.azure.com" {
            Self::Arm
        } else if host.ends_with(".vault.azure.net") {
            Self::KeyVault
        } else if host.ends_with(".servicebus.windows.net") {
            Self::ServiceBus
        } else if host == "login.microsoftonline.com"
            && (path.contains("/oauth2/v2.0/token") || path.contains("/.well-known/"))
        {
            Self::Entra
        } else {
            Self::AdminBrowser
        }
    }

    /// Its name in the report.
    pub fn name(self) -> &'static str {
        match self {
            Self::Graph => "Graph",
            Self::Arm => "Resource Manager",
            Self::Entra => "Entra tokens",
            Self::KeyVault => "Key Vault",
            Self::ServiceBus => "Service Bus",
            Self::AdminBrowser => "admin's browser",
            Self::Simulator => "simulator",
        }
    }

    /// The services the handler calls in Azure (what "Azure calls per share" counts).
    pub const AZURE: [Self; 4] = [Self::Graph, Self::Arm, Self::Entra, Self::KeyVault];
}

/// The least Azure calls an app-consent share needs, by service, as the README's table lists
/// them call by call (federated credential, the default release of the tenant's credential
/// when its last request ends, the simulator's recorded long-running operations).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ApiMinimum {
    /// Microsoft Graph.
    pub graph: f64,
    /// Resource Manager.
    pub arm: f64,
    /// Entra tokens and discovery.
    pub entra: f64,
    /// Key Vault.
    pub key_vault: f64,
}

impl ApiMinimum {
    /// Per share, for `per_tenant` shares of each tenant in flight together on `instances`
    /// instances: what every share needs, plus what a tenant needs once (its app, its
    /// consent, its credential while its requests run), spread over its shares.
    pub fn app_consent(per_tenant: f64, instances: usize) -> Self {
        let spread = |n: f64| n / per_tenant.max(1.0);
        // One token per instance per (app, tenant): the consumer's ARM token and the owner's
        // (the auxiliary token, and the image read).
        let tokens = 2.0 * instances.max(1) as f64;
        Self {
            // Every share: sendMail. Once per tenant: the app (PATCH, 201), its service
            // principal (PATCH, 201), the federated credential (POST) and its removal when
            // the tenant's last request ends (DELETE).
            graph: 1.0 + spread(4.0),
            // Every share: the image version GET; the VM GET before anything is built (a
            // VM of that name that is someone else's ends the request before a network is
            // made for it); NSG and VNet GET, PUT and 2 operation polls each; NIC GET, PUT,
            // 1 poll; VM PUT (If-None-Match: *) and 4 polls. Once per tenant: the
            // subscription GET, the image definition GET, Reader PUT on the image
            // definition; once per tenant and instance: the permissions GET that finds the
            // grant (it serves the tenant's other requests there for 5 minutes).
            arm: 1.0 + 1.0 + 4.0 + 4.0 + 3.0 + 5.0 + spread(3.0 + instances.max(1) as f64),
            // Once per tenant: the OpenID configuration (the tenant exists) and the tokens.
            entra: spread(1.0 + tokens),
            key_vault: 0.0,
        }
    }

    /// The minimum for `service` (Service Bus and the others: none).
    pub fn of(&self, service: Service) -> f64 {
        match service {
            Service::Graph => self.graph,
            Service::Arm => self.arm,
            Service::Entra => self.entra,
            Service::KeyVault => self.key_vault,
            Service::ServiceBus | Service::AdminBrowser | Service::Simulator => 0.0,
        }
    }

    /// All Azure calls.
    pub fn total(&self) -> f64 {
        self.graph + self.arm + self.entra + self.key_vault
    }
}

/// The throttling bound of one bucket: `(needed - size) / refill` seconds for a token bucket;
/// `(ceil(needed / size) - 1) * window` for a limit per sliding window (Compute's `PutVM3Min`:
/// 240 in any 3 minutes, so the 241st waits until the first is 3 minutes old).
#[derive(Clone, Debug, PartialEq)]
pub struct BucketBound {
    /// Which bucket.
    pub name: String,
    /// Requests that drew on it.
    pub needed: u64,
    /// Its size.
    pub size: u64,
    /// Its refill per second.
    pub refill_per_second: f64,
    /// For a limit per sliding window, the window in seconds.
    pub window_seconds: Option<u64>,
}

impl BucketBound {
    /// The least time these requests take at this bucket's rate, in seconds.
    pub fn seconds(&self) -> f64 {
        if let Some(window) = self.window_seconds {
            let windows = self.needed.div_ceil(self.size.max(1)).saturating_sub(1);
            return (windows * window) as f64;
        }
        (self.needed.saturating_sub(self.size) as f64 / self.refill_per_second).max(0.0)
    }

    /// `max(0, (needed - size) / refill)` with the figures.
    pub fn formula(&self) -> String {
        if let Some(window) = self.window_seconds {
            return format!(
                "(ceil({} / {}) - 1) x {window} s = {:.1} s",
                self.needed,
                self.size,
                self.seconds()
            );
        }
        format!(
            "max(0, ({} - {}) / {:.2}/s) = {:.1} s",
            self.needed,
            self.size,
            self.refill_per_second,
            self.seconds()
        )
    }
}

/// What one instance used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceReport {
    /// Its address.
    pub addr: SocketAddr,
    /// Its handler's process id.
    pub pid: Option<u32>,
    /// The handler's peak resident memory (`VmHWM`), KiB.
    pub rss_peak_kib: Option<u64>,
    /// Its resident memory at the end (`VmRSS`), KiB.
    pub rss_end_kib: Option<u64>,
}

/// Counts proving nothing was made twice.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Duplicates {
    /// Consumer tenants with exactly one share app of this deployment.
    pub tenants_with_one_app: usize,
    /// Consumer tenants with more than one.
    pub tenants_with_more_apps: usize,
    /// Service principals of the share apps, per (app, tenant): the most found for any.
    pub most_service_principals_per_app_and_tenant: usize,
    /// Reader assignments on the image definition, per share app: the most found for any.
    pub most_readers_per_app: usize,
    /// Share apps with exactly one Reader assignment.
    pub apps_with_one_reader: usize,
    /// Contributor assignments per share app: the most found (the admin grants once).
    pub most_contributors_per_app: usize,
    /// VMs in the consumers' resource groups.
    pub vms: usize,
    /// VM names (resource group + name) found more than once.
    pub vms_twice: usize,
    /// Completed requests whose VM does not exist.
    pub completed_without_vm: usize,
    /// Approval mails sent (one per request is right).
    pub approval_mails: usize,
}

/// Events and state changes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Events {
    /// History entries of every request (each is one event).
    pub history_entries: usize,
    /// Of those, transitions (the state changed).
    pub transitions: usize,
    /// Sends to the events topic the simulator accepted (a repeat is dropped by duplicate
    /// detection but still counted here).
    pub published: usize,
    /// Events delivered to the topic's subscription (after duplicate detection).
    pub delivered: usize,
}

/// 429s and `Retry-After`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Throttled {
    /// By service (`arm`, `compute`, `graph`): (429s answered, next request on the same
    /// bucket sooner than `Retry-After`).
    pub by_service: BTreeMap<String, (u64, u64)>,
    /// 429s in the request log, by host.
    pub logged: BTreeMap<String, usize>,
}

impl Throttled {
    /// All 429s answered by the throttling models.
    pub fn total(&self) -> u64 {
        self.by_service.values().map(|(n, _)| n).sum()
    }

    /// 429s whose `Retry-After` was not honoured.
    pub fn early(&self) -> u64 {
        self.by_service.values().map(|(_, e)| e).sum()
    }
}

/// What a fleet run measured.
#[derive(Clone, Debug)]
pub struct FleetReport {
    /// Shares asked for.
    pub shares: usize,
    /// Tenants.
    pub tenants: usize,
    /// Instances.
    pub instances: usize,
    /// `maxConcurrentCalls`.
    pub max_concurrent_calls: usize,
    /// Requests submitted.
    pub submitted: usize,
    /// Final states, counted.
    pub states: BTreeMap<String, usize>,
    /// The failures (id, state, reason).
    pub failures: Vec<(String, String, String)>,
    /// Requests not in a terminal state, or whose access release is not done.
    pub still_active: usize,
    /// Wall time from the first submission to the end.
    pub wall: Duration,
    /// Simulated time from the first submission to the end.
    pub simulated: Duration,
    /// The simulator's clock when the driver saw the end, from the start.
    pub clock_at_end: Duration,
    /// Of that, what the driver skipped.
    pub skipped: Duration,
    /// The driver's jumps.
    pub jumps: usize,
    /// Throttling bounds per bucket, for the requests the run made.
    pub bounds: Vec<BucketBound>,
    /// The same for the requests the API minimum makes.
    pub minimum_bounds: Vec<BucketBound>,
    /// The least time the admins' pauses and the fastest VM build allow (`fleet::chain`).
    pub chain: Option<ChainBound>,
    /// Each step's span across the requests (`fleet::step_times`).
    pub step_times: Vec<StepTimes>,
    /// Where the requests spent their time above their chains (`fleet::lags`).
    pub lags: Option<Lags>,
    /// Calls by service.
    pub calls: BTreeMap<Service, usize>,
    /// Azure calls by operation (method, host, folded path).
    pub operations: BTreeMap<String, usize>,
    /// The API minimum per share.
    pub minimum: ApiMinimum,
    /// Throttling.
    pub throttled: Throttled,
    /// Per instance.
    pub instance_reports: Vec<InstanceReport>,
    /// The most Service Bus messages locked at once across instances (invocations running).
    pub peak_locked: usize,
    /// Events.
    pub events: Events,
    /// Duplicates.
    pub duplicates: Duplicates,
    /// The admins, summed.
    pub admins: AdminCounts,
    /// The admins' first errors.
    pub admin_errors: Vec<String>,
}

impl FleetReport {
    /// Completed requests.
    pub fn completed(&self) -> usize {
        self.states.get("Completed").copied().unwrap_or(0)
    }

    /// Requests in a terminal state other than Completed.
    pub fn failed(&self) -> usize {
        self.states
            .iter()
            .filter(|(s, _)| s.as_str() != "Completed" && is_terminal(s))
            .map(|(_, n)| n)
            .sum()
    }

    /// The throttling bound: the largest of the buckets' bounds, in seconds.
    pub fn throttling_bound(&self) -> f64 {
        largest(&self.bounds)
    }

    /// The throttling bound of the API minimum's requests, in seconds.
    pub fn minimum_throttling_bound(&self) -> f64 {
        largest(&self.minimum_bounds)
    }

    /// Calls per share of `service`.
    pub fn per_share(&self, service: Service) -> f64 {
        self.calls.get(&service).copied().unwrap_or(0) as f64 / self.submitted.max(1) as f64
    }

    /// All Azure calls (Graph, ARM, Entra, Key Vault) per share.
    pub fn azure_per_share(&self) -> f64 {
        Service::AZURE.iter().map(|s| self.per_share(*s)).sum()
    }

    /// The report as printed.
    pub fn render(&self) -> String {
        let mut out = Vec::<String>::new();
        out.push(format!(
            "fleet: {} shares for {} tenants ({} waves) on {} instances, maxConcurrentCalls {}",
            self.submitted,
            self.tenants,
            self.submitted.div_ceil(self.tenants.max(1)),
            self.instances,
            self.max_concurrent_calls
        ));
        out.push(format!(
            "requests: {} completed, {} failed, {} still active ({})",
            self.completed(),
            self.failed(),
            self.still_active,
            self.states
                .iter()
                .map(|(s, n)| format!("{s} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        for (id, state, reason) in self.failures.iter().take(5) {
            out.push(format!("  {state} {id}: {reason}"));
        }
        let bound = self.throttling_bound();
        out.push(format!(
            "time: wall {:.1} s, simulated {:.1} s to the latest request's end (the clock at {:.1} s when the driver saw it; {:.1} s skipped by the driver in {} jumps)",
            self.wall.as_secs_f64(),
            self.simulated.as_secs_f64(),
            self.clock_at_end.as_secs_f64(),
            self.skipped.as_secs_f64(),
            self.jumps
        ));
        out.push(format!(
            "throttling bound: {bound:.1} s = the largest over buckets of max(0, (requests - bucket size) / refill per second); wall / bound = {}, simulated / bound = {}",
            ratio(self.wall.as_secs_f64(), bound),
            ratio(self.simulated.as_secs_f64(), bound)
        ));
        for b in &self.bounds {
            out.push(format!("  {:<66} {}", b.name, b.formula()));
        }
        if let Some(chain) = &self.chain {
            out.push(format!(
                "chain bound: {:.1} s = the latest request's admin pauses from its submission (with {} s for a grant to apply) plus the fastest VM build of the run ({:.1} s), over {} completed requests",
                chain.seconds, chain.applies_seconds, chain.build_seconds, chain.requests
            ));
            let mut least = chain.seconds.max(bound);
            let mut of = "max(throttling bound, chain bound)";
            if let Some(windowed) = chain.with_put_window {
                let limit = put_vm_window();
                out.push(format!(
                    "chain bound with PutVM3Min: {windowed:.1} s = each subscription's VM PUTs in the order their chains allow, as early as {} in any {} s allow, each with the fastest build's tail after it",
                    limit.size,
                    limit.window.as_secs()
                ));
                least = least.max(windowed);
                of = "max(throttling bound, chain bound, chain bound with PutVM3Min)";
            }
            out.push(format!(
                "least time = {of} = {least:.1} s; simulated / least = {}, wall / least = {}",
                ratio(self.simulated.as_secs_f64(), least),
                ratio(self.wall.as_secs_f64(), least)
            ));
        }
        let busiest = self
            .minimum_bounds
            .iter()
            .max_by(|a, b| {
                a.seconds()
                    .total_cmp(&b.seconds())
                    .then(a.needed.cmp(&b.needed))
            })
            .map_or_else(String::new, |b| format!("{} {}", b.name, b.formula()));
        out.push(format!(
            "  at the API minimum's requests the bound is {:.1} s (busiest: {busiest})",
            self.minimum_throttling_bound()
        ));
        out.push(
            "step spans, first message to result (median / 90th percentile / longest, and runs per request):"
                .to_owned(),
        );
        for t in &self.step_times {
            out.push(format!(
                "  {:<22} {:>5} finished  {:>7.1} / {:>7.1} / {:>7.1} s  {:>5.1} runs",
                t.step, t.finished, t.median, t.p90, t.max, t.mean_runs
            ));
        }
        if let Some(lags) = &self.lags {
            out.extend(lags.render());
        }
        out.push(format!(
            "Azure calls per share: {:.2} (API minimum {:.2}, ratio {:.2})",
            self.azure_per_share(),
            self.minimum.total(),
            self.azure_per_share() / self.minimum.total()
        ));
        for service in Service::AZURE {
            out.push(format!(
                "  {:<18} {:>8.2}  minimum {:>6.2}  ({} calls)",
                service.name(),
                self.per_share(service),
                self.minimum.of(service),
                self.calls.get(&service).copied().unwrap_or(0)
            ));
        }
        for service in [Service::ServiceBus, Service::AdminBrowser] {
            out.push(format!(
                "  {:<18} {:>8.2}  (not Azure calls of the handler: {} in all)",
                service.name(),
                self.per_share(service),
                self.calls.get(&service).copied().unwrap_or(0)
            ));
        }
        out.push(format!(
            "429s: {} from the throttling models, {} followed on their bucket sooner than Retry-After ({})",
            self.throttled.total(),
            self.throttled.early(),
            self.throttled
                .by_service
                .iter()
                .map(|(s, (n, e))| format!("{s} {n}, {e} early"))
                .collect::<Vec<_>>()
                .join("; ")
        ));
        for i in &self.instance_reports {
            out.push(format!(
                "instance {}: handler pid {}, RSS peak {} (VmHWM), at the end {}",
                i.addr,
                i.pid.map_or_else(|| "-".to_owned(), |p| p.to_string()),
                mib(i.rss_peak_kib),
                mib(i.rss_end_kib)
            ));
        }
        out.push(format!(
            "concurrency: at most {} step invocations at once across instances (messages locked)",
            self.peak_locked
        ));
        out.push(format!(
            "events: {} published ({} delivered after duplicate detection) for {} history entries ({} state transitions)",
            self.events.published,
            self.events.delivered,
            self.events.history_entries,
            self.events.transitions
        ));
        let d = &self.duplicates;
        out.push(format!(
            "duplicates: {} tenants with one app ({} with more); at most {} service principal(s) per app and tenant; {} apps with one Reader (at most {} per app); at most {} Contributor grant(s) per app; {} VMs for {} completed requests ({} names twice, {} completed without a VM); {} approval mails",
            d.tenants_with_one_app,
            d.tenants_with_more_apps,
            d.most_service_principals_per_app_and_tenant,
            d.apps_with_one_reader,
            d.most_readers_per_app,
            d.most_contributors_per_app,
            d.vms,
            self.completed(),
            d.vms_twice,
            d.completed_without_vm,
            d.approval_mails
        ));
        out.push(format!(
            "admins: {} approvals ({} through Microsoft's consent page), {} Contributor grants, {} failed moves, {} approval pages reloaded after 503",
            self.admins.approved, self.admins.consented, self.admins.granted, self.admins.failed, self.admins.reloaded
        ));
        for e in self.admin_errors.iter().take(3) {
            out.push(format!("  {e}"));
        }
        let mut text = out.join("\n");
        text.push('\n');
        text
    }

    /// The busiest Azure operations, as `count  per-share  METHOD host/path`.
    pub fn render_operations(&self, top: usize) -> String {
        let mut ops: Vec<(&String, &usize)> = self.operations.iter().collect();
        ops.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        ops.iter()
            .take(top)
            .map(|(op, n)| {
                format!(
                    "{n:>7}  {:>6.2}/share  {op}\n",
                    **n as f64 / self.submitted.max(1) as f64
                )
            })
            .collect()
    }
}

fn largest(bounds: &[BucketBound]) -> f64 {
    bounds.iter().map(BucketBound::seconds).fold(0.0, f64::max)
}

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 {
        format!("{:.2}", a / b)
    } else {
        "- (the bound is 0: no budget is exceeded)".to_owned()
    }
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(
        || "-".to_owned(),
        |k| format!("{:.1} MiB", k as f64 / 1024.0),
    )
}

/// `VmHWM` and `VmRSS` of a process, KiB.
pub(super) fn memory_of(pid: u32) -> (Option<u64>, Option<u64>) {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return (None, None);
    };
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// Builds the report from the run's statuses, the simulator's request log, its throttling
/// counters and its state.
/// Compute's `PutVM3Min` as the simulator models it: so many VM PUTs in any 3 minutes.
fn put_vm_window() -> PutWindow {
    let (_, per_3_minutes, _) = azure_sim::arm::throttle::PUT_VM;
    PutWindow {
        size: per_3_minutes as usize,
        window: Duration::from_secs(180),
    }
}

pub(super) fn build(
    fleet: &Fleet,
    options: &FleetOptions,
    driven: &Driven,
    instance_reports: Vec<InstanceReport>,
) -> FleetReport {
    let sim = fleet.sim();
    let mut states = BTreeMap::<String, usize>::new();
    let mut failures = Vec::new();
    let mut still_active = 0;
    let mut events = Events::default();
    for (s, status) in driven.submitted.iter().zip(&driven.statuses) {
        let state = status["state"].as_str().unwrap_or("unknown").to_owned();
        if !finished(status) {
            still_active += 1;
        }
        if is_terminal(&state) && state != "Completed" {
            failures.push((
                s.id.clone(),
                state.clone(),
                status["failure"]
                    .as_str()
                    .unwrap_or("no reason given")
                    .to_owned(),
            ));
        }
        *states.entry(state).or_default() += 1;
        if let Some(history) = status["history"].as_array() {
            events.history_entries += history.len();
            let mut previous: Option<&serde_json::Value> = None;
            for entry in history {
                if previous.is_none_or(|p| p["state"] != entry["state"]) {
                    events.transitions += 1;
                }
                previous = Some(entry);
            }
        }
    }
    let records = sim.requests();
    let mut calls = BTreeMap::<Service, usize>::new();
    let mut operations = BTreeMap::<String, usize>::new();
    let mut throttled = Throttled::default();
    for r in &records {
        let service = Service::of(r);
        *calls.entry(service).or_default() += 1;
        if Service::AZURE.contains(&service) {
            *operations
                .entry(operation(
                    &r.method,
                    &r.host,
                    &fold_names(&r.path_and_query),
                ))
                .or_default() += 1;
        }
        if r.status == 429 {
            *throttled.logged.entry(r.host.clone()).or_default() += 1;
        }
        if service == Service::ServiceBus
            && r.method == "POST"
            && r.status == 201
            && r.path_and_query.contains("/share-events/messages")
        {
            events.published += 1;
        }
    }
    for (service, counts) in &sim.throttling().services {
        throttled.by_service.insert(
            (*service).to_owned(),
            (counts.throttled, counts.retried_early),
        );
    }
    events.delivered = sim
        .queue_counts()
        .iter()
        .filter(|c| {
            c.path
                .to_ascii_lowercase()
                .ends_with("share-events/subscriptions/all")
        })
        .map(|c| c.active + c.scheduled + c.locked)
        .sum();
    let duplicates = duplicates(sim, options, driven);
    let mut admins = AdminCounts::default();
    let mut admin_errors = Vec::new();
    for s in &fleet.scripts {
        let c = s.counts();
        admins.approved += c.approved;
        admins.consented += c.consented;
        admins.granted += c.granted;
        admins.failed += c.failed;
        admins.reloaded += c.reloaded;
        admin_errors.extend(s.errors().iter().take(1).cloned());
    }
    let pauses: Vec<Pauses> = fleet
        .scripts
        .iter()
        .map(|s| {
            let (approve, grant) = s.pauses_taken();
            let seconds = |d: time::Duration| Duration::try_from(d).unwrap_or_default();
            Pauses {
                tenant: s.admin().tenant.clone(),
                approve: approve
                    .iter()
                    .map(|(r, d)| (r.clone(), seconds(*d)))
                    .collect(),
                grant: grant.map(seconds),
                granted_at: s.granted_at(),
            }
        })
        .collect();
    let scenario = scenario(options);
    let applies = Duration::from_secs(u64::from(scenario.replication.role_assignment_seconds));
    let chain = chain_bound(
        driven.started_at,
        &driven.statuses,
        &pauses,
        applies,
        Some(put_vm_window()),
    );
    let per_tenant = driven.submitted.len() as f64 / options.tenants.max(1) as f64;
    FleetReport {
        shares: options.shares,
        tenants: options.tenants,
        instances: options.instances,
        max_concurrent_calls: options.max_concurrent_calls,
        submitted: driven.submitted.len(),
        states,
        failures,
        still_active,
        wall: driven.wall,
        simulated: driven.simulated,
        clock_at_end: driven.clock_at_end,
        skipped: driven.skipped,
        jumps: driven.jumps,
        bounds: bounds(&scenario, options, &records),
        minimum_bounds: minimum_bounds(&scenario, options, per_tenant),
        chain,
        step_times: step_times(&driven.statuses),
        lags: lags(driven.started_at, &driven.statuses, &pauses, applies),
        calls,
        operations,
        minimum: ApiMinimum::app_consent(per_tenant, options.instances),
        throttled,
        instance_reports,
        peak_locked: driven.peak_locked,
        events,
        duplicates,
        admins,
        admin_errors,
    }
}

/// A path with the names that differ per tenant or per request folded: resource groups, the
/// request's VM and network names (`vm-w000`, `vm-w000-nic`, ...), image versions.
fn fold_names(path_and_query: &str) -> String {
    let path = path_and_query.split('?').next().unwrap_or_default();
    let segments: Vec<&str> = path.split('/').collect();
    let folded: Vec<String> = segments
        .iter()
        .enumerate()
        .map(|(i, segment)| {
            let previous = i.checked_sub(1).and_then(|p| segments.get(p)).copied();
            match previous {
                Some(p) if p.eq_ignore_ascii_case("resourceGroups") => "{rg}".to_owned(),
                Some("versions") => "{version}".to_owned(),
                _ if segment.starts_with("vm-w") => match segment.rsplit_once('-') {
                    Some((_, kind)) if !kind.starts_with('w') => format!("{{vm}}-{kind}"),
                    _ => "{vm}".to_owned(),
                },
                _ => (*segment).to_owned(),
            }
        })
        .collect();
    folded.join("/")
}

/// The subscription an ARM path is in.
fn subscription_of(path: &str) -> Option<&str> {
    let mut parts = path.split('?').next()?.trim_start_matches('/').split('/');
    match (parts.next(), parts.next()) {
        (Some(s), Some(id)) if s.eq_ignore_ascii_case("subscriptions") => Some(id),
        _ => None,
    }
}

/// The throttling bound of every bucket the run drew on: Resource Manager's writes and reads
/// per principal and subscription (the owner's subscription is written by the operator identity
/// alone and read by the share apps; each consumer's by its tenant's app), Compute's VM PUTs per
/// subscription, Graph's writes and resource units per application + tenant (the operator in
/// the owner's tenant). Counts come from the request log; operation polls are reads; a 429 took
/// no token.
fn bounds(
    scenario: &Scenario,
    options: &FleetOptions,
    records: &[RequestRecord],
) -> Vec<BucketBound> {
    let arm = scenario.arm.regional_throttling.unwrap_or_default();
    let graph = scenario.graph_identity_throttling.unwrap_or_default();
    let owner = demo::CONTOSO_SUBSCRIPTION;
    let mut owner_writes = 0u64;
    let mut owner_reads = 0u64;
    let mut consumer_writes = HashMap::<String, u64>::new();
    let mut consumer_reads = HashMap::<String, u64>::new();
    let mut vm_puts = HashMap::<String, u64>::new();
    let mut graph_writes = 0u64;
    let mut graph_reads = 0u64;
    for r in records.iter().filter(|r| r.status != 429) {
        match Service::of(r) {
            Service::Arm => {
                let Some(sub) = subscription_of(&r.path_and_query) else {
                    continue;
                };
                let write = matches!(r.method.as_str(), "PUT" | "PATCH" | "POST");
                let read = r.method == "GET";
                if sub.eq_ignore_ascii_case(owner) {
                    owner_writes += u64::from(write);
                    owner_reads += u64::from(read);
                } else {
                    *consumer_writes.entry(sub.to_owned()).or_default() += u64::from(write);
                    *consumer_reads.entry(sub.to_owned()).or_default() += u64::from(read);
                    if r.method == "PUT"
                        && r.path_and_query
                            .contains("/Microsoft.Compute/virtualMachines/")
                    {
                        *vm_puts.entry(sub.to_owned()).or_default() += 1;
                    }
                }
            }
            Service::Graph if r.path_and_query.contains("/sendMail") => {}
            Service::Graph => {
                let write = matches!(r.method.as_str(), "POST" | "PATCH" | "PUT" | "DELETE");
                graph_writes += u64::from(write);
                graph_reads += u64::from(!write);
            }
            _ => {}
        }
    }
    let bucket = |name: String, needed: u64, b: Bucket| BucketBound {
        name,
        needed,
        size: u64::from(b.bucket),
        refill_per_second: f64::from(b.refill_per_second),
        window_seconds: None,
    };
    let busiest = |m: &HashMap<String, u64>| m.values().copied().max().unwrap_or(0);
    let tenants = options.tenants.max(1);
    let per_second = |units: u32, window: u32| f64::from(units) / f64::from(window.max(1));
    let resource_units = graph.app_tenant_resource_units.unwrap_or(3_500);
    vec![
        bucket(
            "ARM writes, operator identity @ owner subscription".to_owned(),
            owner_writes,
            arm.writes,
        ),
        bucket(
            format!("ARM reads, {tenants} share apps @ owner subscription (each)"),
            owner_reads.div_ceil(tenants as u64),
            arm.reads,
        ),
        bucket(
            "ARM writes, share app @ its consumer subscription (busiest)".to_owned(),
            busiest(&consumer_writes),
            arm.writes,
        ),
        bucket(
            "ARM reads, share app @ its consumer subscription (busiest)".to_owned(),
            busiest(&consumer_reads),
            arm.reads,
        ),
        BucketBound {
            name: "Compute PutVM3Min @ consumer subscription (busiest)".to_owned(),
            needed: busiest(&vm_puts),
            size: 240,
            refill_per_second: 240.0 / 180.0,
            window_seconds: Some(180),
        },
        BucketBound {
            name: "Graph writes, operator + owner tenant".to_owned(),
            needed: graph_writes,
            size: u64::from(graph.app_tenant_writes.units),
            refill_per_second: per_second(
                graph.app_tenant_writes.units,
                graph.app_tenant_writes.window_seconds,
            ),
            window_seconds: None,
        },
        BucketBound {
            name: "Graph resource units (reads, >= 1 each), operator + owner tenant".to_owned(),
            needed: graph_reads,
            size: u64::from(resource_units),
            refill_per_second: per_second(
                resource_units,
                graph.app_tenant_resource_unit_window_seconds,
            ),
            window_seconds: None,
        },
    ]
}

/// The buckets' bounds for the API minimum's requests (README, "Performance").
fn minimum_bounds(
    scenario: &Scenario,
    options: &FleetOptions,
    per_tenant: f64,
) -> Vec<BucketBound> {
    let arm = scenario.arm.regional_throttling.unwrap_or_default();
    let graph = scenario.graph_identity_throttling.unwrap_or_default();
    let tenants = options.tenants as u64;
    // A whole number of shares per tenant.
    let per_tenant = per_tenant.ceil().max(0.0) as u64;
    let bucket = |name: &str, needed: u64, b: Bucket| BucketBound {
        name: name.to_owned(),
        needed,
        size: u64::from(b.bucket),
        refill_per_second: f64::from(b.refill_per_second),
        window_seconds: None,
    };
    vec![
        bucket(
            "ARM writes, operator identity @ owner subscription",
            tenants,
            arm.writes,
        ),
        bucket(
            "ARM reads, share app @ owner subscription",
            per_tenant + 1,
            arm.reads,
        ),
        bucket(
            "ARM writes, share app @ its consumer subscription",
            4 * per_tenant,
            arm.writes,
        ),
        bucket(
            "ARM reads, share app @ its consumer subscription",
            13 * per_tenant + 1 + options.instances.max(1) as u64,
            arm.reads,
        ),
        BucketBound {
            name: "Compute PutVM3Min @ consumer subscription".to_owned(),
            needed: per_tenant,
            size: 240,
            refill_per_second: 240.0 / 180.0,
            window_seconds: Some(180),
        },
        BucketBound {
            name: "Graph writes, operator + owner tenant".to_owned(),
            needed: 4 * tenants,
            size: u64::from(graph.app_tenant_writes.units),
            refill_per_second: f64::from(graph.app_tenant_writes.units)
                / f64::from(graph.app_tenant_writes.window_seconds.max(1)),
            window_seconds: None,
        },
    ]
}

fn duplicates(sim: &Sim, options: &FleetOptions, driven: &Driven) -> Duplicates {
    let state = sim.state();
    let mut d = Duplicates::default();
    let mut app_ids = Vec::new();
    for c in &fleet::consumers(options.tenants) {
        let name = format!("imageshare-{}", c.tenant);
        let apps: Vec<_> = state
            .applications
            .iter()
            .filter(|a| a.unique_name.as_deref() == Some(name.as_str()))
            .collect();
        match apps.len() {
            0 => {}
            1 => d.tenants_with_one_app += 1,
            _ => d.tenants_with_more_apps += 1,
        }
        app_ids.extend(apps.iter().map(|a| (a.app_id.clone(), c.tenant.clone())));
    }
    for (app_id, tenant) in &app_ids {
        for t in [demo::CONTOSO_TENANT, tenant.as_str()] {
            let n = state
                .service_principals
                .iter()
                .filter(|s| &s.app_id == app_id && s.tenant.eq_ignore_ascii_case(t))
                .count();
            d.most_service_principals_per_app_and_tenant =
                d.most_service_principals_per_app_and_tenant.max(n);
        }
        let principals: Vec<&str> = state
            .service_principals
            .iter()
            .filter(|s| &s.app_id == app_id)
            .map(|s| s.id.as_str())
            .collect();
        let readers = state
            .role_assignments
            .iter()
            .filter(|r| {
                principals.contains(&r.principal_id.as_str())
                    && r.role_name == "Reader"
                    && r.scope.eq_ignore_ascii_case(demo::IMAGE_DEFINITION_ID)
            })
            .count();
        d.most_readers_per_app = d.most_readers_per_app.max(readers);
        d.apps_with_one_reader += usize::from(readers == 1);
        let contributors = state
            .role_assignments
            .iter()
            .filter(|r| {
                principals.contains(&r.principal_id.as_str()) && r.role_name == "Contributor"
            })
            .count();
        d.most_contributors_per_app = d.most_contributors_per_app.max(contributors);
    }
    let vms = state.resources_of_type("Microsoft.Compute/virtualMachines");
    d.vms = vms.len();
    let mut names = HashMap::<String, usize>::new();
    for vm in &vms {
        *names.entry(vm.id.to_ascii_lowercase()).or_default() += 1;
    }
    d.vms_twice = names.values().filter(|n| **n > 1).count();
    d.completed_without_vm = driven
        .statuses
        .iter()
        .filter(|s| s["state"] == "Completed")
        .filter(|s| {
            let vm = s["vm"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_ascii_lowercase();
            !names.contains_key(&vm)
        })
        .count();
    d.approval_mails = sim
        .outbox(demo::CONTOSO_TENANT)
        .iter()
        .filter(|m| m.content.contains("/api/approval?"))
        .count();
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_request_names_are_folded_so_calls_of_one_kind_count_together() {
        assert_eq!(
            fold_names(
                "/subscriptions/s/resourceGroups/rg-consumer001-vms/providers/Microsoft.Network/networkInterfaces/vm-w003-nic?api-version=1"
            ),
            "/subscriptions/s/resourceGroups/{rg}/providers/Microsoft.Network/networkInterfaces/{vm}-nic"
        );
        assert_eq!(
            fold_names(
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm-w012"
            ),
            "/subscriptions/s/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{vm}"
        );
        assert_eq!(
            fold_names("/x/images/ubuntu-hardened/versions/1.0.7"),
            "/x/images/ubuntu-hardened/versions/{version}"
        );
    }

    #[test]
    fn a_bucket_bound_is_the_excess_over_its_size_at_its_refill_rate() {
        let b = BucketBound {
            name: "w".into(),
            needed: 1_000,
            size: 200,
            refill_per_second: 10.0,
            window_seconds: None,
        };
        assert!((b.seconds() - 80.0).abs() < 1e-9);
        assert!(b.formula().contains("(1000 - 200) / 10.00/s"));
        let under = BucketBound { needed: 100, ..b };
        assert!(under.seconds().abs() < 1e-9);
    }

    #[test]
    fn a_limit_per_sliding_window_lets_the_next_batch_out_one_window_after_the_last() {
        let put_vm = |needed| BucketBound {
            name: "PutVM3Min".into(),
            needed,
            size: 240,
            refill_per_second: 240.0 / 180.0,
            window_seconds: Some(180),
        };
        assert_eq!(put_vm(240).seconds(), 0.0);
        assert_eq!(
            put_vm(241).seconds(),
            180.0,
            "the 241st waits for the first to age out"
        );
        assert_eq!(put_vm(500).seconds(), 360.0);
        assert!(
            put_vm(297)
                .formula()
                .contains("(ceil(297 / 240) - 1) x 180 s = 180.0 s")
        );
    }

    #[test]
    fn the_app_consent_minimum_spreads_what_a_tenant_needs_once() {
        let m = ApiMinimum::app_consent(20.0, 2);
        assert!((m.graph - 1.2).abs() < 1e-9);
        assert!((m.arm - 18.25).abs() < 1e-9);
        assert!((m.entra - 0.25).abs() < 1e-9);
        assert!((m.total() - 19.7).abs() < 1e-9);
    }
}
