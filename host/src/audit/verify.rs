//! Verification: walk the store's records in `seq` order, each trail's
//! chain apart, and name the first bad record.

use super::checkpoint::Provenance;
use super::entry::GENESIS_HASH;
use super::entry::rehash;
use super::head::HeadFile;
use crate::Result;
use crate::decision::Outcome;
use crate::record::{Broken, Record, parse_canonical_ts};
use crate::store::{AuditStore, Checkpoint, SqliteStore, StoredRow};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The result of a successful verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Records checked.
    pub records: u64,
    /// The first record present, if any.
    pub first_seq: Option<u64>,
    /// The last record of the store (or the latest checkpoint's, or 0).
    pub last_seq: u64,
    /// Its hash.
    pub last_hash: String,
    /// The latest retention checkpoint of any trail, if one was cut.
    pub checkpoint: Option<Checkpoint>,
    /// Each trail: the server's (if it has records) and each project's.
    pub trails: Vec<TrailReport>,
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

    /// Checks a stored row of this chain's trail: its place, its body, its
    /// columns. `seq`s increase along a trail, with gaps where other trails'
    /// records lie (the store's `seq` runs across all of them).
    pub(crate) fn check_row(&mut self, row: &StoredRow) -> Result<Record, Broken> {
        if row.seq <= self.last_seq {
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

    /// Checks a body that claims to be record `seq` (a line of an export
    /// file) and, if good, continues the chain with it.
    pub(crate) fn check_body(&mut self, seq: u64, body: &str) -> Result<Record, Broken> {
        if seq <= self.last_seq {
            return Err(Broken::Reordered { seq });
        }
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
            } else if seq > self.last_seq.saturating_add(1) {
                Broken::Unlinked {
                    after_seq: self.last_seq,
                    seq,
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

/// One trail as the walk found it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrailReport {
    /// The trail's project (`None`: the server's trail).
    pub project: Option<String>,
    /// Its records checked.
    pub records: u64,
    /// Its last record (or its checkpoint's).
    pub last_seq: u64,
    /// That record's hash.
    pub last_hash: String,
    /// Where it starts after retention, if it was cut.
    pub checkpoint: Option<Checkpoint>,
}

/// One trail being walked.
struct Walk {
    chain: Chain,
    provenance: Provenance,
    records: u64,
    checkpoint: Option<Checkpoint>,
}

impl Walk {
    fn new(checkpoint: Option<Checkpoint>, mark: Option<crate::store::ExportMark>) -> Self {
        let chain = match &checkpoint {
            Some(c) => Chain::new(c.seq, c.hash.clone(), "the checkpoint"),
            None => Chain::new(0, GENESIS_HASH.to_owned(), "the start of the chain"),
        };
        Self {
            chain,
            provenance: Provenance::new(checkpoint.clone(), mark),
            records: 0,
            checkpoint,
        }
    }
}

/// Verifies every record of `store` in order, streaming: each body against
/// its hash, each `prev_hash` against the previous record of its trail (or
/// the trail's checkpoint), `seq`s rising and without gaps above every
/// checkpoint, `ts` never decreasing, the indexed columns against the body;
/// each trail's end against the store's `trails` and the store's end against
/// `head` (the head file, read **before** calling this, so that records
/// appended meanwhile do not matter), and each trail's checkpoint, if any,
/// against its export mark and `audit_retention` records
/// ([`Broken::ForgedCheckpoint`]).
///
/// Returns the first finding as `Ok(Err(_))`; `Err(_)` is a failure to read.
pub fn verify(
    store: &mut dyn AuditStore,
    head: Option<&HeadFile>,
) -> Result<Result<Report, Broken>> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let checkpoints = match as_finding(store.checkpoints())? {
            Ok(c) => c,
            Err(b) => return Ok(Err(b)),
        };
        let heads = store.trails()?;
        // What the store and the head file say each trail's last record
        // is, by `seq`.
        let head_at: std::collections::HashMap<u64, &str> =
            heads.iter().map(|t| (t.seq, t.hash.as_str())).collect();
        let marked_at: std::collections::HashMap<u64, &str> = head
            .iter()
            .flat_map(|h| h.trails.values())
            .map(|m| (m.seq, m.hash.as_str()))
            .collect();
        // Every trail's start and evidence, read before the walk.
        let mut walks: BTreeMap<Option<String>, Walk> = BTreeMap::new();
        for t in &heads {
            let project = t.project.as_deref();
            let checkpoint = checkpoints
                .iter()
                .find(|(p, _)| p.as_deref() == project)
                .map(|(_, c)| c.clone());
            let mark = match as_finding(store.export_mark(project))? {
                Ok(m) => m,
                Err(b) => return Ok(Err(b)),
            };
            walks.insert(t.project.clone(), Walk::new(checkpoint, mark));
        }
        // Below the last checkpoint, records of the trails cut are gone;
        // above it, every `seq` is there.
        let floor = checkpoints.iter().map(|(_, c)| c.seq).max().unwrap_or(0);
        let mut finding = None;
        let (mut records, mut first_seq) = (0u64, None);
        let (mut last_seq, mut last_hash, mut last_ts) = (0u64, None::<String>, String::new());
        let mut at_head = None;
        store.scan(0, u64::MAX, &mut |row| {
            let lo = last_seq.max(floor);
            if row.seq > lo.saturating_add(1) {
                finding = Some(Broken::Deleted {
                    after_seq: lo,
                    missing: row.seq - lo - 1,
                });
                return Ok(false);
            }
            // A trail that appeared since the heads were read.
            if !walks.contains_key(&row.project) {
                walks.insert(row.project.clone(), Walk::new(None, None));
            }
            let Some(walk) = walks.get_mut(&row.project) else {
                return Ok(false);
            };
            let record = match walk.chain.check_row(&row) {
                Ok(r) => r,
                Err(b) => {
                    finding = Some(b);
                    return Ok(false);
                }
            };
            if record.ts < last_ts {
                finding = Some(Broken::Edited {
                    seq: record.seq,
                    what: "`ts` is earlier than the previous record's".into(),
                });
                return Ok(false);
            }
            let differs = |at: &std::collections::HashMap<u64, &str>| {
                at.get(&record.seq).is_some_and(|&hash| hash != record.hash)
            };
            if differs(&head_at) || differs(&marked_at) {
                finding = Some(Broken::HeadMismatch { seq: record.seq });
                return Ok(false);
            }
            walk.records += 1;
            walk.provenance.observe(&record);
            records += 1;
            first_seq.get_or_insert(record.seq);
            if head.is_some_and(|h| h.seq == record.seq) {
                at_head = Some(record.hash.clone());
            }
            last_seq = record.seq;
            last_hash = Some(record.hash);
            last_ts = record.ts;
            Ok(true)
        })?;
        if let Some(b) = finding {
            // Retention may have cut a trail between reading the checkpoints
            // and scanning; that looks like a deletion at its start.
            if attempt < 3
                && as_finding(store.checkpoints())?
                    .ok()
                    .is_some_and(|now| now != checkpoints)
            {
                continue;
            }
            return Ok(Err(b));
        }
        if let Some(b) = store.check_derived()? {
            return Ok(Err(b));
        }
        // A trail whose last records were removed, though other trails'
        // records come after them: the store's and the head file's record
        // of its end.
        let marks = head.iter().flat_map(|h| h.trails.iter()).map(|(p, m)| {
            let project = (!p.is_empty()).then(|| p.clone());
            (project, m.seq)
        });
        let ends = heads
            .iter()
            .map(|t| (t.project.clone(), t.seq))
            .chain(marks);
        for (project, seq) in ends {
            let walked = walks.get(&project).map_or(0, |w| w.chain.last_seq());
            if seq > walked {
                return Ok(Err(Broken::Truncated {
                    last_seq: walked,
                    head_seq: seq,
                }));
            }
        }
        let last_cut = checkpoints.iter().map(|(_, c)| c).max_by_key(|c| c.seq);
        let end_seq = last_seq.max(floor);
        if let Some(h) = head {
            if h.seq > end_seq {
                return Ok(Err(Broken::Truncated {
                    last_seq: end_seq,
                    head_seq: h.seq,
                }));
            }
            let recorded = match last_cut {
                _ if h.seq == 0 => Some(GENESIS_HASH.to_owned()),
                _ if at_head.is_some() => at_head,
                Some(c) if c.seq == h.seq => Some(c.hash.clone()),
                Some(c) if h.seq < c.seq => None,
                _ => Some(String::new()),
            };
            if recorded.is_some_and(|r| r != h.hash) {
                return Ok(Err(Broken::HeadMismatch { seq: h.seq }));
            }
        }
        let mut trails = Vec::new();
        let mut removed = 0u64;
        for (project, walk) in walks {
            let last = walk.chain.last_seq();
            if let Some(b) = walk.provenance.finding(last) {
                return Ok(Err(b));
            }
            removed = removed.saturating_add(walk.checkpoint.as_ref().map_or(0, |c| c.removed));
            trails.push(TrailReport {
                project,
                records: walk.records,
                last_seq: last,
                last_hash: walk.chain.last_hash().to_owned(),
                checkpoint: walk.checkpoint,
            });
        }
        // Every `seq` written is in the store or counted by a checkpoint: a
        // trail removed whole, or its end removed below another trail's
        // checkpoint, is missing from this sum.
        if records.saturating_add(removed) != end_seq {
            return Ok(Err(Broken::Uncounted {
                written: end_seq,
                present: records,
                removed,
            }));
        }
        let last_hash = match (last_hash, last_cut) {
            (Some(h), _) if last_seq >= floor => h,
            (_, Some(c)) => c.hash.clone(),
            (h, None) => h.unwrap_or_else(|| GENESIS_HASH.to_owned()),
        };
        return Ok(Ok(Report {
            records,
            first_seq,
            last_seq: end_seq,
            last_hash,
            checkpoint: last_cut.cloned(),
            trails,
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
