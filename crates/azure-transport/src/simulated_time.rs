//! The simulator's time, for clients talking to it.
//!
//! `azure-sim`'s clock is real time plus an offset that tests move forward (a delegation's
//! expiry a day away is reached in a second). The simulator judges everything by it, which
//! is right for what it issues (Entra tokens, locks, scheduled messages) but leaves behind
//! what clients sign with the machine's clock: a Service Bus SAS token signed "now, valid
//! for an hour" by `azure_messaging_servicebus` is a day old to a simulator moved a day on.
//! In the world the simulator models, the clients' clocks moved with it; so in simulated
//! mode the transport follows the simulator's offset (`GET /_sim/clock`, every
//! [`FOLLOW_EVERY`]) and re-signs outgoing SAS tokens at the simulated time. Against the real
//! cloud none of this runs.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicI64, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use url::Url;

/// How often the simulator's offset is read.
pub const FOLLOW_EVERY: Duration = Duration::from_millis(200);

/// How long a re-signed SAS token is valid, as `azure_messaging_servicebus` signs them.
const SAS_TTL_SECONDS: i64 = 3600;

/// The simulator's offset from real time, as last read. Cheap to clone; clones share it.
#[derive(Clone, Debug, Default)]
pub(crate) struct SimulatedTime {
    offset_ms: Arc<AtomicI64>,
    following: Arc<AtomicBool>,
}

impl SimulatedTime {
    /// The offset last read (zero until the first read).
    pub(crate) fn offset(&self) -> Duration {
        Duration::from_millis(u64::try_from(self.offset_ms.load(Ordering::SeqCst)).unwrap_or(0))
    }

    /// Starts following `clock_url` (once; later calls do nothing). Needs a Tokio runtime.
    pub(crate) fn follow(&self, clock_url: Url) {
        if self.following.swap(true, Ordering::SeqCst) {
            return;
        }
        let offset = self.offset_ms.clone();
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut failing = false;
            loop {
                match read(&client, &clock_url).await {
                    // The simulator's offset only grows; a stale answer never moves it back.
                    Ok(ms) => {
                        offset.fetch_max(ms, Ordering::SeqCst);
                        failing = false;
                    }
                    Err(e) => {
                        // Once per streak: a stopped simulator must not flood the log.
                        if !failing {
                            tracing::warn!(error = %e, "cannot read the simulator's clock; keeping the last offset");
                        }
                        failing = true;
                    }
                }
                tokio::time::sleep(FOLLOW_EVERY).await;
            }
        });
    }

    /// Reads `clock_url` once now, for a caller about to judge a wait by this clock: a
    /// test that moved the clock a moment ago may be up to [`FOLLOW_EVERY`] ahead of it.
    pub(crate) async fn read_now(&self, client: &reqwest::Client, clock_url: &Url) {
        if let Ok(ms) = read(client, clock_url).await {
            self.offset_ms.fetch_max(ms, Ordering::SeqCst);
        }
    }

    /// Unix seconds now, on the simulated clock.
    fn now_unix(&self) -> i64 {
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        i64::try_from(real + self.offset().as_secs()).unwrap_or(i64::MAX)
    }
}

async fn read(client: &reqwest::Client, url: &Url) -> Result<i64, String> {
    let answer = client
        .get(url.clone())
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| e.to_string())?;
    let body: serde_json::Value = answer.json().await.map_err(|e| e.to_string())?;
    let seconds = body["offsetSeconds"]
        .as_f64()
        .ok_or_else(|| format!("no offsetSeconds in {body}"))?;
    // Milliseconds are what the simulator keeps.
    #[allow(clippy::cast_possible_truncation)]
    Ok((seconds * 1000.0).round() as i64)
}

/// A Service Bus shared access key, to re-sign SAS tokens at the simulated time.
#[derive(Clone)]
pub(crate) struct SasKey {
    pub(crate) key_name: String,
    pub(crate) key: String,
}

impl std::fmt::Debug for SasKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SasKey")
            .field("key_name", &self.key_name)
            .finish_non_exhaustive()
    }
}

impl SasKey {
    /// `header` signed again for the same resource, valid from the simulated now for as
    /// long as the SDK signs. `None` when `header` is not a SAS token of this key.
    pub(crate) fn resign(&self, header: &str, time: &SimulatedTime) -> Option<String> {
        let fields = header.strip_prefix("SharedAccessSignature ")?;
        let field = |name: &str| {
            fields
                .split('&')
                .find_map(|p| p.strip_prefix(name)?.strip_prefix('='))
        };
        if field("skn")? != self.key_name {
            return None;
        }
        // `sr` is signed as sent: URL-encoded.
        let sr = field("sr")?;
        let se = time.now_unix() + SAS_TTL_SECONDS;
        let mut mac = Hmac::<Sha256>::new_from_slice(self.key.as_bytes()).ok()?;
        mac.update(format!("{sr}\n{se}").as_bytes());
        let sig = STANDARD.encode(mac.finalize().into_bytes());
        let sig: String = url::form_urlencoded::byte_serialize(sig.as_bytes()).collect();
        Some(format!(
            "SharedAccessSignature sr={sr}&sig={sig}&se={se}&skn={}",
            self.key_name
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sas_token_is_signed_again_for_the_same_resource_at_the_simulated_time() {
        let time = SimulatedTime::default();
        time.offset_ms.store(86_400_000, Ordering::SeqCst);
        let key = SasKey {
            key_name: "RootManageSharedAccessKey".into(),
            key: "c2VjcmV0".into(),
        };
        let sent = "SharedAccessSignature sr=https%3A%2F%2Fns.servicebus.windows.net%2Fq&sig=old&se=1&skn=RootManageSharedAccessKey";
        let again = key.resign(sent, &time).unwrap();
        assert!(again.starts_with(
            "SharedAccessSignature sr=https%3A%2F%2Fns.servicebus.windows.net%2Fq&sig="
        ));
        let se: i64 = again
            .split("&se=")
            .nth(1)
            .and_then(|s| s.split('&').next())
            .and_then(|s| s.parse().ok())
            .unwrap();
        let real = i64::try_from(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs(),
        )
        .unwrap();
        assert!(
            se >= real + 86_400 + 3_500,
            "a day on, plus the hour: {se} vs {real}"
        );
        // The signature is HMAC-SHA256 of "{sr}\n{se}" with the key, base64, URL-encoded.
        let mut mac = Hmac::<Sha256>::new_from_slice(b"c2VjcmV0").unwrap();
        mac.update(format!("https%3A%2F%2Fns.servicebus.windows.net%2Fq\n{se}").as_bytes());
        let expected: String = url::form_urlencoded::byte_serialize(
            STANDARD.encode(mac.finalize().into_bytes()).as_bytes(),
        )
        .collect();
        assert!(again.contains(&format!("&sig={expected}&")), "{again}");
    }

    #[test]
    fn a_header_of_another_key_or_scheme_is_left_alone() {
        let time = SimulatedTime::default();
        let key = SasKey {
            key_name: "send".into(),
            key: "k".into(),
        };
        assert!(key.resign("Bearer eyJ", &time).is_none());
        assert!(
            key.resign("SharedAccessSignature sr=x&sig=y&se=1&skn=other", &time)
                .is_none()
        );
    }
}
