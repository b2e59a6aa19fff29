//! Request store throughput and compare-and-swap latency: Table Storage (Azurite, the real
//! emulator, in memory on loopback) against the in-process `MemoryStore`.
//!
//! - create+update: create a request (one transaction), then update it once at the ETag create
//!   returned (one more); reported as pairs per second, one at a time and 16 at once.
//! - CAS update: successive updates of one request, each at the ETag the previous returned;
//!   p50/p99/max latency of the `update` call alone.
//!
//! Run: `cargo bench --bench table_store` (installs and starts Azurite like the tests do).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/support/azurite.rs"]
mod azurite;

use std::time::{Duration, Instant};

use azure_transport::Transport;
use futures::{StreamExt, stream};
use imageshare::{
    domain::{Actor, EventContext},
    store::{Created, MemoryStore, RequestStore, TableStore, contract::new_request},
};

const PAIRS: usize = 500;
const CONCURRENCY: usize = 16;
const CAS_UPDATES: usize = 1000;
const WARMUP: usize = 50;

fn ctx() -> EventContext {
    EventContext {
        at: time::OffsetDateTime::now_utc(),
        actor: Actor::Pipeline,
        caller: None,
        invocation_id: None,
    }
}

/// One create, then one update at the ETag the create returned.
async fn create_then_update(store: &dyn RequestStore, i: usize) {
    let (mut request, first) = new_request(&format!("bench-{i}"));
    let Created::New(etag) = store.create(&request, &[first]).await.unwrap() else {
        panic!("a fresh id already existed");
    };
    let entry = request.note("bench", "one update", &ctx());
    store.update(&request, &etag, &[entry]).await.unwrap();
}

/// Pairs per second with `concurrency` pairs in flight.
async fn pairs_per_second(store: &dyn RequestStore, concurrency: usize) -> f64 {
    let started = Instant::now();
    stream::iter(0..PAIRS)
        .for_each_concurrent(concurrency, |i| create_then_update(store, i))
        .await;
    PAIRS as f64 / started.elapsed().as_secs_f64()
}

/// Latencies of successive CAS updates of one request.
async fn cas_latencies(store: &dyn RequestStore) -> Vec<Duration> {
    let (mut request, first) = new_request("bench-cas");
    let Created::New(mut etag) = store.create(&request, &[first]).await.unwrap() else {
        panic!("a fresh id already existed");
    };
    let mut out = Vec::with_capacity(CAS_UPDATES);
    for i in 0..WARMUP + CAS_UPDATES {
        let entry = request.note("bench-cas", "cas", &ctx());
        let started = Instant::now();
        etag = store.update(&request, &etag, &[entry]).await.unwrap();
        if i >= WARMUP {
            out.push(started.elapsed());
        }
    }
    out
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn micros(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

async fn measure(name: &str, store: &dyn RequestStore) {
    // Warm connections and the service's code paths before timing.
    for i in 0..WARMUP {
        create_then_update(store, PAIRS + i).await;
    }
    let sequential = pairs_per_second(store, 1).await;
    let concurrent = pairs_per_second(store, CONCURRENCY).await;
    let mut latencies = cas_latencies(store).await;
    latencies.sort();
    println!(
        "{name:<14} {sequential:>12.0} {concurrent:>14.0} {:>10} {:>10} {:>10}",
        micros(percentile(&latencies, 50.0)),
        micros(percentile(&latencies, 99.0)),
        micros(latencies[latencies.len() - 1]),
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let emulator = azurite::start();
    runtime.block_on(async {
        let table = TableStore::from_connection_string(
            &emulator.connection_string(),
            "BenchRequests",
            Transport::direct().unwrap(),
        )
        .unwrap();
        table.ensure_table().await.unwrap();

        println!(
            "{PAIRS} create+update pairs (one at a time, then {CONCURRENCY} at once); \
             {CAS_UPDATES} successive CAS updates of one request"
        );
        println!(
            "{:<14} {:>12} {:>14} {:>10} {:>10} {:>10}",
            "store", "pairs/s (1)", "pairs/s (16)", "CAS p50", "CAS p99", "CAS max"
        );
        measure("MemoryStore", &MemoryStore::new()).await;
        measure("TableStore", &table).await;
    });
    drop(emulator);
}
