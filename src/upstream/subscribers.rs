//! Resource subscriptions held at upstreams for client sessions. An upstream session shared by
//! many clients is subscribed to a URI once, when its first client subscribes, and unsubscribed
//! exactly when the last one goes, by unsubscribing or by ending its session. The book is kept
//! per upstream name, across reconnects and reloads: an upstream that (re)connects is subscribed
//! again to every URI its clients hold.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, Weak};

use super::UpstreamHandle;

/// Who holds which subscription, for every upstream of the gateway.
#[derive(Default)]
pub(crate) struct Subscribers {
    /// By (upstream, URI): the client sessions subscribed, and a turn-taking lock so that the
    /// first subscriber's request to the upstream finishes before a second is counted.
    entries: Mutex<HashMap<(String, String), Entry>>,
    /// The running handle of each upstream, where releases are sent.
    handles: Mutex<HashMap<String, Weak<UpstreamHandle>>>,
}

#[derive(Default)]
struct Entry {
    sessions: HashSet<String>,
    turn: Arc<tokio::sync::Mutex<()>>,
}

/// What a subscriber's leaving means for the upstream.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Left {
    /// It held no subscription there.
    NotHeld,
    /// Others still hold it.
    Others,
    /// It was the last: the upstream is to be unsubscribed.
    Last,
}

impl Subscribers {
    /// Makes `handle` the one releases of its upstream's subscriptions go to.
    pub(super) fn register(&self, handle: &Arc<UpstreamHandle>) {
        self.handles.lock().unwrap().insert(handle.spec.name.clone(), Arc::downgrade(handle));
    }

    /// The lock each subscription's first request to the upstream is made under.
    pub(super) fn turn(&self, upstream: &str, uri: &str) -> Arc<tokio::sync::Mutex<()>> {
        let key = (upstream.to_string(), uri.to_string());
        self.entries.lock().unwrap().entry(key).or_default().turn.clone()
    }

    /// Whether anyone holds a subscription to `uri` at `upstream`.
    pub(super) fn held(&self, upstream: &str, uri: &str) -> bool {
        let key = (upstream.to_string(), uri.to_string());
        self.entries.lock().unwrap().get(&key).is_some_and(|e| !e.sessions.is_empty())
    }

    /// Records `session` as subscribed to `uri` at `upstream`.
    pub(super) fn add(&self, upstream: &str, uri: &str, session: &str) {
        let key = (upstream.to_string(), uri.to_string());
        self.entries.lock().unwrap().entry(key).or_default().sessions.insert(session.to_string());
    }

    /// Forgets `session`'s subscription to `uri` at `upstream`.
    pub(super) fn remove(&self, upstream: &str, uri: &str, session: &str) -> Left {
        let key = (upstream.to_string(), uri.to_string());
        let mut entries = self.entries.lock().unwrap();
        let Some(entry) = entries.get_mut(&key) else { return Left::NotHeld };
        if !entry.sessions.remove(session) {
            return Left::NotHeld;
        }
        if !entry.sessions.is_empty() {
            return Left::Others;
        }
        if Arc::strong_count(&entry.turn) == 1 {
            entries.remove(&key);
        }
        Left::Last
    }

    /// The URIs clients hold at `upstream`, to subscribe a fresh connection to.
    pub(super) fn uris(&self, upstream: &str) -> Vec<String> {
        let entries = self.entries.lock().unwrap();
        entries
            .iter()
            .filter(|((u, _), e)| u == upstream && !e.sessions.is_empty())
            .map(|((_, uri), _)| uri.clone())
            .collect()
    }

    /// Releases everything `session` held (it ended): each upstream hears of the URIs it was the
    /// last subscriber of.
    pub(crate) fn release(&self, session: &str) {
        let held: Vec<(String, String)> = self
            .entries
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, e)| e.sessions.contains(session))
            .map(|(key, _)| key.clone())
            .collect();
        for (upstream, uri) in held {
            if self.remove(&upstream, &uri, session) != Left::Last {
                continue;
            }
            let handle = self.handles.lock().unwrap().get(&upstream).and_then(Weak::upgrade);
            let (Some(handle), Ok(runtime)) = (handle, tokio::runtime::Handle::try_current()) else { continue };
            runtime.spawn(async move { handle.tell_unsubscribed(&uri).await });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_upstream_is_left_when_the_last_subscriber_goes() {
        let book = Subscribers::default();
        book.add("a", "a://r", "s1");
        book.add("a", "a://r", "s2");
        book.add("b", "a://r", "s1");
        assert!(book.held("a", "a://r"));
        assert_eq!(book.remove("a", "a://r", "s3"), Left::NotHeld);
        assert_eq!(book.remove("a", "a://r", "s1"), Left::Others);
        assert_eq!(book.uris("a"), ["a://r"]);
        book.release("s2");
        assert!(!book.held("a", "a://r"), "s2 ending released the last subscription at a");
        assert!(book.held("b", "a://r"), "another upstream's book is its own");
        assert_eq!(book.remove("b", "a://r", "s1"), Left::Last);
    }
}
