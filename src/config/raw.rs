//! The file format: serde types that mirror gateway.yaml key for key. Values are as written
//! (`${VAR}` not yet expanded); `model::validate` checks and resolves them.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;

/// The whole gateway.yaml (or gateway.toml).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Raw {
    /// Address the HTTP listener binds, `host:port`. Default `127.0.0.1:4444` (loopback only).
    pub listen: Option<String>,
    /// How public item names are formed.
    pub naming: Option<RawNaming>,
    /// The servers and APIs mcpgw calls, by name. The name is the default prefix of their items.
    /// Required (`upstreams: {}` declares none), so a file cut short while being written is refused
    /// rather than stopping every upstream.
    #[schemars(with = "IndexMap<String, RawUpstream>")]
    pub upstreams: Option<IndexMap<String, RawUpstream>>,
    /// Named bundles of items, each served at `/servers/<name>/mcp`; `default` is also served at `/mcp`.
    /// When absent, `default` exposes every item.
    pub virtual_servers: Option<IndexMap<String, RawVirtualServer>>,
    /// Settings of the client-facing listener.
    pub serving: Option<RawServing>,
    /// Who may call: how clients authenticate, for every virtual server that does not say
    /// otherwise. Without it, a loopback listener serves anyone and any other listener no one.
    pub auth: Option<RawAuth>,
    /// Who may use what, for every virtual server (each may add rules of its own). Without rules
    /// every authenticated caller may use every item of the virtual server it reaches.
    pub access: Option<Vec<RawRule>>,
}

impl Raw {
    /// The declared upstreams in file order (none when `upstreams` is absent or empty).
    pub(crate) fn upstreams(&self) -> impl Iterator<Item = (&String, &RawUpstream)> {
        self.upstreams.iter().flatten()
    }

    pub(crate) fn upstream(&self, name: &str) -> Option<&RawUpstream> {
        self.upstreams.as_ref()?.get(name)
    }
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNaming {
    /// Placed between an upstream's prefix and an item name. Default `_`.
    pub separator: Option<String>,
}

/// One upstream. Give exactly one of `stdio`, `url`, `sse`, `websocket`, `rest` or `openapi`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawUpstream {
    /// A local MCP server started as a child process, spoken to over stdin/stdout.
    pub stdio: Option<RawStdio>,
    /// A remote MCP server over streamable HTTP.
    pub url: Option<String>,
    /// A remote MCP server over the legacy HTTP+SSE transport: the URL of its event stream.
    pub sse: Option<String>,
    /// A remote MCP server over WebSocket (`ws://` or `wss://`).
    pub websocket: Option<String>,
    /// A plain REST API whose endpoints are declared here as MCP tools.
    pub rest: Option<RawRest>,
    /// A REST API described by an OpenAPI 3.x document: each operation becomes a tool.
    pub openapi: Option<RawOpenApi>,
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
    /// `auto` (default): one upstream session serves every client until the upstream asks a
    /// client something (sampling, elicitation, roots); from then on each client that can answer
    /// gets its own upstream session for its calls (for stdio, its own process). `shared`: one
    /// upstream session always; such requests are refused unless one call is in flight.
    /// `per_client`: each client session always gets its own upstream session.
    pub sessions: Option<RawSessions>,
    /// `url` upstreams: client request headers passed on with each call made for that client,
    /// by name, e.g. `[X-Request-Id, X-Tenant]`. Never `Authorization`, cookies, or the headers
    /// the gateway sets itself: see `forward_authorization` and `token_exchange`.
    pub forward_headers: Option<Vec<String>>,
    /// `url` upstreams: `true` passes the client's own `Authorization` header on. The MCP
    /// authorization specification forbids it (a token is meant for this gateway alone); prefer
    /// `token_exchange`. `mcpgw check` warns.
    pub forward_authorization: Option<bool>,
    /// `url` upstreams: trade the caller's bearer token for one meant for this upstream (OAuth
    /// 2.0 Token Exchange, RFC 8693), sent as its `Authorization` with each call made for that
    /// caller; each exchanged token is kept until it expires.
    pub token_exchange: Option<RawTokenExchange>,
    /// Which protocol era to speak (stdio and `url` upstreams). `auto` (default): ask with
    /// `server/discover` first, then fall back to `initialize`. `session`: the session-based
    /// versions, `initialize` at once (no probe). `stateless`: the stateless 2026-07-28 protocol
    /// only; an upstream that does not answer `server/discover` is down.
    pub era: Option<RawEra>,
    /// What happens while the connection is lost: how long the upstream's items stay listed,
    /// and how long the gateway waits at most between attempts to reconnect.
    pub reconnect: Option<RawReconnect>,
}

/// Riding out a lost connection. The gateway reconnects at once, then after 250 ms, doubling
/// the delay up to `max_delay`; a connection that stays up 30 s starts the delays over.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawReconnect {
    /// How long a lost upstream's items stay listed while it reconnects, e.g. `30s`. Calls made
    /// meanwhile wait for a reconnect that is due soon, else get error -32010 ("upstream
    /// unavailable", retryable). After it, the items are withdrawn and clients hear
    /// `list_changed`. `0s` withdraws them at once. Default `30s`.
    pub grace: Option<String>,
    /// Longest delay between two attempts to reconnect, e.g. `5s`. Default `30s`.
    pub max_delay: Option<String>,
    /// What becomes of a request in flight when the connection is lost, which the upstream may
    /// have carried out. `idempotent` (the default): sent once more on the next connection when
    /// running it twice is harmless: reads (`resources/read`, `prompts/get`,
    /// `completion/complete`) and calls to tools annotated `readOnlyHint` or `idempotentHint`,
    /// as the upstream declares them or as `tools.shape` sets them. `never`: the caller gets
    /// error -32010 with `retryable: false`.
    pub resend_lost: Option<RawResendLost>,
}

/// Which requests lost with their connection are sent again.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RawResendLost {
    // Reads, and tools annotated read-only or idempotent.
    Idempotent,
    // None: the caller decides.
    Never,
}

/// Where and how the gateway exchanges a caller's token for one meant for an upstream.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTokenExchange {
    /// The authorization server's token endpoint (https; http on loopback only).
    pub token_endpoint: String,
    /// The gateway's client id at that server.
    pub client_id: String,
    /// The gateway's client secret there, from `${VAR}` (sent with HTTP basic authentication).
    pub client_secret: Option<String>,
    /// The `audience` to ask for: the upstream's name at the authorization server.
    pub audience: Option<String>,
    /// The `resource` to ask for (RFC 8707). Default: the upstream's `url`.
    pub resource: Option<String>,
    /// Scopes to ask for.
    pub scopes: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RawEra {
    Auto,
    Session,
    Stateless,
    /// The old spelling of `session`, accepted with a warning.
    #[schemars(skip)]
    Legacy,
    /// The old spelling of `stateless`, accepted with a warning.
    #[schemars(skip)]
    Modern,
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RawSessions {
    Auto,
    Shared,
    PerClient,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStdio {
    /// Program to run; looked up on PATH.
    pub command: String,
    /// Arguments passed to the program. Values may use `${VAR}`.
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
pub(crate) struct RawFilter {
    /// Keep only items matching one of these. Default: all.
    pub include: Option<Vec<String>>,
    /// Drop items matching one of these (applied after `include`).
    pub exclude: Option<Vec<String>>,
    /// Upstream-side name → new name (the prefix is still added).
    pub rename: Option<IndexMap<String, String>>,
    /// Tools only: upstream-side name → how clients see the tool, and its pin.
    pub shape: Option<IndexMap<String, RawToolShape>>,
}

/// How clients see one tool. Applied to the upstream's definition on every listing.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawToolShape {
    /// Replaces the tool's title.
    pub title: Option<String>,
    /// Replaces the tool's description.
    pub description: Option<String>,
    /// Merged over the tool's annotations, e.g. `{ readOnlyHint: true, destructiveHint: false }`.
    pub annotations: Option<serde_json::Value>,
    /// Argument name → `{ value: X }` (hidden, always X), `{ default: X }` (shown, X when left out)
    /// or `{ hide: true }` (hidden, never sent).
    pub arguments: Option<IndexMap<String, RawArgumentShape>>,
    /// `sha256:<hex>` of the upstream's definition of the tool (name, title, description, schemas,
    /// annotations), as `mcpgw pin` writes it. A different definition is reported, or blocked.
    pub pin: Option<String>,
    /// When the definition no longer matches `pin`: `warn` (default; serve and report) or `block`
    /// (withhold the tool until the pin is updated).
    pub on_change: Option<RawOnChange>,
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RawOnChange {
    Warn,
    Block,
}

/// Give exactly one of `value`, `default` or `hide`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawArgumentShape {
    /// Hidden from clients and always sent with this value.
    pub value: Option<serde_json::Value>,
    /// Shown with this default, and sent with it when the client leaves the argument out.
    pub default: Option<serde_json::Value>,
    /// Hidden from clients and never sent.
    pub hide: Option<bool>,
}

/// A virtual server: public-name patterns for each kind of item. An absent kind exposes none.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawVirtualServer {
    /// Public tool names or patterns (`time_*`, `*`).
    pub tools: Option<Vec<String>>,
    /// Resource URIs or patterns; also selects resource templates.
    pub resources: Option<Vec<String>>,
    /// Public prompt names or patterns.
    pub prompts: Option<Vec<String>>,
    /// How this virtual server's clients authenticate, in place of the top-level `auth`.
    pub auth: Option<RawAuth>,
    /// Rules for this virtual server, added to the top-level `access` rules.
    pub access: Option<Vec<RawRule>>,
}

/// One authorization rule: exactly one of `allow`, `deny` or `require`. A deny that matches
/// always wins. Once any `allow` rule applies to a virtual server, a caller may use only what an
/// `allow` names for it (and callers no `allow` names may not use the virtual server at all).
/// Items a caller may not use are left out of its lists and answered as if they did not exist.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRule {
    /// Lets the callers it names use the items it names.
    pub allow: Option<RawMatch>,
    /// Hides the items it names from the callers it names (everything, when it names no items).
    pub deny: Option<RawMatch>,
    /// The OAuth scopes a token must hold to use the items it names (all of them); a token that
    /// lacks one is refused with HTTP 403 `insufficient_scope`. Only `scopes`, `methods` and the
    /// item lists are allowed here.
    pub require: Option<RawMatch>,
}

/// What a rule matches. Every field given must match (a field's entries are alternatives); a
/// field left out matches anything. Names and values may use `*` and `?` wildcards.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMatch {
    /// Caller subjects: a token's `sub`, an API key's `subject`, a basic-auth user. A subject
    /// matches whichever issuer or method vouched for it; add `claims: { iss: … }` to name one
    /// token issuer.
    pub subjects: Option<Vec<String>>,
    /// The caller is in one of these groups (the token's `groups` claim).
    pub groups: Option<Vec<String>>,
    /// `allow`/`deny`: the token holds one of these scopes. `require`: the scopes needed.
    pub scopes: Option<Vec<String>>,
    /// Claims (dotted paths into the token, e.g. `org.team`; an API key's `attributes`) and the
    /// value, or one of the values, each must have.
    pub claims: Option<IndexMap<String, RawClaimValue>>,
    /// MCP methods, e.g. `tools/call`, `resources/*`. Lists are filtered as the method that
    /// uses their items (`tools/list` as `tools/call`, `resources/list` as `resources/read`).
    pub methods: Option<Vec<String>>,
    /// Public tool names.
    pub tools: Option<Vec<String>>,
    /// Resource URIs and resource-template URI templates.
    pub resources: Option<Vec<String>>,
    /// Public prompt names.
    pub prompts: Option<Vec<String>>,
}

/// A claim's expected value: one value, or a list of alternatives.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub(crate) enum RawClaimValue {
    One(RawScalar),
    Any(Vec<RawScalar>),
}

/// A scalar a claim is compared with.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub(crate) enum RawScalar {
    Bool(bool),
    Number(serde_json::Number),
    Text(String),
}

/// How clients authenticate. Every method given is accepted; a request that presents
/// credentials no method accepts is refused with HTTP 401.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAuth {
    /// Bearer JSON Web Tokens (OAuth 2.1 access tokens) from the issuers listed.
    pub jwt: Option<RawJwt>,
    /// API keys, each stored as the SHA-256 of the key (`mcpgw auth hash-key` prints the line),
    /// sent as `Authorization: Bearer <key>` or `X-API-Key: <key>`.
    pub api_keys: Option<Vec<RawClientKey>>,
    /// HTTP basic authentication against an htpasswd file of bcrypt entries (`htpasswd -B`).
    pub basic: Option<RawBasic>,
    /// Client certificates (mutual TLS; needs `serving.tls`): a certificate issued under this CA
    /// authenticates. Its first URI name (a SPIFFE ID, say), else its first DNS name, else its
    /// common name, is the caller's subject.
    pub mtls: Option<RawMtls>,
    /// `true`: anyone may call, unauthenticated. Must be said explicitly to serve a listener that
    /// is not on loopback without authentication.
    pub none: Option<bool>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawJwt {
    /// The issuers whose tokens are accepted.
    pub issuers: Vec<RawIssuer>,
    /// Clock skew tolerated on `exp` and `nbf`, e.g. `30s`. Default `60s`.
    pub leeway: Option<String>,
    /// The scopes clients may ask the issuers for, published as `scopes_supported` in the
    /// protected-resource metadata (`offline_access` is never offered).
    pub scopes: Option<Vec<String>>,
}

/// One token issuer and where its keys come from: exactly one of `jwks_url`, `discovery`,
/// `public_key` and `secret`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawIssuer {
    /// The `iss` its tokens carry, e.g. `https://login.example.com/realms/acme`.
    pub issuer: String,
    /// The `aud` values accepted (any one of them must be in the token): this gateway's resource
    /// URL, or the client id where the identity provider sets `aud` to it.
    pub audiences: Vec<String>,
    /// The issuer's JSON Web Key Set, fetched at start, refreshed every 10 minutes and when a
    /// token names a key it does not hold (at most once every 30 seconds).
    pub jwks_url: Option<String>,
    /// `true`: find the key set through OpenID Connect discovery
    /// (`<issuer>/.well-known/openid-configuration`).
    pub discovery: Option<bool>,
    /// A PEM public key file (RSA, EC or Ed25519), relative to this file.
    pub public_key: Option<String>,
    /// A shared HS256 secret, from `${VAR}`.
    pub secret: Option<String>,
    /// Signature algorithms accepted, e.g. `[RS256]`. Default: those of the key's type (`none`
    /// and other families are always refused).
    pub algorithms: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawClientKey {
    /// `sha256:<hex>` of the key; may be `${VAR}`.
    pub hash: String,
    /// Who holds the key: the caller's subject.
    pub subject: String,
    /// Facts about the holder, for authorization rules, e.g. `{ team: infra }`.
    pub attributes: Option<IndexMap<String, String>>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMtls {
    /// The CA certificates (PEM file, relative to this file) client certificates must chain to.
    pub ca: String,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBasic {
    /// An htpasswd file of bcrypt entries (`user:$2y$…`), relative to this file.
    pub htpasswd: String,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServing {
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
    /// Key signing the `requestState` mcpgw gives stateless clients while a session-based upstream
    /// waits for their input, e.g. `${MCPGW_STATE_KEY}`. Give every replica the same key so any of
    /// them can resume the call. Default: a random key per process.
    pub request_state_key: Option<String>,
    /// How long a request answered as an event stream keeps running after the client's connection
    /// drops, waiting for the client to resume it with `Last-Event-ID`; then it is cancelled
    /// upstream. `0s` turns resumption off: a disconnect cancels at once. Default `10s`.
    pub resume_window: Option<String>,
    /// How long a client may take to send a request's headers, counting the wait for the next
    /// request on a kept-alive connection; then the connection is closed (a defence against
    /// clients that hold connections open by sending slowly). `0s` turns it off. Default `30s`.
    /// A new connection must also start its first request within it.
    pub header_timeout: Option<String>,
    /// How long a connection may stay open with no request on it (an open event stream counts as
    /// a request); then, within a quarter of it more, it is closed (HTTP/2: with GOAWAY). It
    /// bounds HTTP/2 connections, which answer keep-alive pings while idle; an idle HTTP/1.1
    /// connection meets `header_timeout` first. `0s` turns it off. Default `120s`.
    pub idle_timeout: Option<String>,
    /// Longest wait for a request's body once its headers came, e.g. `30s` (then 408). Default `30s`.
    pub body_timeout: Option<String>,
    /// Most client connections open at once; the next is answered 503 and closed. Default 10000.
    pub max_connections: Option<u32>,
    /// Most connections open at once from one client address (behind a load balancer, its
    /// address: raise this or set `0` for no per-address cap). Default 1000.
    pub max_connections_per_client: Option<u32>,
    /// The URL clients reach the gateway at, e.g. `https://mcp.example.com` (behind a proxy, the
    /// proxy's). Protected-resource metadata and authentication challenges name resources under
    /// it. Default: `http://` (`https://` with `tls`) and the listen address.
    pub public_url: Option<String>,
    /// Serve HTTPS (and WSS) directly, with this certificate chain and private key (PEM files,
    /// relative to this file), each reloaded when it changes (cert-manager, certbot).
    pub tls: Option<RawTls>,
}

/// The listener's certificate.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTls {
    /// The certificate chain, leaf first (PEM).
    pub cert: String,
    /// Its private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: String,
}

/// A REST API served as MCP tools.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRest {
    /// Scheme, host, port and base path of every request, e.g. `https://api.example.com/v1`.
    /// Arguments never change the host a request goes to.
    pub base_url: String,
    /// Headers sent with every request. Values may use `${VAR}`; they are never logged.
    pub headers: Option<IndexMap<String, String>>,
    /// Credentials added to every request. Values may use `${VAR}`; they are never logged.
    pub auth: Option<RawRestAuth>,
    /// Allow requests to loopback, private and link-local addresses. Default `false`.
    pub allow_private: Option<bool>,
    /// Largest response body read, in bytes, for every tool (a tool may lower or raise it). Default 4194304.
    pub max_response_bytes: Option<u64>,
    /// The endpoints, by tool name.
    #[serde(default)]
    pub tools: IndexMap<String, RawRestTool>,
}

/// Give exactly one of `bearer`, `basic` or `api_key`.
#[derive(Debug, Default, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRestAuth {
    /// Sent as `Authorization: Bearer <token>`.
    pub bearer: Option<String>,
    /// Sent as `Authorization: Basic ...`.
    pub basic: Option<RawBasicAuth>,
    /// A key sent in a header or a query parameter.
    pub api_key: Option<RawApiKey>,
}

#[derive(Debug, Default, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBasicAuth {
    /// The user name; may use `${VAR}`.
    pub username: String,
    /// The password; may use `${VAR}`, which keeps it out of the file.
    pub password: String,
}

/// Give exactly one of `header` or `query`.
#[derive(Debug, Default, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawApiKey {
    /// Header name, e.g. `X-API-Key`.
    pub header: Option<String>,
    /// Query parameter name, e.g. `api_key`.
    pub query: Option<String>,
    /// The key.
    pub value: String,
}

/// One endpoint as one tool. Templates use `{{ argument }}` (minijinja); paths also take `{argument}`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRestTool {
    /// Human-readable name shown by clients.
    pub title: Option<String>,
    /// What the tool does, for the model.
    pub description: Option<String>,
    /// HTTP method. Default `GET`.
    pub method: Option<String>,
    /// Appended to the base URL's path; `{name}` segments come from the arguments, escaped.
    pub path: Option<String>,
    /// Query parameters: name → value template. A value that renders empty is left out.
    pub query: Option<IndexMap<String, String>>,
    /// Headers: name → value template. A value that renders empty is left out.
    pub headers: Option<IndexMap<String, String>>,
    /// Request body. Default: none for GET, HEAD, DELETE and OPTIONS; otherwise the arguments no
    /// path, query or header template uses, as a JSON object.
    pub body: Option<RawRestBody>,
    /// JSON Schema of the arguments, checked before any request. Default: every argument the
    /// templates use, as a string; path arguments required.
    pub input_schema: Option<serde_json::Value>,
    /// JSONPath (RFC 9535) selecting the result from a JSON response, e.g. `$.current_weather`.
    pub output: Option<String>,
    /// JSON Schema of the result, announced as the tool's `outputSchema` and checked on each result.
    pub output_schema: Option<serde_json::Value>,
    /// MCP tool annotations, e.g. `{ readOnlyHint: true }`.
    pub annotations: Option<serde_json::Value>,
    /// Longest wait for the response, e.g. `10s`. Default: the upstream's `timeout`.
    pub timeout: Option<String>,
    /// Extra attempts after a connection failure or a 429, 502, 503 or 504 answer, with backoff.
    /// Idempotent methods only. Default 2 for GET, HEAD, OPTIONS, PUT and DELETE.
    pub retries: Option<u32>,
    /// Largest response body read, in bytes. Default: the API's `max_response_bytes`.
    pub max_response_bytes: Option<u64>,
}

/// Give exactly one of `json`, `form` or `raw`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRestBody {
    /// A JSON template: `{{ value }}` writes the value as JSON, e.g. `{"q": {{ query }}}`.
    pub json: Option<String>,
    /// Form fields (`application/x-www-form-urlencoded`): name → value template. A value that renders empty is left out.
    pub form: Option<IndexMap<String, String>>,
    /// A text template, sent with `content_type`.
    pub raw: Option<String>,
    /// Content type of a `raw` body. Default `text/plain; charset=utf-8`.
    pub content_type: Option<String>,
}

/// A REST API described by an OpenAPI 3.x document (JSON or YAML), read at start and on every reload.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOpenApi {
    /// Path of the document, relative to the config file's directory.
    pub spec: String,
    /// Where requests go. Default: the document's first server URL.
    pub base_url: Option<String>,
    /// Only operations with one of these tags.
    pub tags: Option<Vec<String>>,
    /// Only these operations, by operation id (`*` and `?` allowed).
    pub include: Option<Vec<String>>,
    /// Headers sent with every request. Values may use `${VAR}`; they are never logged.
    pub headers: Option<IndexMap<String, String>>,
    /// Credentials added to every request. Values may use `${VAR}`; they are never logged.
    pub auth: Option<RawRestAuth>,
    /// Allow requests to loopback, private and link-local addresses. Default `false`.
    pub allow_private: Option<bool>,
    /// Largest response body read, in bytes. Default 4194304.
    pub max_response_bytes: Option<u64>,
}
