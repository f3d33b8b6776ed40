//! Turning the file into the live snapshot, at start and on every change: load → validate →
//! build, then swap. A rejected file leaves the live snapshot untouched. Upstreams whose
//! definition did not change keep running.

mod watch;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::{Mutex, Notify};

use crate::config::env::Env;
use crate::config::{self, Diagnostic};
use crate::live::{Live, ReloadStatus, Snapshot};
use crate::model::{self, ListKind, Model, Unprovided};
use crate::routing::{self, RoutingTable};
use crate::upstream::{Outlets, UpstreamHandle, UpstreamState};

/// How long a reload waits at most for a replacing connection before it swaps.
const REPLACEMENT_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

pub(crate) use watch::watch;

/// A config that passed every check, ready to serve.
pub(crate) struct Prepared {
    pub model: Model,
    /// Warnings (errors never reach here).
    pub diagnostics: Vec<Diagnostic>,
    /// Where each key of the file was, for findings made after validation.
    pub positions: config::Positions,
}

/// Where a config comes from: a file (watched and reloaded), or text built by `mcpgw bridge`.
#[derive(Clone, Debug)]
pub(crate) enum Source {
    File(PathBuf),
    /// Config text with a name for diagnostics; relative paths resolve from the working directory.
    Inline {
        label: PathBuf,
        text: String,
    },
}

impl Source {
    /// The name diagnostics use for this config.
    pub(crate) fn label(&self) -> &Path {
        match self {
            Source::File(path) => path,
            Source::Inline { label, .. } => label,
        }
    }

    fn read(&self) -> Result<String, Vec<Diagnostic>> {
        match self {
            Source::File(path) => std::fs::read_to_string(path).map_err(|e| {
                vec![Diagnostic::error(config::Pos::default(), "", format!("cannot read the file: {e}")).in_file(path)]
            }),
            Source::Inline { text, .. } => Ok(text.clone()),
        }
    }
}

/// Load → validate → build. `mcpgw check`, start-up and every reload run exactly this.
pub(crate) fn prepare(path: &Path, env: &dyn Env) -> Result<Prepared, Vec<Diagnostic>> {
    prepare_source(&Source::File(path.to_path_buf()), env)
}

fn prepare_source(source: &Source, env: &dyn Env) -> Result<Prepared, Vec<Diagnostic>> {
    let path = source.label();
    let mut loaded = config::parse(path, &source.read()?)?;
    let base_dir = base_dir(path);
    let mut documents = HashMap::new();
    for spec in loaded.document_paths() {
        let text = std::fs::read_to_string(base_dir.join(&spec)).map_err(|e| format!("cannot read {spec}: {e}"));
        documents.insert(spec, text);
    }
    // `openapi:` upstreams become `rest:` ones, so validation checks them without the documents.
    loaded.imported = crate::openapi::convert_upstreams(&loaded, &documents);
    loaded.files = documents.into_iter().map(|(path, text)| (path, text.map_err(|e| short_reason(&e)))).collect();
    // REST tools and keys are compiled by the code that serves them, so what checks clean serves.
    let (model, mut diagnostics) =
        model::validate_with(&loaded, env, &base_dir, &crate::rest::Checks, &crate::auth::Checks);
    let mut all: Vec<Diagnostic> = std::mem::take(&mut loaded.findings);
    all.append(&mut diagnostics);
    let mut all: Vec<Diagnostic> = all.into_iter().map(|d| d.in_file(path)).collect();
    all.sort_by_key(|d| (d.line, d.column));
    match model {
        Some(model) => Ok(Prepared { model, diagnostics: all, positions: loaded.positions }),
        None => Err(all),
    }
}

/// `cannot read x: why` as just `why` (the diagnostic names the file itself).
fn short_reason(e: &str) -> String {
    e.split_once(": ").map_or(e, |(_, why)| why).to_string()
}

/// Owns the live snapshot's lifecycle: the first load, reloads, table rebuilds when upstream
/// items change, and stopping every upstream at exit.
pub(crate) struct Reloader {
    source: Source,
    env: Arc<dyn Env>,
    pub live: Arc<Live>,
    generation: AtomicU64,
    /// Serializes reloads and rebuilds, so swaps happen one at a time.
    swapping: Mutex<()>,
    items_changed: Arc<Notify>,
    outlets: Outlets,
    /// Hash of the file content last tried, so a watch event for unchanged content is ignored.
    last_content: std::sync::Mutex<Option<u64>>,
}

impl Reloader {
    /// Loads the file and starts its upstreams. Fails (with diagnostics) when the file is invalid.
    pub(crate) fn start(
        source: Source,
        env: Arc<dyn Env>,
    ) -> Result<(Arc<Reloader>, Vec<Diagnostic>), Vec<Diagnostic>> {
        Reloader::start_with(source, env, &|_: &Model| None)
    }

    /// Like `start`, but starts only the upstreams `select` names for the loaded model (all when
    /// it names none: `None`). The others have no handle, so they publish nothing; a later
    /// reload starts them. For one-shot commands such as `mcpgw call`, which need one owner.
    pub(crate) fn start_with(
        source: Source,
        env: Arc<dyn Env>,
        select: &dyn Fn(&Model) -> Option<Vec<String>>,
    ) -> Result<(Arc<Reloader>, Vec<Diagnostic>), Vec<Diagnostic>> {
        let prepared = prepare_source(&source, env.as_ref())?;
        let selected = select(&prepared.model);
        let items_changed = Arc::new(Notify::new());
        let outlets = Outlets {
            items_changed: items_changed.clone(),
            notes: crate::session::events::notes(),
            subscribers: Arc::default(),
        };
        let upstreams = start_upstreams(&prepared.model, &HashMap::new(), &outlets, selected.as_deref());
        let model = Arc::new(prepared.model);
        let table = Arc::new(build_table(1, &model, &upstreams));
        let snapshot = Snapshot::new(model, table, upstreams, outlets.subscribers.clone());
        let live = Arc::new(Live::new(snapshot, outlets.notes.clone()));
        live.set_reload_status(ReloadStatus { result: "ok", generation: 1, at: unix_now(), diagnostics: vec![] });
        let reloader = Arc::new(Reloader {
            last_content: std::sync::Mutex::new(content_hash(&source)),
            source,
            env,
            live,
            generation: AtomicU64::new(1),
            swapping: Mutex::new(()),
            items_changed,
            outlets,
        });
        tokio::spawn(rebuild_on_item_changes(Arc::downgrade(&reloader)));
        Ok((reloader, prepared.diagnostics))
    }

    pub(crate) fn source(&self) -> &Source {
        &self.source
    }

    /// Reloads when the file's content differs from what was last tried.
    pub(crate) async fn reload_if_changed(&self) {
        let hash = content_hash(&self.source);
        if hash.is_none() || *self.last_content.lock().unwrap() == hash {
            return;
        }
        self.reload("file changed").await;
    }

    /// Load → validate → build → swap. Returns whether the new file was applied.
    pub(crate) async fn reload(&self, reason: &str) -> bool {
        let _one_at_a_time = self.swapping.lock().await;
        let started = Instant::now();
        *self.last_content.lock().unwrap() = content_hash(&self.source);
        let prepared = match prepare_source(&self.source, self.env.as_ref()) {
            Ok(p) => p,
            Err(diagnostics) => {
                let rendered: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
                tracing::error!(
                    file = %self.source.label().display(), %reason, errors = diagnostics.iter().filter(|d| d.is_error()).count(),
                    diagnostics = %rendered.join("\n"),
                    "config rejected; still serving generation {}", self.generation.load(Ordering::Relaxed)
                );
                let current = self.generation.load(Ordering::Relaxed);
                self.live.set_reload_status(ReloadStatus {
                    result: "failed",
                    generation: current,
                    at: unix_now(),
                    diagnostics: rendered,
                });
                return false;
            }
        };
        for d in &prepared.diagnostics {
            tracing::warn!(file = %self.source.label().display(), "{d}");
        }
        let previous = self.live.snapshot();
        // What the new file makes of the items known now: the catalogs it changes, and names
        // it lists that no connected upstream provides.
        let known = previous.upstreams.iter().map(|(name, h)| (name.clone(), h.items())).collect();
        let preview = routing::build(previous.table.generation, &prepared.model, &known);
        let mut live_findings = Vec::new();
        for u in live_unprovided(&prepared.model, &previous.upstreams) {
            // REST tools were judged by validation already.
            if prepared.diagnostics.iter().any(|d| d.path == u.path) {
                continue;
            }
            let d = Diagnostic::warning(prepared.positions.of(&u.path), u.path, u.message).with_help(u.help);
            let d = d.in_file(self.source.label());
            tracing::warn!(file = %self.source.label().display(), "{d}");
            live_findings.push(d);
        }
        let upstreams = start_upstreams(&prepared.model, &previous.upstreams, &self.outlets, None);
        make_before_break(&previous.upstreams, &upstreams).await;
        let (added, removed, changed) = diff(&previous.model, &prepared.model);
        for (name, old) in &previous.upstreams {
            let kept = upstreams.get(name).is_some_and(|new| Arc::ptr_eq(new, old));
            if !kept {
                let old = old.clone();
                // In-flight calls hold the old connection and finish on it; then it closes.
                tokio::spawn(async move { old.stop().await });
            }
        }
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        let model = Arc::new(prepared.model);
        let table = Arc::new(build_table(generation, &model, &upstreams));
        let changes = catalog_changes(&previous.table, &preview, &model);
        // The status first: a /readyz that shows the new generation never shows the previous
        // reload's result with it (a rejection there would look like this file's).
        let rendered = prepared.diagnostics.iter().chain(&live_findings).map(ToString::to_string).collect();
        self.live.set_reload_status(ReloadStatus { result: "ok", generation, at: unix_now(), diagnostics: rendered });
        self.live.swap(Snapshot::new(model, table, upstreams, self.outlets.subscribers.clone()));
        tracing::info!(
            generation, %reason, ?added, ?removed, ?changed, elapsed_us = started.elapsed().as_micros() as u64,
            "config reloaded"
        );
        for change in changes {
            tracing::info!(
                generation, virtual_server = %change.virtual_server, added = ?change.added, removed = ?change.removed,
                "catalog changed"
            );
        }
        true
    }

    /// Rebuilds the table of the current generation from the upstreams' current items.
    /// Rebuilds the table from the items upstreams report right now.
    pub(crate) async fn rebuild(&self) {
        let _one_at_a_time = self.swapping.lock().await;
        let current = self.live.snapshot();
        let table = Arc::new(build_table(current.table.generation, &current.model, &current.upstreams));
        let (model, upstreams) = (current.model.clone(), current.upstreams.clone());
        self.live.swap(Snapshot::new(model, table, upstreams, self.outlets.subscribers.clone()));
    }

    /// Stops every upstream (children exit) and waits for them.
    pub(crate) async fn shutdown(&self) {
        let snapshot = self.live.snapshot();
        let stops = snapshot.upstreams.values().map(|u| u.stop());
        futures_util::future::join_all(stops).await;
    }
}

/// Starts the upstreams of `model` (only those named in `only`, when given), reusing a running
/// handle whose connection settings are unchanged (a new prefix, filter or shape only rebuilds
/// the table).
fn start_upstreams(
    model: &Model,
    running: &HashMap<String, Arc<UpstreamHandle>>,
    outlets: &Outlets,
    only: Option<&[String]>,
) -> HashMap<String, Arc<UpstreamHandle>> {
    model
        .upstreams
        .iter()
        .filter(|spec| only.is_none_or(|names| names.contains(&spec.name)))
        .map(|spec| {
            let handle = match running.get(&spec.name) {
                Some(h) if h.spec.connects_like(spec) => h.clone(),
                Some(h) => UpstreamHandle::start_replacing(spec.clone(), outlets.clone(), h),
                None => UpstreamHandle::start(spec.clone(), outlets.clone()),
            };
            (spec.name.clone(), handle)
        })
        .collect()
}

/// Waits for the connections that replace running ones (their settings changed) to finish their
/// first attempt, so the swap finds their items listed and no call meets an unknown tool;
/// the old ones keep serving meanwhile and drain after the swap.
async fn make_before_break(
    running: &HashMap<String, Arc<UpstreamHandle>>,
    next: &HashMap<String, Arc<UpstreamHandle>>,
) {
    let replacing = next.iter().filter(|(name, new)| running.get(*name).is_some_and(|old| !Arc::ptr_eq(old, new)));
    let waits = replacing.map(|(name, new)| async move {
        let limit = new.spec.timeout.min(REPLACEMENT_WAIT);
        new.settle(limit).await;
        if new.status().state != UpstreamState::Up {
            tracing::warn!(upstream = %name, error = new.status().error.as_deref().unwrap_or("not connected yet"),
                keep_listed_for = ?new.spec.reconnect.grace,
                "the upstream's new connection is not up; the old one stops as the file asks, its items stay listed while the new one retries");
        }
    });
    futures_util::future::join_all(waits).await;
}

/// Literal names in `model`'s virtual servers that no upstream publishes, judged from the items
/// of the connected upstreams among `running` (by name); the others' names are unknown.
pub(crate) fn live_unprovided(model: &Model, running: &HashMap<String, Arc<UpstreamHandle>>) -> Vec<Unprovided> {
    let offered = |name: &str, kind: ListKind| -> Option<Vec<model::Offered>> {
        let (upstream, handle) = (model.upstream(name)?, running.get(name)?);
        let up = handle.status().state == UpstreamState::Up;
        up.then(|| routing::offered(upstream, &handle.items(), kind, &model.separator))
    };
    let owners: Vec<(String, String)> = model.upstreams.iter().map(|u| (u.name.clone(), u.prefix.clone())).collect();
    model::unprovided(&model.virtual_servers, &model.access, &owners, &model.separator, &offered)
}

/// What one reload changed in one virtual server's catalog.
struct CatalogChange {
    virtual_server: String,
    /// `tool a_echo`, `resource file:///x`, …
    added: Vec<String>,
    removed: Vec<String>,
}

/// Items each virtual server of `model` gains or loses between two tables.
fn catalog_changes(old: &RoutingTable, new: &RoutingTable, model: &Model) -> Vec<CatalogChange> {
    let names = |table: &RoutingTable, server: &str| -> std::collections::BTreeSet<String> {
        table.catalog(server).map(|c| c.labelled_items().collect()).unwrap_or_default()
    };
    let mut servers: Vec<&str> = model.virtual_servers.iter().map(|v| v.name.as_str()).collect();
    servers.extend(old.virtual_servers().filter(|s| model.virtual_server(s).is_none()));
    servers
        .into_iter()
        .filter_map(|server| {
            let (before, after) = (names(old, server), names(new, server));
            let added: Vec<String> = after.difference(&before).cloned().collect();
            let removed: Vec<String> = before.difference(&after).cloned().collect();
            (!added.is_empty() || !removed.is_empty()).then(|| CatalogChange {
                virtual_server: server.to_string(),
                added,
                removed,
            })
        })
        .collect()
}

fn build_table(generation: u64, model: &Model, upstreams: &HashMap<String, Arc<UpstreamHandle>>) -> RoutingTable {
    let items = upstreams.iter().map(|(name, h)| (name.clone(), h.items())).collect();
    let table = routing::build(generation, model, &items);
    for note in &table.collisions {
        tracing::warn!(generation, "name collision: {note}");
    }
    for d in &table.drift {
        tracing::warn!(generation, upstream = %d.upstream, tool = %d.tool, pinned = %d.pinned, actual = %d.actual,
            blocked = d.blocked, "a pinned tool's definition changed upstream{}",
            if d.blocked { "; withheld until the pin is updated" } else { "" });
    }
    table
}

async fn rebuild_on_item_changes(reloader: std::sync::Weak<Reloader>) {
    let Some(notify) = reloader.upgrade().map(|r| r.items_changed.clone()) else {
        return;
    };
    loop {
        notify.notified().await;
        let Some(r) = reloader.upgrade() else { return };
        r.rebuild().await;
    }
}

/// Names of upstreams added, removed and changed between two models.
fn diff(old: &Model, new: &Model) -> (Vec<String>, Vec<String>, Vec<String>) {
    let added = new.upstreams.iter().filter(|u| old.upstream(&u.name).is_none()).map(|u| u.name.clone()).collect();
    let removed = old.upstreams.iter().filter(|u| new.upstream(&u.name).is_none()).map(|u| u.name.clone()).collect();
    let changed = new
        .upstreams
        .iter()
        .filter(|u| old.upstream(&u.name).is_some_and(|o| o != *u))
        .map(|u| u.name.clone())
        .collect();
    (added, removed, changed)
}

/// The directory relative paths in the config are taken from.
fn base_dir(config: &Path) -> PathBuf {
    match config.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A hash of the config text and of the documents it refers to, so a changed OpenAPI document
/// reloads like a changed config.
fn content_hash(source: &Source) -> Option<u64> {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let text = source.read().ok()?;
    let mut h = DefaultHasher::new();
    text.hash(&mut h);
    if let Ok(loaded) = config::parse(source.label(), &text) {
        let dir = base_dir(source.label());
        for spec in loaded.document_paths() {
            std::fs::read(dir.join(&spec)).ok().hash(&mut h);
        }
    }
    Some(h.finish())
}

/// Directories of the documents the current config refers to (watched besides the config's own).
pub(crate) fn document_dirs(source: &Source) -> Vec<PathBuf> {
    let Ok(text) = source.read() else { return Vec::new() };
    let Ok(loaded) = config::parse(source.label(), &text) else { return Vec::new() };
    let dir = base_dir(source.label());
    loaded.document_paths().iter().filter_map(|spec| dir.join(spec).parent().map(Path::to_path_buf)).collect()
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}
