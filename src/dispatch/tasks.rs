//! Tasks (MCP 2025-11-25, experimental) across upstreams: a task-augmented `tools/call` keeps its
//! upstream's task under a public id owned by the calling session; `tasks/get`, `result` and
//! `cancel` go to that upstream, and `tasks/list` gathers the session's own tasks from every
//! upstream behind its virtual server. A session never sees or touches another's tasks. An
//! authenticated stateless caller, which has no session, gets ids tagged with a mark of its
//! identity (`<upstream>.<tag>:<id>`), so another caller holding the id still cannot use it.

use serde_json::{Value, json};

use super::Request;
use super::owner::upstream_failure;
use super::round_state;
use crate::error::GatewayError;
use crate::live::Snapshot;
use crate::protocol::jsonrpc;
use crate::protocol::{RawJson, tasks};
use crate::routing::Catalog;
use crate::session::{Link, Owned};

type Failure = GatewayError;

fn unknown(id: &str) -> Failure {
    GatewayError::invalid_params(format!("Failed to retrieve task: no task {id}"))
}

/// The part before `:` of the public ids of tasks made on `upstream` for `link`'s caller: the
/// upstream's name, tagged with the owner for an authenticated stateless caller.
fn owner_label(snapshot: &Snapshot, upstream: &str, link: &Link) -> String {
    match link.session.caller.identity.owner_key() {
        Some(owner) if link.session.is_stateless() => {
            let key = round_state::key(snapshot.model.serving.request_state_key.as_ref().map(|k| k.expose()));
            format!("{upstream}.{}", round_state::owner_tag(&key, &owner))
        }
        _ => upstream.to_string(),
    }
}

/// A task-augmented call's result: the upstream's task under its public id, owned by `client`.
pub(super) fn created(snapshot: &Snapshot, upstream: &str, result: RawJson, link: &Link) -> RawJson {
    let Ok(mut value) = serde_json::from_str::<Value>(result.get()) else { return result };
    if value.get("task").is_none() && value.get("resultType").and_then(Value::as_str) != Some("task") {
        return result; // the upstream ran it as a plain call
    }
    if let Some(id) = tasks::publish(&owner_label(snapshot, upstream, link), &mut value) {
        link.session.record(Owned::Task, &id);
    }
    jsonrpc::raw(&value)
}

/// `tasks/get`, `tasks/result`, `tasks/cancel` and the extension's `tasks/update`: by public id,
/// for the session that owns it.
pub(super) async fn by_id(snapshot: &Snapshot, request: &Request) -> Result<RawJson, Failure> {
    let (method, link) = (request.method.as_str(), &request.link);
    let client = Some(link);
    let mut fields = super::resolve::object(request)?;
    let Some(Value::String(id)) = fields.get("taskId").cloned() else {
        return Err(GatewayError::invalid_params("`taskId` is required"));
    };
    let (label, upstream_id) = tasks::split(&id).ok_or_else(|| unknown(&id))?;
    let upstream = label.split_once('.').map_or(label, |(upstream, _tag)| upstream);
    // A stateless client has no session to own tasks by: the id it was given carries its owner
    // (none for an anonymous caller, whose id, given only to it, is all it holds).
    let owned = if link.session.is_stateless() {
        owner_label(snapshot, upstream, link) == label
    } else {
        link.session.owns(Owned::Task, &id)
    };
    if !owned {
        return Err(unknown(&id));
    }
    let handle = snapshot.upstream(upstream).ok_or_else(|| unknown(&id))?;
    fields.insert("taskId".into(), Value::String(upstream_id.to_string()));
    if link.session.is_stateless() && !speaks_stateless(handle) {
        return Box::pin(extension_on_legacy(handle, upstream, label, method, &fields, client)).await;
    }
    let result = handle
        .request(method, Some(&jsonrpc::raw(&fields)), client)
        .await
        .map_err(|e| upstream_failure(upstream, method, e))?;
    let mut value: Value = serde_json::from_str(result.get()).unwrap_or(Value::Null);
    tasks::publish(label, &mut value);
    Ok(jsonrpc::raw(&value))
}

/// `tasks/list`: this session's tasks from every upstream behind the catalog that lists tasks.
pub(super) async fn list(snapshot: &Snapshot, catalog: &Catalog, link: &Link) -> Result<RawJson, Failure> {
    let client = Some(link);
    let mut all = Vec::new();
    for (name, handle) in &snapshot.upstreams {
        if !catalog.includes_upstream(name) || handle.status().state != crate::upstream::UpstreamState::Up {
            continue;
        }
        let Ok(result) = handle.request("tasks/list", None, client).await else { continue };
        let mut value: Value = serde_json::from_str(result.get()).unwrap_or(Value::Null);
        tasks::publish(name, &mut value);
        if let Some(Value::Array(listed)) = value.get_mut("tasks") {
            all.extend(
                listed.drain(..).filter(|t| t["taskId"].as_str().is_some_and(|id| link.session.owns(Owned::Task, id))),
            );
        }
    }
    Ok(jsonrpc::raw(&json!({ "tasks": all })))
}

fn speaks_stateless(handle: &std::sync::Arc<crate::upstream::UpstreamHandle>) -> bool {
    handle.status().protocol_version.as_deref().is_some_and(crate::protocol::stateless::is_version)
}

/// Whether a call should become a 2025-11-25 task-augmented call on its session-based upstream,
/// for a stateless client that declared the tasks extension: the extension lets the server decide
/// to run a call as a task, and the tool says it supports tasks.
pub(super) fn bridges_to_legacy_task(snapshot: &Snapshot, item: &crate::routing::Published, link: &Link) -> bool {
    if !link.session.is_stateless() {
        return false;
    }
    if link.session.capabilities()["extensions"].get(tasks::EXTENSION).is_none() {
        return false;
    }
    if snapshot.upstream(&item.route.upstream).is_none_or(speaks_stateless) {
        return false;
    }
    let tool: Value = serde_json::from_str(item.json.get()).unwrap_or_default();
    matches!(tool["execution"]["taskSupport"].as_str(), Some("optional" | "required"))
}

/// A 2025 `CreateTaskResult` (`{task: …}`) as the extension's flat one, its id published for
/// the stateless caller that made it.
pub(super) fn flat_created(snapshot: &Snapshot, upstream: &str, result: RawJson, link: &Link) -> RawJson {
    let Ok(mut value) = serde_json::from_str::<Value>(result.get()) else { return result };
    let Some(task) = value.get_mut("task").map(Value::take) else { return result };
    let mut flat = tasks::as_extension(&task);
    flat["resultType"] = json!("task");
    tasks::publish(&owner_label(snapshot, upstream, link), &mut flat);
    jsonrpc::raw(&flat)
}

/// The extension's task requests, for a stateless client, on an upstream that has 2025-11-25
/// tasks: `tasks/get` inlines the result (from `tasks/result`) once the task ended, `tasks/cancel`
/// acknowledges, and `tasks/update` has nothing to answer to (2025 tasks ask for input on
/// `tasks/result`'s stream, which a stateless client cannot receive).
async fn extension_on_legacy(
    handle: &std::sync::Arc<crate::upstream::UpstreamHandle>,
    upstream: &str,
    label: &str,
    method: &str,
    fields: &serde_json::Map<String, Value>,
    client: Option<&Link>,
) -> Result<RawJson, Failure> {
    let ask = |method: &'static str| async move {
        let result = handle
            .request(method, Some(&jsonrpc::raw(fields)), client)
            .await
            .map_err(|e| upstream_failure(upstream, method, e))?;
        Ok::<Value, Failure>(serde_json::from_str(result.get()).unwrap_or_default())
    };
    match method {
        "tasks/get" => {
            let task = ask("tasks/get").await?;
            let mut detailed = tasks::as_extension(&task);
            match task["status"].as_str() {
                Some("completed") => detailed["result"] = ask("tasks/result").await?,
                Some("failed") => {
                    if let Err(error) = ask("tasks/result").await {
                        detailed["error"] = serde_json::from_str(&error.to_json()).unwrap_or_default();
                    }
                }
                _ => {}
            }
            tasks::publish(label, &mut detailed);
            Ok(jsonrpc::raw(&detailed))
        }
        "tasks/cancel" => ask("tasks/cancel").await.map(|_| jsonrpc::raw(&json!({}))),
        other => Err(GatewayError::method_not_found(&format!(
            "{other} (upstream \"{upstream}\" runs tasks of MCP 2025-11-25, which take no input this way)"
        ))),
    }
}
