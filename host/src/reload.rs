//! Hot reload of the policy: on a change to its files, SIGHUP, or an
//! admin's `POST /v1/admin/reload`. The files are read once they have settled
//! (unchanged for `reload.settle_ms`, read twice that far apart), a new
//! policy is compiled and its plugins loaded beside the old ones, then
//! swapped in atomically; a bad change is refused, the last good policy keeps
//! serving, and `/v1/status` and the log say why. A reload that finds the
//! same policy and plugins as the ones serving installs nothing and writes no
//! audit record. A decision holds the snapshot it started with, so in-flight
//! decisions finish on their version.

use crate::api::{AppState, Snapshot};
use crate::config::LoadedConfig;
use crate::error::{Error, Result};
use crate::policy::Source;
use crate::runtime::Runtime;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak, mpsc};
use std::time::Duration;

/// Reads of the policy files that may differ before a reload gives up.
const SETTLE_TRIES: usize = 10;

/// The outcome of the latest reload attempt.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Attempt {
    /// Unix time, seconds.
    pub at: u64,
    /// What triggered it: `file`, `sighup`, `api`.
    pub trigger: String,
    /// The administrator who asked, for `api`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
    /// Whether the attempt succeeded (a new policy installed, or the same
    /// one found).
    pub ok: bool,
    /// Whether a new policy or plugin was installed (false when the files
    /// held what was already serving, or the change was refused).
    pub changed: bool,
    /// The version now serving.
    pub serving: String,
    /// Why the change was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// How many reloads ended which way since the server started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    /// A new policy or plugin installed.
    pub installed: u64,
    /// The files held what was already serving: nothing installed.
    pub unchanged: u64,
    /// The change was refused; the last good policy kept serving.
    pub refused: u64,
}

/// Reloads the policy of a running server.
pub struct Reloader {
    runtime: Arc<Runtime>,
    loaded: LoadedConfig,
    state: Weak<AppState>,
    busy: Mutex<()>,
    settle: Duration,
    installed: AtomicU64,
    unchanged: AtomicU64,
    refused: AtomicU64,
}

impl Reloader {
    /// A reloader for `state`, loading with `runtime` from `loaded`.
    pub fn new(runtime: Arc<Runtime>, loaded: LoadedConfig, state: &Arc<AppState>) -> Arc<Self> {
        let settle = Duration::from_millis(loaded.config.reload.settle_ms);
        Arc::new(Self {
            runtime,
            loaded,
            state: Arc::downgrade(state),
            busy: Mutex::new(()),
            settle,
            installed: AtomicU64::new(0),
            unchanged: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        })
    }

    /// How many reloads ended which way since the server started.
    pub fn counts(&self) -> Counts {
        Counts {
            installed: self.installed.load(Ordering::Relaxed),
            unchanged: self.unchanged.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
        }
    }

    /// Reloads now (blocking: run it off the async workers). Returns the
    /// version serving afterwards, or the reason the change was refused.
    pub fn reload(&self, trigger: &str) -> Result<String> {
        self.reload_as(trigger, None)
    }

    /// [`Reloader::reload`] on behalf of `requested_by` (the administrator
    /// who asked through the API), who is named in the reload's audit record
    /// and in `/v1/status`.
    pub fn reload_as(&self, trigger: &str, requested_by: Option<&str>) -> Result<String> {
        let _one_at_a_time = self.busy.lock();
        let Some(state) = self.state.upgrade() else {
            return Err(Error::Engine("the server is shutting down".into()));
        };
        let old = state.snapshot();
        let previous = old
            .as_ref()
            .map(|s| s.policy.version.clone())
            .unwrap_or_default();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let loaded = self
            .settled_sources()
            .and_then(|sources| crate::server::load_sources(&self.runtime, &self.loaded, sources));
        if let (Ok(snapshot), Some(old)) = (&loaded, &old)
            && same_content(old, snapshot)
        {
            // Nothing to install: keep the serving snapshot (and its
            // instance pools and caches); no audit record, as nothing that
            // decides has changed.
            self.unchanged.fetch_add(1, Ordering::Relaxed);
            tracing::info!(trigger, version = %previous, "policy unchanged; nothing reloaded");
            state.record(Attempt {
                at: now,
                trigger: trigger.into(),
                requested_by: requested_by.map(str::to_owned),
                ok: true,
                changed: false,
                serving: previous.clone(),
                error: None,
            });
            return Ok(previous);
        }
        // A change that cannot be recorded is refused like an invalid one.
        let result = loaded.and_then(|snapshot| {
            if let Some(audit) = state.audit() {
                let old_policy = old.as_ref().map(|s| &s.policy);
                let mut event =
                    policy_event("policy_reload", trigger, old_policy, &snapshot.policy);
                if let Some(admin) = requested_by {
                    event.details.insert("requested_by".into(), admin.into());
                }
                audit.append_blocking(event)?;
                for entry in token_changes(old_policy, &snapshot.policy) {
                    audit.append_blocking(entry)?;
                }
            }
            Ok(snapshot)
        });
        match result {
            Ok(snapshot) => {
                let version = snapshot.policy.version.clone();
                self.installed.fetch_add(1, Ordering::Relaxed);
                state.install_reloaded(
                    snapshot,
                    Attempt {
                        at: now,
                        trigger: trigger.into(),
                        requested_by: requested_by.map(str::to_owned),
                        ok: true,
                        changed: true,
                        serving: version.clone(),
                        error: None,
                    },
                );
                tracing::info!(trigger, previous = %previous, version = %version, "policy reloaded");
                Ok(version)
            }
            Err(e) => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                if let Some(audit) = state.audit() {
                    let mut details = std::collections::BTreeMap::new();
                    details.insert("trigger".into(), trigger.into());
                    if let Some(admin) = requested_by {
                        details.insert("requested_by".into(), admin.into());
                    }
                    details.insert("error".into(), e.to_string().into());
                    let entry = crate::audit::AdminEntry {
                        event: "policy_reload_refused".into(),
                        policy_version: Some(previous.clone()),
                        details,
                        ..Default::default()
                    };
                    if let Err(audit_error) = audit.append_blocking(entry) {
                        tracing::error!(error = %audit_error, "cannot record the refused reload");
                    }
                }
                tracing::error!(trigger, serving = %previous, error = %e, "policy change refused; the last good policy keeps serving");
                state.record(Attempt {
                    at: now,
                    trigger: trigger.into(),
                    requested_by: requested_by.map(str::to_owned),
                    ok: false,
                    changed: false,
                    serving: previous,
                    error: Some(e.to_string()),
                });
                Err(e)
            }
        }
    }

    /// The policy's sources once they hold still: read, wait the settle
    /// time, read again, until two reads agree (bounded). A file written in
    /// place in several steps is so never read half-written, unless its
    /// writer pauses longer than the settle time (write with an atomic
    /// rename to be safe from that too).
    fn settled_sources(&self) -> Result<Vec<Source>> {
        let read = || self.loaded.policy_sources();
        let mut last = read();
        if self.loaded.policy_path().is_none() {
            // The embedded example cannot change.
            return last;
        }
        for _ in 0..SETTLE_TRIES {
            std::thread::sleep(self.settle);
            let again = read();
            if same_read(&last, &again) {
                return again;
            }
            last = again;
        }
        Err(Error::Config {
            path: self
                .watched_path()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            message: format!(
                "the policy files kept changing over {SETTLE_TRIES} reads {} ms apart; \
                 replace files with an atomic rename",
                self.settle.as_millis()
            ),
        })
    }

    /// The policy's path on disk, if it comes from a file or directory.
    pub fn watched_path(&self) -> Option<PathBuf> {
        self.loaded.policy_path()
    }
}

/// True when two reads of the policy's sources found the same files with the
/// same contents (or failed the same way).
fn same_read(a: &Result<Vec<Source>>, b: &Result<Vec<Source>>) -> bool {
    match (a, b) {
        (Ok(a), Ok(b)) => {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|(x, y)| x.name == y.name && x.text == y.text)
        }
        (Err(a), Err(b)) => a.to_string() == b.to_string(),
        _ => false,
    }
}

/// True when `new` holds the policy version and plugin bytes of `old`.
fn same_content(old: &Snapshot, new: &Snapshot) -> bool {
    old.policy.version == new.policy.version
        && old.plugins.len() == new.plugins.len()
        && old
            .plugins
            .iter()
            .zip(&new.plugins)
            .all(|((a, pa), (b, pb))| a == b && pa.digest() == pb.digest())
}

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
    if let Err(e) = notify::Watcher::watch(&mut watcher, &dir, notify::RecursiveMode::NonRecursive)
    {
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

/// The audit record of a policy load or reload: old and new versions.
pub fn policy_event(
    event: &str,
    trigger: &str,
    old: Option<&crate::policy::Policy>,
    new: &crate::policy::Policy,
) -> crate::audit::AdminEntry {
    let mut details = std::collections::BTreeMap::new();
    details.insert("trigger".into(), trigger.into());
    if let Some(old) = old {
        details.insert("old_version".into(), old.version.clone().into());
    }
    details.insert("new_version".into(), new.version.clone().into());
    details.insert("agents".into(), new.agents.len().into());
    crate::audit::AdminEntry {
        event: event.into(),
        project: Some(new.project.clone()),
        policy_version: Some(new.version.clone()),
        details,
        ..Default::default()
    }
}

/// One `token_change` record per agent whose tokens were added, removed or
/// replaced by a reload (counts only: never a token or its hash).
pub fn token_changes(
    old: Option<&crate::policy::Policy>,
    new: &crate::policy::Policy,
) -> Vec<crate::audit::AdminEntry> {
    use std::collections::BTreeSet;
    let tokens = |p: Option<&crate::policy::Policy>, agent: &str| -> BTreeSet<[u8; 32]> {
        p.and_then(|p| p.agents.get(agent))
            .map(|a| a.token_hashes.iter().copied().collect())
            .unwrap_or_default()
    };
    let names: BTreeSet<&String> = new
        .agents
        .keys()
        .chain(old.into_iter().flat_map(|p| p.agents.keys()))
        .collect();
    let mut out = Vec::new();
    for name in names {
        let (before, after) = (tokens(old, name), tokens(Some(new), name));
        if before == after {
            continue;
        }
        let mut details = std::collections::BTreeMap::new();
        details.insert("added".into(), after.difference(&before).count().into());
        details.insert("removed".into(), before.difference(&after).count().into());
        details.insert("tokens".into(), after.len().into());
        out.push(crate::audit::AdminEntry {
            event: "token_change".into(),
            agent: Some(name.clone()),
            project: Some(new.project.clone()),
            policy_version: Some(new.version.clone()),
            details,
            ..Default::default()
        });
    }
    out
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
