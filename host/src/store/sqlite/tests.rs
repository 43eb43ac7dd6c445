//! The conformance suite ([`crate::store::conformance`]) for the SQLite
//! store.

use super::{SqliteState, SqliteStore};
use crate::store::conformance::{Fixture, suite};

/// A fresh data directory; each handle is a new connection to its
/// `audit.db` or `state.db`.
struct Sqlite {
    dir: tempfile::TempDir,
}

impl Sqlite {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }
}

impl Fixture for Sqlite {
    type Records = SqliteStore;
    type State = SqliteState;

    fn records(&self) -> SqliteStore {
        let mut store = SqliteStore::open(self.dir.path()).unwrap();
        // Posting passes every few records, so that queries by session and
        // agent go through the postings and the records after them.
        store.set_post_every(4);
        store
    }

    fn state(&self) -> SqliteState {
        SqliteState::open(self.dir.path()).unwrap()
    }
}

suite!(Sqlite::new());
