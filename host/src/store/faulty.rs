//! A store wrapper that fails on demand: [`FaultyStore`], for fault
//! injection in tests and drills. Like object_store's `limit.rs` and
//! `throttle.rs`, it adds behaviour around any [`AuditStore`] without
//! touching the backend; open a log on one with
//! [`AuditLog::open_wrapped`](crate::audit::AuditLog::open_wrapped).

use super::records::{
    AuditStore, ChainHead, Checkpoint, Cursor, ExportMark, Filter, StoredRow, TrailHead,
};
use crate::record::{Broken, Record, SealedRecord};
use crate::{Error, Result};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The switches of one or more [`FaultyStore`]s (cheap to clone; clones
/// share the switches).
#[derive(Debug, Clone, Default)]
pub struct Faults {
    fail_appends: Arc<AtomicBool>,
    failed_appends: Arc<AtomicU64>,
    fail_heads: Arc<AtomicBool>,
}

impl Faults {
    /// From now on, every append fails (`true`) or goes through (`false`).
    pub fn fail_appends(&self, fail: bool) {
        self.fail_appends.store(fail, Ordering::SeqCst);
    }

    /// From now on, reading the heads (`head`, `trails`) fails (`true`) or
    /// goes through (`false`).
    pub fn fail_heads(&self, fail: bool) {
        self.fail_heads.store(fail, Ordering::SeqCst);
    }

    /// How many appends were refused so far.
    pub fn failed_appends(&self) -> u64 {
        self.failed_appends.load(Ordering::SeqCst)
    }
}

/// An [`AuditStore`] that passes every call to `inner`, except the ones its
/// [`Faults`] say to fail.
#[derive(Debug)]
pub struct FaultyStore<S> {
    inner: S,
    faults: Faults,
}

impl<S: AuditStore> FaultyStore<S> {
    /// Wraps `inner`, failing as `faults` says.
    pub fn new(inner: S, faults: Faults) -> Self {
        Self { inner, faults }
    }

    fn heads_readable(&self) -> Result<()> {
        if self.faults.fail_heads.load(Ordering::SeqCst) {
            return Err(Error::Audit {
                message: "injected fault: the heads cannot be read".into(),
            });
        }
        Ok(())
    }
}

impl<S: AuditStore> AuditStore for FaultyStore<S> {
    fn append(&mut self, batch: &[SealedRecord]) -> Result<()> {
        if self.faults.fail_appends.load(Ordering::SeqCst) {
            self.faults.failed_appends.fetch_add(1, Ordering::SeqCst);
            return Err(Error::Audit {
                message: "injected fault: the store refused the append".into(),
            });
        }
        self.inner.append(batch)
    }

    fn head(&mut self) -> Result<Option<ChainHead>> {
        self.heads_readable()?;
        self.inner.head()
    }

    fn trails(&mut self) -> Result<Vec<TrailHead>> {
        self.heads_readable()?;
        self.inner.trails()
    }

    fn query(&mut self, filter: &Filter, cursor: Cursor, limit: usize) -> Result<Vec<Record>> {
        self.inner.query(filter, cursor, limit)
    }

    fn row(&mut self, seq: u64) -> Result<Option<StoredRow>> {
        self.inner.row(seq)
    }

    fn scan(
        &mut self,
        after_seq: u64,
        through_seq: u64,
        visit: &mut dyn FnMut(StoredRow) -> Result<bool>,
    ) -> Result<()> {
        self.inner.scan(after_seq, through_seq, visit)
    }

    fn scan_trail(
        &mut self,
        project: Option<&str>,
        after_seq: u64,
        through_seq: u64,
        visit: &mut dyn FnMut(StoredRow) -> Result<bool>,
    ) -> Result<()> {
        self.inner
            .scan_trail(project, after_seq, through_seq, visit)
    }

    fn last_seq_before(
        &mut self,
        project: Option<&str>,
        ts: &str,
        through_seq: u64,
    ) -> Result<Option<u64>> {
        self.inner.last_seq_before(project, ts, through_seq)
    }

    fn meta(&mut self, key: &str) -> Result<Option<String>> {
        self.inner.meta(key)
    }

    fn set_meta(&mut self, key: &str, value: &str) -> Result<()> {
        self.inner.set_meta(key, value)
    }

    fn cut(
        &mut self,
        project: Option<&str>,
        after_seq: u64,
        expected: u64,
        checkpoint: &Checkpoint,
    ) -> Result<u64> {
        self.inner.cut(project, after_seq, expected, checkpoint)
    }

    fn maintain(&mut self) -> Result<()> {
        self.inner.maintain()
    }

    fn check_derived(&mut self) -> Result<Option<Broken>> {
        self.inner.check_derived()
    }

    fn checkpoint(&mut self, project: Option<&str>) -> Result<Option<Checkpoint>> {
        self.inner.checkpoint(project)
    }

    fn export_mark(&mut self, project: Option<&str>) -> Result<Option<ExportMark>> {
        self.inner.export_mark(project)
    }

    fn set_export_mark(&mut self, project: Option<&str>, mark: &ExportMark) -> Result<()> {
        self.inner.set_export_mark(project, mark)
    }
}
