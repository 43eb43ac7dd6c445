//! Everything durable is read and written here: the traits, keyed by
//! project where the data is a project's, and the embedded SQLite
//! implementation behind them (see `docs/store.md`).
//!
//! * [`AuditStore`] ([`records`]): the audit trail's records, appended in
//!   batches by the audit log's one writer and read back by queries,
//!   verification, export and retention. What a record *means* (its
//!   encoding, the hash chain, verification) is [`crate::audit`]'s; this
//!   module only keeps the rows.
//! * [`SqliteStore`] ([`sqlite`]): the embedded implementation, one file
//!   `audit.db` in the data directory.
//! * [`FaultyStore`] ([`faulty`]): a wrapper that fails on demand, for
//!   fault injection in tests.

pub mod faulty;
pub mod records;
pub mod sqlite;

pub use faulty::{Faults, FaultyStore};
pub use records::{
    AuditStore, CHECKPOINT_KEY, ChainHead, Checkpoint, Cursor, EXPORTED_KEY, ExportMark, Filter,
    MAX_PAGE, StoredRow,
};
pub use sqlite::SqliteStore;
