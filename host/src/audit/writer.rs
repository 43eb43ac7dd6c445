//! The group-commit writer: [`AuditLog`], the audit trail's one writer.
//!
//! One dedicated thread owns the store's write connection
//! (`commit.rs`): it blocks until an entry arrives; if the previous
//! batch held more than one record (decisions are being made side by side)
//! it lets the batch fill for the commit delay (`audit.commit_delay_us`, 100
//! µs by default); then it takes whatever is queued (while one batch is
//! being synced the next one queues up, so batches grow with load),
//! numbers, timestamps and chains the batch, appends it in one transaction
//! (one sync), and only then answers every caller. If the store fails,
//! every caller of that batch gets the error and the chain head does not
//! move.
//!
//! A second thread (`upkeep.rs`) keeps the head file (`audit.head`)
//! up to date with the last committed record (at most 100 ms or 10,000
//! records behind) and runs the store's upkeep
//! ([`AuditStore::maintain`], every 10 ms); both involve an `fsync` that
//! has no business inside a decision's commit.
//!
//! The path into the store stays blocking ([`AuditStore`] is a blocking
//! trait): the batching thread calls it directly, so nothing async sits
//! between a batch and its sync, and the commit behaviour is the same as
//! before the store layer.

use super::commit::{Counters, Msg, Reply, Worker, trail_map};
use super::entry::GENESIS_HASH;
use super::entry::{Entry, Receipt};
use super::head::{HeadFile, TrailMark, check_head_file};
use super::upkeep::{Committed, Shared, maintain, stop};
use crate::record::{Broken, Record, parse_canonical_ts};
use crate::store::{AuditStore, Checkpoint, Cursor, Filter, SqliteStore};
use crate::{Error, Result};
use jiff::Timestamp;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

pub use super::commit::COMMIT_BUCKETS_US;

/// The writer's default commit delay (see [`AuditLog::open_with`]).
pub const DEFAULT_COMMIT_DELAY: Duration = Duration::from_micros(100);
/// The longest commit delay a configuration may set, in µs.
pub const MAX_COMMIT_DELAY_US: u64 = 10_000;

/// The lock file that keeps a second process from writing the same chain.
const LOCK_FILE: &str = "audit.lock";

/// The writer and maintenance threads.
struct Threads {
    writer: JoinHandle<()>,
    maintenance: JoinHandle<()>,
}

/// The writer's counters, for metrics and logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Batches committed.
    pub batches: u64,
    /// Records committed.
    pub records: u64,
    /// Size of the last committed batch.
    pub last_batch: u64,
    /// Batches that failed (their callers got the error).
    pub failed_batches: u64,
    /// `seq` of the last committed record.
    pub head_seq: u64,
    /// How long each batch's write and sync took: `commit_times[i]` counts
    /// those of at most [`COMMIT_BUCKETS_US`]`[i]` µs (and more than the
    /// bound before it); the last element those slower than every bound.
    /// Every decision of a batch waits that long, so the slow buckets are
    /// where the decision latency's tail comes from (usually the disk).
    pub commit_times: [u64; COMMIT_BUCKETS_US.len() + 1],
}

/// The audit log of one data directory: the single writer, plus a reader
/// connection for queries.
///
/// Cheap to share (`Arc<AuditLog>`); [`AuditLog::append`] may be called from
/// any number of tasks at once. Dropping it closes it (see
/// [`AuditLog::close`]).
pub struct AuditLog {
    tx: mpsc::Sender<Msg>,
    threads: Mutex<Option<Threads>>,
    shared: Shared,
    counters: Arc<Counters>,
    reader: Mutex<SqliteStore>,
    dir: PathBuf,
    _lock: File,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("dir", &self.dir)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl AuditLog {
    /// Opens the audit log in `data_dir` (created if needed) and starts its
    /// writer thread.
    ///
    /// Fails if another process has it open, or — so that new records never
    /// overwrite the evidence — if the store ends before the head file's
    /// record or differs from it ([`Error::AuditBroken`] with
    /// [`Broken::Truncated`](super::Broken::Truncated) or
    /// [`Broken::HeadMismatch`](super::Broken::HeadMismatch)); investigate with
    /// [`super::verify_dir`], and move `audit.head` aside to accept the store
    /// as it is.
    pub fn open(data_dir: &Path) -> Result<AuditLog> {
        Self::open_with(data_dir, DEFAULT_COMMIT_DELAY)
    }

    /// [`AuditLog::open`] with a commit delay: when the last batch held
    /// more than one record (callers are deciding side by side), the writer
    /// waits `commit_delay` after the first entry of the next batch before it
    /// takes the queue, so that one transaction and one sync serve more
    /// records. It trades that much latency for less CPU per record (each
    /// sync costs the writer and the kernel tens of µs). Zero turns it off.
    pub fn open_with(data_dir: &Path, commit_delay: Duration) -> Result<AuditLog> {
        Self::open_wrapped(data_dir, commit_delay, |store| Box::new(store))
    }

    /// [`AuditLog::open_with`], the writer's store wrapped by `wrap` (e.g.
    /// in a [`FaultyStore`](crate::store::FaultyStore) that fails on demand, to see
    /// what a failing store does to the callers).
    pub fn open_wrapped(
        data_dir: &Path,
        commit_delay: Duration,
        wrap: impl FnOnce(SqliteStore) -> Box<dyn AuditStore>,
    ) -> Result<AuditLog> {
        crate::data_dir::create(data_dir)?;
        let lock = lock_data_dir(data_dir)?;

        let mut store = SqliteStore::open(data_dir)?;
        let checkpoints: Vec<Checkpoint> =
            store.checkpoints()?.into_iter().map(|(_, c)| c).collect();
        let head = store.head()?;
        if let Some(file) = HeadFile::read(data_dir)? {
            check_head_file(&mut store, &file, head.as_ref(), &checkpoints)?;
        }
        // Each trail's head as the `trails` table gives it must be the hash
        // its record claims: new records chain onto it.
        for t in store.trails()? {
            match super::head::recorded_hash(&mut store, t.seq, &checkpoints)? {
                Some(h) if h != t.hash => {
                    return Err(Error::AuditBroken(Broken::HeadMismatch { seq: t.seq }));
                }
                _ => {}
            }
        }
        let last_cut = checkpoints.into_iter().max_by_key(|c| c.seq);
        let (seq, hash, ts) = match (head, last_cut) {
            (Some(h), _) => (h.seq, h.hash, h.ts),
            (None, Some(c)) => (c.seq, c.hash, String::new()),
            (None, None) => (0, GENESIS_HASH.to_owned(), String::new()),
        };
        let heads = store.trails()?;
        let marks = heads
            .iter()
            .map(|t| {
                let mark = TrailMark {
                    seq: t.seq,
                    hash: t.hash.clone(),
                };
                (t.project.clone().unwrap_or_default(), mark)
            })
            .collect();
        let trails = trail_map(heads);
        let last_ts = parse_canonical_ts(&ts)
            .map(Timestamp::as_microsecond)
            .unwrap_or(i64::MIN);
        let reader = SqliteStore::open(data_dir)?;

        let counters = Arc::new(Counters::default());
        counters.head_seq.store(seq, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel();
        let shared: Shared = Arc::new((
            Mutex::new(Committed {
                seq,
                hash: hash.clone(),
                trails: marks,
                unwritten: 0,
                dirty: seq > 0,
                stop: false,
            }),
            Condvar::new(),
        ));
        let mut worker = Worker {
            store: wrap(store),
            rx,
            seq,
            hash,
            trails,
            stale: false,
            last_ts,
            counters: counters.clone(),
            shared: shared.clone(),
            commit_delay,
        };
        let spawn_err = |e: std::io::Error| Error::Audit {
            message: format!("cannot start an audit thread: {e}"),
        };
        let maintainer = SqliteStore::open(data_dir)?;
        let (dir, for_maintenance) = (data_dir.to_owned(), shared.clone());
        let maintenance = std::thread::Builder::new()
            .name("palisade-audit-maint".into())
            .spawn(move || maintain(maintainer, &dir, &for_maintenance))
            .map_err(spawn_err)?;
        let writer = std::thread::Builder::new()
            .name("palisade-audit".into())
            .spawn(move || worker.run())
            .map_err(|e| {
                stop(&shared);
                spawn_err(e)
            })?;
        Ok(AuditLog {
            tx,
            threads: Mutex::new(Some(Threads {
                writer,
                maintenance,
            })),
            shared,
            counters,
            reader: Mutex::new(reader),
            dir: data_dir.to_owned(),
            _lock: lock,
        })
    }

    /// Queues `entry` and resolves to its receipt (`seq`, `ts`, `hash`) once
    /// the record is durable.
    ///
    /// The entry is encoded on the calling thread and queued when `append` is
    /// called (not when the future is first polled), so entries appended one
    /// after another by one caller are chained in that order. Resolves to an
    /// error if the store failed (the decision must then fail closed) or the
    /// log is closed ([`Error::AuditClosed`]).
    pub fn append(
        &self,
        entry: impl Into<Entry>,
    ) -> impl Future<Output = Result<Receipt>> + Send + 'static {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let queued = entry.into().prepare().and_then(|p| {
            self.tx
                .send(Msg::Append(p, Reply::Async(tx)))
                .map_err(|_| Error::AuditClosed)
        });
        async move {
            queued?;
            rx.await.unwrap_or(Err(Error::AuditClosed))
        }
    }

    /// [`AuditLog::append`] for synchronous code (e.g. administrative events
    /// from a watcher thread): blocks until the record is durable. Safe to
    /// call on any thread, but it blocks, so not on an async worker.
    pub fn append_blocking(&self, entry: impl Into<Entry>) -> Result<Receipt> {
        let (tx, rx) = mpsc::sync_channel(1);
        let prepared = entry.into().prepare()?;
        self.tx
            .send(Msg::Append(prepared, Reply::Blocking(tx)))
            .map_err(|_| Error::AuditClosed)?;
        rx.recv().unwrap_or(Err(Error::AuditClosed))
    }

    /// One page of records (blocking: call it from `spawn_blocking`). Uses
    /// the log's reader connection, which does not wait for the writer.
    pub fn query(&self, filter: &Filter, cursor: Cursor, limit: usize) -> Result<Vec<Record>> {
        self.reader
            .lock()
            .map_err(|_| Error::Audit {
                message: "the audit reader is poisoned".into(),
            })?
            .query(filter, cursor, limit)
    }

    /// A new connection to the store, for verification, export or retention
    /// while the log runs (each of those is a long read or a write of its
    /// own; give each its own connection).
    pub fn open_store(&self) -> Result<SqliteStore> {
        SqliteStore::open(&self.dir)
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.dir
    }

    /// The writer's counters.
    pub fn stats(&self) -> Stats {
        let c = &self.counters;
        Stats {
            batches: c.batches.load(Ordering::Relaxed),
            records: c.records.load(Ordering::Relaxed),
            last_batch: c.last_batch.load(Ordering::Relaxed),
            failed_batches: c.failed_batches.load(Ordering::Relaxed),
            head_seq: c.head_seq.load(Ordering::Relaxed),
            commit_times: std::array::from_fn(|i| c.commit_times[i].load(Ordering::Relaxed)),
        }
    }

    /// Writes everything already queued, updates the head file and stops the
    /// writer; appends after this fail with [`Error::AuditClosed`]. Blocks
    /// until done (a batch or two). Idempotent; also done on drop.
    pub fn close(&self) -> Result<()> {
        // The writer may already be gone; then there is nothing to drain.
        drop(self.tx.send(Msg::Close));
        let threads = self
            .threads
            .lock()
            .map_err(|_| Error::Audit {
                message: "the audit thread handles are poisoned".into(),
            })?
            .take();
        let Some(threads) = threads else {
            return Ok(());
        };
        let writer = threads.writer.join();
        // After the writer: the maintenance thread's last act is to write
        // the head file of the final commit.
        stop(&self.shared);
        let maintenance = threads.maintenance.join();
        match (writer, maintenance) {
            (Ok(()), Ok(())) => Ok(()),
            _ => Err(Error::Audit {
                message: "an audit thread panicked".into(),
            }),
        }
    }
}

/// Takes the data directory's audit lock (`audit.lock`), which a running
/// server holds for as long as its [`AuditLog`] is open. Commands that write
/// to the store beside the log's own writer (export, which moves the export
/// mark; retention, which cuts the chain) hold it too, so that they never
/// run against a live server's store and move its mark or checkpoint behind
/// its back. The lock is released when the returned file is dropped.
pub fn lock_data_dir(data_dir: &Path) -> Result<File> {
    let lock_path = data_dir.join(LOCK_FILE);
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|source| Error::Io {
            path: lock_path.clone(),
            source,
        })?;
    lock.try_lock().map_err(|e| Error::Audit {
        message: format!(
            "cannot lock `{}` (is another palisade using this data directory?): {e}",
            lock_path.display()
        ),
    })?;
    Ok(lock)
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            tracing::error!(error = %e, "closing the audit log failed");
        }
    }
}
