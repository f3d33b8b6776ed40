//! What a session hears without asking: one typed channel (`Notes`) carries every note meant for
//! sessions (list changes of a virtual server, resource updates, log messages, task status, URL
//! elicitation completions), and `SessionEvents` picks out, for one session, exactly the ones it
//! may hear. Every binding's server-to-client stream reads from one.

use std::sync::Arc;

use serde_json::Value;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

use super::link::log_message;
use super::{Owned, Session};
use crate::protocol::ItemKind;
use crate::protocol::jsonrpc::{encode_notification, raw};

/// A note for some sessions, as it happens.
#[derive(Clone, Debug)]
pub(crate) enum Note {
    /// A virtual server's list of this kind changed (a reload, or an upstream's list change).
    ListChanged { virtual_server: String, kind: ItemKind },
    /// `upstream` announced `notifications/resources/updated` for `uri`; from a `per_client`
    /// upstream session, `session` names the one client session it concerns.
    ResourceUpdated { upstream: String, uri: String, session: Option<String> },
    /// A log message (`notifications/message` params) from `upstream`.
    Log { upstream: String, params: Value },
    /// A task's status (`notifications/tasks/status` params, the upstream's own task id).
    TaskStatus { upstream: String, params: Value },
    /// A URL-mode elicitation finished (`notifications/elicitation/complete` params).
    ElicitationComplete { params: Value },
}

/// Where notes are sent; every session's `SessionEvents` receives from it.
pub(crate) type Notes = broadcast::Sender<Note>;

/// A fresh channel. Bursts beyond its capacity make slow sessions skip notes (see `next`).
pub(crate) fn notes() -> Notes {
    broadcast::channel(1024).0
}

/// What the current catalogs say a session may hear about.
pub(crate) trait Catalogs: Send + Sync {
    /// Whether `session`'s virtual server publishes an item of `upstream` its caller may use
    /// (then it sees the upstream's log messages).
    fn shows_upstream(&self, session: &Session, upstream: &str) -> bool;
    /// The upstream that serves `uri` in `session`'s catalog, if it publishes it and the caller
    /// may read it (then it hears of its updates).
    fn uri_owner(&self, session: &Session, uri: &str) -> Option<String>;
}

/// One session's view of the notes.
pub(crate) struct SessionEvents {
    notes: broadcast::Receiver<Note>,
    catalogs: Arc<dyn Catalogs>,
    /// List changes still to deliver after the channel dropped notes for this session.
    missed: Vec<ItemKind>,
}

impl SessionEvents {
    pub(crate) fn new(notes: &Notes, catalogs: Arc<dyn Catalogs>) -> Self {
        SessionEvents { notes: notes.subscribe(), catalogs, missed: Vec::new() }
    }

    /// The next notification for `session`, encoded; `None` once the gateway stops publishing.
    pub(crate) async fn next(&mut self, session: &Session) -> Option<Vec<u8>> {
        loop {
            if let Some(kind) = self.missed.pop() {
                return Some(encode_notification(kind.list_changed(), None));
            }
            match self.notes.recv().await {
                Ok(note) => {
                    if let Some(message) = self.for_session(session, note) {
                        return Some(message);
                    }
                }
                // Notes were dropped for this slow session: a list change may be among them, and
                // a client that misses one never refreshes. Announce every list; a spare
                // refresh costs a client one list call.
                Err(RecvError::Lagged(_)) => self.missed = vec![ItemKind::Prompt, ItemKind::Resource, ItemKind::Tool],
                Err(RecvError::Closed) => return None,
            }
        }
    }

    /// `note` as `session` should see it, if it may see it at all.
    fn for_session(&self, session: &Session, note: Note) -> Option<Vec<u8>> {
        let server = &session.virtual_server;
        match note {
            Note::ListChanged { virtual_server, kind } => {
                (virtual_server == *server).then(|| encode_notification(kind.list_changed(), None))
            }
            Note::ResourceUpdated { upstream, uri, session: only } => {
                let for_it = only.is_none_or(|id| id == session.id)
                    && session.is_subscribed(&uri, &upstream)
                    && self.catalogs.uri_owner(session, &uri).is_some_and(|owner| owner == upstream);
                for_it.then(|| {
                    encode_notification(
                        "notifications/resources/updated",
                        Some(&raw(&serde_json::json!({ "uri": uri }))),
                    )
                })
            }
            Note::Log { upstream, params } => {
                let (level, message) = log_message(&upstream, &params)?;
                (session.log_level.passes(level) && self.catalogs.shows_upstream(session, &upstream)).then_some(message)
            }
            Note::TaskStatus { upstream, params } => {
                crate::protocol::tasks::status_for(&upstream, params, |id| session.owns(Owned::Task, id))
            }
            Note::ElicitationComplete { params } => {
                let id = params.get("elicitationId").and_then(Value::as_str).unwrap_or_default();
                session
                    .owns(Owned::Elicitation, id)
                    .then(|| encode_notification("notifications/elicitation/complete", Some(&raw(&params))))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::Caller;

    /// Catalogs where `default` publishes upstream `a` and its resource `a://r`.
    struct OneCatalog;

    impl Catalogs for OneCatalog {
        fn shows_upstream(&self, session: &Session, upstream: &str) -> bool {
            session.virtual_server == "default" && upstream == "a"
        }
        fn uri_owner(&self, session: &Session, uri: &str) -> Option<String> {
            (session.virtual_server == "default" && uri == "a://r").then(|| "a".to_string())
        }
    }

    async fn heard(events: &mut SessionEvents, session: &Session) -> Option<Value> {
        let next = tokio::time::timeout(std::time::Duration::from_millis(50), events.next(session)).await;
        next.ok().flatten().map(|m| serde_json::from_slice(&m).unwrap())
    }

    #[tokio::test]
    async fn a_session_hears_only_what_its_virtual_server_publishes_and_it_subscribed_to() {
        let notes = notes();
        let session = Session::detached("default", "2025-11-25", Caller::local());
        let other = Session::detached("ops", "2025-11-25", Caller::local());
        let (mut mine, mut theirs) =
            (SessionEvents::new(&notes, Arc::new(OneCatalog)), SessionEvents::new(&notes, Arc::new(OneCatalog)));
        session.subscribe("a://r", "a");
        other.subscribe("a://r", "a");
        let update =
            |upstream: &str| Note::ResourceUpdated { upstream: upstream.into(), uri: "a://r".into(), session: None };
        notes.send(update("b")).unwrap();
        notes.send(update("a")).unwrap();
        assert_eq!(heard(&mut mine, &session).await.unwrap()["params"]["uri"], "a://r");
        assert!(heard(&mut mine, &session).await.is_none(), "only one update came from the owner");
        assert!(heard(&mut theirs, &other).await.is_none(), "ops does not publish a://r");

        session.log_level.set(crate::protocol::mcp::LogLevel::Warning);
        let log = |level: &str| Note::Log { upstream: "a".into(), params: serde_json::json!({"level": level}) };
        notes.send(log("info")).unwrap();
        notes.send(log("error")).unwrap();
        assert_eq!(heard(&mut mine, &session).await.unwrap()["params"]["level"], "error");
    }
}
