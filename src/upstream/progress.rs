//! Routing progress back to the client that asked for it. Each forwarded request that carries a
//! `_meta.progressToken` gets a gateway-unique token on the upstream side, so two clients using the
//! same token never see each other's progress; notifications come back with the client's token.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::protocol::RawJson;
use crate::protocol::jsonrpc::{self, encode_notification};
use crate::session::Outbound;

#[derive(Default)]
pub(crate) struct Relay {
    routes: Mutex<HashMap<String, ProgressRoute>>,
    next: AtomicU64,
}

struct ProgressRoute {
    /// The client's token, as the client wrote it (string or number).
    original: Value,
    sink: Outbound,
}

/// Removes a progress route when the request it belongs to ends.
pub(crate) struct RouteGuard {
    relay: Arc<Relay>,
    token: String,
}

impl Drop for RouteGuard {
    fn drop(&mut self) {
        self.relay.routes.lock().unwrap().remove(&self.token);
    }
}

impl Relay {
    /// When `params` carry a progress token, returns params with a gateway-unique token in its place
    /// and a guard that keeps the route open. `None` when there is nothing to route.
    pub(crate) fn rewrite(self: &Arc<Self>, params: &RawValue, sink: &Outbound) -> Option<(RawJson, RouteGuard)> {
        if !params.get().contains("\"progressToken\"") {
            return None;
        }
        let mut fields: Map<String, Value> = serde_json::from_str(params.get()).ok()?;
        let meta = fields.get_mut("_meta")?.as_object_mut()?;
        let original = meta.get("progressToken")?.clone();
        let token = format!("mcpgw-{}", self.next.fetch_add(1, Ordering::Relaxed));
        meta.insert("progressToken".into(), Value::String(token.clone()));
        self.routes.lock().unwrap().insert(token.clone(), ProgressRoute { original, sink: sink.clone() });
        Some((jsonrpc::raw(&fields), RouteGuard { relay: self.clone(), token }))
    }

    /// Sends a progress notification to its client with the client's token restored.
    /// Returns false when the token is not one of ours.
    pub(super) fn deliver_progress(&self, params: &RawValue) -> bool {
        let Ok(mut fields) = serde_json::from_str::<Map<String, Value>>(params.get()) else { return false };
        let Some(Value::String(token)) = fields.get("progressToken") else { return false };
        let routes = self.routes.lock().unwrap();
        let Some(route) = routes.get(token) else { return false };
        fields.insert("progressToken".into(), route.original.clone());
        // Progress is advisory: a client that does not keep up loses some, and nothing blocks.
        let _ = route.sink.try_send(encode_notification("notifications/progress", Some(&jsonrpc::raw(&fields))));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tokens_are_swapped_out_and_back() {
        let relay = Arc::new(Relay::default());
        let (sink, mut rx) = tokio::sync::mpsc::channel(4);
        let params = jsonrpc::raw(&serde_json::json!({"name": "t", "_meta": {"progressToken": 7, "other": 1}}));
        let (sent, guard) = relay.rewrite(&params, &sink).unwrap();
        assert_eq!(sent.get(), r#"{"name":"t","_meta":{"progressToken":"mcpgw-0","other":1}}"#);
        let note = jsonrpc::raw(&serde_json::json!({"progressToken": "mcpgw-0", "progress": 1, "total": 2}));
        assert!(relay.deliver_progress(&note));
        let delivered = String::from_utf8(rx.recv().await.unwrap()).unwrap();
        assert_eq!(
            delivered,
            r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":7,"progress":1,"total":2}}"#
        );
        drop(guard);
        assert!(!relay.deliver_progress(&note), "a finished request's route is gone");
    }

    #[test]
    fn params_without_a_token_are_left_alone() {
        let relay = Arc::new(Relay::default());
        let (sink, _rx) = tokio::sync::mpsc::channel(1);
        assert!(relay.rewrite(&jsonrpc::raw(&serde_json::json!({"name": "t"})), &sink).is_none());
    }
}
