//! The consuming side: one `UpstreamHandle` per configured upstream, which keeps a connection
//! alive (restarting with backoff), holds the upstream's current items, and forwards requests.

mod asked;
mod connection;
mod http_client;
mod peer;
mod relay;
mod session;
mod sse;
mod stateless;
mod stdio;
mod streamable_http;
mod subscribers;
mod task_bridge;
mod websocket;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use arc_swap::{ArcSwap, ArcSwapOption};
use serde_json::value::RawValue;
use tokio::sync::{Notify, mpsc, watch};

use crate::model;
use crate::protocol::{ItemSet, RawJson, mcp};
use crate::session::{Link, Note, Notes};

pub(crate) use connection::{Connection, Event};
use relay::{Inbox, Relay};
use subscribers::Left;
pub(crate) use subscribers::Subscribers;

/// Why a request to an upstream failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UpstreamError {
    #[error("upstream \"{0}\" is not connected")]
    Unavailable(String),
    /// Nothing answered at the upstream's address.
    #[error("upstream \"{0}\": {1}")]
    Unreachable(String, String),
    #[error("upstream \"{0}\" did not answer within {1:?}")]
    Timeout(String, Duration),
    /// The upstream answered with a JSON-RPC error object, forwarded as is.
    #[error("upstream answered with an error")]
    Rpc(RawJson),
    #[error("upstream \"{0}\": {1}")]
    Transport(String, String),
}

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
    connection: ArcSwapOption<Connection>,
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
        let (stop, _) = watch::channel(false);
        let handle = Arc::new(UpstreamHandle {
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
        });
        handle.outlets.subscribers.register(&handle);
        tokio::spawn(supervise(handle.clone()));
        handle
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

    /// The upstream session of one client (`per_client`): opened on its first call, closed when
    /// the client session ends.
    async fn client_connection(self: &Arc<Self>, link: &Link) -> Result<PerClient, UpstreamError> {
        if self.connection.load().is_none() {
            // The shared session is down: so is the upstream; do not start a process per client.
            return Err(UpstreamError::Unavailable(self.spec.name.clone()));
        }
        let key = link.session.id.clone();
        let cell = self.clients.lock().await.entry(key.clone()).or_default().clone();
        let mut opened = false;
        let session = cell
            .get_or_try_init(|| {
                opened = true;
                self.open_client_session(&link.session.id)
            })
            .await;
        let session = match session {
            Ok(s) => s.clone(),
            Err(e) => {
                // Leave no empty entry behind; the next call tries again.
                self.clients.lock().await.remove(&key);
                return Err(e);
            }
        };
        if !opened {
            return Ok(session);
        }
        tracing::debug!(upstream = %self.spec.name, client = %key, "opened a per-client upstream session");
        let handle = Arc::downgrade(self);
        link.session.on_end(Box::new(move || {
            let Some(handle) = handle.upgrade() else { return };
            let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
            runtime.spawn(async move {
                let cell = handle.clients.lock().await.remove(&key);
                if let Some(session) = cell.as_ref().and_then(|c| c.get()) {
                    session.conn.shutdown().await;
                    tracing::debug!(upstream = %handle.spec.name, client = %key, "closed a per-client upstream session");
                }
            });
        }));
        Ok(session)
    }

    async fn open_client_session(&self, client: &str) -> Result<PerClient, UpstreamError> {
        // Log messages and task status of a per-client session go to its client (on the call in
        // progress); list changes are not needed, as the shared session keeps the catalog;
        // progress goes through the relay.
        let (events, mut incoming) = mpsc::channel::<Event>(64);
        let current: Arc<std::sync::Mutex<Option<Link>>> = Arc::default();
        let (to_client, upstream, notes, client) =
            (current.clone(), self.spec.name.clone(), self.outlets.notes.clone(), client.to_string());
        tokio::spawn(async move {
            while let Some(Event::Notification { method, params }) = incoming.recv().await {
                let link = to_client.lock().unwrap().clone();
                let Some(params) = params.and_then(|p| serde_json::from_str::<serde_json::Value>(p.get()).ok()) else {
                    continue;
                };
                match (method.as_str(), link) {
                    ("notifications/message", Some(link)) => link.log(&upstream, &params),
                    ("notifications/tasks/status", Some(link)) => link.task_status(&upstream, params),
                    // These may come after the call ended, so they go where the client's own
                    // stream hears them, and only the session concerned receives them.
                    ("notifications/elicitation/complete", _) => {
                        let _ = notes.send(Note::ElicitationComplete { params });
                    }
                    ("notifications/resources/updated", _) => {
                        if let Some(uri) = params.get("uri").and_then(|u| u.as_str()) {
                            let (upstream, uri, session) = (upstream.clone(), uri.to_string(), Some(client.clone()));
                            let _ = notes.send(Note::ResourceUpdated { upstream, uri, session });
                        }
                    }
                    _ => {}
                }
            }
        });
        let inbox = Inbox { events, relay: self.relay.clone() };
        let (conn, established) = Connection::open(&self.spec, inbox).await?;
        // `logging/setLevel` exists in the session era, for servers that declare logging.
        let takes_log_level = established.protocol_version != crate::protocol::stateless::VERSION
            && established.capabilities.contains_key("logging");
        Ok(PerClient { conn: Arc::new(conn), current, takes_log_level, log_level: Arc::default() })
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

    fn set_status(
        &self,
        state: UpstreamState,
        error: Option<String>,
        failures: u32,
        session: Option<&session::Established>,
    ) {
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

/// One client's own upstream session, and that client's latest call (where its log messages go).
#[derive(Clone)]
struct PerClient {
    conn: Arc<Connection>,
    current: Arc<std::sync::Mutex<Option<Link>>>,
    /// Whether the upstream session accepts `logging/setLevel`.
    takes_log_level: bool,
    /// The level this session was last asked for.
    log_level: Arc<mcp::LogThreshold>,
}

impl PerClient {
    /// Asks this client's upstream session for the log level the client asked for, before a call,
    /// when the client's level changed since (a stateless client's comes with each request).
    async fn follow_log_level(&self, link: &Link, timeout: Duration) {
        let Some(level) = link.session.log_level.get().filter(|_| self.takes_log_level) else { return };
        if self.log_level.replace(level) == Some(level) {
            return;
        }
        let params = crate::protocol::jsonrpc::raw(&serde_json::json!({ "level": level.as_str() }));
        if let Err(e) = self.conn.request("logging/setLevel", Some(&params), timeout, None).await {
            tracing::debug!(error = %e, "logging/setLevel refused by a per-client upstream session");
        }
    }
}

const BACKOFF_START: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A connection that lived this long resets the backoff.
const STABLE_AFTER: Duration = Duration::from_secs(30);

async fn supervise(handle: Arc<UpstreamHandle>) {
    let name = handle.spec.name.clone();
    let mut stop = handle.stop.subscribe();
    let mut backoff = BACKOFF_START;
    let mut failures = 0u32;
    while !*stop.borrow() {
        let (events_tx, mut events) = mpsc::channel::<Event>(64);
        let inbox = Inbox { events: events_tx, relay: handle.relay.clone() };
        let attempt = tokio::select! {
            r = Connection::open(&handle.spec, inbox) => r,
            _ = stop.changed() => break,
        };
        match attempt {
            Ok((conn, established)) => {
                let conn = Arc::new(conn);
                let items = tokio::select! {
                    r = session::fetch_items(&conn, &established, &handle.spec) => r,
                    _ = stop.changed() => { conn.shutdown().await; break }
                };
                match items {
                    Ok(items) => {
                        failures = 0;
                        tracing::info!(upstream = %name, transport = handle.spec.transport.kind(),
                            protocol_version = %established.protocol_version,
                            tools = items.tools.len(), resources = items.resources.len(),
                            prompts = items.prompts.len(), "upstream connected");
                        handle.connection.store(Some(conn.clone()));
                        resubscribe(&handle, &conn);
                        handle.set_status(UpstreamState::Up, None, 0, Some(&established));
                        handle.set_items(items);
                        handle.first_attempt_done.store(true, Ordering::Release);
                        let since = Instant::now();
                        let stopping = serve_events(&handle, &conn, &established, &mut events, &mut stop).await;
                        handle.connection.store(None);
                        handle.set_items(ItemSet::default());
                        if stopping {
                            drain_and_close(&handle, conn).await;
                            break;
                        }
                        conn.shutdown().await;
                        tracing::warn!(upstream = %name, "upstream connection lost; reconnecting");
                        handle.set_status(UpstreamState::Down, Some("connection lost".into()), 0, None);
                        if since.elapsed() >= STABLE_AFTER {
                            backoff = BACKOFF_START;
                        }
                    }
                    Err(e) => {
                        conn.shutdown().await;
                        failures += 1;
                        tracing::warn!(upstream = %name, error = %e, "listing the upstream's items failed");
                        handle.set_status(UpstreamState::Down, Some(e.to_string()), failures, None);
                        handle.first_attempt_done.store(true, Ordering::Release);
                    }
                }
            }
            Err(e) => {
                failures += 1;
                // Say it loudly the first time and every tenth, so a long outage does not flood the log.
                if failures == 1 || failures.is_multiple_of(10) {
                    tracing::warn!(upstream = %name, error = %e, failures, retry_in = ?backoff, "upstream unavailable");
                } else {
                    tracing::debug!(upstream = %name, error = %e, failures, retry_in = ?backoff, "upstream unavailable");
                }
                handle.set_status(UpstreamState::Down, Some(e.to_string()), failures, None);
                handle.first_attempt_done.store(true, Ordering::Release);
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.changed() => break,
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
    for (_, cell) in handle.clients.lock().await.drain() {
        if let Some(session) = cell.get() {
            session.conn.shutdown().await;
        }
    }
    handle.set_status(UpstreamState::Stopped, None, failures, None);
    handle.stopped.notify_waiters();
    tracing::info!(upstream = %name, "upstream stopped");
}

/// Subscribes a fresh connection to every URI clients hold at this upstream (a reconnect, or a
/// reload that restarted it), in the background.
fn resubscribe(handle: &Arc<UpstreamHandle>, conn: &Arc<Connection>) {
    let uris = handle.outlets.subscribers.uris(&handle.spec.name);
    if uris.is_empty() {
        return;
    }
    let (conn, name, timeout) = (conn.clone(), handle.spec.name.clone(), handle.spec.timeout);
    tokio::spawn(async move {
        for uri in uris {
            if let Err(e) = conn.request("resources/subscribe", Some(&uri_params(&uri)), timeout, None).await {
                tracing::warn!(upstream = %name, %uri, error = %e, "subscribing again after connecting failed");
            }
        }
    });
}

/// Handles notifications until the connection closes (returns false) or a stop is asked (true).
async fn serve_events(
    handle: &UpstreamHandle,
    conn: &Arc<Connection>,
    established: &session::Established,
    events: &mut mpsc::Receiver<Event>,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    loop {
        tokio::select! {
            _ = conn.closed() => return false,
            _ = stop.changed() => return true,
            event = events.recv() => match event {
                None => return false,
                Some(Event::Notification { method, .. }) if method.ends_with("/list_changed") => {
                    match session::fetch_items(conn, established, &handle.spec).await {
                        Ok(items) => handle.set_items(items),
                        Err(e) => tracing::warn!(upstream = %handle.spec.name, error = %e, "refreshing items failed"),
                    }
                }
                Some(Event::Notification { method, params }) => {
                    let params = params.and_then(|p| serde_json::from_str::<serde_json::Value>(p.get()).ok());
                    match note(&handle.spec.name, &method, params) {
                        Some(note) => drop(handle.outlets.notes.send(note)),
                        None => tracing::debug!(upstream = %handle.spec.name, %method, "upstream notification"),
                    }
                }
            }
        }
    }
}

/// An upstream's notification as a note for the sessions, when it is one they may hear.
fn note(upstream: &str, method: &str, params: Option<serde_json::Value>) -> Option<Note> {
    let (upstream, params) = (upstream.to_string(), params?);
    Some(match method {
        "notifications/resources/updated" => {
            let uri = params.get("uri")?.as_str()?.to_string();
            Note::ResourceUpdated { upstream, uri, session: None }
        }
        "notifications/message" => Note::Log { upstream, params },
        "notifications/tasks/status" => Note::TaskStatus { upstream, params },
        "notifications/elicitation/complete" => Note::ElicitationComplete { params },
        _ => return None,
    })
}

/// Lets requests already sent finish (each holds the connection), then closes it.
async fn drain_and_close(handle: &UpstreamHandle, conn: Arc<Connection>) {
    let deadline = Instant::now() + handle.spec.timeout;
    while Arc::strong_count(&conn) > 1 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    conn.shutdown().await;
}
