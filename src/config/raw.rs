//! The file format: serde types that mirror gateway.yaml key for key. Values are as written
//! (`${VAR}` not yet expanded); `model::validate` checks and resolves them.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;

/// The whole gateway.yaml (or gateway.toml).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Raw {
    /// Address the HTTP listener binds, `host:port`. Default `127.0.0.1:4444` (loopback only).
    pub listen: Option<String>,
    /// How public item names are formed.
    pub naming: Option<RawNaming>,
    /// The servers and APIs mcpgw calls, by name. The name is the default prefix of their items.
    #[serde(default)]
    pub upstreams: IndexMap<String, RawUpstream>,
    /// Named bundles of items, each served at `/servers/<name>/mcp`; `default` is also served at `/mcp`.
    /// When absent, `default` exposes every item.
    pub virtual_servers: Option<IndexMap<String, RawVirtualServer>>,
    /// Settings of the client-facing listener.
    pub serving: Option<RawServing>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawNaming {
    /// Placed between an upstream's prefix and an item name. Default `_`.
    pub separator: Option<String>,
}

/// One upstream. Give exactly one of `stdio`, `url`, `sse` or `websocket`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawUpstream {
    /// A local MCP server started as a child process, spoken to over stdin/stdout.
    pub stdio: Option<RawStdio>,
    /// A remote MCP server over streamable HTTP.
    pub url: Option<String>,
    /// A remote MCP server over the legacy HTTP+SSE transport: the URL of its event stream.
    pub sse: Option<String>,
    /// A remote MCP server over WebSocket (`ws://` or `wss://`).
    pub websocket: Option<String>,
    /// Extra HTTP headers sent to a `url`, `sse` or `websocket` upstream. Values may use `${VAR}`.
    pub headers: Option<IndexMap<String, String>>,
    /// Prefix of this upstream's public item names; `""` exposes names unprefixed. Default: the upstream's name.
    pub prefix: Option<String>,
    /// Which tools to expose, and under which names.
    pub tools: Option<RawFilter>,
    /// Which resources and resource templates to expose (by URI).
    pub resources: Option<RawFilter>,
    /// Which prompts to expose, and under which names.
    pub prompts: Option<RawFilter>,
    /// Longest wait for one request to this upstream, e.g. `30s`, `500ms`. Default `60s`.
    pub timeout: Option<String>,
    /// `shared` (default): one upstream session serves every client. `per_client`: each client
    /// session gets its own upstream session (for stdio, its own process), so the upstream's
    /// sampling, elicitation and roots requests reach the right client on every transport.
    pub sessions: Option<RawSessions>,
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RawSessions {
    Shared,
    PerClient,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawStdio {
    /// Program to run; looked up on PATH.
    pub command: String,
    #[serde(default)]
    pub args: Vec<String>,
    /// Environment variables added for the child. Values may use `${VAR}`.
    pub env: Option<IndexMap<String, String>>,
    /// Working directory, relative to the config file's directory.
    pub cwd: Option<String>,
}

/// Selects items by upstream-side name (or URI) with `*` and `?` wildcards.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawFilter {
    /// Keep only items matching one of these. Default: all.
    pub include: Option<Vec<String>>,
    /// Drop items matching one of these (applied after `include`).
    pub exclude: Option<Vec<String>>,
    /// Upstream-side name → new name (the prefix is still added).
    pub rename: Option<IndexMap<String, String>>,
}

/// A virtual server: public-name patterns for each kind of item. An absent kind exposes none.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawVirtualServer {
    /// Public tool names or patterns (`time_*`, `*`).
    pub tools: Option<Vec<String>>,
    /// Resource URIs or patterns; also selects resource templates.
    pub resources: Option<Vec<String>>,
    /// Public prompt names or patterns.
    pub prompts: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawServing {
    /// Origins allowed to call from a browser. Default: loopback origins only.
    pub allowed_origins: Option<Vec<String>>,
    /// Accepted `Host` header names (DNS-rebinding defence). Default: loopback names when listening
    /// on loopback, any otherwise.
    pub allowed_hosts: Option<Vec<String>>,
    /// Largest accepted request body, in bytes. Default 4194304 (4 MiB).
    pub max_body_bytes: Option<u64>,
    /// Items per page of list results. Default 500.
    pub page_size: Option<u32>,
    /// A client session with no request for this long is forgotten, e.g. `30m`. Default `1h`.
    pub session_idle_timeout: Option<String>,
    /// Most client sessions held at once; an `initialize` beyond it is refused with HTTP 503. Default 10000.
    pub max_sessions: Option<u32>,
}
