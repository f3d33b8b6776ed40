//! REST APIs as MCP tools: a `rest:` upstream compiled into tools (`tool`), their templates
//! (`template`), argument and result schemas (`schema`), and the guard on where requests go
//! (`guard`). `Api::call` turns one `tools/call` into HTTP requests and the response into a result.

pub(crate) mod guard;
pub(crate) mod schema;
pub(crate) mod template;
pub(crate) mod tool;

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderName, HeaderValue, RETRY_AFTER};
use serde_json::{Map, Value, json};

pub(crate) use tool::{CompiledTool, Planned, error_result};

use crate::model::rest::Problem;
use crate::model::{RestApi, RestChecks, RestTool};

/// Longest excerpt of an error response quoted in a tool error.
const EXCERPT: usize = 512;
/// First wait before a retry; doubled for each further attempt.
const RETRY_START: Duration = Duration::from_millis(100);
/// Longest `Retry-After` honoured; a longer one ends the retries.
const RETRY_AFTER_MAX: Duration = Duration::from_secs(10);

/// The checks `model::validate_with` asks of the serving code: each tool compiled as `Api`
/// compiles it, and each base URL's host judged by the guard, so what checks clean serves.
pub(crate) struct Checks;

impl RestChecks for Checks {
    fn refused_host(&self, host: &url::Host<&str>) -> Option<String> {
        guard::refused_literal(host)
    }

    fn compile(&self, tool: &RestTool) -> Result<(), Vec<Problem>> {
        CompiledTool::compile(tool).map(drop)
    }
}

/// A compiled REST API, shared by every call to it.
pub(crate) struct Api {
    name: String,
    spec: RestApi,
    tools: Vec<CompiledTool>,
    client: reqwest::Client,
}

impl Api {
    /// Compiles every tool. `Err` lists each problem with the tool's name.
    pub(crate) fn compile(spec: &RestApi) -> Result<Vec<CompiledTool>, Vec<(String, Problem)>> {
        let mut tools = Vec::new();
        let mut problems = Vec::new();
        for tool in &spec.tools {
            match CompiledTool::compile(tool) {
                Ok(t) => tools.push(t),
                Err(ps) => problems.extend(ps.into_iter().map(|p| (tool.name.clone(), p))),
            }
        }
        if problems.iter().any(|(_, p)| !p.warning) { Err(problems) } else { Ok(tools) }
    }

    /// A ready API: its tools compiled and an HTTP client that only reaches allowed addresses.
    pub(crate) fn new(name: &str, spec: &RestApi) -> Result<Api, String> {
        let tools = Api::compile(spec).map_err(|ps| {
            let (tool, p) = &ps[0];
            format!("tool {tool}: {}: {}", p.at, p.message)
        })?;
        let base = spec.base_url.clone();
        let allow_private = spec.allow_private;
        // Redirects stay on the API's own host: anything else is returned to the model as is.
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            let same_host = attempt.url().host_str() == base.host_str()
                && attempt.url().port_or_known_default() == base.port_or_known_default();
            if attempt.previous().len() >= 5 || !same_host { attempt.stop() } else { attempt.follow() }
        });
        let mut builder = reqwest::Client::builder()
            .redirect(redirects)
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            // A proxy resolves names itself, out of the guard's reach.
            .no_proxy();
        if !allow_private {
            builder = builder.dns_resolver(guard::PublicOnly::resolver());
        }
        let client = builder.build().map_err(|e| format!("build HTTP client: {e}"))?;
        Ok(Api { name: name.to_string(), spec: spec.clone(), tools, client })
    }

    /// The `tools/list` result.
    pub(crate) fn list(&self) -> Value {
        json!({ "tools": self.tools.iter().map(|t| t.listing.clone()).collect::<Vec<_>>() })
    }

    pub(crate) fn tool(&self, name: &str) -> Option<&CompiledTool> {
        self.tools.iter().find(|t| t.spec.name == name)
    }

    /// Runs `tools/call` params against the API. Failures of the API are tool errors (`isError`),
    /// so the model sees them; `Err` only for a call that names no tool of this API.
    pub(crate) async fn call(self: &Arc<Self>, params: &Value) -> Result<Value, String> {
        let name = params.get("name").and_then(Value::as_str).unwrap_or_default();
        let tool = self.tool(name).ok_or_else(|| format!("unknown tool: {name}"))?;
        let arguments = match params.get("arguments") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(map)) => map.clone(),
            Some(_) => return Ok(error_result("invalid arguments: `arguments` must be an object".into())),
        };
        let planned = match tool.plan(&self.spec, &arguments) {
            Ok(p) => p,
            Err(e) => return Ok(error_result(e.0)),
        };
        if !self.spec.allow_private
            && let Some(host) = planned.url.host()
            && let Some(reason) = guard::refused_literal(&host)
        {
            return Ok(error_result(format!("refused: {reason}; set `allow_private: true` on the API to allow it")));
        }
        Ok(self.send(tool, &planned).await)
    }

    async fn send(&self, tool: &CompiledTool, planned: &Planned) -> Value {
        let attempts = if tool.spec.is_idempotent() { tool.spec.retries + 1 } else { 1 };
        let mut wait = RETRY_START;
        let target = format!("{} {}", planned.method, planned.url);
        for attempt in 1..=attempts {
            let last = attempt == attempts;
            let response = match tokio::time::timeout(tool.spec.timeout, self.request(planned).send()).await {
                Err(_) => {
                    if !last {
                        tokio::time::sleep(wait).await;
                        wait *= 2;
                        continue;
                    }
                    return error_result(format!("{target}: no answer within {:?}", tool.spec.timeout));
                }
                Ok(Err(e)) => {
                    if !last {
                        tracing::debug!(upstream = %self.name, tool = %tool.spec.name, attempt, error = %e.without_url(), "retrying");
                        tokio::time::sleep(wait).await;
                        wait *= 2;
                        continue;
                    }
                    return error_result(format!("{target}: {}", describe(&e)));
                }
                Ok(Ok(r)) => r,
            };
            let status = response.status();
            if !last && matches!(status.as_u16(), 429 | 502 | 503 | 504) {
                let after = retry_after(response.headers().get(RETRY_AFTER)).unwrap_or(wait);
                if after <= RETRY_AFTER_MAX {
                    tokio::time::sleep(after).await;
                    wait *= 2;
                    continue;
                }
            }
            let content_type =
                response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
            let body = match read_capped(response, tool.spec.max_response_bytes, tool.spec.timeout).await {
                Ok(b) => b,
                Err(e) => return error_result(format!("{target}: {e}")),
            };
            if !status.is_success() {
                let text = String::from_utf8_lossy(&body);
                let excerpt: String = text.chars().take(EXCERPT).collect();
                let more = if text.chars().count() > EXCERPT { "…" } else { "" };
                return error_result(format!("{target} answered {status}: {excerpt}{more}"));
            }
            return tool.result(&content_type, &body);
        }
        unreachable!("the last attempt returns")
    }

    fn request(&self, planned: &Planned) -> reqwest::RequestBuilder {
        let method = reqwest::Method::from_bytes(planned.method.as_bytes()).expect("methods are checked by validate");
        let mut request = self.client.request(method, planned.wire_url());
        for (name, value) in &planned.secret_headers {
            let (Ok(name), Ok(mut value)) =
                (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value.expose()))
            else {
                continue;
            };
            value.set_sensitive(true);
            request = request.header(name, value);
        }
        if let Some((user, password)) = &planned.basic_auth {
            request = request.basic_auth(user.expose(), Some(password.expose()));
        }
        for (name, value) in &planned.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        if let Some((content_type, body)) = &planned.body {
            request = request.header(CONTENT_TYPE, content_type.as_str()).body(body.clone());
        }
        request
    }
}

/// A transport error in words, without the URL (which may carry an API key).
fn describe(e: &reqwest::Error) -> String {
    let mut text = if e.is_connect() { "cannot connect".to_string() } else { "request failed".to_string() };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn retry_after(value: Option<&HeaderValue>) -> Option<Duration> {
    value?.to_str().ok()?.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Reads a body up to `max` bytes; a longer one is an error, not a truncated result.
async fn read_capped(mut response: reqwest::Response, max: usize, timeout: Duration) -> Result<Vec<u8>, String> {
    if response.content_length().is_some_and(|n| n > max as u64) {
        return Err(format!("the response is larger than the {max}-byte limit"));
    }
    let read = async {
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| describe(&e))? {
            if body.len() + chunk.len() > max {
                return Err(format!("the response is larger than the {max}-byte limit"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    tokio::time::timeout(timeout, read)
        .await
        .map_err(|_| format!("the response body did not arrive within {timeout:?}"))?
}
