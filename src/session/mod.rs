//! Client sessions: the id handed out at `initialize`, the negotiated version, the virtual server
//! the session belongs to, and forgetting sessions that went idle.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

pub struct Session {
    pub id: String,
    pub virtual_server: String,
    pub protocol_version: String,
    /// Set by `notifications/initialized`.
    pub initialized: AtomicBool,
    /// Milliseconds since the registry started, at the last request.
    last_seen: AtomicU64,
    /// Requests in flight by id (as canonical JSON text), so `notifications/cancelled` can stop them.
    in_flight: Mutex<HashMap<String, oneshot::Sender<()>>>,
}

impl Session {
    /// Records a request as in flight. The receiver fires if the client cancels it; dropping the
    /// guard (when the request ends) forgets it.
    pub fn begin(self: &Arc<Self>, id: &serde_json::value::RawValue) -> (oneshot::Receiver<()>, InFlight) {
        let key = canonical_id(id.get());
        let (tx, rx) = oneshot::channel();
        self.in_flight.lock().unwrap().insert(key.clone(), tx);
        (rx, InFlight { session: self.clone(), key })
    }

    /// Cancels the in-flight request with this id; false when there is none.
    pub fn cancel(&self, id: &serde_json::Value) -> bool {
        match self.in_flight.lock().unwrap().remove(&id.to_string()) {
            Some(tx) => tx.send(()).is_ok(),
            None => false,
        }
    }
}

/// Keeps a request registered as in flight until dropped.
pub struct InFlight {
    session: Arc<Session>,
    key: String,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.session.in_flight.lock().unwrap().remove(&self.key);
    }
}

/// Ids compare as JSON values, so `1` from a request matches `1` in a cancellation however spaced.
fn canonical_id(raw: &str) -> String {
    serde_json::from_str::<serde_json::Value>(raw).map(|v| v.to_string()).unwrap_or_else(|_| raw.to_string())
}

pub struct Sessions {
    map: RwLock<HashMap<String, Arc<Session>>>,
    epoch: Instant,
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions { map: RwLock::default(), epoch: Instant::now() }
    }
}

impl Sessions {
    pub fn create(&self, virtual_server: &str, protocol_version: &str) -> Arc<Session> {
        let session = Arc::new(Session {
            id: new_id(),
            virtual_server: virtual_server.to_string(),
            protocol_version: protocol_version.to_string(),
            initialized: AtomicBool::new(false),
            last_seen: AtomicU64::new(self.now_ms()),
            in_flight: Mutex::default(),
        });
        self.map.write().unwrap().insert(session.id.clone(), session.clone());
        session
    }

    /// The session with this id, marked as seen now.
    pub fn get(&self, id: &str) -> Option<Arc<Session>> {
        let session = self.map.read().unwrap().get(id).cloned()?;
        session.last_seen.store(self.now_ms(), Ordering::Relaxed);
        Some(session)
    }

    pub fn remove(&self, id: &str) -> bool {
        self.map.write().unwrap().remove(id).is_some()
    }

    pub fn len(&self) -> usize {
        self.map.read().unwrap().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets sessions idle for longer than `idle`; returns how many.
    pub fn forget_idle(&self, idle: Duration) -> usize {
        let cutoff = self.now_ms().saturating_sub(idle.as_millis() as u64);
        let mut map = self.map.write().unwrap();
        let before = map.len();
        map.retain(|_, s| s.last_seen.load(Ordering::Relaxed) >= cutoff);
        before - map.len()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn cancelling_fires_the_request_receiver_once() {
        let s = Sessions::default();
        let session = s.create("default", "2025-11-25");
        let id = serde_json::value::RawValue::from_string("7".into()).unwrap();
        let (cancelled, guard) = session.begin(&id);
        assert!(session.cancel(&serde_json::json!(7)));
        assert!(cancelled.await.is_ok());
        assert!(!session.cancel(&serde_json::json!(7)), "already cancelled");
        drop(guard);
        let (_rx, guard) = session.begin(&id);
        drop(guard);
        assert!(!session.cancel(&serde_json::json!(7)), "a finished request cannot be cancelled");
    }

    #[test]
    fn sessions_are_created_found_and_removed() {
        let s = Sessions::default();
        let a = s.create("default", "2025-11-25");
        let b = s.create("ops", "2025-03-26");
        assert_ne!(a.id, b.id);
        assert_eq!(a.id.len(), 32);
        assert_eq!(s.get(&b.id).unwrap().virtual_server, "ops");
        assert!(s.remove(&a.id));
        assert!(s.get(&a.id).is_none());
        assert_eq!(s.forget_idle(Duration::from_secs(60)), 0);
    }
}
