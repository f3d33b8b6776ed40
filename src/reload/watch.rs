//! What triggers a reload: changes in the config file's directory (editors and Kubernetes
//! ConfigMaps replace the file rather than write it) and SIGHUP.

use std::sync::Arc;
use std::time::Duration;

use notify_debouncer_mini::{DebounceEventResult, new_debouncer, notify::RecursiveMode};
use tokio::sync::mpsc;

use super::Reloader;

/// Watches until the reloader is dropped. Without a working file watcher, SIGHUP still works.
/// Inline configs (`mcpgw bridge`) have nothing to watch.
pub fn watch(reloader: &Arc<Reloader>) {
    let (tx, mut rx) = mpsc::channel::<()>(1);
    let super::Source::File(path) = reloader.source() else { return };
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).map_or_else(|| ".".into(), |p| p.to_path_buf());
    let watcher = new_debouncer(Duration::from_millis(150), move |result: DebounceEventResult| {
        if result.is_ok() {
            let _ = tx.try_send(());
        }
    })
    .and_then(|mut debouncer| {
        debouncer.watcher().watch(&dir, RecursiveMode::NonRecursive)?;
        // OpenAPI documents elsewhere: their directories too (as the file named them at start).
        for other in super::document_dirs(reloader.source()) {
            if other != dir
                && let Err(e) = debouncer.watcher().watch(&other, RecursiveMode::NonRecursive)
            {
                tracing::warn!(dir = %other.display(), error = %e, "cannot watch a document's directory; reload with SIGHUP");
            }
        }
        Ok(debouncer)
    });
    let watcher = match watcher {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot watch the config directory; reload with SIGHUP");
            None
        }
    };
    let weak = Arc::downgrade(reloader);
    tokio::spawn(async move {
        let _watcher = watcher;
        while rx.recv().await.is_some() {
            let Some(r) = weak.upgrade() else { return };
            r.reload_if_changed().await;
        }
    });
    let weak = Arc::downgrade(reloader);
    tokio::spawn(async move {
        let Ok(mut hangups) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
            return;
        };
        while hangups.recv().await.is_some() {
            let Some(r) = weak.upgrade() else { return };
            r.reload("SIGHUP").await;
        }
    });
}
