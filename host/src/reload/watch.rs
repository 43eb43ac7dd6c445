//! Watching the policy root: a reload on every change to what a reload
//! reads (folders of a directory of projects included), once the files have
//! been quiet for the settle time.

use super::Reloader;
use std::sync::{Arc, Weak, mpsc};
use std::time::Duration;

/// Watches the policy's file or directory while the returned value lives.
pub struct Watch {
    _watcher: notify::RecommendedWatcher,
}

/// True for the events that can change what a reload reads: writes,
/// creations, removals, renames. Opening, reading and closing after a read
/// (the reloader's own reads among them), and metadata changes, are not.
fn changes_content(kind: &notify::EventKind) -> bool {
    use notify::EventKind;
    use notify::event::{AccessKind, AccessMode, MetadataKind, ModifyKind};
    match kind {
        EventKind::Create(_) | EventKind::Remove(_) => true,
        // A new modification time (what polling watchers report for a
        // write); permissions, ownership and access times are not content.
        EventKind::Modify(ModifyKind::Metadata(m)) => matches!(m, MetadataKind::WriteTime),
        EventKind::Modify(_) => true,
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) | EventKind::Any | EventKind::Other => false,
    }
}

/// Watches the policy's file or directory and reloads on a change to their
/// content, once the files have been quiet for the settle time. The watch
/// stops when the returned value is dropped.
pub fn watch(reloader: &Arc<Reloader>) -> Option<Watch> {
    let path = reloader.watched_path()?;
    let target = std::fs::canonicalize(&path).ok()?;
    // Watch the parent of a file: editors replace files by renaming.
    let (dir, only) = if target.is_dir() {
        (target.clone(), None)
    } else {
        (target.parent()?.to_owned(), Some(target.clone()))
    };
    let (tx, rx) = mpsc::channel::<()>();
    let handler = move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        let relevant = changes_content(&event.kind)
            && only
                .as_ref()
                .is_none_or(|f| event.paths.iter().any(|p| p == f));
        if relevant {
            let _ = tx.send(());
        }
    };
    let mut watcher = match notify::recommended_watcher(handler) {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the policy; reload with SIGHUP or the admin API");
            return None;
        }
    };
    // A directory of projects has a folder per project: watch them too.
    let mode = if target.is_dir() {
        notify::RecursiveMode::Recursive
    } else {
        notify::RecursiveMode::NonRecursive
    };
    if let Err(e) = notify::Watcher::watch(&mut watcher, &dir, mode) {
        tracing::warn!(error = %e, dir = %dir.display(), "cannot watch the policy; reload with SIGHUP or the admin API");
        return None;
    }
    let weak = Arc::downgrade(reloader);
    let settle = reloader.settle;
    let spawned = std::thread::Builder::new()
        .name("policy-watch".into())
        .spawn(move || reload_on_changes(&rx, settle, &weak));
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot watch the policy; reload with SIGHUP or the admin API");
        return None;
    }
    tracing::info!(path = %target.display(), "watching the policy for changes");
    Some(Watch { _watcher: watcher })
}

/// Waits for a change, then for `settle` without one, then reloads; until
/// the watcher (the sender) is dropped or the reloader is gone.
fn reload_on_changes(rx: &mpsc::Receiver<()>, settle: Duration, reloader: &Weak<Reloader>) {
    while rx.recv().is_ok() {
        loop {
            match rx.recv_timeout(settle) {
                Ok(()) => {}
                Err(mpsc::RecvTimeoutError::Timeout) => break,
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
        }
        let Some(reloader) = reloader.upgrade() else {
            return;
        };
        let _ = reloader.reload("file");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::EventKind;
    use notify::event::{
        AccessKind, AccessMode, CreateKind, DataChange, MetadataKind, ModifyKind, RemoveKind,
        RenameMode,
    };

    /// Issue 14, item 12: what the reloader's own reads cause (inotify's
    /// `OPEN`, reads, closing after a read) and metadata changes never start
    /// a reload; writes, creations, removals and renames do.
    #[test]
    fn only_content_changes_start_a_reload() {
        for kind in [
            EventKind::Access(AccessKind::Open(AccessMode::Any)),
            EventKind::Access(AccessKind::Read),
            EventKind::Access(AccessKind::Close(AccessMode::Read)),
            EventKind::Access(AccessKind::Any),
            EventKind::Modify(ModifyKind::Metadata(MetadataKind::Any)),
            EventKind::Modify(ModifyKind::Metadata(MetadataKind::AccessTime)),
            EventKind::Modify(ModifyKind::Metadata(MetadataKind::Permissions)),
            EventKind::Any,
            EventKind::Other,
        ] {
            assert!(!changes_content(&kind), "{kind:?}");
        }
        for kind in [
            EventKind::Modify(ModifyKind::Data(DataChange::Any)),
            EventKind::Modify(ModifyKind::Data(DataChange::Content)),
            EventKind::Modify(ModifyKind::Any),
            EventKind::Modify(ModifyKind::Name(RenameMode::To)),
            EventKind::Modify(ModifyKind::Name(RenameMode::From)),
            EventKind::Modify(ModifyKind::Metadata(MetadataKind::WriteTime)),
            EventKind::Create(CreateKind::File),
            EventKind::Remove(RemoveKind::File),
            EventKind::Access(AccessKind::Close(AccessMode::Write)),
        ] {
            assert!(changes_content(&kind), "{kind:?}");
        }
    }
}
