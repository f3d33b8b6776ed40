//! The serving side: bytes on a wire binding ⇄ JSON-RPC messages, one file per binding.

pub mod conversation;
pub mod exchange;
mod http;
pub mod jsonrpc_http;
pub mod modern;
mod round_state;
pub mod sse;
pub mod stdio;
pub mod streamable_http;
pub mod websocket;

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use tokio::sync::watch;

use crate::live::Live;
use crate::session::Sessions;

pub type Body = BoxBody<Bytes, Infallible>;

pub fn full(bytes: impl Into<Bytes>) -> Body {
    http_body_util::Full::new(bytes.into()).boxed()
}

pub fn empty() -> Body {
    http_body_util::Empty::new().boxed()
}

/// What every transport serves from.
pub struct ServeContext {
    pub live: Arc<Live>,
    /// The address the listener is bound to (after `--listen` overrides the file).
    pub local_addr: std::net::SocketAddr,
    pub sessions: Sessions,
    /// Client subscriptions per resource URI, so the owning upstream is subscribed once and
    /// unsubscribed when the last client leaves.
    pub subscribers: Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>,
    /// Becomes true when the gateway stops; long-lived streams end on it.
    pub shutting_down: watch::Receiver<bool>,
}

impl ServeContext {
    pub fn new(live: Arc<Live>, local_addr: std::net::SocketAddr, shutting_down: watch::Receiver<bool>) -> Self {
        ServeContext { live, local_addr, sessions: Sessions::default(), subscribers: Default::default(), shutting_down }
    }
}

/// What a session hears of without asking: list changes of its virtual server, and updates of
/// the resources it subscribed to. Every transport's server-to-client stream reads from one.
pub struct SessionEvents {
    live: Arc<Live>,
    changes: tokio::sync::broadcast::Receiver<crate::live::CatalogChange>,
    updates: tokio::sync::broadcast::Receiver<String>,
    logs: tokio::sync::broadcast::Receiver<crate::live::LogMessage>,
}

impl SessionEvents {
    pub fn new(live: &Arc<Live>) -> Self {
        SessionEvents {
            live: live.clone(),
            changes: live.subscribe(),
            updates: live.resource_updates(),
            logs: live.log_messages(),
        }
    }

    /// A log message as `session` should see it: only at or above the level it asked for, only
    /// from upstreams behind its virtual server, with the upstream named in `logger`.
    fn log_for(&self, session: &crate::session::Session, message: &crate::live::LogMessage) -> Option<Vec<u8>> {
        let level =
            message.params.get("level").and_then(|l| l.as_str()).and_then(crate::protocol::mcp::LogLevel::parse)?;
        if !session.log_level.passes(level) {
            return None;
        }
        let snapshot = self.live.snapshot();
        if !snapshot.table.catalog(&session.virtual_server)?.includes_upstream(&message.upstream) {
            return None;
        }
        let mut params = message.params.clone();
        let logger = match params.get("logger").and_then(|l| l.as_str()) {
            Some(inner) => format!("{}/{inner}", message.upstream),
            None => message.upstream.clone(),
        };
        params["logger"] = serde_json::Value::String(logger);
        let params = crate::protocol::jsonrpc::raw(&params);
        Some(crate::protocol::jsonrpc::encode_notification("notifications/message", Some(&params)))
    }

    /// The next notification for `session`, encoded; `None` once the gateway stops publishing.
    pub async fn next(&mut self, session: &crate::session::Session) -> Option<Vec<u8>> {
        use crate::protocol::jsonrpc::{encode_notification, raw};
        use tokio::sync::broadcast::error::RecvError;
        loop {
            tokio::select! {
                change = self.changes.recv() => match change {
                    Ok(c) if c.virtual_server == session.virtual_server => {
                        return Some(encode_notification(c.kind.list_changed(), None));
                    }
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return None,
                },
                log = self.logs.recv() => match log {
                    Ok(message) if message.method == "notifications/elicitation/complete" => {
                        let id = message.params.get("elicitationId").and_then(|i| i.as_str()).unwrap_or_default();
                        if session.owns(crate::session::Owned::Elicitation, id) {
                            let params = raw(&message.params);
                            return Some(encode_notification(message.method, Some(&params)));
                        }
                    }
                    Ok(message) if message.method == "notifications/tasks/status" => {
                        let owns = |id: &str| session.owns(crate::session::Owned::Task, id);
                        if let Some(note) = crate::protocol::tasks::status_for(&message.upstream, message.params, owns) {
                            return Some(note);
                        }
                    }
                    Ok(message) => {
                        if let Some(note) = self.log_for(session, &message) {
                            return Some(note);
                        }
                    }
                    Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return None,
                },
                update = self.updates.recv() => match update {
                    Ok(uri) if session.is_subscribed(&uri) => {
                        let params = raw(&serde_json::json!({ "uri": uri }));
                        return Some(encode_notification("notifications/resources/updated", Some(&params)));
                    }
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return None,
                },
            }
        }
    }
}
