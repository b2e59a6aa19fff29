//! `func-host`: a local Functions host for custom-handler apps.
//!
//! ```text
//! func-host start --app-dir DIR [--port 7071] [--azure-sim http://127.0.0.1:PORT]
//! func-host stage --source DIR --handler PATH --out DIR [--local-settings FILE]
//! ```

use std::{net::SocketAddr, path::PathBuf, process::ExitCode};

use func_host::{HostOptions, StageOptions, stage_app, start};

const USAGE: &str = "usage:
  func-host start --app-dir DIR [--port 7071] [--azure-sim http://127.0.0.1:PORT]
  func-host stage --source DIR --handler PATH --out DIR [--local-settings FILE]";

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("start") => run_start(&args[1..]),
        Some("stage") => run_stage(&args[1..]),
        _ => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

fn flag(args: &[String], name: &str) -> Result<Option<String>, String> {
    match args.iter().position(|a| a == name) {
        Some(i) => args
            .get(i + 1)
            .cloned()
            .map(Some)
            .ok_or_else(|| format!("{name} needs a value\n{USAGE}")),
        None => Ok(None),
    }
}

fn run_stage(args: &[String]) -> Result<(), String> {
    let need = |name: &str| -> Result<PathBuf, String> {
        flag(args, name)?
            .map(PathBuf::from)
            .ok_or_else(|| format!("{name} is required\n{USAGE}"))
    };
    let staged = stage_app(&StageOptions {
        source_root: need("--source")?,
        handler_binary: need("--handler")?,
        out_dir: need("--out")?,
        local_settings: flag(args, "--local-settings")?.map(PathBuf::from),
    })
    .map_err(|e| error_chain(&e))?;
    println!(
        "staged {} function(s) in {}",
        staged.functions.len(),
        staged.dir.display()
    );
    Ok(())
}

fn run_start(args: &[String]) -> Result<(), String> {
    let app_dir =
        flag(args, "--app-dir")?.ok_or_else(|| format!("--app-dir is required\n{USAGE}"))?;
    let port: u16 = flag(args, "--port")?
        .map_or(Ok(7071), |p| p.parse())
        .map_err(|_| "--port must be a number".to_owned())?;
    let mut options = HostOptions::new(app_dir);
    options.listen = SocketAddr::from(([127, 0, 0, 1], port));
    options.azure_sim = flag(args, "--azure-sim")?;

    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        // Registered before anything is printed, so a Ctrl-C right after the listening
        // line still stops gracefully instead of killing the host (and orphaning the handler).
        let mut interrupt =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
                .map_err(|e| format!("cannot handle Ctrl-C: {e}"))?;
        let host = start(options).await.map_err(|e| error_chain(&e))?;
        println!("func-host listening on http://{}", host.addr());
        println!();
        println!("Functions:");
        println!();
        for f in host.functions() {
            println!("        {}: {}", f.name, f.trigger);
            println!();
        }
        let stop = host.stop_handle();
        tokio::spawn(async move {
            if interrupt.recv().await.is_some() {
                eprintln!("shutting down");
                stop.stop();
            }
        });
        host.wait().await.map_err(|e| error_chain(&e))
    })
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
