//! Per-client upstream sessions (`sessions: per_client`): one upstream session for each client
//! session, opened on its first call and closed when the client session ends, so every request
//! the upstream sends reaches the one client it serves.

use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt as _;
use tokio::sync::mpsc;

use super::wire::Event;
use super::{Shared, UpstreamError, UpstreamHandle, open};
use crate::protocol::mcp;
use crate::session::{Link, Note};

impl UpstreamHandle {
    /// The upstream session of one client (`per_client`): opened on its first call, closed when
    /// the client session ends.
    pub(super) async fn client_connection(self: &Arc<Self>, link: &Link) -> Result<PerClient, UpstreamError> {
        if self.connection.load().is_none() {
            // The shared session is down: so is the upstream; do not start a process per client
            // before it is back.
            self.reconnected(None).await?;
        }
        let key = link.session.id.clone();
        let cell = self.clients.lock().await.entry(key.clone()).or_default().clone();
        let mut opened = false;
        let session = cell
            .get_or_try_init(|| {
                opened = true;
                self.open_client_session(&link.session)
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
            // Its connection is gone (the client's own child exited): it is forgotten, and this
            // call opens the next one.
            if session.conn.closed().now_or_never().is_some() {
                let mut clients = self.clients.lock().await;
                if clients.get(&key).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
                    clients.remove(&key);
                }
                drop(clients);
                return Box::pin(self.client_connection(link)).await;
            }
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

    async fn open_client_session(&self, session: &Arc<crate::session::Session>) -> Result<PerClient, UpstreamError> {
        let client = session.id.as_str();
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
        let inbox = self.inbox(events);
        let (conn, established) = open::open(&self.spec, inbox, self.behind(Some(session))).await?;
        // `logging/setLevel` exists in the session era, for servers that declare logging.
        let takes_log_level = established.protocol_version != crate::protocol::stateless::VERSION
            && established.capabilities.contains_key("logging");
        Ok(PerClient { conn: Arc::new(conn), current, takes_log_level, log_level: Arc::default() })
    }
}

/// One client's own upstream session, and that client's latest call (where its log messages go).
#[derive(Clone)]
pub(super) struct PerClient {
    pub(super) conn: Shared,
    pub(super) current: Arc<std::sync::Mutex<Option<Link>>>,
    /// Whether the upstream session accepts `logging/setLevel`.
    takes_log_level: bool,
    /// The level this session was last asked for.
    log_level: Arc<mcp::LogThreshold>,
}

impl PerClient {
    /// Asks this client's upstream session for the log level the client asked for, before a call,
    /// when the client's level changed since (a stateless client's comes with each request).
    pub(super) async fn follow_log_level(&self, link: &Link, timeout: Duration) {
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
