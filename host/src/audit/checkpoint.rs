//! Whether a retention checkpoint is one that retention made: cross-checked,
//! while [`super::verify()`] walks the chain, against the export mark and the
//! `audit_retention` records.
//!
//! A checkpoint is a row of the store's `meta` table, so on its own it would
//! let anyone who deletes the first records of the log and writes one row
//! hide the deletion. Retention leaves more than that row: it only ever cuts
//! exported records (so the export mark reaches the checkpoint, with the
//! same hash when it is the last exported record), and before it cuts it
//! appends an `audit_retention` record naming the checkpoint it will leave
//! ([`super::retention::Cut::entry`]), which comes after every record it
//! cuts and so stays in the chain. A checkpoint without both is a
//! [`Broken::ForgedCheckpoint`].
//!
//! The same walk checks the export mark against the chain: the record the
//! mark names must still have the hash that was exported.

use crate::record::{Broken, Kind, Record};
use crate::store::{Checkpoint, ExportMark};

/// The `event` of the record a retention run leaves in the chain.
pub const RETENTION_EVENT: &str = "audit_retention";

/// What the walk has seen of the checkpoint's and the export mark's
/// evidence.
pub(crate) struct Provenance {
    checkpoint: Option<Checkpoint>,
    mark: Option<ExportMark>,
    /// An `audit_retention` record names the checkpoint (or a later one of
    /// the same run).
    vouched: bool,
    /// The hash of the record at the export mark's `seq`, once walked.
    at_mark: Option<String>,
}

impl Provenance {
    /// Evidence for `checkpoint` and `mark`, as read before the walk.
    pub(crate) fn new(checkpoint: Option<Checkpoint>, mark: Option<ExportMark>) -> Self {
        Self {
            checkpoint,
            mark,
            vouched: false,
            at_mark: None,
        }
    }

    /// Takes note of a record of the chain (after the checkpoint), in order.
    pub(crate) fn observe(&mut self, record: &Record) {
        if self.mark.as_ref().is_some_and(|m| m.seq == record.seq) {
            self.at_mark = Some(record.hash.clone());
        }
        let Some(c) = &self.checkpoint else { return };
        if self.vouched
            || record.kind != Kind::Admin
            || record.event.as_deref() != Some(RETENTION_EVENT)
        {
            return;
        }
        let Some(details) = &record.details else {
            return;
        };
        let named = details
            .get("checkpoint_seq")
            .and_then(serde_json::Value::as_u64);
        let hash = details
            .get("checkpoint_hash")
            .and_then(serde_json::Value::as_str);
        // How many records the run leaves removed in all (records written
        // before this was counted name none).
        let total = details
            .get("removed_total")
            .and_then(serde_json::Value::as_u64);
        // Records written before the count was added name none: they come
        // from stores of one chain from record 1, whose checkpoint removed
        // exactly as many records as its seq (what the upgrade writes), so
        // a larger count is not vouched for.
        let legacy = c.removed == c.seq;
        self.vouched = match named {
            // A run cuts in chunks: its checkpoint passes through earlier
            // ones, whose hashes only the chain itself can vouch for, and
            // which count fewer removed records than the run will.
            Some(seq) if seq > c.seq => total.map_or(legacy, |t| c.removed <= t),
            // Records written before the hash was added name none.
            Some(seq) if seq == c.seq => {
                hash.is_none_or(|h| h == c.hash) && total.map_or(legacy, |t| t == c.removed)
            }
            _ => false,
        };
    }

    /// The finding, once the whole chain is walked (`last_seq`: its last
    /// record, or the checkpoint's).
    pub(crate) fn finding(self, last_seq: u64) -> Option<Broken> {
        if let Some(c) = &self.checkpoint {
            let forged = |why: String| Some(Broken::ForgedCheckpoint { seq: c.seq, why });
            match &self.mark {
                None => {
                    return forged(
                        "nothing was ever exported, and retention removes only exported records"
                            .into(),
                    );
                }
                Some(m) if m.seq < c.seq => {
                    return forged(format!(
                        "export reached only record {}, and retention removes only exported \
                         records",
                        m.seq
                    ));
                }
                Some(m) if m.seq == c.seq && m.hash != c.hash => {
                    return forged(format!(
                        "the export mark names another hash for record {}",
                        c.seq
                    ));
                }
                Some(_) => {}
            }
            if !self.vouched {
                return forged(format!(
                    "no `{RETENTION_EVENT}` record in the chain names it"
                ));
            }
        }
        let m = self.mark?;
        if self.checkpoint.as_ref().is_some_and(|c| m.seq <= c.seq) {
            return None;
        }
        match self.at_mark {
            Some(hash) if hash != m.hash => Some(Broken::Edited {
                seq: m.seq,
                what: "its hash differs from the one exported: the chain was rewritten after \
                       the export"
                    .into(),
            }),
            Some(_) => None,
            None if m.seq == 0 => None,
            None => Some(Broken::Truncated {
                last_seq,
                head_seq: m.seq,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retention_record(details: serde_json::Value) -> Record {
        serde_json::from_value(serde_json::json!({
            "seq": 11, "ts": "2026-12-06T00:00:00.000000Z", "kind": "admin",
            "event": RETENTION_EVENT, "details": details,
            "prev_hash": "p", "hash": "h",
        }))
        .unwrap()
    }

    fn vouched(removed: u64, details: serde_json::Value) -> bool {
        let c = Checkpoint {
            seq: 10,
            hash: "c".into(),
            removed,
        };
        let mut p = Provenance::new(Some(c), None);
        p.observe(&retention_record(details));
        p.vouched
    }

    #[test]
    fn a_retention_record_without_a_count_vouches_only_for_one_chain_from_record_1() {
        let old = serde_json::json!({"checkpoint_seq": 10, "checkpoint_hash": "c"});
        assert!(vouched(10, old.clone()));
        // A larger count would hide records removed below another trail's
        // checkpoint: not vouched for by a record that names none.
        assert!(!vouched(40, old));
        let counted =
            serde_json::json!({"checkpoint_seq": 10, "checkpoint_hash": "c", "removed_total": 40});
        assert!(vouched(40, counted.clone()));
        assert!(!vouched(41, counted));
    }
}
