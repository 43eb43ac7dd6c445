//! The maintenance thread: keeps the head file (`audit.head`) up to date
//! with the last committed record (at most 100 ms or 10,000 records behind)
//! and runs the store's upkeep ([`AuditStore::maintain`], every 10 ms); both
//! involve an `fsync` that has no business inside a decision's commit.

use super::head::{HeadFile, TrailMark};
use crate::store::{AuditStore, SqliteStore};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The head file is at most this many records behind the store (and at most
/// [`HEAD_EVERY`]).
pub(super) const HEAD_RECORDS: u64 = 10_000;

/// How often the maintenance thread runs [`AuditStore::maintain`] (for
/// SQLite: copies the WAL into the database). Often, so that each copy is
/// small: its writes and sync share the disk with the writer's syncs, and a
/// large one holds up the decisions committing meanwhile.
const MAINTAIN_EVERY: Duration = Duration::from_millis(10);
/// How often the head file is brought up to date (at most; see also
/// [`HEAD_RECORDS`]).
const HEAD_EVERY: Duration = Duration::from_millis(100);

/// What the writer tells the maintenance thread.
#[derive(Default)]
pub(crate) struct Committed {
    pub(super) seq: u64,
    pub(super) hash: String,
    /// Each trail's last record, by project (`""`: the server's).
    pub(super) trails: std::collections::BTreeMap<String, TrailMark>,
    /// Committed since the head file was last written.
    pub(super) unwritten: u64,
    /// The head file is behind.
    pub(super) dirty: bool,
    pub(super) stop: bool,
}

pub(crate) type Shared = Arc<(Mutex<Committed>, Condvar)>;

/// Tells the maintenance thread to write the head file and stop.
pub(super) fn stop(shared: &Shared) {
    let (state, wake) = &**shared;
    if let Ok(mut c) = state.lock() {
        c.stop = true;
        wake.notify_one();
    }
}

/// The maintenance thread: the head file, at most [`HEAD_EVERY`] (and a
/// tick) or [`HEAD_RECORDS`] behind the last commit, and [`AuditStore::maintain`]
/// every [`MAINTAIN_EVERY`].
pub(super) fn maintain(mut store: SqliteStore, dir: &Path, shared: &Shared) {
    let (state, wake) = &**shared;
    let mut tick = Instant::now() + MAINTAIN_EVERY;
    let mut head_due = Instant::now() + HEAD_EVERY;
    // The last record the store's upkeep succeeded after: while nothing is
    // committed the thread still ticks, but leaves the store alone (a
    // failed upkeep is retried at the next tick).
    let mut maintained = None;
    loop {
        let (head, stopping, seq) = {
            let Ok(mut c) = state.lock() else { return };
            while !c.stop && c.unwritten < HEAD_RECORDS && Instant::now() < tick {
                let wait = tick.saturating_duration_since(Instant::now());
                c = match wake.wait_timeout(c, wait) {
                    Ok((c, _)) => c,
                    Err(_) => return,
                };
            }
            let now = Instant::now();
            let due = c.stop || c.unwritten >= HEAD_RECORDS || now >= head_due;
            let head = (due && c.dirty).then(|| HeadFile {
                seq: c.seq,
                hash: c.hash.clone(),
                trails: c.trails.clone(),
            });
            if due {
                (c.dirty, c.unwritten) = (false, 0);
                head_due = now + HEAD_EVERY;
            }
            (head, c.stop, c.seq)
        };
        if let Some(head) = head
            && let Err(e) = head.write(dir)
        {
            // Not a reason to fail decisions: the store is durable; only
            // truncation detection lags. Retried at the next commit.
            tracing::warn!(error = %e, "cannot update the audit head file");
        }
        if stopping {
            return;
        }
        if Instant::now() >= tick {
            if maintained != Some(seq) {
                match store.maintain() {
                    Ok(()) => maintained = Some(seq),
                    Err(e) => tracing::warn!(error = %e, "audit store maintenance failed"),
                }
            }
            tick = Instant::now() + MAINTAIN_EVERY;
        }
    }
}
