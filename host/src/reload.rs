//! Hot reload of the policy: on a change to its files, SIGHUP, or an
//! admin's `POST /v1/admin/reload`. The files are read once they have settled
//! (unchanged for `reload.settle_ms`, read twice that far apart), a new
//! policy is compiled and its plugins loaded beside the old ones, then
//! swapped in atomically; a bad change is refused, the last good policy keeps
//! serving, and `/v1/status` and the log say why. In a directory of
//! projects, a project whose files are refused keeps its last good version
//! while the others' changes install, provided the whole still checks out
//! together (unique names, one identity per token, roles naming projects
//! that exist); otherwise the whole reload is refused. A reload that finds the
//! same policy and plugins as the ones serving installs nothing and writes no
//! audit record. A decision holds the snapshot it started with, so in-flight
//! decisions finish on their version.

use crate::audit::{AdminEntry, AuditLog};
use crate::config::LoadedConfig;
use crate::error::{Error, Result};
use crate::live::{Attempt, Live};
use crate::policy::{Policy, Root};
use crate::runtime::Runtime;
use crate::snapshot::{self, Failure, Snapshot};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak, mpsc};
use std::time::Duration;

/// Reads of the policy files that may differ before a reload gives up.
const SETTLE_TRIES: usize = 10;

/// How many reloads ended which way since the server started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    /// A new policy or plugin installed.
    pub installed: u64,
    /// The files held what was already serving: nothing installed.
    pub unchanged: u64,
    /// The change was refused, in whole or for some projects.
    pub refused: u64,
}

/// What a reload did, when it did not refuse everything.
#[derive(Debug, Clone)]
pub struct Reloaded {
    /// The version serving afterwards.
    pub version: String,
    /// Whether anything new was installed.
    pub changed: bool,
    /// Project folders that were refused and kept their last good version.
    pub failed: Vec<Failure>,
}

/// Reloads the policy of a running server.
pub struct Reloader {
    runtime: Arc<Runtime>,
    loaded: LoadedConfig,
    live: Weak<Live>,
    audit: Option<Arc<AuditLog>>,
    busy: Mutex<()>,
    settle: Duration,
    installed: AtomicU64,
    unchanged: AtomicU64,
    refused: AtomicU64,
}

impl Reloader {
    /// A reloader installing into `live`, loading with `runtime` from
    /// `loaded`, recording into `audit`.
    pub fn new(
        runtime: Arc<Runtime>,
        loaded: LoadedConfig,
        live: &Arc<Live>,
        audit: Option<Arc<AuditLog>>,
    ) -> Arc<Self> {
        let settle = Duration::from_millis(loaded.config.reload.settle_ms);
        Arc::new(Self {
            runtime,
            loaded,
            live: Arc::downgrade(live),
            audit,
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

    /// Reloads now (blocking: run it off the async workers). Returns what
    /// serves afterwards, or the reason the whole change was refused.
    pub fn reload(&self, trigger: &str) -> Result<Reloaded> {
        self.reload_as(trigger, None)
    }

    /// [`Reloader::reload`] on behalf of `requested_by` (the administrator
    /// who asked through the API), who is named in the reload's audit records
    /// and in `/v1/status`.
    pub fn reload_as(&self, trigger: &str, requested_by: Option<&str>) -> Result<Reloaded> {
        let _one_at_a_time = self.busy.lock();
        let Some(live) = self.live.upgrade() else {
            return Err(Error::Engine("the server is shutting down".into()));
        };
        let old = live.snapshot();
        let previous = old
            .as_ref()
            .map(|s| s.version().to_owned())
            .unwrap_or_default();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let attempt = |ok: bool,
                       changed: bool,
                       serving: String,
                       error: Option<String>,
                       failed: Vec<Failure>| Attempt {
            at: now,
            trigger: trigger.into(),
            requested_by: requested_by.map(str::to_owned),
            ok,
            changed,
            serving,
            error,
            failed,
        };
        let loaded = self
            .settled_root()
            .and_then(|root| snapshot::load(&self.runtime, &self.loaded, &root, old.as_deref()));
        if let (Ok(new), Some(old)) = (&loaded, &old)
            && snapshot::same_content(old, &new.snapshot)
        {
            // Nothing to install: keep the serving snapshot (and its
            // instance pools and caches); no audit record of a reload, as
            // nothing that decides has changed.
            let failed = new.failures.clone();
            if failed.is_empty() {
                self.unchanged.fetch_add(1, Ordering::Relaxed);
                tracing::info!(trigger, version = %previous, "policy unchanged; nothing reloaded");
            } else {
                self.refused.fetch_add(1, Ordering::Relaxed);
                self.record_failures(&failed, requested_by, trigger, &previous, old);
            }
            let error = failure_message(&failed);
            live.record(attempt(
                failed.is_empty(),
                false,
                previous.clone(),
                error,
                failed.clone(),
            ));
            return Ok(Reloaded {
                version: previous,
                changed: false,
                failed,
            });
        }
        // A change that cannot be recorded is refused like an invalid one.
        let result = loaded.and_then(|new| {
            if let Some(audit) = &self.audit {
                for mut entry in reload_events(trigger, old.as_deref(), &new.snapshot) {
                    if let Some(admin) = requested_by {
                        entry.details.insert("requested_by".into(), admin.into());
                    }
                    audit.append_blocking(entry)?;
                }
            }
            Ok(new)
        });
        match result {
            Ok(new) => {
                let version = new.snapshot.version().to_owned();
                self.installed.fetch_add(1, Ordering::Relaxed);
                if !new.failures.is_empty() {
                    self.refused.fetch_add(1, Ordering::Relaxed);
                    if let Some(old) = &old {
                        self.record_failures(&new.failures, requested_by, trigger, &version, old);
                    }
                }
                let error = failure_message(&new.failures);
                live.install_reloaded(
                    new.snapshot,
                    attempt(
                        new.failures.is_empty(),
                        true,
                        version.clone(),
                        error,
                        new.failures.clone(),
                    ),
                );
                tracing::info!(trigger, previous = %previous, version = %version, "policy reloaded");
                Ok(Reloaded {
                    version,
                    changed: true,
                    failed: new.failures,
                })
            }
            Err(e) => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                if let Some(audit) = &self.audit {
                    let entry =
                        refused_event(trigger, requested_by, None, &previous, &e.to_string());
                    if let Err(audit_error) = audit.append_blocking(entry) {
                        tracing::error!(error = %audit_error, "cannot record the refused reload");
                    }
                }
                tracing::error!(trigger, serving = %previous, error = %e, "policy change refused; the last good policy keeps serving");
                live.record(attempt(
                    false,
                    false,
                    previous,
                    Some(e.to_string()),
                    Vec::new(),
                ));
                Err(e)
            }
        }
    }

    /// One `policy_reload_refused` record per refused project folder, in the
    /// project's own trail when the folder served one before.
    fn record_failures(
        &self,
        failed: &[Failure],
        requested_by: Option<&str>,
        trigger: &str,
        serving: &str,
        old: &Snapshot,
    ) {
        let Some(audit) = &self.audit else { return };
        for f in failed {
            let project = old
                .projects
                .values()
                .find(|p| p.policy.folder == f.folder)
                .map(|p| p.policy.project.clone());
            let mut entry = refused_event(trigger, requested_by, project, serving, &f.error);
            entry
                .details
                .insert("folder".into(), f.folder.clone().into());
            if let Err(e) = audit.append_blocking(entry) {
                tracing::error!(error = %e, "cannot record the refused project");
            }
        }
    }

    /// The policy root once it holds still: read, wait the settle time,
    /// read again, until two reads agree (bounded). A file written in place
    /// in several steps is so never read half-written, unless its writer
    /// pauses longer than the settle time (write with an atomic rename to be
    /// safe from that too).
    fn settled_root(&self) -> Result<Root> {
        let read = || self.loaded.policy_root();
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

/// One line naming each refused project folder and why.
fn failure_message(failed: &[Failure]) -> Option<String> {
    (!failed.is_empty()).then(|| {
        failed
            .iter()
            .map(|f| {
                format!(
                    "project folder `{}/` keeps its last good version: {}",
                    f.folder, f.error
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    })
}

/// True when two reads of the policy root found the same files with the
/// same contents (or failed the same way).
fn same_read(a: &Result<Root>, b: &Result<Root>) -> bool {
    match (a, b) {
        (Ok(a), Ok(b)) => a == b,
        (Err(a), Err(b)) => a.to_string() == b.to_string(),
        _ => false,
    }
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

/// The audit record of one project's load or reload: old and new versions.
pub fn policy_event(event: &str, trigger: &str, old: Option<&Policy>, new: &Policy) -> AdminEntry {
    let mut details = BTreeMap::new();
    details.insert("trigger".into(), trigger.into());
    if let Some(old) = old {
        details.insert("old_version".into(), old.version.clone().into());
    }
    details.insert("new_version".into(), new.version.clone().into());
    details.insert("agents".into(), new.agents.len().into());
    AdminEntry {
        event: event.into(),
        project: Some(new.project.clone()),
        policy_version: Some(new.version.clone()),
        details,
        ..Default::default()
    }
}

/// The records of installing `new` over `old` (`None` at the start): one
/// `policy_load` or `policy_reload` per project that is new or changed, one
/// `policy_remove` per project gone, `token_change`s (on a reload), and, for
/// a directory of projects, one of the whole root (its own version).
pub fn reload_events(trigger: &str, old: Option<&Snapshot>, new: &Snapshot) -> Vec<AdminEntry> {
    let event = if old.is_some() {
        "policy_reload"
    } else {
        "policy_load"
    };
    let mut out = Vec::new();
    let old_policy = |name: &str| old.and_then(|o| o.project(name)).map(|p| &p.policy);
    for (name, project) in &new.projects {
        let before = old_policy(name);
        if before.is_some_and(|b| b.version == project.policy.version) {
            continue;
        }
        out.push(policy_event(event, trigger, before, &project.policy));
        if old.is_some() {
            out.extend(token_changes(before, &project.policy));
        }
    }
    for (name, project) in old.map(|o| &o.projects).into_iter().flatten() {
        if new.project(name).is_none() {
            let mut details = BTreeMap::new();
            details.insert("trigger".into(), trigger.into());
            details.insert("old_version".into(), project.policy.version.clone().into());
            out.push(AdminEntry {
                event: "policy_remove".into(),
                project: Some(name.clone()),
                policy_version: Some(project.policy.version.clone()),
                details,
                ..Default::default()
            });
        }
    }
    // A directory of projects also has a version of its own (its people,
    // its audit plan, every project's version).
    if new.server.layout == crate::policy::Layout::Projects {
        let mut details = BTreeMap::new();
        details.insert("trigger".into(), trigger.into());
        if let Some(old) = old {
            details.insert("old_version".into(), old.version().into());
        }
        details.insert("new_version".into(), new.version().into());
        details.insert("projects".into(), new.projects.len().into());
        out.push(AdminEntry {
            event: event.into(),
            policy_version: Some(new.version().to_owned()),
            details,
            ..Default::default()
        });
    }
    out
}

/// The record of a refused reload (of the whole root, or of one project).
fn refused_event(
    trigger: &str,
    requested_by: Option<&str>,
    project: Option<String>,
    serving: &str,
    error: &str,
) -> AdminEntry {
    let mut details = BTreeMap::new();
    details.insert("trigger".into(), trigger.into());
    if let Some(admin) = requested_by {
        details.insert("requested_by".into(), admin.into());
    }
    details.insert("error".into(), error.into());
    AdminEntry {
        event: "policy_reload_refused".into(),
        project,
        policy_version: Some(serving.to_owned()),
        details,
        ..Default::default()
    }
}

/// One `token_change` record per agent whose tokens were added, removed or
/// replaced by a reload (counts only: never a token or its hash).
pub fn token_changes(old: Option<&Policy>, new: &Policy) -> Vec<AdminEntry> {
    use std::collections::BTreeSet;
    let tokens = |p: Option<&Policy>, agent: &str| -> BTreeSet<[u8; 32]> {
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
        let mut details = BTreeMap::new();
        details.insert("added".into(), after.difference(&before).count().into());
        details.insert("removed".into(), before.difference(&after).count().into());
        details.insert("tokens".into(), after.len().into());
        out.push(AdminEntry {
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
