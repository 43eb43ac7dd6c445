//! Sessions on a real state store: counted, ended by idleness or age for
//! good, written back and read again after a restart.

use super::*;
use crate::store::SqliteState;

const S: i64 = 1_000_000;
const T0: i64 = 1_765_000_000 * S;

fn limits(idle: Option<u64>, max: Option<u64>) -> SessionLimits {
    SessionLimits {
        idle_timeout_s: idle,
        max_duration_s: max,
    }
}

fn open(dir: &std::path::Path) -> Sessions<SqliteState> {
    Sessions::new(Arc::new(SqliteState::open(dir).unwrap()))
}

#[tokio::test]
async fn a_session_idle_too_long_is_over_for_good() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let l = limits(Some(60), None);
    for (at, want) in [(0, None), (30, None), (89, None)] {
        let (t, ended) = s
            .observe("p", "bot", "s-1", l, None, T0 + at * S)
            .await
            .unwrap();
        assert_eq!(ended, want, "at {at}s");
        s.count(&t, Outcome::Allow);
    }
    // 61 s after the last decision.
    let (_, ended) = s
        .observe("p", "bot", "s-1", l, None, T0 + 150 * S)
        .await
        .unwrap();
    assert_eq!(ended, Some(Ended::IdleTimeout));
    assert_eq!(ended.map(Ended::code), Some("session_idle_timeout"));
    // Still over the moment after, even with no limit any more.
    let (_, ended) = s
        .observe("p", "bot", "s-1", limits(None, None), None, T0 + 151 * S)
        .await
        .unwrap();
    assert_eq!(ended, Some(Ended::IdleTimeout));
    // Other sessions are not touched.
    let (_, ended) = s
        .observe("p", "bot", "s-2", l, None, T0 + 151 * S)
        .await
        .unwrap();
    assert_eq!(ended, None);
}

#[tokio::test]
async fn a_session_past_its_maximum_duration_is_over_however_busy() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let l = limits(Some(60), Some(100));
    for at in (0..=100).step_by(20) {
        let (_, ended) = s
            .observe("p", "bot", "s-1", l, None, T0 + at * S)
            .await
            .unwrap();
        assert_eq!(ended, None, "at {at}s");
    }
    let (_, ended) = s
        .observe("p", "bot", "s-1", l, None, T0 + 101 * S)
        .await
        .unwrap();
    assert_eq!(ended, Some(Ended::MaxDuration));
}

#[tokio::test]
async fn sessions_are_written_back_and_read_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = open(dir.path());
        for (outcome, at) in [
            (Outcome::Allow, 0),
            (Outcome::Deny, 5),
            (Outcome::ApprovalRequired, 9),
        ] {
            let (t, _) = s
                .observe("p", "bot", "s-1", limits(None, None), None, T0 + at * S)
                .await
                .unwrap();
            s.count(&t, outcome);
        }
        assert_eq!(s.flush().await.unwrap(), 1);
        assert_eq!(s.flush().await.unwrap(), 0);
    }
    let s = open(dir.path());
    let listed = s.list("p", None, 10).await.unwrap();
    assert_eq!(listed.len(), 1);
    let one = &listed[0];
    assert_eq!((one.first_seen, one.last_seen), (T0, T0 + 9 * S));
    assert_eq!(
        one.decisions,
        Counts {
            allow: 1,
            deny: 1,
            approval_required: 1,
            throttled: 0,
        }
    );
    // Idle since its last decision before the restart.
    let (_, ended) = s
        .observe(
            "p",
            "bot",
            "s-1",
            limits(Some(60), None),
            None,
            T0 + 100 * S,
        )
        .await
        .unwrap();
    assert_eq!(ended, Some(Ended::IdleTimeout));
    assert!(s.list("q", None, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn concurrent_first_decisions_share_one_session() {
    let dir = tempfile::tempdir().unwrap();
    let s = Arc::new(open(dir.path()));
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let (t, _) = s
                .observe("p", "bot", "s-1", limits(None, None), None, T0)
                .await
                .unwrap();
            s.count(&t, Outcome::Allow);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    s.flush().await.unwrap();
    assert_eq!(s.list("p", None, 10).await.unwrap()[0].decisions.allow, 16);
}

#[tokio::test]
async fn two_agents_using_one_id_have_a_session_each() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let idle = limits(Some(60), None);
    s.observe("p", "a", "s-1", limits(None, None), None, T0)
        .await
        .unwrap();
    // B's short timeout ends B's session, never A's.
    s.observe("p", "b", "s-1", idle, None, T0).await.unwrap();
    let (_, b) = s
        .observe("p", "b", "s-1", idle, None, T0 + 100 * S)
        .await
        .unwrap();
    assert_eq!(b, Some(Ended::IdleTimeout));
    let (_, a) = s
        .observe("p", "a", "s-1", limits(None, None), None, T0 + 100 * S)
        .await
        .unwrap();
    assert_eq!(a, None);
    s.flush().await.unwrap();
    let listed = s.list("p", None, 10).await.unwrap();
    assert_eq!(
        listed.iter().map(|x| x.agent.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
}

#[tokio::test]
async fn a_change_made_while_a_flush_writes_is_written_by_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let s = Arc::new(open(dir.path()));
    let (t, _) = s
        .observe("p", "a", "s-1", limits(None, None), None, T0)
        .await
        .unwrap();
    // Counts land between flushes, and flushes race: the last one written
    // is the latest.
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (s, t) = (s.clone(), t.clone());
        tasks.push(tokio::spawn(async move {
            s.count(&t, Outcome::Allow);
            if i % 3 == 0 {
                s.flush().await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    s.flush().await.unwrap();
    assert_eq!(s.list("p", None, 10).await.unwrap()[0].decisions.allow, 20);
}

#[tokio::test]
async fn a_new_session_over_the_days_count_is_over_from_its_start() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let daily = Some(Daily {
        key: "sessions/agent/bot/day/2025-12-06",
        limit: 2,
    });
    let l = limits(None, None);
    for id in ["s-1", "s-2"] {
        let (_, ended) = s.observe("p", "bot", id, l, daily, T0).await.unwrap();
        assert_eq!(ended, None);
    }
    // A session already counted is not counted again.
    let (_, ended) = s
        .observe("p", "bot", "s-1", l, daily, T0 + S)
        .await
        .unwrap();
    assert_eq!(ended, None);
    let (_, ended) = s.observe("p", "bot", "s-3", l, daily, T0).await.unwrap();
    assert_eq!(ended, Some(Ended::DailySessions));
    assert_eq!(Ended::DailySessions.code(), "budget_exceeded");
    // It stays over, after a restart too.
    s.flush().await.unwrap();
    drop(s);
    let s = open(dir.path());
    let (_, ended) = s
        .observe("p", "bot", "s-3", l, daily, T0 + S)
        .await
        .unwrap();
    assert_eq!(ended, Some(Ended::DailySessions));
    let (_, ended) = s
        .observe("p", "bot", "s-4", l, daily, T0 + S)
        .await
        .unwrap();
    assert_eq!(ended, Some(Ended::DailySessions));
}

#[tokio::test]
async fn a_session_made_by_a_refused_request_is_counted_by_its_first_admitted_one() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let daily = Some(Daily {
        key: "sessions/agent/bot/day/2025-12-06",
        limit: 1,
    });
    let l = limits(None, None);
    // Refused (held, throttled) first requests count nothing.
    for id in ["s-1", "s-2"] {
        let (_, ended) = s
            .observe_refused("p", "bot", id, l, daily, T0)
            .await
            .unwrap();
        assert_eq!(ended, None);
    }
    // The first admitted request of each counts it: one fits the day.
    let (_, ended) = s
        .observe("p", "bot", "s-2", l, daily, T0 + S)
        .await
        .unwrap();
    assert_eq!(ended, None);
    let (_, ended) = s
        .observe("p", "bot", "s-1", l, daily, T0 + S)
        .await
        .unwrap();
    assert_eq!(ended, Some(Ended::DailySessions));
    // Counted once: s-2 goes on.
    let (_, ended) = s
        .observe("p", "bot", "s-2", l, daily, T0 + 2 * S)
        .await
        .unwrap();
    assert_eq!(ended, None);
}
