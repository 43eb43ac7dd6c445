//! The writer thread: batching and group commit ([`Worker`]), and what
//! callers send it ([`Msg`]).
//!
//! It blocks until an entry arrives; if the previous batch held more than
//! one record it lets the batch fill for the commit delay, takes whatever is
//! queued, numbers, timestamps and chains the batch (each record continues
//! the last record of its trail: its project's, or the server's), appends it in one
//! transaction (one sync) through the store's blocking [`AuditStore`]
//! (deliberately: nothing async sits between a batch and its `fsync`), and
//! only then answers every caller. If the store fails, every caller of that
//! batch gets the error and the chain head does not move.

use super::entry::{GENESIS_HASH, Prepared, Receipt, seal};
use super::head::TrailMark;
use super::upkeep::{HEAD_RECORDS, Shared};
use crate::record::{SealedRecord, format_ts};
use crate::store::{AuditStore, ChainHead, TrailHead};
use crate::{Error, Result};
use jiff::Timestamp;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Most entries in one batch (one transaction).
const MAX_BATCH: usize = 4096;

/// Upper bounds (µs) of the buckets of
/// [`Stats::commit_times`](super::Stats::commit_times); the last
/// bucket counts the commits slower than all of them.
pub const COMMIT_BUCKETS_US: [u64; 6] = [250, 500, 1_000, 2_000, 5_000, 10_000];

/// Where the writer sends a caller's answer.
pub(crate) enum Reply {
    /// To an async caller ([`super::AuditLog::append`]).
    Async(tokio::sync::oneshot::Sender<Result<Receipt>>),
    /// To a blocking one ([`super::AuditLog::append_blocking`]).
    Blocking(mpsc::SyncSender<Result<Receipt>>),
}

impl Reply {
    pub(super) fn send(self, r: Result<Receipt>) {
        // A caller that went away no longer wants the answer.
        match self {
            Self::Async(tx) => drop(tx.send(r)),
            Self::Blocking(tx) => drop(tx.send(r)),
        }
    }
}

/// What callers send the writer thread.
pub(crate) enum Msg {
    /// An entry to chain, and where to answer.
    Append(Prepared, Reply),
    /// Drain the queue and stop.
    Close,
}

/// The writer's counters, read by [`super::Stats`].
#[derive(Default)]
pub(crate) struct Counters {
    pub(super) batches: AtomicU64,
    pub(super) records: AtomicU64,
    pub(super) last_batch: AtomicU64,
    pub(super) failed_batches: AtomicU64,
    pub(super) head_seq: AtomicU64,
    pub(super) commit_times: [AtomicU64; COMMIT_BUCKETS_US.len() + 1],
}

/// The writer thread's state.
pub(crate) struct Worker {
    pub(super) store: Box<dyn AuditStore>,
    pub(super) rx: mpsc::Receiver<Msg>,
    /// `seq` and `hash` of the last committed record.
    pub(super) seq: u64,
    pub(super) hash: String,
    /// The last committed record's `hash` of each trail (by project, `""`
    /// for the server's); a trail not here starts from 64 zeros.
    pub(super) trails: HashMap<String, String>,
    /// The heads could not be read back after a failed batch: no batch is
    /// sealed (its decisions fail closed) until they are, so that no record
    /// chains onto a stale head.
    pub(super) stale: bool,
    /// `ts` of the last committed record, in microseconds; timestamps never
    /// go backwards along the chain, even if the clock does.
    pub(super) last_ts: i64,
    pub(super) counters: Arc<Counters>,
    pub(super) shared: Shared,
    /// How long to let a batch fill once the previous one held more than
    /// one record (see [`AuditLog::open_with`]).
    pub(super) commit_delay: Duration,
}

impl Worker {
    /// Runs until the log is closed and the queue drained.
    pub(super) fn run(&mut self) {
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

    /// Tells the maintenance thread about the new head, and the new heads
    /// of the trails in `committed`.
    fn publish(&self, records: u64, committed: &[SealedRecord]) {
        let (state, wake) = &*self.shared;
        if let Ok(mut c) = state.lock() {
            c.seq = self.seq;
            c.hash.clone_from(&self.hash);
            for s in committed {
                let project = s.columns().project.as_deref().unwrap_or("");
                let mark = TrailMark {
                    seq: s.seq(),
                    hash: s.hash().to_owned(),
                };
                match c.trails.get_mut(project) {
                    Some(m) => *m = mark,
                    None => drop(c.trails.insert(project.to_owned(), mark)),
                }
            }
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
        if self.stale {
            self.resync();
            if self.stale {
                for (_, reply) in batch {
                    reply.send(Err(Error::Audit {
                        message: "the audit trails' heads cannot be read; nothing is recorded \
                                  until they are"
                            .into(),
                    }));
                }
                return;
            }
        }
        let mut sealed: Vec<SealedRecord> = Vec::with_capacity(batch.len());
        let mut replies = Vec::with_capacity(batch.len());
        let mut seq = self.seq;
        // The heads this batch moves (one entry per trail it touches, few),
        // over the committed ones: merged only once the batch is stored, so
        // a failed batch leaves nothing to put back.
        let mut moved: Vec<(String, String)> = Vec::new();
        for (prepared, reply) in batch {
            seq += 1;
            let trail = prepared.project().unwrap_or("");
            let i = match moved.iter().position(|(t, _)| t == trail) {
                Some(i) => i,
                None => {
                    let head = self
                        .trails
                        .get(trail)
                        .map_or(GENESIS_HASH, String::as_str)
                        .to_owned();
                    moved.push((trail.to_owned(), head));
                    moved.len() - 1
                }
            };
            let s = seal(prepared, seq, &ts, &moved[i].1);
            moved[i].1.clear();
            moved[i].1.push_str(s.hash());
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
                self.trails.extend(moved);
                if let Some(last) = sealed.last() {
                    self.hash = last.hash().to_owned();
                }
                self.last_ts = ts_micros;
                self.publish(n, &sealed);
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

    /// After a failed batch, takes the heads from the store again: a commit
    /// that reported failure may still have landed, and the next batch must
    /// continue whatever the store holds.
    fn resync(&mut self) {
        match self.store.trails() {
            Ok(trails) => {
                self.trails = trail_map(trails);
                self.stale = false;
            }
            Err(e) => {
                self.stale = true;
                tracing::warn!(error = %e, "cannot re-read the audit trails' heads");
            }
        }
        match self.store.head() {
            Ok(Some(ChainHead { seq, hash, .. })) if seq != self.seq || hash != self.hash => {
                tracing::warn!(
                    seq,
                    expected_seq = self.seq,
                    "audit store head moved during a failed batch; continuing from the store"
                );
                self.seq = seq;
                self.hash = hash;
                self.publish(0, &[]);
                self.counters.head_seq.store(seq, Ordering::Relaxed);
            }
            Ok(_) => {}
            Err(e) => {
                self.stale = true;
                tracing::warn!(error = %e, "cannot re-read the audit head");
            }
        }
    }
}

/// Each trail's last hash, by project.
pub(super) fn trail_map(trails: Vec<TrailHead>) -> HashMap<String, String> {
    trails
        .into_iter()
        .map(|t| (t.project.unwrap_or_default(), t.hash))
        .collect()
}
