//! The embedded audit store: SQLite (bundled, nothing to install), one file
//! `audit.db` in the data directory.
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
//! CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
//! ```
//!
//! The columns besides `body` are copies, for queries; verification checks
//! them against the body, and `postings` against them.
//!
//! # Why no secondary indexes on `records`
//!
//! The store is on the decision path, so what a record costs to write
//! matters more than anything else here. Measured on the target machine
//! (2 cores, one fsync ≈ 0.21 ms; 200k records from 64 concurrent tasks with
//! 64 sessions and 8 agents; batches of about 32), the writer managed about
//! 21k records/s with `(session, seq)` and `(agent, seq)` indexes on
//! `records` (and half that with one on the random `decision_id`), about
//! 35k/s with those copied into an indexed side table in bulk instead, about
//! 47k/s with an index on `ts` alone and about 60k/s with none. Every index
//! whose inserts spread over many pages (one hot page per active session,
//! any page at all for random ids) makes every commit write that many more
//! 4 KiB pages to the WAL, and every insert costs a B-tree descent. Hence,
//! at about 50–60k/s with the postings below:
//!
//! * `ts`: no index. Times never decrease along `seq` (the writer sees to
//!   that and verification checks it), so a time window is found by binary
//!   search on `seq` (a few dozen key lookups).
//! * session and agent: `postings`. The writer keeps the `(seq, session,
//!   agent)` of the last records in memory and, in the transaction of the
//!   batch that reaches [`POST_EVERY`] of them, writes one row per session and
//!   per agent listing their `seq`s. Queries read those lists up to the last
//!   pass and scan the few records after it.
//! * `decision_id`: no index (decision ids are random). Find a decision by id
//!   together with a time window, a session or an agent.
//!
//! # PostgreSQL
//!
//! `records` and `meta` map one-to-one to PostgreSQL (`INTEGER` → `BIGINT`,
//! `?N` → `$N`; `ON CONFLICT … DO UPDATE` is the same). A PostgreSQL backend
//! needs no `postings`: it would index `records` on `(session, seq)`,
//! `(agent, seq)` and `(ts)` directly, which costs it far less per commit.

use super::Broken;
use super::format_ts;
use super::record::{Record, SealedRecord};
use crate::decision::Outcome;
use super::store::{AuditStore, ChainHead, Checkpoint, Cursor, Filter, MAX_PAGE, StoredRow};
use crate::{Error, Result};
use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};
use std::collections::{BTreeMap, HashMap};
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
INSERT INTO meta (key, value) VALUES ('schema', '1') ON CONFLICT (key) DO NOTHING;
";

const INSERT: &str = "INSERT INTO records \
    (seq, ts, kind, decision_id, agent, session, project, decision, body, hash) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
const INSERT_POSTING: &str =
    "INSERT INTO postings (field, value, upto, first_seq, seqs) VALUES (?1, ?2, ?3, ?4, ?5)";
const COLUMNS: &str = "seq, ts, kind, decision_id, agent, session, project, decision, body, hash";
const SET_META: &str = "INSERT INTO meta (key, value) VALUES (?1, ?2) \
    ON CONFLICT (key) DO UPDATE SET value = excluded.value";
const POSTED_THROUGH: &str = "SELECT coalesce(max(upto), 0) FROM postings";

/// How long a connection waits for another one's write transaction.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How many records the writer lets accumulate before writing their
/// `postings` (queries by session or agent scan at most about this many
/// records beyond the last pass).
pub const POST_EVERY: u64 = 1024;

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
        crate::data_dir::create(data_dir)?;
        let path = data_dir.join(Self::FILE);
        for file in [Self::FILE, "audit.db-wal", "audit.db-shm"] {
            let file = data_dir.join(file);
            if file == path || file.exists() {
                crate::data_dir::private_file(&file)?;
            }
        }
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
            conn.pragma_update(None, "synchronous", "FULL")?;
            // The log's maintenance thread ([`AuditStore::maintain`]) copies
            // the WAL into the database off the writer's path. The writer's
            // own checkpoint, once the WAL reaches 2048 pages (8 MiB), then
            // finds little left to copy and lets the WAL start over (under
            // constant writes, only the writer can): measured best of 1000,
            // 2048 and 8192. A WAL that grew anyway is cut back to 16 MiB.
            conn.pragma_update(None, "wal_autocheckpoint", 2048)?;
            conn.pragma_update_and_check(None, "journal_size_limit", 16 << 20, |_| Ok(()))?;
            conn.execute_batch(SCHEMA)?;
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

fn sql_err(path: &Path, e: rusqlite::Error) -> Error {
    Error::Audit {
        message: format!("audit store `{}`: {e}", path.display()),
    }
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
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

// ---- postings ----

/// Ascending `seqs` as LEB128 deltas from the first (whose delta is 0).
fn encode_seqs(seqs: &[u64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(seqs.len() * 2);
    let mut prev = seqs.first().copied().unwrap_or(0);
    for &s in seqs {
        let mut d = s - prev;
        prev = s;
        loop {
            let byte = (d & 0x7f) as u8;
            d >>= 7;
            if d == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
    }
    out
}

/// The inverse of [`encode_seqs`]; `None` if `bytes` is not such a list.
fn decode_seqs(first: u64, bytes: &[u8]) -> Option<Vec<u64>> {
    let mut out = Vec::with_capacity(bytes.len());
    let (mut d, mut shift, mut seq) = (0u64, 0u32, first);
    for &b in bytes {
        d |= u64::from(b & 0x7f).checked_shl(shift)?;
        if b & 0x80 != 0 {
            shift += 7;
            if shift > 63 {
                return None;
            }
            continue;
        }
        if (d == 0) != out.is_empty() {
            return None;
        }
        seq = seq.checked_add(d)?;
        out.push(seq);
        (d, shift) = (0, 0);
    }
    (shift == 0 && !out.is_empty()).then_some(out)
}

/// Writes one posting row per session and per agent of `unposted`.
fn write_postings(conn: &Connection, unposted: &[Unposted], upto: u64) -> rusqlite::Result<()> {
    let mut lists: BTreeMap<(&str, &str), Vec<u64>> = BTreeMap::new();
    for (seq, session, agent) in unposted {
        if let Some(s) = session {
            lists.entry(("session", s)).or_default().push(*seq);
        }
        if let Some(a) = agent {
            lists.entry(("agent", a)).or_default().push(*seq);
        }
    }
    let mut insert = conn.prepare_cached(INSERT_POSTING)?;
    for ((field, value), seqs) in lists {
        let first = seqs.first().copied().unwrap_or(0);
        insert.execute(params![
            field,
            value,
            to_i64(upto),
            to_i64(first),
            encode_seqs(&seqs)
        ])?;
    }
    Ok(())
}

/// The records after the last posting pass.
fn load_unposted(conn: &Connection) -> rusqlite::Result<Vec<Unposted>> {
    let through: i64 = conn.query_row(POSTED_THROUGH, [], |r| r.get(0))?;
    let mut st =
        conn.prepare_cached("SELECT seq, session, agent FROM records WHERE seq > ?1 ORDER BY seq")?;
    let rows = st.query_map([through], |r| {
        Ok((to_u64(r.get(0)?), text(r.get_ref(1)?), text(r.get_ref(2)?)))
    })?;
    rows.collect()
}

// ---- time windows ----

/// The first `seq` whose `ts` is at or after `ts` (binary search: times
/// never decrease along `seq`).
fn first_at_or_after(conn: &Connection, ts: &str) -> rusqlite::Result<Option<u64>> {
    let (min, max): (Option<i64>, Option<i64>) =
        conn.query_row("SELECT min(seq), max(seq) FROM records", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    // Keys below 1 are not records (and would overflow the midpoint).
    let (Some(min), Some(max)) = (min.map(|m| m.max(1)), max) else {
        return Ok(None);
    };
    if min > max {
        return Ok(None);
    }
    let mut at =
        conn.prepare_cached("SELECT seq, ts FROM records WHERE seq >= ?1 ORDER BY seq LIMIT 1")?;
    // The first row at or after `seq`; there is one for every seq <= max.
    let mut row_at = |seq: i64| -> rusqlite::Result<(i64, String)> {
        at.query_row([seq], |r| {
            Ok((r.get(0)?, text(r.get_ref(1)?).unwrap_or_default()))
        })
    };
    if row_at(max)?.1.as_str() < ts {
        return Ok(None);
    }
    let (mut lo, mut hi) = (min, max);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if row_at(mid)?.1.as_str() >= ts {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Ok(Some(to_u64(row_at(lo)?.0)))
}

/// The last `seq` whose `ts` is before `ts`.
fn last_before(conn: &Connection, ts: &str) -> rusqlite::Result<Option<u64>> {
    let bound = first_at_or_after(conn, ts)?.map_or(i64::MAX, to_i64);
    let max: Option<i64> = conn.query_row(
        "SELECT max(seq) FROM records WHERE seq < ?1",
        [bound],
        |r| r.get(0),
    )?;
    Ok(max.map(to_u64))
}

// ---- queries ----

/// The conditions of a query and their arguments.
#[derive(Default, Clone)]
struct Where {
    conds: Vec<String>,
    args: Vec<Value>,
}

impl Where {
    /// Adds `<cond> ?N`.
    fn and(&mut self, cond: &str, arg: Value) {
        self.args.push(arg);
        self.conds.push(format!("{cond} ?{}", self.args.len()));
    }

    /// `SELECT r.seq, r.body FROM records r WHERE … ORDER BY r.seq … LIMIT …`.
    fn select(mut self, desc: bool, limit: usize) -> (String, Vec<Value>) {
        self.args.push(Value::Integer(to_i64(limit as u64)));
        let sql = format!(
            "SELECT r.seq, r.body FROM records r WHERE {} ORDER BY r.seq {} LIMIT ?{}",
            self.conds.join(" AND "),
            if desc { "DESC" } else { "ASC" },
            self.args.len()
        );
        (sql, self.args)
    }
}

/// The filter's conditions on `records r`. The `+` keeps the planner on the
/// `seq` key.
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
        q.and("+r.decision =", Value::Text(d.as_str().into()));
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

/// One page of a query, read inside one transaction.
struct Page<'a> {
    conn: &'a Connection,
    path: &'a Path,
    conds: Where,
    desc: bool,
    limit: usize,
    out: Vec<Record>,
}

impl Page<'_> {
    fn full(&self) -> bool {
        self.out.len() >= self.limit
    }

    fn sql_err(&self, e: rusqlite::Error) -> Error {
        sql_err(self.path, e)
    }

    /// Matching records with `lo <= seq <= hi`.
    fn range(&mut self, lo: u64, hi: u64) -> Result<()> {
        if lo > hi || self.full() {
            return Ok(());
        }
        let mut q = self.conds.clone();
        q.and("r.seq >=", Value::Integer(to_i64(lo)));
        q.and("r.seq <=", Value::Integer(to_i64(hi)));
        self.read(q)
    }

    /// Matching records of `field = value` with `lo <= seq <= hi`, through
    /// `postings`.
    fn posted(&mut self, field: &str, value: &str, lo: u64, hi: u64) -> Result<()> {
        if lo > hi || self.full() {
            return Ok(());
        }
        let sql = format!(
            "SELECT first_seq, seqs FROM postings \
             WHERE field = ?1 AND value = ?2 AND upto >= ?3 AND first_seq <= ?4 \
             ORDER BY upto {}",
            if self.desc { "DESC" } else { "ASC" }
        );
        let conn = self.conn;
        let mut st = conn.prepare_cached(&sql).map_err(|e| self.sql_err(e))?;
        let mut rows = st
            .query(params![field, value, to_i64(lo), to_i64(hi)])
            .map_err(|e| self.sql_err(e))?;
        while !self.full()
            && let Some(r) = rows.next().map_err(|e| self.sql_err(e))?
        {
            let first = to_u64(r.get(0).map_err(|e| self.sql_err(e))?);
            let seqs = match r.get_ref(1).map_err(|e| self.sql_err(e))? {
                ValueRef::Blob(b) => decode_seqs(first, b),
                _ => None,
            };
            let Some(seqs) = seqs else {
                return Err(Error::AuditBroken(Broken::Edited {
                    seq: first,
                    what: "its postings entry is unreadable".into(),
                }));
            };
            let seqs: Vec<u64> = seqs.into_iter().filter(|s| (lo..=hi).contains(s)).collect();
            if seqs.is_empty() {
                continue;
            }
            let list = serde_json::to_string(&seqs).map_err(|e| Error::Audit {
                message: format!("cannot encode a seq list: {e}"),
            })?;
            let mut q = self.conds.clone();
            q.and("r.seq IN (SELECT value FROM json_each(", Value::Text(list));
            if let Some(c) = q.conds.last_mut() {
                c.push_str("))");
            }
            self.read(q)?;
        }
        Ok(())
    }

    fn read(&mut self, q: Where) -> Result<()> {
        let (sql, args) = q.select(self.desc, self.limit - self.out.len());
        let conn = self.conn;
        let mut st = conn.prepare_cached(&sql).map_err(|e| self.sql_err(e))?;
        let mut rows = st
            .query(rusqlite::params_from_iter(args))
            .map_err(|e| self.sql_err(e))?;
        while !self.full()
            && let Some(r) = rows.next().map_err(|e| self.sql_err(e))?
        {
            let seq = to_u64(r.get(0).map_err(|e| self.sql_err(e))?);
            let body = text(r.get_ref(1).map_err(|e| self.sql_err(e))?).unwrap_or_default();
            let record: Record = serde_json::from_str(&body).map_err(|err| {
                Error::AuditBroken(Broken::Edited {
                    seq,
                    what: format!("the stored body is not a record: {err}"),
                })
            })?;
            self.out.push(record);
        }
        Ok(())
    }
}

fn query_page(
    conn: &Connection,
    path: &Path,
    filter: &Filter,
    cursor: Cursor,
    limit: usize,
) -> Result<Vec<Record>> {
    let e = |e| sql_err(path, e);
    let (mut lo, mut hi, desc) = match cursor {
        Cursor::After(c) => (c.saturating_add(1), u64::MAX, false),
        Cursor::Before(c) => (0, c.saturating_sub(1), true),
    };
    if let Some(t) = filter.from_ts {
        match first_at_or_after(conn, &format_ts(t)).map_err(e)? {
            Some(s) => lo = lo.max(s),
            None => return Ok(Vec::new()),
        }
    }
    if let Some(t) = filter.to_ts {
        match last_before(conn, &format_ts(t)).map_err(e)? {
            Some(s) => hi = hi.min(s),
            None => return Ok(Vec::new()),
        }
    }
    let mut page = Page {
        conn,
        path,
        conds: conditions(filter),
        desc,
        limit,
        out: Vec::new(),
    };
    let key = match (&filter.session, &filter.agent) {
        (Some(s), _) => Some(("session", s)),
        (None, Some(a)) => Some(("agent", a)),
        (None, None) => None,
    };
    match key {
        None => page.range(lo, hi)?,
        Some((field, value)) => {
            // Through the postings up to the last pass, then the records
            // after it.
            let through: i64 = conn
                .query_row(POSTED_THROUGH, [], |r| r.get(0))
                .map_err(e)?;
            let through = to_u64(through);
            let tail = lo.max(through.saturating_add(1));
            if desc {
                page.range(tail, hi)?;
                page.posted(field, value, lo, hi.min(through))?;
            } else {
                page.posted(field, value, lo, hi.min(through))?;
                page.range(tail, hi)?;
            }
        }
    }
    Ok(page.out)
}

impl AuditStore for SqliteStore {
    fn append(&mut self, batch: &[SealedRecord]) -> Result<()> {
        let Some(last) = batch.last().map(SealedRecord::seq) else {
            return Ok(());
        };
        let mut unposted = match self.unposted.take() {
            Some(u) => u,
            None => load_unposted(&self.conn).map_err(|e| self.err(e))?,
        };
        let before = unposted.len();
        unposted.extend(batch.iter().map(|s| {
            let c = s.columns();
            (s.seq(), c.session.clone(), c.agent.clone())
        }));
        let post = unposted.len() as u64 >= self.post_every;
        let write = |conn: &mut Connection| -> rusqlite::Result<()> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut insert = tx.prepare_cached(INSERT)?;
                for s in batch {
                    let c = s.columns();
                    insert.execute(params![
                        to_i64(s.seq()),
                        s.ts(),
                        c.kind.as_str(),
                        c.decision_id,
                        c.agent,
                        c.session,
                        c.project,
                        c.decision.map(Outcome::as_str),
                        s.body(),
                        s.hash(),
                    ])?;
                }
            }
            if post {
                write_postings(&tx, &unposted, last)?;
            }
            tx.commit()
        };
        let result = write(&mut self.conn);
        match result {
            Ok(()) if post => unposted.clear(),
            Ok(()) => {}
            Err(_) => unposted.truncate(before),
        }
        self.unposted = Some(unposted);
        result.map_err(|e| self.err(e))
    }

    fn head(&mut self) -> Result<Option<ChainHead>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT seq, hash, ts FROM records ORDER BY seq DESC LIMIT 1")
            .map_err(|e| sql_err(&self.path, e))?;
        st.query_row([], |r| {
            Ok(ChainHead {
                seq: to_u64(r.get(0)?),
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
        let sql =
            format!("SELECT {COLUMNS} FROM records WHERE seq > ?1 AND seq <= ?2 ORDER BY seq");
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
        let last = last_before(&self.conn, ts).map_err(|e| self.err(e))?;
        let Some(last) = last.map(|l| l.min(through_seq)) else {
            return Ok(None);
        };
        let max: Option<i64> = self
            .conn
            .query_row(
                "SELECT max(seq) FROM records WHERE seq <= ?1",
                [to_i64(last)],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        Ok(max.map(to_u64))
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
        let seq = to_i64(checkpoint.seq);
        let cut = |conn: &mut Connection| -> rusqlite::Result<usize> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.prepare_cached(SET_META)?
                .execute([super::store::CHECKPOINT_KEY, value.as_str()])?;
            let deleted = tx
                .prepare_cached("DELETE FROM records WHERE seq <= ?1")?
                .execute([seq])?;
            tx.prepare_cached("DELETE FROM postings WHERE upto <= ?1")?
                .execute([seq])?;
            tx.commit()?;
            Ok(deleted)
        };
        let deleted = cut(&mut self.conn).map_err(|e| self.err(e))?;
        Ok(deleted as u64)
    }

    fn maintain(&mut self) -> Result<()> {
        // PASSIVE: copies what it can without waiting for readers or the
        // writer; the WAL starts over once it is all copied.
        self.conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
            .map_err(|e| self.err(e))
    }

    fn check_derived(&mut self) -> Result<Option<Broken>> {
        let floor = self.checkpoint()?.map_or(0, |c| c.seq);
        check_postings(&self.conn, floor).map_err(|e| self.err(e))
    }
}

/// Checks `postings` against the records' `session` and `agent` columns
/// (which verification checks against the bodies): pass by pass, every
/// record after `floor` is listed under its session and its agent and
/// nowhere else. A missing or altered entry would hide a record from
/// queries.
fn check_postings(conn: &Connection, floor: u64) -> rusqlite::Result<Option<Broken>> {
    let broken = |seq: u64, what: &str| {
        Ok(Some(Broken::Edited {
            seq,
            what: what.to_owned(),
        }))
    };
    let uptos: Vec<u64> = conn
        .prepare("SELECT DISTINCT upto FROM postings ORDER BY upto")?
        .query_map([], |r| r.get(0).map(to_u64))?
        .collect::<rusqlite::Result<_>>()?;
    let mut rows_of =
        conn.prepare_cached("SELECT field, value, first_seq, seqs FROM postings WHERE upto = ?1")?;
    let mut records_in = conn.prepare_cached(
        "SELECT seq, session, agent FROM records WHERE seq > ?1 AND seq <= ?2 ORDER BY seq",
    )?;
    let mut prev = floor;
    for upto in uptos {
        if upto <= floor {
            continue;
        }
        // seq → (session, agent), as the postings of this pass say.
        let mut listed: HashMap<u64, (Option<String>, Option<String>)> = HashMap::new();
        let mut rows = rows_of.query([to_i64(upto)])?;
        while let Some(r) = rows.next()? {
            let field = text(r.get_ref(0)?);
            let value = text(r.get_ref(1)?);
            let first = to_u64(r.get(2)?);
            let seqs = match r.get_ref(3)? {
                ValueRef::Blob(b) => decode_seqs(first, b),
                _ => None,
            };
            let Some(seqs) = seqs else {
                return broken(first, "its postings entry is unreadable");
            };
            for seq in seqs {
                if seq <= floor {
                    continue; // cut by retention
                }
                if seq <= prev || seq > upto {
                    return broken(seq, "it is listed in the postings of another pass");
                }
                let slot = listed.entry(seq).or_default();
                let taken = match field.as_deref() {
                    Some("session") => slot.0.replace(value.clone().unwrap_or_default()),
                    Some("agent") => slot.1.replace(value.clone().unwrap_or_default()),
                    _ => return broken(seq, "its postings entry has an unknown field"),
                };
                if taken.is_some() {
                    return broken(seq, "it is listed twice in the postings");
                }
            }
        }
        let mut rows = records_in.query([to_i64(prev), to_i64(upto)])?;
        while let Some(r) = rows.next()? {
            let seq = to_u64(r.get(0)?);
            let columns = (text(r.get_ref(1)?), text(r.get_ref(2)?));
            if listed.remove(&seq).unwrap_or_default() != columns {
                return broken(
                    seq,
                    "its session/agent postings entry is missing or differs from the record",
                );
            }
        }
        // Entries left over name records that are not there (any missing
        // record is the chain's finding, not this one's).
        prev = upto;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_lists_round_trip() {
        for seqs in [
            vec![1],
            vec![5, 6, 7, 300, 301, 100_000, u64::from(u32::MAX) + 7],
        ] {
            let first = seqs[0];
            assert_eq!(decode_seqs(first, &encode_seqs(&seqs)), Some(seqs));
        }
        assert_eq!(decode_seqs(1, &[]), None);
        assert_eq!(decode_seqs(1, &[0x80]), None);
        assert_eq!(decode_seqs(1, &[1]), None); // the first delta is 0
        assert_eq!(decode_seqs(1, &[0, 0]), None); // not ascending
        assert_eq!(decode_seqs(1, &[0xff; 12]), None);
    }
}
