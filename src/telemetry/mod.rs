//! Logging setup: structured events to stderr, as text or JSON, filtered by `MCPGW_LOG` (or `RUST_LOG`).

use tracing_subscriber::EnvFilter;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Installs the global subscriber. Logs go to stderr so stdout stays free for protocol or command output.
pub(crate) fn init(format: LogFormat) {
    init_with_default(format, "info");
}

/// As `init`, with `default` as the filter when neither variable is set (commands whose output
/// is the point log only warnings).
pub(crate) fn init_with_default(format: LogFormat, default: &str) {
    let filter = std::env::var("MCPGW_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.with_ansi(false).try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
