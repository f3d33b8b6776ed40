//! A conversation: one client on one connection that is itself the session (stdio, WebSocket).
//! The binding feeds it each message it reads and writes out whatever arrives on `out`.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};

use super::{ServeContext, exchange};
use crate::error::GatewayError;
use crate::protocol::jsonrpc::Message;
use crate::session::{Caller, Session};

/// Longest wait, once the client's input ends, for answers to requests already read.
const DRAIN: Duration = Duration::from_secs(10);

pub(crate) struct Conversation {
    ctx: Arc<ServeContext>,
    virtual_server: String,
    /// Who is on the other end; every session this connection opens is theirs.
    caller: Caller,
    session: Option<Arc<Session>>,
    out: mpsc::Sender<Vec<u8>>,
    requests: JoinSet<()>,
    forwarder: Option<JoinHandle<()>>,
    /// Stateless requests running (by request id), so `notifications/cancelled` can stop one,
    /// a `subscriptions/listen` above all.
    /// The flag marks `subscriptions/listen`, which only ends when cancelled.
    stateless: std::collections::HashMap<String, (JoinHandle<()>, bool)>,
    /// Stateless requests running at once on this connection (listens included), capped like a
    /// session's: the next waits, which stops reading from this client until one ends.
    stateless_slots: Arc<tokio::sync::Semaphore>,
}

impl Conversation {
    /// Messages to the client go to `out`, encoded, one per item.
    pub(crate) fn new(
        ctx: Arc<ServeContext>,
        virtual_server: String,
        caller: Caller,
        out: mpsc::Sender<Vec<u8>>,
    ) -> Self {
        Conversation {
            ctx,
            virtual_server,
            caller,
            session: None,
            out,
            requests: JoinSet::new(),
            forwarder: None,
            stateless: Default::default(),
            stateless_slots: Arc::new(tokio::sync::Semaphore::new(crate::session::MAX_CONCURRENT_REQUESTS)),
        }
    }

    /// Answers a message that was too long to read (it was skipped, never held).
    pub(crate) async fn refuse_oversized(&mut self, limit: usize) {
        self.refuse(None, format!("the message is larger than {limit} bytes")).await;
    }

    /// Handles one message from the client. Requests are answered concurrently.
    pub(crate) async fn receive(&mut self, bytes: &[u8]) {
        while self.requests.try_join_next().is_some() {}
        let limit = self.ctx.live.snapshot().model.serving.max_body_bytes;
        if bytes.len() > limit {
            self.refuse(None, format!("the message is larger than {limit} bytes")).await;
            return;
        }
        if Message::is_batch(bytes) {
            self.refuse(None, "JSON-RPC batches are not supported; send one message at a time".into()).await;
            return;
        }
        match Message::parse(bytes) {
            Err(e) => {
                let _ = self.out.send(GatewayError::from(e).encode(None)).await;
            }
            // A request carrying its version in `_meta` is served statelessly (2026-07-28): no
            // initialize first, nothing kept between requests.
            Ok(Message::Request { id, method, params })
                if self.session.is_none() && crate::dispatch::stateless::names_version(params.as_deref()) =>
            {
                self.stateless.retain(|_, (task, _)| !task.is_finished());
                let key = id.get().to_string();
                // A second request under the id of one still running would orphan the first (a
                // listen holding its subscriptions after the connection closes): refused.
                if self.stateless.contains_key(&key) {
                    let e = GatewayError::invalid_request(format!("request id {key} is already in use"));
                    let _ = self.out.send(e.encode(Some(&id))).await;
                    return;
                }
                let Ok(slot) = self.stateless_slots.clone().acquire_owned().await else { return };
                let listening = method == "subscriptions/listen";
                let task = super::stateless::converse(
                    self.ctx.clone(),
                    &self.virtual_server,
                    &self.caller,
                    id,
                    method,
                    params.as_deref(),
                    self.out.clone(),
                    slot,
                );
                self.stateless.insert(key, (task, listening));
            }
            Ok(Message::Request { id, method, params }) if method == "initialize" => {
                let version = crate::dispatch::negotiated_version(params.as_deref());
                let session = Session::detached(&self.virtual_server, version, self.caller.clone());
                match exchange::initialize(&self.ctx, &session, id, params).await {
                    Ok(answer) => {
                        if let Some(previous) = self.forwarder.take() {
                            previous.abort();
                        }
                        let events = self.ctx.live.events();
                        self.forwarder = Some(tokio::spawn(forward_events(events, session.clone(), self.out.clone())));
                        tracing::info!(virtual_server = %self.virtual_server, version, "client initialized");
                        let _ = self.out.send(answer).await;
                        self.session = Some(session);
                    }
                    Err(refused) => {
                        let _ = self.out.send(refused.encode()).await;
                    }
                }
            }
            Ok(Message::Request { id, method, params }) => {
                let session = match (&self.session, method.as_str()) {
                    (Some(s), _) => s.clone(),
                    (None, "ping") => Session::detached(&self.virtual_server, "", self.caller.clone()),
                    (None, _) => {
                        self.refuse(Some(&id), "send initialize first".into()).await;
                        return;
                    }
                };
                // Waiting here stops reading from this client while it has too many requests running.
                let (ctx, out) = (self.ctx.clone(), self.out.clone());
                let Some(work) = exchange::queued_answer(ctx, session, id, method, params, out).await else { return };
                self.requests.spawn(work);
            }
            Ok(Message::Notification { method, params }) => {
                if let Some(session) = &self.session {
                    exchange::notification(&self.ctx, session, &method, params.as_deref());
                } else if method == "notifications/cancelled"
                    && let Some(id) = params
                        .as_deref()
                        .and_then(|p| serde_json::from_str::<serde_json::Value>(p.get()).ok())
                        .and_then(|p| p.get("requestId").map(|r| r.to_string()))
                    && let Some((task, _)) = self.stateless.remove(&id)
                {
                    // Stops a stateless call (cancelling it upstream) or ends a subscription.
                    task.abort();
                }
            }
            Ok(Message::Response { id, outcome }) => {
                if let Some(session) = &self.session {
                    exchange::response(session, &id, outcome);
                }
            }
        }
    }

    /// The client's input ended: answer what was already read (within a bound), then stop.
    pub(crate) async fn finish(mut self) {
        let requests = &mut self.requests;
        let (listens, calls): (Vec<_>, Vec<_>) = self.stateless.drain().map(|(_, t)| t).partition(|(_, l)| *l);
        for (listen, _) in listens {
            listen.abort();
        }
        let drained = async {
            while requests.join_next().await.is_some() {}
            for (call, _) in calls {
                let _ = call.await;
            }
        };
        if tokio::time::timeout(DRAIN, drained).await.is_err() {
            tracing::warn!("requests still running {DRAIN:?} after input ended; abandoning them");
        }
        self.abandon();
    }

    /// The client is gone: cancel everything still running.
    pub(crate) fn abandon(&mut self) {
        if let Some(session) = &self.session {
            session.end();
        }
        for (_, (task, _)) in self.stateless.drain() {
            task.abort();
        }
        self.requests.abort_all();
        if let Some(f) = self.forwarder.take() {
            f.abort();
        }
    }

    async fn refuse(&self, id: Option<&serde_json::value::RawValue>, message: String) {
        let _ = self.out.send(GatewayError::invalid_request(message).encode(id)).await;
    }
}

impl Drop for Conversation {
    fn drop(&mut self) {
        self.abandon();
    }
}

async fn forward_events(mut events: crate::session::SessionEvents, session: Arc<Session>, out: mpsc::Sender<Vec<u8>>) {
    while let Some(note) = events.next(&session).await {
        if out.send(note).await.is_err() {
            return;
        }
    }
}
