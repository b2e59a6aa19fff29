//! `imageshare-local`: the one-command local run.
//!
//! ```text
//! cargo run -p local-run -- [--demo] [--strategy app-consent|lighthouse|direct-share|direct-share-vm|rbac-guest] [--memory] [--port 7071] [--sim-port 0]
//! ```
//! Builds the handler, starts azure-sim with the demo scenario and Azurite (the requests'
//! Table Storage; `--memory` keeps them in the handler instead), stages the function app and
//! runs it under func-host on 127.0.0.1:7071, everything pointed at the simulator. Without
//! `--demo` it runs until Ctrl-C; with `--demo` it drives one share request to a running VM
//! and exits 0, or exits 1 saying where it stopped.

use std::{
    net::{Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    process::ExitCode,
    time::Duration,
};

use anyhow::{Context, bail};
use azure_sim::Scenario;
use local_run::{
    demo, direct_share, lighthouse, rbac_guest,
    stack::{LocalStore, Stack, StackOptions, demo_request},
};

/// Which strategy `--demo` plays.
#[derive(Clone, Copy, PartialEq, Eq)]
enum DemoStrategy {
    AppConsent,
    Lighthouse,
    DirectShare,
    DirectShareWithVm,
    RbacGuest,
}

struct Args {
    help: bool,
    demo: bool,
    strategy: DemoStrategy,
    memory: bool,
    port: u16,
    sim_port: u16,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        help: false,
        demo: false,
        strategy: DemoStrategy::AppConsent,
        memory: false,
        port: 7071,
        sim_port: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--demo" => args.demo = true,
            "--memory" => args.memory = true,
            "--strategy" => match it.next().as_deref() {
                Some("app-consent") => args.strategy = DemoStrategy::AppConsent,
                Some("lighthouse") => args.strategy = DemoStrategy::Lighthouse,
                Some("direct-share") => args.strategy = DemoStrategy::DirectShare,
                Some("direct-share-vm") => args.strategy = DemoStrategy::DirectShareWithVm,
                Some("rbac-guest") => args.strategy = DemoStrategy::RbacGuest,
                other => bail!(
                    "--strategy needs 'app-consent', 'lighthouse', 'direct-share', 'direct-share-vm' or 'rbac-guest', not {}",
                    other.unwrap_or("nothing")
                ),
            },
            "--port" => {
                args.port = it
                    .next()
                    .context("--port needs a value")?
                    .parse()
                    .context("--port")?
            }
            "--sim-port" => {
                args.sim_port = it
                    .next()
                    .context("--sim-port needs a value")?
                    .parse()
                    .context("--sim-port")?
            }
            "-h" | "--help" => args.help = true,
            other => bail!("unknown argument '{other}' (try --help)"),
        }
    }
    Ok(args)
}

/// The repository root: where host.json and functions/ are.
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Builds the handler with the profile this binary was built with, and returns its path.
fn build_handler() -> anyhow::Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = std::process::Command::new(cargo);
    command.current_dir(repo_root()).args([
        "build",
        "--quiet",
        "-p",
        "imageshare",
        "--bin",
        "handler",
    ]);
    if !cfg!(debug_assertions) {
        command.arg("--release");
    }
    let status = command
        .status()
        .context("running cargo build for the handler")?;
    if !status.success() {
        bail!("building the handler failed");
    }
    let dir = std::env::current_exe()?
        .parent()
        .context("no executable directory")?
        .to_path_buf();
    let handler = dir.join("handler");
    if !handler.is_file() {
        bail!("the handler was built but is not at {}", handler.display());
    }
    Ok(handler)
}

async fn run(args: Args) -> anyhow::Result<()> {
    let handler = build_handler()?;
    let app_dir = handler.with_file_name("imageshare-local-app");
    let stack = Stack::start(StackOptions {
        source_root: repo_root(),
        handler_binary: handler,
        app_dir,
        listen: SocketAddr::from((Ipv4Addr::LOCALHOST, args.port)),
        sim_listen: SocketAddr::from((Ipv4Addr::LOCALHOST, args.sim_port)),
        scenario: match args.strategy {
            DemoStrategy::AppConsent => Scenario::demo(),
            DemoStrategy::Lighthouse => lighthouse::scenario(),
            DemoStrategy::DirectShare | DemoStrategy::DirectShareWithVm => direct_share::scenario(),
            DemoStrategy::RbacGuest => rbac_guest::scenario(),
        },
        store: if args.memory {
            LocalStore::Memory
        } else {
            LocalStore::Azurite
        },
        extra_settings: Vec::new(),
    })
    .await?;
    println!(
        "imageshare is running at {} (functions: {})",
        stack.base_url,
        stack.host.functions().len()
    );
    println!(
        "simulated Azure (tenants Contoso and Fabrikam) is at {}",
        stack.sim.url()
    );
    match &stack.azurite {
        Some(azurite) => println!(
            "requests are kept in Table Storage on Azurite at {}",
            azurite.table_endpoint()
        ),
        None => println!("requests are kept in the handler's memory (--memory)"),
    }

    if args.demo && args.strategy != DemoStrategy::AppConsent {
        let timeout = Duration::from_secs(600);
        let print = |line: &str| println!("{line}");
        let outcome = match args.strategy {
            DemoStrategy::Lighthouse => lighthouse::run(&stack, timeout, print).await,
            DemoStrategy::DirectShare => direct_share::run(&stack, timeout, print).await,
            DemoStrategy::DirectShareWithVm => {
                direct_share::run_with_vm(&stack, timeout, print).await
            }
            _ => rbac_guest::run(&stack, timeout, print).await,
        };
        let shutdown = stack.shutdown().await;
        let done = outcome?;
        println!("\n{}", done["summary"].as_str().unwrap_or_default());
        shutdown?;
        return Ok(());
    }
    if args.demo {
        let outcome = demo::run(&stack, Duration::from_secs(600), |line| println!("{line}")).await;
        let shutdown = stack.shutdown().await;
        let report = outcome?;
        println!("\n{}", report.render());
        shutdown?;
        return Ok(());
    }

    println!("\nsubmit a share request:");
    println!(
        "  curl -si -X POST {}/api/share-requests -H 'Content-Type: application/json' -d '{}'",
        stack.base_url,
        demo_request()
    );
    println!(
        "then follow its Location; the consent mail lands in {}/_sim/outbox/contoso.onmicrosoft.com",
        stack.sim.url()
    );
    println!("press Ctrl-C to stop");
    tokio::signal::ctrl_c().await?;
    stack.shutdown().await
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("imageshare-local: {e:#}");
            return ExitCode::from(2);
        }
    };
    if args.help {
        println!(
            "usage: imageshare-local [--demo] [--strategy app-consent|lighthouse|direct-share|direct-share-vm|rbac-guest] [--memory] [--port 7071] [--sim-port 0]"
        );
        return ExitCode::SUCCESS;
    }
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("imageshare-local: {e:#}");
            ExitCode::FAILURE
        }
    }
}
