//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use azure_sim::{Replication, Scenario, Sim, scenario::demo};
use azure_transport::Transport;

/// The demo scenario, immediately consistent.
pub fn demo_scenario() -> Scenario {
    Scenario::demo().with_replication(Replication::none())
}

/// A running simulator of the immediately consistent demo.
pub async fn start_demo() -> Sim {
    Sim::start(demo_scenario()).await.unwrap()
}

/// The routing transport the product uses, pointed at `sim`.
pub fn transport(sim: &Sim) -> Transport {
    Transport::simulated(&sim.url()).unwrap()
}

/// `https://sb-imageshare-demo.servicebus.windows.net/{path}`.
pub fn sb_url(path: &str) -> String {
    format!(
        "https://{}.servicebus.windows.net/{path}",
        demo::SERVICE_BUS_NAMESPACE
    )
}

/// A SAS token for `url` signed with `key`, expiring at `expiry` (Unix seconds).
pub fn sas(url: &str, key: &str, key_name: &str, expiry: i64) -> String {
    let sr: String = url::form_urlencoded::byte_serialize(url.as_bytes()).collect();
    let sig = azure_sim::servicebus::sas::sign(key, &sr, expiry);
    let sig: String = url::form_urlencoded::byte_serialize(sig.as_bytes()).collect();
    format!("SharedAccessSignature sr={sr}&sig={sig}&se={expiry}&skn={key_name}")
}

/// A demo SAS token for the whole namespace, valid for an hour of simulated time.
pub fn demo_sas(sim: &Sim) -> String {
    sas(
        &sb_url(""),
        demo::SAS_KEY,
        demo::SAS_POLICY,
        sim.now().unix_timestamp() + 3600,
    )
}

/// Sends `method url` with headers and body through the transport.
pub async fn call(
    transport: &Transport,
    method: reqwest::Method,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    let mut builder = transport.client().request(method, url).body(body);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    transport.execute(builder.build().unwrap()).await.unwrap()
}

/// A header as text.
pub fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}
