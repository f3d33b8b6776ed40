//! A message peer: request/response correlation, notifications, replies to the upstream's own
//! requests, and cancellation, for every transport that moves whole messages both ways
//! (stdio lines, WebSocket frames, legacy SSE events).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::value::RawValue;
use tokio::sync::{mpsc, oneshot, watch};

use super::UpstreamError;
use super::asked::{self, Asked};
use super::connection::{BoxFuture, Connection};
use super::wire::Inbox;
use super::wire::route_incoming;
use crate::protocol::RawJson;
use crate::protocol::jsonrpc::{self, encode_notification, encode_request};
use crate::session::Link;

/// Messages queued for the upstream before senders wait.
const QUEUE: usize = 256;

type Waiter = oneshot::Sender<Result<RawJson, RawJson>>;

pub(super) struct Peer {
    name: String,
    outgoing: mpsc::Sender<Vec<u8>>,
    pending: Mutex<HashMap<u64, Waiter>>,
    /// Requests the transport could not deliver (the upstream was gone before they were
    /// written): they failed without reaching it, so they may be sent again elsewhere.
    unsent: Mutex<std::collections::HashSet<u64>>,
    next_id: AtomicU64,
    closed: watch::Sender<bool>,
    inbox: Inbox,
    /// For a per-client upstream session: its client, asked when the upstream sends it requests,
    /// and how long to wait for the answer.
    client: Mutex<Option<(Link, Duration)>>,
    /// Client calls in flight on this peer (by request id), each with its client and timeout: when
    /// exactly one is, a request the upstream sends meanwhile can only be about that call.
    calls: Mutex<HashMap<u64, (Link, Duration)>>,
    /// The upstream's requests that wait on a client's answer.
    asked: Arc<Asked>,
    /// Set when the gateway drops the connection over an oversized message (`drop_oversized`).
    dropped: AtomicBool,
}

impl Peer {
    /// Ties this peer to one client: requests the upstream sends are asked of it.
    pub(super) fn set_client(&self, link: Link, timeout: Duration) {
        *self.client.lock().unwrap() = Some((link, timeout));
    }

    /// A peer and the queue of encoded messages its transport must deliver to the upstream.
    pub(super) fn new(name: &str, inbox: Inbox) -> (Arc<Peer>, mpsc::Receiver<Vec<u8>>) {
        let (outgoing, queue) = mpsc::channel(QUEUE);
        let (closed, _) = watch::channel(false);
        let peer = Peer {
            name: name.to_string(),
            outgoing,
            pending: Mutex::default(),
            unsent: Mutex::default(),
            next_id: AtomicU64::new(1),
            closed,
            inbox,
            client: Mutex::default(),
            calls: Mutex::default(),
            asked: Arc::default(),
            dropped: AtomicBool::new(false),
        };
        (Arc::new(peer), queue)
    }

    /// Sends one request; `client` is the client whose call it is, if any.
    pub(super) async fn request(
        &self,
        method: &str,
        params: Option<&RawValue>,
        timeout: Duration,
        client: Option<&Link>,
    ) -> Result<RawJson, UpstreamError> {
        if *self.closed.borrow() {
            return Err(UpstreamError::Unavailable(self.name.clone()));
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending.lock().unwrap().insert(id, tx);
        let _call = client.map(|link| {
            self.calls.lock().unwrap().insert(id, (link.clone(), timeout));
            CallGuard { peer: self, id }
        });
        // `initialize` is never cancelled (the specification forbids it).
        let armed = method != "initialize";
        let mut guard = CancelOnDrop { peer: self, id, reason: "the client went away", armed };
        if self.outgoing.send(encode_request(id, method, params)).await.is_err() {
            guard.armed = false;
            self.pending.lock().unwrap().remove(&id);
            return Err(UpstreamError::Unavailable(self.name.clone()));
        }
        let outcome = tokio::time::timeout(timeout, rx).await;
        guard.armed &= outcome.is_err();
        guard.reason = "timeout";
        match outcome {
            Ok(Ok(Ok(result))) => Ok(result),
            Ok(Ok(Err(error))) => Err(UpstreamError::Rpc(error)),
            Ok(Err(_)) if self.unsent.lock().unwrap().remove(&id) => Err(UpstreamError::Unavailable(self.name.clone())),
            Ok(Err(_)) if self.dropped.load(Ordering::Relaxed) => Err(UpstreamError::Dropped(self.name.clone())),
            Ok(Err(_)) => Err(UpstreamError::Lost(self.name.clone())),
            Err(_) => Err(UpstreamError::Timeout(self.name.clone(), timeout)),
        }
    }

    pub(super) fn name(&self) -> &str {
        &self.name
    }

    pub(super) async fn notify(&self, method: &str, params: Option<&RawValue>) {
        let _ = self.outgoing.send(encode_notification(method, params)).await;
    }

    /// Sends a message as is, expecting nothing back for it (a `subscriptions/listen`, whose
    /// answer only comes when the subscription ends; its notifications reach the inbox).
    pub(super) async fn send(&self, message: Vec<u8>) {
        let _ = self.outgoing.send(message).await;
    }

    /// One message read from the upstream.
    pub(super) async fn receive(&self, bytes: &[u8]) {
        route_incoming(
            &self.name,
            bytes,
            &self.inbox,
            &self.asked,
            |id, outcome| {
                let number = id.get().parse::<u64>().ok();
                let waiter = number.and_then(|n| self.pending.lock().unwrap().remove(&n));
                match waiter {
                    Some(w) => {
                        let _ = w.send(outcome);
                    }
                    // A late answer to a request we gave up on (timed out, cancelled, or the
                    // listen a restart ended; listens count down from the top) is normal.
                    None if number.is_some_and(|n| n < self.next_id.load(Ordering::Relaxed) || n > u64::MAX / 2) => {
                        tracing::debug!(upstream = %self.name, id = id.get(), "a late answer to a request no longer awaited")
                    }
                    None => tracing::warn!(upstream = %self.name, id = id.get(), "response to a request id never sent"),
                }
            },
            async |id, method, params| {
                // A per-client session has exactly one client. On a shared stream nothing names
                // the client a request is for, unless one client call alone is in flight.
                let client = self.client.lock().unwrap().clone().or_else(|| {
                    let calls = self.calls.lock().unwrap();
                    let alone = calls.len() == 1 && self.inbox.single_call_questions;
                    alone.then(|| calls.values().next().cloned()).flatten()
                });
                let (link, timeout) = match client {
                    Some((link, timeout)) => (Some(link), timeout),
                    None => (None, Duration::ZERO),
                };
                let outgoing = self.outgoing.clone();
                asked::answer(&self.asked, id, method, params, link, timeout, async move |reply| {
                    let _ = outgoing.send(reply).await;
                })
                .await;
            },
        )
        .await;
    }

    /// The transport could not deliver `message` (the write failed, or the transport ended with
    /// it still queued): a request among them fails as never sent, rather than lost.
    pub(super) fn unsent(&self, message: &[u8]) {
        #[derive(serde::Deserialize)]
        struct Envelope {
            id: Option<u64>,
            method: Option<serde::de::IgnoredAny>,
        }
        let Ok(Envelope { id: Some(id), method: Some(_) }) = serde_json::from_slice(message) else { return };
        if let Some(waiter) = self.pending.lock().unwrap().remove(&id) {
            self.unsent.lock().unwrap().insert(id);
            drop(waiter);
        }
    }

    /// The transport drops the connection because the upstream sent a message over the size
    /// limit: the requests in flight fail as `Dropped`, not `Lost`, so none is sent again.
    pub(super) fn drop_oversized(&self) {
        self.dropped.store(true, Ordering::Relaxed);
    }

    /// The transport lost the upstream: pending requests fail and the supervisor reconnects.
    pub(super) fn mark_closed(&self) {
        // Closed first: a caller woken by its failed request finds the connection closed.
        self.closed.send_replace(true);
        self.pending.lock().unwrap().clear();
    }

    pub(super) async fn closed(&self) {
        let mut closed = self.closed.subscribe();
        let _ = closed.wait_for(|c| *c).await;
    }
}

/// A peer together with the switch that stops its transport's reader and writer tasks: what a
/// network message transport (legacy SSE, WebSocket) hands to `Connection`.
pub(crate) struct Linked {
    pub(super) peer: Arc<Peer>,
    closing: watch::Sender<bool>,
}

impl Linked {
    pub(super) fn new(peer: Arc<Peer>) -> Self {
        Linked { peer, closing: watch::channel(false).0 }
    }

    /// Resolves once `shutdown` was called; for the transport's tasks to select on.
    pub(super) fn closing(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
        let mut closing = self.closing.subscribe();
        Box::pin(async move {
            let _ = closing.wait_for(|c| *c).await;
        })
    }
}

/// The linked transports (legacy SSE, WebSocket): a message peer, and a switch to stop them.
impl Connection for Linked {
    fn request<'a>(
        &'a self,
        method: &'a str,
        params: Option<&'a RawValue>,
        timeout: Duration,
        client: Option<&'a Link>,
    ) -> BoxFuture<'a, Result<RawJson, UpstreamError>> {
        Box::pin(self.peer.request(method, params, timeout, client))
    }

    fn notify<'a>(&'a self, method: &'a str, params: Option<&'a RawValue>) -> BoxFuture<'a, ()> {
        Box::pin(self.peer.notify(method, params))
    }

    fn set_client(&self, link: &Link, timeout: Duration) {
        self.peer.set_client(link.clone(), timeout);
    }

    fn closed(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.peer.closed())
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        self.closing.send_replace(true);
        Box::pin(std::future::ready(()))
    }
}

/// Forgets a client call when it ends, however it ends.
struct CallGuard<'a> {
    peer: &'a Peer,
    id: u64,
}

impl Drop for CallGuard<'_> {
    fn drop(&mut self) {
        self.peer.calls.lock().unwrap().remove(&self.id);
    }
}

/// Sends `notifications/cancelled` for a request abandoned before its answer came (timeout, or
/// the caller's future dropped because the client cancelled or disconnected).
struct CancelOnDrop<'a> {
    peer: &'a Peer,
    id: u64,
    reason: &'static str,
    armed: bool,
}

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        self.peer.pending.lock().unwrap().remove(&self.id);
        let cancel = jsonrpc::raw(&serde_json::json!({ "requestId": self.id, "reason": self.reason }));
        // Best effort: if the queue is full the upstream is not reading anyway.
        let _ = self.peer.outgoing.try_send(encode_notification("notifications/cancelled", Some(&cancel)));
    }
}
