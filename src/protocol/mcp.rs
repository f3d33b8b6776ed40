//! MCP protocol versions and the fixed parts of the gateway's own messages.

/// Session-based protocol versions the gateway speaks on both sides, newest first.
pub const SUPPORTED_VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];
pub const LATEST_VERSION: &str = SUPPORTED_VERSIONS[0];
/// The version assumed when a streamable HTTP client sends no `MCP-Protocol-Version` header.
pub const DEFAULT_HTTP_VERSION: &str = "2025-03-26";

/// The version to answer an `initialize` with: the client's when we speak it, else our latest.
pub fn negotiate(requested: Option<&str>) -> &'static str {
    requested.and_then(|r| SUPPORTED_VERSIONS.iter().find(|v| **v == r)).copied().unwrap_or(LATEST_VERSION)
}

pub fn is_supported(version: &str) -> bool {
    SUPPORTED_VERSIONS.contains(&version)
}

/// Whether event streams of a session at `version` carry event ids a client may resume from
/// (streamable HTTP, 2025-03-26 on; the stateless 2026-07-28 revision has no sessions to resume in).
/// Versions are dates, so they order as text.
pub fn has_resumable_streams(version: &str) -> bool {
    ("2025-03-26"..="2025-11-25").contains(&version)
}

/// Whether a session at `version` expects each event stream to open with an id-only priming event.
pub fn primes_streams(version: &str) -> bool {
    version == "2025-11-25"
}

/// Log levels from least to most severe (RFC 5424 names, as MCP uses them).
pub const LOG_LEVELS: [&str; 8] = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"];

/// A log level's severity rank (debug = 1 … emergency = 8); `None` for an unknown level.
pub fn log_rank(level: &str) -> Option<u8> {
    LOG_LEVELS.iter().position(|l| *l == level).map(|i| i as u8 + 1)
}

/// The gateway's name and version as it introduces itself to clients and upstreams.
pub fn implementation() -> serde_json::Value {
    serde_json::json!({ "name": "mcpgw", "version": env!("CARGO_PKG_VERSION") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_levels_rank_by_severity() {
        assert_eq!(log_rank("debug"), Some(1));
        assert!(log_rank("warning") > log_rank("info"));
        assert_eq!(log_rank("loud"), None);
    }

    #[test]
    fn negotiation() {
        assert_eq!(negotiate(Some("2025-03-26")), "2025-03-26");
        assert_eq!(negotiate(Some("2099-01-01")), LATEST_VERSION);
        assert_eq!(negotiate(None), LATEST_VERSION);
    }
}
