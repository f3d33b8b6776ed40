//! The consuming side: one `UpstreamHandle` per configured upstream, which keeps a connection
//! alive (restarting with backoff), holds the upstream's current items, and forwards requests.

mod asked;
mod connection;
mod error;
#[cfg(test)]
pub(crate) mod fake;
mod forwarding;
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
use std::time::{Duration, Instant};

use arc_swap::{ArcSwap, ArcSwapOption};
use serde_json::value::RawValue;
use tokio::sync::{Notify, mpsc, watch};

use crate::model;
use crate::protocol::{ItemSet, RawJson, mcp};
use crate::session::{Link, Notes};

pub(crate) use connection::{Connection, Shared};
pub(crate) use error::UpstreamError;
use per_client::PerClient;
use progress::Relay;
use subscribers::Left;
pub(crate) use subscribers::Subscribers;
use wire::{Established, Event, Inbox};

/// How soon a reconnect must be due for a call that found the upstream down to wait for it.
const RECONNECT_WAIT: Duration = Duration::from_secs(2);

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
    /// The upstream has sent clients requests (sampling, elicitation, roots); with
    /// `sessions: auto`, clients that can answer now get upstream sessions of their own.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub asks_clients: bool,
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
    /// Connection attempts ended, either way (and the stop): calls waiting for a reconnect
    /// watch it.
    attempts: watch::Sender<u64>,
    /// The handle a reload started in this one's place (its connection settings changed).
    successor: ArcSwapOption<UpstreamHandle>,
    /// When the next connection attempt starts; `None` while one runs or the upstream is up.
    next_attempt: std::sync::Mutex<Option<Instant>>,
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
    /// Set once the upstream sent a client a request (sampling, elicitation, roots): with
    /// `sessions: auto`, from then on a client that can answer gets its own upstream session.
    asks_clients: Arc<AtomicBool>,
    /// Turns on the shared session once the upstream asks clients: a stateless client's call
    /// takes it alone, so whatever the upstream asks meanwhile can only be about that call.
    turns: tokio::sync::RwLock<()>,
    outlets: Outlets,
    /// What calls carry of their callers (`forward_headers`, a forwarded or exchanged token),
    /// shared by every connection of the handle, so exchanged tokens are kept across them.
    forwarder: Option<Arc<forwarding::Forwarder>>,
}

impl UpstreamHandle {
    /// Starts connecting in the background and returns at once.
    pub(crate) fn start(spec: model::Upstream, outlets: Outlets) -> Arc<Self> {
        UpstreamHandle::new(spec, outlets, Arc::default()).launched()
    }

    /// Like `start`, for the upstream `old` serves now with other connection settings: `old`'s
    /// items stay listed (for the grace period) until the new connection lists its own. The two
    /// share their progress routes: a call `old` hands over (see `reconnected`) carries a token
    /// `old` issued, and its progress arrives on the new connection.
    pub(crate) fn start_replacing(spec: model::Upstream, outlets: Outlets, old: &UpstreamHandle) -> Arc<Self> {
        let handle = UpstreamHandle::new(spec, outlets, old.relay.clone());
        handle.items.store(old.items());
        old.successor.store(Some(handle.clone()));
        handle.launched()
    }

    fn launched(self: Arc<Self>) -> Arc<Self> {
        self.outlets.subscribers.register(&self);
        tokio::spawn(supervise::supervise(self.clone()));
        self
    }

    /// A handle not yet connected.
    fn new(spec: model::Upstream, outlets: Outlets, relay: Arc<Relay>) -> Arc<Self> {
        let (stop, _) = watch::channel(false);
        let forwarder = match forwarding::Forwarder::new(&spec.name, &spec.forwarding) {
            Ok(f) => f.map(Arc::new),
            Err(e) => {
                tracing::error!(upstream = %spec.name, error = %e, "forwarding to this upstream is off");
                None
            }
        };
        Arc::new(UpstreamHandle {
            forwarder,
            spec,
            status: ArcSwap::from_pointee(Status {
                state: UpstreamState::Connecting,
                error: None,
                protocol_version: None,
                server_info: None,
                failures: 0,
                asks_clients: false,
            }),
            connection: ArcSwapOption::empty(),
            items: ArcSwap::from_pointee(ItemSet::default()),
            attempts: watch::channel(0).0,
            next_attempt: std::sync::Mutex::new(None),
            successor: ArcSwapOption::empty(),
            log_level: Default::default(),
            clients: Default::default(),
            stop,
            stopped: Notify::new(),
            relay,
            asks_clients: Arc::default(),
            turns: tokio::sync::RwLock::new(()),
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
        let status = self.status.load_full();
        if self.asks_clients.load(Ordering::Relaxed) && !status.asks_clients {
            return Arc::new(Status { asks_clients: true, ..(*status).clone() });
        }
        status
    }

    pub(crate) fn items(&self) -> Arc<ItemSet> {
        self.items.load_full()
    }

    /// Whether the first connection attempt has ended, either way.
    pub(crate) fn settled(&self) -> bool {
        *self.attempts.borrow() > 0
    }

    /// Waits until the first connection attempt has ended, at most `limit`.
    pub(crate) async fn settle(&self, limit: Duration) {
        let mut attempts = self.attempts.subscribe();
        let _ = tokio::time::timeout(limit, attempts.wait_for(|n| *n > 0)).await;
    }

    fn attempt_ended(&self) {
        self.attempts.send_modify(|n| *n += 1);
    }

    fn next_attempt(&self, at: Option<Instant>) {
        *self.next_attempt.lock().unwrap() = at;
    }

    /// A shared connection for a call that found none, or found `closed` closed before the call
    /// was sent: the outcome of the attempt running now, or of one due within `RECONNECT_WAIT`,
    /// awaited no longer than the upstream's timeout. Anything else is `Unavailable` at once,
    /// which the client may retry.
    async fn reconnected(&self, closed: Option<&Shared>) -> Result<Shared, UpstreamError> {
        let unavailable = || UpstreamError::Unavailable(self.spec.name.clone());
        let mut attempts = self.attempts.subscribe();
        let current = self.connection.load_full();
        if let Some(conn) = current.filter(|c| closed.is_none_or(|old| !Arc::ptr_eq(c, old))) {
            return Ok(conn);
        }
        let due = *self.next_attempt.lock().unwrap();
        if !*self.stop.borrow() && due.is_none_or(|at| at <= Instant::now() + RECONNECT_WAIT) {
            let waited = tokio::time::timeout(self.spec.timeout, attempts.changed()).await;
            if let (Ok(Ok(())), Some(conn)) = (waited, self.connection.load_full()) {
                return Ok(conn);
            }
        }
        // Replaced by a reload (its connection settings changed) while down: the call goes to
        // the connection that replaces this one.
        match self.successor.load_full() {
            Some(next) if *self.stop.borrow() => Box::pin(next.reconnected(None)).await,
            _ => Err(unavailable()),
        }
    }

    /// Sends one request and returns the upstream's `result`. With `client`, progress the upstream
    /// reports for this request reaches that client. Dropping the future cancels the request upstream.
    pub(crate) async fn request(
        self: &Arc<Self>,
        method: &str,
        params: Option<&RawValue>,
        client: Option<&Link>,
    ) -> Result<RawJson, UpstreamError> {
        let shared = !client.is_some_and(|link| self.own_session_for(link));
        let (conn, _turn) = match client {
            Some(link) if !shared => {
                // Boxed: opening a session is a large future, and the shared path should not carry it.
                let session = Box::pin(self.client_connection(link)).await?;
                session.follow_log_level(link, self.spec.timeout).await;
                *session.current.lock().unwrap() = Some(link.clone());
                session.conn.set_client(link, self.spec.timeout);
                (session.conn, None)
            }
            _ => {
                let turn = self.take_turn(client).await;
                let conn = match self.connection.load_full() {
                    Some(conn) => conn,
                    None => self.reconnected(None).await?,
                };
                (conn, turn)
            }
        };
        let rewritten = match (params, client) {
            (Some(p), Some(link)) => self.relay.rewrite(p, &link.out),
            _ => None,
        };
        let params = rewritten.as_ref().map(|(p, _)| &**p).or(params);
        match conn.request(method, params, self.spec.timeout, client).await {
            // The shared connection closed before the request was sent: it never reached the
            // upstream, so it is sent once more on the next connection.
            Err(UpstreamError::Unavailable(_)) if shared => {
                let conn = self.reconnected(Some(&conn)).await?;
                conn.request(method, params, self.spec.timeout, client).await
            }
            outcome => outcome,
        }
    }

    /// Whether `link`'s calls go on an upstream session of that client's own: always with
    /// `per_client`; with `auto`, once the upstream has asked a client something on a transport
    /// whose requests name no call (stdio, legacy SSE, WebSocket), for a client that can answer.
    fn own_session_for(&self, link: &Link) -> bool {
        match self.spec.sessions {
            model::Sessions::PerClient => true,
            // An upstream session belongs to the user it was opened for: a caller's own
            // credential needs a session of the caller's own (a stateless upstream has none).
            _ if self.spec.forwarding.per_caller() => {
                self.status.load().protocol_version.as_deref() != Some(crate::protocol::stateless::VERSION)
            }
            model::Sessions::Shared => false,
            model::Sessions::Auto => {
                self.asks_clients.load(Ordering::Relaxed)
                    && !matches!(
                        self.spec.transport,
                        model::Transport::StreamableHttp { .. } | model::Transport::Rest(_)
                    )
                    && link.session.can_be_asked_anything()
            }
        }
    }

    /// A turn on the shared session, once the upstream asks clients things on a stream that names
    /// no call: a stateless client that declared what the upstream may ask takes it alone (its
    /// questions come back as `input_required`, and only a call in flight alone can be told them).
    async fn take_turn(&self, client: Option<&Link>) -> Option<Turn<'_>> {
        if !self.asks_clients.load(Ordering::Relaxed)
            || matches!(self.spec.transport, model::Transport::StreamableHttp { .. } | model::Transport::Rest(_))
        {
            return None;
        }
        let alone = client.is_some_and(|l| l.rounds.is_some() && l.session.declares_any_question());
        Some(if alone { Turn::Alone(self.turns.write().await) } else { Turn::Shared(self.turns.read().await) })
    }

    /// What a new connection's requests carry of their callers; `client` for a connection that
    /// serves one client session.
    fn behind(&self, client: Option<&Arc<crate::session::Session>>) -> forwarding::Behind {
        forwarding::Behind { forwarder: self.forwarder.clone(), bound: client.map(Arc::downgrade) }
    }

    /// Where a new connection's unsolicited messages go.
    fn inbox(&self, events: mpsc::Sender<Event>) -> Inbox {
        Inbox {
            events,
            relay: self.relay.clone(),
            asks: self.asks_clients.clone(),
            single_call_questions: self.spec.sessions != model::Sessions::Shared,
        }
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
            let own = handle.clients.lock().await.get(&key).cloned().and_then(|c| c.get().map(|s| s.conn.clone()));
            let conn = match handle.spec.sessions {
                model::Sessions::PerClient => own,
                model::Sessions::Auto => own.or_else(|| handle.connection.load_full()),
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
            asks_clients: self.asks_clients.load(Ordering::Relaxed),
        }));
    }

    fn set_items(&self, items: ItemSet) {
        if **self.items.load() != items {
            self.items.store(Arc::new(items));
            self.outlets.items_changed.notify_one();
        }
    }
}

/// A call's turn on a shared session (see `UpstreamHandle::take_turn`); held until it ends.
enum Turn<'a> {
    #[allow(dead_code)] // held, never read
    Shared(tokio::sync::RwLockReadGuard<'a, ()>),
    #[allow(dead_code)] // held, never read
    Alone(tokio::sync::RwLockWriteGuard<'a, ()>),
}

fn uri_params(uri: &str) -> RawJson {
    crate::protocol::jsonrpc::raw(&serde_json::json!({ "uri": uri }))
}
