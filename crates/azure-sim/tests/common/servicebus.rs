//! Service Bus over REST: the demo namespace's URLs and SAS tokens.

use azure_sim::{Sim, scenario::demo};

use super::{call, transport};

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

/// `method url` with `Authorization: auth` (a SAS token or `Bearer ...`) through the transport.
pub async fn authorized(
    sim: &Sim,
    method: reqwest::Method,
    url: &str,
    auth: &str,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    call(
        &transport(sim),
        method,
        url,
        &[("authorization", auth)],
        body,
    )
    .await
}
