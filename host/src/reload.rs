//! Hot reload of the policy: on a file change, SIGHUP, or an admin's
//! `POST /v1/admin/reload`. A new policy is compiled and its plugins loaded
//! beside the old ones, then swapped in atomically; a bad change is refused,
//! the last good policy keeps serving, and `/v1/status` and the log say why.
//! A decision holds the snapshot it started with, so in-flight decisions
//! finish on their version.

use crate::api::AppState;
use crate::config::LoadedConfig;
use crate::error::Result;
use crate::runtime::Runtime;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// The outcome of the latest reload attempt.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Attempt {
    /// Unix time, seconds.
    pub at: u64,
    /// What triggered it: `file`, `sighup`, `api`.
    pub trigger: String,
    /// Whether the new policy was installed.
    pub ok: bool,
    /// The version now serving.
    pub serving: String,
    /// Why the change was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Reloads the policy of a running server.
pub struct Reloader {
    runtime: Arc<Runtime>,
    loaded: LoadedConfig,
    state: Weak<AppState>,
    busy: Mutex<()>,
}

impl Reloader {
    /// A reloader for `state`, loading with `runtime` from `loaded`.
    pub fn new(runtime: Arc<Runtime>, loaded: LoadedConfig, state: &Arc<AppState>) -> Arc<Self> {
        Arc::new(Self {
            runtime,
            loaded,
            state: Arc::downgrade(state),
            busy: Mutex::new(()),
        })
    }

    /// Reloads now (blocking: run it off the async workers). Returns the
    /// version serving afterwards, or the reason the change was refused.
    pub fn reload(&self, trigger: &str) -> Result<String> {
        let _one_at_a_time = self.busy.lock();
        let Some(state) = self.state.upgrade() else {
            return Err(crate::Error::Engine("the server is shutting down".into()));
        };
        let old = state.snapshot();
        let previous = old
            .as_ref()
            .map(|s| s.policy.version.clone())
            .unwrap_or_default();
        // A change that cannot be recorded is refused like an invalid one.
        let result = crate::server::load(&self.runtime, &self.loaded).and_then(|snapshot| {
            if let Some(audit) = state.audit() {
                let old_policy = old.as_ref().map(|s| &s.policy);
                audit.append_blocking(policy_event(
                    "policy_reload",
                    trigger,
                    old_policy,
                    &snapshot.policy,
                ))?;
                for entry in token_changes(old_policy, &snapshot.policy) {
                    audit.append_blocking(entry)?;
                }
            }
            Ok(snapshot)
        });
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        match result {
            Ok(snapshot) => {
                let version = snapshot.policy.version.clone();
                state.install_reloaded(
                    snapshot,
                    Attempt {
                        at: now,
                        trigger: trigger.into(),
                        ok: true,
                        serving: version.clone(),
                        error: None,
                    },
                );
                tracing::info!(trigger, previous = %previous, version = %version, "policy reloaded");
                Ok(version)
            }
            Err(e) => {
                if let Some(audit) = state.audit() {
                    let mut details = std::collections::BTreeMap::new();
                    details.insert("trigger".into(), trigger.into());
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
                    ok: false,
                    serving: previous,
                    error: Some(e.to_string()),
                });
                Err(e)
            }
        }
    }

    /// The policy's path on disk, if it comes from a file or directory.
    pub fn watched_path(&self) -> Option<PathBuf> {
        self.loaded.policy_path()
    }
}

/// Watches the policy's file or directory and reloads on change (debounced).
/// The watch stops when the returned value is dropped.
pub fn watch(
    reloader: &Arc<Reloader>,
) -> Option<notify_debouncer_mini::Debouncer<notify::RecommendedWatcher>> {
    let path = reloader.watched_path()?;
    let target = std::fs::canonicalize(&path).ok()?;
    // Watch the parent of a file: editors replace files by renaming.
    let (dir, only) = if target.is_dir() {
        (target.clone(), None)
    } else {
        (target.parent()?.to_owned(), Some(target.clone()))
    };
    let weak = Arc::downgrade(reloader);
    let handler = move |events: notify_debouncer_mini::DebounceEventResult| {
        let Ok(events) = events else { return };
        let relevant = events
            .iter()
            .any(|e| only.as_ref().is_none_or(|f| &e.path == f));
        if relevant && let Some(r) = weak.upgrade() {
            let _ = r.reload("file");
        }
    };
    let mut debouncer = match notify_debouncer_mini::new_debouncer(
        Duration::from_millis(250),
        handler,
    ) {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the policy; reload with SIGHUP or the admin API");
            return None;
        }
    };
    if let Err(e) = debouncer
        .watcher()
        .watch(&dir, notify::RecursiveMode::NonRecursive)
    {
        tracing::warn!(error = %e, dir = %dir.display(), "cannot watch the policy; reload with SIGHUP or the admin API");
        return None;
    }
    tracing::info!(path = %target.display(), "watching the policy for changes");
    Some(debouncer)
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
