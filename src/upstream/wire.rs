//! What every upstream transport shares at the bottom: where an upstream's unsolicited messages
//! go (`Inbox`: progress to the waiting client, the rest to the supervisor), what the handshake
//! learned (`Established`), and the routing of each message read from an upstream.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::Value;
use tokio::sync::mpsc;

use super::asked::Asked;
use super::progress::Relay;
use crate::protocol::RawJson;
use crate::protocol::jsonrpc::Message;

/// Something an upstream sent on its own initiative.
#[derive(Debug)]
pub(crate) enum Event {
    Notification { method: String, params: Option<RawJson> },
}

/// What the upstream told us in its `initialize` (or `server/discover`) result.
#[derive(Debug, Clone)]
pub(crate) struct Established {
    pub protocol_version: String,
    pub capabilities: serde_json::Map<String, Value>,
    pub server_info: Option<Value>,
}

/// Where an upstream's unsolicited messages go: progress to the waiting client, the rest to the
/// supervisor; and the mark that the upstream asks clients things.
#[derive(Clone)]
pub(crate) struct Inbox {
    pub(crate) events: mpsc::Sender<Event>,
    pub(crate) relay: Arc<Relay>,
    /// Set once the upstream sends a request to a client (sampling, elicitation, roots).
    pub(crate) asks: Arc<AtomicBool>,
    /// Whether a request the upstream sends on a stream that names no call may be taken for the
    /// one client call in flight, when only one is (every `sessions` setting but `shared`).
    pub(crate) single_call_questions: bool,
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

/// Routes one message read from an upstream: responses to `on_response`, notifications to the
/// inbox, requests to `on_request` (which answers them).
pub(super) async fn route_incoming(
    upstream: &str,
    bytes: &[u8],
    inbox: &Inbox,
    asked: &Asked,
    on_response: impl FnOnce(RawJson, Result<RawJson, RawJson>),
    on_request: impl AsyncFnOnce(RawJson, String, Option<RawJson>),
) {
    match Message::parse(bytes) {
        Ok(Message::Response { id, outcome }) => on_response(id, outcome),
        Ok(Message::Notification { method, params })
            if method == "notifications/cancelled" && asked.cancelled(params.as_deref()) => {}
        Ok(Message::Notification { method, params }) => inbox.notification(method, params),
        Ok(Message::Request { id, method, params }) => {
            if method != "ping" && !inbox.asks.swap(true, Ordering::Relaxed) {
                tracing::info!(upstream = %upstream, %method, "the upstream asks its clients things");
            }
            on_request(id, method, params).await
        }
        Err(e) => {
            tracing::warn!(upstream = %upstream, error = %e, "unreadable message from upstream")
        }
    }
}
