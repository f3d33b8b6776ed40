//! Task ids as clients see them: `<upstream>:<the upstream's id>`, so ids from different upstreams
//! never collide and each leads back to the upstream that runs the task; and a task's shape in
//! each era (2025-11-25 tasks, the 2026-07-28 tasks extension).

use serde_json::Value;

const RELATED: &str = "io.modelcontextprotocol/related-task";
/// The tasks extension of MCP 2026-07-28 (SEP-2663).
pub(crate) const EXTENSION: &str = "io.modelcontextprotocol/tasks";
/// The fields a task has in both eras under the same names.
const COMMON: [&str; 5] = ["taskId", "status", "statusMessage", "createdAt", "lastUpdatedAt"];

/// A task of the extension as a 2025-11-25 `Task`: `ttlMs` is `ttl` (always present; `null` is
/// unlimited), and the result, error and input requests are left out (2025 clients fetch those
/// through `tasks/result`).
pub(crate) fn as_2025(task: &Value) -> Value {
    let mut out = reshape(task, [("ttlMs", "ttl"), ("pollIntervalMs", "pollInterval")]);
    out.entry("ttl").or_insert(Value::Null);
    Value::Object(out)
}

/// A 2025-11-25 `Task` under the extension's names (`ttl` is `ttlMs`).
pub(crate) fn as_extension(task: &Value) -> Value {
    Value::Object(reshape(task, [("ttl", "ttlMs"), ("pollInterval", "pollIntervalMs")]))
}

/// The fields both eras share, plus the `(from, to)` renamed ones.
fn reshape(task: &Value, renamed: [(&str, &str); 2]) -> serde_json::Map<String, Value> {
    let mut out = serde_json::Map::new();
    for key in COMMON {
        if let Some(v) = task.get(key) {
            out.insert(key.into(), v.clone());
        }
    }
    for (from, to) in renamed {
        if let Some(v) = task.get(from) {
            out.insert(to.into(), v.clone());
        }
    }
    out
}

pub(crate) fn public(upstream: &str, id: &str) -> String {
    format!("{upstream}:{id}")
}

/// `(upstream, the upstream's id)`; upstream names never contain `:`.
pub(crate) fn split(public: &str) -> Option<(&str, &str)> {
    public.split_once(':')
}

/// Rewrites the upstream's task ids in a result to public ones: a task (`taskId`), a created
/// task (`task.taskId`), a list (`tasks[].taskId`), a task's result (`_meta` related task).
/// Returns the first id rewritten.
pub(crate) fn publish(upstream: &str, result: &mut Value) -> Option<String> {
    let mut first = None;
    let mut rewrite = |slot: Option<&mut Value>| {
        if let Some(Value::String(id)) = slot {
            *id = public(upstream, id);
            first.get_or_insert_with(|| id.clone());
        }
    };
    rewrite(result.get_mut("taskId"));
    rewrite(result.get_mut("task").and_then(|t| t.get_mut("taskId")));
    rewrite(result.get_mut("_meta").and_then(|m| m.get_mut(RELATED)).and_then(|r| r.get_mut("taskId")));
    if let Some(Value::Array(tasks)) = result.get_mut("tasks") {
        for task in tasks {
            rewrite(task.get_mut("taskId"));
        }
    }
    first
}

/// A `notifications/tasks/status` from `upstream` as the owning client should see it, or `None`
/// when `owns` says the task is not that client's.
pub(crate) fn status_for(upstream: &str, mut params: Value, owns: impl Fn(&str) -> bool) -> Option<Vec<u8>> {
    let id = publish(upstream, &mut params)?;
    if !owns(&id) {
        return None;
    }
    Some(crate::protocol::jsonrpc::encode_notification(
        "notifications/tasks/status",
        Some(&crate::protocol::jsonrpc::raw(&params)),
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn ids_are_namespaced_wherever_they_appear() {
        let mut created = json!({"task": {"taskId": "t1", "status": "working"}});
        assert_eq!(publish("up", &mut created).as_deref(), Some("up:t1"));
        assert_eq!(created["task"]["taskId"], "up:t1");
        let mut list = json!({"tasks": [{"taskId": "a"}, {"taskId": "b:c"}]});
        publish("up", &mut list);
        assert_eq!(list["tasks"][1]["taskId"], "up:b:c");
        assert_eq!(split("up:b:c"), Some(("up", "b:c")));
        let mut result = json!({"content": [], "_meta": {RELATED: {"taskId": "t1"}}});
        publish("up", &mut result);
        assert_eq!(result["_meta"][RELATED]["taskId"], "up:t1");
        assert!(status_for("up", json!({"taskId": "t1"}), |id| id == "up:t2").is_none());
        assert!(status_for("up", json!({"taskId": "t2"}), |id| id == "up:t2").is_some());
    }
}
