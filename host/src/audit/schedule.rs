//! Export and retention on a schedule, as the policy's `audit:` blocks ask:
//! [`Scheduler`].
//!
//! A thread of its own wakes every [`Schedule::every`] (60 s by default),
//! reads the [`Plans`] of the policy serving *now* (so a reload changes where
//! and how often records go) and, for every trail in the store (each
//! project's, and the server's), exports the periods that are complete, then
//! removes the exported records older than the retention, as that trail's
//! plan says ([`Plans::for_trail`]). Each run that did something is itself
//! recorded in the trail it concerns (`audit_export`, `audit_retention`). A
//! failure is logged and the next round retries; it never stops the server,
//! and one trail's failure does not hold back another's.
//!
//! When the server stops, [`Scheduler::shutdown`] exports everything,
//! the period still open included ([`Horizon::Everything`]), then the
//! `audit_export` record of that export in a small file of its own, so a
//! stopped server leaves nothing unexported.

use super::destination::Destination;
use super::entry::AdminEntry;
use super::export::{ExportedFile, Horizon, Period, export};
use super::retention::{Removed, cutoff, retain};
use super::s3::S3Settings;
use super::writer::AuditLog;
use crate::{Error, Result};
use jiff::Timestamp;
use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What a policy's `audit:` block asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Scheduled export, if any.
    pub export: Option<ExportPlan>,
    /// Remove exported records older than this.
    pub retention: Option<Duration>,
}

/// What the policy's `audit:` blocks ask, for every trail.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plans {
    /// The server's block (a top-level file's, or a one-project policy's):
    /// for the server's trail, and for every project without a block of its
    /// own (a project no longer in the policy included).
    pub server: Plan,
    /// The projects' own blocks.
    pub projects: BTreeMap<String, Plan>,
    /// Whether each project's files go into a folder named after it at the
    /// destination (a directory of projects), rather than beside the
    /// server's (one project).
    pub folders: bool,
}

impl Plans {
    /// One plan for every trail (the server's, and one project's).
    pub fn uniform(plan: Plan) -> Self {
        Self {
            server: plan,
            ..Self::default()
        }
    }

    /// The plan of the trail of `project` (`None`: the server's), its
    /// destination made the project's folder where files go into folders.
    pub fn for_trail(&self, project: Option<&str>) -> Plan {
        let Some(p) = project else {
            return self.server.clone();
        };
        let mut plan = self.projects.get(p).unwrap_or(&self.server).clone();
        if self.folders
            && let Some(e) = &mut plan.export
        {
            match e.destination.within(p) {
                Ok(d) => e.destination = d,
                Err(why) => {
                    // A name no policy could give (a record written by
                    // other means): its trail is not exported anywhere.
                    tracing::warn!(project = p, %why, "audit trail not exported");
                    plan.export = None;
                }
            }
        }
        plan
    }
}

/// Where and how often to export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportPlan {
    /// Where files go; a directory is relative to the data directory.
    pub destination: Destination,
    /// One file per hour or per day.
    pub period: Period,
}

/// How the scheduler runs (server configuration).
#[derive(Debug, Clone)]
pub struct Schedule {
    /// How often to look for complete periods to export and records to
    /// remove.
    pub every: Duration,
    /// How to reach S3.
    pub s3: S3Settings,
}

/// The scheduler's thread; [`Scheduler::shutdown`] (or dropping it) runs
/// the final export and waits for it.
pub struct Scheduler {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("running", &self.thread.is_some())
            .finish()
    }
}

impl Scheduler {
    /// Starts the thread. `plans` is asked for the current plans before
    /// every round.
    pub fn start(
        log: Arc<AuditLog>,
        schedule: Schedule,
        plan: impl Fn() -> Plans + Send + 'static,
    ) -> Result<Self> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let signal = stop.clone();
        let thread = std::thread::Builder::new()
            .name("palisade-audit-export".into())
            .spawn(move || run(&log, &schedule, &plan, &signal))
            .map_err(|e| Error::Audit {
                message: format!("cannot start the audit export thread: {e}"),
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the schedule: waits for a round under way, exports everything
    /// (the open period included) and returns. Blocks: call it off the
    /// async workers, before the audit log closes.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        let (flag, wake) = &*self.stop;
        if let Ok(mut stop) = flag.lock() {
            *stop = true;
            wake.notify_all();
        }
        if thread.join().is_err() {
            tracing::error!("the audit export thread panicked");
        }
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

fn run(
    log: &AuditLog,
    schedule: &Schedule,
    plan: &dyn Fn() -> Plans,
    stop: &(Mutex<bool>, Condvar),
) {
    let (flag, wake) = stop;
    let mut last: Option<Plans> = None;
    loop {
        let deadline = Instant::now() + schedule.every;
        // A poisoned lock means a panic elsewhere: stop (exporting first).
        let stopping = match flag.lock() {
            Ok(mut stop) => loop {
                if *stop {
                    break true;
                }
                let wait = deadline.saturating_duration_since(Instant::now());
                if wait.is_zero() {
                    break false;
                }
                stop = match wake.wait_timeout(stop, wait) {
                    Ok((s, _)) => s,
                    Err(_) => break true,
                };
            },
            Err(_) => true,
        };
        let current = plan();
        if last.as_ref() != Some(&current) {
            describe(&current);
            last = Some(current.clone());
        }
        if stopping {
            final_round(log, &current, &schedule.s3);
            return;
        }
        round(log, &current, &schedule.s3, Timestamp::now());
    }
}

fn describe(plans: &Plans) {
    let trails = std::iter::once((None, &plans.server)).chain(
        plans
            .projects
            .iter()
            .map(|(p, plan)| (Some(p.as_str()), plan)),
    );
    for (project, plan) in trails {
        match &plan.export {
            Some(e) => tracing::info!(
                project,
                destination = %e.destination,
                period = ?e.period,
                retention_s = plan.retention.map(|r| r.as_secs()),
                "audit export scheduled"
            ),
            None => tracing::info!(project, "no audit export in the policy"),
        }
    }
}

/// The trails in the store (each project's and the server's), by project.
fn trails(log: &AuditLog) -> Vec<Option<String>> {
    let listed = log
        .open_store()
        .and_then(|mut s| crate::store::AuditStore::trails(&mut s));
    match listed {
        Ok(t) => t.into_iter().map(|t| t.project).collect(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot list the audit trails; retrying next round");
            Vec::new()
        }
    }
}

/// One scheduled round at `now`: for every trail, export the complete
/// periods, then apply retention, as its plan says. Failures are logged;
/// the next round retries.
pub fn round(log: &AuditLog, plans: &Plans, s3: &S3Settings, now: Timestamp) {
    for project in trails(log) {
        let project = project.as_deref();
        let plan = plans.for_trail(project);
        if let Some(export) = &plan.export {
            let _ = export_round(log, project, export, s3, Horizon::Complete(now), "schedule");
        }
        if let Some(keep) = plan.retention {
            match retention_round(log, project, keep, now) {
                Ok(removed) if removed.records > 0 => tracing::info!(
                    project,
                    records = removed.records,
                    through_seq = removed.through_seq,
                    "audit retention removed exported records"
                ),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(project, error = %e, "audit retention failed; retrying next round")
                }
            }
        }
    }
}

/// The last round, when the server stops: for every trail, everything, the
/// open period included, then the record of that export.
pub fn final_round(log: &AuditLog, plans: &Plans, s3: &S3Settings) {
    for project in trails(log) {
        let project = project.as_deref();
        let plan = plans.for_trail(project);
        let Some(export) = &plan.export else { continue };
        if let Ok(files) = export_round(log, project, export, s3, Horizon::Everything, "shutdown")
            && !files.is_empty()
        {
            // The `audit_export` record just written: exported without a
            // record of its own, or this would never end.
            if let Err(e) = export_to(log, project, export, s3, Horizon::Everything) {
                tracing::warn!(project, destination = %export.destination, error = %e, "cannot export the record of the final audit export; the next start exports it");
            }
        }
    }
}

/// Exports the trail of `project` up to `horizon` and records the run in
/// it if it wrote files. Logs the outcome.
fn export_round(
    log: &AuditLog,
    project: Option<&str>,
    plan: &ExportPlan,
    s3: &S3Settings,
    horizon: Horizon,
    trigger: &str,
) -> Result<Vec<ExportedFile>> {
    let files = match export_to(log, project, plan, s3, horizon) {
        Ok(files) => files,
        Err(e) => {
            tracing::warn!(project, destination = %plan.destination, error = %e, "audit export failed; retrying next round");
            return Err(e);
        }
    };
    let (Some(first), Some(last)) = (files.first(), files.last()) else {
        return Ok(files);
    };
    let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
    let records: u64 = files.iter().map(|f| f.count).sum();
    tracing::info!(project, destination = %plan.destination, files = ?names, first_seq = first.first_seq, last_seq = last.last_seq, "audit records exported");
    let details = BTreeMap::from([
        ("trigger".to_owned(), trigger.into()),
        (
            "destination".to_owned(),
            plan.destination.to_string().into(),
        ),
        ("files".to_owned(), names.into()),
        ("first_seq".to_owned(), first.first_seq.into()),
        ("last_seq".to_owned(), last.last_seq.into()),
        ("records".to_owned(), records.into()),
    ]);
    record(log, project, "audit_export", details);
    Ok(files)
}

/// Exports the trail of `project` up to `horizon` to the plan's
/// destination, on a connection of its own; spools for S3 go into the data
/// directory.
fn export_to(
    log: &AuditLog,
    project: Option<&str>,
    plan: &ExportPlan,
    s3: &S3Settings,
    horizon: Horizon,
) -> Result<Vec<ExportedFile>> {
    let mut store = log.open_store()?;
    let mut sink = plan.destination.open(log.data_dir(), log.data_dir(), s3)?;
    export(&mut store, sink.as_mut(), project, plan.period, horizon)
}

/// Removes the trail's exported records older than `keep` at `now`,
/// recording the run (before it removes anything) if there is anything to
/// remove.
fn retention_round(
    log: &AuditLog,
    project: Option<&str>,
    keep: Duration,
    now: Timestamp,
) -> Result<Removed> {
    let Some(older_than) = cutoff(now, keep) else {
        return Ok(Removed::default());
    };
    let details = BTreeMap::from([
        ("trigger".to_owned(), "schedule".into()),
        ("retention_s".to_owned(), keep.as_secs().into()),
    ]);
    retain(log, project, older_than, &details)
}

fn record(
    log: &AuditLog,
    project: Option<&str>,
    event: &str,
    details: BTreeMap<String, serde_json::Value>,
) {
    let entry = AdminEntry {
        event: event.into(),
        project: project.map(str::to_owned),
        details,
        ..AdminEntry::default()
    };
    if let Err(e) = log.append_blocking(entry) {
        tracing::error!(event, error = %e, "cannot record an audit maintenance run");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{Kind, verify_dir, verify_export_files};
    use crate::store::{AuditStore, Cursor, Filter};

    fn admin(i: u64) -> AdminEntry {
        AdminEntry {
            event: "test".into(),
            details: BTreeMap::from([("i".to_owned(), i.into())]),
            ..AdminEntry::default()
        }
    }

    fn plan(dir: &str, retention: Option<Duration>) -> Plan {
        Plan {
            export: Some(ExportPlan {
                destination: Destination::parse_policy(dir).unwrap(),
                period: Period::Daily,
            }),
            retention,
        }
    }

    fn events(log: &AuditLog) -> Vec<(String, serde_json::Value)> {
        let filter = Filter {
            kind: Some(Kind::Admin),
            ..Filter::default()
        };
        log.query(&filter, Cursor::OLDEST, 1000)
            .unwrap()
            .into_iter()
            .map(|r| {
                let details = serde_json::to_value(r.details.unwrap_or_default()).unwrap();
                (r.event.unwrap_or_default(), details)
            })
            .collect()
    }

    fn files_in(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        files
    }

    #[test]
    fn a_round_exports_complete_periods_then_applies_retention_and_records_both() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(dir.path()).unwrap();
        for i in 0..5 {
            log.append_blocking(admin(i)).unwrap();
        }
        let s3 = S3Settings::default();
        // Now: nothing is complete yet (the day is still open).
        round(
            &log,
            &Plans::uniform(plan("out", None)),
            &s3,
            Timestamp::now(),
        );
        assert!(events(&log).iter().all(|(e, _)| e == "test"));
        // Two days later: today is complete, and older than one day.
        let later = Timestamp::now() + jiff::SignedDuration::from_hours(48);
        let day = Duration::from_secs(86_400);
        round(&log, &Plans::uniform(plan("out", Some(day))), &s3, later);
        let events = events(&log);
        let (event, details) = &events[events.len() - 2];
        assert_eq!(event, "audit_export");
        assert_eq!(details["trigger"], "schedule");
        assert_eq!(details["destination"], "out");
        assert_eq!(details["first_seq"], 1);
        assert_eq!(details["last_seq"], 5);
        let (event, details) = &events[events.len() - 1];
        assert_eq!(event, "audit_retention");
        assert_eq!(details["removed"], 5);
        assert_eq!(details["checkpoint_seq"], 5);

        let mut store = log.open_store().unwrap();
        assert_eq!(store.checkpoint(None).unwrap().map(|c| c.seq), Some(5));
        drop(store);
        log.close().unwrap();
        assert!(verify_dir(dir.path()).unwrap().is_ok());
        let files = files_in(&dir.path().join("out"));
        assert_eq!(verify_export_files(&files).unwrap().unwrap().len(), 1);
    }

    #[test]
    fn the_final_round_leaves_nothing_unexported() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(dir.path()).unwrap();
        for i in 0..3 {
            log.append_blocking(admin(i)).unwrap();
        }
        final_round(
            &log,
            &Plans::uniform(plan("out", None)),
            &S3Settings::default(),
        );
        let head = log.stats().head_seq;
        assert_eq!(head, 4, "three records and the export's own");
        let mut store = log.open_store().unwrap();
        assert_eq!(store.export_mark(None).unwrap().map(|m| m.seq), Some(head));
        drop(store);
        log.close().unwrap();
        let files = files_in(&dir.path().join("out"));
        let reports = verify_export_files(&files).unwrap().unwrap();
        assert_eq!(reports.len(), 2);
        assert_eq!((reports[1].first_seq, reports[1].last_seq), (4, 4));
        let names: Vec<_> = files
            .iter()
            .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().any(|n| n.ends_with(".4.jsonl")), "{names:?}");
    }

    #[test]
    fn a_failed_export_is_retried_by_the_next_round() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(dir.path()).unwrap();
        log.append_blocking(admin(0)).unwrap();
        // `out` is a file, so the directory cannot be made.
        std::fs::write(dir.path().join("out"), "in the way").unwrap();
        let later = Timestamp::now() + jiff::SignedDuration::from_hours(48);
        round(
            &log,
            &Plans::uniform(plan("out", None)),
            &S3Settings::default(),
            later,
        );
        assert_eq!(log.stats().head_seq, 1, "nothing recorded");
        assert!(
            log.open_store()
                .unwrap()
                .export_mark(None)
                .unwrap()
                .is_none()
        );
        std::fs::remove_file(dir.path().join("out")).unwrap();
        round(
            &log,
            &Plans::uniform(plan("out", None)),
            &S3Settings::default(),
            later,
        );
        assert_eq!(events(&log).last().unwrap().0, "audit_export");
        log.close().unwrap();
    }

    #[test]
    fn the_scheduler_reads_the_current_plan_and_exports_when_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(AuditLog::open(dir.path()).unwrap());
        let current = Arc::new(Mutex::new(Plans::default()));
        let schedule = Schedule {
            every: Duration::from_millis(20),
            s3: S3Settings::default(),
        };
        let reader = current.clone();
        let scheduler = Scheduler::start(log.clone(), schedule, move || {
            reader.lock().unwrap().clone()
        })
        .unwrap();
        log.append_blocking(admin(0)).unwrap();
        std::thread::sleep(Duration::from_millis(60));
        // A reload names a destination: the stop exports there.
        *current.lock().unwrap() = Plans::uniform(plan("later", None));
        scheduler.shutdown();
        assert_eq!(events(&log).last().unwrap().0, "audit_export");
        log.close().unwrap();
        let files = files_in(&dir.path().join("later"));
        assert!(verify_export_files(&files).unwrap().is_ok());
    }
}
