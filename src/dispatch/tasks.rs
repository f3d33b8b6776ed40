//! Tasks (MCP 2025-11-25, experimental) across upstreams: a task-augmented `tools/call` keeps its
//! upstream's task under a public id owned by the calling session; `tasks/get`, `result` and
//! `cancel` go to that upstream, and `tasks/list` gathers the session's own tasks from every
//! upstream behind its virtual server. A session never sees or touches another's tasks.

use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::{Failure, fail, object, upstream_failure};
use crate::live::Snapshot;
use crate::protocol::jsonrpc::{self, RpcError};
use crate::protocol::{RawJson, tasks};
use crate::routing::Catalog;
use crate::upstream::ClientLink;

fn unknown(id: &str) -> Failure {
    fail(RpcError::invalid_params(format!("Failed to retrieve task: no task {id}")))
}

/// A task-augmented call's result: the upstream's task under its public id, owned by `client`.
pub(super) fn created(upstream: &str, result: RawJson, client: Option<&ClientLink>) -> RawJson {
    let Ok(mut value) = serde_json::from_str::<Value>(result.get()) else { return result };
    if value.get("task").is_none() && value.get("resultType").and_then(Value::as_str) != Some("task") {
        return result; // the upstream ran it as a plain call
    }
    if let (Some(id), Some(link)) = (tasks::publish(upstream, &mut value), client) {
        link.session.own_task(&id);
    }
    jsonrpc::raw(&value)
}

/// `tasks/get`, `tasks/result`, `tasks/cancel` and the extension's `tasks/update`: by public id,
/// for the session that owns it.
pub(super) async fn by_id(
    snapshot: &Snapshot,
    method: &str,
    params: Option<&RawValue>,
    client: Option<&ClientLink>,
) -> Result<RawJson, Failure> {
    let mut fields = object(params)?;
    let Some(Value::String(id)) = fields.get("taskId").cloned() else {
        return Err(fail(RpcError::invalid_params("`taskId` is required")));
    };
    // A stateless client has no session to own tasks by: its task id, which only it was given,
    // is what it holds (as with the upstream it came from).
    if !client.is_some_and(|c| c.session.is_stateless() || c.session.owns_task(&id)) {
        return Err(unknown(&id));
    }
    let (upstream, upstream_id) = tasks::split(&id).ok_or_else(|| unknown(&id))?;
    let handle = snapshot.upstream(upstream).ok_or_else(|| unknown(&id))?;
    fields.insert("taskId".into(), Value::String(upstream_id.to_string()));
    let result = handle
        .request(method, Some(&jsonrpc::raw(&fields)), client)
        .await
        .map_err(|e| upstream_failure(upstream, method, e))?;
    let mut value: Value = serde_json::from_str(result.get()).unwrap_or(Value::Null);
    tasks::publish(upstream, &mut value);
    Ok(jsonrpc::raw(&value))
}

/// `tasks/list`: this session's tasks from every upstream behind the catalog that lists tasks.
pub(super) async fn list(
    snapshot: &Snapshot,
    catalog: &Catalog,
    client: Option<&ClientLink>,
) -> Result<RawJson, Failure> {
    let Some(link) = client else {
        return Ok(jsonrpc::raw(&json!({ "tasks": [] })));
    };
    let mut all = Vec::new();
    for (name, handle) in &snapshot.upstreams {
        if !catalog.includes_upstream(name) || handle.status().state != "up" {
            continue;
        }
        let Ok(result) = handle.request("tasks/list", None, client).await else { continue };
        let mut value: Value = serde_json::from_str(result.get()).unwrap_or(Value::Null);
        tasks::publish(name, &mut value);
        if let Some(Value::Array(listed)) = value.get_mut("tasks") {
            all.extend(listed.drain(..).filter(|t| t["taskId"].as_str().is_some_and(|id| link.session.owns_task(id))));
        }
    }
    Ok(jsonrpc::raw(&json!({ "tasks": all })))
}
