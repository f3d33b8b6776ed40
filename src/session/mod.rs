//! Client sessions and the way back to their clients: the id handed out at `initialize`, the
//! negotiated version, the virtual server and caller the session belongs to, what the client
//! declared, the requests in flight and the requests asked of the client, forgetting sessions
//! that went idle; `link` (messages and questions for one request), `rounds` (a stateless
//! client's questions), `events` (what a session hears without asking) and `replay` (resumable
//! event streams).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

mod caller;
pub(crate) mod events;
pub(crate) mod link;
pub(crate) mod replay;
pub(crate) mod rounds;

pub(crate) use caller::{Binding, Caller, ClientHeaders, Identity, Method, Principal};
pub(crate) use events::{Catalogs, Note, Notes, SessionEvents};
pub(crate) use link::{Link, Outbound, capability_for};
pub(crate) use rounds::{InputRounds, RoundEnd};

/// Requests one session may have running at once on the stream transports (SSE, WebSocket,
/// stdio); the next waits, which stops reading from that client until one finishes.
pub(crate) const MAX_CONCURRENT_REQUESTS: usize = 64;

/// Where a client's answer to a request the gateway sent it goes.
pub(crate) type Answer = oneshot::Sender<Outcome>;
/// A JSON-RPC outcome as the client sent it: its `result`, or its `error` object.
pub(crate) type Outcome = Result<Box<serde_json::value::RawValue>, Box<serde_json::value::RawValue>>;

pub(crate) struct Session {
    pub id: String,
    pub virtual_server: String,
    pub protocol_version: String,
    /// Who opened the session (or sent the stateless request), fixed from then on.
    pub caller: Caller,
    /// Set by `notifications/initialized`.
    pub initialized: AtomicBool,
    /// Milliseconds since the registry started, at the last request.
    last_seen: AtomicU64,
    /// Requests in flight by id (as canonical JSON text), so `notifications/cancelled` can stop them.
    /// Each entry carries a sequence number so a request ends only its own entry when a client
    /// (against the rules) reuses an id while the first request is still running.
    in_flight: Mutex<HashMap<String, (u64, oneshot::Sender<()>)>>,
    next_request: AtomicU64,
    /// Requests of this session running at once (for transports that accept requests faster than
    /// they answer them: one slow or silent client holds only its own slots).
    pub slots: Arc<tokio::sync::Semaphore>,
    /// The least severe log level this client asked for (none: it gets no log messages).
    pub log_level: crate::protocol::mcp::LogThreshold,
    /// Run once when the session ends (per-client upstream sessions close here).
    end_hooks: Mutex<Vec<Box<dyn FnOnce() + Send>>>,
    /// Resource URIs this client subscribed to, each with the upstream that serves it.
    subscriptions: Mutex<HashMap<String, String>>,
    /// Public ids of the tasks this client started and of the URL elicitations it was sent: the
    /// only ones it may see or hear about. Made on first use, like `replays`: few sessions use
    /// them, and every byte here is per session.
    owned: std::sync::OnceLock<Box<OwnedIds>>,
    /// Whether that release hook is registered.
    pub releases_subscriptions: AtomicBool,
    /// What the client declared at `initialize` (`sampling`, `elicitation`, `roots`, …).
    capabilities: std::sync::OnceLock<serde_json::Value>,
    /// Requests the gateway sent to this client (on an upstream's behalf), by the id it used.
    asked: Mutex<HashMap<u64, Answer>>,
    next_ask: AtomicU64,
    /// Where messages to the client go when the transport keeps one stream per session (legacy SSE).
    pub stream: std::sync::OnceLock<tokio::sync::mpsc::Sender<Vec<u8>>>,
    /// Event streams of this session, held so a client can resume one (streamable HTTP); made
    /// on first use, as most sessions never stream.
    replays: std::sync::OnceLock<Box<replay::Replays>>,
    /// The headers upstreams receive of this client: its caller's, then those of its latest
    /// request (a refreshed token replaces the one the session opened with).
    presented: arc_swap::ArcSwapOption<ClientHeaders>,
}

impl Session {
    /// Keeps the headers a later request of this session presented, for the upstreams.
    pub(crate) fn present(&self, caller: &Caller) {
        if caller.presented.is_some() {
            self.presented.store(caller.presented.clone());
        }
    }

    /// The headers upstreams receive of this client, if any are kept.
    pub(crate) fn presented(&self) -> Option<Arc<ClientHeaders>> {
        self.presented.load_full()
    }

    fn new(id: String, virtual_server: &str, protocol_version: &str, caller: Caller, now_ms: u64) -> Arc<Session> {
        Arc::new(Session {
            presented: arc_swap::ArcSwapOption::new(caller.presented.clone()),
            caller,
            capabilities: std::sync::OnceLock::new(),
            subscriptions: Mutex::default(),
            owned: std::sync::OnceLock::new(),
            releases_subscriptions: AtomicBool::new(false),
            end_hooks: Mutex::default(),
            log_level: Default::default(),
            asked: Mutex::default(),
            next_ask: AtomicU64::new(1),
            id,
            virtual_server: virtual_server.to_string(),
            protocol_version: protocol_version.to_string(),
            initialized: AtomicBool::new(false),
            last_seen: AtomicU64::new(now_ms),
            in_flight: Mutex::default(),
            next_request: AtomicU64::new(0),
            slots: Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_REQUESTS)),
            stream: std::sync::OnceLock::new(),
            replays: std::sync::OnceLock::new(),
        })
    }

    /// A session for one exchange that is never registered: plain JSON-RPC requests and a stdio
    /// client, where the connection itself is the session.
    pub(crate) fn detached(virtual_server: &str, protocol_version: &str, caller: Caller) -> Arc<Session> {
        Session::new(new_id(), virtual_server, protocol_version, caller, 0)
    }

    /// Whether the client speaks the stateless protocol (2026-07-28): it takes `input_required`
    /// results itself, and no request can be sent to it.
    pub(crate) fn is_stateless(&self) -> bool {
        crate::protocol::stateless::is_version(&self.protocol_version)
    }

    /// Records that this client owns the task or elicitation with this public id.
    pub(crate) fn record(&self, kind: Owned, id: &str) {
        self.owned.get_or_init(Box::default).lock().unwrap().insert((kind, id.to_string()));
    }

    /// Whether this client owns the task or elicitation with this public id.
    pub(crate) fn owns(&self, kind: Owned, id: &str) -> bool {
        self.owned.get().is_some_and(|owned| owned.lock().unwrap().contains(&(kind, id.to_string())))
    }

    /// The session's resumable event streams.
    pub(crate) fn replays(&self) -> &replay::Replays {
        self.replays.get_or_init(Box::default)
    }

    /// Adds a subscription to `uri`, served by `upstream`; false when the client already had it.
    pub(crate) fn subscribe(&self, uri: &str, upstream: &str) -> bool {
        self.subscriptions.lock().unwrap().insert(uri.to_string(), upstream.to_string()).is_none()
    }

    /// Drops a subscription; the upstream that served it, or `None` when the client did not have it.
    pub(crate) fn unsubscribe(&self, uri: &str) -> Option<String> {
        self.subscriptions.lock().unwrap().remove(uri)
    }

    /// Whether the client subscribed to `uri` as served by `upstream`.
    pub(crate) fn is_subscribed(&self, uri: &str, upstream: &str) -> bool {
        self.subscriptions.lock().unwrap().get(uri).is_some_and(|u| u == upstream)
    }

    /// Runs `f` when the session ends (or at once if it already has).
    pub(crate) fn on_end(&self, f: Box<dyn FnOnce() + Send>) {
        self.end_hooks.lock().unwrap().push(f);
    }

    /// Ends the session: cancels its requests and runs its end hooks. Idempotent.
    pub(crate) fn end(&self) {
        self.cancel_all();
        let hooks = std::mem::take(&mut *self.end_hooks.lock().unwrap());
        for hook in hooks {
            hook();
        }
    }

    /// Records the capabilities from the client's `initialize` (once; a repeat is ignored).
    pub(crate) fn declare(&self, capabilities: serde_json::Value) {
        let _ = self.capabilities.set(capabilities);
    }

    /// Whether the client's `initialize` has been answered.
    pub(crate) fn has_initialized(&self) -> bool {
        self.capabilities.get().is_some()
    }

    /// Whether the client declared `capability` at `initialize`.
    pub(crate) fn supports(&self, capability: &str) -> bool {
        self.capabilities.get().and_then(|c| c.get(capability)).is_some_and(|c| !c.is_null())
    }

    /// Whether the client may be sent a request needing `capability`: it declared it, and it
    /// keeps a session (a stateless client is never sent a request, whatever it declared).
    pub(crate) fn can_be_asked(&self, capability: &str) -> bool {
        !self.is_stateless() && self.supports(capability)
    }

    /// Whether the client may be sent any of the requests a server asks clients (sampling,
    /// elicitation, roots).
    pub(crate) fn can_be_asked_anything(&self) -> bool {
        ["sampling", "elicitation", "roots"].iter().any(|c| self.can_be_asked(c))
    }

    /// Whether the client declared any of what a server may ask (stateless clients too, who are
    /// asked through `input_required`).
    pub(crate) fn declares_any_question(&self) -> bool {
        ["sampling", "elicitation", "roots"].iter().any(|c| self.supports(c))
    }

    /// The capabilities the client declared (in `initialize`, or in a stateless request's `_meta`).
    pub(crate) fn capabilities(&self) -> serde_json::Value {
        self.capabilities.get().cloned().unwrap_or_else(|| serde_json::json!({}))
    }

    /// Registers a request the gateway is about to send this client: its id, and where the
    /// client's answer will arrive.
    pub(crate) fn ask(&self) -> (u64, oneshot::Receiver<Outcome>) {
        let id = self.next_ask.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.asked.lock().unwrap().insert(id, tx);
        (id, rx)
    }

    /// Drops a request asked earlier that will not be waited for any more.
    pub(crate) fn forget_ask(&self, id: u64) {
        self.asked.lock().unwrap().remove(&id);
    }

    /// Delivers the client's answer to a request the gateway sent it; false for an id never asked
    /// (or already answered).
    pub(crate) fn answered(&self, id: &serde_json::value::RawValue, outcome: Outcome) -> bool {
        let waiter = id.get().parse::<u64>().ok().and_then(|n| self.asked.lock().unwrap().remove(&n));
        waiter.is_some_and(|w| w.send(outcome).is_ok())
    }
    /// Records a request as in flight. The receiver fires if the client cancels it; dropping the
    /// guard (when the request ends) forgets it.
    pub(crate) fn begin(self: &Arc<Self>, id: &serde_json::value::RawValue) -> (Cancelled, InFlight) {
        let key = canonical_id(id.get());
        let seq = self.next_request.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.in_flight.lock().unwrap().insert(key.clone(), (seq, tx));
        (Cancelled(rx), InFlight { session: self.clone(), key, seq })
    }

    /// Cancels the in-flight request with this id; false when there is none.
    pub(crate) fn cancel(&self, id: &serde_json::Value) -> bool {
        match self.in_flight.lock().unwrap().remove(&id.to_string()) {
            Some((_, tx)) => tx.send(()).is_ok(),
            None => false,
        }
    }
}

impl Session {
    /// Cancels every request in flight (the client went away).
    pub(crate) fn cancel_all(&self) {
        for (_, (_, tx)) in self.in_flight.lock().unwrap().drain() {
            let _ = tx.send(());
        }
    }
}

/// The ids a session owns, by kind.
type OwnedIds = Mutex<std::collections::HashSet<(Owned, String)>>;

/// What a session may own, so that only it hears about it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) enum Owned {
    /// A task it started (2025-11-25 tasks).
    Task,
    /// A URL-mode elicitation it was sent; its `notifications/elicitation/complete` is for it alone.
    Elicitation,
}

/// Resolves when the client cancels the request; never when the entry is merely forgotten.
pub(crate) struct Cancelled(oneshot::Receiver<()>);

impl Cancelled {
    pub(crate) async fn wait(self) {
        if self.0.await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Keeps a request registered as in flight until dropped.
pub(crate) struct InFlight {
    session: Arc<Session>,
    key: String,
    seq: u64,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut map = self.session.in_flight.lock().unwrap();
        if map.get(&self.key).is_some_and(|(seq, _)| *seq == self.seq) {
            map.remove(&self.key);
        }
    }
}

/// Ids compare as JSON values, so `1` from a request matches `1` in a cancellation however spaced.
fn canonical_id(raw: &str) -> String {
    serde_json::from_str::<serde_json::Value>(raw).map(|v| v.to_string()).unwrap_or_else(|_| raw.to_string())
}

pub(crate) struct Sessions {
    map: RwLock<HashMap<String, Arc<Session>>>,
    epoch: Instant,
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions { map: RwLock::default(), epoch: Instant::now() }
    }
}

impl Sessions {
    pub(crate) fn create(&self, virtual_server: &str, protocol_version: &str, caller: Caller) -> Arc<Session> {
        let session = Session::new(new_id(), virtual_server, protocol_version, caller, self.now_ms());
        self.map.write().unwrap().insert(session.id.clone(), session.clone());
        session
    }

    /// The session with this id, marked as seen now.
    pub(crate) fn get(&self, id: &str) -> Option<Arc<Session>> {
        let session = self.map.read().unwrap().get(id).cloned()?;
        session.last_seen.store(self.now_ms(), Ordering::Relaxed);
        Some(session)
    }

    /// Forgets the session and ends it.
    pub(crate) fn remove(&self, id: &str) -> bool {
        let removed = self.map.write().unwrap().remove(id);
        removed.map(|s| s.end()).is_some()
    }

    pub(crate) fn len(&self) -> usize {
        self.map.read().unwrap().len()
    }

    /// Forgets sessions idle for longer than `idle`; returns how many.
    pub(crate) fn forget_idle(&self, idle: Duration) -> usize {
        let cutoff = self.now_ms().saturating_sub(idle.as_millis() as u64);
        let mut ended = Vec::new();
        self.map.write().unwrap().retain(|_, s| {
            let keep = s.last_seen.load(Ordering::Relaxed) >= cutoff;
            if !keep {
                ended.push(s.clone());
            }
            keep
        });
        for session in &ended {
            session.end();
        }
        ended.len()
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }
}

/// 128 random bits as hex: unguessable, and visible ASCII as the transport requires.
fn new_id() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Drop for Session {
    fn drop(&mut self) {
        // A session dropped without `end` (a detached one whose connection closed) ends now.
        for hook in std::mem::take(&mut *self.end_hooks.lock().unwrap()) {
            hook();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn cancelling_fires_the_request_receiver_once() {
        let s = Sessions::default();
        let session = s.create("default", "2025-11-25", Caller::local());
        let id = serde_json::value::RawValue::from_string("7".into()).unwrap();
        let (cancelled, guard) = session.begin(&id);
        assert!(session.cancel(&serde_json::json!(7)));
        cancelled.wait().await;
        assert!(!session.cancel(&serde_json::json!(7)), "already cancelled");
        drop(guard);
        let (_rx, guard) = session.begin(&id);
        drop(guard);
        assert!(!session.cancel(&serde_json::json!(7)), "a finished request cannot be cancelled");
    }

    #[tokio::test]
    async fn a_reused_id_does_not_cancel_or_forget_the_other_request() {
        let s = Sessions::default();
        let session = s.create("default", "2025-11-25", Caller::local());
        let id = serde_json::value::RawValue::from_string("1".into()).unwrap();
        let (first, first_guard) = session.begin(&id);
        let (_second, second_guard) = session.begin(&id);
        let waited = tokio::time::timeout(std::time::Duration::from_millis(20), first.wait()).await;
        assert!(waited.is_err(), "being replaced is not a cancellation");
        drop(first_guard);
        assert!(session.cancel(&serde_json::json!(1)), "the second request is still cancellable");
        drop(second_guard);
    }

    #[test]
    fn sessions_are_created_found_and_removed() {
        let s = Sessions::default();
        let a = s.create("default", "2025-11-25", Caller::local());
        let b = s.create("ops", "2025-03-26", Caller::local());
        assert_ne!(a.id, b.id);
        assert_eq!(a.id.len(), 32);
        assert_eq!(s.get(&b.id).unwrap().virtual_server, "ops");
        assert!(s.remove(&a.id));
        assert!(s.get(&a.id).is_none());
        assert_eq!(s.forget_idle(Duration::from_secs(60)), 0);
    }
}
