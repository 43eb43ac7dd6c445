//! Each kind of alert fires on what it names, once per episode, on a real
//! state store; first accesses are remembered across a restart.

use super::*;
use crate::notify::NotifySettings;
use crate::store::SqliteState;

const S: i64 = 1_000_000;
/// Monday 2026-12-07 12:00 UTC.
const MON_NOON: i64 = 1_796_644_800 * S;

fn rule(index: usize, kind: AlertKind, condition: Condition, cooldown_s: u64) -> AlertRule {
    AlertRule {
        index,
        kind,
        condition,
        channel: None,
        cooldown_s,
    }
}

fn event(outcome: Outcome, resource: &str, at: i64) -> Event {
    Event {
        project: "p".into(),
        agent: "bot".into(),
        session: "s-1".into(),
        service: "git".into(),
        action: "push".into(),
        resource: resource.into(),
        outcome,
        at,
    }
}

fn alerts(dir: &std::path::Path) -> Alerts<SqliteState> {
    Alerts::new(Arc::new(SqliteState::open(dir).unwrap()))
}

async fn fires(
    a: &Alerts<SqliteState>,
    rules: &[AlertRule],
    w: &mut Watch,
    e: Event,
) -> Vec<AlertKind> {
    a.evaluate(rules, w, &e)
        .await
        .unwrap()
        .into_iter()
        .map(|(r, _, _)| r.kind)
        .collect()
}

#[tokio::test]
async fn denials_over_the_threshold_fire_once_per_cooldown() {
    let dir = tempfile::tempdir().unwrap();
    let a = alerts(dir.path());
    let rules = [rule(
        0,
        AlertKind::Denied,
        Condition::Denied {
            threshold: 3,
            window_s: 60,
        },
        600,
    )];
    let mut w = Watch::new(MON_NOON);
    let mut fired = Vec::new();
    for i in 0..6 {
        fired.push(
            fires(
                &a,
                &rules,
                &mut w,
                event(Outcome::Deny, "r", MON_NOON + i * S),
            )
            .await
            .len(),
        );
    }
    assert_eq!(fired, [0, 0, 1, 0, 0, 0]);
    // Allowed requests never fire it; denials spread wider than the window neither.
    let mut w = Watch::new(MON_NOON);
    for i in 0..6 {
        let o = if i % 2 == 0 {
            Outcome::Allow
        } else {
            Outcome::Deny
        };
        assert!(
            fires(&a, &rules, &mut w, event(o, "r", MON_NOON + i * 40 * S))
                .await
                .is_empty()
        );
    }
    // After the cool-down, a new episode fires again.
    let mut w = Watch::new(MON_NOON);
    let mut total = 0;
    for i in 0..3 {
        total += fires(
            &a,
            &rules,
            &mut w,
            event(Outcome::Deny, "r", MON_NOON + i * S),
        )
        .await
        .len();
    }
    for i in 0..3 {
        total += fires(
            &a,
            &rules,
            &mut w,
            event(Outcome::Deny, "r", MON_NOON + (700 + i) * S),
        )
        .await
        .len();
    }
    assert_eq!(total, 2);
}

#[tokio::test]
async fn ten_times_the_baseline_fires_only_with_enough_history() {
    let dir = tempfile::tempdir().unwrap();
    let a = alerts(dir.path());
    let rules = [rule(
        0,
        AlertKind::Volume,
        Condition::Volume {
            factor: 10,
            min_history_s: 600,
            min_requests: 20,
        },
        900,
    )];
    // A burst with no history: nothing.
    let mut w = Watch::new(MON_NOON);
    for i in 0..50 {
        assert!(
            fires(
                &a,
                &rules,
                &mut w,
                event(Outcome::Allow, "r", MON_NOON + i * 1000)
            )
            .await
            .is_empty()
        );
    }
    // Two a minute for 15 minutes, then 30 in one minute: once.
    let mut w = Watch::new(MON_NOON);
    let mut t = MON_NOON;
    for _ in 0..30 {
        assert!(
            fires(&a, &rules, &mut w, event(Outcome::Allow, "r", t))
                .await
                .is_empty()
        );
        t += 30 * S;
    }
    let burst_at = (t / MINUTE + 1) * MINUTE;
    let mut fired = 0;
    for i in 0..30 {
        fired += fires(
            &a,
            &rules,
            &mut w,
            event(Outcome::Allow, "r", burst_at + i * S),
        )
        .await
        .len();
    }
    assert_eq!(fired, 1);
}

#[tokio::test]
async fn activity_outside_working_hours_in_the_time_zone_fires() {
    let dir = tempfile::tempdir().unwrap();
    let a = alerts(dir.path());
    let berlin = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
    let rules = [rule(
        0,
        AlertKind::OffHours,
        Condition::OffHours {
            start: 8 * 60,
            end: 18 * 60,
            days: [true, true, true, true, true, false, false],
            time_zone: berlin,
        },
        1,
    )];
    let mut w = Watch::new(MON_NOON);
    // Monday 13:00 in Berlin: working. 18:30 in Berlin (17:30 UTC): off.
    assert!(
        fires(&a, &rules, &mut w, event(Outcome::Allow, "r", MON_NOON))
            .await
            .is_empty()
    );
    let evening = MON_NOON + (5 * 3600 + 1800) * S;
    assert_eq!(
        fires(&a, &rules, &mut w, event(Outcome::Allow, "r", evening)).await,
        [AlertKind::OffHours]
    );
    // Saturday noon: off.
    let saturday = MON_NOON + 5 * 86_400 * S;
    assert_eq!(
        fires(&a, &rules, &mut w, event(Outcome::Deny, "r", saturday)).await,
        [AlertKind::OffHours]
    );
}

#[tokio::test]
async fn a_first_access_after_learning_fires_once_and_is_remembered() {
    let dir = tempfile::tempdir().unwrap();
    let rules = [rule(
        0,
        AlertKind::FirstAccess,
        Condition::FirstAccess { learn_for_s: 60 },
        1,
    )];
    {
        let a = alerts(dir.path());
        let mut w = Watch::new(MON_NOON);
        // Learnt during the first minute.
        assert!(
            fires(
                &a,
                &rules,
                &mut w,
                event(Outcome::Allow, "repos/a", MON_NOON)
            )
            .await
            .is_empty()
        );
        let later = MON_NOON + 120 * S;
        assert!(
            fires(&a, &rules, &mut w, event(Outcome::Allow, "repos/a", later))
                .await
                .is_empty()
        );
        assert_eq!(
            fires(
                &a,
                &rules,
                &mut w,
                event(Outcome::Allow, "repos/b", later + 5 * S)
            )
            .await,
            [AlertKind::FirstAccess]
        );
        // Denied attempts are not accesses.
        assert!(
            fires(
                &a,
                &rules,
                &mut w,
                event(Outcome::Deny, "repos/c", later + 9 * S)
            )
            .await
            .is_empty()
        );
    }
    // After a restart, nothing it accessed is new again.
    let a = alerts(dir.path());
    let mut w = Watch::new(MON_NOON + 600 * S);
    for r in ["repos/a", "repos/b"] {
        assert!(
            fires(
                &a,
                &rules,
                &mut w,
                event(Outcome::Allow, r, MON_NOON + 600 * S)
            )
            .await
            .is_empty()
        );
    }
    assert_eq!(
        fires(
            &a,
            &rules,
            &mut w,
            event(Outcome::Allow, "repos/c", MON_NOON + 601 * S)
        )
        .await,
        [AlertKind::FirstAccess]
    );
}

#[tokio::test]
async fn raised_alerts_are_stored_and_listed() {
    let dir = tempfile::tempdir().unwrap();
    let state = Arc::new(SqliteState::open(dir.path()).unwrap());
    let a = Alerts::new(state.clone());
    let outbox = Outbox::new(state, NotifySettings::default());
    let r = rule(
        0,
        AlertKind::Denied,
        Condition::Denied {
            threshold: 1,
            window_s: 60,
        },
        60,
    );
    let e = event(Outcome::Deny, "r", MON_NOON);
    let alert = a
        .raise(&outbox, &r, &e, "bot was denied".into(), BTreeMap::new())
        .await
        .unwrap();
    assert!(alert.id.starts_with("alr_"));
    assert_eq!(a.list("p", None, 10).await.unwrap(), [alert]);
    assert!(a.list("q", None, 10).await.unwrap().is_empty());
}
