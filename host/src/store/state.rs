//! The general primitive for a project's durable state: [`State`].
//!
//! Approvals, grants, sessions, kill state, alert state and the
//! notification outbox are *values* under a [`Key`] (project, kind, key),
//! each with a [`version`](Versioned::version); budgets and reservations are
//! *counters* under a key. Whatever must be checked and written as one step
//! is one [`State::transact`] call: a list of [`Op`]s, each with its
//! condition ([`Expect`] for a value, a limit for a counter), applied all
//! together or not at all. So an approval is used once (`Put` expecting the
//! version that was read), and a budget reservation cannot overshoot its
//! limit however many decisions reserve at once (`Add` with a limit), and
//! both can go in one transaction with the record that explains them.
//!
//! Versions are unique across the store and only grow: a key deleted and
//! written again never gets an earlier version back, so a writer holding an
//! old version can never overwrite a newer value by mistake.
//!
//! The trait is async, with native `async fn`-style methods whose futures
//! are `Send` (`-> impl Future<Output = …> + Send`), not the `async-trait`
//! crate: the backends are a closed set (SQLite, PostgreSQL), so a caller
//! that must choose at run time holds an enum of them, and no call pays
//! for a boxed future. The SQLite implementation
//! ([`super::sqlite::SqliteState`]) runs its work on a connection thread of
//! its own, never on the async workers.

use crate::Result;
use std::future::Future;

/// Where a value or a counter lives: a project's, of a kind (e.g.
/// `approval`, `grant`, `budget`), under a key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    /// The project it belongs to; nothing crosses projects.
    pub project: String,
    /// What it is, e.g. `approval`.
    pub kind: String,
    /// Which one, e.g. an approval's id.
    pub key: String,
}

impl Key {
    /// The key `key` of `kind` in `project`.
    pub fn new(
        project: impl Into<String>,
        kind: impl Into<String>,
        key: impl Into<String>,
    ) -> Self {
        Self {
            project: project.into(),
            kind: kind.into(),
            key: key.into(),
        }
    }
}

/// A value as stored, with its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned {
    /// The value (by convention JSON).
    pub value: String,
    /// Its version: unique across the store, larger for every later write.
    pub version: u64,
}

/// What a conditional write expects to find under its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Anything, or nothing: the write is unconditional.
    Any,
    /// Nothing: the write creates the value.
    Absent,
    /// The value at this version, unchanged since it was read.
    Version(u64),
}

/// One step of a [`State::transact`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Writes `value` under `key`, if what is there is as `expect` says.
    Put {
        /// Where.
        key: Key,
        /// What.
        value: String,
        /// The condition.
        expect: Expect,
    },
    /// Removes the value under `key`, if what is there is as `expect` says
    /// (with [`Expect::Any`], removing nothing is fine).
    Delete {
        /// Where.
        key: Key,
        /// The condition.
        expect: Expect,
    },
    /// Adds `amount` to the counter under `key` (a counter never written is
    /// 0; a negative amount releases), if the new total stays within
    /// `0..=limit` (`limit` `None`: no upper bound). A release is checked
    /// against 0 only, so a limit lowered meanwhile never keeps a
    /// reservation from being given back.
    Add {
        /// Which counter.
        key: Key,
        /// How much.
        amount: i64,
        /// The largest total allowed.
        limit: Option<i64>,
    },
}

/// What one [`Op`] of a committed transaction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The value was written with this version.
    Put {
        /// The new version.
        version: u64,
    },
    /// The value was removed (or there was none).
    Deleted {
        /// Whether there was one.
        existed: bool,
    },
    /// The counter was changed.
    Added {
        /// Its new total.
        total: i64,
    },
}

/// Why a transaction was refused; nothing of it was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    /// Op `op` expected something else under its key.
    Version {
        /// The index of the op in the transaction.
        op: usize,
        /// The version found (`None`: nothing).
        found: Option<u64>,
    },
    /// Op `op` would take its counter out of `0..=limit`.
    Limit {
        /// The index of the op in the transaction.
        op: usize,
        /// The counter's total, unchanged.
        total: i64,
    },
}

/// A transaction's outcome: every op applied (in order), or the first
/// condition that did not hold.
pub type Transacted = std::result::Result<Vec<Applied>, Conflict>;

/// A project's durable state: versioned values and counters, with
/// conditional writes in transactions.
///
/// Every backend passes the same conformance suite
/// (`store::conformance`), which checks, among the rest, that concurrent
/// transactions from many tasks and several handles on one store never
/// overshoot a limit nor use a version twice.
pub trait State: Send + Sync {
    /// The value under `key`, if any.
    fn get(&self, key: &Key) -> impl Future<Output = Result<Option<Versioned>>> + Send;

    /// The values of `kind` in `project`, by key, from the first key after
    /// `after` (all: `None`), at most `limit`.
    fn list(
        &self,
        project: &str,
        kind: &str,
        after: Option<&str>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<(String, Versioned)>>> + Send;

    /// The counter under `key` (0 if never written).
    fn total(&self, key: &Key) -> impl Future<Output = Result<i64>> + Send;

    /// Applies `ops` in order, in one transaction, if every condition holds
    /// (each checked against what the ops before it left); otherwise writes
    /// nothing and names the first that did not. `Err` is a failure to
    /// reach or write the store, after which nothing of `ops` is applied.
    fn transact(&self, ops: Vec<Op>) -> impl Future<Output = Result<Transacted>> + Send;

    /// Writes `value` under `key` if what is there is as `expect` says:
    /// the new version, or the conflict.
    fn put(
        &self,
        key: Key,
        value: impl Into<String> + Send,
        expect: Expect,
    ) -> impl Future<Output = Result<std::result::Result<u64, Conflict>>> + Send {
        let value = value.into();
        async move {
            let done = self.transact(vec![Op::Put { key, value, expect }]).await?;
            Ok(done.map(|applied| match applied.first() {
                Some(Applied::Put { version }) => *version,
                _ => 0,
            }))
        }
    }

    /// Visits every value of `kind` in `project`, by key, reading
    /// [`State::list`] a page at a time (so at most a page is held here);
    /// stops at the first error `visit` or the store gives.
    fn for_each(
        &self,
        project: &str,
        kind: &str,
        mut visit: impl FnMut(String, Versioned) -> Result<()> + Send,
    ) -> impl Future<Output = Result<()>> + Send {
        let (project, kind) = (project.to_owned(), kind.to_owned());
        async move {
            let mut after: Option<String> = None;
            loop {
                let page = self.list(&project, &kind, after.as_deref(), 500).await?;
                let Some((last, _)) = page.last() else {
                    return Ok(());
                };
                after = Some(last.clone());
                for (key, value) in page {
                    visit(key, value)?;
                }
            }
        }
    }

    /// Reserves `amount` of the counter under `key` if the total stays
    /// within `limit`: the new total, or the conflict.
    fn reserve(
        &self,
        key: Key,
        amount: i64,
        limit: i64,
    ) -> impl Future<Output = Result<std::result::Result<i64, Conflict>>> + Send {
        async move {
            let op = Op::Add {
                key,
                amount,
                limit: Some(limit),
            };
            let done = self.transact(vec![op]).await?;
            Ok(done.map(|applied| match applied.first() {
                Some(Applied::Added { total }) => *total,
                _ => 0,
            }))
        }
    }
}
