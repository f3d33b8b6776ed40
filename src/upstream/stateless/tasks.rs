//! A session-based client's tasks (MCP 2025-11-25) on a stateless upstream, which offers tasks
//! only through the tasks extension (`io.modelcontextprotocol/tasks`): a task-augmented
//! `tools/call` is sent with the extension declared and its flat `resultType: "task"` answer
//! becomes a 2025 `CreateTaskResult`; `tasks/get` and `tasks/cancel` answer in the 2025 `Task`
//! shape; and `tasks/result`, which the extension does not have, waits on `tasks/get` until the
//! task ends, asking the client whatever input the task waits for and passing the answers on with
//! `tasks/update`.

use std::time::Duration;

use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::meta::without_stateless_fields;
use super::rounds::{ask_client, rounds};
use crate::protocol::jsonrpc::{self, RpcError};
use crate::protocol::{RawJson, tasks};
use crate::session::Link;
use crate::upstream::UpstreamError;

/// How often `tasks/result` asks a working task how it is doing.
const POLL: Duration = Duration::from_millis(200);

/// The bridged answer when `method` is a session-based client's task request, else `None`.
pub(super) async fn request<'m, F, Fut>(
    upstream: &str,
    method: &'m str,
    params: Option<&RawValue>,
    client: Option<&Link>,
    timeout: Duration,
    send: &F,
) -> Option<Result<RawJson, UpstreamError>>
where
    F: Fn(&'m str, RawJson) -> Fut,
    Fut: std::future::Future<Output = Result<RawJson, UpstreamError>>,
{
    let link = client.filter(|c| !c.session.is_stateless())?;
    let fields: Value = params.and_then(|p| serde_json::from_str(p.get()).ok()).unwrap_or_default();
    let outcome = match method {
        "tools/call" if fields.get("task").is_some() => {
            rounds(upstream, method, params, client, timeout, true, send).await.map(created)
        }
        "tasks/get" => rounds(upstream, method, params, client, timeout, true, send).await.map(|r| task(&r)),
        "tasks/cancel" => match rounds(upstream, method, params, client, timeout, true, send).await {
            // The extension acknowledges; a 2025 client expects the task.
            Ok(_) => rounds(upstream, "tasks/get", params, client, timeout, true, send).await.map(|r| task(&r)),
            Err(e) => Err(e),
        },
        "tasks/result" => result(upstream, &fields, link, timeout, send).await,
        _ => return None,
    };
    Some(outcome)
}

/// `tasks/result`: the task's result once it ends, answering its input requests on the way.
async fn result<'m, F, Fut>(
    upstream: &str,
    fields: &Value,
    link: &Link,
    timeout: Duration,
    send: &F,
) -> Result<RawJson, UpstreamError>
where
    F: Fn(&'m str, RawJson) -> Fut,
    Fut: std::future::Future<Output = Result<RawJson, UpstreamError>>,
{
    let id = json!({ "taskId": fields["taskId"] });
    loop {
        let got = rounds(upstream, "tasks/get", Some(&jsonrpc::raw(&id)), Some(link), timeout, true, send).await?;
        let got: Value = serde_json::from_str(got.get()).unwrap_or_default();
        match got["status"].as_str().unwrap_or("") {
            "completed" => return Ok(without_stateless_fields(jsonrpc::raw(&got["result"]))),
            "failed" => return Err(UpstreamError::Rpc(jsonrpc::raw(&got["error"]))),
            "cancelled" => {
                let e = RpcError::new(jsonrpc::INTERNAL_ERROR, "the task was cancelled");
                return Err(UpstreamError::Rpc(jsonrpc::raw(
                    &serde_json::from_str::<Value>(&e.to_json()).unwrap_or_default(),
                )));
            }
            "input_required" => {
                let mut answers = serde_json::Map::new();
                for (key, asked) in got["inputRequests"].as_object().into_iter().flatten() {
                    let params = asked.get("params").map(jsonrpc::raw);
                    let method = asked["method"].as_str().unwrap_or("");
                    answers.insert(key.clone(), ask_client(link, method, params.as_deref(), timeout).await?);
                }
                let update = json!({ "taskId": fields["taskId"], "inputResponses": answers });
                rounds(upstream, "tasks/update", Some(&jsonrpc::raw(&update)), Some(link), timeout, true, send).await?;
            }
            _ => tokio::time::sleep(POLL).await,
        }
    }
}

/// The extension's flat `CreateTaskResult` as a 2025 one (`{task: {...}}`); a plain result
/// (the upstream chose to run the call at once) as it is.
fn created(result: RawJson) -> RawJson {
    let Ok(mut value) = serde_json::from_str::<serde_json::Map<String, Value>>(result.get()) else { return result };
    if value.get("resultType").and_then(Value::as_str) != Some("task") {
        return without_stateless_fields(result);
    }
    let meta = value.remove("_meta");
    let mut out = json!({ "task": tasks::as_2025(&Value::Object(value)) });
    if let Some(meta) = meta {
        out["_meta"] = meta;
    }
    jsonrpc::raw(&out)
}

/// A `tasks/get` answer (a `DetailedTask`) as a 2025 `Task`.
fn task(result: &RawValue) -> RawJson {
    let value: Value = serde_json::from_str(result.get()).unwrap_or_default();
    jsonrpc::raw(&tasks::as_2025(&value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_extensions_tasks_take_the_2025_shape() {
        let flat = jsonrpc::raw(&json!({"resultType": "task", "taskId": "t1", "status": "working",
            "createdAt": "2026-01-01T00:00:00Z", "lastUpdatedAt": "2026-01-01T00:00:00Z", "ttlMs": 60000}));
        let legacy: Value = serde_json::from_str(created(flat).get()).unwrap();
        assert_eq!(
            legacy,
            json!({"task": {"taskId": "t1", "status": "working", "createdAt": "2026-01-01T00:00:00Z",
                "lastUpdatedAt": "2026-01-01T00:00:00Z", "ttl": 60000}})
        );
        let plain = jsonrpc::raw(&json!({"resultType": "complete", "content": []}));
        assert_eq!(created(plain).get(), r#"{"content":[]}"#, "a call run at once stays a plain result");
        let detailed = jsonrpc::raw(&json!({"resultType": "complete", "taskId": "t1", "status": "completed",
            "ttlMs": 5, "result": {"content": []}}));
        let got: Value = serde_json::from_str(task(&detailed).get()).unwrap();
        assert_eq!(got, json!({"taskId": "t1", "status": "completed", "ttl": 5}));
    }
}
