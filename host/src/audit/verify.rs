//! Verification: walk the chain and name the first bad record.

use super::checkpoint::Provenance;
use super::entry::GENESIS_HASH;
use super::entry::rehash;
use super::head::HeadFile;
use crate::Result;
use crate::decision::Outcome;
use crate::record::{Broken, Record, parse_canonical_ts};
use crate::store::{AuditStore, Checkpoint, SqliteStore, StoredRow};
use serde::Serialize;
use std::path::Path;

/// The result of a successful verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Records checked.
    pub records: u64,
    /// The first record present (after the checkpoint), if any.
    pub first_seq: Option<u64>,
    /// The last record (or the checkpoint's, or 0).
    pub last_seq: u64,
    /// Its hash.
    pub last_hash: String,
    /// Where the chain starts after retention, if it was cut.
    pub checkpoint: Option<Checkpoint>,
    /// The head file checked against, if any.
    pub head_file: Option<HeadFile>,
}

/// Follows a chain record by record.
pub(crate) struct Chain {
    start_seq: u64,
    start: &'static str,
    last_seq: u64,
    last_hash: String,
    last_ts: String,
}

impl Chain {
    /// A chain continuing after `after_seq`, whose hash is `prev_hash`;
    /// `start` names that point in findings (e.g. "the checkpoint").
    pub(crate) fn new(after_seq: u64, prev_hash: String, start: &'static str) -> Self {
        Self {
            start_seq: after_seq,
            start,
            last_seq: after_seq,
            last_hash: prev_hash,
            last_ts: String::new(),
        }
    }

    /// The last record accepted (or the start point).
    pub(crate) fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Its hash.
    pub(crate) fn last_hash(&self) -> &str {
        &self.last_hash
    }

    /// Checks a stored row: its place, its body, its columns.
    pub(crate) fn check_row(&mut self, row: &StoredRow) -> Result<Record, Broken> {
        let expected = self.last_seq.saturating_add(1);
        if row.seq > expected {
            return Err(Broken::Deleted {
                after_seq: self.last_seq,
                missing: row.seq - expected,
            });
        }
        if row.seq < expected {
            return Err(Broken::Reordered { seq: row.seq });
        }
        let seq = row.seq;
        let body = row.body.as_deref().ok_or_else(|| Broken::Edited {
            seq,
            what: "the body is missing".into(),
        })?;
        let record = self.check_body_unaccepted(seq, body)?;
        let columns: [(&str, Option<&str>, Option<&str>); 8] = [
            ("ts", row.ts.as_deref(), Some(&record.ts)),
            ("kind", row.kind.as_deref(), Some(record.kind.as_str())),
            (
                "decision_id",
                row.decision_id.as_deref(),
                record.decision_id.as_deref(),
            ),
            ("agent", row.agent.as_deref(), record.agent.as_deref()),
            ("session", row.session.as_deref(), record.session.as_deref()),
            ("project", row.project.as_deref(), record.project.as_deref()),
            (
                "decision",
                row.decision.as_deref(),
                record.decision.map(Outcome::as_str),
            ),
            ("hash", row.hash.as_deref(), Some(&record.hash)),
        ];
        for (name, column, body) in columns {
            if column != body {
                return Err(Broken::Edited {
                    seq,
                    what: format!("column `{name}` differs from the record's body"),
                });
            }
        }
        self.accept(&record);
        Ok(record)
    }

    /// Checks a body expected at `seq` (a line of an export file) and, if
    /// good, continues the chain with it.
    pub(crate) fn check_body(&mut self, seq: u64, body: &str) -> Result<Record, Broken> {
        let record = self.check_body_unaccepted(seq, body)?;
        self.accept(&record);
        Ok(record)
    }

    fn check_body_unaccepted(&self, seq: u64, body: &str) -> Result<Record, Broken> {
        let edited = |what: &str| Broken::Edited {
            seq,
            what: what.to_owned(),
        };
        let (claimed, computed) =
            rehash(body).ok_or_else(|| edited("the body does not end with its hash"))?;
        if claimed != computed {
            return Err(edited("the body does not match its hash"));
        }
        let record: Record = serde_json::from_str(body).map_err(|e| Broken::Edited {
            seq,
            what: format!("the body is not a record: {e}"),
        })?;
        if record.hash != claimed {
            return Err(edited("the body's hash member is ambiguous"));
        }
        if record.seq != seq {
            return Err(Broken::Reordered { seq });
        }
        if parse_canonical_ts(&record.ts).is_none() {
            return Err(edited("`ts` is not a canonical timestamp"));
        }
        if record.ts < self.last_ts {
            return Err(edited("`ts` is earlier than the previous record's"));
        }
        if record.prev_hash != self.last_hash {
            return Err(if self.last_seq == self.start_seq {
                Broken::Edited {
                    seq,
                    what: format!("`prev_hash` does not continue from {}", self.start),
                }
            } else {
                Broken::Edited {
                    seq: self.last_seq,
                    what: "the next record's `prev_hash` does not match this record: \
                           it was rewritten"
                        .into(),
                }
            });
        }
        Ok(record)
    }

    fn accept(&mut self, record: &Record) {
        self.last_seq = record.seq;
        self.last_hash.clone_from(&record.hash);
        self.last_ts.clone_from(&record.ts);
    }
}

/// Verifies every record of `store` in order, streaming: each body against
/// its hash, each `prev_hash` against the previous record (or the
/// checkpoint), `seq`s without gaps, the indexed columns against the body;
/// then the end of the chain against `head` (the head file, read **before**
/// calling this, so that records appended meanwhile do not matter), and
/// the checkpoint, if any, against the export mark and the
/// `audit_retention` records ([`Broken::ForgedCheckpoint`]).
///
/// Returns the first finding as `Ok(Err(_))`; `Err(_)` is a failure to read.
pub fn verify(
    store: &mut dyn AuditStore,
    head: Option<&HeadFile>,
) -> Result<Result<Report, Broken>> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let checkpoint = match as_finding(store.checkpoint())? {
            Ok(c) => c,
            Err(b) => return Ok(Err(b)),
        };
        let mark = match as_finding(store.export_mark())? {
            Ok(m) => m,
            Err(b) => return Ok(Err(b)),
        };
        let mut provenance = Provenance::new(checkpoint.clone(), mark);
        let (start_seq, start_hash, start) = match &checkpoint {
            Some(c) => (c.seq, c.hash.clone(), "the checkpoint"),
            None => (0, GENESIS_HASH.to_owned(), "the start of the chain"),
        };
        let mut chain = Chain::new(start_seq, start_hash.clone(), start);
        let mut finding = None;
        let mut records = 0u64;
        let mut first_seq = None;
        let mut at_head = None;
        store.scan(
            start_seq,
            u64::MAX,
            &mut |row| match chain.check_row(&row) {
                Ok(record) => {
                    records += 1;
                    first_seq.get_or_insert(record.seq);
                    provenance.observe(&record);
                    if head.is_some_and(|h| h.seq == record.seq) {
                        at_head = Some(record.hash);
                    }
                    Ok(true)
                }
                Err(b) => {
                    finding = Some(b);
                    Ok(false)
                }
            },
        )?;
        if let Some(b) = finding {
            // Retention may have cut the chain between reading the checkpoint
            // and scanning; that looks like a deletion at the start.
            let at_start = matches!(b, Broken::Deleted { after_seq, .. } if after_seq == start_seq);
            if at_start && attempt < 3 {
                let now = as_finding(store.checkpoint())?.ok().flatten();
                if now != checkpoint {
                    continue;
                }
            }
            return Ok(Err(b));
        }
        if let Some(b) = store.check_derived()? {
            return Ok(Err(b));
        }
        if let Some(h) = head {
            if h.seq > chain.last_seq() {
                return Ok(Err(Broken::Truncated {
                    last_seq: chain.last_seq(),
                    head_seq: h.seq,
                }));
            }
            let recorded = if h.seq == start_seq {
                Some(start_hash)
            } else {
                at_head
            };
            if recorded.is_some_and(|r| r != h.hash) {
                return Ok(Err(Broken::HeadMismatch { seq: h.seq }));
            }
        }
        if let Some(b) = provenance.finding(chain.last_seq()) {
            return Ok(Err(b));
        }
        return Ok(Ok(Report {
            records,
            first_seq,
            last_seq: chain.last_seq(),
            last_hash: chain.last_hash().to_owned(),
            checkpoint,
            head_file: head.cloned(),
        }));
    }
}

/// Verifies the audit log in `data_dir` (`audit.db` and `audit.head`); safe
/// while the log is being written. A missing head file next to a non-empty
/// chain is [`Broken::HeadMissing`].
pub fn verify_dir(data_dir: &Path) -> Result<Result<Report, Broken>> {
    let head = match as_finding(HeadFile::read(data_dir))? {
        Ok(h) => h,
        Err(b) => return Ok(Err(b)),
    };
    let mut store = SqliteStore::open_existing(data_dir)?;
    let report = verify(&mut store, head.as_ref())?;
    Ok(match report {
        Ok(r) if head.is_none() && r.last_seq > 0 => Err(Broken::HeadMissing),
        other => other,
    })
}

/// Maps a result carrying [`crate::Error::AuditBroken`] to a finding, keeping
/// other errors as errors.
pub(crate) fn as_finding<T>(r: crate::Result<T>) -> crate::Result<Result<T, Broken>> {
    match r {
        Ok(v) => Ok(Ok(v)),
        Err(crate::Error::AuditBroken(b)) => Ok(Err(b)),
        Err(e) => Err(e),
    }
}
