//! Retention: removing old records, only once they are exported, without
//! breaking verification.
//!
//! Each cut stores a [`Checkpoint`] (the `seq` and `hash` of the last removed
//! record) in the same transaction as the deletion; verification then starts
//! from the checkpoint, and the first remaining record's `prev_hash` must be
//! its hash. Records are removed in chunks of [`CHUNK`], each its own
//! transaction, with a pause of [`PAUSE`] between chunks: the decision
//! path's writer waits for SQLite's write lock by sleeping in growing steps,
//! and back-to-back transactions would let it miss every gap, so a large
//! catch-up (a first retention over months of records) would stall
//! decisions. With the pause, a decision's record waits at most about one
//! chunk's transaction.

use super::Broken;
use super::record::{Record, rehash};
use super::store::{AuditStore, Checkpoint};
use super::{Timestamp, format_ts};
use crate::{Error, Result};
use serde::Serialize;

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

/// Removes the records older than `older_than` that have been exported
/// (never one that has not: without an export nothing is removed), leaving a
/// checkpoint. Refuses ([`Error::AuditBroken`]) if the record at a cut does
/// not match its hash, the next record, or the export.
pub fn apply_retention(store: &mut dyn AuditStore, older_than: Timestamp) -> Result<Removed> {
    let mut removed = Removed::default();
    let Some(mark) = store.export_mark()? else {
        return Ok(removed);
    };
    let mut done = store.checkpoint()?.map(|c| c.seq).unwrap_or(0);
    let Some(target) = store.last_seq_before(&format_ts(older_than), mark.seq)? else {
        return Ok(removed);
    };
    while done < target {
        if removed.records > 0 {
            std::thread::sleep(PAUSE);
        }
        let end = target.min(done.saturating_add(CHUNK));
        let hash = sealed_hash(store, end)?;
        if end == mark.seq && hash != mark.hash {
            return Err(broken(end, "differs from the record exported"));
        }
        let next_seq = end.saturating_add(1);
        if let Some(next) = store.row(next_seq)? {
            let prev = next
                .body
                .as_deref()
                .and_then(|b| serde_json::from_str::<Record>(b).ok())
                .map(|r| r.prev_hash);
            if prev.as_deref() != Some(hash.as_str()) {
                return Err(broken(next_seq, "does not continue the record before it"));
            }
        }
        removed.records += store.cut(&Checkpoint { seq: end, hash })?;
        removed.through_seq = Some(end);
        done = end;
    }
    Ok(removed)
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
