//! REST APIs declared as MCP tools: the checked form of a `rest:` upstream. Templates are kept as
//! source text here (the model is plain data, compared on reload); `rest::Api` compiles them, and
//! validation compiles them through `RestChecks`, which `rest` implements.

use std::time::Duration;

use serde_json::Value;

use super::Secret;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RestApi {
    /// Every request goes to this scheme, host and port; tool paths are appended to its path.
    pub base_url: url::Url,
    pub headers: Vec<(String, Secret)>,
    pub auth: Option<RestAuth>,
    /// Whether requests may go to loopback, private and link-local addresses.
    pub allow_private: bool,
    pub tools: Vec<RestTool>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RestAuth {
    Bearer(Secret),
    Basic {
        username: Secret,
        password: Secret,
    },
    /// An API key sent as a header.
    HeaderKey {
        name: String,
        value: Secret,
    },
    /// An API key sent as a query parameter.
    QueryKey {
        name: String,
        value: Secret,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RestTool {
    pub name: String,
    pub title: Option<String>,
    pub description: Option<String>,
    /// Upper case: `GET`, `POST`, ...
    pub method: String,
    /// Template; `{name}` and `{{ expression }}` take values from the arguments.
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: RestBody,
    /// The tool's `inputSchema` as written; absent, it is derived from the templates' arguments.
    pub input_schema: Option<Value>,
    /// RFC 9535 JSONPath selecting the result from a JSON response.
    pub output: Option<String>,
    pub output_schema: Option<Value>,
    /// MCP tool annotations, passed to clients as written.
    pub annotations: Option<Value>,
    pub timeout: Duration,
    /// Extra attempts after a failure that is worth retrying; only idempotent methods retry.
    pub retries: u32,
    /// Largest response body read; a larger one is an error result.
    pub max_response_bytes: usize,
}

impl RestTool {
    /// Whether repeating the request cannot do harm (RFC 9110 §9.2.2).
    pub(crate) fn is_idempotent(&self) -> bool {
        matches!(self.method.as_str(), "GET" | "HEAD" | "OPTIONS" | "PUT" | "DELETE" | "TRACE")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RestBody {
    /// No body for GET, HEAD, DELETE and OPTIONS; otherwise the arguments that no path, query or
    /// header template reads, as a JSON object.
    Arguments,
    /// A JSON template: values are written as JSON.
    Json(String),
    /// `application/x-www-form-urlencoded` from value templates.
    Form(Vec<(String, String)>),
    /// A text template sent with the given content type.
    Raw { template: String, content_type: String },
}

/// What only the serving code can tell about a REST API, asked while validating: `model` checks
/// structure, and `reload::prepare` passes `rest::Checks`, the code serving uses, so that what
/// checks clean serves.
pub(crate) trait RestChecks {
    /// For a base URL's host: `Some(reason)` when requests to it are refused.
    fn refused_host(&self, host: &url::Host<&str>) -> Option<String>;
    /// Compiles `tool` as serving does; `Err` lists what is wrong with it.
    fn compile(&self, tool: &RestTool) -> Result<(), Vec<Problem>>;
}

/// A problem found while compiling a tool, located by a key path below the tool
/// (`path`, `query.lat`, `input_schema`, ...).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Problem {
    pub at: String,
    pub message: String,
    pub help: String,
    pub warning: bool,
}

impl Problem {
    pub(crate) fn error(at: impl Into<String>, message: impl Into<String>, help: impl Into<String>) -> Problem {
        Problem { at: at.into(), message: message.into(), help: help.into(), warning: false }
    }
}

pub(crate) const DEFAULT_MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;
/// Retries of idempotent requests when the file says nothing.
pub(crate) const DEFAULT_RETRIES: u32 = 2;
