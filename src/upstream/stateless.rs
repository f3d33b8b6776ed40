//! Speaking the stateless protocol (2026-07-28) to an upstream, whatever carries the messages:
//! the `_meta` every request needs, what a `server/discover` answer tells, and the rounds that turn
//! an `input_required` result into requests to a session-based client.

use std::time::Duration;

use serde_json::Value;
use serde_json::value::RawValue;

use super::UpstreamError;
use super::asked::{Asked, answer_one};
use super::session::Established;
use crate::protocol::jsonrpc;
use crate::protocol::{RawJson, mcp};
use crate::session::Link;

use crate::protocol::stateless::{VERSION, meta};
/// Most `input_required` rounds answered for a session-based client before giving up.
const MAX_ROUNDS: usize = 8;

/// `params` with the stateless `_meta` fields added: the version, the calling client's
/// capabilities (none when no client is calling), and who is asking.
pub(super) fn params(params: Option<&RawValue>, client: Option<&Link>) -> RawJson {
    with_meta(params, client, false)
}

/// `params` as `params` makes them; with `tasks`, the capabilities also declare the tasks
/// extension (a session-based client's task, carried by the extension; see `task_bridge`).
pub(super) fn with_meta(params: Option<&RawValue>, client: Option<&Link>, tasks: bool) -> RawJson {
    let mut fields: serde_json::Map<String, Value> =
        params.and_then(|p| serde_json::from_str(p.get()).ok()).unwrap_or_default();
    let mut capabilities = client.map_or_else(|| serde_json::json!({}), |c| c.session.capabilities());
    if tasks && let Some(declared) = capabilities.as_object_mut() {
        let extensions = declared.entry("extensions").or_insert_with(|| serde_json::json!({}));
        if let Some(extensions) = extensions.as_object_mut() {
            extensions.insert(crate::protocol::tasks::EXTENSION.into(), serde_json::json!({}));
        }
    }
    let meta = fields.entry("_meta").or_insert_with(|| serde_json::json!({}));
    if let Some(meta) = meta.as_object_mut() {
        meta.insert(self::meta::PROTOCOL_VERSION.into(), serde_json::json!(VERSION));
        meta.insert(self::meta::CLIENT_CAPABILITIES.into(), capabilities);
        meta.insert(self::meta::CLIENT_INFO.into(), mcp::implementation());
    }
    jsonrpc::raw(&fields)
}

/// The `subscriptions/listen` params mcpgw keeps open on a stateless upstream: every list change,
/// and updates of the resources session-based clients subscribed to (`resources/subscribe` is
/// gone from the stateless protocol, so their subscriptions live here).
pub(super) fn listen_params(subscribed: &std::collections::BTreeSet<String>) -> RawJson {
    let mut notifications = serde_json::json!({
        "toolsListChanged": true, "promptsListChanged": true, "resourcesListChanged": true,
    });
    if !subscribed.is_empty() {
        notifications["resourceSubscriptions"] = serde_json::json!(subscribed);
    }
    params(Some(&jsonrpc::raw(&serde_json::json!({ "notifications": notifications }))), None)
}

/// A session-based client's `resources/subscribe` or `unsubscribe`, kept in `subscribed`.
/// `Some(changed)` when `method` is one of them, `None` for any other method.
pub(super) fn subscription(
    method: &str,
    params: Option<&RawValue>,
    subscribed: &std::sync::Mutex<std::collections::BTreeSet<String>>,
) -> Option<bool> {
    let subscribing = match method {
        "resources/subscribe" => true,
        "resources/unsubscribe" => false,
        _ => return None,
    };
    let uri = params
        .and_then(|p| serde_json::from_str::<Value>(p.get()).ok())
        .and_then(|p| p.get("uri").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_default();
    let mut set = subscribed.lock().unwrap();
    Some(if subscribing { set.insert(uri) } else { set.remove(&uri) })
}

/// What a `server/discover` result says, when it names the version mcpgw speaks.
pub(super) fn discovered(result: &RawValue) -> Option<Established> {
    let result: Value = serde_json::from_str(result.get()).ok()?;
    let speaks = result["supportedVersions"].as_array()?.iter().any(|v| v.as_str() == Some(VERSION));
    speaks.then(|| Established {
        protocol_version: VERSION.to_string(),
        capabilities: result["capabilities"].as_object().cloned().unwrap_or_default(),
        server_info: result["_meta"][meta::SERVER_INFO].as_object().map(|o| Value::Object(o.clone())),
    })
}

/// A stateless result as a session-based client expects it: without the fields its era does not
/// have (strict clients refuse an empty result that carries `resultType`).
pub(super) fn without_stateless_fields(result: RawJson) -> RawJson {
    if !result.get().contains("\"resultType\"") {
        return result;
    }
    let Ok(mut value) = serde_json::from_str::<serde_json::Map<String, Value>>(result.get()) else { return result };
    value.shift_remove("resultType");
    jsonrpc::raw(&value)
}

/// Sends one stateless request `method` with `send(method, params)` (which adds nothing but
/// framing). An `input_required` result goes back to a stateless client as is (it retries with
/// the answers itself); for a session-based client each input request is asked of it, and the
/// request retried with the answers and the upstream's request state. A session-based client's
/// tasks (2025-11-25) go through the tasks extension (`task_bridge`).
pub(super) async fn request<'m, F, Fut>(
    upstream: &str,
    method: &'m str,
    params: Option<&RawValue>,
    client: Option<&Link>,
    timeout: Duration,
    send: F,
) -> Result<RawJson, UpstreamError>
where
    F: Fn(&'m str, RawJson) -> Fut,
    Fut: std::future::Future<Output = Result<RawJson, UpstreamError>>,
{
    if let Some(bridged) = super::task_bridge::request(upstream, method, params, client, timeout, &send).await {
        return bridged;
    }
    rounds(upstream, method, params, client, timeout, false, &send).await
}

/// `request` without the task bridge; `tasks` declares the tasks extension upstream.
pub(super) async fn rounds<'m, F, Fut>(
    upstream: &str,
    method: &'m str,
    params: Option<&RawValue>,
    client: Option<&Link>,
    timeout: Duration,
    tasks: bool,
    send: &F,
) -> Result<RawJson, UpstreamError>
where
    F: Fn(&'m str, RawJson) -> Fut,
    Fut: std::future::Future<Output = Result<RawJson, UpstreamError>>,
{
    let base: Value = params.and_then(|p| serde_json::from_str(p.get()).ok()).unwrap_or_default();
    let mut current = params.map(|p| p.to_owned());
    for _ in 0..MAX_ROUNDS {
        let result = send(method, with_meta(current.as_deref(), client, tasks)).await?;
        let for_stateless = client.is_some_and(|c| c.session.is_stateless());
        if for_stateless {
            return Ok(result);
        }
        // With the tasks extension declared, the bridge reshapes the result itself.
        let finished = |result| if tasks { result } else { without_stateless_fields(result) };
        if !result.get().contains("\"input_required\"") {
            return Ok(finished(result));
        }
        let value: Value = serde_json::from_str(result.get()).unwrap_or_default();
        if value["resultType"] != "input_required" {
            return Ok(finished(result));
        }
        let Some(link) = client else {
            return Err(UpstreamError::Transport(
                upstream.to_string(),
                "the upstream needs input from a client, and no client is calling".into(),
            ));
        };
        let mut answers = serde_json::Map::new();
        for (key, asked) in value["inputRequests"].as_object().into_iter().flatten() {
            let method = asked["method"].as_str().unwrap_or("");
            let asked_params = asked.get("params").map(jsonrpc::raw);
            answers.insert(key.clone(), ask_client(link, method, asked_params.as_deref(), timeout).await?);
        }
        let mut next = base.clone();
        next["inputResponses"] = Value::Object(answers);
        if let Some(state) = value.get("requestState") {
            next["requestState"] = state.clone();
        }
        current = Some(jsonrpc::raw(&next));
    }
    Err(UpstreamError::Transport(
        upstream.to_string(),
        format!("the upstream still needed input after {MAX_ROUNDS} rounds"),
    ))
}

/// Asks a session-based client one of a stateless upstream's input requests; its result, or its
/// error as the request's failure.
pub(super) async fn ask_client(
    link: &Link,
    method: &str,
    params: Option<&RawValue>,
    timeout: Duration,
) -> Result<Value, UpstreamError> {
    // A stateless upstream's input requests live in its result: nothing can withdraw one.
    let reply =
        answer_one(&Asked::default(), &jsonrpc::raw(&serde_json::json!(0)), method, params, Some(link), timeout)
            .await
            .unwrap_or_default();
    let reply: Value = serde_json::from_slice(&reply).unwrap_or_default();
    match reply.get("result") {
        Some(result) => Ok(result.clone()),
        None => Err(UpstreamError::Rpc(jsonrpc::raw(&reply["error"]))),
    }
}
