//! The stateless revision's vocabulary (MCP 2026-07-28), written once for both sides: its
//! version, the `_meta` keys every request carries, the headers that mirror the body over HTTP,
//! and its error codes. "Stateless" names this side everywhere in mcpgw; the other side is
//! "session-based" (the versions up to 2025-11-25, opened by `initialize`).

use base64::Engine as _;

/// The stateless protocol version, spoken on both sides.
pub(crate) const VERSION: &str = "2026-07-28";
/// Stateless versions served, newest first.
pub(crate) const VERSIONS: &[&str] = &[VERSION];

/// Whether `version` is a stateless one.
pub(crate) fn is_version(version: &str) -> bool {
    VERSIONS.contains(&version)
}

/// Every version a client may use, stateless first: the `supported` list of version errors and
/// of `server/discover`.
pub(crate) fn all_versions() -> Vec<&'static str> {
    VERSIONS.iter().chain(super::mcp::SUPPORTED_VERSIONS.iter()).copied().collect()
}

/// Keys of a stateless request's (or result's) `_meta`.
pub(crate) mod meta {
    pub(crate) const PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
    pub(crate) const CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
    pub(crate) const CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";
    /// The least severe log level the request wants messages at.
    pub(crate) const LOG_LEVEL: &str = "io.modelcontextprotocol/logLevel";
    pub(crate) const SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";
    /// Tags each message of a `subscriptions/listen` stream.
    pub(crate) const SUBSCRIPTION_ID: &str = "io.modelcontextprotocol/subscriptionId";
}

/// The request's method, mirrored into a header (lower case, as HTTP/2 sends names).
pub(crate) const METHOD_HEADER: &str = "mcp-method";
/// The request's target (tool or prompt name, resource URI, task id), mirrored into a header.
pub(crate) const NAME_HEADER: &str = "mcp-name";

/// A mirrored header does not match the body.
pub(crate) const HEADER_MISMATCH: i64 = -32020;
/// The request lacks a client capability the server needs for it.
pub(crate) const MISSING_CLIENT_CAPABILITY: i64 = -32021;
/// The request names a protocol version the server does not speak.
pub(crate) const UNSUPPORTED_VERSION: i64 = -32022;

/// A request's `resultType` when its result is final.
pub(crate) const COMPLETE: &str = "complete";
/// A request's `resultType` when the server needs answers from the client first.
pub(crate) const INPUT_REQUIRED: &str = "input_required";

/// Text as a header value: as is when it is plain visible ASCII without surrounding blanks, else
/// the `=?base64?…?=` form.
pub(crate) fn header_value(text: &str) -> String {
    let plain = text.bytes().all(|b| (0x20..=0x7e).contains(&b) || b == b'\t')
        && text.trim() == text
        && !(text.starts_with("=?base64?") && text.ends_with("?="));
    if plain {
        text.to_string()
    } else {
        format!("=?base64?{}?=", base64::engine::general_purpose::STANDARD.encode(text))
    }
}

/// A header value as text, the `=?base64?…?=` form decoded; `None` when that form is malformed.
pub(crate) fn header_text(value: &str) -> Option<String> {
    match value.strip_prefix("=?base64?").and_then(|t| t.strip_suffix("?=")) {
        Some(encoded) => String::from_utf8(base64::engine::general_purpose::STANDARD.decode(encoded).ok()?).ok(),
        None => Some(value.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_round_trip() {
        assert_eq!(header_value("get_weather"), "get_weather");
        assert_eq!(header_value("Hello, 世界"), "=?base64?SGVsbG8sIOS4lueVjA==?=");
        assert_eq!(header_value(" padded"), "=?base64?IHBhZGRlZA==?=");
        assert_eq!(header_text("=?base64?SGVsbG8sIOS4lueVjA==?=").as_deref(), Some("Hello, 世界"));
        assert_eq!(header_text("get_weather").as_deref(), Some("get_weather"));
        assert_eq!(header_text("=?base64?***?="), None);
    }

    #[test]
    fn stateless_versions_come_first() {
        assert_eq!(all_versions()[0], VERSION);
        assert!(is_version(VERSION) && !is_version("2025-11-25"));
    }
}
