//! Retention: removing a trail's old records, only once they are exported,
//! without breaking verification. Each trail (a project's, or the
//! server's) is cut on its own, as its own `audit:` block says.
//!
//! Each cut stores the trail's [`Checkpoint`] (the `seq` and `hash` of its
//! last removed record) in the same transaction as the deletion;
//! verification then starts the trail from the checkpoint, and its first
//! remaining record's `prev_hash` must be its hash. Records are removed in chunks of [`CHUNK`], each its own
//! transaction, with a pause of [`PAUSE`] between chunks: the decision
//! path's writer waits for SQLite's write lock by sleeping in growing steps,
//! and back-to-back transactions would let it miss every gap, so a large
//! catch-up (a first retention over months of records) would stall
//! decisions. With the pause, a decision's record waits at most about one
//! chunk's transaction.
//!
//! Before the first record goes, the run is recorded in the chain itself: an
//! `audit_retention` record naming the checkpoint it will leave
//! (`checkpoint_seq`, `checkpoint_hash`). That record always survives its own
//! cut (it comes after every exported record), so [`super::verify()`] can
//! tell a checkpoint retention made from one written by hand over a
//! truncated start of the log (`checkpoint.rs`).

use super::checkpoint::RETENTION_EVENT;
use super::entry::{AdminEntry, rehash};
use super::writer::AuditLog;
use crate::record::{Broken, Record, format_ts};
use crate::store::{AuditStore, Checkpoint, ExportMark};
use crate::{Error, Result};
use jiff::Timestamp;
use serde::Serialize;
use std::collections::BTreeMap;

/// Records removed per transaction.
pub const CHUNK: u64 = 500;

/// Pause between two chunks, which lets the writer take the write lock.
pub const PAUSE: std::time::Duration = std::time::Duration::from_millis(50);

/// What retention removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Removed {
    /// How many records.
    pub records: u64,
    /// The new checkpoint's `seq` (the last record removed), if any.
    pub through_seq: Option<u64>,
}

/// The time before which a record is older than `keep` at `now`; `None`
/// if that lies before any time a record can carry.
pub fn cutoff(now: Timestamp, keep: std::time::Duration) -> Option<Timestamp> {
    let keep = i64::try_from(keep.as_micros()).ok()?;
    Timestamp::from_microsecond(now.as_microsecond().checked_sub(keep)?).ok()
}

/// What a retention run is about to remove, announced before it removes
/// anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    /// The trail cut: its project (`None`: the server's).
    pub project: Option<String>,
    /// The checkpoint the run will leave: the last record it removes.
    pub checkpoint: Checkpoint,
    /// How many records it removes.
    pub records: u64,
    /// How many of the trail's records retention will have removed in all,
    /// this run's included (the checkpoint's `removed`).
    pub removed_total: u64,
    /// The records removed are those before this time.
    pub older_than: Timestamp,
}

impl Cut {
    /// The `audit_retention` record of this run, with `details` added
    /// (e.g. the retention asked for, or what triggered the run).
    pub fn entry(&self, mut details: BTreeMap<String, serde_json::Value>) -> AdminEntry {
        details.insert("checkpoint_seq".into(), self.checkpoint.seq.into());
        details.insert(
            "checkpoint_hash".into(),
            self.checkpoint.hash.clone().into(),
        );
        details.insert("removed".into(), self.records.into());
        details.insert("removed_total".into(), self.removed_total.into());
        details.insert("older_than".into(), format_ts(self.older_than).into());
        AdminEntry {
            event: RETENTION_EVENT.into(),
            project: self.project.clone(),
            details,
            ..AdminEntry::default()
        }
    }
}

/// Removes the records of the trail of `project` (`None`: the server's)
/// older than `older_than` that have been exported (never one that has not:
/// without an export nothing is removed), leaving the trail's checkpoint.
/// Before removing anything it calls `announce` with the [`Cut`] it is
/// about to make, which must record it in the trail (the `audit_retention`
/// record of [`Cut::entry`], appended after the records cut); if `announce`
/// fails, nothing is removed. Refuses ([`Error::AuditBroken`]) if the record
/// at a cut does not match its hash, the trail's next record, or the export.
pub fn apply_retention(
    store: &mut dyn AuditStore,
    project: Option<&str>,
    older_than: Timestamp,
    announce: &mut dyn FnMut(&Cut) -> Result<()>,
) -> Result<Removed> {
    let mut removed = Removed::default();
    let Some(mark) = store.export_mark(project)? else {
        return Ok(removed);
    };
    let previous = store.checkpoint(project)?;
    let mut done = previous.as_ref().map_or(0, |c| c.seq);
    let removed_before = previous.map_or(0, |c| c.removed);
    let Some(target) = store.last_seq_before(project, &format_ts(older_than), mark.seq)? else {
        return Ok(removed);
    };
    if done >= target {
        return Ok(removed);
    }
    // Where each chunk ends: every CHUNK-th record of the trail, and the
    // target.
    let (mut count, mut ends) = (0u64, Vec::new());
    store.scan_trail(project, done, target, &mut |row| {
        count += 1;
        if count % CHUNK == 0 && row.seq < target {
            ends.push(row.seq);
        }
        Ok(true)
    })?;
    ends.push(target);
    let hash = checked_cut_hash(store, project, target, &mark)?;
    announce(&Cut {
        project: project.map(str::to_owned),
        checkpoint: Checkpoint {
            seq: target,
            hash,
            removed: removed_before + count,
        },
        records: count,
        removed_total: removed_before + count,
        older_than,
    })?;
    for (i, end) in ends.into_iter().enumerate() {
        if removed.records > 0 {
            std::thread::sleep(PAUSE);
        }
        let hash = checked_cut_hash(store, project, end, &mark)?;
        // Each chunk but the last ends at a CHUNK-th record.
        let chunk = match end == target {
            true => count - removed.records,
            false => CHUNK * (i as u64 + 1) - removed.records,
        };
        let checkpoint = Checkpoint {
            seq: end,
            hash,
            removed: removed_before + removed.records + chunk,
        };
        let deleted = store.cut(project, done, chunk, &checkpoint)?;
        removed.records += deleted;
        removed.through_seq = Some(end);
        done = end;
    }
    Ok(removed)
}

/// [`apply_retention`] on the trail of `project` in the store of `log`,
/// recording the run in that trail through `log` (with `details` added to
/// the record) before anything is removed.
pub fn retain(
    log: &AuditLog,
    project: Option<&str>,
    older_than: Timestamp,
    details: &BTreeMap<String, serde_json::Value>,
) -> Result<Removed> {
    let mut store = log.open_store()?;
    apply_retention(&mut store, project, older_than, &mut |cut| {
        log.append_blocking(cut.entry(details.clone())).map(drop)
    })
}

/// The hash of the trail's record at `seq`, where a cut is to end: checked
/// against its body, the export mark (if it is the last exported record)
/// and the trail's next record's `prev_hash`.
fn checked_cut_hash(
    store: &mut dyn AuditStore,
    project: Option<&str>,
    seq: u64,
    mark: &ExportMark,
) -> Result<String> {
    let hash = sealed_hash(store, seq)?;
    if seq == mark.seq && hash != mark.hash {
        return Err(broken(seq, "differs from the record exported"));
    }
    let mut next = None;
    store.scan_trail(project, seq, u64::MAX, &mut |row| {
        next = Some(row);
        Ok(false)
    })?;
    if let Some(next) = next {
        let prev = next
            .body
            .as_deref()
            .and_then(|b| serde_json::from_str::<Record>(b).ok())
            .map(|r| r.prev_hash);
        if prev.as_deref() != Some(hash.as_str()) {
            return Err(broken(next.seq, "does not continue the record before it"));
        }
    }
    Ok(hash)
}

/// The hash of the record at `seq`, checked against its body.
fn sealed_hash(store: &mut dyn AuditStore, seq: u64) -> Result<String> {
    let row = store.row(seq)?.ok_or_else(|| {
        Error::AuditBroken(Broken::Deleted {
            after_seq: seq.saturating_sub(1),
            missing: 1,
        })
    })?;
    match row.body.as_deref().and_then(rehash) {
        Some((claimed, computed))
            if claimed == computed && row.hash.as_deref() == Some(claimed) =>
        {
            Ok(computed)
        }
        _ => Err(broken(seq, "does not match its hash")),
    }
}

fn broken(seq: u64, what: &str) -> Error {
    Error::AuditBroken(Broken::Edited {
        seq,
        what: format!("it {what}; retention does not cut the chain here"),
    })
}
