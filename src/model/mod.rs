//! The checked, resolved config: every name validated, every `${VAR}` expanded, every default
//! filled in. `validate` is pure: no I/O, no clock, no network.

pub(crate) mod access;
pub(crate) mod auth;
pub(crate) mod forwarding;
mod provided;
pub(crate) mod rest;
pub(crate) mod shape;
mod validate;

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub(crate) use crate::config::Pattern;
pub(crate) use provided::{Offered, Unprovided, unprovided};
pub(crate) use rest::{RestApi, RestAuth, RestBody, RestChecks, RestTool};
pub(crate) use shape::{ArgumentShape, OnChange, ToolShape};
#[cfg(test)]
pub(crate) use validate::validate;
pub(crate) use validate::validate_with;

/// The address used when the file names none: loopback only, so nothing is exposed by accident.
pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:4444";
/// The virtual server served at `/mcp`.
pub(crate) const DEFAULT_SERVER: &str = "default";

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Model {
    pub listen: SocketAddr,
    /// How clients authenticate where a virtual server does not say otherwise.
    pub auth: auth::Auth,
    /// Authorization rules for every virtual server.
    pub access: Vec<access::Rule>,
    /// Placed between prefix and item name in public names.
    pub separator: String,
    /// In file order; that order breaks ties between colliding items.
    pub upstreams: Vec<Upstream>,
    pub virtual_servers: Vec<VirtualServer>,
    pub serving: Serving,
}

impl Model {
    pub(crate) fn upstream(&self, name: &str) -> Option<&Upstream> {
        self.upstreams.iter().find(|u| u.name == name)
    }

    pub(crate) fn virtual_server(&self, name: &str) -> Option<&VirtualServer> {
        self.virtual_servers.iter().find(|v| v.name == name)
    }

    /// The CA client certificates are checked against, when some `auth` takes them (validation
    /// ensures there is one).
    pub(crate) fn client_ca(&self) -> Option<&str> {
        std::iter::once(&self.auth).chain(self.virtual_servers.iter().filter_map(|v| v.auth.as_ref())).find_map(|a| {
            match a {
                auth::Auth::Required(m) => m.mtls.as_ref().map(|m| m.ca_pem.as_str()),
                _ => None,
            }
        })
    }

    /// How the clients of `virtual_server` authenticate: its own `auth`, else the file's.
    pub(crate) fn auth_for(&self, virtual_server: &str) -> &auth::Auth {
        self.virtual_server(virtual_server).and_then(|v| v.auth.as_ref()).unwrap_or(&self.auth)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Upstream {
    pub name: String,
    /// Prefix of public names; empty means unprefixed.
    pub prefix: String,
    pub transport: Transport,
    pub tools: ItemFilter,
    pub resources: ItemFilter,
    pub prompts: ItemFilter,
    /// Longest wait for one request to this upstream.
    pub timeout: Duration,
    /// Whether clients share one upstream session or each get their own.
    pub sessions: Sessions,
    /// Which protocol era to speak to it.
    pub era: Era,
    /// Tool shaping and pins, by upstream-side tool name.
    pub shapes: Vec<ToolShape>,
    /// What it receives of the clients behind calls.
    pub forwarding: forwarding::Forwarding,
    /// How a lost connection is ridden out.
    pub reconnect: Reconnect,
}

/// Riding out a lost connection (`reconnect:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reconnect {
    /// How long a lost upstream's items stay listed while it reconnects.
    pub grace: Duration,
    /// The longest delay between two attempts.
    pub max_delay: Duration,
    /// Whether a request lost with its connection is sent again when running it twice is
    /// harmless. Read from the generation the lost request runs on, so changing it restarts
    /// nothing.
    pub resend_idempotent: bool,
}

impl Default for Reconnect {
    fn default() -> Self {
        Reconnect { grace: Duration::from_secs(30), max_delay: Duration::from_secs(30), resend_idempotent: true }
    }
}

impl Upstream {
    /// Whether a running connection made for `self` serves `other` as well: same transport,
    /// timeout, sessions and reconnect delays. Prefix, filters and shapes only change how the
    /// catalog is built.
    pub(crate) fn connects_like(&self, other: &Upstream) -> bool {
        self.name == other.name
            && self.transport == other.transport
            && self.timeout == other.timeout
            && self.sessions == other.sessions
            && self.era == other.era
            && self.forwarding == other.forwarding
            && (self.reconnect.grace, self.reconnect.max_delay) == (other.reconnect.grace, other.reconnect.max_delay)
    }

    /// The public name under which this upstream's item `key` of `kind` is published, or `None`
    /// when its filter hides it: `<prefix><separator><name>` for tools and prompts, after
    /// rename; resources keep their URIs.
    pub(crate) fn published_as(&self, kind: ListKind, key: &str, separator: &str) -> Option<String> {
        let filter = match kind {
            ListKind::Tools => &self.tools,
            ListKind::Resources => &self.resources,
            ListKind::Prompts => &self.prompts,
        };
        let name = filter.apply(key)?;
        Some(match kind {
            ListKind::Resources => name.to_string(),
            _ if self.prefix.is_empty() => name.to_string(),
            _ => format!("{}{separator}{name}", self.prefix),
        })
    }

    /// The shaping of the tool the upstream calls `name`, if the file gives one.
    pub(crate) fn shape(&self, name: &str) -> Option<&ToolShape> {
        self.shapes.iter().find(|s| s.tool == name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Sessions {
    /// One upstream session for every client until the upstream shows it asks clients things
    /// (sampling, elicitation, roots); from then on, one per client session that can answer.
    #[default]
    Auto,
    /// One upstream session for every client.
    Shared,
    /// One upstream session per client session, opened on its first call, closed when it ends.
    PerClient,
}

/// The protocol era spoken to an upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Era {
    /// `server/discover` first, `initialize` when it is not answered.
    #[default]
    Auto,
    /// The session-based versions: `initialize` at once.
    Session,
    /// The stateless protocol only.
    Stateless,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Transport {
    Stdio(StdioCommand),
    StreamableHttp {
        url: url::Url,
        headers: Vec<(String, Secret)>,
    },
    /// The legacy HTTP+SSE transport; `url` is the event stream.
    Sse {
        url: url::Url,
        headers: Vec<(String, Secret)>,
    },
    WebSocket {
        url: url::Url,
        headers: Vec<(String, Secret)>,
    },
    /// A REST API whose endpoints are declared as tools.
    Rest(Box<RestApi>),
}

impl Transport {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Transport::Stdio(_) => "stdio",
            Transport::StreamableHttp { .. } => "streamable_http",
            Transport::Sse { .. } => "sse",
            Transport::WebSocket { .. } => "websocket",
            Transport::Rest(_) => "rest",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StdioCommand {
    pub command: String,
    pub args: Vec<String>,
    pub env: Vec<(String, Secret)>,
    /// Absolute, or relative to the directory the gateway runs in.
    pub cwd: PathBuf,
}

/// Which upstream-side items to expose and how to rename them.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct ItemFilter {
    pub include: Vec<Pattern>,
    pub exclude: Vec<Pattern>,
    pub rename: Vec<(String, String)>,
}

impl ItemFilter {
    /// The name to publish (before prefixing), or `None` when the item is filtered out.
    pub(crate) fn apply<'a>(&'a self, name: &'a str) -> Option<&'a str> {
        let included = self.include.is_empty() || self.include.iter().any(|p| p.matches(name));
        if !included || self.exclude.iter().any(|p| p.matches(name)) {
            return None;
        }
        Some(self.rename.iter().find(|(from, _)| from == name).map_or(name, |(_, to)| to.as_str()))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct VirtualServer {
    pub name: String,
    pub tools: Vec<Pattern>,
    /// Matches resource URIs and resource template URI templates.
    pub resources: Vec<Pattern>,
    pub prompts: Vec<Pattern>,
    /// Its own authentication, in place of the file's.
    pub auth: Option<auth::Auth>,
    /// Its own authorization rules, added to the file's.
    pub access: Vec<access::Rule>,
}

impl VirtualServer {
    pub(crate) fn patterns(&self, kind: ListKind) -> &[Pattern] {
        match kind {
            ListKind::Tools => &self.tools,
            ListKind::Resources => &self.resources,
            ListKind::Prompts => &self.prompts,
        }
    }
}

/// The three lists a virtual server and an upstream's filters have, one per kind of item
/// (resources and resource templates share one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListKind {
    Tools,
    Resources,
    Prompts,
}

impl ListKind {
    pub(crate) const ALL: [ListKind; 3] = [ListKind::Tools, ListKind::Resources, ListKind::Prompts];

    /// The config key of the list (`tools`), as in key paths.
    pub(crate) fn key(self) -> &'static str {
        match self {
            ListKind::Tools => "tools",
            ListKind::Resources => "resources",
            ListKind::Prompts => "prompts",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Serving {
    /// Browser origins allowed to call; empty means loopback origins only.
    pub allowed_origins: Vec<String>,
    /// Accepted Host names as the file lists them. `None`: loopback names when the listener is
    /// bound to loopback, any name otherwise (decided where the bound address is known).
    pub allowed_hosts: Option<Vec<String>>,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Items per page of list results.
    pub page_size: usize,
    /// Idle time after which a client session is forgotten.
    pub session_idle_timeout: Duration,
    /// Most client sessions held at once.
    pub max_sessions: usize,
    /// Signs stateless clients' request state; `None`: a random key per process.
    pub request_state_key: Option<Secret>,
    /// How long an event-stream answer outlives its dropped connection, awaiting `Last-Event-ID`;
    /// zero: not resumable.
    pub resume_window: Duration,
    /// Longest wait for a request's headers (idle keep-alive included), and for a new
    /// connection's first request to start; `None`: no limit.
    pub header_timeout: Option<Duration>,
    /// Longest a connection stays open with no request open on it; `None`: no limit.
    pub idle_timeout: Option<Duration>,
    /// Longest wait for a request's body.
    pub body_timeout: Duration,
    /// Most connections at once, in all and from one address (0: no per-address cap).
    pub max_connections: usize,
    pub max_connections_per_client: usize,
    /// The URL clients reach the gateway at; `None`: `http://` (or `https://`) and the bound address.
    pub public_url: Option<url::Url>,
    /// The listener's certificate and key, when it serves HTTPS.
    pub tls: Option<Tls>,
}

/// The listener's certificate chain and key, as read from their files.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Tls {
    pub cert_path: String,
    pub cert_pem: String,
    /// The key's PEM text (printed as its path, never its content).
    pub key: Secret,
}

/// A value that may hold a secret: it prints as written in the file (`${TOKEN}`), never expanded.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret {
    value: String,
    reference: String,
}

impl Secret {
    pub(crate) fn new(value: String, reference: String) -> Self {
        Secret { value, reference }
    }

    /// The expanded value, for use on the wire only.
    pub(crate) fn expose(&self) -> &str {
        &self.value
    }

    /// The value as written in the file, safe to print.
    pub(crate) fn reference(&self) -> &str {
        &self.reference
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.reference)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reference)
    }
}

/// Parses `500ms`, `30s`, `2m`, `1h`.
pub(crate) fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (num, unit) = text.split_at(split);
    let n: u64 = num.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => Some(Duration::from_secs(n * 60)),
        "h" => Some(Duration::from_secs(n * 3600)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("30"), None);
        assert_eq!(parse_duration("s"), None);
    }

    #[test]
    fn secrets_print_their_reference() {
        let s = Secret::new("hunter2".into(), "${PASS}".into());
        assert_eq!(format!("{s:?} {s}"), "\"${PASS}\" ${PASS}");
    }

    #[test]
    fn filter_includes_excludes_and_renames() {
        let f = ItemFilter {
            include: vec![Pattern::new("search*")],
            exclude: vec![Pattern::new("*_admin")],
            rename: vec![("search_docs".into(), "find".into())],
        };
        assert_eq!(f.apply("search_docs"), Some("find"));
        assert_eq!(f.apply("search_all"), Some("search_all"));
        assert_eq!(f.apply("search_admin"), None);
        assert_eq!(f.apply("other"), None);
    }
}
