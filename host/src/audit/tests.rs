//! Tests of the audit trail against real SQLite files.

use super::entry::seal;
use super::*;
use crate::Error;
use crate::decision::Outcome;
use crate::record::parse_canonical_ts;
use crate::store::{AuditStore, Checkpoint, Cursor, EXPORTED_KEY, Filter, SqliteStore};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// The trail of the records these tests write (project `acme`).
const ACME: Option<&str> = Some("acme");

fn decision(i: u64) -> DecisionEntry {
    DecisionEntry {
        decision_id: format!("dec_{i:06}"),
        agent: format!("agent-{}", i % 3),
        session: format!("s-{}", i % 5),
        project: "acme".into(),
        service: "git".into(),
        action: "push".into(),
        resource: format!("acme/repo-{i}"),
        attributes: BTreeMap::from([("branch".to_owned(), "main".to_owned())]),
        decision: if i.is_multiple_of(2) {
            Outcome::Allow
        } else {
            Outcome::Deny
        },
        reason: format!("reason {i}"),
        plugins: vec![PluginRecord {
            plugin: "git".into(),
            verdict: if i.is_multiple_of(2) { "allow" } else { "deny" }.into(),
            error: None,
            fuel: 1000 + i,
            micros: 5,
        }],
        policy_version: "v1".into(),
        latency_us: 100 + i,
    }
}

fn admin(i: u64) -> AdminEntry {
    AdminEntry {
        event: "policy_reload".into(),
        project: Some("acme".into()),
        policy_version: Some(format!("v{i}")),
        reason: Some(format!("reload {i}")),
        details: BTreeMap::from([
            (
                "old_version".to_owned(),
                serde_json::json!(format!("v{}", i - 1)),
            ),
            ("new_version".to_owned(), serde_json::json!(format!("v{i}"))),
        ]),
        ..AdminEntry::default()
    }
}

/// Writes `n` records through the writer (every tenth an admin event).
fn write_records(dir: &Path, n: u64) {
    let log = AuditLog::open(dir).unwrap();
    for i in 1..=n {
        if i % 10 == 0 {
            log.append_blocking(admin(i)).unwrap();
        } else {
            log.append_blocking(decision(i)).unwrap();
        }
    }
    log.close().unwrap();
}

fn sql(dir: &Path, sql: &str) {
    let c = rusqlite::Connection::open(dir.join(SqliteStore::FILE)).unwrap();
    c.execute_batch(sql).unwrap();
}

fn body(dir: &Path, seq: u64) -> String {
    let c = rusqlite::Connection::open(dir.join(SqliteStore::FILE)).unwrap();
    c.query_row(
        "SELECT body FROM records WHERE seq = ?1",
        [seq as i64],
        |r| r.get(0),
    )
    .unwrap()
}

fn finding(dir: &Path) -> Broken {
    verify_dir(dir).unwrap().unwrap_err()
}

fn tampered(tamper: &str) -> (tempfile::TempDir, Broken) {
    let dir = tempfile::tempdir().unwrap();
    write_records(dir.path(), 50);
    sql(dir.path(), tamper);
    let f = finding(dir.path());
    (dir, f)
}

#[test]
fn an_untampered_log_verifies() {
    let dir = tempfile::tempdir().unwrap();
    write_records(dir.path(), 50);
    let report = verify_dir(dir.path()).unwrap().unwrap();
    assert_eq!(report.records, 50);
    assert_eq!(report.first_seq, Some(1));
    assert_eq!(report.last_seq, 50);
    assert_eq!(report.head_file.as_ref().map(|h| h.seq), Some(50));
    assert_eq!(report.head_file.map(|h| h.hash), Some(report.last_hash));
}

#[test]
fn records_have_the_documented_form() {
    let dir = tempfile::tempdir().unwrap();
    write_records(dir.path(), 10);
    let first = body(dir.path(), 1);
    let (claimed, computed) = entry::rehash(&first).unwrap();
    assert_eq!(claimed, computed);
    let r: Record = serde_json::from_str(&first).unwrap();
    assert_eq!(r.prev_hash, GENESIS_HASH);
    assert!(first.starts_with("{\"seq\":1,\"ts\":\"",));
    assert!(
        first.contains(
            "\"kind\":\"decision\",\"decision_id\":\"dec_000001\",\"agent\":\"agent-1\",\
         \"session\":\"s-1\",\"project\":\"acme\",\"service\":\"git\",\"action\":\"push\",\
         \"resource\":\"acme/repo-1\",\"attributes\":{\"branch\":\"main\"},\"decision\":\"deny\",\
         \"reason\":\"reason 1\",\"plugins\":[{\"plugin\":\"git\",\"verdict\":\"deny\",\
         \"fuel\":1001,\"micros\":5}],\"policy_version\":\"v1\",\"latency_us\":101,\
         \"prev_hash\":\"0000"
        ),
        "{first}"
    );
    assert_eq!(r.ts.len(), "2026-11-23T14:03:07.123456Z".len());
    assert!(parse_canonical_ts(&r.ts).is_some());

    // The outside verifier's recipe: drop the 75-byte hash member, hash.
    let canonical = format!("{}}}", &first[..first.len() - 75]);
    use sha2::Digest;
    assert_eq!(
        hex::encode(sha2::Sha256::digest(canonical.as_bytes())),
        r.hash
    );

    // Re-encoding a record gives its body back: the writer's encoding and
    // `Record` agree on members, order and omissions.
    assert_eq!(serde_json::to_string(&r).unwrap(), first);
    assert_eq!(seal_record(&r).unwrap().body(), first);
    let admin_body = body(dir.path(), 10);
    let admin = serde_json::from_str::<Record>(&admin_body).unwrap();
    assert_eq!(serde_json::to_string(&admin).unwrap(), admin_body);
    assert_eq!(admin.kind, Kind::Admin);
    assert_eq!(admin.event.as_deref(), Some("policy_reload"));
    assert!(admin.session.is_none() && admin.decision.is_none());
    assert!(body(dir.path(), 10).contains(
        "\"event\":\"policy_reload\",\"details\":{\"new_version\":\"v10\",\"old_version\":\"v9\"}"
    ));
    let nine: Record = serde_json::from_str(&body(dir.path(), 9)).unwrap();
    assert_eq!(admin.prev_hash, nine.hash);
}

#[test]
fn an_edited_body_is_found() {
    let (_d, f) = tampered(
        "UPDATE records SET body = replace(body, '\"reason 21\"', '\"reason 22\"') WHERE seq = 21",
    );
    assert!(matches!(f, Broken::Edited { seq: 21, .. }), "{f:?}");
}

#[test]
fn an_edited_column_is_found() {
    let (_d, f) = tampered("UPDATE records SET agent = 'someone-else' WHERE seq = 30");
    match f {
        Broken::Edited { seq: 30, what } => assert!(what.contains("agent"), "{what}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_consistently_rewritten_record_is_found_by_the_next_one() {
    let dir = tempfile::tempdir().unwrap();
    write_records(dir.path(), 50);
    let mut r: Record = serde_json::from_str(&body(dir.path(), 21)).unwrap();
    r.decision = Some(Outcome::Allow);
    let s = seal_record(&r).unwrap();
    let c = rusqlite::Connection::open(dir.path().join(SqliteStore::FILE)).unwrap();
    c.execute(
        "UPDATE records SET body = ?1, hash = ?2, decision = 'allow' WHERE seq = 21",
        [s.body(), s.hash()],
    )
    .unwrap();
    match finding(dir.path()) {
        Broken::Edited { seq: 21, what } => assert!(what.contains("rewritten"), "{what}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_deleted_record_is_found() {
    let (_d, f) = tampered("DELETE FROM records WHERE seq = 25");
    assert_eq!(
        f,
        Broken::Deleted {
            after_seq: 24,
            missing: 1
        }
    );
    let (_d, f) = tampered("DELETE FROM records WHERE seq <= 3");
    assert_eq!(
        f,
        Broken::Deleted {
            after_seq: 0,
            missing: 3
        }
    );
}

#[test]
fn reordered_records_are_found() {
    let (_d, f) = tampered(
        "UPDATE records SET seq = -10 WHERE seq = 10;
         UPDATE records SET seq = 10 WHERE seq = 20;
         UPDATE records SET seq = 20 WHERE seq = -10;",
    );
    assert_eq!(f, Broken::Reordered { seq: 10 });
    // Bodies swapped, columns left in place.
    let (_d, f) = tampered(
        "UPDATE records SET body = (SELECT body FROM records WHERE seq = 13) WHERE seq = 12;",
    );
    assert_eq!(f, Broken::Reordered { seq: 12 });
}

#[test]
fn truncation_is_found_and_not_written_over() {
    let (dir, f) = tampered("DELETE FROM records WHERE seq > 45");
    assert_eq!(
        f,
        Broken::Truncated {
            last_seq: 45,
            head_seq: 50
        }
    );
    match AuditLog::open(dir.path()) {
        Err(Error::AuditBroken(Broken::Truncated {
            last_seq: 45,
            head_seq: 50,
        })) => {}
        other => panic!("{other:?}"),
    }
    // The evidence is still there.
    assert_eq!(HeadFile::read(dir.path()).unwrap().map(|h| h.seq), Some(50));
}

#[test]
fn a_rebuilt_chain_differs_from_the_head_file() {
    let dir = tempfile::tempdir().unwrap();
    write_records(dir.path(), 5);
    // Rebuild the whole chain consistently with one record changed.
    let c = rusqlite::Connection::open(dir.path().join(SqliteStore::FILE)).unwrap();
    let mut prev = GENESIS_HASH.to_owned();
    for seq in 1..=5 {
        let mut r: Record = serde_json::from_str(&body(dir.path(), seq)).unwrap();
        if seq == 2 {
            r.reason = Some("nothing to see".into());
        }
        r.prev_hash = prev;
        let s = seal_record(&r).unwrap();
        prev = s.hash().to_owned();
        c.execute(
            "UPDATE records SET body = ?1, hash = ?2 WHERE seq = ?3",
            rusqlite::params![s.body(), s.hash(), seq as i64],
        )
        .unwrap();
    }
    assert_eq!(finding(dir.path()), Broken::HeadMismatch { seq: 5 });
    assert!(matches!(
        AuditLog::open(dir.path()),
        Err(Error::AuditBroken(Broken::HeadMismatch { seq: 5 }))
    ));
}

#[test]
fn a_missing_head_file_is_a_finding() {
    let dir = tempfile::tempdir().unwrap();
    write_records(dir.path(), 3);
    std::fs::remove_file(dir.path().join(HeadFile::FILE)).unwrap();
    assert_eq!(finding(dir.path()), Broken::HeadMissing);
}

/// Rewrites the schema of `records` without `NOT NULL` on `body`, as an
/// attacker with write access to the file can.
fn drop_not_null_on_body(dir: &Path) {
    let c = rusqlite::Connection::open(dir.join(SqliteStore::FILE)).unwrap();
    c.execute_batch(
        "PRAGMA writable_schema = ON; \
         UPDATE sqlite_master SET sql = replace(sql, 'body TEXT NOT NULL', 'body TEXT') \
         WHERE type = 'table' AND name = 'records'; \
         PRAGMA writable_schema = OFF;",
    )
    .unwrap();
    drop(c);
    let c = rusqlite::Connection::open(dir.join(SqliteStore::FILE)).unwrap();
    let sql: String = c
        .query_row(
            "SELECT sql FROM sqlite_master WHERE name = 'records'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(sql.contains("body TEXT,"), "{sql}");
}

#[test]
fn garbage_is_a_finding_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    write_records(dir.path(), 20);
    // NOT NULL is a schema rule an attacker can drop: drop it, so that every
    // statement below applies (none may be skipped).
    drop_not_null_on_body(dir.path());
    for garbage in ["12345", "x'ff00fe'", "''", "'{\"seq\":5}'", "NULL"] {
        let c = rusqlite::Connection::open(dir.path().join(SqliteStore::FILE)).unwrap();
        let set = format!("UPDATE records SET body = {garbage} WHERE seq = 5");
        let changed = c
            .execute(&set, [])
            .unwrap_or_else(|e| panic!("{garbage}: the tampering did not apply: {e}"));
        assert_eq!(changed, 1, "{garbage}");
        let is_null: bool = c
            .query_row("SELECT body IS NULL FROM records WHERE seq = 5", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(is_null, garbage == "NULL", "{garbage}");
        assert!(
            matches!(finding(dir.path()), Broken::Edited { seq: 5, .. }),
            "{garbage}"
        );
        let log = AuditLog::open(dir.path()).unwrap();
        let page = log.query(&Filter::default(), Cursor::OLDEST, 10);
        assert!(
            matches!(page, Err(Error::AuditBroken(Broken::Edited { seq: 5, .. }))),
            "{garbage}: {page:?}"
        );
    }
    // Rows outside the chain's keys are not records.
    sql(
        dir.path(),
        "INSERT INTO records (seq, ts, kind, body, hash) VALUES (-3, 'x', 'y', 'z', 'w')",
    );
    std::fs::write(dir.path().join(HeadFile::FILE), "{not json").unwrap();
    assert!(matches!(finding(dir.path()), Broken::Malformed { .. }));
    assert!(matches!(
        AuditLog::open(dir.path()),
        Err(Error::AuditBroken(Broken::Malformed { .. }))
    ));
}

#[test]
fn a_reopened_log_continues_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    write_records(dir.path(), 7);
    write_records(dir.path(), 3);
    let report = verify_dir(dir.path()).unwrap().unwrap();
    assert_eq!(report.last_seq, 10);
}

#[test]
fn concurrent_appends_share_batches_and_chain_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(AuditLog::open(dir.path()).unwrap());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let mut seqs = rt.block_on(async {
        let mut tasks = Vec::new();
        for t in 0..64u64 {
            let log = log.clone();
            tasks.push(tokio::spawn(async move {
                let mut seqs = Vec::new();
                for i in 0..50 {
                    let r = log.append(decision(t * 1000 + i)).await.unwrap();
                    assert_eq!(r.hash.len(), 64);
                    seqs.push(r.seq);
                }
                seqs
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all
    });
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=3200).collect::<Vec<_>>());
    let stats = log.stats();
    assert_eq!(stats.records, 3200);
    assert_eq!(stats.head_seq, 3200);
    assert!(stats.batches < 3200, "{stats:?}");
    log.close().unwrap();
    assert!(matches!(
        rt.block_on(log.append(decision(1))),
        Err(Error::AuditClosed)
    ));
    assert!(matches!(
        log.append_blocking(decision(1)),
        Err(Error::AuditClosed)
    ));
    assert_eq!(verify_dir(dir.path()).unwrap().unwrap().records, 3200);
}

#[test]
fn close_writes_everything_already_queued() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path()).unwrap();
    // Queued at the call, before anything awaits them.
    let pending: Vec<_> = (1..=300).map(|i| log.append(decision(i))).collect();
    log.close().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let seqs: Vec<u64> = rt.block_on(async {
        let mut seqs = Vec::new();
        for p in pending {
            seqs.push(p.await.unwrap().seq);
        }
        seqs
    });
    assert_eq!(seqs, (1..=300).collect::<Vec<_>>());
    let report = verify_dir(dir.path()).unwrap().unwrap();
    assert_eq!(report.last_seq, 300);
    // The head file was written at close.
    assert_eq!(report.head_file.map(|h| h.seq), Some(300));
}

#[test]
fn a_failed_batch_fails_its_callers_and_the_chain_continues_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path()).unwrap();
    for i in 1..=3 {
        log.append_blocking(decision(i)).unwrap();
    }
    // Someone else takes seq 4 behind the writer's back.
    sql(
        dir.path(),
        "INSERT INTO records (seq, ts, kind, body, hash) VALUES (4, 'x', 'admin', '{}', 'x')",
    );
    let err = log.append_blocking(decision(4)).unwrap_err();
    assert_eq!(err.kind(), "audit", "{err}");
    assert_eq!(log.stats().failed_batches, 1);
    assert_eq!(log.stats().head_seq, 4);
    let r = log.append_blocking(decision(5)).unwrap();
    assert_eq!(r.seq, 5);
    // Every batch is timed once, the failed one too.
    let stats = log.stats();
    assert_eq!(stats.batches, 4);
    assert_eq!(stats.commit_times.iter().sum::<u64>(), 5, "{stats:?}");
    log.close().unwrap();
    assert!(matches!(finding(dir.path()), Broken::Edited { seq: 4, .. }));
}

#[test]
fn a_second_writer_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path()).unwrap();
    let second = AuditLog::open(dir.path());
    assert!(matches!(second, Err(Error::Audit { .. })), "{second:?}");
    drop(log);
    AuditLog::open(dir.path()).unwrap();
}

#[test]
fn queries_filter_and_paginate() {
    let dir = tempfile::tempdir().unwrap();
    write_records(dir.path(), 50);
    let log = AuditLog::open(dir.path()).unwrap();
    let seqs = |filter: &Filter, cursor, limit| {
        log.query(filter, cursor, limit)
            .unwrap()
            .into_iter()
            .map(|r| r.seq)
            .collect::<Vec<_>>()
    };
    let all = Filter::default();
    assert_eq!(seqs(&all, Cursor::OLDEST, 10), (1..=10).collect::<Vec<_>>());
    assert_eq!(
        seqs(&all, Cursor::After(10), 10),
        (11..=20).collect::<Vec<_>>()
    );
    assert_eq!(seqs(&all, Cursor::NEWEST, 3), vec![50, 49, 48]);
    assert_eq!(seqs(&all, Cursor::Before(48), 2), vec![47, 46]);

    let session = Filter {
        session: Some("s-1".into()),
        ..Filter::default()
    };
    assert_eq!(
        seqs(&session, Cursor::OLDEST, 100),
        vec![1, 6, 11, 16, 21, 26, 31, 36, 41, 46]
    );
    let agent_denies = Filter {
        agent: Some("agent-1".into()),
        decision: Some(Outcome::Deny),
        ..Filter::default()
    };
    assert_eq!(
        seqs(&agent_denies, Cursor::OLDEST, 100),
        vec![1, 7, 13, 19, 25, 31, 37, 43, 49]
    );
    let admin = Filter {
        kind: Some(Kind::Admin),
        project: Some("acme".into()),
        ..Filter::default()
    };
    assert_eq!(seqs(&admin, Cursor::OLDEST, 100), vec![10, 20, 30, 40, 50]);
    let one = Filter {
        decision_id: Some("dec_000007".into()),
        ..Filter::default()
    };
    let r = log.query(&one, Cursor::OLDEST, 10).unwrap();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].resource.as_deref(), Some("acme/repo-7"));

    let ts = Timestamp::now();
    let later = Filter {
        from_ts: Some(ts),
        ..Filter::default()
    };
    assert!(seqs(&later, Cursor::OLDEST, 100).is_empty());
    let earlier = Filter {
        to_ts: Some(ts),
        from_ts: Some(Timestamp::from_second(ts.as_second() - 3600).unwrap()),
        ..Filter::default()
    };
    assert_eq!(seqs(&earlier, Cursor::OLDEST, 100).len(), 50);
}

/// A store of `n` records (sessions `s-0`…`s-4`, agents `agent-0`…`agent-2`)
/// whose postings are written every `every` records.
fn lookup_store(dir: &Path, n: u64, every: u64) -> SqliteStore {
    let mut store = SqliteStore::open(dir).unwrap();
    store.set_post_every(every);
    let mut prev = GENESIS_HASH.to_owned();
    for seq in 1..=n {
        let p = Entry::from(decision(seq)).prepare().unwrap();
        let s = seal(p, seq, &format_ts(Timestamp::now()), &prev);
        prev = s.hash().to_owned();
        store.append(&[s]).unwrap();
    }
    store
}

/// Every page of a query, page by page.
fn all_pages(
    store: &mut SqliteStore,
    filter: &Filter,
    newest_first: bool,
    page: usize,
) -> Vec<u64> {
    let mut cursor = if newest_first {
        Cursor::NEWEST
    } else {
        Cursor::OLDEST
    };
    let mut out = Vec::new();
    loop {
        let got: Vec<u64> = store
            .query(filter, cursor, page)
            .unwrap()
            .into_iter()
            .map(|r| r.seq)
            .collect();
        let Some(&last) = got.last() else { break };
        out.extend(&got);
        cursor = if newest_first {
            Cursor::Before(last)
        } else {
            Cursor::After(last)
        };
    }
    out
}

#[test]
fn queries_span_the_postings_and_the_records_after_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = lookup_store(dir.path(), 57, 10);
    let through: i64 = rusqlite::Connection::open(dir.path().join(SqliteStore::FILE))
        .unwrap()
        .query_row("SELECT max(upto) FROM postings", [], |r| r.get(0))
        .unwrap();
    assert_eq!(through, 50);
    let cases = [
        Filter {
            session: Some("s-2".into()),
            ..Filter::default()
        },
        Filter {
            agent: Some("agent-1".into()),
            ..Filter::default()
        },
        Filter {
            session: Some("s-3".into()),
            agent: Some("agent-0".into()),
            decision: Some(Outcome::Deny),
            ..Filter::default()
        },
    ];
    for filter in &cases {
        let expected: Vec<u64> = (1..=57)
            .filter(|&i| {
                let d = decision(i);
                filter.session.as_ref().is_none_or(|s| *s == d.session)
                    && filter.agent.as_ref().is_none_or(|a| *a == d.agent)
                    && filter.decision.is_none_or(|o| o == d.decision)
            })
            .collect();
        for page in [1, 3, 100] {
            assert_eq!(
                all_pages(&mut store, filter, false, page),
                expected,
                "{filter:?}"
            );
            let mut newest: Vec<u64> = expected.clone();
            newest.reverse();
            assert_eq!(
                all_pages(&mut store, filter, true, page),
                newest,
                "{filter:?}"
            );
        }
    }
}

#[test]
fn tampered_postings_are_found() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = lookup_store(dir.path(), 30, 10);
    assert_eq!(verify(&mut store, None).unwrap().unwrap().records, 30);
    // Record 3 (and 8) moved to another session's list.
    sql(
        dir.path(),
        "UPDATE postings SET value = 'zzz' WHERE field = 'session' AND value = 's-3' AND upto = 10",
    );
    match verify(&mut store, None).unwrap().unwrap_err() {
        Broken::Edited { seq: 3, what } => assert!(what.contains("postings"), "{what}"),
        other => panic!("{other:?}"),
    }
    // Agent-1's records of the second pass dropped from its list.
    sql(
        dir.path(),
        "UPDATE postings SET value = 's-3' WHERE value = 'zzz';
         DELETE FROM postings WHERE field = 'agent' AND value = 'agent-1' AND upto = 20",
    );
    assert!(matches!(
        verify(&mut store, None).unwrap().unwrap_err(),
        Broken::Edited { seq: 13, .. }
    ));
    sql(
        dir.path(),
        "UPDATE postings SET seqs = x'ff' WHERE upto = 30",
    );
    assert!(matches!(
        verify(&mut store, None).unwrap().unwrap_err(),
        Broken::Edited { .. }
    ));
}

// ---- export and retention, on chains with chosen timestamps ----

/// A store whose records have the given times (`HH:MM:SS` on 2026-11-23, or
/// a full timestamp).
fn store_with(dir: &Path, times: &[&str]) -> SqliteStore {
    let mut store = SqliteStore::open(dir).unwrap();
    append_at(&mut store, times);
    store
}

fn ts(t: &str) -> String {
    if t.len() == 8 {
        format!("2026-11-23T{t}.000000Z")
    } else {
        t.to_owned()
    }
}

fn at(t: &str) -> Timestamp {
    ts(t).parse().unwrap()
}

fn append_at(store: &mut SqliteStore, times: &[&str]) {
    let head = store.head().unwrap();
    let (mut seq, mut prev) = head
        .map(|h| (h.seq, h.hash))
        .unwrap_or((0, GENESIS_HASH.into()));
    for t in times {
        seq += 1;
        let p = Entry::from(decision(seq)).prepare().unwrap();
        let s = seal(p, seq, &ts(t), &prev);
        prev = s.hash().to_owned();
        store.append(&[s]).unwrap();
    }
}

/// Appends `entry` at the end of the chain of `store`, at the last
/// record's time (as the writer would, on a bare store).
fn append_entry(store: &mut SqliteStore, entry: Entry) {
    let head = store.head().unwrap().expect("a record to continue from");
    let s = seal(entry.prepare().unwrap(), head.seq + 1, &head.ts, &head.hash);
    store.append(&[s]).unwrap();
}

/// [`apply_retention`] on a bare store, recording the run in the chain
/// before the cut, as [`retain`] does through the log.
fn retain_store(dir: &Path, store: &mut SqliteStore, older_than: Timestamp) -> Removed {
    let mut writer = SqliteStore::open(dir).unwrap();
    apply_retention(store, ACME, older_than, &mut |cut| {
        append_entry(&mut writer, cut.entry(BTreeMap::new()).into());
        Ok(())
    })
    .unwrap()
}

fn names(files: &[ExportedFile]) -> Vec<(&str, u64, u64)> {
    files
        .iter()
        .map(|f| (f.name.as_str(), f.first_seq, f.last_seq))
        .collect()
}

#[test]
fn time_windows() {
    let dir = tempfile::tempdir().unwrap();
    let times = [
        "13:10:00", "13:50:00", "13:50:00", "14:05:00", "14:59:00", "15:01:00", "15:01:00",
    ];
    let mut store = store_with(dir.path(), &times);
    store.set_post_every(3);
    append_at(&mut store, &["15:30:00", "16:00:00"]); // posts 1..=8
    let window =
        |store: &mut SqliteStore, from: Option<&str>, to: Option<&str>, session: Option<&str>| {
            let filter = Filter {
                from_ts: from.map(at),
                to_ts: to.map(at),
                session: session.map(str::to_owned),
                ..Filter::default()
            };
            let up = all_pages(store, &filter, false, 2);
            let mut down = all_pages(store, &filter, true, 2);
            down.reverse();
            assert_eq!(up, down, "{filter:?}");
            up
        };
    assert_eq!(
        window(&mut store, Some("13:50:00"), Some("15:01:00"), None),
        vec![2, 3, 4, 5]
    );
    assert_eq!(
        window(&mut store, Some("13:50:01"), None, None),
        vec![4, 5, 6, 7, 8, 9]
    );
    assert_eq!(window(&mut store, None, Some("13:50:00"), None), vec![1]);
    assert_eq!(
        window(&mut store, None, Some("13:00:00"), None),
        Vec::<u64>::new()
    );
    assert_eq!(
        window(&mut store, Some("16:00:01"), None, None),
        Vec::<u64>::new()
    );
    assert_eq!(
        window(&mut store, Some("00:00:00"), Some("23:00:00"), None).len(),
        9
    );
    // With a session: postings, then the records after them. Session of
    // record i is `s-{i % 5}`.
    assert_eq!(
        window(&mut store, Some("13:00:00"), None, Some("s-4")),
        vec![4, 9]
    );
    assert_eq!(
        window(&mut store, Some("14:00:00"), Some("15:31:00"), Some("s-3")),
        vec![8]
    );
}

#[test]
fn export_writes_complete_periods_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut store = store_with(
        dir.path(),
        &["13:10:00", "13:50:00", "14:05:00", "14:59:00", "15:01:00"],
    );
    let files = export_to_dir(&mut store, &out, ACME, Period::Hourly, at("15:30:00")).unwrap();
    assert_eq!(
        names(&files),
        vec![
            ("audit-2026-11-23T13.jsonl", 1, 2),
            ("audit-2026-11-23T14.jsonl", 3, 4)
        ]
    );
    // Idempotent.
    assert!(
        export_to_dir(&mut store, &out, ACME, Period::Hourly, at("15:30:00"))
            .unwrap()
            .is_empty()
    );
    let files = export_to_dir(&mut store, &out, ACME, Period::Hourly, at("16:30:00")).unwrap();
    assert_eq!(names(&files), vec![("audit-2026-11-23T15.jsonl", 5, 5)]);

    let paths: Vec<PathBuf> = ["T13", "T14", "T15"]
        .iter()
        .map(|h| out.join(format!("audit-2026-11-23{h}.jsonl")))
        .collect();
    let reports = verify_export_files(&paths).unwrap().unwrap();
    assert_eq!(reports.iter().map(|r| r.count).sum::<u64>(), 5);
    assert_eq!(reports[0].prev_hash, GENESIS_HASH);

    let text = std::fs::read_to_string(&paths[0]).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4);
    assert!(lines[0].starts_with(
        "{\"palisade_audit_export\":1,\"project\":\"acme\",\"period\":\"2026-11-23T13\",\"first_seq\":1,\"last_seq\":2,\"prev_hash\":\"0000"
    ), "{}", lines[0]);
    assert_eq!(lines[1], body(dir.path(), 1));
    assert!(lines[3].starts_with("{\"last_hash\":\""), "{}", lines[3]);
    assert!(lines[3].ends_with("\"count\":2}"), "{}", lines[3]);
    // No temporary files are left behind.
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 3);
}

#[test]
fn export_waits_for_a_period_to_be_over() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut store = store_with(dir.path(), &["13:10:00", "14:59:59"]);
    // 30 s after 15:00 with no later record: 14:00–15:00 may still be
    // committing.
    let files = export_to_dir(&mut store, &out, ACME, Period::Hourly, at("15:00:30")).unwrap();
    assert_eq!(names(&files), vec![("audit-2026-11-23T13.jsonl", 1, 1)]);
    let files = export_to_dir(&mut store, &out, ACME, Period::Hourly, at("15:01:30")).unwrap();
    assert_eq!(names(&files), vec![("audit-2026-11-23T14.jsonl", 2, 2)]);
    // A later record proves the period over at once.
    append_at(&mut store, &["15:10:00", "16:00:01"]);
    let files = export_to_dir(&mut store, &out, ACME, Period::Hourly, at("16:00:10")).unwrap();
    assert_eq!(names(&files), vec![("audit-2026-11-23T15.jsonl", 3, 3)]);
}

#[test]
fn a_late_record_gets_its_own_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut store = store_with(dir.path(), &["13:10:00"]);
    export_to_dir(&mut store, &out, ACME, Period::Hourly, at("14:01:30")).unwrap();
    append_at(&mut store, &["13:59:59"]);
    let files = export_to_dir(&mut store, &out, ACME, Period::Hourly, at("15:30:00")).unwrap();
    assert_eq!(names(&files), vec![("audit-2026-11-23T13.2.jsonl", 2, 2)]);
    let paths = vec![
        out.join("audit-2026-11-23T13.jsonl"),
        out.join("audit-2026-11-23T13.2.jsonl"),
    ];
    assert_eq!(verify_export_files(&paths).unwrap().unwrap().len(), 2);
    // Without the first file, the second does not start the chain.
    assert_eq!(
        verify_export_files(&paths[1..2]).unwrap().map(|r| r.len()),
        Ok(1)
    );
    assert_eq!(
        verify_export_files(&[paths[1].clone(), out.join("missing")])
            .map(|_| ())
            .map_err(|e| e.kind()),
        Err("io")
    );
}

#[test]
fn everything_includes_the_open_period_and_what_follows_gets_its_own_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut store = store_with(dir.path(), &["13:10:00", "14:05:00", "14:20:00"]);
    // As a server stops at 14:30: the open hour too.
    let files = export_to_dir(&mut store, &out, ACME, Period::Hourly, Horizon::Everything).unwrap();
    assert_eq!(
        names(&files),
        vec![
            ("audit-2026-11-23T13.jsonl", 1, 1),
            ("audit-2026-11-23T14.jsonl", 2, 3)
        ]
    );
    // Restarted within the hour: the rest of 14h gets its own file once the
    // hour is over, and nothing is exported twice.
    append_at(&mut store, &["14:40:00", "15:10:00"]);
    let files = export_to_dir(&mut store, &out, ACME, Period::Hourly, at("14:50:00")).unwrap();
    assert!(files.is_empty());
    let files = export_to_dir(&mut store, &out, ACME, Period::Hourly, at("15:30:00")).unwrap();
    assert_eq!(names(&files), vec![("audit-2026-11-23T14.4.jsonl", 4, 4)]);
    let files = export_to_dir(&mut store, &out, ACME, Period::Hourly, Horizon::Everything).unwrap();
    assert_eq!(names(&files), vec![("audit-2026-11-23T15.jsonl", 5, 5)]);
    let paths: Vec<PathBuf> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(verify_export_files(&paths).unwrap().unwrap().len(), 4);
}

#[test]
fn daily_export() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut store = store_with(
        dir.path(),
        &[
            "2026-11-22T23:59:59.999999Z",
            "2026-11-23T00:00:00.000000Z",
            "2026-11-23T12:00:00.000000Z",
        ],
    );
    let files = export_to_dir(
        &mut store,
        &out,
        ACME,
        Period::Daily,
        at("2026-11-24T00:05:00Z"),
    )
    .unwrap();
    assert_eq!(
        names(&files),
        vec![
            ("audit-2026-11-22.jsonl", 1, 1),
            ("audit-2026-11-23.jsonl", 2, 3)
        ]
    );
}

#[test]
fn export_refuses_a_broken_chain() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_with(dir.path(), &["13:10:00", "13:20:00", "13:30:00"]);
    sql(dir.path(), "DELETE FROM records WHERE seq = 2");
    let err = export_to_dir(
        &mut store,
        &dir.path().join("out"),
        ACME,
        Period::Hourly,
        at("15:00:00"),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            // Record 3 no longer continues record 1 of its trail.
            Error::AuditBroken(Broken::Unlinked {
                after_seq: 1,
                seq: 3
            })
        ),
        "{err:?}"
    );
    assert_eq!(store.export_mark(ACME).unwrap(), None);
}

/// Exports six records of 13:xx and returns the file's lines.
fn exported_lines(dir: &Path) -> (PathBuf, Vec<String>) {
    let out = dir.join("out");
    let mut store = store_with(
        dir,
        &[
            "13:01:00", "13:02:00", "13:03:00", "13:04:00", "13:05:00", "13:06:00", "14:05:00",
        ],
    );
    export_to_dir(&mut store, &out, ACME, Period::Hourly, at("14:30:00")).unwrap();
    let path = out.join("audit-2026-11-23T13.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    (path, text.lines().map(str::to_owned).collect())
}

fn file_finding(path: &Path, lines: &[String]) -> Broken {
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
    verify_export_file(path).unwrap().unwrap_err()
}

#[test]
fn tampered_export_files_are_found() {
    let dir = tempfile::tempdir().unwrap();
    let (path, lines) = exported_lines(dir.path());
    assert_eq!(lines.len(), 8);
    let report = verify_export_file(&path).unwrap().unwrap();
    assert_eq!((report.first_seq, report.last_seq, report.count), (1, 6, 6));

    let mut edited = lines.clone();
    edited[2] = edited[2].replace("reason 2", "reason 3");
    assert!(matches!(
        file_finding(&path, &edited),
        Broken::Edited { seq: 2, .. }
    ));

    let mut deleted = lines.clone();
    deleted.remove(3);
    assert_eq!(
        file_finding(&path, &deleted),
        Broken::Unlinked {
            after_seq: 2,
            seq: 4
        }
    );

    let mut swapped = lines.clone();
    swapped.swap(2, 4);
    assert_eq!(file_finding(&path, &swapped), Broken::Reordered { seq: 2 });

    let truncated = lines[..6].to_vec();
    assert_eq!(
        file_finding(&path, &truncated),
        Broken::Truncated {
            last_seq: 5,
            head_seq: 6
        }
    );

    let mut cut_tail = lines.clone();
    cut_tail.remove(6);
    assert_eq!(
        file_finding(&path, &cut_tail),
        Broken::Truncated {
            last_seq: 5,
            head_seq: 6
        }
    );

    let mut header = lines.clone();
    header[0] = header[0].replace("\"prev_hash\":\"0", "\"prev_hash\":\"1");
    assert!(matches!(
        file_finding(&path, &header),
        Broken::Edited { seq: 1, .. }
    ));
}

#[test]
fn retention_removes_only_exported_records_and_keeps_the_chain_verifiable() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut store = store_with(
        dir.path(),
        &["13:10:00", "13:50:00", "14:05:00", "14:59:00", "15:01:00"],
    );
    // Nothing exported: nothing removed.
    assert_eq!(
        retain_store(dir.path(), &mut store, at("23:00:00")),
        Removed::default()
    );
    assert_eq!(verify(&mut store, None).unwrap().unwrap().records, 5);

    export_to_dir(&mut store, &out, ACME, Period::Hourly, at("14:30:00")).unwrap(); // 1..=2
    // Older than 23:00, but only 1..=2 are exported (the run's record is 6).
    let removed = retain_store(dir.path(), &mut store, at("23:00:00"));
    assert_eq!(
        removed,
        Removed {
            records: 2,
            through_seq: Some(2)
        }
    );
    export_to_dir(&mut store, &out, ACME, Period::Hourly, at("16:30:00")).unwrap(); // 3..=6
    // Only what is older than 14:30 (the run's record is 7).
    let removed = retain_store(dir.path(), &mut store, at("14:30:00"));
    assert_eq!(
        removed,
        Removed {
            records: 1,
            through_seq: Some(3)
        }
    );
    let report = verify(&mut store, None).unwrap().unwrap();
    assert_eq!(report.checkpoint.as_ref().map(|c| c.seq), Some(3));
    assert_eq!((report.first_seq, report.last_seq), (Some(4), 7));

    // The exports still verify as one chain, from the start.
    let mut files: Vec<PathBuf> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(verify_export_files(&files).unwrap().unwrap().len(), 3);

    // Deleting the first record after the checkpoint is still found.
    sql(dir.path(), "DELETE FROM records WHERE seq = 4");
    assert_eq!(
        verify(&mut store, None).unwrap().unwrap_err(),
        Broken::Deleted {
            after_seq: 3,
            missing: 1
        }
    );
}

#[test]
fn retention_through_the_head_then_writing_on() {
    let dir = tempfile::tempdir().unwrap();
    write_records(dir.path(), 20);
    let tomorrow = Timestamp::from_second(Timestamp::now().as_second() + 86_400).unwrap();
    let later = Timestamp::from_second(Timestamp::now().as_second() + 3 * 86_400).unwrap();
    {
        let mut store = SqliteStore::open(dir.path()).unwrap();
        let files = export_to_dir(
            &mut store,
            &dir.path().join("out"),
            ACME,
            Period::Daily,
            later,
        )
        .unwrap();
        assert_eq!(files.iter().map(|f| f.count).sum::<u64>(), 20);
        let removed = retain_store(dir.path(), &mut store, tomorrow);
        assert_eq!(removed.records, 20);
    }
    // What is left is the run's own record, 21.
    let report = verify_dir(dir.path()).unwrap().unwrap();
    assert_eq!((report.records, report.last_seq), (1, 21));
    write_records(dir.path(), 5);
    let report = verify_dir(dir.path()).unwrap().unwrap();
    assert_eq!((report.first_seq, report.last_seq), (Some(21), 26));
}

#[test]
fn a_tampered_checkpoint_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_with(dir.path(), &["13:10:00", "13:50:00", "15:00:00"]);
    export_to_dir(
        &mut store,
        &dir.path().join("out"),
        ACME,
        Period::Hourly,
        at("15:30:00"),
    )
    .unwrap();
    retain_store(dir.path(), &mut store, at("14:00:00"));
    sql(
        dir.path(),
        "UPDATE meta SET value = replace(value, '\"seq\":2', '\"seq\":1') WHERE key = 'checkpoint/acme'",
    );
    assert_eq!(
        verify(&mut store, None).unwrap().unwrap_err(),
        Broken::Deleted {
            after_seq: 1,
            missing: 1
        }
    );
    sql(
        dir.path(),
        "UPDATE meta SET value = 'junk' WHERE key = 'checkpoint/acme'",
    );
    assert!(matches!(
        verify(&mut store, None).unwrap().unwrap_err(),
        Broken::Malformed { .. }
    ));
}

// ---- item 17: a checkpoint retention did not make ----

/// Cuts records `1..=through` by hand, as someone hiding the start of the
/// log would: deletes them and writes the checkpoint the rest continues from.
fn forge_checkpoint(dir: &Path, through: u64) {
    let hash: String = {
        let c = rusqlite::Connection::open(dir.join(SqliteStore::FILE)).unwrap();
        c.query_row(
            "SELECT hash FROM records WHERE seq = ?1",
            [through as i64],
            |r| r.get(0),
        )
        .unwrap()
    };
    let checkpoint = serde_json::json!({"seq": through, "hash": hash}).to_string();
    sql(
        dir,
        &format!(
            "DELETE FROM records WHERE seq <= {through}; \
             INSERT OR REPLACE INTO meta (key, value) VALUES ('checkpoint/acme', '{checkpoint}');"
        ),
    );
}

#[test]
fn a_checkpoint_without_an_export_is_forged() {
    let dir = tempfile::tempdir().unwrap();
    write_records(dir.path(), 20);
    forge_checkpoint(dir.path(), 5);
    let broken = finding(dir.path());
    assert_eq!(
        broken,
        Broken::ForgedCheckpoint {
            seq: 5,
            why: "nothing was ever exported, and retention removes only exported records".into()
        }
    );
    assert_eq!(
        broken.to_string(),
        "the checkpoint at record 5 was not made by retention (nothing was ever exported, \
         and retention removes only exported records): records up to 5 were removed by \
         other means"
    );
}

#[test]
fn a_checkpoint_beyond_the_export_is_forged() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_with(
        dir.path(),
        &["13:10:00", "13:50:00", "15:00:00", "15:10:00"],
    );
    export_to_dir(
        &mut store,
        &dir.path().join("out"),
        ACME,
        Period::Hourly,
        at("14:30:00"),
    )
    .unwrap();
    drop(store);
    forge_checkpoint(dir.path(), 3);
    assert_eq!(
        verify(&mut SqliteStore::open(dir.path()).unwrap(), None)
            .unwrap()
            .unwrap_err(),
        Broken::ForgedCheckpoint {
            seq: 3,
            why: "export reached only record 2, and retention removes only exported records".into()
        }
    );
}

#[test]
fn a_checkpoint_no_retention_record_names_is_forged_even_with_a_forged_mark() {
    let dir = tempfile::tempdir().unwrap();
    write_records(dir.path(), 20);
    let hash_20 = verify_dir(dir.path()).unwrap().unwrap().last_hash;
    forge_checkpoint(dir.path(), 5);
    // The forger also writes an export mark that reaches the checkpoint.
    let mark = serde_json::json!({"seq": 20, "hash": hash_20, "period": "2026-11-23"});
    sql(
        dir.path(),
        &format!("INSERT INTO meta (key, value) VALUES ('{EXPORTED_KEY}/acme', '{mark}')"),
    );
    assert_eq!(
        finding(dir.path()),
        Broken::ForgedCheckpoint {
            seq: 5,
            why: "no `audit_retention` record in the chain names it".into()
        }
    );
    // A retention record naming another checkpoint does not vouch for it.
    let mut store = SqliteStore::open(dir.path()).unwrap();
    let other = Cut {
        project: ACME.map(str::to_owned),
        checkpoint: Checkpoint {
            seq: 5,
            hash: "ab".repeat(32),
            removed: 5,
        },
        records: 5,
        removed_total: 5,
        older_than: Timestamp::now(),
    };
    append_entry(&mut store, other.entry(BTreeMap::new()).into());
    assert!(matches!(
        finding(dir.path()),
        Broken::ForgedCheckpoint { seq: 5, .. }
    ));
}

#[test]
fn an_export_mark_the_chain_no_longer_matches_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_with(dir.path(), &["13:10:00", "13:50:00", "15:00:00"]);
    export_to_dir(
        &mut store,
        &dir.path().join("out"),
        ACME,
        Period::Hourly,
        at("14:30:00"),
    )
    .unwrap();
    sql(
        dir.path(),
        &format!(
            "UPDATE meta SET value = replace(value, '\"hash\":\"', '\"hash\":\"0') \
             WHERE key = '{EXPORTED_KEY}/acme'"
        ),
    );
    assert!(matches!(
        verify(&mut store, None).unwrap().unwrap_err(),
        Broken::Edited { seq: 2, .. }
    ));
}

#[test]
fn export_then_retention_through_the_log_verifies_and_records_the_run() {
    let dir = tempfile::tempdir().unwrap();
    // More than one chunk, so the run passes through checkpoints of its own.
    let n = retention::CHUNK + 20;
    let log = AuditLog::open(dir.path()).unwrap();
    for i in 1..=n {
        log.append_blocking(decision(i)).unwrap();
    }
    let later = Timestamp::now() + jiff::SignedDuration::from_hours(72);
    export_to_dir(
        &mut log.open_store().unwrap(),
        &dir.path().join("out"),
        ACME,
        Period::Daily,
        later,
    )
    .unwrap();
    let removed = retain(&log, ACME, later, &BTreeMap::new()).unwrap();
    assert_eq!(removed.records, n);
    let last = log
        .query(&Filter::default(), Cursor::NEWEST, 1)
        .unwrap()
        .remove(0);
    assert_eq!(last.event.as_deref(), Some(RETENTION_EVENT));
    let details = last.details.unwrap();
    assert_eq!(details["checkpoint_seq"], n);
    assert_eq!(details["removed"], n);
    log.close().unwrap();
    let report = verify_dir(dir.path()).unwrap().unwrap();
    assert_eq!(report.checkpoint.map(|c| c.seq), Some(n));
    assert_eq!(report.last_seq, n + 1);
}

/// Throughput of the writer: 200k small records from 64 concurrent tasks.
/// `cargo test --release -p palisade --lib audit -- --ignored --nocapture`
/// (data directory: `$PALISADE_AUDIT_BENCH_DIR`, else the system's temporary
/// directory, which must be a real disk for the figure to mean anything).
#[test]
#[ignore]
fn throughput() {
    const TOTAL: u64 = 200_000;
    const TASKS: u64 = 64;
    let dir = match std::env::var_os("PALISADE_AUDIT_BENCH_DIR") {
        Some(base) => tempfile::tempdir_in(base).unwrap(),
        None => tempfile::tempdir().unwrap(),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let log = Arc::new(AuditLog::open(dir.path()).unwrap());
    let cpu = cpu_seconds();
    let start = Instant::now();
    rt.block_on(async {
        let mut tasks = Vec::new();
        for t in 0..TASKS {
            let log = log.clone();
            tasks.push(tokio::spawn(async move {
                // Like production: one session per task, a few agents,
                // random decision ids.
                let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ (t + 1);
                for i in 0..TOTAL / TASKS {
                    let mut e = decision(t * 1_000_000 + i);
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    e.decision_id = format!("dec_{x:016x}{:016x}", x.rotate_left(29));
                    e.session = format!("sess-{t}");
                    e.agent = format!("agent-{}", t % 8);
                    log.append(e).await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds().zip(cpu).map(|(b, a)| b - a);
    let stats = log.stats();
    log.close().unwrap();
    let size = |f: &str| {
        let len = std::fs::metadata(dir.path().join(f)).map_or(0, |m| m.len());
        len as f64 / 1e6
    };
    println!(
        "audit store: audit.db {:.0} MB, WAL {:.1} MB",
        size(SqliteStore::FILE),
        size("audit.db-wal")
    );
    println!(
        "audit append: {} records in {elapsed:.2} s = {:.0} records/s; {} batches, \
         average batch {:.1} records; CPU {}",
        stats.records,
        stats.records as f64 / elapsed,
        stats.batches,
        stats.records as f64 / stats.batches as f64,
        cpu.map(|c| format!("{:.1} µs/record", c * 1e6 / stats.records as f64))
            .unwrap_or_else(|| "unknown".into()),
    );
    let start = Instant::now();
    let report = verify_dir(dir.path()).unwrap().unwrap();
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "audit verify: {} records in {elapsed:.2} s = {:.0} records/s",
        report.records,
        report.records as f64 / elapsed
    );
    assert_eq!(report.records, TOTAL / TASKS * TASKS);
}

/// This process's user + system CPU time, from `/proc` (Linux).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after_name = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

#[test]
fn after_a_failed_batch_nothing_is_sealed_until_the_heads_are_read_back() {
    use crate::store::{Faults, FaultyStore};
    let dir = tempfile::tempdir().unwrap();
    let faults = Faults::default();
    let f = faults.clone();
    let log = AuditLog::open_wrapped(dir.path(), std::time::Duration::ZERO, move |store| {
        Box::new(FaultyStore::new(store, f))
    })
    .unwrap();
    log.append_blocking(decision(1)).unwrap();
    faults.fail_appends(true);
    faults.fail_heads(true);
    assert!(log.append_blocking(decision(2)).is_err());
    // The store takes appends again, but the heads are unknown: refused,
    // rather than chained onto what may be stale.
    faults.fail_appends(false);
    assert!(log.append_blocking(decision(3)).is_err());
    faults.fail_heads(false);
    let r = log.append_blocking(decision(4)).unwrap();
    assert_eq!(r.seq, 2);
    log.close().unwrap();
    let mut store = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(verify(&mut store, None).unwrap().unwrap().records, 2);
}
