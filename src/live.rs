//! The live snapshot: the model, routing table and upstream handles of the current generation,
//! swapped atomically by `reload` and read (lock-free) by `dispatch` on every request.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::sync::broadcast;

use crate::model::Model;
use crate::protocol::ItemKind;
use crate::routing::RoutingTable;
use crate::upstream::UpstreamHandle;

/// Everything one request needs, consistent with itself. A request keeps its snapshot to the
/// end, so a reload never changes the table under an in-flight call.
pub struct Snapshot {
    pub model: Arc<Model>,
    pub table: Arc<RoutingTable>,
    pub upstreams: HashMap<String, Arc<UpstreamHandle>>,
}

impl Snapshot {
    pub fn upstream(&self, name: &str) -> Option<&Arc<UpstreamHandle>> {
        self.upstreams.get(name)
    }

    /// Whether every upstream has finished its first connection attempt.
    pub fn settled(&self) -> bool {
        self.upstreams.values().all(|u| u.settled())
    }
}

/// A catalog's list of one kind changed; sessions of that virtual server are told.
#[derive(Clone, Debug, PartialEq)]
pub struct CatalogChange {
    pub virtual_server: String,
    pub kind: ItemKind,
}

/// The outcome of the last reload, shown on `/readyz`.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ReloadStatus {
    /// `ok` or `failed`; empty before the first reload.
    pub result: &'static str,
    pub generation: u64,
    /// Seconds since the Unix epoch.
    pub at: u64,
    pub diagnostics: Vec<String>,
}

/// A notification from an upstream meant for some sessions only: a log message (for the sessions
/// that asked for its level) or a task's status (for the session that started the task).
#[derive(Clone, Debug)]
pub struct LogMessage {
    pub upstream: String,
    /// `notifications/message` or `notifications/tasks/status`.
    pub method: &'static str,
    /// The params as the upstream sent them.
    pub params: serde_json::Value,
}

pub struct Live {
    current: ArcSwap<Snapshot>,
    changes: broadcast::Sender<CatalogChange>,
    updates: broadcast::Sender<String>,
    logs: broadcast::Sender<LogMessage>,
    last_reload: ArcSwap<ReloadStatus>,
}

impl Live {
    /// `updates` carries the URIs upstreams report as updated (`notifications/resources/updated`),
    /// `logs` their log messages.
    pub fn new(snapshot: Snapshot, updates: broadcast::Sender<String>, logs: broadcast::Sender<LogMessage>) -> Self {
        let (changes, _) = broadcast::channel(256);
        Live {
            current: ArcSwap::from_pointee(snapshot),
            changes,
            updates,
            logs,
            last_reload: ArcSwap::from_pointee(ReloadStatus::default()),
        }
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Installs `next` and announces every catalog list that changed.
    pub fn swap(&self, next: Snapshot) -> Arc<Snapshot> {
        let next = Arc::new(next);
        let previous = self.current.swap(next.clone());
        for server in next.table.virtual_servers() {
            let now = next.table.catalog(server).expect("listed server exists");
            let before = previous.table.catalog(server);
            for kind in [ItemKind::Tool, ItemKind::Resource, ItemKind::Prompt] {
                let changed = match before {
                    None => false,
                    Some(b) if kind == ItemKind::Resource => {
                        b.fingerprint(ItemKind::Resource) != now.fingerprint(ItemKind::Resource)
                            || b.fingerprint(ItemKind::ResourceTemplate) != now.fingerprint(ItemKind::ResourceTemplate)
                    }
                    Some(b) => b.fingerprint(kind) != now.fingerprint(kind),
                };
                if changed {
                    let _ = self.changes.send(CatalogChange { virtual_server: server.to_string(), kind });
                }
            }
        }
        previous
    }

    pub fn subscribe(&self) -> broadcast::Receiver<CatalogChange> {
        self.changes.subscribe()
    }

    /// URIs of resources that upstreams report as updated, for delivery to subscribed sessions.
    pub fn resource_updates(&self) -> broadcast::Receiver<String> {
        self.updates.subscribe()
    }

    /// Log messages from upstreams.
    pub fn log_messages(&self) -> broadcast::Receiver<LogMessage> {
        self.logs.subscribe()
    }

    pub fn set_reload_status(&self, status: ReloadStatus) {
        self.last_reload.store(Arc::new(status));
    }

    pub fn reload_status(&self) -> Arc<ReloadStatus> {
        self.last_reload.load_full()
    }
}
