//! The live snapshot: the model, routing table and upstream handles of the current generation,
//! swapped atomically by `reload` and read (lock-free) by `dispatch` on every request.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::auth::Gate;
use crate::model::Model;
use crate::policy::Chain;
use crate::policy::Subject;
use crate::protocol::ItemKind;
use crate::routing::RoutingTable;
use crate::session::{Catalogs, Note, Notes, Session, SessionEvents};
use crate::upstream::{Subscribers, UpstreamHandle};

/// Everything one request needs, consistent with itself. A request keeps its snapshot to the
/// end, so a reload never changes the table under an in-flight call.
pub(crate) struct Snapshot {
    pub model: Arc<Model>,
    pub table: Arc<RoutingTable>,
    pub upstreams: HashMap<String, Arc<UpstreamHandle>>,
    /// The policy chain every request of this generation passes.
    pub policy: Chain,
    /// Resource subscriptions held at upstreams (one book across generations).
    pub subscribers: Arc<Subscribers>,
    /// Client authentication, per virtual server.
    pub gate: Arc<Gate>,
    /// The client request headers some upstream receives (lowercased; usually none).
    pub kept_headers: Vec<String>,
    /// The listener's TLS, when the file asks for it.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
}

impl Snapshot {
    /// A snapshot of `model`, with its policy chain.
    pub(crate) fn new(
        model: Arc<Model>,
        table: Arc<RoutingTable>,
        upstreams: HashMap<String, Arc<UpstreamHandle>>,
        subscribers: Arc<Subscribers>,
    ) -> Snapshot {
        let policy = Chain::build(&model);
        let gate = Arc::new(Gate::build(&model));
        let mut kept_headers: Vec<String> = Vec::new();
        for name in model.upstreams.iter().flat_map(|u| u.forwarding.wanted()) {
            if !kept_headers.iter().any(|n| n == name) {
                kept_headers.push(name.to_string());
            }
        }
        let tls = crate::auth::tls::acceptor(model.serving.tls.as_ref(), model.client_ca());
        Snapshot { model, table, upstreams, policy, subscribers, gate, kept_headers, tls }
    }

    pub(crate) fn upstream(&self, name: &str) -> Option<&Arc<UpstreamHandle>> {
        self.upstreams.get(name)
    }

    /// Whether the table routes the items upstream `name` reports now (not an older set).
    pub(crate) fn routes_items_of(&self, name: &str) -> bool {
        self.upstream(name).is_some_and(|handle| self.table.lists(name, &handle.items()))
    }

    /// Whether every upstream has finished its first connection attempt.
    pub(crate) fn settled(&self) -> bool {
        self.upstreams.values().all(|u| u.settled())
    }
}

/// The outcome of the last reload, shown on `/readyz`.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub(crate) struct ReloadStatus {
    /// `ok` or `failed`; empty before the first reload.
    pub result: &'static str,
    pub generation: u64,
    /// Seconds since the Unix epoch.
    pub at: u64,
    pub diagnostics: Vec<String>,
}

pub(crate) struct Live {
    current: ArcSwap<Snapshot>,
    /// Where list changes (from swaps) and upstreams' notes go to sessions.
    notes: Notes,
    last_reload: ArcSwap<ReloadStatus>,
}

impl Live {
    /// `notes` is the channel the upstreams report on; list changes join it.
    pub(crate) fn new(snapshot: Snapshot, notes: Notes) -> Self {
        Live {
            current: ArcSwap::from_pointee(snapshot),
            notes,
            last_reload: ArcSwap::from_pointee(ReloadStatus::default()),
        }
    }

    pub(crate) fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Installs `next` and announces every catalog list that changed.
    pub(crate) fn swap(&self, next: Snapshot) -> Arc<Snapshot> {
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
                    let _ = self.notes.send(Note::ListChanged { virtual_server: server.to_string(), kind });
                }
            }
        }
        previous
    }

    /// What one session hears from now on, judged against the catalogs current at each note.
    pub(crate) fn events(self: &Arc<Self>) -> SessionEvents {
        SessionEvents::new(&self.notes, self.clone())
    }

    pub(crate) fn set_reload_status(&self, status: ReloadStatus) {
        self.last_reload.store(Arc::new(status));
    }

    pub(crate) fn reload_status(&self) -> Arc<ReloadStatus> {
        self.last_reload.load_full()
    }
}

impl Catalogs for Live {
    fn shows_upstream(&self, session: &Session, upstream: &str) -> bool {
        let snapshot = self.current.load();
        let Some(catalog) = snapshot.table.catalog(&session.virtual_server) else { return false };
        if !catalog.includes_upstream(upstream) {
            return false;
        }
        if snapshot.policy.is_empty() {
            return true;
        }
        // An upstream's log messages are about all its items; a caller hears them only when it
        // may use one of them.
        ItemKind::ALL.iter().any(|&kind| {
            catalog.list(kind).iter().filter(|item| item.route.upstream == upstream).any(|item| {
                let subject = Subject {
                    caller: &session.caller,
                    virtual_server: &session.virtual_server,
                    method: crate::policy::use_method(kind),
                    item: Some(item),
                    uri: None,
                    listing: true,
                };
                snapshot.policy.check(&subject).is_ok()
            })
        })
    }

    fn uri_owner(&self, session: &Session, uri: &str) -> Option<String> {
        let snapshot = self.current.load();
        let item = snapshot.table.catalog(&session.virtual_server)?.resolve_uri(uri)?;
        // Rules may have changed since the subscription was made: updates follow the current ones.
        let subject = Subject {
            caller: &session.caller,
            virtual_server: &session.virtual_server,
            method: "resources/read",
            item: Some(item),
            uri: Some(uri),
            listing: false,
        };
        snapshot.policy.check(&subject).ok()?;
        Some(item.route.upstream.clone())
    }
}
