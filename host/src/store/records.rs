//! Where the audit trail's records are kept: [`AuditStore`], and the
//! values it reads and writes (query [`Filter`]s and [`Cursor`]s, rows as
//! stored, each trail's head ([`TrailHead`]), and the [`Checkpoint`] and
//! [`ExportMark`] of each trail in its `meta` table).
//!
//! Records are numbered by one `seq` across the store, in the order they
//! were written, and chained per **trail**: a project's records form one
//! chain, and the records that concern no project (the server's) another.
//! A trail is named by its project (`None`: the server's).
//!
//! The trait is blocking, on purpose: its one writer is the audit log's
//! group-commit thread ([`crate::audit::AuditLog`]), which must not wait for
//! an async runtime between a batch and its `fsync`, and its readers
//! (queries, verification, export, retention) run on blocking threads of
//! their own. The embedded backend is [`super::SqliteStore`]; a PostgreSQL
//! backend implements the same trait over the same schema and passes the
//! same conformance suite (`store::conformance`).

use crate::decision::Outcome;
use crate::record::{Broken, Kind, Record, SealedRecord};
use crate::{Error, Result};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Which records a query returns. Every set field must match; `None` matches
/// anything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// The agent's session.
    pub session: Option<String>,
    /// The agent.
    pub agent: Option<String>,
    /// The project.
    pub project: Option<String>,
    /// One of these projects (what a project administrator may read); an
    /// empty list matches nothing.
    pub projects: Option<Vec<String>>,
    /// The decision's outcome.
    pub decision: Option<Outcome>,
    /// One decision, by id.
    pub decision_id: Option<String>,
    /// Decisions or administrative actions only.
    pub kind: Option<Kind>,
    /// Records at or after this time.
    pub from_ts: Option<Timestamp>,
    /// Records strictly before this time.
    pub to_ts: Option<Timestamp>,
}

/// Where a page of query results starts (keyset pagination on `seq`: pass
/// the last `seq` of a page to get the next).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    /// Records with a larger `seq`, oldest first.
    After(u64),
    /// Records with a smaller `seq`, newest first.
    Before(u64),
}

impl Cursor {
    /// The first page, oldest first.
    pub const OLDEST: Cursor = Cursor::After(0);
    /// The first page, newest first.
    pub const NEWEST: Cursor = Cursor::Before(u64::MAX);
}

/// Largest page a query returns.
pub const MAX_PAGE: usize = 10_000;

/// One stored row as read back, untrusted: every column as found (`None` for
/// NULL), the `body` still to be checked. Verification compares the indexed
/// columns with the body, so a column edited to hide a record from queries
/// is found too.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredRow {
    /// The row's key.
    pub seq: u64,
    /// Column `ts`.
    pub ts: Option<String>,
    /// Column `kind`.
    pub kind: Option<String>,
    /// Column `decision_id`.
    pub decision_id: Option<String>,
    /// Column `agent`.
    pub agent: Option<String>,
    /// Column `session`.
    pub session: Option<String>,
    /// Column `project`.
    pub project: Option<String>,
    /// Column `decision`.
    pub decision: Option<String>,
    /// Column `body`: the record as sealed.
    pub body: Option<String>,
    /// Column `hash`.
    pub hash: Option<String>,
}

/// The last record in a store, as its columns say (unverified).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    /// Its `seq`.
    pub seq: u64,
    /// Its `hash`.
    pub hash: String,
    /// Its `ts`.
    pub ts: String,
}

/// Where the chain starts after a retention cut: the last removed record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// `seq` of the last removed record.
    pub seq: u64,
    /// `hash` of the last removed record: the next record's `prev_hash`.
    pub hash: String,
    /// How many of the trail's records retention has removed in all, up to
    /// here: every `seq` written is either in the store or counted by one
    /// trail's checkpoint.
    #[serde(default)]
    pub removed: u64,
}

/// How far export has got, kept in `meta` under [`EXPORTED_KEY`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportMark {
    /// The last exported record's `seq`.
    pub seq: u64,
    /// The last exported record's `hash`.
    pub hash: String,
    /// The period of the last exported file, e.g. `2026-11-23T14`: for
    /// whoever reads `meta`; file names are chosen by what the destination
    /// holds ([`crate::audit::ExportSink::exists`]), not from this.
    pub period: String,
}

/// The last record of one trail, as the store keeps it (unverified).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailHead {
    /// The trail: its project, `None` for the server's.
    pub project: Option<String>,
    /// Its last record's `seq`.
    pub seq: u64,
    /// Its last record's `hash`.
    pub hash: String,
}

/// Base of the `meta` key of a trail's [`Checkpoint`] (JSON): see
/// [`trail_key`].
pub const CHECKPOINT_KEY: &str = "checkpoint";
/// Base of the `meta` key of a trail's [`ExportMark`] (JSON): see
/// [`trail_key`].
pub const EXPORTED_KEY: &str = "exported_through";

/// The `meta` key of `base` for one trail: `checkpoint/billing`, and
/// `checkpoint/` for the server's trail.
pub fn trail_key(base: &str, project: Option<&str>) -> String {
    format!("{base}/{}", project.unwrap_or(""))
}

/// How a trail is named to people: `project `billing``, or `the server's
/// trail`.
pub fn trail_name(project: Option<&str>) -> String {
    match project {
        Some(p) => format!("project `{p}`"),
        None => "the server's trail".to_owned(),
    }
}

/// An audit backend.
///
/// One value is one connection: the writer owns one, readers open their own.
/// Methods take `&mut self` so that a backend may cache prepared statements.
pub trait AuditStore: Send {
    /// Appends `batch` (consecutive records, each continuing its trail) in
    /// one transaction, durable (synced) when this returns `Ok`, and keeps
    /// each trail's last record ([`AuditStore::trails`]) in the same
    /// transaction. On error nothing of the batch is stored.
    fn append(&mut self, batch: &[SealedRecord]) -> Result<()>;

    /// The last record of the store, from its columns; `None` if there are
    /// no records (there may still be checkpoints).
    fn head(&mut self) -> Result<Option<ChainHead>>;

    /// The last record of every trail that has one, as kept by
    /// [`AuditStore::append`], ordered by project (the server's first).
    fn trails(&mut self) -> Result<Vec<TrailHead>>;

    /// One page of records matching `filter`, from `cursor`, at most `limit`
    /// (capped at [`MAX_PAGE`]). A body that is not a record is an
    /// [`Error::AuditBroken`].
    fn query(&mut self, filter: &Filter, cursor: Cursor, limit: usize) -> Result<Vec<Record>>;

    /// The row at `seq`, if any.
    fn row(&mut self, seq: u64) -> Result<Option<StoredRow>>;

    /// Passes each row with `after_seq < seq <= through_seq` to `visit`, in
    /// `seq` order, from one consistent snapshot, without holding them all
    /// in memory; stops early when `visit` returns `Ok(false)`, and returns
    /// `visit`'s error.
    fn scan(
        &mut self,
        after_seq: u64,
        through_seq: u64,
        visit: &mut dyn FnMut(StoredRow) -> Result<bool>,
    ) -> Result<()>;

    /// [`AuditStore::scan`] over the rows of one trail only (by their
    /// `project` column; `None`: the rows without one).
    fn scan_trail(
        &mut self,
        project: Option<&str>,
        after_seq: u64,
        through_seq: u64,
        visit: &mut dyn FnMut(StoredRow) -> Result<bool>,
    ) -> Result<()>;

    /// The largest `seq <= through_seq` of the trail of `project` whose
    /// `ts` column is before `ts`.
    fn last_seq_before(
        &mut self,
        project: Option<&str>,
        ts: &str,
        through_seq: u64,
    ) -> Result<Option<u64>>;

    /// A value from the `meta` table.
    fn meta(&mut self, key: &str) -> Result<Option<String>>;

    /// Sets a value in the `meta` table (durably).
    fn set_meta(&mut self, key: &str, value: &str) -> Result<()>;

    /// In one transaction: stores `checkpoint` as the trail's of `project`
    /// and deletes that trail's records with `after_seq < seq <=
    /// checkpoint.seq` (`after_seq`: its previous checkpoint, or 0), which
    /// must be exactly `expected` records: otherwise nothing changes and the
    /// answer is an [`Error::AuditBroken`] (the checkpoint counts what it
    /// removed). Returns how many were deleted. Other trails are untouched.
    fn cut(
        &mut self,
        project: Option<&str>,
        after_seq: u64,
        expected: u64,
        checkpoint: &Checkpoint,
    ) -> Result<u64>;

    /// Background upkeep, run every 10 ms or so from a connection of its
    /// own while the log is open, off the writer's path (SQLite: moves the
    /// WAL into the database file). Default: nothing.
    fn maintain(&mut self) -> Result<()> {
        Ok(())
    }

    /// Checks what the backend derives from the records for queries (for
    /// SQLite, the session/agent postings) against them; the first
    /// record it misrepresents. The records themselves are checked by
    /// [`crate::audit::verify()`].
    fn check_derived(&mut self) -> Result<Option<Broken>> {
        Ok(None)
    }

    /// The checkpoint of the trail of `project`, if retention has cut it.
    /// An unreadable one is an [`Error::AuditBroken`].
    fn checkpoint(&mut self, project: Option<&str>) -> Result<Option<Checkpoint>> {
        let key = trail_key(CHECKPOINT_KEY, project);
        meta_json(self.meta(&key)?, &key)
    }

    /// How far export of the trail of `project` has got. An unreadable mark
    /// is an [`Error::AuditBroken`].
    fn export_mark(&mut self, project: Option<&str>) -> Result<Option<ExportMark>> {
        let key = trail_key(EXPORTED_KEY, project);
        meta_json(self.meta(&key)?, &key)
    }

    /// The checkpoint of every trail that has one (of the trails in
    /// [`AuditStore::trails`]: retention always leaves a record in the trail
    /// it cuts).
    fn checkpoints(&mut self) -> Result<Vec<(Option<String>, Checkpoint)>> {
        let mut out = Vec::new();
        for t in self.trails()? {
            if let Some(c) = self.checkpoint(t.project.as_deref())? {
                out.push((t.project, c));
            }
        }
        Ok(out)
    }

    /// Moves the export mark of the trail of `project` (durably).
    fn set_export_mark(&mut self, project: Option<&str>, mark: &ExportMark) -> Result<()> {
        let value = serde_json::to_string(mark).map_err(|e| Error::Audit {
            message: format!("cannot encode the export mark: {e}"),
        })?;
        self.set_meta(&trail_key(EXPORTED_KEY, project), &value)
    }
}

fn meta_json<T: serde::de::DeserializeOwned>(
    value: Option<String>,
    key: &str,
) -> Result<Option<T>> {
    value
        .map(|v| {
            serde_json::from_str(&v).map_err(|e| {
                Error::AuditBroken(Broken::Malformed {
                    what: format!("meta `{key}` is unreadable: {e}"),
                })
            })
        })
        .transpose()
}
