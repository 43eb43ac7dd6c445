//! Conformance cases for [`State`]: versions, conditions, transactions,
//! and atomicity under concurrency (many tasks on several handles at once).

use super::Fixture;
use crate::store::{Applied, Conflict, Expect, Key, Op, State};
use std::sync::Arc;

fn key(project: &str, kind: &str, key: &str) -> Key {
    Key::new(project, kind, key)
}

fn put(key: Key, value: &str, expect: Expect) -> Op {
    Op::Put {
        key,
        value: value.into(),
        expect,
    }
}

/// Each write gets a new, larger version; a write expecting another
/// version, or nothing, is refused with what was found.
pub(crate) async fn values_are_versioned(f: &impl Fixture) {
    let s = f.state();
    let k = key("p", "approval", "apr_1");
    assert_eq!(s.get(&k).await.unwrap(), None);
    let v1 = s
        .put(k.clone(), "pending", Expect::Absent)
        .await
        .unwrap()
        .unwrap();
    let got = s.get(&k).await.unwrap().unwrap();
    assert_eq!((got.value.as_str(), got.version), ("pending", v1));
    assert_eq!(
        s.put(k.clone(), "again", Expect::Absent).await.unwrap(),
        Err(Conflict::Version {
            op: 0,
            found: Some(v1)
        })
    );
    let v2 = s
        .put(k.clone(), "approved", Expect::Version(v1))
        .await
        .unwrap()
        .unwrap();
    assert!(v2 > v1);
    assert_eq!(
        s.put(k.clone(), "stale", Expect::Version(v1))
            .await
            .unwrap(),
        Err(Conflict::Version {
            op: 0,
            found: Some(v2)
        })
    );
    let v3 = s
        .put(k.clone(), "forced", Expect::Any)
        .await
        .unwrap()
        .unwrap();
    assert!(v3 > v2);
    assert_eq!(s.get(&k).await.unwrap().unwrap().value, "forced");
    // Another handle sees the same.
    assert_eq!(f.state().get(&k).await.unwrap().unwrap().version, v3);
    let missing = key("p", "approval", "apr_2");
    assert_eq!(
        s.put(missing, "x", Expect::Version(v3)).await.unwrap(),
        Err(Conflict::Version { op: 0, found: None })
    );
}

/// A key deleted and written again never gets an earlier version back, so
/// a writer holding an old version cannot overwrite the new value.
pub(crate) async fn versions_never_repeat(f: &impl Fixture) {
    let s = f.state();
    let k = key("p", "grant", "g");
    let v1 = s
        .put(k.clone(), "a", Expect::Absent)
        .await
        .unwrap()
        .unwrap();
    let deleted = s
        .transact(vec![Op::Delete {
            key: k.clone(),
            expect: Expect::Version(v1),
        }])
        .await
        .unwrap();
    assert_eq!(deleted, Ok(vec![Applied::Deleted { existed: true }]));
    assert_eq!(s.get(&k).await.unwrap(), None);
    let v2 = s
        .put(k.clone(), "b", Expect::Absent)
        .await
        .unwrap()
        .unwrap();
    assert!(v2 > v1);
    assert!(
        s.put(k.clone(), "old writer", Expect::Version(v1))
            .await
            .unwrap()
            .is_err()
    );
    let gone = s
        .transact(vec![Op::Delete {
            key: key("p", "grant", "never"),
            expect: Expect::Any,
        }])
        .await
        .unwrap();
    assert_eq!(gone, Ok(vec![Applied::Deleted { existed: false }]));
}

/// Values and counters of one project, or of one kind, are not another's;
/// listing returns one project's kind, by key, page by page.
pub(crate) async fn projects_and_kinds_are_apart(f: &impl Fixture) {
    let s = f.state();
    for (project, kind, k) in [
        ("p1", "grant", "b"),
        ("p1", "grant", "a"),
        ("p1", "grant", "c"),
    ] {
        s.put(
            key(project, kind, k),
            format!("{project}/{k}"),
            Expect::Absent,
        )
        .await
        .unwrap()
        .unwrap();
    }
    // The same names elsewhere are other values.
    s.put(key("p2", "grant", "a"), "p2/a", Expect::Absent)
        .await
        .unwrap()
        .unwrap();
    s.put(key("p1", "session", "a"), "session", Expect::Absent)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        s.get(&key("p1", "grant", "a"))
            .await
            .unwrap()
            .unwrap()
            .value,
        "p1/a"
    );
    assert_eq!(
        s.get(&key("p2", "grant", "a"))
            .await
            .unwrap()
            .unwrap()
            .value,
        "p2/a"
    );
    let names = |page: Vec<(String, crate::store::Versioned)>| {
        page.into_iter()
            .map(|(k, v)| (k, v.value))
            .collect::<Vec<_>>()
    };
    let all = names(s.list("p1", "grant", None, 10).await.unwrap());
    let want = |ks: &[&str]| {
        ks.iter()
            .map(|k| (k.to_string(), format!("p1/{k}")))
            .collect::<Vec<_>>()
    };
    assert_eq!(all, want(&["a", "b", "c"]));
    assert_eq!(
        names(s.list("p1", "grant", None, 2).await.unwrap()),
        want(&["a", "b"])
    );
    assert_eq!(
        names(s.list("p1", "grant", Some("b"), 2).await.unwrap()),
        want(&["c"])
    );
    assert!(s.list("p3", "grant", None, 10).await.unwrap().is_empty());
    let budget = |p: &str| key(p, "budget", "tokens");
    assert_eq!(s.reserve(budget("p1"), 7, 10).await.unwrap(), Ok(7));
    assert_eq!(s.reserve(budget("p2"), 9, 10).await.unwrap(), Ok(9));
    assert_eq!(s.total(&budget("p1")).await.unwrap(), 7);
    assert_eq!(s.total(&budget("p3")).await.unwrap(), 0);
}

/// A transaction whose later condition fails writes nothing of its earlier
/// ops; one whose conditions all hold applies every op, each seeing the
/// ones before it.
pub(crate) async fn transactions_are_all_or_nothing(f: &impl Fixture) {
    let s = f.state();
    let (a, b, c) = (
        key("p", "x", "a"),
        key("p", "x", "b"),
        key("p", "budget", "c"),
    );
    let vb = s
        .put(b.clone(), "b0", Expect::Absent)
        .await
        .unwrap()
        .unwrap();
    let refused = s
        .transact(vec![
            put(a.clone(), "a1", Expect::Absent),
            Op::Add {
                key: c.clone(),
                amount: 3,
                limit: Some(10),
            },
            put(b.clone(), "b1", Expect::Version(vb + 1000)),
        ])
        .await
        .unwrap();
    assert_eq!(
        refused,
        Err(Conflict::Version {
            op: 2,
            found: Some(vb)
        })
    );
    assert_eq!(s.get(&a).await.unwrap(), None);
    assert_eq!(s.total(&c).await.unwrap(), 0);
    assert_eq!(s.get(&b).await.unwrap().unwrap().value, "b0");
    let over = s
        .transact(vec![
            put(a.clone(), "a1", Expect::Absent),
            Op::Add {
                key: c.clone(),
                amount: 11,
                limit: Some(10),
            },
        ])
        .await
        .unwrap();
    assert_eq!(over, Err(Conflict::Limit { op: 1, total: 0 }));
    assert_eq!(s.get(&a).await.unwrap(), None);
    // Each op sees the ones before it: create, then update what was made.
    let done = s
        .transact(vec![
            put(a.clone(), "a1", Expect::Absent),
            put(a.clone(), "a2", Expect::Any),
            Op::Add {
                key: c.clone(),
                amount: 4,
                limit: Some(10),
            },
            Op::Add {
                key: c.clone(),
                amount: 6,
                limit: Some(10),
            },
        ])
        .await
        .unwrap()
        .unwrap();
    let [
        Applied::Put { version: v1 },
        Applied::Put { version: v2 },
        Applied::Added { total: 4 },
        Applied::Added { total: 10 },
    ] = done[..]
    else {
        panic!("{done:?}");
    };
    assert!(v2 > v1);
    assert_eq!(s.get(&a).await.unwrap().unwrap().version, v2);
    assert_eq!(s.transact(Vec::new()).await.unwrap(), Ok(Vec::new()));
}

/// A counter stays within `0..=limit`: a reservation over the limit is
/// refused whole, a release is never refused for the limit, and nothing
/// goes below zero or overflows.
pub(crate) async fn counters_stay_within_limits(f: &impl Fixture) {
    let s = f.state();
    let k = key("p", "budget", "usd_cents");
    assert_eq!(s.reserve(k.clone(), 60, 100).await.unwrap(), Ok(60));
    assert_eq!(s.reserve(k.clone(), 40, 100).await.unwrap(), Ok(100));
    assert_eq!(
        s.reserve(k.clone(), 1, 100).await.unwrap(),
        Err(Conflict::Limit { op: 0, total: 100 })
    );
    // The limit was lowered meanwhile: giving back still works.
    assert_eq!(s.reserve(k.clone(), -30, 50).await.unwrap(), Ok(70));
    assert_eq!(
        s.reserve(k.clone(), -71, 100).await.unwrap(),
        Err(Conflict::Limit { op: 0, total: 70 })
    );
    let unbounded = Op::Add {
        key: k.clone(),
        amount: i64::MAX,
        limit: None,
    };
    assert_eq!(
        s.transact(vec![unbounded]).await.unwrap(),
        Err(Conflict::Limit { op: 0, total: 70 })
    );
    assert_eq!(s.total(&k).await.unwrap(), 70);
}

/// Reservations made at once, by many tasks through several handles, never
/// take a counter past its limit, and each granted one writes its record
/// in the same transaction: exactly `LIMIT` are granted and recorded.
pub(crate) async fn concurrent_reservations_never_overshoot(f: &impl Fixture) {
    const TASKS: usize = 48;
    const LIMIT: i64 = 20;
    let handles: Vec<_> = (0..3).map(|_| Arc::new(f.state())).collect();
    let budget = key("p", "budget", "session-tokens");
    let mut tasks = Vec::new();
    for i in 0..TASKS {
        let s = handles[i % handles.len()].clone();
        let budget = budget.clone();
        tasks.push(tokio::spawn(async move {
            let ops = vec![
                Op::Add {
                    key: budget,
                    amount: 1,
                    limit: Some(LIMIT),
                },
                put(
                    key("p", "reservation", &format!("r{i:02}")),
                    "1",
                    Expect::Absent,
                ),
            ];
            s.transact(ops).await.unwrap().is_ok()
        }));
    }
    let mut granted = 0;
    for t in tasks {
        granted += i64::from(t.await.unwrap());
    }
    assert_eq!(granted, LIMIT);
    assert_eq!(handles[0].total(&budget).await.unwrap(), LIMIT);
    let recorded = handles[1]
        .list("p", "reservation", None, 1000)
        .await
        .unwrap();
    assert_eq!(recorded.len() as i64, LIMIT);
}

/// An approval used at once by many tasks through several handles, each
/// expecting the version they read, is used exactly once.
pub(crate) async fn an_approval_is_used_once(f: &impl Fixture) {
    const TASKS: usize = 32;
    let handles: Vec<_> = (0..3).map(|_| Arc::new(f.state())).collect();
    let approval = key("p", "approval", "apr_once");
    let read = handles[0]
        .put(approval.clone(), "approved", Expect::Absent)
        .await
        .unwrap()
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..TASKS {
        let s = handles[i % handles.len()].clone();
        let approval = approval.clone();
        tasks.push(tokio::spawn(async move {
            let used = format!("used by {i}");
            s.put(approval, used, Expect::Version(read))
                .await
                .unwrap()
                .is_ok()
        }));
    }
    let mut used = 0;
    for t in tasks {
        used += usize::from(t.await.unwrap());
    }
    assert_eq!(used, 1);
    let now = handles[2].get(&approval).await.unwrap().unwrap();
    assert!(now.value.starts_with("used by ") && now.version > read);
}
