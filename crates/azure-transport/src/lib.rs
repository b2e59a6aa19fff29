//! One HTTP transport for real and simulated Azure (DESIGN §5).
//!
//! Product code always builds real Azure URLs (`https://graph.microsoft.com/v1.0/...`).
//! The only switch between the real cloud and `azure-sim` is this transport: in simulated
//! mode every `https://{host}/{path}` is sent to `{sim}/{host}/{path}` instead. Absolute
//! `https://` URLs the simulator returns (`Location`, `Azure-AsyncOperation`, `nextLink`)
//! come back through the same transport and are routed again, so callers never see the
//! difference. Plain `http://` URLs (the App Service managed identity endpoint) are never
//! rewritten.
//!
//! The transport plugs into the three client stacks the product uses: `reqwest` directly,
//! `azure_core` 1.x (`azure_identity`) and `azure_core` 0.21 (`azure_messaging_servicebus`).

mod legacy;
mod modern;
mod per_host;
mod simulated_time;

pub use per_host::DEFAULT_CALLS_PER_HOST;

use std::{sync::Arc, time::Duration};

use url::Url;

/// Where outbound Azure calls go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// The real cloud: URLs are used as they are.
    Direct,
    /// A simulator: `https://{host}/{path}` is sent to `{base}/{host}/{path}`.
    Simulated(Url),
}

/// Errors building a transport.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The simulator base URL is not an absolute `http(s)` URL.
    #[error("simulated cloud URL '{0}' must be an absolute http:// or https:// URL")]
    InvalidSimulatorUrl(String),
    /// reqwest could not build its client (TLS backend initialisation).
    #[error("could not build the HTTP client")]
    Client(#[source] reqwest::Error),
}

/// The shared outbound HTTP transport. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Transport {
    client: reqwest::Client,
    route: Route,
    /// The simulator's clock offset, once [`Transport::follow_simulator_clock`] runs.
    time: simulated_time::SimulatedTime,
    /// How many calls may be out at once per host.
    limits: Arc<per_host::HostLimits>,
}

/// How long to wait for a connection. Azure front doors answer quickly or not at all.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a single read may stall. Above Service Bus' longest peek-lock wait (60 s).
const READ_TIMEOUT: Duration = Duration::from_secs(90);

impl Transport {
    /// A transport for the real cloud.
    pub fn direct() -> Result<Self, TransportError> {
        Self::new(Route::Direct)
    }

    /// A transport that sends every `https://` call to the simulator at `base`.
    pub fn simulated(base: &str) -> Result<Self, TransportError> {
        let mut url =
            Url::parse(base).map_err(|_| TransportError::InvalidSimulatorUrl(base.to_owned()))?;
        if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
            return Err(TransportError::InvalidSimulatorUrl(base.to_owned()));
        }
        // Normalise to a base ending in '/' so joining keeps any path prefix.
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        Self::new(Route::Simulated(url))
    }

    /// A transport from an optional simulator URL setting: `None` or empty means the real cloud.
    pub fn from_setting(simulator: Option<&str>) -> Result<Self, TransportError> {
        match simulator.map(str::trim).filter(|s| !s.is_empty()) {
            Some(base) => Self::simulated(base),
            None => Self::direct(),
        }
    }

    fn new(route: Route) -> Result<Self, TransportError> {
        Self::build(route, DEFAULT_CALLS_PER_HOST)
    }

    fn build(route: Route, per_host: usize) -> Result<Self, TransportError> {
        let per_host = per_host.max(1);
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            // ARM and Graph never redirect on the calls we make; a 3xx is data, not a hop.
            .redirect(reqwest::redirect::Policy::none())
            // Connections beyond what the per-host cap keeps busy are closed once idle.
            .pool_max_idle_per_host(per_host)
            .build()
            .map_err(TransportError::Client)?;
        Ok(Self {
            client,
            route,
            time: simulated_time::SimulatedTime::default(),
            limits: Arc::new(per_host::HostLimits::new(per_host)),
        })
    }

    /// The same transport with at most `calls` calls out at once per host (at least 1;
    /// [`DEFAULT_CALLS_PER_HOST`] unless set). Builds a new client: connections are not shared
    /// with `self`.
    pub fn with_calls_per_host(self, calls: usize) -> Result<Self, TransportError> {
        let time = self.time.clone();
        Ok(Self {
            time,
            ..Self::build(self.route, calls)?
        })
    }

    /// How many calls may be out at once per host.
    pub fn calls_per_host(&self) -> usize {
        self.limits.per_host()
    }

    /// Where calls go.
    pub fn route(&self) -> &Route {
        &self.route
    }

    /// True when calls go to a simulator.
    pub fn is_simulated(&self) -> bool {
        matches!(self.route, Route::Simulated(_))
    }

    /// In simulated mode, starts following the simulator's clock (see [`simulated_time`]):
    /// [`Transport::simulated_offset`] then tracks it, and SAS tokens sent through
    /// [`Transport::for_azure_core_legacy_sas`] are signed at the simulated time. Does nothing
    /// against the real cloud, or when already following. Needs a Tokio runtime.
    pub fn follow_simulator_clock(&self) {
        if let Route::Simulated(base) = &self.route
            && let Ok(url) = base.join("_sim/clock")
        {
            self.time.follow(url);
        }
    }

    /// Reads the simulator's clock now instead of waiting for the next follow (nothing for
    /// the real cloud): for a decision a clock [`FOLLOW_EVERY`](simulated_time::FOLLOW_EVERY)
    /// behind would get wrong, such as whether a wait is over.
    pub async fn sync_simulator_clock(&self) {
        if let Route::Simulated(base) = &self.route
            && let Ok(url) = base.join("_sim/clock")
        {
            self.time.read_now(&self.client, &url).await;
        }
    }

    /// How far the simulator's clock is ahead of real time (zero for the real cloud, or before
    /// following it).
    pub fn simulated_offset(&self) -> Duration {
        self.time.offset()
    }

    /// The URL a call to `url` is actually sent to.
    pub fn resolve(&self, url: &Url) -> Url {
        match &self.route {
            Route::Simulated(base) if url.scheme() == "https" => {
                let Some(host) = url.host_str() else {
                    return url.clone();
                };
                let mut routed = base.clone();
                let path = format!("{}{}{}", base.path(), host, url.path());
                routed.set_path(&path);
                routed.set_query(url.query());
                routed
            }
            _ => url.clone(),
        }
    }

    /// The underlying reqwest client. Requests built with it must go through
    /// [`Transport::execute`] to be routed.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends a request built with real Azure URLs, routing it when simulated; waits first
    /// while the host already has [`Transport::calls_per_host`] calls out. The slot is given
    /// back when the response's headers are in: every caller reads the (small) body at once.
    pub async fn execute(
        &self,
        mut request: reqwest::Request,
    ) -> Result<reqwest::Response, reqwest::Error> {
        let routed = self.resolve(request.url());
        *request.url_mut() = routed;
        let _slot = self.limits.acquire(request.url()).await;
        tracing::trace!(method = %request.method(), url = %request.url(), "outbound request");
        self.client.execute(request).await
    }

    /// A request builder from the parts both `azure_core` versions' requests have.
    fn builder<'a>(
        &self,
        method: &str,
        url: Url,
        headers: impl Iterator<Item = (&'a str, &'a str)>,
    ) -> Result<reqwest::RequestBuilder, String> {
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|_| format!("unsupported HTTP method '{method}'"))?;
        Ok(
            headers.fold(self.client.request(method, url), |b, (name, value)| {
                b.header(name, value)
            }),
        )
    }

    /// This transport as an `azure_core` 1.x client (for `azure_identity` credentials).
    pub fn for_azure_core(&self) -> Arc<dyn azure_core::http::HttpClient> {
        Arc::new(modern::ModernClient(self.clone()))
    }

    /// This transport as an `azure_core` 0.21 client (for `azure_messaging_servicebus`).
    pub fn for_azure_core_legacy(&self) -> Arc<dyn azure_core_legacy::HttpClient> {
        Arc::new(legacy::LegacyClient {
            transport: self.clone(),
            sas: None,
        })
    }

    /// As [`Transport::for_azure_core_legacy`], for a Service Bus client signing with the
    /// shared access key `key_name`/`key`: when the simulator's clock is followed and ahead,
    /// its SAS tokens are signed again at the simulated time (what the SDK signs with the
    /// machine's clock would look expired). Against the real cloud, the same as the plain one.
    pub fn for_azure_core_legacy_sas(
        &self,
        key_name: &str,
        key: &str,
    ) -> Arc<dyn azure_core_legacy::HttpClient> {
        Arc::new(legacy::LegacyClient {
            transport: self.clone(),
            sas: self.is_simulated().then(|| simulated_time::SasKey {
                key_name: key_name.to_owned(),
                key: key.to_owned(),
            }),
        })
    }
}

/// A response's headers as owned text pairs; values that are not text are dropped, as both
/// `azure_core` versions' own reqwest clients do.
fn text_headers(map: &reqwest::header::HeaderMap) -> impl Iterator<Item = (String, String)> + '_ {
    map.iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn direct_transport_keeps_urls_as_they_are() {
        let t = Transport::direct().unwrap();
        let u = url("https://graph.microsoft.com/v1.0/applications?$top=1");
        assert_eq!(t.resolve(&u), u);
    }

    #[test]
    fn simulated_transport_prefixes_the_host_to_the_path() {
        let t = Transport::simulated("http://127.0.0.1:4000").unwrap();
        let u = url(
            "https://management.azure.com/subscriptions/s/resourceGroups/rg?api-version=2021-04-01",
        );
        assert_eq!(
            t.resolve(&u).as_str(),
            "http://127.0.0.1:4000/management.azure.com/subscriptions/s/resourceGroups/rg?api-version=2021-04-01"
        );
    }

    #[test]
    fn simulated_transport_keeps_a_base_path_prefix() {
        let t = Transport::simulated("http://127.0.0.1:4000/sim").unwrap();
        let u = url("https://kv.vault.azure.net/secrets/a/");
        assert_eq!(
            t.resolve(&u).as_str(),
            "http://127.0.0.1:4000/sim/kv.vault.azure.net/secrets/a/"
        );
    }

    #[test]
    fn simulated_transport_leaves_plain_http_endpoints_alone() {
        let t = Transport::simulated("http://127.0.0.1:4000").unwrap();
        let u = url("http://127.0.0.1:4000/_identity/msi/token?api-version=2019-08-01");
        assert_eq!(t.resolve(&u), u);
    }

    #[test]
    fn an_empty_setting_means_the_real_cloud() {
        assert_eq!(
            Transport::from_setting(Some(" ")).unwrap().route(),
            &Route::Direct
        );
        assert_eq!(
            Transport::from_setting(None).unwrap().route(),
            &Route::Direct
        );
    }

    #[test]
    fn a_relative_simulator_url_is_refused() {
        assert!(matches!(
            Transport::simulated("localhost:4000"),
            Err(TransportError::InvalidSimulatorUrl(_))
        ));
    }

    /// A server that answers after `delay`, counting how many requests it holds at once.
    async fn slow_server(delay: Duration) -> (Url, Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let now = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let (n, m) = (now.clone(), most.clone());
        let app = axum::Router::new().fallback(move || {
            let (n, m) = (n.clone(), m.clone());
            async move {
                let held = n.fetch_add(1, Ordering::SeqCst) + 1;
                m.fetch_max(held, Ordering::SeqCst);
                tokio::time::sleep(delay).await;
                n.fetch_sub(1, Ordering::SeqCst);
                "ok"
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url(&format!("http://{addr}/")), most)
    }

    #[tokio::test]
    async fn no_more_calls_than_the_cap_are_out_at_once_to_one_host() {
        let (base, most) = slow_server(Duration::from_millis(100)).await;
        let t = Transport::direct().unwrap().with_calls_per_host(4).unwrap();
        let calls = (0..12).map(|i| {
            let t = t.clone();
            let u = base.join(&format!("call/{i}")).unwrap();
            async move {
                let request = t.client().get(u).build().unwrap();
                t.execute(request).await.unwrap().text().await.unwrap()
            }
        });
        let answers = futures::future::join_all(calls).await;
        assert!(answers.iter().all(|a| a == "ok"), "every call is answered");
        let most = most.load(std::sync::atomic::Ordering::SeqCst);
        assert!(most <= 4, "the server held {most} calls at once");
        assert!(
            most >= 2,
            "calls still go out side by side ({most} at once)"
        );
    }

    #[tokio::test]
    async fn the_cap_of_one_host_does_not_hold_up_another() {
        let (slow, _) = slow_server(Duration::from_secs(5)).await;
        let (fast, _) = slow_server(Duration::ZERO).await;
        let t = Transport::direct().unwrap().with_calls_per_host(1).unwrap();
        let stuck = {
            let t = t.clone();
            let request = t.client().get(slow).build().unwrap();
            tokio::spawn(async move { t.execute(request).await.map(|_| ()) })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let request = t.client().get(fast).build().unwrap();
        let answered = tokio::time::timeout(Duration::from_secs(2), t.execute(request)).await;
        assert!(
            answered.is_ok(),
            "the other host's call waited for the slow host's slot"
        );
        stuck.abort();
    }

    #[test]
    fn the_cap_is_at_least_one() {
        let t = Transport::direct().unwrap().with_calls_per_host(0).unwrap();
        assert_eq!(t.calls_per_host(), 1);
        assert_eq!(
            Transport::direct().unwrap().calls_per_host(),
            DEFAULT_CALLS_PER_HOST
        );
    }
}
