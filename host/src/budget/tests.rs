//! The ledger on a real state store: reservations never overshoot a limit
//! however many decisions reserve at once, a usage report counts once,
//! each threshold is crossed by exactly one report, and reservations are
//! settled, released, or released at their deadline.

use super::*;
use crate::policy::model::ProjectBudget;
use crate::store::SqliteState;
use crate::units::{Money, Percent};

const NOW: i64 = 1_796_644_800_000_000;

fn plan(limit_tokens: u64, thresholds: &[u8]) -> BudgetPlan {
    BudgetPlan {
        project: Some(ProjectBudget {
            max_tokens_per_month: Some(limit_tokens),
            monthly_limit: Some(Money(50_000)),
            alert_thresholds: thresholds.iter().map(|t| Percent(*t)).collect(),
            ..ProjectBudget::default()
        }),
        ..BudgetPlan::default()
    }
}

fn cal() -> Calendar {
    Calendar::at(NOW, &jiff::tz::TimeZone::UTC).unwrap()
}

fn ask<'a>(decision: &'a str, meters: &'a [Meter], tokens: i64) -> Ask<'a> {
    Ask {
        project: "p",
        agent: "a",
        decision,
        meters,
        tokens,
        cost: 0,
        expires: NOW + 1,
        now: NOW,
    }
}

fn ledger(dir: &std::path::Path) -> Arc<Ledger<SqliteState>> {
    Arc::new(Ledger::new(Arc::new(SqliteState::open(dir).unwrap()), 1000))
}

fn project_tokens(m: &[Meter]) -> Vec<Meter> {
    m.iter()
        .filter(|m| m.unit == Unit::Tokens && m.scope == Scope::Project && m.span == Span::Month)
        .cloned()
        .collect()
}

#[test]
fn meters_name_their_periods_and_limits() {
    let budget = Budget {
        max_tokens_per_session: Some(100_000),
        alert_at: Some(Percent(80)),
        ..Budget::default()
    };
    let m = meters(
        &plan(1000, &[50]),
        Some(&budget),
        "p",
        "a",
        "s",
        &cal(),
        Which::Limited,
    );
    let keys: Vec<_> = m.iter().map(|m| (m.key.as_str(), m.limit)).collect();
    assert_eq!(
        keys,
        [
            ("tokens/session/a\u{1f}s", Some(100_000)),
            ("tokens/project/month/2026-12", Some(1000)),
            ("cost/project/month/2026-12", Some(500_000_000)),
        ]
    );
    assert_eq!(m[0].thresholds, [80, 100]);
    assert_eq!(m[1].thresholds, [50, 100]);
    let all = meters(&plan(1000, &[]), None, "p", "a", "s", &cal(), Which::All);
    assert_eq!(all.len(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_reservations_never_overshoot_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let l = ledger(dir.path());
    let m = project_tokens(&meters(
        &plan(1000, &[]),
        None,
        "p",
        "a",
        "s",
        &cal(),
        Which::Limited,
    ));
    let mut tasks = Vec::new();
    for i in 0..64 {
        let (l, m) = (l.clone(), m.clone());
        tasks.push(tokio::spawn(async move {
            l.reserve(ask(&format!("d{i}"), &m, 100))
                .await
                .unwrap()
                .is_ok_and(|reserved| reserved)
        }));
    }
    let mut fits = 0;
    for t in tasks {
        fits += usize::from(t.await.unwrap());
    }
    assert_eq!(fits, 10);
    assert_eq!(l.figures("p", &m, NOW).await.unwrap()[0].reserved, 1000);
    // Released at their deadline.
    assert_eq!(l.sweep(NOW + 1, i64::MAX), 10);
    assert_eq!(l.figures("p", &m, NOW).await.unwrap()[0].reserved, 0);
}

#[tokio::test]
async fn a_report_counts_once_and_settles_its_reservation() {
    let dir = tempfile::tempdir().unwrap();
    let l = ledger(dir.path());
    let m = project_tokens(&meters(
        &plan(1000, &[]),
        None,
        "p",
        "a",
        "s",
        &cal(),
        Which::Limited,
    ));
    l.reserve(ask("d1", &m, 300)).await.unwrap().unwrap();
    // Another agent cannot settle it.
    let c = l
        .charge("p", "b", "b/u0", "{}".into(), &m, 10, 0, Some("d1"), NOW)
        .await
        .unwrap();
    assert!(matches!(c, Charged::Counted { settled: false, .. }));
    let c = l
        .charge(
            "p",
            "a",
            "a/u1",
            "{\"n\":1}".into(),
            &m,
            250,
            0,
            Some("d1"),
            NOW,
        )
        .await
        .unwrap();
    assert!(matches!(c, Charged::Counted { settled: true, .. }));
    assert_eq!(
        l.figures("p", &m, NOW).await.unwrap()[0],
        Figures {
            spent: 260,
            reserved: 0
        }
    );
    let again = l
        .charge("p", "a", "a/u1", "{\"n\":2}".into(), &m, 250, 0, None, NOW)
        .await
        .unwrap();
    assert_eq!(again, Charged::Duplicate("{\"n\":1}".into()));
    assert_eq!(l.figures("p", &m, NOW).await.unwrap()[0].spent, 260);
    // A new ledger on the same store reads the spend back.
    drop(l);
    let l = ledger(dir.path());
    assert_eq!(l.figures("p", &m, NOW).await.unwrap()[0].spent, 260);
    // A spent-out budget denies even a call with no estimate.
    l.charge("p", "a", "a/u2", "{}".into(), &m, 740, 0, None, NOW)
        .await
        .unwrap();
    let e = l.reserve(ask("d2", &m, 0)).await.unwrap().unwrap_err();
    assert!(e.exhausted);
    assert_eq!(e.figures.spent, 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_threshold_is_crossed_by_exactly_one_report() {
    let dir = tempfile::tempdir().unwrap();
    let l = ledger(dir.path());
    let m = project_tokens(&meters(
        &plan(1000, &[50, 75, 90]),
        None,
        "p",
        "a",
        "s",
        &cal(),
        Which::Limited,
    ));
    let mut tasks = Vec::new();
    for i in 0..64 {
        let (l, m) = (l.clone(), m.clone());
        tasks.push(tokio::spawn(async move {
            match l
                .charge(
                    "p",
                    "a",
                    &format!("a/u{i}"),
                    "{}".into(),
                    &m,
                    17,
                    0,
                    None,
                    NOW,
                )
                .await
                .unwrap()
            {
                Charged::Counted { crossings, .. } => {
                    // As the server does: each threshold reached asks
                    // whether it alerts now.
                    let mut alerted = Vec::new();
                    for c in crossings {
                        if l.first_alert("p", &c.meter, c.percent).await.unwrap() {
                            alerted.push(c.percent);
                        }
                    }
                    alerted
                }
                Charged::Duplicate(_) => panic!("not a duplicate"),
            }
        }));
    }
    let mut crossed = Vec::new();
    for t in tasks {
        crossed.extend(t.await.unwrap());
    }
    crossed.sort_unstable();
    // 64 × 17 = 1088: every threshold, 100% too, exactly once.
    assert_eq!(crossed, [50, 75, 90, 100]);
    assert!(!l.first_alert("p", &m[0], 50).await.unwrap());
    // Forgotten (its alert could not be raised): the next report raises it.
    l.forget_alert("p", &m[0], 50).await.unwrap();
    let Charged::Counted { crossings, .. } = l
        .charge("p", "a", "a/u-last", "{}".into(), &m, 1, 0, None, NOW)
        .await
        .unwrap()
    else {
        panic!("counted")
    };
    let percents: Vec<u8> = crossings.iter().map(|c| c.percent).collect();
    assert_eq!(percents, [50]);
    assert!(l.first_alert("p", &m[0], 50).await.unwrap());
    // A new limit is a new line: it alerts again.
    let mut raised = m[0].clone();
    raised.limit = Some(2000);
    assert!(l.first_alert("p", &raised, 50).await.unwrap());
}

#[test]
fn the_default_burst_is_a_whole_minute() {
    let limit = |per_minute: u32, burst: Option<u32>| crate::policy::model::RateLimits {
        max_requests_per_minute: per_minute,
        burst,
        ..Default::default()
    };
    assert_eq!(burst_of(&limit(30, None)), 30);
    assert_eq!(burst_of(&limit(30, Some(3))), 3);
    assert_eq!(burst_of(&limit(30, Some(50))), 30);
}
