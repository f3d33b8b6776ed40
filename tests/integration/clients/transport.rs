//! `Transport`: the served bindings, as a client meets them.

/// A served binding, as a client meets it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// Streamable HTTP with a session (2025-11-25): POST `…/mcp`, the session's GET stream.
    StreamableHttp,
    /// Streamable HTTP without a session (2026-07-28): every request stands alone, carrying its
    /// version and capabilities in `_meta` and mirrored headers.
    Stateless,
    /// Legacy HTTP+SSE (2024-11-05): `GET …/sse`, POSTs to the endpoint it announces, answers on the stream.
    Sse,
    /// WebSocket on `…/ws`, subprotocol `mcp`, one message per text frame.
    WebSocket,
    /// `mcpgw stdio -c <config> [--server NAME]`, a child process on the gateway's config.
    Stdio,
    /// Plain JSON-RPC: `POST …/rpc`, one request, one answer, nothing else.
    PlainRpc,
}

impl Transport {
    /// Every served binding.
    pub const ALL: [Transport; 6] = [
        Transport::StreamableHttp,
        Transport::Stateless,
        Transport::Sse,
        Transport::WebSocket,
        Transport::Stdio,
        Transport::PlainRpc,
    ];
    /// The bindings with sessions, in which a client subscribes, sets a log level and hears
    /// notifications on a stream of its own.
    pub const WITH_SESSIONS: [Transport; 4] =
        [Transport::StreamableHttp, Transport::Sse, Transport::WebSocket, Transport::Stdio];

    pub fn name(self) -> &'static str {
        match self {
            Transport::StreamableHttp => "streamable_http",
            Transport::Stateless => "stateless",
            Transport::Sse => "sse",
            Transport::WebSocket => "websocket",
            Transport::Stdio => "stdio",
            Transport::PlainRpc => "jsonrpc_http",
        }
    }

    /// Whether a client has a session: `initialize`, `resources/subscribe`, `logging/setLevel` and
    /// a stream for the session's notifications. Stateless clients hear notifications only on a
    /// request's own stream and on `subscriptions/listen` (`TestClient::listen`).
    pub fn supports_sessions(self) -> bool {
        Self::WITH_SESSIONS.contains(&self)
    }

    /// Whether the server can ask this client something (sampling, elicitation, roots) while
    /// serving its request. Stateless clients are asked through `input_required` results.
    pub fn can_be_asked(self) -> bool {
        self != Transport::PlainRpc
    }

    /// The HTTP path of this binding for `virtual_server` (`None` for stdio).
    pub fn path(self, virtual_server: &str) -> Option<String> {
        let leaf = match self {
            Transport::StreamableHttp | Transport::Stateless => "mcp",
            Transport::Sse => "sse",
            Transport::WebSocket => "ws",
            Transport::PlainRpc => "rpc",
            Transport::Stdio => return None,
        };
        Some(match virtual_server {
            "default" => format!("/{leaf}"),
            other => format!("/servers/{other}/{leaf}"),
        })
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
