//! The consuming side: one `UpstreamHandle` per configured upstream, which keeps a connection
//! alive (restarting with backoff), holds the upstream's current items, and forwards requests.

mod asked;
mod connection;
mod error;
#[cfg(test)]
pub(crate) mod fake;
mod handshake;
mod http;
mod http_client;
mod open;
mod peer;
mod per_client;
mod progress;
mod rest_api;
mod sse;
mod stateless;
mod stdio;
mod subscribers;
mod supervise;
mod websocket;
mod wire;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arc_swap::{ArcSwap, ArcSwapOption};
use serde_json::value::RawValue;
use tokio::sync::{Notify, watch};

use crate::model;
use crate::protocol::{ItemSet, RawJson, mcp};
use crate::session::{Link, Notes};

pub(crate) use connection::{Connection, Shared};
pub(crate) use error::UpstreamError;
use per_client::PerClient;
use progress::Relay;
use subscribers::Left;
pub(crate) use subscribers::Subscribers;
use wire::Established;

/// Where an upstream's connection stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum UpstreamState {
    /// The first attempt has not ended yet.
    Connecting,
    Up,
    /// Not connected; retried with backoff.
    Down,
    /// Stopped for good (removed by a reload, or the gateway stops).
    Stopped,
}

impl UpstreamState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            UpstreamState::Connecting => "connecting",
            UpstreamState::Up => "up",
            UpstreamState::Down => "down",
            UpstreamState::Stopped => "stopped",
        }
    }
}

/// What the gateway knows of an upstream right now.
#[derive(Clone, Debug, serde::Serialize)]
pub(crate) struct Status {
    pub state: UpstreamState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_info: Option<serde_json::Value>,
    /// Consecutive failed attempts since the last success.
    pub failures: u32,
}

/// Where an upstream reports what happens to it: the reloader (its items changed, so the
/// routing table must be rebuilt) and the sessions (resource updates, log messages, task status,
/// elicitation completions).
#[derive(Clone)]
pub(crate) struct Outlets {
    pub items_changed: Arc<Notify>,
    pub notes: Notes,
    /// Resource subscriptions held at upstreams, shared by every upstream of the gateway.
    pub subscribers: Arc<Subscribers>,
}

/// A running upstream. Dropping the last handle does not stop it; call `stop`.
pub(crate) struct UpstreamHandle {
    /// The definition the connection was made for. Its transport, timeout and sessions are
    /// current; prefix, filters and shapes may be older (a reload that changes only those keeps
    /// the handle), so read those from the live model instead.
    pub spec: model::Upstream,
    status: ArcSwap<Status>,
    connection: ArcSwapOption<Box<dyn Connection>>,
    items: ArcSwap<ItemSet>,
    first_attempt_done: AtomicBool,
    /// Per-client upstream sessions (`sessions: per_client`), by client session key.
    /// Each entry is filled once; the map is locked only to find or add an entry, so one client's
    /// slow connect does not hold up another's.
    clients: tokio::sync::Mutex<HashMap<String, Arc<tokio::sync::OnceCell<PerClient>>>>,
    /// The most verbose log level asked of this upstream.
    log_level: mcp::LogThreshold,
    stop: watch::Sender<bool>,
    stopped: Notify,
    /// Progress routes of requests in flight; outlives reconnects.
    relay: Arc<Relay>,
    outlets: Outlets,
}

impl UpstreamHandle {
    /// Starts connecting in the background and returns at once.
    pub(crate) fn start(spec: model::Upstream, outlets: Outlets) -> Arc<Self> {
        let handle = UpstreamHandle::new(spec, outlets);
        handle.outlets.subscribers.register(&handle);
        tokio::spawn(supervise::supervise(handle.clone()));
        handle
    }

    /// A handle not yet connected.
    fn new(spec: model::Upstream, outlets: Outlets) -> Arc<Self> {
        let (stop, _) = watch::channel(false);
        Arc::new(UpstreamHandle {
            spec,
            status: ArcSwap::from_pointee(Status {
                state: UpstreamState::Connecting,
                error: None,
                protocol_version: None,
                server_info: None,
                failures: 0,
            }),
            connection: ArcSwapOption::empty(),
            items: ArcSwap::from_pointee(ItemSet::default()),
            first_attempt_done: AtomicBool::new(false),
            log_level: Default::default(),
            clients: Default::default(),
            stop,
            stopped: Notify::new(),
            relay: Arc::default(),
            outlets,
        })
    }

    /// Subscribes `link`'s session to `uri`. A shared upstream session is subscribed once, when
    /// the first client subscribes; a `per_client` one belongs to this client alone.
    pub(crate) async fn subscribe(self: &Arc<Self>, uri: &str, link: &Link) -> Result<(), UpstreamError> {
        let params = uri_params(uri);
        if self.spec.sessions == model::Sessions::PerClient {
            return self.request("resources/subscribe", Some(&params), Some(link)).await.map(drop);
        }
        let book = &self.outlets.subscribers;
        let turn = book.turn(&self.spec.name, uri);
        let _turn = turn.lock().await;
        if !book.held(&self.spec.name, uri) {
            self.request("resources/subscribe", Some(&params), Some(link)).await?;
        }
        book.add(&self.spec.name, uri, &link.session.id);
        Ok(())
    }

    /// Drops `link`'s session's subscription to `uri`; the upstream hears of it when no other
    /// client holds one.
    pub(crate) async fn unsubscribe(self: &Arc<Self>, uri: &str, link: &Link) -> Result<(), UpstreamError> {
        if self.spec.sessions == model::Sessions::PerClient {
            return self.request("resources/unsubscribe", Some(&uri_params(uri)), Some(link)).await.map(drop);
        }
        if self.outlets.subscribers.remove(&self.spec.name, uri, &link.session.id) == Left::Last {
            self.tell_unsubscribed(uri).await;
        }
        Ok(())
    }

    /// Tells the shared upstream session that nobody holds `uri` any more.
    async fn tell_unsubscribed(&self, uri: &str) {
        let Some(conn) = self.connection.load_full() else { return };
        if let Err(e) = conn.request("resources/unsubscribe", Some(&uri_params(uri)), self.spec.timeout, None).await {
            tracing::debug!(upstream = %self.spec.name, %uri, error = %e, "resources/unsubscribe refused");
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.spec.name
    }

    pub(crate) fn status(&self) -> Arc<Status> {
        self.status.load_full()
    }

    pub(crate) fn items(&self) -> Arc<ItemSet> {
        self.items.load_full()
    }

    /// Whether the first connection attempt has ended, either way.
    pub(crate) fn settled(&self) -> bool {
        self.first_attempt_done.load(Ordering::Acquire)
    }

    /// Sends one request and returns the upstream's `result`. With `client`, progress the upstream
    /// reports for this request reaches that client. Dropping the future cancels the request upstream.
    pub(crate) async fn request(
        self: &Arc<Self>,
        method: &str,
        params: Option<&RawValue>,
        client: Option<&Link>,
    ) -> Result<RawJson, UpstreamError> {
        let conn = match (self.spec.sessions, client) {
            (model::Sessions::PerClient, Some(link)) => {
                // Boxed: opening a session is a large future, and the shared path should not carry it.
                let session = Box::pin(self.client_connection(link)).await?;
                session.follow_log_level(link, self.spec.timeout).await;
                *session.current.lock().unwrap() = Some(link.clone());
                session.conn.set_client(link, self.spec.timeout);
                session.conn
            }
            _ => self.connection.load_full().ok_or_else(|| UpstreamError::Unavailable(self.spec.name.clone()))?,
        };
        let rewritten = match (params, client) {
            (Some(p), Some(link)) => self.relay.rewrite(p, &link.out),
            _ => None,
        };
        let params = rewritten.as_ref().map(|(p, _)| &**p).or(params);
        conn.request(method, params, self.spec.timeout, client).await
    }

    /// Tells the upstream session that serves the client `client_key` that the client's roots
    /// changed: its own session with `per_client`, else the shared one. Stateless upstreams have
    /// no session to tell; they get the client's roots with each request that needs them.
    pub(crate) fn roots_changed(self: &Arc<Self>, client_key: &str) {
        if self.status.load().protocol_version.as_deref() == Some(crate::protocol::stateless::VERSION) {
            return;
        }
        let (handle, key) = (self.clone(), client_key.to_string());
        tokio::spawn(async move {
            let conn = match handle.spec.sessions {
                model::Sessions::PerClient => {
                    let cell = handle.clients.lock().await.get(&key).cloned();
                    cell.and_then(|c| c.get().map(|s| s.conn.clone()))
                }
                model::Sessions::Shared => handle.connection.load_full(),
            };
            if let Some(conn) = conn {
                conn.notify("notifications/roots/list_changed", None).await;
            }
        });
    }

    /// Asks the upstream for log messages at `level` or above, unless it was already asked for
    /// something at least as verbose (one upstream session serves every client, so the most
    /// verbose level asked for wins and each client's own level is applied on delivery).
    pub(crate) fn request_log_level(self: &Arc<Self>, level: mcp::LogLevel) {
        if !self.log_level.widen(level) {
            return;
        }
        let handle = self.clone();
        let params = crate::protocol::jsonrpc::raw(&serde_json::json!({ "level": level.as_str() }));
        tokio::spawn(async move {
            if let Err(e) = handle.request("logging/setLevel", Some(&params), None).await {
                tracing::debug!(upstream = %handle.spec.name, error = %e, "logging/setLevel refused");
            }
        });
    }

    /// Stops reconnecting and closes the connection once in-flight requests have finished
    /// (or the upstream's timeout passed). Returns when the upstream is gone.
    pub(crate) async fn stop(&self) {
        let notified = self.stopped.notified();
        if self.stop.send_replace(true) {
            return;
        }
        notified.await;
    }

    fn set_status(&self, state: UpstreamState, error: Option<String>, failures: u32, session: Option<&Established>) {
        self.status.store(Arc::new(Status {
            state,
            error,
            protocol_version: session.map(|s| s.protocol_version.clone()),
            server_info: session.and_then(|s| s.server_info.clone()),
            failures,
        }));
    }

    fn set_items(&self, items: ItemSet) {
        if **self.items.load() != items {
            self.items.store(Arc::new(items));
            self.outlets.items_changed.notify_one();
        }
    }
}

fn uri_params(uri: &str) -> RawJson {
    crate::protocol::jsonrpc::raw(&serde_json::json!({ "uri": uri }))
}
