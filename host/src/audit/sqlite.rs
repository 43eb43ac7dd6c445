//! The embedded audit store: SQLite (bundled, nothing to install), one file
//! `audit.db` in the data directory.
//!
//! WAL journal with `synchronous=FULL`, so a commit is synced before it
//! returns; one transaction per appended batch, which is the group commit.
//! Readers open their own connection and read while the writer writes.
//!
//! The schema is plain relational SQL and maps one-to-one to PostgreSQL
//! (`INTEGER` → `BIGINT`, `?N` → `$N`; `ON CONFLICT … DO UPDATE` is the same):
//!
//! ```sql
//! CREATE TABLE records (
//!     seq INTEGER PRIMARY KEY,     -- 1, 2, 3, …
//!     ts TEXT NOT NULL,            -- fixed-width RFC 3339, sorts in time order
//!     kind TEXT NOT NULL,          -- decision | admin
//!     decision_id TEXT,
//!     agent TEXT, session TEXT, project TEXT,
//!     decision TEXT,               -- allow | deny | approval_required
//!     body TEXT NOT NULL,          -- the sealed record, hash included
//!     hash TEXT NOT NULL
//! );
//! CREATE INDEX records_ts ON records (ts);
//! -- Session and agent lookups, filled in bulk (see below).
//! CREATE TABLE lookup (seq INTEGER PRIMARY KEY, session TEXT, agent TEXT);
//! CREATE INDEX lookup_session ON lookup (session, seq);
//! CREATE INDEX lookup_agent ON lookup (agent, seq);
//! CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
//! ```
//!
//! The columns besides `body` are copies, for queries; verification checks
//! them against the body, and the `lookup` table against them.
//!
//! **Why `lookup` and not indexes on `records`**: an index whose keys are
//! spread out (one hot page per active session) makes every commit write one
//! more 4 KiB page to the WAL per session touched; measured with 64
//! concurrent sessions, `(session, seq)` and `(agent, seq)` indexes on
//! `records` halved the writer's throughput. So `records` keeps only its
//! append-only indexes (`seq`, `ts`), and the writer copies `(seq, session,
//! agent)` into `lookup` every [`LOOKUP_EVERY`] records, inside the batch
//! transaction that crosses that mark (so each hot page is written once per
//! thousand records instead of once per batch). Queries by session or agent
//! use `lookup` up to its last `seq` and scan the few records after it.
//! `decision_id` is not indexed at all: decision ids are random, and an
//! index on random keys costs one page write per record; find a decision by
//! id together with a time window (or by `seq`). A PostgreSQL backend would
//! simply index `records`.
//!
//! Time windows are turned into `seq` ranges through `records_ts` (times never
//! decrease along `seq`), so every query walks `seq` order without sorting.

use super::Broken;
use super::format_ts;
use super::record::{Record, SealedRecord, outcome_str};
use super::store::{AuditStore, ChainHead, Checkpoint, Cursor, Filter, MAX_PAGE, StoredRow};
use crate::{Error, Result};
use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};
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
CREATE INDEX IF NOT EXISTS records_ts ON records (ts);
CREATE TABLE IF NOT EXISTS lookup (seq INTEGER PRIMARY KEY, session TEXT, agent TEXT);
CREATE INDEX IF NOT EXISTS lookup_session ON lookup (session, seq);
CREATE INDEX IF NOT EXISTS lookup_agent ON lookup (agent, seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta (key, value) VALUES ('schema', '1') ON CONFLICT (key) DO NOTHING;
";

const INSERT: &str = "INSERT INTO records \
    (seq, ts, kind, decision_id, agent, session, project, decision, body, hash) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
const COLUMNS: &str = "seq, ts, kind, decision_id, agent, session, project, decision, body, hash";
const SET_META: &str =
    "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value";

/// How long a connection waits for another one's write transaction.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The SQLite audit store (one connection).
#[derive(Debug)]
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
    /// The last `seq` copied into `lookup`, once known (writer only).
    lookup_through: Option<u64>,
    lookup_every: u64,
}

/// How many records the writer lets accumulate before copying them into
/// `lookup` (queries scan at most about this many records beyond it).
pub const LOOKUP_EVERY: u64 = 1024;

impl SqliteStore {
    /// The database's file name in the data directory.
    pub const FILE: &'static str = "audit.db";

    /// Opens (creating if needed) `data_dir/audit.db`.
    pub fn open(data_dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(data_dir).map_err(|source| Error::Io {
            path: data_dir.to_owned(),
            source,
        })?;
        let path = data_dir.join(Self::FILE);
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        Self::open_with(path, flags)
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
        let setup = || -> rusqlite::Result<String> {
            conn.busy_timeout(BUSY_TIMEOUT)?;
            let mode: String =
                conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
            if let Ok(v) = std::env::var("XP_CKPT") { conn.pragma_update(None, "wal_autocheckpoint", v)?; }
            conn.pragma_update(None, "synchronous", "FULL")?;
            if std::env::var("XP_NOTS").is_ok() { conn.execute_batch(&SCHEMA.replace("CREATE INDEX IF NOT EXISTS records_ts ON records (ts);", ""))?; } else if std::env::var("XP_V1").is_ok() { conn.execute_batch(&SCHEMA.replace("CREATE INDEX IF NOT EXISTS lookup_session ON lookup (session, seq);", "CREATE INDEX IF NOT EXISTS records_session ON records (session, seq);").replace("CREATE INDEX IF NOT EXISTS lookup_agent ON lookup (agent, seq);","CREATE INDEX IF NOT EXISTS records_agent ON records (agent, seq);"))?; } else {
            conn.execute_batch(SCHEMA)?; }
            // One statement per filter combination is cached (see `query`).
            conn.set_prepared_statement_cache_capacity(128);
            Ok(mode)
        };
        let mode = setup().map_err(|e| sql_err(&path, e))?;
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
            lookup_through: None,
            lookup_every: std::env::var("XP_LOOKUP").ok().and_then(|v| v.parse().ok()).unwrap_or(LOOKUP_EVERY),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, e: rusqlite::Error) -> Error {
        sql_err(&self.path, e)
    }

    fn lookup_max(&mut self) -> Result<u64> {
        let max: i64 = self
            .conn
            .query_row("SELECT coalesce(max(seq), 0) FROM lookup", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        Ok(u64::try_from(max).unwrap_or(0))
    }

    /// Copies records into `lookup` every `n` records instead of
    /// [`LOOKUP_EVERY`] (tests).
    #[cfg(test)]
    pub(crate) fn set_lookup_every(&mut self, n: u64) {
        self.lookup_every = n;
    }
}

fn sql_err(path: &Path, e: rusqlite::Error) -> Error {
    Error::Audit {
        message: format!("audit store `{}`: {e}", path.display()),
    }
}

/// The conditions of a query and their arguments.
#[derive(Default, Clone)]
struct Where {
    conds: Vec<String>,
    args: Vec<Value>,
}

impl Where {
    fn and(&mut self, cond: &str, arg: Value) {
        self.args.push(arg);
        self.conds.push(format!("{cond} ?{}", self.args.len()));
    }

    /// `SELECT r.seq, r.body FROM <from> WHERE … ORDER BY <by> … LIMIT …`.
    fn select(mut self, from: &str, by: &str, order: &str, limit: usize) -> (String, Vec<Value>) {
        self.args
            .push(Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
        let sql = format!(
            "SELECT r.seq, r.body FROM {from} WHERE {} ORDER BY {by} {order} LIMIT ?{}",
            self.conds.join(" AND "),
            self.args.len()
        );
        (sql, self.args)
    }
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A column as text, whatever was stored in it (the row may have been
/// tampered with; a value of another type then simply differs from the body).
fn text(v: ValueRef<'_>) -> Option<String> {
    match v {
        ValueRef::Null => None,
        ValueRef::Text(b) | ValueRef::Blob(b) => Some(String::from_utf8_lossy(b).into_owned()),
        ValueRef::Integer(i) => Some(i.to_string()),
        ValueRef::Real(f) => Some(f.to_string()),
    }
}

/// A row of `COLUMNS`.
fn stored_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredRow> {
    let seq: i64 = r.get(0)?;
    Ok(StoredRow {
        seq: u64::try_from(seq).unwrap_or(0),
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

/// The `seq` range a query covers, from its cursor and time window (times
/// never decrease along `seq`, so a window is a range); `None` if empty.
fn seq_window(
    conn: &Connection,
    path: &Path,
    filter: &Filter,
    cursor: Cursor,
) -> Result<Option<(u64, u64)>> {
    let seq_at = |sql: &str, ts: String| -> Result<Option<u64>> {
        conn.prepare_cached(sql)
            .and_then(|mut st| st.query_row([ts], |r| r.get::<_, i64>(0)).optional())
            .map(|v| v.and_then(|v| u64::try_from(v).ok()))
            .map_err(|e| sql_err(path, e))
    };
    let (mut lo, mut hi) = match cursor {
        Cursor::After(c) => (c.saturating_add(1), u64::MAX),
        Cursor::Before(c) => (0, c.saturating_sub(1)),
    };
    if let Some(t) = filter.from_ts {
        let first = "SELECT seq FROM records WHERE ts >= ?1 ORDER BY ts LIMIT 1";
        match seq_at(first, format_ts(t))? {
            Some(s) => lo = lo.max(s),
            None => return Ok(None),
        }
    }
    if let Some(t) = filter.to_ts {
        let last = "SELECT seq FROM records WHERE ts < ?1 ORDER BY ts DESC LIMIT 1";
        match seq_at(last, format_ts(t))? {
            Some(s) => hi = hi.min(s),
            None => return Ok(None),
        }
    }
    Ok((lo <= hi).then_some((lo, hi)))
}

/// The filter's conditions on `records r`. The `+` keeps the planner on
/// `seq` (or `lookup`), which gives the order without sorting.
fn conditions(filter: &Filter) -> Where {
    let mut q = Where::default();
    let text_filters = [
        ("+r.session =", &filter.session),
        ("+r.agent =", &filter.agent),
        ("+r.project =", &filter.project),
        ("+r.decision_id =", &filter.decision_id),
    ];
    for (c, v) in text_filters {
        if let Some(v) = v {
            q.and(c, Value::Text(v.clone()));
        }
    }
    if let Some(d) = filter.decision {
        q.and("+r.decision =", Value::Text(outcome_str(d).into()));
    }
    if let Some(k) = filter.kind {
        q.and("+r.kind =", Value::Text(k.as_str().into()));
    }
    if let Some(t) = filter.from_ts {
        q.and("+r.ts >=", Value::Text(format_ts(t)));
    }
    if let Some(t) = filter.to_ts {
        q.and("+r.ts <", Value::Text(format_ts(t)));
    }
    q
}

fn query_page(
    conn: &Connection,
    path: &Path,
    filter: &Filter,
    cursor: Cursor,
    limit: usize,
) -> Result<Vec<Record>> {
    let mut out = Vec::new();
    let Some((lo, hi)) = seq_window(conn, path, filter, cursor)? else {
        return Ok(out);
    };
    let order = match cursor {
        Cursor::After(_) => "ASC",
        Cursor::Before(_) => "DESC",
    };
    let conds = conditions(filter);
    let key = match (&filter.session, &filter.agent) {
        (Some(s), _) => Some(("session", s)),
        (None, Some(a)) => Some(("agent", a)),
        (None, None) => None,
    };
    let Some((column, key)) = key else {
        let mut q = conds;
        q.and("r.seq >=", Value::Integer(to_i64(lo)));
        q.and("r.seq <=", Value::Integer(to_i64(hi)));
        let (sql, args) = q.select("records r", "r.seq", order, limit);
        read_page(conn, path, &sql, args, limit, &mut out)?;
        return Ok(out);
    };
    // Through `lookup` up to its last `seq`, then the few records after it.
    let through: i64 = conn
        .prepare_cached("SELECT coalesce(max(seq), 0) FROM lookup")
        .and_then(|mut st| st.query_row([], |r| r.get(0)))
        .map_err(|e| sql_err(path, e))?;
    let through = u64::try_from(through).unwrap_or(0);
    let mut indexed = conds.clone();
    indexed.and(&format!("l.{column} ="), Value::Text(key.clone()));
    indexed.and("l.seq >=", Value::Integer(to_i64(lo)));
    indexed.and("l.seq <=", Value::Integer(to_i64(hi.min(through))));
    let from = "lookup l JOIN records r ON r.seq = l.seq";
    let indexed = indexed.select(from, "l.seq", order, limit);
    let mut tail = conds;
    tail.and("r.seq >=", Value::Integer(to_i64(lo.max(through.saturating_add(1)))));
    tail.and("r.seq <=", Value::Integer(to_i64(hi)));
    let tail = tail.select("records r", "r.seq", order, limit);
    let mut parts = [indexed, tail];
    if order == "DESC" {
        parts.reverse();
    }
    for (sql, args) in parts {
        read_page(conn, path, &sql, args, limit, &mut out)?;
    }
    Ok(out)
}

/// Appends the records `sql` returns to `out`, up to `limit` in all.
fn read_page(
    conn: &Connection,
    path: &Path,
    sql: &str,
    args: Vec<Value>,
    limit: usize,
    out: &mut Vec<Record>,
) -> Result<()> {
    let e = |e| sql_err(path, e);
    if out.len() >= limit {
        return Ok(());
    }
    let mut st = conn.prepare_cached(sql).map_err(e)?;
    let mut rows = st.query(rusqlite::params_from_iter(args)).map_err(e)?;
    while out.len() < limit
        && let Some(r) = rows.next().map_err(e)?
    {
        let seq: i64 = r.get(0).map_err(e)?;
        let seq = u64::try_from(seq).unwrap_or(0);
        let body = text(r.get_ref(1).map_err(e)?).unwrap_or_default();
        let record: Record = serde_json::from_str(&body).map_err(|err| {
            Error::AuditBroken(Broken::Edited {
                seq,
                what: format!("the stored body is not a record: {err}"),
            })
        })?;
        out.push(record);
    }
    Ok(())
}

impl AuditStore for SqliteStore {
    fn append(&mut self, batch: &[SealedRecord]) -> Result<()> {
        let Some(last) = batch.last().map(SealedRecord::seq) else {
            return Ok(());
        };
        let lookup_through = match self.lookup_through {
            Some(n) => n,
            None => self.lookup_max()?,
        };
        let fill_lookup = last.saturating_sub(lookup_through) >= self.lookup_every;
        let path = self.path.clone();
        let e = |e| sql_err(&path, e);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(e)?;
        {
            let mut insert = tx.prepare_cached(INSERT).map_err(e)?;
            for s in batch {
                let c = s.columns();
                insert
                    .execute(params![
                        to_i64(s.seq()),
                        s.ts(),
                        c.kind.as_str(),
                        c.decision_id,
                        c.agent,
                        c.session,
                        c.project,
                        c.decision.map(outcome_str),
                        s.body(),
                        s.hash(),
                    ])
                    .map_err(e)?;
            }
        }
        if fill_lookup {
            tx.prepare_cached(
                "INSERT INTO lookup (seq, session, agent) \
                 SELECT seq, session, agent FROM records WHERE seq > ?1",
            )
            .and_then(|mut st| st.execute([to_i64(lookup_through)]))
            .map_err(e)?;
        }
        tx.commit().map_err(e)?;
        self.lookup_through = Some(if fill_lookup { last } else { lookup_through });
        Ok(())
    }

    fn head(&mut self) -> Result<Option<ChainHead>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT seq, hash, ts FROM records ORDER BY seq DESC LIMIT 1")
            .map_err(|e| sql_err(&self.path, e))?;
        st.query_row([], |r| {
            let seq: i64 = r.get(0)?;
            Ok(ChainHead {
                seq: u64::try_from(seq).unwrap_or(0),
                hash: text(r.get_ref(1)?).unwrap_or_default(),
                ts: text(r.get_ref(2)?).unwrap_or_default(),
            })
        })
        .optional()
        .map_err(|e| sql_err(&self.path, e))
    }

    fn query(&mut self, filter: &Filter, cursor: Cursor, limit: usize) -> Result<Vec<Record>> {
        let limit = limit.min(MAX_PAGE);
        if limit == 0 {
            return Ok(Vec::new());
        }
        let path = self.path.clone();
        // One read transaction: one snapshot for the bounds and the pages.
        let tx = self.conn.transaction().map_err(|e| sql_err(&path, e))?;
        let out = query_page(&tx, &path, filter, cursor, limit)?;
        tx.commit().map_err(|e| sql_err(&path, e))?;
        Ok(out)
    }

    fn row(&mut self, seq: u64) -> Result<Option<StoredRow>> {
        let sql = format!("SELECT {COLUMNS} FROM records WHERE seq = ?1");
        let mut st = self.conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        st.query_row([to_i64(seq)], stored_row)
            .optional()
            .map_err(|e| sql_err(&self.path, e))
    }

    fn scan(
        &mut self,
        after_seq: u64,
        through_seq: u64,
        visit: &mut dyn FnMut(StoredRow) -> Result<bool>,
    ) -> Result<()> {
        let path = self.path.clone();
        let e = |e| sql_err(&path, e);
        let sql = format!("SELECT {COLUMNS} FROM records WHERE seq > ?1 AND seq <= ?2 ORDER BY seq");
        // One statement reads one snapshot (WAL), however long it runs.
        let mut st = self.conn.prepare_cached(&sql).map_err(e)?;
        let mut rows = st
            .query([to_i64(after_seq), to_i64(through_seq)])
            .map_err(e)?;
        while let Some(r) = rows.next().map_err(e)? {
            if !visit(stored_row(r).map_err(e)?)? {
                break;
            }
        }
        Ok(())
    }

    fn last_seq_before(&mut self, ts: &str, through_seq: u64) -> Result<Option<u64>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT max(seq) FROM records WHERE seq <= ?1 AND ts < ?2")
            .map_err(|e| sql_err(&self.path, e))?;
        let max: Option<i64> = st
            .query_row(params![to_i64(through_seq), ts], |r| r.get(0))
            .map_err(|e| sql_err(&self.path, e))?;
        Ok(max.and_then(|m| u64::try_from(m).ok()))
    }

    fn meta(&mut self, key: &str) -> Result<Option<String>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT value FROM meta WHERE key = ?1")
            .map_err(|e| sql_err(&self.path, e))?;
        st.query_row([key], |r| Ok(text(r.get_ref(0)?)))
            .optional()
            .map(Option::flatten)
            .map_err(|e| sql_err(&self.path, e))
    }

    fn set_meta(&mut self, key: &str, value: &str) -> Result<()> {
        let mut st = self
            .conn
            .prepare_cached(SET_META)
            .map_err(|e| sql_err(&self.path, e))?;
        st.execute([key, value])
            .map(drop)
            .map_err(|e| sql_err(&self.path, e))
    }

    fn cut(&mut self, checkpoint: &Checkpoint) -> Result<u64> {
        let value = serde_json::to_string(checkpoint).map_err(|e| Error::Audit {
            message: format!("cannot encode the checkpoint: {e}"),
        })?;
        let path = self.path.clone();
        let e = |e| sql_err(&path, e);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(e)?;
        tx.prepare_cached(SET_META)
            .and_then(|mut st| st.execute([super::store::CHECKPOINT_KEY, value.as_str()]))
            .map_err(e)?;
        let deleted = tx
            .prepare_cached("DELETE FROM records WHERE seq <= ?1")
            .and_then(|mut st| st.execute([to_i64(checkpoint.seq)]))
            .map_err(e)?;
        tx.prepare_cached("DELETE FROM lookup WHERE seq <= ?1")
            .and_then(|mut st| st.execute([to_i64(checkpoint.seq)]))
            .map_err(e)?;
        tx.commit().map_err(e)?;
        Ok(u64::try_from(deleted).unwrap_or(u64::MAX))
    }

    fn check_derived(&mut self) -> Result<Option<Broken>> {
        // Every record up to the last one copied must be in `lookup`, as it
        // is: a missing or altered entry hides the record from queries.
        let sql = "SELECT r.seq FROM records r LEFT JOIN lookup l ON l.seq = r.seq \
                   WHERE r.seq <= (SELECT coalesce(max(seq), 0) FROM lookup) \
                   AND (l.seq IS NULL OR l.session IS NOT r.session OR l.agent IS NOT r.agent) \
                   ORDER BY r.seq LIMIT 1";
        let mut st = self.conn.prepare_cached(sql).map_err(|e| sql_err(&self.path, e))?;
        let seq = st
            .query_row([], |r| r.get::<_, i64>(0))
            .optional()
            .map_err(|e| sql_err(&self.path, e))?;
        Ok(seq.map(|seq| Broken::Edited {
            seq: u64::try_from(seq).unwrap_or(0),
            what: "its entry in the session/agent lookup is missing or differs".into(),
        }))
    }
}
