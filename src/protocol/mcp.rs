//! MCP protocol versions and the fixed parts of the gateway's own messages.

/// Session-based protocol versions the gateway speaks on both sides, newest first.
pub(crate) const SUPPORTED_VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];
pub(crate) const LATEST_VERSION: &str = SUPPORTED_VERSIONS[0];

/// The session id header of streamable HTTP (lower case, as HTTP/2 sends names).
pub(crate) const SESSION_HEADER: &str = "mcp-session-id";
/// The protocol version header of streamable HTTP, in both eras.
pub(crate) const VERSION_HEADER: &str = "mcp-protocol-version";
/// Where a client resumes an event stream from.
pub(crate) const LAST_EVENT_ID: &str = "last-event-id";

/// The version to answer an `initialize` with: the client's when we speak it, else our latest.
pub(crate) fn negotiate(requested: Option<&str>) -> &'static str {
    requested.and_then(|r| SUPPORTED_VERSIONS.iter().find(|v| **v == r)).copied().unwrap_or(LATEST_VERSION)
}

pub(crate) fn is_supported(version: &str) -> bool {
    SUPPORTED_VERSIONS.contains(&version)
}

/// Whether event streams of a session at `version` carry event ids a client may resume from
/// (streamable HTTP, 2025-03-26 on; the stateless 2026-07-28 revision has no sessions to resume in).
/// Versions are dates, so they order as text.
pub(crate) fn has_resumable_streams(version: &str) -> bool {
    ("2025-03-26"..="2025-11-25").contains(&version)
}

/// Whether a session at `version` expects each event stream to open with an id-only priming event.
pub(crate) fn primes_streams(version: &str) -> bool {
    version == "2025-11-25"
}

/// A log level (RFC 5424 names, as MCP uses them), ordered from least to most severe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub(crate) enum LogLevel {
    Debug = 1,
    Info,
    Notice,
    Warning,
    Error,
    Critical,
    Alert,
    Emergency,
}

impl LogLevel {
    pub(crate) const ALL: [LogLevel; 8] = [
        LogLevel::Debug,
        LogLevel::Info,
        LogLevel::Notice,
        LogLevel::Warning,
        LogLevel::Error,
        LogLevel::Critical,
        LogLevel::Alert,
        LogLevel::Emergency,
    ];

    /// The level named `name`; `None` for a name MCP does not have.
    pub(crate) fn parse(name: &str) -> Option<LogLevel> {
        LogLevel::ALL.into_iter().find(|l| l.as_str() == name)
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Notice => "notice",
            LogLevel::Warning => "warning",
            LogLevel::Error => "error",
            LogLevel::Critical => "critical",
            LogLevel::Alert => "alert",
            LogLevel::Emergency => "emergency",
        }
    }

    /// Every level's name, least severe first, for error messages.
    pub(crate) fn names() -> String {
        LogLevel::ALL.map(LogLevel::as_str).join(", ")
    }
}

/// The least severe log level someone asked for, or none yet; shared between threads.
#[derive(Debug, Default)]
pub(crate) struct LogThreshold(std::sync::atomic::AtomicU8);

impl LogThreshold {
    pub(crate) fn get(&self) -> Option<LogLevel> {
        let rank = self.0.load(std::sync::atomic::Ordering::Relaxed);
        LogLevel::ALL.into_iter().find(|l| *l as u8 == rank)
    }

    pub(crate) fn set(&self, level: LogLevel) {
        self.0.store(level as u8, std::sync::atomic::Ordering::Relaxed);
    }

    /// Sets `level`, returning what it was.
    pub(crate) fn replace(&self, level: LogLevel) -> Option<LogLevel> {
        let before = self.0.swap(level as u8, std::sync::atomic::Ordering::AcqRel);
        LogLevel::ALL.into_iter().find(|l| *l as u8 == before)
    }

    /// Lowers the threshold to `level` unless it already lets `level` through; true when it changed.
    pub(crate) fn widen(&self, level: LogLevel) -> bool {
        use std::sync::atomic::Ordering;
        let rank = level as u8;
        self.0.fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| (now == 0 || rank < now).then_some(rank)).is_ok()
    }

    /// Whether a message at `level` passes: something was asked for, and `level` is at least that.
    pub(crate) fn passes(&self, level: LogLevel) -> bool {
        self.get().is_some_and(|wanted| level >= wanted)
    }
}

/// The gateway's name and version as it introduces itself to clients and upstreams.
pub(crate) fn implementation() -> serde_json::Value {
    serde_json::json!({ "name": "mcpgw", "version": env!("CARGO_PKG_VERSION") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_levels_order_by_severity() {
        assert_eq!(LogLevel::parse("debug"), Some(LogLevel::Debug));
        assert!(LogLevel::parse("warning") > LogLevel::parse("info"));
        assert_eq!(LogLevel::parse("loud"), None);
        let threshold = LogThreshold::default();
        assert!(!threshold.passes(LogLevel::Emergency), "nothing passes until a level is asked for");
        assert!(threshold.widen(LogLevel::Info));
        assert!(!threshold.widen(LogLevel::Error), "info already lets errors through");
        assert!(threshold.passes(LogLevel::Error) && !threshold.passes(LogLevel::Debug));
        assert_eq!(threshold.replace(LogLevel::Debug), Some(LogLevel::Info));
    }

    #[test]
    fn negotiation() {
        assert_eq!(negotiate(Some("2025-03-26")), "2025-03-26");
        assert_eq!(negotiate(Some("2099-01-01")), LATEST_VERSION);
        assert_eq!(negotiate(None), LATEST_VERSION);
    }
}
