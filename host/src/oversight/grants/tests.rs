//! Grants on a real state store: given, live until their expiry, revoked
//! once, written down as expired, bounded per agent, and read back after a
//! restart.

use super::*;
use crate::store::SqliteState;

const MIN: i64 = 60_000_000;
const T0: i64 = 1_765_000_000_000_000;

fn grant(id: &str, agent: &str, minutes: i64) -> Grant {
    Grant {
        id: id.into(),
        project: "p".into(),
        agent: agent.into(),
        service: "git".into(),
        actions: vec!["push".into()],
        resources: vec!["acme/billing".into()],
        qualifiers: BTreeMap::from([("branch".to_owned(), vec!["main".to_owned()])]),
        by: "alice".into(),
        reason: "hotfix".into(),
        approval: None,
        exact: false,
        created_at: T0,
        expires_at: T0 + minutes * MIN,
        stage: GrantStage::Active,
        revoked_by: None,
        ended_at: None,
    }
}

/// A record that is always written.
async fn ok(_: Grant) -> bool {
    true
}

fn open(dir: &std::path::Path) -> Grants<SqliteState> {
    Grants::new(Arc::new(SqliteState::open(dir).unwrap()), 8 * 3600)
}

#[tokio::test]
async fn a_grant_is_live_for_its_agent_and_service_until_it_expires() {
    let dir = tempfile::tempdir().unwrap();
    let g = open(dir.path());
    g.give(grant("grt_1", "bot", 30), T0, ok)
        .await
        .unwrap()
        .unwrap();
    let live = g.live("p", "bot", "git", T0 + MIN).await.unwrap();
    assert_eq!(live.len(), 1);
    let rule = live[0].rule();
    assert_eq!(rule.id, "grant:grt_1");
    assert_eq!(rule.effect, Effect::Allow);
    assert_eq!(rule.qualifiers[0].name, "branch");
    // Not another agent's, service's or project's; not after its expiry.
    assert!(g.live("p", "other", "git", T0).await.unwrap().is_empty());
    assert!(g.live("p", "bot", "aws", T0).await.unwrap().is_empty());
    assert!(g.live("q", "bot", "git", T0).await.unwrap().is_empty());
    assert!(
        g.live("p", "bot", "git", T0 + 30 * MIN)
            .await
            .unwrap()
            .is_empty()
    );
    // The sweep writes it down once.
    let expired = g.expire_due("p", T0 + 31 * MIN).await.unwrap();
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].stage, GrantStage::Expired);
    assert!(g.expire_due("p", T0 + 32 * MIN).await.unwrap().is_empty());
    assert_eq!(
        g.revoke("p", "grt_1", "alice", T0 + 33 * MIN)
            .await
            .unwrap(),
        Err(GrantRefused::Ended(GrantStage::Expired))
    );
}

#[tokio::test]
async fn a_revoked_grant_is_out_of_force_at_once_and_stays_so_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let g = open(dir.path());
        g.give(grant("grt_1", "bot", 30), T0, ok)
            .await
            .unwrap()
            .unwrap();
        g.give(grant("grt_2", "bot", 30), T0, ok)
            .await
            .unwrap()
            .unwrap();
        let r = g
            .revoke("p", "grt_1", "ops", T0 + MIN)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r.stage, GrantStage::Revoked);
        assert_eq!(r.revoked_by.as_deref(), Some("ops"));
        assert_eq!(
            g.revoke("p", "grt_1", "ops", T0 + MIN).await.unwrap(),
            Err(GrantRefused::Ended(GrantStage::Revoked))
        );
        assert_eq!(
            g.revoke("p", "grt_nope", "ops", T0).await.unwrap(),
            Err(GrantRefused::NotFound)
        );
        let live = g.live("p", "bot", "git", T0 + MIN).await.unwrap();
        assert_eq!(
            live.iter().map(|x| x.id.as_str()).collect::<Vec<_>>(),
            ["grt_2"]
        );
    }
    let g = open(dir.path());
    let live = g.live("p", "bot", "git", T0 + MIN).await.unwrap();
    assert_eq!(
        live.iter().map(|x| x.id.as_str()).collect::<Vec<_>>(),
        ["grt_2"]
    );
    assert_eq!(g.list("p", None, 10).await.unwrap().len(), 2);
}

#[tokio::test]
async fn an_agent_holds_a_bounded_number_of_live_grants() {
    let dir = tempfile::tempdir().unwrap();
    let g = open(dir.path());
    for i in 0..MAX_LIVE_PER_AGENT {
        g.give(grant(&format!("grt_{i:03}"), "bot", 30), T0, ok)
            .await
            .unwrap()
            .unwrap();
    }
    assert_eq!(
        g.give(grant("grt_x", "bot", 30), T0, ok).await.unwrap(),
        Err(GrantRefused::TooMany)
    );
    // Another agent is not held back; expired grants make room.
    g.give(grant("grt_y", "other", 30), T0, ok)
        .await
        .unwrap()
        .unwrap();
    g.give(grant("grt_z", "bot", 60), T0 + 31 * MIN, ok)
        .await
        .unwrap()
        .unwrap();
}

#[test]
fn the_host_narrows_a_grant_to_what_it_says() {
    let attrs = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    // A qualifier is an attribute the request must carry, matching.
    let g = grant("grt_1", "bot", 30);
    assert!(g.admits("push", "acme/billing", &attrs(&[("branch", "main")])));
    assert!(!g.admits("push", "acme/billing", &attrs(&[("branch", "dev")])));
    assert!(!g.admits(
        "push",
        "acme/billing",
        &attrs(&[("ref", "refs/heads/main")])
    ));
    assert!(!g.admits("push", "acme/billing", &[]));
    // An exact grant: its one request, as written.
    let mut e = grant("grt_2", "bot", 30);
    e.exact = true;
    assert!(e.admits("push", "acme/billing", &attrs(&[("branch", "main")])));
    assert!(!e.admits("pull", "acme/billing", &attrs(&[("branch", "main")])));
    assert!(!e.admits(
        "push",
        "acme/billing",
        &attrs(&[("branch", "main"), ("force", "1")])
    ));
    assert!(!e.admits("push", "acme/billing", &[]));
    for (p, t, ok) in [
        ("main", "main", true),
        ("feature/*", "feature/x/y", true),
        ("*", "", true),
        ("a*b*c", "aXbYc", true),
        ("a*b*c", "ac", false),
        ("feature/*", "main", false),
        ("*-prod", "api-prod", true),
    ] {
        assert_eq!(wildcard(p, t), ok, "{p} {t}");
    }
}

#[tokio::test]
async fn a_grant_that_cannot_be_recorded_is_never_in_force() {
    let dir = tempfile::tempdir().unwrap();
    {
        let g = open(dir.path());
        let refused = g
            .give(grant("grt_1", "bot", 30), T0, |_| async { false })
            .await
            .unwrap();
        assert_eq!(refused, Err(GrantRefused::NotRecorded));
        assert!(g.live("p", "bot", "git", T0).await.unwrap().is_empty());
    }
    // Nor after a restart: it is written down as revoked.
    let g = open(dir.path());
    assert!(g.live("p", "bot", "git", T0).await.unwrap().is_empty());
    assert_eq!(
        g.list("p", None, 10).await.unwrap()[0].stage,
        GrantStage::Revoked
    );
}
