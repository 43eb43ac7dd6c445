//! The snapshot serving now and the outcome of the latest reload attempt,
//! swapped together: what the HTTP handlers read, and what the reloader
//! writes, without either knowing the other.

use crate::snapshot::{Failure, Snapshot};
use std::sync::{Arc, PoisonError, RwLock};

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
    /// Whether the attempt succeeded in full (every project's files valid).
    pub ok: bool,
    /// Whether a new policy or plugin was installed (false when the files
    /// held what was already serving, or the change was refused).
    pub changed: bool,
    /// The version now serving.
    pub serving: String,
    /// Why the change was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Project folders whose files were refused, each keeping its last good
    /// version while the other projects' changes were installed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<Failure>,
}

impl Attempt {
    /// An attempt by `trigger` (for `requested_by`) ending now, with
    /// `serving` the version after it: `changed` when it installed
    /// something, `failed` the project folders it refused, `refused` why it
    /// was refused in whole. It is `ok` when nothing was refused.
    pub fn ended(
        trigger: &str,
        requested_by: Option<&str>,
        changed: bool,
        serving: String,
        failed: Vec<Failure>,
        refused: Option<String>,
    ) -> Self {
        let error = refused.or_else(|| failure_message(&failed));
        Self {
            at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            trigger: trigger.into(),
            requested_by: requested_by.map(str::to_owned),
            ok: error.is_none(),
            changed,
            serving,
            error,
            failed,
        }
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

/// The serving snapshot and the latest reload attempt.
#[derive(Debug, Default)]
pub struct Live {
    snapshot: RwLock<Option<Arc<Snapshot>>>,
    last_reload: RwLock<Option<Attempt>>,
}

impl Live {
    /// Nothing loaded yet.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Installs a snapshot; the server is ready from then on.
    pub fn install(&self, snapshot: Snapshot) {
        // The lock only guards a pointer swap, so a poisoned lock holds a
        // consistent value: recover it rather than skip the install.
        *self
            .snapshot
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(snapshot));
    }

    /// The current snapshot, once loaded.
    pub fn snapshot(&self) -> Option<Arc<Snapshot>> {
        self.snapshot
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// True once the policy and every plugin have loaded.
    pub fn is_ready(&self) -> bool {
        self.snapshot().is_some()
    }

    /// Records the outcome of a reload attempt that installed nothing.
    pub fn record(&self, attempt: Attempt) {
        *self
            .last_reload
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(attempt);
    }

    /// Installs a reloaded snapshot and records the attempt as one step:
    /// `/v1/status` never shows the new version with the previous attempt.
    pub fn install_reloaded(&self, snapshot: Snapshot, attempt: Attempt) {
        let mut last = self
            .last_reload
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        self.install(snapshot);
        *last = Some(attempt);
    }

    /// The current snapshot and the latest reload attempt, read together
    /// (see [`Live::install_reloaded`]).
    pub fn current(&self) -> (Option<Arc<Snapshot>>, Option<Attempt>) {
        let last = self
            .last_reload
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        (self.snapshot(), last.clone())
    }
}
