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

mod events;
mod watch;

pub use events::{policy_event, refusal_events, refused_event, reload_events, token_changes};
pub use watch::{Watch, watch};

use crate::audit::AuditLog;
use crate::config::LoadedConfig;
use crate::error::{Error, Result};
use crate::live::{Attempt, Live};
use crate::policy::Root;
use crate::runtime::Runtime;
use crate::snapshot::{self, Failure, Snapshot};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
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
        let attempt = |changed, serving, failed, refused| {
            Attempt::ended(trigger, requested_by, changed, serving, failed, refused)
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
            live.record(attempt(false, previous.clone(), failed.clone(), None));
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
                if !new.failures.is_empty()
                    && let Some(old) = &old
                {
                    self.record_failures(&new.failures, requested_by, trigger, &version, old);
                }
                live.install_reloaded(
                    new.snapshot,
                    attempt(true, version.clone(), new.failures.clone(), None),
                );
                // Counted once serving: a status read never sees a reload
                // counted whose version is not yet the one served.
                self.installed.fetch_add(1, Ordering::Relaxed);
                if !new.failures.is_empty() {
                    self.refused.fetch_add(1, Ordering::Relaxed);
                }
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
                live.record(attempt(false, previous, Vec::new(), Some(e.to_string())));
                Err(e)
            }
        }
    }

    /// The records of the project folders `failed` refused (see
    /// [`refusal_events`]), each folder's project as `old` served it.
    fn record_failures(
        &self,
        failed: &[Failure],
        requested_by: Option<&str>,
        trigger: &str,
        serving: &str,
        old: &Snapshot,
    ) {
        let Some(audit) = &self.audit else { return };
        let project_of = |folder: &str| {
            old.projects
                .values()
                .find(|p| p.policy.folder == folder)
                .map(|p| p.policy.project.clone())
        };
        for entry in refusal_events(trigger, requested_by, serving, failed, project_of) {
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

/// True when two reads of the policy root found the same files with the
/// same contents (or failed the same way).
fn same_read(a: &Result<Root>, b: &Result<Root>) -> bool {
    match (a, b) {
        (Ok(a), Ok(b)) => a == b,
        (Err(a), Err(b)) => a.to_string() == b.to_string(),
        _ => false,
    }
}
