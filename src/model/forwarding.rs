//! What an upstream receives of the client behind a call: selected request headers, the
//! client's own `Authorization` (against the MCP specification's advice, only when asked), or a
//! token exchanged for one meant for the upstream (RFC 8693). Checked in `validate/forwarding.rs`;
//! applied by `upstream::forwarding`.

use super::Secret;

/// What one upstream receives of its callers.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Forwarding {
    /// Client request header names passed on, lowercased.
    pub headers: Vec<String>,
    /// The client's `Authorization` header, passed on as it came.
    pub authorization: bool,
    pub exchange: Option<TokenExchange>,
}

impl Forwarding {
    pub(crate) fn is_empty(&self) -> bool {
        self.headers.is_empty() && !self.authorization && self.exchange.is_none()
    }

    /// Whether calls carry a credential of their caller's, so each caller needs an upstream
    /// session of its own (an upstream binds its sessions to the user they were opened for).
    pub(crate) fn per_caller(&self) -> bool {
        self.authorization || self.exchange.is_some()
    }

    /// The client request headers the gateway must keep for this upstream.
    pub(crate) fn wanted(&self) -> impl Iterator<Item = &str> {
        let authorization = self.per_caller().then_some("authorization");
        self.headers.iter().map(String::as_str).chain(authorization)
    }
}

/// OAuth 2.0 Token Exchange (RFC 8693) at an authorization server's token endpoint.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TokenExchange {
    pub endpoint: url::Url,
    pub client_id: String,
    pub client_secret: Option<Secret>,
    pub audience: Option<String>,
    pub resource: Option<String>,
    pub scopes: Vec<String>,
}

/// Request headers that are never passed on by name: credentials (which have their own,
/// explicit settings), the connection's own, and those the gateway sets for the upstream.
pub(crate) const NEVER_FORWARDED: [&str; 20] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "host",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "content-type",
    "accept",
    "mcp-session-id",
    "mcp-protocol-version",
    "mcp-method",
    "mcp-name",
    "last-event-id",
];
