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

/// What `state.db` holds outlives its handles, and versions go on growing
/// from where they were; the file is the server user's alone.
#[tokio::test]
async fn state_survives_reopening_and_stays_private() {
    use crate::store::{Expect, Key, State};
    let dir = tempfile::tempdir().unwrap();
    let key = Key::new("p", "kill", "session-1");
    let first = {
        let state = SqliteState::open(dir.path()).unwrap();
        state
            .put(key.clone(), "killed", Expect::Absent)
            .await
            .unwrap()
            .unwrap()
    };
    let state = SqliteState::open(dir.path()).unwrap();
    let got = state.get(&key).await.unwrap().unwrap();
    assert_eq!((got.value.as_str(), got.version), ("killed", first));
    let next = state
        .put(key, "released", Expect::Version(first))
        .await
        .unwrap()
        .unwrap();
    assert!(next > first);
    assert_eq!(state.path(), dir.path().join(SqliteState::FILE));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(state.path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

/// The state lives in its own file: the audit trail's `audit.db` is not
/// created by it, nor touched.
#[test]
fn state_and_audit_trail_are_separate_files() {
    let dir = tempfile::tempdir().unwrap();
    let _state = SqliteState::open(dir.path()).unwrap();
    assert!(dir.path().join(SqliteState::FILE).is_file());
    assert!(!dir.path().join(SqliteStore::FILE).exists());
}
