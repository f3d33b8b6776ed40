//! The step that answers: locally (`initialize`, `server/discover`, `ping`, lists, log levels) or
//! by routing to the upstream that owns the item, rewriting only the names the gateway owns.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::resolve::{Params, Resolved};
use super::{Request, answers, lists, owner, stateless, subscriptions, tasks};
use crate::error::{GatewayError, Kind, Source};
use crate::live::{Live, Snapshot};
use crate::protocol::jsonrpc;
use crate::protocol::mcp::LogLevel;
use crate::protocol::{ItemKind, RawJson};

pub(super) async fn forward(
    live: &Arc<Live>,
    snapshot: &Snapshot,
    request: &Request,
    resolved: &mut Resolved<'_>,
) -> Result<RawJson, GatewayError> {
    let catalog = resolved.catalog;
    match resolved.method.name {
        "initialize" => Ok(answers::initialize(request)),
        "server/discover" => Ok(answers::discover(request.virtual_server())),
        "ping" => Ok(answers::empty()),
        "tools/list" => lists::page(snapshot, request, catalog, ItemKind::Tool),
        "resources/list" => lists::page(snapshot, request, catalog, ItemKind::Resource),
        "resources/templates/list" => lists::page(snapshot, request, catalog, ItemKind::ResourceTemplate),
        "prompts/list" => lists::page(snapshot, request, catalog, ItemKind::Prompt),
        "tools/call" | "prompts/get" => named(snapshot, request, resolved).await,
        "resources/read" => {
            let item = resolved.item.expect("a uri names its item");
            owner::to_owner(snapshot, request, item, "resources/read", request.params()).await
        }
        "resources/subscribe" => subscriptions::subscribe(snapshot, request, resolved.item.expect("resolved")).await,
        "resources/unsubscribe" => subscriptions::unsubscribe(snapshot, request).await,
        "completion/complete" => complete(snapshot, request, resolved).await,
        "logging/setLevel" => set_log_level(snapshot, request),
        "subscriptions/listen" => stateless::listen(live, snapshot, request).await,
        "tasks/get" | "tasks/result" | "tasks/cancel" | "tasks/update" => tasks::by_id(snapshot, request).await,
        "tasks/list" => tasks::list(snapshot, catalog, &request.link).await,
        other => Err(GatewayError::new(Kind::Internal, Source::Gateway, format!("no step answers {other}"))),
    }
}

/// `tools/call` and `prompts/get`: the item's upstream name in place of its public one, and a
/// shaped tool's arguments filled in.
async fn named(snapshot: &Snapshot, request: &Request, resolved: &mut Resolved<'_>) -> Result<RawJson, GatewayError> {
    let item = resolved.item.expect("a name names its item");
    let Params::Members(mut params) = std::mem::replace(&mut resolved.params, Params::Unread) else {
        unreachable!("named requests read their members")
    };
    // Only `name` (and, for shaped tools, `arguments`) is rewritten; every other member,
    // `arguments` included, goes on as the client wrote it.
    params.insert("name".into(), jsonrpc::raw(&item.route.upstream_key));
    if !item.arguments.is_empty() {
        let mut arguments = match params.get("arguments").map(|a| serde_json::from_str(a.get())) {
            None | Some(Ok(Value::Null)) => Map::new(),
            Some(Ok(Value::Object(arguments))) => arguments,
            Some(_) => return Err(GatewayError::invalid_params("`arguments` must be an object")),
        };
        crate::routing::shape::arguments(&item.arguments, &mut arguments);
        params.insert("arguments".into(), jsonrpc::raw(&arguments));
    }
    let method = resolved.method.name;
    if item.kind != ItemKind::Tool {
        return owner::to_owner(snapshot, request, item, method, Some(&jsonrpc::raw(&params))).await;
    }
    let link = &request.link;
    // A task: asked for (2025-11-25 `task` param), or the upstream's choice (the tasks extension's
    // flat `resultType: "task"` result).
    let asked_for_task = params.contains_key("task");
    // A stateless client's task (the 2026 extension) on an upstream with 2025-11-25 tasks.
    if !asked_for_task && tasks::bridges_to_legacy_task(snapshot, item, link) {
        params.insert("task".into(), jsonrpc::raw(&serde_json::json!({})));
        let result = owner::to_owner(snapshot, request, item, method, Some(&jsonrpc::raw(&params))).await?;
        return Ok(tasks::flat_created(snapshot, &item.route.upstream, result, link));
    }
    let result = owner::to_owner(snapshot, request, item, method, Some(&jsonrpc::raw(&params))).await?;
    // Only a stateless client can have declared the extension, so only its results are scanned.
    let upstream_made_task = link.session.is_stateless() && result.get().contains("\"resultType\":\"task\"");
    Ok(if asked_for_task || upstream_made_task {
        tasks::created(snapshot, &item.route.upstream, result, link)
    } else {
        result
    })
}

/// `completion/complete`: a prompt `ref` gets the prompt's upstream name.
async fn complete(
    snapshot: &Snapshot,
    request: &Request,
    resolved: &mut Resolved<'_>,
) -> Result<RawJson, GatewayError> {
    let item = resolved.item.expect("a ref names its item");
    let Params::Object(mut fields) = std::mem::replace(&mut resolved.params, Params::Unread) else {
        unreachable!("completions read their params")
    };
    if item.kind == ItemKind::Prompt
        && let Some(Value::Object(reference)) = fields.get_mut("ref")
    {
        reference.insert("name".into(), Value::String(item.route.upstream_key.clone()));
    }
    owner::to_owner(snapshot, request, item, "completion/complete", Some(&jsonrpc::raw(&fields))).await
}

/// `logging/setLevel`: the session's level filters what it receives; the upstreams behind its
/// virtual server are asked for that level (or keep a more verbose one another client asked for).
fn set_log_level(snapshot: &Snapshot, request: &Request) -> Result<RawJson, GatewayError> {
    let fields = super::resolve::object(request)?;
    let Some(level) = fields.get("level").and_then(Value::as_str).and_then(LogLevel::parse) else {
        return Err(GatewayError::invalid_params(format!("`level` must be one of {}", LogLevel::names())));
    };
    request.session().log_level.set(level);
    if let Some(catalog) = snapshot.table.catalog(request.virtual_server()) {
        for (name, upstream) in &snapshot.upstreams {
            if catalog.includes_upstream(name) {
                upstream.request_log_level(level);
            }
        }
    }
    Ok(answers::empty())
}
