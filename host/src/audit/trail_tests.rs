//! Trails: each project's records, and the server's, are chained, exported,
//! cut and verified apart, in one store.

use super::*;
use crate::decision::Outcome;
use crate::store::{AuditStore, Cursor, Filter, SqliteStore};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn decision(project: &str, i: u64) -> DecisionEntry {
    DecisionEntry {
        decision_id: format!("dec_{project}_{i}"),
        agent: "bot".into(),
        session: format!("s-{project}"),
        project: project.into(),
        service: "git".into(),
        action: "push".into(),
        resource: format!("{project}/repo-{i}"),
        attributes: BTreeMap::new(),
        decision: Outcome::Allow,
        reason: format!("reason {i}"),
        plugins: Vec::new(),
        policy_version: "v1".into(),
        latency_us: 1,
    }
}

fn server(i: u64) -> AdminEntry {
    AdminEntry {
        event: "policy_reload".into(),
        details: BTreeMap::from([("i".to_owned(), i.into())]),
        ..AdminEntry::default()
    }
}

/// `n` rounds of one record of `a`, one of `b` and, every third round, one
/// of the server's trail.
fn interleave(log: &AuditLog, n: u64) {
    for i in 1..=n {
        log.append_blocking(decision("a", i)).unwrap();
        log.append_blocking(decision("b", i)).unwrap();
        if i % 3 == 0 {
            log.append_blocking(server(i)).unwrap();
        }
    }
}

fn records_of(log: &AuditLog, project: &str) -> Vec<Record> {
    let filter = Filter {
        project: Some(project.into()),
        ..Filter::default()
    };
    log.query(&filter, Cursor::OLDEST, 1000).unwrap()
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn sql(dir: &Path, sql: &str) {
    let c = rusqlite::Connection::open(dir.join(SqliteStore::FILE)).unwrap();
    c.execute_batch(sql).unwrap();
}

fn tomorrow() -> Timestamp {
    Timestamp::now() + jiff::SignedDuration::from_hours(24)
}

#[test]
fn each_record_continues_the_last_record_of_its_own_trail() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path()).unwrap();
    interleave(&log, 6);
    for project in ["a", "b"] {
        let records = records_of(&log, project);
        assert_eq!(records.len(), 6);
        assert_eq!(records[0].prev_hash, GENESIS_HASH);
        for w in records.windows(2) {
            assert_eq!(w[1].prev_hash, w[0].hash, "{project}: {}", w[1].seq);
        }
    }
    drop(log);
    // Reopened, each trail goes on from its own last record.
    let log = AuditLog::open(dir.path()).unwrap();
    let last_a = records_of(&log, "a").pop().unwrap();
    log.append_blocking(decision("a", 7)).unwrap();
    assert_eq!(records_of(&log, "a").pop().unwrap().prev_hash, last_a.hash);
    log.close().unwrap();

    let report = verify_dir(dir.path()).unwrap().unwrap();
    assert_eq!(report.records, 6 + 6 + 2 + 1);
    let trails: Vec<(Option<&str>, u64)> = report
        .trails
        .iter()
        .map(|t| (t.project.as_deref(), t.records))
        .collect();
    assert_eq!(trails, [(None, 2), (Some("a"), 7), (Some("b"), 6)]);
}

#[test]
fn a_trail_is_exported_and_cut_without_touching_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path()).unwrap();
    interleave(&log, 10);
    // Only `a` is exported: its files hold its records only, and verify
    // alone and together.
    let out = dir.path().join("a-out");
    let files = export_to_dir(
        &mut log.open_store().unwrap(),
        &out,
        Some("a"),
        Period::Daily,
        Horizon::Everything,
    )
    .unwrap();
    assert_eq!(files.iter().map(|f| f.count).sum::<u64>(), 10);
    let reports = verify_export_files(&files_in(&out)).unwrap().unwrap();
    assert!(reports.iter().all(|r| r.project.as_deref() == Some("a")));
    let text = std::fs::read_to_string(&files_in(&out)[0]).unwrap();
    assert!(!text.contains("\"project\":\"b\""), "{text}");

    // Retention cuts `a` only; `b`, never exported, keeps every record.
    let details = BTreeMap::new();
    let removed = retain(&log, Some("a"), tomorrow(), &details).unwrap();
    assert_eq!(removed.records, 10);
    let removed = retain(&log, Some("b"), tomorrow(), &details).unwrap();
    assert_eq!(removed.records, 0);
    assert_eq!(records_of(&log, "b").len(), 10);
    let left_of_a = records_of(&log, "a");
    assert_eq!(left_of_a.len(), 1, "the retention record stays");
    assert_eq!(left_of_a[0].event.as_deref(), Some(RETENTION_EVENT));
    log.append_blocking(decision("a", 11)).unwrap();
    log.append_blocking(decision("b", 11)).unwrap();
    log.close().unwrap();

    let report = verify_dir(dir.path()).unwrap().unwrap();
    let a = report
        .trails
        .iter()
        .find(|t| t.project.as_deref() == Some("a"));
    let b = report
        .trails
        .iter()
        .find(|t| t.project.as_deref() == Some("b"));
    assert!(a.unwrap().checkpoint.is_some());
    assert_eq!(b.unwrap().checkpoint, None);
    assert_eq!(b.unwrap().records, 11);
}

#[test]
fn a_record_removed_from_a_trail_another_trail_cut_past_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path()).unwrap();
    interleave(&log, 6);
    for i in 7..=9 {
        log.append_blocking(decision("a", i)).unwrap();
    }
    // `a` is cut up to its last record: all of `b`'s records lie below
    // that checkpoint, where records of cut trails are gone.
    let out = dir.path().join("out");
    let mut store = log.open_store().unwrap();
    export_to_dir(
        &mut store,
        &out,
        Some("a"),
        Period::Daily,
        Horizon::Everything,
    )
    .unwrap();
    retain(&log, Some("a"), tomorrow(), &BTreeMap::new()).unwrap();
    drop(store);
    drop(log);
    assert!(verify_dir(dir.path()).unwrap().is_ok());
    let b: Vec<u64> = {
        let mut store = SqliteStore::open(dir.path()).unwrap();
        let mut seqs = Vec::new();
        store
            .scan_trail(Some("b"), 0, u64::MAX, &mut |row| {
                seqs.push(row.seq);
                Ok(true)
            })
            .unwrap();
        seqs
    };
    assert_eq!(b.len(), 6);

    // One of `b`'s records in the middle: `b`'s chain breaks.
    let copy = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), copy.path());
    sql(
        copy.path(),
        &format!("DELETE FROM records WHERE seq = {}", b[2]),
    );
    assert_eq!(
        verify_dir(copy.path()).unwrap().unwrap_err(),
        Broken::Unlinked {
            after_seq: b[1],
            seq: b[3]
        }
    );
    // All of `b`, and every trace of it besides (its `trails` row, its end
    // in the head file): the records written no longer add up.
    let gone = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), gone.path());
    sql(
        gone.path(),
        "DELETE FROM records WHERE project = 'b'; DELETE FROM trails WHERE project = 'b';",
    );
    let mut head = HeadFile::read(gone.path()).unwrap().unwrap();
    head.trails.remove("b");
    head.write(gone.path()).unwrap();
    assert_eq!(
        verify_dir(gone.path()).unwrap().unwrap_err(),
        Broken::Uncounted {
            written: 18,
            present: 18 - 6 - 9,
            removed: 9
        }
    );
    // `b`'s last record, below `a`'s checkpoint: `b`'s head says it was
    // written.
    sql(
        dir.path(),
        &format!("DELETE FROM records WHERE seq = {}", b[5]),
    );
    assert_eq!(
        verify_dir(dir.path()).unwrap().unwrap_err(),
        Broken::Truncated {
            last_seq: b[4],
            head_seq: b[5]
        }
    );
    // And the writer refuses to go on from there, which would bury it.
    let e = AuditLog::open(dir.path()).unwrap_err();
    assert!(
        matches!(e, crate::Error::AuditBroken(Broken::Truncated { .. })),
        "{e:?}"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let path = e.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
        }
    }
}

#[test]
fn each_trail_goes_where_its_plan_says() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path()).unwrap();
    interleave(&log, 3);
    let plan = |to: &str| Plan {
        export: Some(ExportPlan {
            destination: Destination::parse_policy(to).unwrap(),
            period: Period::Daily,
        }),
        retention: None,
    };
    // `a` has a block of its own; `b` (and a project no longer in the
    // policy) takes the server's, in a folder of its own.
    let plans = Plans {
        server: plan("shared"),
        projects: BTreeMap::from([("a".to_owned(), plan("a-own"))]),
        folders: true,
    };
    schedule::final_round(&log, &plans, &S3Settings::default());
    log.close().unwrap();
    let a = files_in(&dir.path().join("a-own/a"));
    let b = files_in(&dir.path().join("shared/b"));
    let server = files_in(&dir.path().join("shared"));
    for (files, project) in [(&a, Some("a")), (&b, Some("b")), (&server, None)] {
        let reports = verify_export_files(files).unwrap().unwrap();
        assert!(!reports.is_empty());
        assert!(reports.iter().all(|r| r.project.as_deref() == project));
    }
    // Each export is recorded in the trail it exported, and exported too.
    let records: u64 = verify_export_files(&a)
        .unwrap()
        .unwrap()
        .iter()
        .map(|r| r.count)
        .sum();
    assert_eq!(records, 3 + 1);
    assert!(verify_dir(dir.path()).unwrap().is_ok());
}

/// A store written before records were chained per trail (no `trails`,
/// unkeyed checkpoint and export mark) is brought up to date when opened.
#[test]
fn a_store_of_one_chain_opens_as_one_trail() {
    use crate::store::{Checkpoint, ExportMark};
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path()).unwrap();
    let mut last = None;
    for i in 0..3u64 {
        let entry = AdminEntry {
            event: "test".into(),
            project: Some("acme".into()),
            details: [("i".to_owned(), i.into())].into(),
            ..AdminEntry::default()
        };
        last = Some(log.append_blocking(entry).unwrap());
    }
    drop(log);
    let last = last.unwrap();
    let c = rusqlite::Connection::open(dir.path().join(SqliteStore::FILE)).unwrap();
    c.execute_batch(
        "DELETE FROM trails;
         DELETE FROM meta WHERE key = 'trails_through';
         INSERT INTO meta (key, value) VALUES ('checkpoint', '{\"seq\":1,\"hash\":\"aa\"}');
         INSERT INTO meta (key, value)
             VALUES ('exported_through', '{\"seq\":2,\"hash\":\"h\",\"period\":\"2026-11-23\"}');",
    )
    .unwrap();
    drop(c);
    let mut store = SqliteStore::open(dir.path()).unwrap();
    let trails = store.trails().unwrap();
    assert_eq!(trails.len(), 1);
    assert_eq!(trails[0].project.as_deref(), Some("acme"));
    assert_eq!(
        (trails[0].seq, trails[0].hash.as_str()),
        (last.seq, last.hash.as_str())
    );
    let acme = Some("acme");
    assert_eq!(
        store.checkpoint(acme).unwrap(),
        // One chain from record 1: the checkpoint at 1 removed 1.
        Some(Checkpoint {
            seq: 1,
            hash: "aa".into(),
            removed: 1,
        })
    );
    assert_eq!(
        store.export_mark(acme).unwrap(),
        Some(ExportMark {
            seq: 2,
            hash: "h".into(),
            period: "2026-11-23".into()
        })
    );
    assert_eq!(store.meta("checkpoint").unwrap(), None);
}

/// A store written as one chain across several projects cannot be read as
/// per-trail chains: it is refused, saying what to do.
#[test]
fn a_store_of_one_chain_across_projects_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path()).unwrap();
    interleave(&log, 1);
    drop(log);
    sql(
        dir.path(),
        "DELETE FROM trails; DELETE FROM meta WHERE key = 'trails_through';",
    );
    let e = SqliteStore::open(dir.path()).unwrap_err().to_string();
    assert!(e.contains("one hash chain across several projects"), "{e}");
    assert!(AuditLog::open(dir.path()).is_err());
}

/// Appends one record of `project`'s trail at `seq`, continuing `prev`;
/// returns its hash.
fn append_one(store: &mut SqliteStore, seq: u64, project: &str, prev: &str) -> String {
    let prepared = Entry::from(decision(project, seq)).prepare().unwrap();
    let sealed = super::entry::seal(prepared, seq, &format_ts(Timestamp::now()), prev);
    let hash = sealed.hash().to_owned();
    store.append(&[sealed]).unwrap();
    hash
}

/// The store's record of each trail's end is brought up to date from the
/// records themselves, whichever process wrote them.
#[test]
fn each_trails_end_survives_a_restart_between_posting_passes() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(dir.path()).unwrap();
    store.set_post_every(4);
    let x1 = append_one(&mut store, 1, "x", GENESIS_HASH);
    let mut b = GENESIS_HASH.to_owned();
    for seq in 2..=4 {
        b = append_one(&mut store, seq, "b", &b);
    }
    // After the pass at 4: `x` ends at 1. Then `x` goes on, and the process
    // stops before the next pass.
    let x2 = append_one(&mut store, 5, "x", &x1);
    drop(store);
    // The next process writes only `b` until the next pass.
    let mut store = SqliteStore::open(dir.path()).unwrap();
    store.set_post_every(4);
    for seq in 6..=8 {
        b = append_one(&mut store, seq, "b", &b);
    }
    let heads: Vec<(Option<String>, u64, String)> = SqliteStore::open(dir.path())
        .unwrap()
        .trails()
        .unwrap()
        .into_iter()
        .map(|t| (t.project, t.seq, t.hash))
        .collect();
    assert_eq!(heads, [(Some("b".into()), 8, b), (Some("x".into()), 5, x2)]);
}

#[test]
fn a_projects_folder_at_a_destination_is_one_plain_segment() {
    let dir = Destination::parse_cli("/srv/audit").unwrap();
    assert_eq!(
        dir.within("platform").unwrap(),
        Destination::Dir("/srv/audit/platform".into())
    );
    for bad in ["../x", "/etc", "a/b", "..", ""] {
        assert!(dir.within(bad).is_err(), "{bad}");
    }
    let s3 = Destination::parse_policy("s3://audit-bucket/prod/").unwrap();
    assert_eq!(
        s3.within("platform").unwrap().to_string(),
        "s3://audit-bucket/prod/platform/"
    );
}

#[test]
fn a_rewritten_last_record_of_a_trail_that_is_not_the_stores_last_is_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = AuditLog::open(dir.path()).unwrap();
        log.append_blocking(decision("a", 1)).unwrap();
        log.append_blocking(decision("b", 1)).unwrap();
        log.append_blocking(decision("a", 2)).unwrap();
        log.close().unwrap();
    }
    // Trail b ends at seq 2, the store at seq 3: rewrite b's last record
    // consistently (its own hash, its columns, the trails table).
    let c = rusqlite::Connection::open(dir.path().join(SqliteStore::FILE)).unwrap();
    let body: String = c
        .query_row("SELECT body FROM records WHERE seq = 2", [], |r| r.get(0))
        .unwrap();
    let mut r: Record = serde_json::from_str(&body).unwrap();
    r.decision = Some(Outcome::Deny);
    let s = seal_record(&r).unwrap();
    c.execute(
        "UPDATE records SET body = ?1, hash = ?2, decision = 'deny' WHERE seq = 2",
        [s.body(), s.hash()],
    )
    .unwrap();
    c.execute(
        "UPDATE trails SET hash = ?1 WHERE project = 'b'",
        [s.hash()],
    )
    .unwrap();
    drop(c);
    match AuditLog::open(dir.path()) {
        Err(crate::Error::AuditBroken(Broken::HeadMismatch { seq: 2 })) => {}
        other => panic!("{other:?}"),
    }
}
