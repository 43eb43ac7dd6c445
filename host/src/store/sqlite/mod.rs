//! The embedded store: SQLite (bundled, nothing to install); the audit
//! trail in one file, `audit.db`, in the data directory, and the
//! projects' state in another, `state.db` ([`SqliteState`]).
//!
//! WAL journal with `synchronous=FULL`, so a commit is synced before it
//! returns; one transaction per appended batch, which is the group commit.
//! Readers open their own connection and read while the writer writes. A
//! separate connection checkpoints the WAL into the database every 10 ms
//! ([`AuditStore::maintain`]), so that this copy (and its `fsync`) does not
//! land inside a decision's commit, and stays small: its writes share the
//! disk with the commits' syncs. At 10k decisions/s, over 5 s, commits over
//! 2 ms numbered 28 with a copy every 100 ms (2–3 ms each), 4–11 every 25
//! ms, 2 every 10 ms.
//!
//! The files below split it by what they own: `records.rs` (the
//! [`AuditStore`] implementation), `query.rs` (filtered pages and time
//! windows), `postings.rs` (the session/agent lists that stand in for
//! indexes) and `state.rs` ([`SqliteState`], the
//! [`State`](crate::store::state::State) primitive, in `state.db`).
//!
//! # Schema
//!
//! ```sql
//! CREATE TABLE records (
//!     seq INTEGER PRIMARY KEY,     -- 1, 2, 3, …
//!     ts TEXT NOT NULL,            -- fixed-width RFC 3339; never decreases along seq
//!     kind TEXT NOT NULL,          -- decision | admin
//!     decision_id TEXT,
//!     agent TEXT, session TEXT, project TEXT,
//!     decision TEXT,               -- allow | deny | approval_required
//!     body TEXT NOT NULL,          -- the sealed record, hash included
//!     hash TEXT NOT NULL
//! );
//! -- Which records belong to a session or an agent, one row per value and
//! -- per posting pass (see below).
//! CREATE TABLE postings (
//!     field TEXT NOT NULL,         -- session | agent
//!     value TEXT NOT NULL,
//!     upto INTEGER NOT NULL,       -- the last seq the pass covered
//!     first_seq INTEGER NOT NULL,
//!     seqs BLOB NOT NULL,          -- ascending seqs: LEB128 deltas from first_seq
//!     PRIMARY KEY (field, value, upto)
//! ) WITHOUT ROWID;
//! CREATE INDEX postings_upto ON postings (upto);
//! -- Each trail's last record ('' names the server's trail) as of the
//! -- last posting pass (`meta` `trails_through`), written with that pass;
//! -- the records after it complete it. The writer continues each chain
//! -- from here.
//! CREATE TABLE trails (
//!     project TEXT PRIMARY KEY, seq INTEGER NOT NULL, hash TEXT NOT NULL
//! ) WITHOUT ROWID;
//! -- The checkpoint and export mark of each trail
//! -- (`checkpoint/<project>`, `exported_through/<project>`).
//! CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
//! ```
//!
//! A store written before records were chained per trail has no
//! `trails_through` and unkeyed `checkpoint` / `exported_through` entries:
//! when its records all concern one project (its one chain is that trail),
//! the first open fills `trails` and moves those entries to it; a chain that
//! ran across several projects is refused, with what to do.
//!
//! The columns besides `body` are copies, for queries; verification checks
//! them against the body, and `postings` against them.
//!
//! # PostgreSQL
//!
//! `records` and `meta` map one-to-one to PostgreSQL (`INTEGER` → `BIGINT`,
//! `?N` → `$N`; `ON CONFLICT … DO UPDATE` is the same). A PostgreSQL backend
//! needs no `postings`: it would index `records` on `(session, seq)`,
//! `(agent, seq)` and `(ts)` directly, which costs it far less per commit.

mod postings;
mod query;
mod records;
mod state;
#[cfg(test)]
mod tests;

pub use postings::POST_EVERY;
pub use state::SqliteState;

#[cfg(doc)]
use crate::store::records::AuditStore;
use crate::store::records::StoredRow;
use crate::{Error, Result};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::time::Duration;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY,
    ts TEXT NOT NULL,
    kind TEXT NOT NULL,
    decision_id TEXT,
    agent TEXT,
    session TEXT,
    project TEXT,
    decision TEXT,
    body TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS postings (
    field TEXT NOT NULL,
    value TEXT NOT NULL,
    upto INTEGER NOT NULL,
    first_seq INTEGER NOT NULL,
    seqs BLOB NOT NULL,
    PRIMARY KEY (field, value, upto)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS postings_upto ON postings (upto);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trails (
    project TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    hash TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO meta (key, value) VALUES ('schema', '1') ON CONFLICT (key) DO NOTHING;
";

/// How long a connection waits for another one's write transaction.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// `(seq, session, agent)` of a record not yet in `postings`.
type Unposted = (u64, Option<String>, Option<String>);

/// The SQLite audit store (one connection).
#[derive(Debug)]
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
    /// The records appended since the last posting pass, once loaded
    /// (appending connection only).
    unposted: Option<Vec<Unposted>>,
    post_every: u64,
}

impl SqliteStore {
    /// The database's file name in the data directory.
    pub const FILE: &'static str = "audit.db";

    /// Opens (creating if needed) `data_dir/audit.db`. The data directory is
    /// created private (0700) and the database and its WAL files are made
    /// readable by the server's user only (0600), whatever they were before.
    pub fn open(data_dir: &Path) -> Result<Self> {
        let path = private_database(data_dir, Self::FILE)?;
        Self::open_with(path, CREATE)
    }

    /// Opens `data_dir/audit.db`, which must exist (for verification, which
    /// should not create an empty store where one was expected).
    pub fn open_existing(data_dir: &Path) -> Result<Self> {
        let path = data_dir.join(Self::FILE);
        if !path.is_file() {
            return Err(Error::Audit {
                message: format!("no audit store at `{}`", path.display()),
            });
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        Self::open_with(path, flags)
    }

    fn open_with(path: PathBuf, flags: OpenFlags) -> Result<Self> {
        let conn = Connection::open_with_flags(&path, flags).map_err(|e| sql_err(&path, e))?;
        let setup = || -> rusqlite::Result<(String, Option<String>)> {
            let mode = durable_wal(&conn)?;
            // The log's maintenance thread ([`AuditStore::maintain`]) copies
            // the WAL into the database off the writer's path. The writer's
            // own checkpoint, once the WAL reaches 2048 pages (8 MiB), then
            // finds little left to copy and lets the WAL start over (under
            // constant writes, only the writer can): measured best of 1000,
            // 2048 and 8192. A WAL that grew anyway is cut back to 16 MiB.
            conn.pragma_update(None, "wal_autocheckpoint", 2048)?;
            conn.pragma_update_and_check(None, "journal_size_limit", 16 << 20, |_| Ok(()))?;
            conn.execute_batch(SCHEMA)?;
            let refused = upgrade(&conn)?;
            // One statement per filter combination is cached (see `query`).
            conn.set_prepared_statement_cache_capacity(128);
            Ok((mode, refused))
        };
        let (mode, refused) = setup().map_err(|e| sql_err(&path, e))?;
        if let Some(why) = refused {
            return Err(Error::Audit {
                message: format!("audit store `{}`: {why}", path.display()),
            });
        }
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::Audit {
                message: format!(
                    "audit store `{}`: cannot switch to WAL (journal mode is `{mode}`)",
                    path.display()
                ),
            });
        }
        Ok(Self {
            conn,
            path,
            unposted: None,
            post_every: POST_EVERY,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes postings every `n` records instead of [`POST_EVERY`] (tests).
    #[cfg(test)]
    pub(crate) fn set_post_every(&mut self, n: u64) {
        self.post_every = n;
    }

    fn err(&self, e: rusqlite::Error) -> Error {
        sql_err(&self.path, e)
    }
}

/// Brings a store written before records were chained per trail up to
/// date, once: a new store (no records) just gets `trails_through`; a store
/// of one chain whose records all concern one project (or none) is that
/// trail: `trails` is filled from the records and the unkeyed checkpoint and
/// export mark move to it. Returns why it cannot be upgraded: a chain that
/// ran across several trails cannot be read as per-trail chains.
fn upgrade(conn: &Connection) -> rusqlite::Result<Option<String>> {
    let has_through: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM meta WHERE key = 'trails_through')",
        [],
        |r| r.get(0),
    )?;
    if has_through {
        return Ok(None);
    }
    let trails: Vec<String> = conn
        .prepare("SELECT DISTINCT coalesce(project, '') FROM records LIMIT 2")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    if trails.len() > 1 {
        return Ok(Some(
            "this audit store was written as one hash chain across several projects \
             (before each project had a trail of its own): verify and export it with the \
             palisade that wrote it, then start from a new data directory"
                .into(),
        ));
    }
    let tx = conn.unchecked_transaction()?;
    tx.execute(
        "INSERT INTO trails (project, seq, hash) \
         SELECT coalesce(project, ''), seq, hash FROM records \
         WHERE seq = (SELECT max(seq) FROM records)",
        [],
    )?;
    tx.execute(
        "INSERT INTO meta (key, value) \
         SELECT 'trails_through', coalesce(max(seq), 0) FROM records WHERE true \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [],
    )?;
    if let [only] = trails.as_slice() {
        tx.execute(
            "UPDATE meta SET key = key || '/' || ?1 \
             WHERE key IN ('checkpoint', 'exported_through')",
            [only],
        )?;
        // One chain from record 1: its checkpoint removed that many.
        tx.execute(
            "UPDATE meta SET value = json_set(value, '$.removed', json_extract(value, '$.seq')) \
             WHERE key = 'checkpoint/' || ?1 AND json_valid(value)",
            [only],
        )?;
    }
    tx.commit()?;
    Ok(None)
}

/// Flags to open a database, creating it if needed.
pub(super) const CREATE: OpenFlags = OpenFlags::SQLITE_OPEN_READ_WRITE
    .union(OpenFlags::SQLITE_OPEN_CREATE)
    .union(OpenFlags::SQLITE_OPEN_NO_MUTEX);

/// `data_dir/file`, for a database to be opened: the data directory is
/// created private (0700) and the database and its WAL files are made
/// readable by the server's user only (0600), whatever they were before.
pub(super) fn private_database(data_dir: &Path, file: &str) -> Result<PathBuf> {
    crate::data_dir::create(data_dir)?;
    let path = data_dir.join(file);
    for name in [
        file.to_owned(),
        format!("{file}-wal"),
        format!("{file}-shm"),
    ] {
        let name = data_dir.join(name);
        if name == path || name.exists() {
            crate::data_dir::private_file(&name)?;
        }
    }
    Ok(path)
}

/// What every database of the store runs with: the busy timeout, the WAL
/// journal and `synchronous=FULL` (a commit is synced before it returns).
/// Returns the journal mode in force, which the caller checks is `wal`.
pub(super) fn durable_wal(conn: &Connection) -> rusqlite::Result<String> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(mode)
}

pub(super) fn sql_err(path: &Path, e: rusqlite::Error) -> Error {
    Error::Audit {
        message: format!("audit store `{}`: {e}", path.display()),
    }
}

pub(super) fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(super) fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// A column as text, whatever was stored in it (the row may have been
/// tampered with; a value of another type then simply differs from the body).
pub(super) fn text(v: ValueRef<'_>) -> Option<String> {
    match v {
        ValueRef::Null => None,
        ValueRef::Text(b) | ValueRef::Blob(b) => Some(String::from_utf8_lossy(b).into_owned()),
        ValueRef::Integer(i) => Some(i.to_string()),
        ValueRef::Real(f) => Some(f.to_string()),
    }
}

/// A row of `COLUMNS`.
pub(super) fn stored_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredRow> {
    Ok(StoredRow {
        seq: to_u64(r.get(0)?),
        ts: text(r.get_ref(1)?),
        kind: text(r.get_ref(2)?),
        decision_id: text(r.get_ref(3)?),
        agent: text(r.get_ref(4)?),
        session: text(r.get_ref(5)?),
        project: text(r.get_ref(6)?),
        decision: text(r.get_ref(7)?),
        body: text(r.get_ref(8)?),
        hash: text(r.get_ref(9)?),
    })
}
