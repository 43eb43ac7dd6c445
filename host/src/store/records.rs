//! Where the audit trail's records are kept: [`AuditStore`], and the
//! values it reads and writes (query [`Filter`]s and [`Cursor`]s, rows as
//! stored, the [`Checkpoint`] and [`ExportMark`] in its `meta` table).
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

/// `meta` key of the [`Checkpoint`] (JSON).
pub const CHECKPOINT_KEY: &str = "checkpoint";
/// `meta` key of the [`ExportMark`] (JSON).
pub const EXPORTED_KEY: &str = "exported_through";

/// An audit backend.
///
/// One value is one connection: the writer owns one, readers open their own.
/// Methods take `&mut self` so that a backend may cache prepared statements.
pub trait AuditStore: Send {
    /// Appends `batch` (consecutive records, continuing the chain) in one
    /// transaction, durable (synced) when this returns `Ok`. On error nothing
    /// of the batch is stored.
    fn append(&mut self, batch: &[SealedRecord]) -> Result<()>;

    /// The last record, from its columns; `None` if there are no records
    /// (there may still be a checkpoint).
    fn head(&mut self) -> Result<Option<ChainHead>>;

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

    /// The largest `seq <= through_seq` whose `ts` column is before `ts`.
    fn last_seq_before(&mut self, ts: &str, through_seq: u64) -> Result<Option<u64>>;

    /// A value from the `meta` table.
    fn meta(&mut self, key: &str) -> Result<Option<String>>;

    /// Sets a value in the `meta` table (durably).
    fn set_meta(&mut self, key: &str, value: &str) -> Result<()>;

    /// In one transaction: stores `checkpoint` and deletes every record with
    /// `seq <= checkpoint.seq`. Returns how many were deleted.
    fn cut(&mut self, checkpoint: &Checkpoint) -> Result<u64>;

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

    /// The checkpoint, if retention has cut the chain. An unreadable one is an
    /// [`Error::AuditBroken`].
    fn checkpoint(&mut self) -> Result<Option<Checkpoint>> {
        meta_json(self.meta(CHECKPOINT_KEY)?, CHECKPOINT_KEY)
    }

    /// How far export has got. An unreadable mark is an [`Error::AuditBroken`].
    fn export_mark(&mut self) -> Result<Option<ExportMark>> {
        meta_json(self.meta(EXPORTED_KEY)?, EXPORTED_KEY)
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
