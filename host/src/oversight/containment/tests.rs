//! Holds on a real state store: each scope stops what it names and nothing
//! else, a hold survives a restart, a resume lifts it, a project's first
//! read racing a hold never loses the hold, and a store that cannot be read
//! fails closed.

use super::*;
use crate::store::{SqliteState, Transacted, Versioned};

fn hold(scope: Scope, target: &str) -> Hold {
    Hold {
        scope,
        target: target.into(),
        by: "ops".into(),
        reason: "runaway".into(),
        at: 1_765_000_000_000_000,
    }
}

fn open(dir: &std::path::Path) -> Containment<SqliteState> {
    Containment::new(Arc::new(SqliteState::open(dir).unwrap()))
}

#[tokio::test]
async fn each_scope_stops_what_it_names_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    assert_eq!(c.check("p", "bot", "s-1").await.unwrap(), None);

    c.hold("p", hold(Scope::Session, "s-1")).await.unwrap();
    let h = c.check("p", "bot", "s-1").await.unwrap().unwrap();
    assert_eq!(h.scope.code(), "session_killed");
    assert!(
        h.denial()
            .starts_with("denied: session `s-1` was killed by ops at 2025-"),
        "{}",
        h.denial()
    );
    assert!(h.denial().ends_with(": runaway"));
    // Another session, another project: untouched.
    assert_eq!(c.check("p", "bot", "s-2").await.unwrap(), None);
    assert_eq!(c.check("q", "bot", "s-1").await.unwrap(), None);

    c.hold("p", hold(Scope::Agent, "bot")).await.unwrap();
    let h = c.check("p", "bot", "s-2").await.unwrap().unwrap();
    assert_eq!(h.scope, Scope::Agent);
    assert_eq!(c.check("p", "other", "s-2").await.unwrap(), None);

    c.hold("p", hold(Scope::Project, "p")).await.unwrap();
    let h = c.check("p", "other", "s-9").await.unwrap().unwrap();
    assert_eq!(h.scope.code(), "project_paused");
    assert_eq!(c.check("q", "other", "s-9").await.unwrap(), None);
    assert_eq!(c.list("p").await.unwrap().len(), 3);

    // Resumed: the agent again, then the project.
    assert!(c.release("p", Scope::Project, "p").await.unwrap().is_some());
    assert!(c.release("p", Scope::Agent, "bot").await.unwrap().is_some());
    assert!(c.release("p", Scope::Agent, "bot").await.unwrap().is_none());
    assert_eq!(c.check("p", "bot", "s-2").await.unwrap(), None);
    // The killed session stays killed.
    assert!(c.check("p", "bot", "s-1").await.unwrap().is_some());
}

#[tokio::test]
async fn holds_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let c = open(dir.path());
        c.hold("p", hold(Scope::Agent, "bot")).await.unwrap();
        c.hold("p", hold(Scope::Session, "s-1")).await.unwrap();
        c.hold("p", hold(Scope::Session, "s-2")).await.unwrap();
        c.release("p", Scope::Session, "s-2").await.unwrap();
    }
    let c = open(dir.path());
    assert_eq!(
        c.check("p", "bot", "x").await.unwrap().map(|h| h.scope),
        Some(Scope::Agent)
    );
    assert_eq!(
        c.check("p", "other", "s-1").await.unwrap().map(|h| h.scope),
        Some(Scope::Session)
    );
    assert_eq!(c.check("p", "other", "s-2").await.unwrap(), None);
}

#[tokio::test]
async fn a_first_read_racing_holds_never_loses_one() {
    let dir = tempfile::tempdir().unwrap();
    let c = Arc::new(open(dir.path()));
    let mut tasks = Vec::new();
    for i in 0..16 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                c.hold("p", hold(Scope::Session, &format!("s-{i}")))
                    .await
                    .unwrap();
            } else {
                c.check("p", "bot", "s-x").await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    for i in (0..16).step_by(2) {
        assert!(
            c.check("p", "bot", &format!("s-{i}"))
                .await
                .unwrap()
                .is_some(),
            "s-{i}"
        );
    }
}

/// A state store that cannot be reached.
struct Unreachable;

impl State for Unreachable {
    async fn get(&self, _: &Key) -> Result<Option<Versioned>> {
        Err(Error::Engine("unreachable".into()))
    }
    async fn list(
        &self,
        _: &str,
        _: &str,
        _: Option<&str>,
        _: usize,
    ) -> Result<Vec<(String, Versioned)>> {
        Err(Error::Engine("unreachable".into()))
    }
    async fn total(&self, _: &Key) -> Result<i64> {
        Err(Error::Engine("unreachable".into()))
    }
    async fn transact(&self, _: Vec<Op>) -> Result<Transacted> {
        Err(Error::Engine("unreachable".into()))
    }
}

#[tokio::test]
async fn a_store_that_cannot_be_read_fails_closed() {
    let c = Containment::new(Arc::new(Unreachable));
    // The first check cannot know the project's holds: an error, which
    // the decision path turns into a deny.
    assert!(c.check("p", "bot", "s-1").await.is_err());
    // Nor can a hold be taken without knowing the others; decisions of the
    // project are denied meanwhile (above).
    assert!(c.hold("p", hold(Scope::Agent, "bot")).await.is_err());
}
