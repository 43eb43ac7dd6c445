//! A plugin's idle instances, each kept under the [`Scope`] of the call it
//! last served, oldest first.
//!
//! A call takes only an instance of its own scope (the newest); when the
//! pool is full, the oldest instance, whatever its scope, makes room. The
//! pool holds at most `limits.max_idle` instances, so a linear scan is
//! cheap, and eviction is exact.

use super::caller::Scope;
use super::instance::Warm;
use std::collections::VecDeque;
use std::sync::Mutex;

/// Idle instances of one plugin (both exports), by scope.
pub(crate) struct Idle {
    max: usize,
    entries: Mutex<VecDeque<(Scope, Warm)>>,
}

impl Idle {
    /// An empty pool that keeps at most `max` instances.
    pub(crate) fn new(max: usize) -> Self {
        Self {
            max,
            entries: Mutex::new(VecDeque::new()),
        }
    }

    /// The most recently used idle instance of `scope`, if any.
    pub(crate) fn take(&self, scope: &Scope) -> Option<Warm> {
        let mut entries = self.entries.lock().ok()?;
        let at = entries.iter().rposition(|(s, _)| s == scope)?;
        entries.remove(at).map(|(_, warm)| warm)
    }

    /// Keeps `warm` for later calls of `scope`. Returns what has to go to
    /// make room (the oldest instance, or `warm` itself when nothing may be
    /// kept), for the caller to drop outside the lock.
    pub(crate) fn put(&self, scope: Scope, warm: Warm) -> Option<Warm> {
        if self.max == 0 {
            return Some(warm);
        }
        let Ok(mut entries) = self.entries.lock() else {
            return Some(warm);
        };
        let evicted = if entries.len() >= self.max {
            entries.pop_front().map(|(_, w)| w)
        } else {
            None
        };
        entries.push_back((scope, warm));
        evicted
    }

    /// Removes the oldest idle instance, to free its permit.
    pub(crate) fn evict_oldest(&self) -> Option<Warm> {
        self.entries.lock().ok()?.pop_front().map(|(_, w)| w)
    }

    /// How many instances are idle.
    pub(crate) fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }
}
