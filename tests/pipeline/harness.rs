//! A deterministic stand-in for the Functions host around the real handler code: the app is
//! served on a loopback port, step messages are kept in a queue with Service Bus' duplicate
//! detection and scheduled delivery, and the clock is the simulator's.

use std::{
    collections::{HashSet, VecDeque},
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;
use azure_core::credentials::{
    AccessToken as CoreToken, Secret as CoreSecret, TokenCredential, TokenRequestOptions,
};
use azure_sim::{FaultId, Scenario, Sim, scenario::demo};
use azure_transport::Transport;
use base64::{Engine, engine::general_purpose::STANDARD};
use imageshare::{
    app::Application,
    azure::{RetryPolicy, Tokens},
    cloud::Cloud,
    config::{Env, Settings},
    context::{AppContext, Clock},
    domain::{HistoryEntry, RejectedRequest, RequestId, ShareRequest},
    events::{CloudEvent, EventSink, MemoryEvents, PublishError},
    queue::{QueueError, StepQueue},
    steps::StepMessage,
    store::{
        Created, ETag, MemoryStore, RejectedCreated, RequestStore, StoreError, Stored, VmClaim,
    },
};
use serde_json::{Value, json};
use time::OffsetDateTime;

/// The simulator's clock, so scheduled re-checks and deadlines move when the test moves it.
#[derive(Debug)]
pub struct SimClock(pub Arc<Sim>);

impl Clock for SimClock {
    fn now(&self) -> OffsetDateTime {
        self.0.now()
    }
}

/// The operator's managed identity, as App Service exposes it (azure_identity's credential
/// reads the endpoint from the process environment, which tests do not touch).
#[derive(Debug)]
pub struct SimManagedIdentity {
    pub endpoint: String,
    pub client: reqwest::Client,
}

#[async_trait]
impl TokenCredential for SimManagedIdentity {
    async fn get_token(
        &self,
        scopes: &[&str],
        _: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<CoreToken> {
        let resource = scopes[0].trim_end_matches("/.default");
        let answer: Value = self
            .client
            .get(&self.endpoint)
            .query(&[
                ("api-version", "2019-08-01"),
                ("resource", resource),
                ("client_id", demo::OPERATOR_CLIENT_ID),
            ])
            .header("X-IDENTITY-HEADER", demo::IDENTITY_HEADER)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| {
                azure_core::Error::with_message(
                    azure_core::error::ErrorKind::Credential,
                    e.to_string(),
                )
            })?
            .json()
            .await
            .map_err(|e| {
                azure_core::Error::with_message(
                    azure_core::error::ErrorKind::Credential,
                    e.to_string(),
                )
            })?;
        let token = answer["access_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let expires: i64 = answer["expires_on"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        Ok(CoreToken::new(
            CoreSecret::new(token),
            OffsetDateTime::from_unix_timestamp(expires).unwrap_or(OffsetDateTime::now_utc()),
        ))
    }
}

/// The events topic, which a test can take down (deleted, full, unreachable): publishes then
/// fail as Service Bus would refuse them.
#[derive(Debug, Default)]
pub struct Topic {
    inner: MemoryEvents,
    down: std::sync::atomic::AtomicBool,
    pub refused: std::sync::atomic::AtomicU32,
}

impl Topic {
    pub fn set_down(&self, down: bool) {
        self.down.store(down, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn published(&self) -> Vec<CloudEvent> {
        self.inner.published()
    }
}

#[async_trait]
impl EventSink for Topic {
    async fn publish(&self, event: &CloudEvent) -> Result<(), PublishError> {
        if self.down.load(std::sync::atomic::Ordering::SeqCst) {
            self.refused
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            return Err(PublishError {
                id: event.id.clone(),
                detail: "404 MessagingEntityNotFound: the topic share-events does not exist".into(),
            });
        }
        self.inner.publish(event).await
    }
}

/// Which message a test loses.
pub struct Loss(Box<dyn Fn(&StepMessage) -> bool + Send + Sync>);

impl std::fmt::Debug for Loss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Loss")
    }
}

/// A queued step message.
#[derive(Clone, Debug)]
pub struct Queued {
    pub message: StepMessage,
    pub not_before: Option<OffsetDateTime>,
    pub delivery_count: u32,
}

/// Step queues with Service Bus' duplicate detection (by MessageId) and scheduling.
#[derive(Debug, Default)]
pub struct PumpQueue {
    pending: Mutex<VecDeque<Queued>>,
    seen: Mutex<HashSet<String>>,
    pub dead_letters: Mutex<Vec<Queued>>,
    pub sent: Mutex<Vec<Queued>>,
    drops: Mutex<Vec<Loss>>,
}

#[async_trait]
impl StepQueue for PumpQueue {
    async fn send(
        &self,
        message: &StepMessage,
        not_before: Option<OffsetDateTime>,
    ) -> Result<(), QueueError> {
        if !self.seen.lock().unwrap().insert(message.message_id()) {
            return Ok(()); // a duplicate: Service Bus accepts it and drops it
        }
        let queued = Queued {
            message: message.clone(),
            not_before,
            delivery_count: 0,
        };
        self.sent.lock().unwrap().push(queued.clone());
        self.pending.lock().unwrap().push_back(queued);
        Ok(())
    }
}

impl PumpQueue {
    /// The next message for which `when` holds is lost (dead-lettered after its deliveries,
    /// or a scheduled re-check that never arrives) instead of being delivered.
    pub fn lose_next(&self, when: impl Fn(&StepMessage) -> bool + Send + Sync + 'static) {
        self.drops.lock().unwrap().push(Loss(Box::new(when)));
    }

    /// Every message now waiting for which `when` holds is lost, as when the instance that
    /// held them goes away; returns how many. Unlike [`Self::lose_next`] this cannot pick a
    /// stale message of a burst (DESIGN §3) and let the live re-check through.
    pub fn lose_pending(&self, when: impl Fn(&StepMessage) -> bool) -> usize {
        let mut pending = self.pending.lock().unwrap();
        let (lost, kept): (VecDeque<Queued>, VecDeque<Queued>) =
            pending.drain(..).partition(|q| when(&q.message));
        *pending = kept;
        let n = lost.len();
        self.dead_letters.lock().unwrap().extend(lost);
        n
    }

    fn lost(&self, q: &Queued) -> bool {
        let mut drops = self.drops.lock().unwrap();
        match drops.iter().position(|d| (d.0)(&q.message)) {
            Some(i) => {
                drops.remove(i);
                self.dead_letters.lock().unwrap().push(q.clone());
                true
            }
            None => false,
        }
    }

    /// The next message due at `now`, taken off the queue.
    pub fn take_due(&self, now: OffsetDateTime) -> Option<Queued> {
        let mut pending = self.pending.lock().unwrap();
        let i = pending
            .iter()
            .position(|q| q.not_before.is_none_or(|t| t <= now))?;
        pending.remove(i)
    }

    pub fn earliest(&self) -> Option<OffsetDateTime> {
        self.pending
            .lock()
            .unwrap()
            .iter()
            .filter_map(|q| q.not_before)
            .min()
    }

    fn requeue(&self, q: Queued) {
        self.pending.lock().unwrap().push_front(q);
    }
}

type Crash = Box<dyn Fn(&ShareRequest, &[HistoryEntry]) -> bool + Send + Sync>;

/// The memory store with one extra power: fail a chosen update, as if the process died
/// between its Azure calls and its state write. It counts the reads of a request.
#[derive(Default)]
pub struct CrashingStore {
    inner: MemoryStore,
    crashes: Mutex<Vec<Crash>>,
    pub crashed: Mutex<u32>,
    pub gets: std::sync::atomic::AtomicU32,
}

impl std::fmt::Debug for CrashingStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CrashingStore").finish_non_exhaustive()
    }
}

impl CrashingStore {
    /// The next update for which `when` holds fails (once) without writing.
    pub fn crash_once(
        &self,
        when: impl Fn(&ShareRequest, &[HistoryEntry]) -> bool + Send + Sync + 'static,
    ) {
        self.crashes.lock().unwrap().push(Box::new(when));
    }
}

#[async_trait]
impl RequestStore for CrashingStore {
    async fn create(&self, r: &ShareRequest, h: &[HistoryEntry]) -> Result<Created, StoreError> {
        self.inner.create(r, h).await
    }
    async fn get(&self, id: RequestId) -> Result<Option<Stored>, StoreError> {
        self.gets.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.get(id).await
    }
    async fn update(
        &self,
        r: &ShareRequest,
        etag: &ETag,
        h: &[HistoryEntry],
    ) -> Result<ETag, StoreError> {
        let hit = {
            let mut crashes = self.crashes.lock().unwrap();
            crashes
                .iter()
                .position(|c| c(r, h))
                .map(|i| crashes.remove(i))
        };
        if hit.is_some() {
            *self.crashed.lock().unwrap() += 1;
            return Err(StoreError::Unavailable(
                "simulated crash before the state write".into(),
            ));
        }
        self.inner.update(r, etag, h).await
    }
    async fn history(&self, id: RequestId) -> Result<Vec<HistoryEntry>, StoreError> {
        self.inner.history(id).await
    }
    async fn create_rejected(
        &self,
        r: &RejectedRequest,
        e: &HistoryEntry,
    ) -> Result<RejectedCreated, StoreError> {
        self.inner.create_rejected(r, e).await
    }
    async fn get_rejected(&self, id: RequestId) -> Result<Option<RejectedRequest>, StoreError> {
        self.inner.get_rejected(id).await
    }
    async fn list_active(&self) -> Result<Vec<Stored>, StoreError> {
        self.inner.list_active().await
    }
    async fn list_for_consumer(
        &self,
        tenant: imageshare::domain::TenantId,
    ) -> Result<Vec<Stored>, StoreError> {
        self.inner.list_for_consumer(tenant).await
    }
    async fn get_claim(&self, key: &str) -> Result<Option<(VmClaim, ETag)>, StoreError> {
        self.inner.get_claim(key).await
    }
    async fn put_claim(&self, c: &VmClaim, e: Option<&ETag>) -> Result<ETag, StoreError> {
        self.inner.put_claim(c, e).await
    }
}

/// The app against the simulator, with a deterministic host.
pub struct Harness {
    pub sim: Arc<Sim>,
    pub url: String,
    pub client: reqwest::Client,
    pub store: Arc<CrashingStore>,
    pub queue: Arc<PumpQueue>,
    pub events: Arc<Topic>,
    pub transport: Transport,
    duplicates: std::sync::atomic::AtomicBool,
    /// The Reconcile timer's period on the simulated clock (the deployed default).
    pub reconcile_every: Duration,
    next_reconcile: Mutex<Option<OffsetDateTime>>,
    pub reconciles: std::sync::atomic::AtomicU32,
    fault_ends: Mutex<Vec<(FaultId, OffsetDateTime)>>,
}

/// The deployed reconcile period.
pub const RECONCILE_EVERY: Duration = Duration::from_secs(300);

/// Maximum deliveries before a message is dead-lettered (the demo queues' MaxDeliveryCount).
pub const MAX_DELIVERY_COUNT: u32 = 10;

impl Harness {
    /// Starts the simulator with `scenario` and the app with the demo settings plus `extra`.
    pub async fn start(scenario: Scenario, extra: &[(&str, &str)]) -> Self {
        let sim = Arc::new(Sim::start(scenario).await.unwrap());
        Self::start_on(sim, extra).await
    }

    /// Starts another app (a second deployment, say) against a running simulator.
    pub async fn start_on(sim: Arc<Sim>, extra: &[(&str, &str)]) -> Self {
        // Kept bound from here on: a port found free and released could be taken by a test
        // running alongside before the app binds it.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let url = format!("http://127.0.0.1:{port}");
        let catalog = format!(r#"{{"ubuntu-hardened":"{}"}}"#, demo::IMAGE_VERSION_ID);
        let service_bus = format!(
            "Endpoint=sb://{}.servicebus.windows.net/;SharedAccessKeyName={};SharedAccessKey={}",
            demo::SERVICE_BUS_NAMESPACE,
            demo::SAS_POLICY,
            demo::SAS_KEY
        );
        let sim_url = sim.url();
        let mut pairs: Vec<(&str, String)> = vec![
            ("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string()),
            ("IMAGESHARE_IMAGE_CATALOG", catalog),
            ("IMAGESHARE_PUBLIC_BASE_URL", url.clone()),
            ("IMAGESHARE_OWNER_TENANT_ID", demo::CONTOSO_TENANT.into()),
            (
                "IMAGESHARE_IDENTITY_CLIENT_ID",
                demo::OPERATOR_CLIENT_ID.into(),
            ),
            ("ServiceBusConnection", service_bus),
            ("IMAGESHARE_STORE", "memory".into()),
            ("IMAGESHARE_NOTIFY", "mail".into()),
            ("IMAGESHARE_MAIL_SENDER", demo::MAILBOX_UPN.into()),
            ("IMAGESHARE_SIMULATED_CLOUD", sim_url.clone()),
            ("IMAGESHARE_REDELIVERY_PAUSE_MAX_SECONDS", "0".into()),
        ];
        for (k, v) in extra {
            pairs.retain(|(name, _)| name != k);
            pairs.push((k, (*v).to_owned()));
        }
        let settings = Settings::from_env(&Env::from_pairs(
            pairs.iter().map(|(k, v)| (*k, v.as_str())),
        ))
        .unwrap();
        let transport = Transport::simulated(&sim_url).unwrap();
        // The throttle gates count `Retry-After` on the simulator's clock, as in the handler.
        transport.follow_simulator_clock();
        let operator = Arc::new(SimManagedIdentity {
            endpoint: sim.identity_endpoint(),
            client: reqwest::Client::new(),
        });
        // Tokens judge their expiry by the simulator's clock, as the handler's do in a
        // simulated run: the tests move it by hours, past the tokens' `exp`.
        let clock: Arc<dyn imageshare::context::Clock> = Arc::new(SimClock(sim.clone()));
        let tokens =
            Arc::new(Tokens::with_operator(&transport, operator).with_clock(clock.clone()));
        let policy = RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
            budget: Duration::from_secs(2),
        };
        let cloud = Arc::new(Cloud::new(&settings, transport.clone(), tokens, policy));
        let store = Arc::new(CrashingStore::default());
        let queue = Arc::new(PumpQueue::default());
        let events = Arc::new(Topic::default());
        let ctx = AppContext {
            settings: Arc::new(settings),
            store: store.clone(),
            queue: queue.clone(),
            events: events.clone(),
            clock,
            cloud: Some(cloud),
            transport: transport.clone(),
        };
        let app = Application::from_listener(ctx, listener).unwrap();
        tokio::spawn(app.run_until_stopped());
        Self {
            sim,
            url,
            client: reqwest::Client::new(),
            store,
            queue,
            events,
            transport,
            duplicates: false.into(),
            reconcile_every: RECONCILE_EVERY,
            next_reconcile: Mutex::new(None),
            reconciles: 0.into(),
            fault_ends: Mutex::new(Vec::new()),
        }
    }

    /// `fault` is active from now for `duration` of simulated time (an outage).
    pub fn outage(&self, fault: azure_sim::Fault, duration: Duration) {
        let id = self.sim.add_fault(fault);
        self.fault_ends
            .lock()
            .unwrap()
            .push((id, self.sim.now() + duration));
    }

    fn end_outages(&self) {
        let now = self.sim.now();
        self.fault_ends.lock().unwrap().retain(|(id, end)| {
            if *end <= now {
                self.sim.remove_fault(*id);
                false
            } else {
                true
            }
        });
    }

    /// Runs the Reconcile function as the host's timer does; returns its log line.
    pub async fn reconcile(&self) -> String {
        let envelope = json!({
            "Data": {"timer": {"Schedule": {"AdjustForDST": true}, "ScheduleStatus": null, "IsPastDue": false}},
            "Metadata": {}
        });
        let response = self
            .client
            .post(format!("{}/Reconcile", self.url))
            .header(
                "x-azure-functions-invocationid",
                "00000000-0000-4000-8000-0000000000aa",
            )
            .body(envelope.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        self.reconciles
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let reply: Value = response.json().await.unwrap();
        reply["Logs"][0].as_str().unwrap_or_default().to_owned()
    }

    /// When the timer fires next.
    fn next_tick(&self) -> OffsetDateTime {
        *self
            .next_reconcile
            .lock()
            .unwrap()
            .get_or_insert_with(|| self.sim.now() + self.reconcile_every)
    }

    /// From now on every message is delivered twice at the same time (two instances holding
    /// it after a lock expiry); it counts as handled if either succeeds.
    pub fn set_concurrent_duplicates(&self, on: bool) {
        self.duplicates
            .store(on, std::sync::atomic::Ordering::SeqCst);
    }

    /// Submits a document; returns its id.
    pub async fn submit(&self, document: &Value) -> RequestId {
        let response = self
            .client
            .post(format!("{}/api/share-requests", self.url))
            .json(document)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202, "{}", response.text().await.unwrap());
        let body: Value = response.json().await.unwrap();
        RequestId::parse(body["id"].as_str().unwrap()).unwrap()
    }

    /// The status document.
    pub async fn status(&self, id: RequestId) -> Value {
        self.client
            .get(format!("{}/api/share-requests/{id}", self.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Delivers one message as the host does; returns the HTTP status of the reply.
    pub async fn deliver(&self, q: &Queued) -> u16 {
        let body = serde_json::to_string(&q.message).unwrap();
        let envelope = json!({
            "Data": {"message": STANDARD.encode(body)},
            "Metadata": {
                "DeliveryCount": (q.delivery_count + 1).to_string(),
                "MessageId": serde_json::to_string(&q.message.message_id()).unwrap(),
                "ContentType": "\"application/json\"",
                "EnqueuedTimeUtc": "2026-11-28T10:20:30",
            }
        });
        let response = self
            .client
            .post(format!("{}/{}", self.url, q.message.step.function_name()))
            .header("x-azure-functions-invocationid", uuid_like(q))
            .body(envelope.to_string())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let reply: Value = response.json().await.expect("a reply is never empty");
        assert!(reply.get("Logs").is_some(), "{reply}");
        status
    }

    /// Delivers due messages one at a time (moving the clock to the next scheduled one when
    /// none is due) until `done(status)` holds. Failed deliveries are redelivered with
    /// DeliveryCount+1 and dead-lettered past the limit, as Service Bus does.
    pub async fn run_until(&self, id: RequestId, done: impl Fn(&Value) -> bool) -> Value {
        self.run_all_until(&[id], |all| done(&all[0]))
            .await
            .remove(0)
    }

    /// Like [`Self::run_until`] for several requests at once: delivers due messages and runs
    /// the reconciler on its timer until `done` holds for their status documents. A request
    /// with nothing left to deliver waits for the reconciler, as in production.
    pub async fn run_all_until(
        &self,
        ids: &[RequestId],
        done: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let mut idle_ticks = 0;
        for _ in 0..3000 {
            let mut all = Vec::new();
            for id in ids {
                all.push(self.status(*id).await);
            }
            if done(&all) {
                return all;
            }
            self.end_outages();
            let now = self.sim.now();
            if now >= self.next_tick() {
                self.reconcile().await;
                *self.next_reconcile.lock().unwrap() = Some(now + self.reconcile_every);
                continue;
            }
            let Some(q) = self.queue.take_due(now) else {
                let tick = self.next_tick();
                let at = self.queue.earliest().map_or(tick, |e| e.min(tick));
                if self.queue.earliest().is_none() {
                    idle_ticks += 1;
                    assert!(
                        idle_ticks < 100,
                        "nothing left to deliver for 100 reconcile periods: {all:#?}"
                    );
                }
                let wait = at - now;
                self.sim.advance_clock(
                    Duration::try_from(wait).unwrap_or_default() + Duration::from_millis(1),
                );
                continue;
            };
            idle_ticks = 0;
            if self.queue.lost(&q) {
                continue;
            }
            let failed = if self.duplicates.load(std::sync::atomic::Ordering::SeqCst) {
                let (a, b) = tokio::join!(self.deliver(&q), self.deliver(&q));
                a >= 300 && b >= 300
            } else {
                self.deliver(&q).await >= 300
            };
            if failed {
                let mut again = q.clone();
                again.delivery_count += 1;
                if again.delivery_count >= MAX_DELIVERY_COUNT {
                    self.queue.dead_letters.lock().unwrap().push(again);
                } else {
                    self.queue.requeue(again);
                }
            }
        }
        let mut all = Vec::new();
        for id in ids {
            all.push(self.status(*id).await);
        }
        panic!("the requests did not get there in 3000 rounds: {all:#?}");
    }

    /// Runs until the request waits for the consumer's admin to consent.
    pub async fn until_state(&self, id: RequestId, state: &str) -> Value {
        self.run_until(id, |s| s["state"] == state || is_terminal(s))
            .await
    }

    /// The consumer admin: opens the link from the mail, signs in, accepts; our callback page.
    pub async fn consent(&self) -> String {
        let link = local_run::demo::consent_link_from_mail(&self.sim).expect("a consent mail");
        local_run::demo::consent_in_browser(&self.transport, &link)
            .await
            .unwrap()
    }

    /// The consumer admin does both of their steps for request `id`: once the link arrives,
    /// consents; once consent is confirmed, grants the role.
    pub async fn admin_consents_and_grants(&self, id: RequestId) {
        self.until_state(id, "AwaitingConsent").await;
        self.consent().await;
        let waiting = self.until_state(id, "AwaitingRoleGrant").await;
        self.grant_contributor(waiting["app"]["appId"].as_str().unwrap())
            .await;
    }

    /// The consumer admin grants the app Contributor on the target resource group.
    pub async fn grant_contributor(&self, app_id: &str) {
        local_run::demo::grant_contributor(&self.sim, app_id)
            .await
            .unwrap();
    }
}

fn uuid_like(q: &Queued) -> String {
    format!(
        "00000000-0000-4000-8000-{:012x}",
        u64::from(q.message.attempt) << 8 | u64::from(q.delivery_count)
    )
}

/// Whether a status document is in a terminal state.
pub fn is_terminal(status: &Value) -> bool {
    matches!(
        status["state"].as_str(),
        Some("Completed" | "Failed" | "Expired" | "Rejected" | "Declined" | "Revoked")
    )
}

/// The demo share request.
pub fn document() -> Value {
    local_run::stack::demo_request()
}
