//! Routing progress back to the client that asked for it. Each forwarded request that carries a
//! `_meta.progressToken` gets a gateway-unique token on the upstream side, so two clients using the
//! same token never see each other's progress; notifications come back with the client's token.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::value::RawValue;
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use super::connection::Event;
use crate::protocol::RawJson;
use crate::protocol::jsonrpc::{self, encode_notification};

/// Encoded JSON-RPC messages bound for the one client request that caused them.
pub type Outbound = mpsc::Sender<Vec<u8>>;

/// The client behind one request, as far as an upstream can reach it: messages about the request
/// go to `out`, and requests the upstream makes while serving it (sampling, elicitation, roots)
/// are asked of the client's session.
#[derive(Clone)]
pub struct ClientLink {
    pub out: Outbound,
    pub session: Arc<dyn ClientSession>,
    /// For a stateless client: the answers it already gave, and where the upstream's further
    /// requests are collected (they become an `input_required` result).
    pub rounds: Option<Arc<InputRounds>>,
}

/// A stateless client's call to a session-based upstream, replayed from its start each round: the
/// upstream's requests are answered in order from the answers given so far, and the first one
/// without an answer (or needing a capability the client lacks) ends the round.
pub struct InputRounds {
    answers: Vec<Value>,
    next: AtomicU64,
    /// Requests still unanswered, as (key, `{method, params}`), or the capability the client lacks.
    pending: Mutex<RoundEnd>,
    ended: tokio::sync::Notify,
}

/// Why a round stopped short of the upstream's answer.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum RoundEnd {
    #[default]
    Running,
    /// The upstream asked these (key, request) and waits for the answers.
    NeedsInput(Vec<(String, Value)>),
    /// The upstream asked for something the client did not declare (`elicitation`, ...).
    LacksCapability(&'static str),
}

impl InputRounds {
    /// A round that already holds `answers` (from earlier rounds, in the order they were asked).
    pub fn new(answers: Vec<Value>) -> Arc<InputRounds> {
        Arc::new(InputRounds { answers, next: AtomicU64::new(0), pending: Mutex::default(), ended: Default::default() })
    }

    /// The answer to the upstream's next request, or `None` after recording it as pending (the
    /// caller then waits forever: the round is ended and the call dropped).
    pub fn answer_next(&self, method: &str, params: Option<&RawValue>) -> Option<Value> {
        let index = self.next.fetch_add(1, Ordering::Relaxed) as usize;
        if let Some(answer) = self.answers.get(index) {
            return Some(answer.clone());
        }
        let request = serde_json::json!({
            "method": method,
            "params": params.and_then(|p| serde_json::from_str::<Value>(p.get()).ok()).unwrap_or_else(|| serde_json::json!({})),
        });
        let mut pending = self.pending.lock().unwrap();
        let asked = match &mut *pending {
            RoundEnd::NeedsInput(asked) => asked,
            other => {
                *other = RoundEnd::NeedsInput(Vec::new());
                let RoundEnd::NeedsInput(asked) = other else { unreachable!("just set") };
                asked
            }
        };
        asked.push((format!("input-{}", index + 1), request));
        self.ended.notify_one();
        None
    }

    pub fn lacks(&self, capability: &'static str) {
        *self.pending.lock().unwrap() = RoundEnd::LacksCapability(capability);
        self.ended.notify_one();
    }

    /// Resolves once the upstream asked something the round cannot answer.
    pub async fn ended(&self) -> RoundEnd {
        loop {
            let notified = self.ended.notified();
            let state = self.pending.lock().unwrap().clone();
            if state != RoundEnd::Running {
                // Requests sent together arrive together: give the rest a moment to join.
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                return self.pending.lock().unwrap().clone();
            }
            notified.await;
        }
    }

    /// How many answers the round started with.
    pub fn answered(&self) -> usize {
        self.answers.len()
    }
}

/// A client session as upstreams see it.
pub trait ClientSession: Send + Sync {
    /// Unique per client session; keys per-client upstream sessions.
    fn key(&self) -> &str;
    /// Whether the client declared this capability (`sampling`, `elicitation`, `roots`).
    fn supports(&self, capability: &str) -> bool;
    /// Registers a request to the client: its id on the client side, and where the answer arrives.
    fn ask(&self) -> (u64, ClientAnswer);
    /// Gives up on a request asked earlier (it timed out or could not be sent).
    fn forget(&self, id: u64);
    /// Runs `f` once the client session ends.
    fn on_end(&self, f: Box<dyn FnOnce() + Send>);
    /// Whether the client asked for log messages at `level` (`logging/setLevel`).
    fn wants_log(&self, level: &str) -> bool;
    /// The least severe level the client asked for, if it asked (`logging/setLevel`, or a
    /// stateless request's `_meta`).
    fn log_level(&self) -> Option<crate::protocol::mcp::LogLevel>;
    /// The capabilities the client declared (in `initialize`, or in a stateless request's `_meta`).
    fn capabilities(&self) -> serde_json::Value;
    /// Whether the client speaks the stateless protocol (2026-07-28): it takes `input_required`
    /// results itself, and no request can be sent to it.
    fn is_stateless(&self) -> bool;
    /// Records that this client started the task with this (public) id.
    fn own_task(&self, id: &str);
    /// Whether this client started the task with this (public) id.
    fn owns_task(&self, id: &str) -> bool;
    /// Records that this client was sent the URL-mode elicitation with this id, so that its
    /// `notifications/elicitation/complete` reaches this client and no other.
    fn own_elicitation(&self, id: &str);
}

/// Where the client's answer (its `result` or its `error` object) to one request arrives.
pub type ClientAnswer = tokio::sync::oneshot::Receiver<Result<RawJson, RawJson>>;

/// The capability a client must have declared to be asked `method`, for the requests a server may
/// send to a client; `None` for anything else.
pub fn capability_for(method: &str) -> Option<&'static str> {
    match method {
        "sampling/createMessage" => Some("sampling"),
        "elicitation/create" => Some("elicitation"),
        "roots/list" => Some("roots"),
        _ => None,
    }
}

/// Where an upstream's unsolicited messages go: progress to the waiting client, the rest to the supervisor.
#[derive(Clone)]
pub(crate) struct Inbox {
    pub(crate) events: mpsc::Sender<Event>,
    pub(crate) relay: Arc<Relay>,
}

impl Inbox {
    pub(crate) fn notification(&self, method: String, params: Option<RawJson>) {
        if method == "notifications/progress"
            && let Some(p) = &params
            && self.relay.deliver_progress(p)
        {
            return;
        }
        // A full queue means nobody is reading; dropping a notification beats blocking the reader.
        let _ = self.events.try_send(Event::Notification { method, params });
    }
}

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
    fn deliver_progress(&self, params: &RawValue) -> bool {
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
        let (sink, mut rx) = mpsc::channel(4);
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
        let (sink, _rx) = mpsc::channel(1);
        assert!(relay.rewrite(&jsonrpc::raw(&serde_json::json!({"name": "t"})), &sink).is_none());
    }
}
