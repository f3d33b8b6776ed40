//! Who is calling, and from where: fixed on a session when it opens, carried on each stateless
//! request, and what every policy decides on.

use std::net::SocketAddr;
use std::sync::Arc;

/// Who is calling: the identity authentication established, plus where the call came from.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Caller {
    pub identity: Identity,
    /// The client's address, for network bindings.
    pub peer: Option<SocketAddr>,
    /// The request headers an upstream is to receive (`forward_headers`, a token to pass on or
    /// exchange), kept only when some upstream asks for them.
    pub presented: Option<Arc<ClientHeaders>>,
    pub binding: Binding,
}

/// The identity behind a caller.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Identity {
    /// Nobody was authenticated (authentication is off, or the listener is local).
    Anonymous,
    /// Authenticated.
    Principal(Arc<Principal>),
}

/// An authenticated caller: who, how, and what their credentials say about them.
#[derive(Debug, PartialEq)]
pub(crate) struct Principal {
    /// The token's `sub`, the API key's holder, the basic-auth user.
    pub subject: String,
    pub method: Method,
    /// OAuth scopes (`scope` or `scp`).
    pub scopes: Vec<String>,
    /// Groups (`groups` claim).
    pub groups: Vec<String>,
    /// Every claim of a token; an API key's attributes.
    pub claims: serde_json::Map<String, serde_json::Value>,
    /// The token's `jti`, for logs.
    pub token_id: Option<String>,
}

/// How a principal authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Method {
    /// A JSON Web Token from this issuer.
    Jwt {
        issuer: String,
    },
    ApiKey,
    Basic,
    /// A client certificate, verified by the listener's TLS.
    Certificate,
}

impl Identity {
    /// Whether two identities are the same principal (a token refreshed for the same subject
    /// from the same issuer is): what binds a session to its caller.
    pub(crate) fn same_as(&self, other: &Identity) -> bool {
        match (self, other) {
            (Identity::Anonymous, Identity::Anonymous) => true,
            (Identity::Principal(a), Identity::Principal(b)) => a.subject == b.subject && a.method == b.method,
            _ => false,
        }
    }

    /// What stays the same for one principal across its tokens (how it authenticated, the
    /// issuer, the subject): what state handed to a stateless caller is bound to. `None` for an
    /// anonymous caller.
    pub(crate) fn owner_key(&self) -> Option<String> {
        match self {
            Identity::Anonymous => None,
            Identity::Principal(p) => Some(match &p.method {
                Method::Jwt { issuer } => format!("jwt\n{issuer}\n{}", p.subject),
                Method::ApiKey => format!("api-key\n{}", p.subject),
                Method::Basic => format!("basic\n{}", p.subject),
                Method::Certificate => format!("certificate\n{}", p.subject),
            }),
        }
    }

    /// The subject, for logs (never a credential).
    pub(crate) fn subject(&self) -> Option<&str> {
        match self {
            Identity::Anonymous => None,
            Identity::Principal(p) => Some(&p.subject),
        }
    }
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
        Caller { identity: Identity::Anonymous, peer, binding, presented: None }
    }

    /// The local user running a command (`mcpgw call`).
    pub(crate) fn local() -> Caller {
        Caller::anonymous(Binding::Command, None)
    }
}

/// Request headers kept for upstreams, lowercased names with their values. Printed by name
/// only: values may be credentials.
#[derive(Clone, PartialEq, Default)]
pub(crate) struct ClientHeaders(pub Vec<(String, String)>);

impl ClientHeaders {
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The bearer token of the `Authorization` header, if that is what it holds.
    pub(crate) fn bearer(&self) -> Option<&str> {
        let value = self.get("authorization")?.trim();
        let (scheme, token) = value.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
    }
}

impl std::fmt::Debug for ClientHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.iter().map(|(name, _)| name)).finish()
    }
}
