//! A thousand shares for fifty tenants inside Azure's throttling limits, on two instances.
//!
//! Runs `--shares` app-consent share requests (default 1,000) for `--tenants` generated
//! consumer tenants (default 50) through `--instances` instances of the app (default 2: two
//! func-hosts, each with its own handler process) on one Azurite table store and one
//! simulator, with Resource Manager's regional throttling and Microsoft Graph's identity
//! throttling on at their documented figures. Requests come in waves: one per tenant for a
//! new image version, the whole wave at once, the next `--wave-interval` simulated seconds
//! later (default 0). Each tenant's admin is a script (`local_run::admin::AdminScript`) that
//! reads its mailbox in the simulator, approves each request's link (consenting on
//! Microsoft's page the first time) and grants the app Contributor once, after pauses of
//! seconds to a minute of simulated time drawn from a seeded generator (`--seed`).
//!
//! **Time.** The simulator's clock, which the handlers and hosts follow, is driven: whenever
//! no Service Bus message is visible or locked (no invocation is running), no admin move and no
//! wave is due, it jumps to the earliest scheduled time (a re-check, a retry, an admin's move,
//! the next wave). Idle waiting (`Retry-After` between polls, replication windows, a person's
//! pause) then costs no wall time; nothing happens sooner than it was scheduled for. The
//! throttling buckets refill on the simulated clock, so the budgets per simulated second are
//! the documented ones and the run is reported against simulated time as well as wall time.
//! `--real-clock` runs at real speed instead.
//!
//! **The throttling bound** is the least time the budgets allow for the requests the run
//! made: for every bucket, `max(0, (requests - bucket size) / refill per second)`, the largest
//! over Resource Manager's writes and reads per principal and subscription, Compute's
//! `PutVM3Min` and Graph's writes and resource units per application and tenant; the report
//! prints each with its figures.
//!
//! Output: completed / failed / still active, wall and simulated time (to the latest request's
//! end: its last history entry or access release) against the bound, Azure
//! calls per share by service against the API minimum of app-consent (README, "Performance"),
//! 429s and whether each `Retry-After` was honoured, each handler's peak RSS (`VmHWM`), events
//! published against history entries, and the counts proving nothing was made twice.
//!
//! Run: `cargo bench --bench fleet -- --shares 1000 --tenants 50` (or `FLEET_SHARES`,
//! `FLEET_TENANTS`, `FLEET_INSTANCES`, `FLEET_CONCURRENCY`, `FLEET_WAVE_INTERVAL`, `FLEET_SEED`).
//! Needs Node.js and npm (Azurite is installed on first use); `--memory` keeps requests in
//! each handler's memory instead (only with one instance). `--arm-writes 40/2` gives every
//! principal a smaller Resource Manager write bucket per subscription (a subscription whose
//! budget other work already uses), so the run meets 429s; `--handler PATH` runs another
//! handler executable (a script that starts the built one under a heap profiler).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{path::PathBuf, process::ExitCode, time::Duration};

use azure_sim::scenario::Bucket;
use local_run::{
    fleet::{self, ClockMode, FleetOptions},
    stack::LocalStore,
};

const USAGE: &str = "usage: cargo bench --bench fleet -- [--shares N] [--tenants M] [--instances K] [--concurrency C] \
     [--wave-interval SECONDS] [--seed S] [--timeout SECONDS] [--real-clock] [--memory] [--operations N] \
     [--setting NAME=VALUE]... [--arm-writes SIZE/RATE] [--handler PATH]";

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Applies the command line to `options`; the number of operations to list.
fn parse(options: &mut FleetOptions) -> Result<usize, String> {
    let mut operations = 25;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || -> Result<u64, String> {
            args.next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("{arg} needs a number"))
        };
        match arg.as_str() {
            "--shares" => options.shares = value()? as usize,
            "--tenants" => options.tenants = value()? as usize,
            "--instances" => options.instances = value()? as usize,
            "--concurrency" => options.max_concurrent_calls = value()? as usize,
            "--wave-interval" => options.wave_interval = Duration::from_secs(value()?),
            "--seed" => options.seed = value()?,
            "--timeout" => options.timeout = Duration::from_secs(value()?),
            "--operations" => operations = value()? as usize,
            "--setting" => {
                let pair = args.next().unwrap_or_default();
                let (name, value) = pair
                    .split_once('=')
                    .ok_or_else(|| "--setting needs NAME=VALUE".to_owned())?;
                options
                    .extra_settings
                    .push((name.to_owned(), value.to_owned()));
            }
            "--arm-writes" => {
                let spec = args.next().unwrap_or_default();
                let (size, rate) = spec
                    .split_once('/')
                    .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
                    .filter(|&(size, rate): &(u32, u32)| size > 0 && rate > 0)
                    .ok_or_else(|| {
                        "--arm-writes needs SIZE/REFILL_PER_SECOND, e.g. 40/2".to_owned()
                    })?;
                options.arm_writes = Some(Bucket {
                    bucket: size,
                    refill_per_second: rate,
                });
            }
            "--handler" => {
                options.handler_binary = PathBuf::from(args.next().unwrap_or_default());
            }
            "--real-clock" => options.clock = ClockMode::Real,
            "--memory" => options.store = LocalStore::Memory,
            // `cargo bench` passes `--bench` to every bench binary.
            "--bench" => {}
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if options.store == LocalStore::Memory && options.instances > 1 {
        return Err("--memory keeps requests in one handler's memory: use --instances 1".into());
    }
    Ok(operations)
}

fn main() -> ExitCode {
    let scratch = std::env::temp_dir().join(format!("imageshare-fleet-{}", std::process::id()));
    let mut options = FleetOptions::new(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")),
        PathBuf::from(env!("CARGO_BIN_EXE_handler")),
        scratch.clone(),
    );
    options.shares = env_or("FLEET_SHARES", options.shares);
    options.tenants = env_or("FLEET_TENANTS", options.tenants);
    options.instances = env_or("FLEET_INSTANCES", options.instances);
    options.max_concurrent_calls = env_or("FLEET_CONCURRENCY", options.max_concurrent_calls);
    options.wave_interval = Duration::from_secs(env_or("FLEET_WAVE_INTERVAL", 0));
    options.seed = env_or("FLEET_SEED", options.seed);
    options.progress = true;
    let operations = match parse(&mut options) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let result = runtime.block_on(fleet::run(&options));
    let _ = std::fs::remove_dir_all(&scratch);
    match result {
        Ok(report) => {
            println!("{}", report.render());
            println!("Azure calls by operation:");
            print!("{}", report.render_operations(operations));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("the fleet run failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}
