//! Who is calling, and from where: fixed on a session when it opens, carried on each stateless
//! request, and what every policy decides on.

use std::net::SocketAddr;

/// Who is calling: the identity authentication established, plus where the call came from.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Caller {
    pub identity: Identity,
    /// The client's address, for network bindings.
    pub peer: Option<SocketAddr>,
    pub binding: Binding,
}

/// The identity behind a caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Identity {
    /// Nobody was authenticated.
    Anonymous,
}

/// The wire binding a call arrived on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Binding {
    /// Streamable HTTP, either era.
    StreamableHttp,
    /// Legacy HTTP+SSE.
    Sse,
    WebSocket,
    /// Plain JSON-RPC over HTTP (`/rpc`).
    JsonRpc,
    /// `mcpgw stdio`.
    Stdio,
    /// `mcpgw call`, from the command line.
    Command,
}

impl Binding {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Binding::StreamableHttp => "streamable_http",
            Binding::Sse => "sse",
            Binding::WebSocket => "websocket",
            Binding::JsonRpc => "jsonrpc_http",
            Binding::Stdio => "stdio",
            Binding::Command => "command",
        }
    }
}

impl Caller {
    /// An unauthenticated caller.
    pub(crate) fn anonymous(binding: Binding, peer: Option<SocketAddr>) -> Caller {
        Caller { identity: Identity::Anonymous, peer, binding }
    }

    /// The local user running a command (`mcpgw call`).
    pub(crate) fn local() -> Caller {
        Caller::anonymous(Binding::Command, None)
    }
}
