//! Logs as the Functions host wants them: one JSON object per line, informational lines on
//! stdout (logged at Information) and warnings and errors on stderr (logged at Error, or
//! Warning when the line contains "warn"). The current span's fields — the invocation id
//! above all — are on every line.

use tracing::Level;
use tracing_subscriber::{
    EnvFilter, fmt::writer::MakeWriterExt, layer::SubscriberExt, util::SubscriberInitExt,
};

/// The default filter: our own crate at info, everything else at warn.
const DEFAULT_FILTER: &str = "imageshare=info,handler=info,warn";

/// Installs the global subscriber. `RUST_LOG` overrides the default filter.
pub fn init() {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let writer = std::io::stderr
        .with_max_level(Level::WARN)
        .or_else(std::io::stdout);
    let format = tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(true)
        .with_target(true)
        .with_writer(writer);
    // A second init (tests) is harmless; ignore it.
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(format)
        .try_init();
}
