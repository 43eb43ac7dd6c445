//! [`State`] on SQLite: [`SqliteState`], one file `state.db` in the data
//! directory.
//!
//! A file of its own, not tables in `audit.db`: SQLite has one writer per
//! database, and the audit writer's group commit (the decision path) must
//! never queue behind an approval or a budget write, nor they behind it.
//! Each handle owns one connection on a thread of its own (`palisade-state`);
//! its async methods send the work there and await the answer, so no SQLite
//! call ever runs on an async worker. A transaction is `BEGIN IMMEDIATE`
//! (the database's write lock, taken before the first read), so its checks
//! and writes are atomic against every other handle and process on the same
//! file, and `synchronous=FULL` makes it durable when it returns.
//!
//! ```sql
//! CREATE TABLE state_entries (
//!     project TEXT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL,
//!     value TEXT NOT NULL,
//!     version INTEGER NOT NULL,     -- from state_meta 'version'
//!     PRIMARY KEY (project, kind, key)
//! ) WITHOUT ROWID;
//! CREATE TABLE state_counters (
//!     project TEXT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL,
//!     total INTEGER NOT NULL,
//!     PRIMARY KEY (project, kind, key)
//! ) WITHOUT ROWID;
//! CREATE TABLE state_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
//! ```
//!
//! The tables carry a `state_` prefix so that they map one-to-one to
//! PostgreSQL beside the audit trail's `records` and `meta` (`INTEGER` →
//! `BIGINT`; the version counter becomes a sequence).

use super::{CREATE, durable_wal, private_database, to_i64, to_u64};
use crate::store::state::{Applied, Conflict, Expect, Key, Op, State, Transacted, Versioned};
use crate::{Error, Result};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS state_entries (
    project TEXT NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (project, kind, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS state_counters (
    project TEXT NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    total INTEGER NOT NULL,
    PRIMARY KEY (project, kind, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS state_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT INTO state_meta (key, value) VALUES ('schema', 1) ON CONFLICT (key) DO NOTHING;
INSERT INTO state_meta (key, value) VALUES ('version', 0) ON CONFLICT (key) DO NOTHING;
";

const VERSION_OF: &str =
    "SELECT version FROM state_entries WHERE project = ?1 AND kind = ?2 AND key = ?3";
const PUT: &str = "INSERT INTO state_entries (project, kind, key, value, version) \
    VALUES (?1, ?2, ?3, ?4, ?5) \
    ON CONFLICT (project, kind, key) DO UPDATE SET value = excluded.value, version = excluded.version";
const DELETE: &str = "DELETE FROM state_entries WHERE project = ?1 AND kind = ?2 AND key = ?3";
const NEXT_VERSION: &str =
    "UPDATE state_meta SET value = value + 1 WHERE key = 'version' RETURNING value";
const TOTAL: &str =
    "SELECT total FROM state_counters WHERE project = ?1 AND kind = ?2 AND key = ?3";
const SET_TOTAL: &str = "INSERT INTO state_counters (project, kind, key, total) \
    VALUES (?1, ?2, ?3, ?4) \
    ON CONFLICT (project, kind, key) DO UPDATE SET total = excluded.total";

/// Work for the connection thread.
type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// The SQLite [`State`]: one connection, on a thread of its own. Cheap to
/// share by reference (`Arc<SqliteState>`); open more than one on the same
/// data directory and they stay consistent with each other.
#[derive(Debug)]
pub struct SqliteState {
    jobs: mpsc::Sender<Job>,
    path: PathBuf,
    /// Rate limits, in memory: this server is the only one on its data
    /// directory (see [`crate::store::limiter`]).
    limiter: crate::store::LocalLimiter,
}

impl SqliteState {
    /// The database's file name in the data directory.
    pub const FILE: &'static str = "state.db";

    /// Opens (creating if needed) `data_dir/state.db`, private to the
    /// server's user like `audit.db`, and starts its connection thread.
    pub fn open(data_dir: &Path) -> Result<Self> {
        let path = private_database(data_dir, Self::FILE)?;
        let mut conn =
            Connection::open_with_flags(&path, CREATE).map_err(|e| state_err(&path, e))?;
        let setup = |conn: &Connection| -> rusqlite::Result<String> {
            let mode = durable_wal(conn)?;
            conn.execute_batch(SCHEMA)?;
            Ok(mode)
        };
        let mode = setup(&conn).map_err(|e| state_err(&path, e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::Store {
                message: format!(
                    "`{}`: cannot switch to WAL (journal mode is `{mode}`)",
                    path.display()
                ),
            });
        }
        let (jobs, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("palisade-state".into())
            .spawn(move || {
                // Ends when every handle is gone.
                for job in rx {
                    job(&mut conn);
                }
            })
            .map_err(|e| Error::Store {
                message: format!("cannot start the state thread: {e}"),
            })?;
        Ok(Self {
            jobs,
            path,
            limiter: crate::store::LocalLimiter::new(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `work` on the connection thread and awaits its answer.
    async fn call<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |conn| {
            // A caller that went away no longer wants the answer.
            drop(tx.send(work(conn)));
        });
        let gone = || Error::Store {
            message: format!("`{}`: the state thread has stopped", self.path.display()),
        };
        self.jobs.send(job).map_err(|_| gone())?;
        rx.await
            .map_err(|_| gone())?
            .map_err(|e| state_err(&self.path, e))
    }
}

fn state_err(path: &Path, e: rusqlite::Error) -> Error {
    Error::Store {
        message: format!("`{}`: {e}", path.display()),
    }
}

impl State for SqliteState {
    async fn get(&self, key: &Key) -> Result<Option<Versioned>> {
        let key = key.clone();
        self.call(move |conn| {
            conn.prepare_cached(
                "SELECT value, version FROM state_entries \
                 WHERE project = ?1 AND kind = ?2 AND key = ?3",
            )?
            .query_row(params![key.project, key.kind, key.key], |r| {
                Ok(Versioned {
                    value: r.get(0)?,
                    version: to_u64(r.get(1)?),
                })
            })
            .optional()
        })
        .await
    }

    async fn list(
        &self,
        project: &str,
        kind: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Versioned)>> {
        let (project, kind) = (project.to_owned(), kind.to_owned());
        let after = after.map(str::to_owned);
        let limit = to_i64(limit as u64);
        self.call(move |conn| {
            let mut st = conn.prepare_cached(
                "SELECT key, value, version FROM state_entries \
                 WHERE project = ?1 AND kind = ?2 AND (?3 IS NULL OR key > ?3) \
                 ORDER BY key LIMIT ?4",
            )?;
            let rows = st.query_map(params![project, kind, after, limit], |r| {
                Ok((
                    r.get(0)?,
                    Versioned {
                        value: r.get(1)?,
                        version: to_u64(r.get(2)?),
                    },
                ))
            })?;
            rows.collect()
        })
        .await
    }

    async fn total(&self, key: &Key) -> Result<i64> {
        let key = key.clone();
        self.call(move |conn| total(conn, &key)).await
    }

    async fn transact(&self, ops: Vec<Op>) -> Result<Transacted> {
        self.call(move |conn| transact(conn, &ops)).await
    }
}

fn total(conn: &Connection, key: &Key) -> rusqlite::Result<i64> {
    conn.prepare_cached(TOTAL)?
        .query_row(params![key.project, key.kind, key.key], |r| r.get(0))
        .optional()
        .map(Option::unwrap_or_default)
}

/// Whether `found` is what `expect` asks for.
fn holds(expect: Expect, found: Option<u64>) -> bool {
    match expect {
        Expect::Any => true,
        Expect::Absent => found.is_none(),
        Expect::Version(v) => found == Some(v),
    }
}

/// The version under `key`, if `expect` holds for it; else the conflict of
/// op number `op`.
fn expected(
    conn: &Connection,
    op: usize,
    key: &Key,
    expect: Expect,
) -> rusqlite::Result<std::result::Result<Option<u64>, Conflict>> {
    let found: Option<u64> = conn
        .prepare_cached(VERSION_OF)?
        .query_row(params![key.project, key.kind, key.key], |r| r.get(0))
        .optional()?
        .map(to_u64);
    Ok(if holds(expect, found) {
        Ok(found)
    } else {
        Err(Conflict::Version { op, found })
    })
}

/// One [`State::transact`], inside `BEGIN IMMEDIATE … COMMIT`. Returning
/// early drops the transaction, which rolls it back.
fn transact(conn: &mut Connection, ops: &[Op]) -> rusqlite::Result<Transacted> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut applied = Vec::with_capacity(ops.len());
    for (op, step) in ops.iter().enumerate() {
        let done = match step {
            Op::Put { key, value, expect } => {
                if let Err(conflict) = expected(&tx, op, key, *expect)? {
                    return Ok(Err(conflict));
                }
                let version: i64 = tx
                    .prepare_cached(NEXT_VERSION)?
                    .query_row([], |r| r.get(0))?;
                tx.prepare_cached(PUT)?.execute(params![
                    key.project,
                    key.kind,
                    key.key,
                    value,
                    version
                ])?;
                Applied::Put {
                    version: to_u64(version),
                }
            }
            Op::Delete { key, expect } => {
                let found = match expected(&tx, op, key, *expect)? {
                    Ok(found) => found,
                    Err(conflict) => return Ok(Err(conflict)),
                };
                tx.prepare_cached(DELETE)?
                    .execute(params![key.project, key.kind, key.key])?;
                Applied::Deleted {
                    existed: found.is_some(),
                }
            }
            Op::Add { key, amount, limit } => {
                let now = total(&tx, key)?;
                // A release is never refused for the limit (which may have
                // been lowered meanwhile), only below zero.
                let within = now.checked_add(*amount).filter(|&new| {
                    new >= 0 && (*amount <= 0 || limit.is_none_or(|limit| new <= limit))
                });
                let Some(new) = within else {
                    return Ok(Err(Conflict::Limit { op, total: now }));
                };
                tx.prepare_cached(SET_TOTAL)?.execute(params![
                    key.project,
                    key.kind,
                    key.key,
                    new
                ])?;
                Applied::Added { total: new }
            }
        };
        applied.push(done);
    }
    tx.commit()?;
    Ok(Ok(applied))
}

impl crate::store::Limiter for SqliteState {
    fn admit(
        &self,
        project: &str,
        key: &str,
        quota: crate::store::Quota,
        now: i64,
    ) -> impl std::future::Future<Output = std::result::Result<(), crate::store::Throttled>> + Send
    {
        self.limiter.admit(project, key, quota, now)
    }

    fn forget_idle(&self, now: i64, idle_us: i64) {
        self.limiter.forget_idle(now, idle_us);
    }
}
