//! What triggers a reload: changes in the config file's directory (editors and Kubernetes
//! ConfigMaps replace the file rather than write it) and SIGHUP.

use std::sync::Arc;
use std::time::Duration;

use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use super::Reloader;

/// Editors write a file in several steps and ConfigMaps swap a symlink: one reload after the
/// burst settles.
const SETTLE: Duration = Duration::from_millis(150);

/// Watches until the reloader is dropped. Without a working file watcher, SIGHUP still works.
/// Inline configs (`mcpgw bridge`) have nothing to watch.
pub(crate) fn watch(reloader: &Arc<Reloader>) {
    let (tx, mut rx) = mpsc::channel::<()>(1);
    let super::Source::File(path) = reloader.source() else { return };
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).map_or_else(|| ".".into(), |p| p.to_path_buf());
    let watcher = notify::recommended_watcher(move |result: notify::Result<Event>| {
        if result.is_ok_and(|event| changes_content(&event.kind)) {
            let _ = tx.try_send(());
        }
    })
    .and_then(|mut watcher| {
        watcher.watch(&dir, RecursiveMode::NonRecursive)?;
        // OpenAPI documents elsewhere: their directories too (as the file named them at start).
        for other in super::document_dirs(reloader.source()) {
            if other != dir
                && let Err(e) = watcher.watch(&other, RecursiveMode::NonRecursive)
            {
                tracing::warn!(dir = %other.display(), error = %e, "cannot watch a document's directory; reload with SIGHUP");
            }
        }
        Ok(watcher)
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
            tokio::time::sleep(SETTLE).await;
            while rx.try_recv().is_ok() {}
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

/// Reading a file is an event too (inotify's IN_ACCESS, IN_OPEN, IN_CLOSE_NOWRITE); reacting to
/// those would make every reload, and every other reader of the directory, schedule another.
fn changes_content(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use notify::event::{CreateKind, ModifyKind, RemoveKind, RenameMode};

    use super::*;

    #[test]
    fn reads_do_not_count_as_changes() {
        for read in [AccessKind::Read, AccessKind::Open(AccessMode::Any), AccessKind::Close(AccessMode::Read)] {
            assert!(!changes_content(&EventKind::Access(read)), "{read:?}");
        }
        for change in [
            EventKind::Access(AccessKind::Close(AccessMode::Write)),
            EventKind::Modify(ModifyKind::Any),
            EventKind::Modify(ModifyKind::Name(RenameMode::To)),
            EventKind::Create(CreateKind::File),
            EventKind::Remove(RemoveKind::File),
        ] {
            assert!(changes_content(&change), "{change:?}");
        }
    }
}
