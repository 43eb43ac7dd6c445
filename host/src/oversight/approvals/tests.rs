//! Approvals on a real state store: the identical request gets its open
//! approval back, an approval is decided once and used once for exactly its
//! request, deadlines hold across a restart, and racing tasks never both win.

use super::*;
use crate::store::SqliteState;
use std::sync::Arc;

const MIN: i64 = 60_000_000;

fn push(branch: &str) -> Requested {
    Requested {
        service: "git".into(),
        action: "push".into(),
        resource: "acme/billing".into(),
        attributes: BTreeMap::from([("branch".to_owned(), branch.to_owned())]),
    }
}

fn store(dir: &std::path::Path) -> Approvals<SqliteState> {
    Approvals::new(Arc::new(SqliteState::open(dir).unwrap()))
}

fn ask(session: &str, request: Requested) -> Raise {
    Raise {
        project: "p".into(),
        agent: "bot".into(),
        session: session.into(),
        request,
        reason: "requires approval by p.yaml:3".into(),
        channel: Some("slack:#ops".into()),
        timeout_s: 3600,
    }
}

async fn raise(a: &Approvals<SqliteState>, request: Requested, now: i64) -> Opened {
    a.open(ask("s-1", request), now).await.unwrap().unwrap()
}

#[tokio::test]
async fn the_identical_request_gets_its_open_approval_back() {
    let dir = tempfile::tempdir().unwrap();
    let a = store(dir.path());
    let first = raise(&a, push("main"), 0).await;
    assert!(first.created);
    assert_eq!(first.approval.stage, Stage::Pending);
    assert_eq!(first.approval.expires_at, 60 * MIN);
    let again = raise(&a, push("main"), MIN).await;
    assert_eq!(
        (again.created, &again.approval.id),
        (false, &first.approval.id)
    );
    // Another attribute, another session or another agent: another request.
    assert!(raise(&a, push("dev"), MIN).await.created);
    let other = a
        .open(ask("s-2", push("main")), MIN)
        .await
        .unwrap()
        .unwrap();
    assert!(other.created);
    // Projects are apart.
    assert!(a.get("q", &first.approval.id).await.unwrap().is_none());
}

#[tokio::test]
async fn an_approval_is_decided_once_and_never_by_the_identity_that_asked() {
    let dir = tempfile::tempdir().unwrap();
    let a = store(dir.path());
    let id = raise(&a, push("main"), 0).await.approval.id;
    assert_eq!(
        a.decide("p", &id, "bot", true, "me", MIN).await.unwrap(),
        Err(Refused::OwnRequest)
    );
    let done = a
        .decide("p", &id, "alice", true, "looks fine", MIN)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done.stage, Stage::Approved);
    assert_eq!(done.decided_by.as_deref(), Some("alice"));
    // The identical request asked again sees it approved at once (what
    // this process last read of it is dropped when it is decided).
    let again = raise(&a, push("main"), MIN).await;
    assert_eq!(
        (again.approval.stage, again.created),
        (Stage::Approved, false)
    );
    for approve in [true, false] {
        assert_eq!(
            a.decide("p", &id, "bob", approve, "late", 2 * MIN)
                .await
                .unwrap(),
            Err(Refused::Closed(Stage::Approved))
        );
    }
    assert_eq!(
        a.decide("p", "apr_nope", "bob", true, "", MIN)
            .await
            .unwrap(),
        Err(Refused::NotFound)
    );
    assert_eq!(
        a.decide("q", &id, "bob", true, "", MIN).await.unwrap(),
        Err(Refused::NotFound)
    );
}

#[tokio::test]
async fn an_approved_request_is_allowed_once_and_only_that_request() {
    let dir = tempfile::tempdir().unwrap();
    let a = store(dir.path());
    let id = raise(&a, push("main"), 0).await.approval.id;
    // Not before it is approved.
    assert_eq!(
        a.use_once("p", &id, "bot", "s-1", &push("main"), MIN)
            .await
            .unwrap(),
        Err(Refused::NotApproved(Stage::Pending))
    );
    a.decide("p", &id, "alice", true, "ok", MIN)
        .await
        .unwrap()
        .unwrap();
    // Not for another request, another session or another agent.
    for (agent, session, request) in [
        ("bot", "s-1", push("dev")),
        ("bot", "s-2", push("main")),
        ("other", "s-1", push("main")),
    ] {
        assert_eq!(
            a.use_once("p", &id, agent, session, &request, MIN)
                .await
                .unwrap(),
            Err(Refused::OtherRequest)
        );
    }
    let used = a
        .use_once("p", &id, "bot", "s-1", &push("main"), 2 * MIN)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(used.stage, Stage::Used);
    assert_eq!(
        a.use_once("p", &id, "bot", "s-1", &push("main"), 2 * MIN)
            .await
            .unwrap(),
        Err(Refused::NotApproved(Stage::Used))
    );
    // The same request again needs a new approval.
    let next = raise(&a, push("main"), 3 * MIN).await;
    assert!(next.created && next.approval.id != id);
}

#[tokio::test]
async fn a_denied_or_late_approval_allows_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let a = store(dir.path());
    let denied = raise(&a, push("main"), 0).await.approval.id;
    a.decide("p", &denied, "alice", false, "no", MIN)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        a.use_once("p", &denied, "bot", "s-1", &push("main"), MIN)
            .await
            .unwrap(),
        Err(Refused::NotApproved(Stage::Denied))
    );
    // Pending past its deadline: expired, and the request raises a new one.
    let late = raise(&a, push("main"), 10 * MIN).await.approval.id;
    assert_eq!(
        a.decide("p", &late, "alice", true, "too late", 71 * MIN)
            .await
            .unwrap(),
        Err(Refused::Closed(Stage::Expired))
    );
    let replaced = raise(&a, push("main"), 72 * MIN).await;
    assert!(replaced.created);
    assert_eq!(
        replaced.expired.map(|e| (e.id, e.stage)),
        Some((late, Stage::Expired))
    );
}

#[tokio::test]
async fn an_approved_approval_unused_in_time_expires() {
    let dir = tempfile::tempdir().unwrap();
    let a = store(dir.path());
    // Approved at 30 min: it may be used until 90 min.
    let id = raise(&a, push("dev"), 0).await.approval.id;
    a.decide("p", &id, "alice", true, "ok", 30 * MIN)
        .await
        .unwrap()
        .unwrap();
    let early = raise(&a, push("main"), 0).await.approval.id;
    a.decide("p", &early, "alice", true, "ok", 30 * MIN)
        .await
        .unwrap()
        .unwrap();
    assert!(
        a.use_once("p", &early, "bot", "s-1", &push("main"), 89 * MIN)
            .await
            .unwrap()
            .is_ok()
    );
    assert_eq!(
        a.use_once("p", &id, "bot", "s-1", &push("dev"), 91 * MIN)
            .await
            .unwrap(),
        Err(Refused::NotApproved(Stage::Expired))
    );
    // Refused on time; written down (and so recorded) by the sweep.
    assert_eq!(a.expire_due("p", 91 * MIN).await.unwrap().len(), 1);
    assert_eq!(
        a.get("p", &id).await.unwrap().unwrap().0.stage,
        Stage::Expired
    );
}

#[tokio::test]
async fn deadlines_hold_across_a_restart_and_expire_due_writes_them_down() {
    let dir = tempfile::tempdir().unwrap();
    let id = raise(&store(dir.path()), push("main"), 0).await.approval.id;
    let a = store(dir.path());
    assert_eq!(
        a.get("p", &id).await.unwrap().unwrap().0.stage_at(59 * MIN),
        Stage::Pending
    );
    assert!(a.expire_due("p", 59 * MIN).await.unwrap().is_empty());
    let expired = a.expire_due("p", 61 * MIN).await.unwrap();
    assert_eq!(
        expired.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        [id.as_str()]
    );
    assert_eq!(
        a.get("p", &id).await.unwrap().unwrap().0.stage,
        Stage::Expired
    );
    assert!(
        a.cancel("p", &id, "ops", "late", 62 * MIN)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_tasks_never_both_win() {
    let dir = tempfile::tempdir().unwrap();
    let a = Arc::new(store(dir.path()));
    // 16 identical requests at once: one approval.
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let a = a.clone();
        tasks.push(tokio::spawn(
            async move { raise(&a, push("main"), 0).await },
        ));
    }
    let mut ids = std::collections::BTreeSet::new();
    let mut created = 0;
    for t in tasks {
        let o = t.await.unwrap();
        ids.insert(o.approval.id);
        created += usize::from(o.created);
    }
    assert_eq!((ids.len(), created), (1, 1));
    let id = ids.into_iter().next().unwrap();
    a.decide("p", &id, "alice", true, "ok", MIN)
        .await
        .unwrap()
        .unwrap();
    // 16 uses at once: one allow.
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (a, id) = (a.clone(), id.clone());
        tasks.push(tokio::spawn(async move {
            a.use_once("p", &id, "bot", "s-1", &push("main"), 2 * MIN)
                .await
                .unwrap()
        }));
    }
    let mut allowed = 0;
    for t in tasks {
        allowed += usize::from(t.await.unwrap().is_ok());
    }
    assert_eq!(allowed, 1);
}

#[tokio::test]
async fn an_agent_cannot_hold_more_than_its_share_of_open_approvals() {
    let dir = tempfile::tempdir().unwrap();
    let a = store(dir.path());
    let mut ids = Vec::new();
    for i in 0..MAX_OPEN_PER_AGENT {
        ids.push(raise(&a, push(&format!("b{i}")), i).await.approval.id);
    }
    assert_eq!(
        a.open(ask("s-1", push("one-more")), 0).await.unwrap(),
        Err(Refused::TooMany)
    );
    // Closing one (denied, used, expired) makes room again.
    a.decide("p", &ids[0], "alice", false, "no", MIN)
        .await
        .unwrap()
        .unwrap();
    assert!(
        a.open(ask("s-1", push("one-more")), MIN)
            .await
            .unwrap()
            .is_ok()
    );
    // Ids sort by creation.
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(sorted, ids);
}
