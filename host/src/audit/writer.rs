//! The group-commit writer: [`AuditLog`].
//!
//! One dedicated thread owns the store's write connection. It blocks until
//! an entry arrives; if the previous batch held more than one record
//! (decisions are being made side by side) it lets the batch fill for the
//! commit delay (`audit.commit_delay_us`, 100 µs by default); then it takes
//! whatever is queued (while one batch is being synced the next one queues
//! up, so batches grow with load), numbers, timestamps and chains the batch,
//! appends it in one transaction (one sync), and only then answers every
//! caller. If the store fails, every caller of that batch gets the error and
//! the chain head does not move.
//!
//! A second thread keeps the head file (`audit.head`) up to date with the
//! last committed record (at most 100 ms or 10,000 records behind) and runs
//! the store's upkeep ([`AuditStore::maintain`], every 10 ms); both involve
//! an `fsync` that has no business inside a decision's commit.

use super::GENESIS_HASH;
use super::entry::{Entry, Prepared, Receipt, seal};
use super::head::{HeadFile, check_head_file};
use crate::record::{Record, SealedRecord, format_ts, parse_canonical_ts};
use crate::store::{AuditStore, ChainHead, Cursor, Filter, SqliteStore};
use crate::{Error, Result};
use jiff::Timestamp;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The writer's default commit delay (see [`AuditLog::open_with`]).
pub const DEFAULT_COMMIT_DELAY: Duration = Duration::from_micros(100);
/// The longest commit delay a configuration may set, in µs.
pub const MAX_COMMIT_DELAY_US: u64 = 10_000;

/// Most entries in one batch (one transaction).
const MAX_BATCH: usize = 4096;
/// The head file is at most this many records behind the store (and at most
/// [`HEAD_EVERY`]).
const HEAD_RECORDS: u64 = 10_000;

/// The lock file that keeps a second process from writing the same chain.
const LOCK_FILE: &str = "audit.lock";

enum Reply {
    Async(tokio::sync::oneshot::Sender<Result<Receipt>>),
    Blocking(mpsc::SyncSender<Result<Receipt>>),
}

impl Reply {
    fn send(self, r: Result<Receipt>) {
        // A caller that went away no longer wants the answer.
        match self {
            Self::Async(tx) => drop(tx.send(r)),
            Self::Blocking(tx) => drop(tx.send(r)),
        }
    }
}

enum Msg {
    Append(Prepared, Reply),
    Close,
}

#[derive(Default)]
struct Counters {
    batches: AtomicU64,
    records: AtomicU64,
    last_batch: AtomicU64,
    failed_batches: AtomicU64,
    head_seq: AtomicU64,
    commit_times: [AtomicU64; COMMIT_BUCKETS_US.len() + 1],
}

/// Upper bounds (µs) of the buckets of [`Stats::commit_times`]; the last
/// bucket counts the commits slower than all of them.
pub const COMMIT_BUCKETS_US: [u64; 6] = [250, 500, 1_000, 2_000, 5_000, 10_000];

/// The writer and maintenance threads.
struct Threads {
    writer: JoinHandle<()>,
    maintenance: JoinHandle<()>,
}

/// How often the maintenance thread runs [`AuditStore::maintain`] (for
/// SQLite: copies the WAL into the database). Often, so that each copy is
/// small: its writes and sync share the disk with the writer's syncs, and a
/// large one holds up the decisions committing meanwhile.
const MAINTAIN_EVERY: Duration = Duration::from_millis(10);
/// How often the head file is brought up to date (at most; see also
/// [`HEAD_RECORDS`]).
const HEAD_EVERY: Duration = Duration::from_millis(100);

/// What the writer tells the maintenance thread.
#[derive(Default)]
struct Committed {
    seq: u64,
    hash: String,
    /// Committed since the head file was last written.
    unwritten: u64,
    /// The head file is behind.
    dirty: bool,
    stop: bool,
}

type Shared = Arc<(Mutex<Committed>, Condvar)>;

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
        let checkpoint = store.checkpoint()?;
        let head = store.head()?;
        if let Some(file) = HeadFile::read(data_dir)? {
            check_head_file(&mut store, &file, head.as_ref(), checkpoint.as_ref())?;
        }
        let (seq, hash, ts) = match (head, checkpoint) {
            (Some(h), _) => (h.seq, h.hash, h.ts),
            (None, Some(c)) => (c.seq, c.hash, String::new()),
            (None, None) => (0, GENESIS_HASH.to_owned(), String::new()),
        };
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

/// Tells the maintenance thread to write the head file and stop.
fn stop(shared: &Shared) {
    let (state, wake) = &**shared;
    if let Ok(mut c) = state.lock() {
        c.stop = true;
        wake.notify_one();
    }
}

/// The maintenance thread: the head file, at most [`HEAD_EVERY`] (and a
/// tick) or [`HEAD_RECORDS`] behind the last commit, and [`AuditStore::maintain`]
/// every [`MAINTAIN_EVERY`].
fn maintain(mut store: SqliteStore, dir: &Path, shared: &Shared) {
    let (state, wake) = &**shared;
    let mut tick = Instant::now() + MAINTAIN_EVERY;
    let mut head_due = Instant::now() + HEAD_EVERY;
    // The last record the store's upkeep succeeded after: while nothing is
    // committed the thread still ticks, but leaves the store alone (a
    // failed upkeep is retried at the next tick).
    let mut maintained = None;
    loop {
        let (head, stopping, seq) = {
            let Ok(mut c) = state.lock() else { return };
            while !c.stop && c.unwritten < HEAD_RECORDS && Instant::now() < tick {
                let wait = tick.saturating_duration_since(Instant::now());
                c = match wake.wait_timeout(c, wait) {
                    Ok((c, _)) => c,
                    Err(_) => return,
                };
            }
            let now = Instant::now();
            let due = c.stop || c.unwritten >= HEAD_RECORDS || now >= head_due;
            let head = (due && c.dirty).then(|| HeadFile {
                seq: c.seq,
                hash: c.hash.clone(),
            });
            if due {
                (c.dirty, c.unwritten) = (false, 0);
                head_due = now + HEAD_EVERY;
            }
            (head, c.stop, c.seq)
        };
        if let Some(head) = head
            && let Err(e) = head.write(dir)
        {
            // Not a reason to fail decisions: the store is durable; only
            // truncation detection lags. Retried at the next commit.
            tracing::warn!(error = %e, "cannot update the audit head file");
        }
        if stopping {
            return;
        }
        if Instant::now() >= tick {
            if maintained != Some(seq) {
                match store.maintain() {
                    Ok(()) => maintained = Some(seq),
                    Err(e) => tracing::warn!(error = %e, "audit store maintenance failed"),
                }
            }
            tick = Instant::now() + MAINTAIN_EVERY;
        }
    }
}

/// The writer thread's state.
struct Worker {
    store: Box<dyn AuditStore>,
    rx: mpsc::Receiver<Msg>,
    /// `seq` and `hash` of the last committed record.
    seq: u64,
    hash: String,
    /// `ts` of the last committed record, in microseconds; timestamps never
    /// go backwards along the chain, even if the clock does.
    last_ts: i64,
    counters: Arc<Counters>,
    shared: Shared,
    /// How long to let a batch fill once the previous one held more than
    /// one record (see [`AuditLog::open_with`]).
    commit_delay: Duration,
}

impl Worker {
    fn run(&mut self) {
        let mut batch = Vec::new();
        let mut closing = false;
        // Size of the last batch.
        let mut last_batch = 0;
        loop {
            // Block for the first entry (after `Close`, only drain).
            let first = if closing {
                self.rx.try_recv().ok()
            } else {
                self.rx.recv().ok()
            };
            let Some(first) = first else { break };
            // Callers are deciding side by side: let the batch fill for a
            // moment, so that one sync serves more of them. After a quiet
            // spell (the last batch held one record) nobody waits.
            if !closing && last_batch > 1 && !self.commit_delay.is_zero() {
                std::thread::sleep(self.commit_delay);
            }
            // Then take whatever else is already queued, without waiting.
            let mut next = Some(first);
            while let Some(m) = next {
                match m {
                    Msg::Append(entry, reply) => batch.push((entry, reply)),
                    Msg::Close => closing = true,
                }
                next = if batch.len() < MAX_BATCH {
                    self.rx.try_recv().ok()
                } else {
                    None
                };
            }
            last_batch = batch.len();
            if !batch.is_empty() {
                self.commit(std::mem::take(&mut batch));
            }
        }
    }

    /// Tells the maintenance thread about the new head.
    fn publish(&self, records: u64) {
        let (state, wake) = &*self.shared;
        if let Ok(mut c) = state.lock() {
            c.seq = self.seq;
            c.hash.clone_from(&self.hash);
            c.dirty = true;
            c.unwritten += records;
            if c.unwritten >= HEAD_RECORDS {
                wake.notify_one();
            }
        }
    }

    fn commit(&mut self, batch: Vec<(Prepared, Reply)>) {
        let now = Timestamp::now().as_microsecond();
        let ts_micros = now.max(self.last_ts);
        let ts = Timestamp::from_microsecond(ts_micros)
            .map(format_ts)
            .unwrap_or_else(|_| format_ts(Timestamp::now()));
        let mut sealed: Vec<SealedRecord> = Vec::with_capacity(batch.len());
        let mut replies = Vec::with_capacity(batch.len());
        let mut seq = self.seq;
        for (prepared, reply) in batch {
            seq += 1;
            let prev = sealed.last().map_or(self.hash.as_str(), |s| s.hash());
            let s = seal(prepared, seq, &ts, prev);
            sealed.push(s);
            replies.push(reply);
        }
        let writing = Instant::now();
        let appended = self.store.append(&sealed);
        let took = u64::try_from(writing.elapsed().as_micros()).unwrap_or(u64::MAX);
        let bucket = COMMIT_BUCKETS_US
            .iter()
            .position(|&bound| took <= bound)
            .unwrap_or(COMMIT_BUCKETS_US.len());
        self.counters.commit_times[bucket].fetch_add(1, Ordering::Relaxed);
        match appended {
            Ok(()) => {
                let n = sealed.len() as u64;
                self.seq = seq;
                if let Some(last) = sealed.last() {
                    self.hash = last.hash().to_owned();
                }
                self.last_ts = ts_micros;
                self.publish(n);
                let c = &self.counters;
                c.batches.fetch_add(1, Ordering::Relaxed);
                c.records.fetch_add(n, Ordering::Relaxed);
                c.last_batch.store(n, Ordering::Relaxed);
                c.head_seq.store(self.seq, Ordering::Relaxed);
                for (s, reply) in sealed.into_iter().zip(replies) {
                    reply.send(Ok(Receipt::from(s)));
                }
            }
            Err(e) => {
                let message = e.to_string();
                self.counters.failed_batches.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %message, records = replies.len(), "audit batch failed; its decisions fail closed");
                self.resync();
                for reply in replies {
                    reply.send(Err(Error::Audit {
                        message: message.clone(),
                    }));
                }
            }
        }
    }

    /// After a failed batch, takes the head from the store again: a commit
    /// that reported failure may still have landed, and the next batch must
    /// continue whatever the store holds.
    fn resync(&mut self) {
        match self.store.head() {
            Ok(Some(ChainHead { seq, hash, .. })) if seq != self.seq || hash != self.hash => {
                tracing::warn!(
                    seq,
                    expected_seq = self.seq,
                    "audit store head moved during a failed batch; continuing from the store"
                );
                self.seq = seq;
                self.hash = hash;
                self.publish(0);
                self.counters.head_seq.store(seq, Ordering::Relaxed);
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot re-read the audit head"),
        }
    }
}
