//! What speaking the stateless protocol to an upstream adds to messages, whatever carries them:
//! the `_meta` every request needs, the `subscriptions/listen` mcpgw keeps open, what a
//! `server/discover` answer tells, and what a session-based client must not see in a result.

use serde_json::Value;
use serde_json::value::RawValue;

use crate::protocol::jsonrpc;
use crate::protocol::stateless::{VERSION, meta};
use crate::protocol::{RawJson, mcp};
use crate::session::Link;
use crate::upstream::wire::Established;

/// `params` with the stateless `_meta` fields added: the version, the calling client's
/// capabilities (none when no client is calling), and who is asking.
pub(in crate::upstream) fn params(params: Option<&RawValue>, client: Option<&Link>) -> RawJson {
    with_meta(params, client, false)
}

/// `params` as `params` makes them; with `tasks`, the capabilities also declare the tasks
/// extension (a session-based client's task, carried by the extension; see `task_bridge`).
pub(in crate::upstream) fn with_meta(params: Option<&RawValue>, client: Option<&Link>, tasks: bool) -> RawJson {
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
pub(in crate::upstream) fn listen_params(subscribed: &std::collections::BTreeSet<String>) -> RawJson {
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
pub(in crate::upstream) fn subscription(
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
pub(in crate::upstream) fn discovered(result: &RawValue) -> Option<Established> {
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
pub(in crate::upstream) fn without_stateless_fields(result: RawJson) -> RawJson {
    if !result.get().contains("\"resultType\"") {
        return result;
    }
    let Ok(mut value) = serde_json::from_str::<serde_json::Map<String, Value>>(result.get()) else { return result };
    value.shift_remove("resultType");
    jsonrpc::raw(&value)
}
