//! One client request from start to finish: take the live snapshot, answer locally or route to
//! the owning upstream (rewriting only the names the gateway owns), and map failures to errors.

mod tasks;

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::live::Snapshot;
use crate::protocol::jsonrpc::{self, RpcError};
use crate::protocol::{ItemKind, RawJson, mcp};
use crate::routing::{Catalog, Published};
use crate::session::Link;
use crate::upstream::UpstreamError;

/// A failed request: the error object to send, either the gateway's own or an upstream's verbatim.
pub type Failure = RawJson;

fn fail(e: RpcError) -> Failure {
    RawValue::from_string(e.to_json()).expect("error objects are valid JSON")
}

/// The result of `initialize` for a negotiated `version`.
pub fn initialize_result(version: &str, virtual_server: &str) -> RawJson {
    jsonrpc::raw(&serde_json::json!({
        "protocolVersion": version,
        "capabilities": {
            "tools": { "listChanged": true },
            "resources": { "listChanged": true, "subscribe": true },
            "prompts": { "listChanged": true },
            "completions": {},
            "logging": {},
            // Task-augmented calls go to the tool's upstream (tools say so in `execution.taskSupport`).
            "tasks": { "list": {}, "cancel": {}, "requests": { "tools": { "call": {} } } },
        },
        "serverInfo": mcp::implementation(),
        "instructions": format!("mcpgw virtual server \"{virtual_server}\": tools, resources and prompts of several MCP servers behind one endpoint."),
    }))
}

/// Answers one request (anything but `initialize`) for a client of `virtual_server`. Messages the
/// upstream sends about this request (progress) go to `client` when given.
pub async fn handle(
    snapshot: &Snapshot,
    virtual_server: &str,
    method: &str,
    params: Option<&RawValue>,
    client: Option<&Link>,
) -> Result<RawJson, Failure> {
    let Some(catalog) = snapshot.table.catalog(virtual_server) else {
        return Err(fail(RpcError::new(
            jsonrpc::INVALID_REQUEST,
            format!("virtual server \"{virtual_server}\" is not configured"),
        )));
    };
    let page_size = snapshot.model.serving.page_size;
    match method {
        "ping" => Ok(jsonrpc::raw(&serde_json::json!({}))),
        "tools/list" => list(catalog, ItemKind::Tool, params, page_size),
        "resources/list" => list(catalog, ItemKind::Resource, params, page_size),
        "resources/templates/list" => list(catalog, ItemKind::ResourceTemplate, params, page_size),
        "prompts/list" => list(catalog, ItemKind::Prompt, params, page_size),
        "tools/call" => call_named(snapshot, catalog, ItemKind::Tool, method, params, client).await,
        "prompts/get" => call_named(snapshot, catalog, ItemKind::Prompt, method, params, client).await,
        "resources/read" | "resources/subscribe" | "resources/unsubscribe" => {
            by_uri(snapshot, catalog, method, params, client).await
        }
        "completion/complete" => complete(snapshot, catalog, params, client).await,
        "tasks/get" | "tasks/result" | "tasks/cancel" | "tasks/update" => {
            tasks::by_id(snapshot, method, params, client).await
        }
        "tasks/list" => tasks::list(snapshot, catalog, client).await,
        // Session transports handle this in `transport::exchange`; here (plain JSON-RPC) there is
        // no channel for log messages, and accepting keeps scripts working.
        "logging/setLevel" => Ok(jsonrpc::raw(&serde_json::json!({}))),
        other => Err(fail(RpcError::method_not_found(other))),
    }
}

fn list(catalog: &Catalog, kind: ItemKind, params: Option<&RawValue>, page_size: usize) -> Result<RawJson, Failure> {
    let params = object(params)?;
    let offset = match params.get("cursor") {
        None | Some(Value::Null) => 0,
        Some(Value::String(c)) => c.parse().map_err(|_| fail(RpcError::invalid_params("invalid cursor")))?,
        Some(_) => return Err(fail(RpcError::invalid_params("invalid cursor"))),
    };
    catalog.page(kind, offset, page_size).ok_or_else(|| fail(RpcError::invalid_params("invalid cursor")))
}

/// `tools/call` and `prompts/get`: find the item by public name, put the upstream's name in its place.
async fn call_named(
    snapshot: &Snapshot,
    catalog: &Catalog,
    kind: ItemKind,
    method: &str,
    params: Option<&RawValue>,
    client: Option<&Link>,
) -> Result<RawJson, Failure> {
    // Only `name` (and, for shaped tools, `arguments`) is read or rewritten; every other member,
    // `arguments` included, goes on as the client wrote it.
    let mut params = raw_object(params)?;
    let name: String = match params.get("name").map(|n| serde_json::from_str(n.get())) {
        Some(Ok(n)) => n,
        _ => return Err(fail(RpcError::invalid_params("`name` is required"))),
    };
    let Some(item) = catalog.find(kind, &name) else {
        let what = if kind == ItemKind::Tool { "tool" } else { "prompt" };
        return Err(fail(RpcError::invalid_params(format!("unknown {what}: {name}"))));
    };
    params.insert("name".into(), jsonrpc::raw(&item.route.upstream_key));
    if !item.arguments.is_empty() {
        let mut arguments = match params.get("arguments").map(|a| serde_json::from_str(a.get())) {
            None | Some(Ok(Value::Null)) => Map::new(),
            Some(Ok(Value::Object(arguments))) => arguments,
            Some(_) => return Err(fail(RpcError::invalid_params("`arguments` must be an object"))),
        };
        crate::routing::shape::arguments(&item.arguments, &mut arguments);
        params.insert("arguments".into(), jsonrpc::raw(&arguments));
    }
    // A task: asked for (2025-11-25 `task` param), or the upstream's choice (the tasks extension's
    // flat `resultType: "task"` result).
    let asked_for_task = kind == ItemKind::Tool && params.contains_key("task");
    // A stateless client's task (the 2026 extension) on an upstream with 2025-11-25 tasks.
    if kind == ItemKind::Tool && !asked_for_task && tasks::bridges_to_legacy_task(snapshot, item, client) {
        params.insert("task".into(), jsonrpc::raw(&serde_json::json!({})));
        let result = forward(snapshot, item, method, &jsonrpc::raw(&params), client).await?;
        return Ok(tasks::flat_created(&item.route.upstream, result));
    }
    let result = forward(snapshot, item, method, &jsonrpc::raw(&params), client).await?;
    // Only a stateless client can have declared the extension, so only its results are scanned.
    let upstream_made_task = kind == ItemKind::Tool
        && client.is_some_and(|c| c.session.is_stateless())
        && result.get().contains("\"resultType\":\"task\"");
    let as_task = asked_for_task || upstream_made_task;
    Ok(if as_task { tasks::created(&item.route.upstream, result, client) } else { result })
}

/// `resources/read`, `subscribe` and `unsubscribe`: forwarded unchanged to the URI's owner.
async fn by_uri(
    snapshot: &Snapshot,
    catalog: &Catalog,
    method: &str,
    params: Option<&RawValue>,
    client: Option<&Link>,
) -> Result<RawJson, Failure> {
    let fields = object(params)?;
    let Some(Value::String(uri)) = fields.get("uri") else {
        return Err(fail(RpcError::invalid_params("`uri` is required")));
    };
    let Some(item) = catalog.resolve_uri(uri) else {
        let mut e = RpcError::new(jsonrpc::RESOURCE_NOT_FOUND, "resource not found");
        e.data = Some(serde_json::json!({ "uri": uri }));
        return Err(fail(e));
    };
    let params = params.expect("a uri was read from the params");
    forward(snapshot, item, method, params, client).await
}

async fn complete(
    snapshot: &Snapshot,
    catalog: &Catalog,
    params: Option<&RawValue>,
    client: Option<&Link>,
) -> Result<RawJson, Failure> {
    let mut fields = object(params)?;
    let Some(Value::Object(reference)) = fields.get_mut("ref") else {
        return Err(fail(RpcError::invalid_params("`ref` is required")));
    };
    let item = match (reference.get("type").and_then(Value::as_str), reference.get("name"), reference.get("uri")) {
        (Some("ref/prompt"), Some(Value::String(name)), _) => {
            let item = catalog.find(ItemKind::Prompt, name);
            if let Some(item) = item {
                reference.insert("name".into(), Value::String(item.route.upstream_key.clone()));
            }
            item
        }
        (Some("ref/resource"), _, Some(Value::String(uri))) => {
            catalog.find(ItemKind::ResourceTemplate, uri).or_else(|| catalog.resolve_uri(uri))
        }
        _ => {
            return Err(fail(RpcError::invalid_params(
                "`ref` must be a ref/prompt with a name or a ref/resource with a uri",
            )));
        }
    };
    let Some(item) = item else {
        return Err(fail(RpcError::invalid_params("`ref` names nothing this server offers")));
    };
    forward(snapshot, item, "completion/complete", &jsonrpc::raw(&fields), client).await
}

async fn forward(
    snapshot: &Snapshot,
    item: &Published,
    method: &str,
    params: &RawValue,
    client: Option<&Link>,
) -> Result<RawJson, Failure> {
    let Some(upstream) = snapshot.upstream(&item.route.upstream) else {
        return Err(fail(RpcError::new(
            jsonrpc::UPSTREAM_UNAVAILABLE,
            format!("upstream \"{}\" is not configured", item.route.upstream),
        )));
    };
    upstream.request(method, Some(params), client).await.map_err(|e| upstream_failure(&item.route.upstream, method, e))
}

/// An upstream's failure as the error the client gets: its own error object, or the gateway's.
fn upstream_failure(upstream: &str, method: &str, e: UpstreamError) -> Failure {
    match e {
        UpstreamError::Rpc(error) => error,
        UpstreamError::Unavailable(_) | UpstreamError::Unreachable(..) => {
            fail(RpcError::new(jsonrpc::UPSTREAM_UNAVAILABLE, e.to_string()))
        }
        UpstreamError::Timeout(..) => fail(RpcError::new(jsonrpc::UPSTREAM_TIMEOUT, e.to_string())),
        UpstreamError::Transport(..) => {
            tracing::warn!(%upstream, %method, error = %e, "request to upstream failed");
            fail(RpcError::new(jsonrpc::INTERNAL_ERROR, e.to_string()))
        }
    }
}

/// Params as an object whose members stay unparsed; absent params read as `{}`.
fn raw_object(params: Option<&RawValue>) -> Result<indexmap::IndexMap<String, RawJson>, Failure> {
    match params {
        None => Ok(Default::default()),
        Some(p) => {
            serde_json::from_str(p.get()).map_err(|_| fail(RpcError::invalid_params("params must be an object")))
        }
    }
}

/// Params as a JSON object; absent params read as `{}`.
fn object(params: Option<&RawValue>) -> Result<Map<String, Value>, Failure> {
    match params {
        None => Ok(Map::new()),
        Some(p) => {
            serde_json::from_str(p.get()).map_err(|_| fail(RpcError::invalid_params("params must be an object")))
        }
    }
}
