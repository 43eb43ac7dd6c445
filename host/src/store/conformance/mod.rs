//! The conformance suite: what every store must do, written once against
//! the traits and run for each backend, as object_store's `integration.rs`
//! is for its backends.
//!
//! A backend provides a [`Fixture`] (a fresh, empty store, and handles on
//! it) and instantiates the suite with [`suite!`], which makes one test per
//! case, named after it:
//!
//! ```ignore
//! crate::store::conformance::suite!(MyFixture::new());
//! ```
//!
//! The SQLite store runs it in `store/sqlite/tests.rs`; a PostgreSQL store
//! would do the same with a fixture that makes a fresh schema per test.
//! [`records`] holds the audit trail's cases, [`state`] the state
//! primitive's, including the concurrent ones that prove conditional writes
//! atomic.

pub(crate) mod records;
pub(crate) mod state;

use super::{AuditStore, State};

/// A fresh, empty store of one backend, and handles on it. Each call opens
/// another handle (another connection) on the *same* store, so cases can
/// check what one handle sees of another's writes.
pub(crate) trait Fixture: Sync {
    /// The backend's audit record store.
    type Records: AuditStore;
    /// The backend's state store.
    type State: State + 'static;

    /// A new handle on the audit records.
    fn records(&self) -> Self::Records;

    /// A new handle on the state.
    fn state(&self) -> Self::State;
}

/// One test per conformance case for the [`Fixture`] that `$fixture`
/// makes (evaluated afresh for every test).
macro_rules! suite {
    ($fixture:expr) => {
        $crate::store::conformance::suite!(@records $fixture;
            empty_store,
            append_and_read_back,
            append_is_all_or_nothing,
            scan_stops_when_asked,
            query_filters_and_pages,
            time_windows,
            meta_round_trips,
            cut_leaves_a_checkpoint,
            trails_keep_their_last_record,
            readers_see_committed_batches,
        );
        $crate::store::conformance::suite!(@state $fixture;
            values_are_versioned,
            versions_never_repeat,
            projects_and_kinds_are_apart,
            transactions_are_all_or_nothing,
            counters_stay_within_limits,
            concurrent_reservations_never_overshoot,
            an_approval_is_used_once,
        );
    };
    (@records $fixture:expr; $($case:ident),* $(,)?) => {
        mod records {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[test]
                fn $case() {
                    $crate::store::conformance::records::$case(&$fixture);
                }
            )*
        }
    };
    (@state $fixture:expr; $($case:ident),* $(,)?) => {
        mod state {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    $crate::store::conformance::state::$case(&$fixture).await;
                }
            )*
        }
    };
}
pub(crate) use suite;
