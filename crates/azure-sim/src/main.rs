//! `azure-sim --listen 127.0.0.1:PORT --scenario demo|FILE`

use std::{io::Write, net::SocketAddr, process::ExitCode};

use azure_sim::{Scenario, Sim};

const USAGE: &str = "usage: azure-sim [--listen 127.0.0.1:PORT] [--scenario demo|FILE]";

fn parse_args() -> Result<(SocketAddr, String), String> {
    let mut listen = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut scenario = "demo".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => {
                let value = args.next().ok_or("--listen needs an address")?;
                listen = value.parse().map_err(|_| {
                    format!("--listen: '{value}' is not an address like 127.0.0.1:4000")
                })?;
            }
            "--scenario" => scenario = args.next().ok_or("--scenario needs demo or a file")?,
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument '{other}'\n{USAGE}")),
        }
    }
    Ok((listen, scenario))
}

#[tokio::main]
async fn main() -> ExitCode {
    let (listen, scenario) = match parse_args() {
        Ok(v) => v,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let scenario = match Scenario::load(&scenario) {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "azure-sim: {e}: {}",
                std::error::Error::source(&e)
                    .map(ToString::to_string)
                    .unwrap_or_default()
            );
            return ExitCode::from(2);
        }
    };
    let sim = match Sim::builder(scenario).listen(listen).start().await {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!("azure-sim: {e}");
            return ExitCode::from(1);
        }
    };
    // The first stdout line is a contract: scripts wait for it and read the port from it.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "azure-sim listening on {}", sim.url());
    let _ = out.flush();
    drop(out);
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stdout)
        .init();
    let _ = tokio::signal::ctrl_c().await;
    tracing::info!("azure-sim shutting down");
    drop(sim);
    ExitCode::SUCCESS
}
