//! Everything durable is read and written here: the traits, keyed by
//! project where the data is a project's, and the embedded SQLite
//! implementation behind them (see `docs/store.md`).
//!
//! * [`AuditStore`] ([`records`]): the audit trail's records, appended in
//!   batches by the audit log's one writer and read back by queries,
//!   verification, export and retention. What a record *means* (its
//!   encoding, the hash chain, verification) is [`crate::audit`]'s; this
//!   module only keeps the rows. Blocking, for the writer's own thread.
//! * [`State`] ([`state`]): a project's durable state (approvals, grants,
//!   sessions, kill state, budgets and reservations, alert state, the
//!   notification outbox): versioned values and counters under a [`Key`]
//!   (project, kind, key), with conditional writes in transactions
//!   ([`State::transact`]). Async.
//! * [`Limiter`] ([`limiter`]): rate limits (GCRA) by project and key;
//!   the embedded store's is in memory ([`LocalLimiter`]), exact because
//!   one server owns its data directory.
//! * [`sqlite`]: the embedded implementation of both, [`SqliteStore`]
//!   (`audit.db`) and [`SqliteState`] (`state.db`) in the data directory.
//! * [`FaultyStore`] ([`faulty`]): a wrapper that fails on demand, for
//!   fault injection in tests.
//!
//! Every backend passes one conformance suite (`conformance`, run for
//! SQLite by `cargo test -p palisade --lib store::sqlite`), which a
//! PostgreSQL backend is to pass as well.

#[cfg(test)]
pub(crate) mod conformance;
pub mod faulty;
pub mod limiter;
pub mod records;
pub mod sqlite;
pub mod state;

pub use faulty::{Faults, FaultyStore};
pub use limiter::{Limiter, LocalLimiter, Quota, Throttled};
pub use records::{
    AuditStore, CHECKPOINT_KEY, ChainHead, Checkpoint, Cursor, EXPORTED_KEY, ExportMark, Filter,
    MAX_PAGE, StoredRow, TrailHead, trail_key, trail_name,
};
pub use sqlite::{SqliteState, SqliteStore};
pub use state::{Applied, Conflict, Expect, Key, Op, State, Transacted, Versioned};
