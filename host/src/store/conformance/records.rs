//! Conformance cases for [`AuditStore`]: what the audit trail relies on.
//!
//! The rows are made here, not by the audit writer: a store keeps whatever
//! it is given (checking hashes is verification's business), so the cases
//! stay about storage.

use super::Fixture;
use crate::Error;
use crate::decision::Outcome;
use crate::record::{Columns, Kind, Record, SealedRecord, format_ts};
use crate::store::{AuditStore, Checkpoint, Cursor, Filter, StoredRow};
use jiff::Timestamp;

/// `ts` of a record made `minute` minutes after 2026-11-23T14:00Z.
fn ts(minute: u64) -> String {
    let micros = 1_795_442_400_000_000 + i64::try_from(minute).unwrap() * 60_000_000;
    format_ts(Timestamp::from_microsecond(micros).unwrap())
}

/// The record at `seq`: decisions of sessions `s0`..`s2`, agents `a0`,
/// `a1`, projects `p0`, `p1`, outcomes in turn; every fifth an admin
/// record; one minute apart.
fn record(seq: u64) -> Record {
    let admin = seq.is_multiple_of(5);
    let some = |s: String| (!admin).then_some(s);
    let outcome = [Outcome::Allow, Outcome::Deny, Outcome::ApprovalRequired][(seq % 3) as usize];
    Record {
        seq,
        ts: ts(seq),
        kind: if admin { Kind::Admin } else { Kind::Decision },
        decision_id: some(format!("dec_{seq}")),
        agent: some(format!("a{}", seq % 2)),
        session: some(format!("s{}", seq % 3)),
        project: Some(format!("p{}", seq % 2)),
        service: some("git".into()),
        action: some("push".into()),
        resource: some("acme/api@main".into()),
        attributes: None,
        decision: (!admin).then_some(outcome),
        reason: Some(format!("reason {seq}")),
        plugins: None,
        policy_version: None,
        latency_us: None,
        event: admin.then(|| "policy_reload".into()),
        details: None,
        prev_hash: format!("{:064x}", seq - 1),
        hash: format!("{seq:064x}"),
    }
}

fn sealed(seq: u64) -> SealedRecord {
    let r = record(seq);
    let body = serde_json::to_string(&r).unwrap();
    let columns = Columns {
        kind: r.kind,
        decision_id: r.decision_id,
        agent: r.agent,
        session: r.session,
        project: r.project,
        decision: r.decision,
    };
    SealedRecord::new(seq, r.ts, r.hash, body, columns)
}

fn batch(seqs: std::ops::RangeInclusive<u64>) -> Vec<SealedRecord> {
    seqs.map(sealed).collect()
}

/// Which records a filter should match.
type Keep = Box<dyn Fn(&Record) -> bool>;

fn seqs(records: &[Record]) -> Vec<u64> {
    records.iter().map(|r| r.seq).collect()
}

fn query(store: &mut impl AuditStore, filter: &Filter, cursor: Cursor, limit: usize) -> Vec<u64> {
    seqs(&store.query(filter, cursor, limit).unwrap())
}

/// What `filter` should match among records 1..=n, oldest first.
fn expected(n: u64, keep: impl Fn(&Record) -> bool) -> Vec<u64> {
    (1..=n).map(record).filter(keep).map(|r| r.seq).collect()
}

/// A new store has nothing in it.
pub(crate) fn empty_store(f: &impl Fixture) {
    let mut s = f.records();
    assert_eq!(s.head().unwrap(), None);
    assert_eq!(s.row(1).unwrap(), None);
    assert!(
        s.query(&Filter::default(), Cursor::OLDEST, 10)
            .unwrap()
            .is_empty()
    );
    assert!(
        s.query(&Filter::default(), Cursor::NEWEST, 10)
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.meta("anything").unwrap(), None);
    assert_eq!(s.checkpoint(None).unwrap(), None);
    assert_eq!(s.export_mark(None).unwrap(), None);
    assert_eq!(s.last_seq_before(None, &ts(100), u64::MAX).unwrap(), None);
    assert_eq!(s.check_derived().unwrap(), None);
}

/// Appended records come back as they went in: the head, each row's
/// columns and body, scans in `seq` order, queries both ways.
pub(crate) fn append_and_read_back(f: &impl Fixture) {
    let mut s = f.records();
    s.append(&batch(1..=3)).unwrap();
    s.append(&batch(4..=7)).unwrap();
    s.append(&[]).unwrap();
    let head = s.head().unwrap().unwrap();
    assert_eq!(
        (head.seq, head.hash.as_str(), head.ts),
        (7, sealed(7).hash(), ts(7))
    );
    for seq in 1..=7 {
        let want = sealed(seq);
        let row = s.row(seq).unwrap().unwrap();
        let c = want.columns();
        assert_eq!(
            row,
            StoredRow {
                seq,
                ts: Some(want.ts().to_owned()),
                kind: Some(c.kind.as_str().to_owned()),
                decision_id: c.decision_id.clone(),
                agent: c.agent.clone(),
                session: c.session.clone(),
                project: c.project.clone(),
                decision: c.decision.map(|d| d.as_str().to_owned()),
                body: Some(want.body().to_owned()),
                hash: Some(want.hash().to_owned()),
            }
        );
    }
    let mut scanned = Vec::new();
    s.scan(2, 6, &mut |row| {
        scanned.push(row.seq);
        Ok(true)
    })
    .unwrap();
    assert_eq!(scanned, [3, 4, 5, 6]);
    let all = s.query(&Filter::default(), Cursor::OLDEST, 100).unwrap();
    assert_eq!(all, (1..=7).map(record).collect::<Vec<_>>());
    assert_eq!(
        query(&mut s, &Filter::default(), Cursor::NEWEST, 100),
        [7, 6, 5, 4, 3, 2, 1]
    );
    assert_eq!(s.check_derived().unwrap(), None);
}

/// A batch that cannot be stored whole leaves nothing of itself behind
/// (here: it repeats a `seq` already stored).
pub(crate) fn append_is_all_or_nothing(f: &impl Fixture) {
    let mut s = f.records();
    s.append(&batch(1..=2)).unwrap();
    let mut bad = batch(3..=4);
    bad.push(sealed(2));
    assert!(s.append(&bad).is_err());
    assert_eq!(s.head().unwrap().map(|h| h.seq), Some(2));
    assert_eq!(s.row(3).unwrap(), None);
    assert_eq!(
        s.row(2).unwrap().and_then(|r| r.body),
        Some(sealed(2).body().to_owned())
    );
    // And the store takes the batch again once it is right.
    s.append(&batch(3..=4)).unwrap();
    assert_eq!(
        query(&mut s, &Filter::default(), Cursor::OLDEST, 10),
        [1, 2, 3, 4]
    );
}

/// A scan stops when its visitor says so, and passes the visitor's error on.
pub(crate) fn scan_stops_when_asked(f: &impl Fixture) {
    let mut s = f.records();
    s.append(&batch(1..=10)).unwrap();
    let mut seen = Vec::new();
    s.scan(0, u64::MAX, &mut |row| {
        seen.push(row.seq);
        Ok(row.seq < 4)
    })
    .unwrap();
    assert_eq!(seen, [1, 2, 3, 4]);
    let err = s.scan(0, u64::MAX, &mut |_| Err(Error::AuditClosed));
    assert!(matches!(err, Err(Error::AuditClosed)), "{err:?}");
}

/// Every filter field narrows the result; pages follow their cursor both
/// ways and never exceed their limit.
pub(crate) fn query_filters_and_pages(f: &impl Fixture) {
    let n = 60;
    let mut s = f.records();
    for start in (1..=n).step_by(7) {
        s.append(&batch(start..=(start + 6).min(n))).unwrap();
    }
    let some = |v: &str| Some(v.to_owned());
    let cases: Vec<(Filter, Keep)> = vec![
        (Filter::default(), Box::new(|_| true)),
        (
            Filter {
                session: some("s1"),
                ..Filter::default()
            },
            Box::new(|r| r.session.as_deref() == Some("s1")),
        ),
        (
            Filter {
                agent: some("a0"),
                ..Filter::default()
            },
            Box::new(|r| r.agent.as_deref() == Some("a0")),
        ),
        (
            Filter {
                project: some("p1"),
                kind: Some(Kind::Admin),
                ..Filter::default()
            },
            Box::new(|r| r.project.as_deref() == Some("p1") && r.kind == Kind::Admin),
        ),
        (
            Filter {
                projects: Some(vec!["p0".into(), "p9".into()]),
                ..Filter::default()
            },
            Box::new(|r| r.project.as_deref() == Some("p0")),
        ),
        (
            Filter {
                projects: Some(Vec::new()),
                ..Filter::default()
            },
            Box::new(|_| false),
        ),
        (
            Filter {
                decision: Some(Outcome::Deny),
                agent: some("a1"),
                session: some("s2"),
                ..Filter::default()
            },
            Box::new(|r| {
                r.decision == Some(Outcome::Deny)
                    && r.agent.as_deref() == Some("a1")
                    && r.session.as_deref() == Some("s2")
            }),
        ),
        (
            Filter {
                decision_id: some("dec_17"),
                ..Filter::default()
            },
            Box::new(|r| r.seq == 17),
        ),
    ];
    for (filter, keep) in &cases {
        let want = expected(n, keep);
        assert_eq!(
            query(&mut s, filter, Cursor::OLDEST, 1000),
            want,
            "{filter:?}"
        );
        // Page by page, oldest first, then newest first.
        for (cursor, mut want) in [
            (Cursor::OLDEST, want.clone()),
            (Cursor::NEWEST, want.iter().rev().copied().collect()),
        ] {
            let mut cursor = cursor;
            let mut got = Vec::new();
            loop {
                let page = query(&mut s, filter, cursor, 4);
                assert!(page.len() <= 4);
                let Some(&last) = page.last() else { break };
                got.extend(page);
                cursor = match cursor {
                    Cursor::After(_) => Cursor::After(last),
                    Cursor::Before(_) => Cursor::Before(last),
                };
            }
            assert_eq!(got, std::mem::take(&mut want), "{filter:?} {cursor:?}");
        }
    }
    assert!(query(&mut s, &Filter::default(), Cursor::OLDEST, 0).is_empty());
}

/// Time windows: `from_ts` inclusive, `to_ts` exclusive; the last record
/// before a time, bounded by a `seq`.
pub(crate) fn time_windows(f: &impl Fixture) {
    let mut s = f.records();
    s.append(&batch(1..=20)).unwrap();
    let at = |minute: u64| ts(minute).parse::<Timestamp>().unwrap();
    let window = Filter {
        from_ts: Some(at(5)),
        to_ts: Some(at(9)),
        ..Filter::default()
    };
    assert_eq!(query(&mut s, &window, Cursor::OLDEST, 100), [5, 6, 7, 8]);
    assert_eq!(query(&mut s, &window, Cursor::NEWEST, 100), [8, 7, 6, 5]);
    let late = Filter {
        from_ts: Some(at(30)),
        ..Filter::default()
    };
    assert!(query(&mut s, &late, Cursor::OLDEST, 100).is_empty());
    let early = Filter {
        to_ts: Some(at(1)),
        ..Filter::default()
    };
    assert!(query(&mut s, &early, Cursor::OLDEST, 100).is_empty());
    // Per trail: `p1` holds the odd records, `p0` the even ones.
    let (p0, p1) = (Some("p0"), Some("p1"));
    assert_eq!(s.last_seq_before(p1, &ts(10), u64::MAX).unwrap(), Some(9));
    assert_eq!(s.last_seq_before(p0, &ts(10), u64::MAX).unwrap(), Some(8));
    assert_eq!(s.last_seq_before(p1, &ts(10), 4).unwrap(), Some(3));
    assert_eq!(s.last_seq_before(p1, &ts(1), u64::MAX).unwrap(), None);
    assert_eq!(s.last_seq_before(p0, &ts(99), u64::MAX).unwrap(), Some(20));
    assert_eq!(s.last_seq_before(None, &ts(99), u64::MAX).unwrap(), None);
}

/// `meta` values are set, replaced and read back, and the checkpoint and
/// export mark are read from them.
pub(crate) fn meta_round_trips(f: &impl Fixture) {
    let mut s = f.records();
    s.set_meta("k", "one").unwrap();
    s.set_meta("k", "two").unwrap();
    assert_eq!(s.meta("k").unwrap().as_deref(), Some("two"));
    assert_eq!(f.records().meta("k").unwrap().as_deref(), Some("two"));
    s.set_meta(
        &crate::store::trail_key(crate::store::EXPORTED_KEY, Some("p1")),
        r#"{"seq":3,"hash":"h","period":"2026-11-23T14"}"#,
    )
    .unwrap();
    let mark = s.export_mark(Some("p1")).unwrap().unwrap();
    assert_eq!((mark.seq, mark.hash.as_str()), (3, "h"));
    // Each trail has its own.
    assert_eq!(s.export_mark(Some("p0")).unwrap(), None);
    assert_eq!(s.export_mark(None).unwrap(), None);
    let moved = crate::store::ExportMark {
        seq: 4,
        hash: "g".into(),
        period: "2026-11-23".into(),
    };
    s.set_export_mark(None, &moved).unwrap();
    assert_eq!(s.export_mark(None).unwrap(), Some(moved));
    assert_eq!(s.export_mark(Some("p1")).unwrap().map(|m| m.seq), Some(3));
    s.set_meta(
        &crate::store::trail_key(crate::store::CHECKPOINT_KEY, Some("p0")),
        "not json",
    )
    .unwrap();
    assert!(matches!(
        s.checkpoint(Some("p0")),
        Err(Error::AuditBroken(_))
    ));
    assert_eq!(s.checkpoint(Some("p1")).unwrap(), None);
}

/// A cut removes one trail's records up to its checkpoint and stores the
/// checkpoint, in one step; other trails and the rest read as before.
pub(crate) fn cut_leaves_a_checkpoint(f: &impl Fixture) {
    let mut s = f.records();
    s.append(&batch(1..=12)).unwrap();
    let (p0, p1) = (Some("p0"), Some("p1"));
    let checkpoint = Checkpoint {
        seq: 5,
        hash: sealed(5).hash().to_owned(),
        removed: 3,
    };
    // A cut that would remove another number of records than counted
    // changes nothing.
    assert!(matches!(
        s.cut(p1, 0, 2, &checkpoint),
        Err(Error::AuditBroken(_))
    ));
    assert!(s.row(1).unwrap().is_some());
    assert_eq!(s.checkpoint(p1).unwrap(), None);
    // Trail `p1` holds the odd records: 1, 3 and 5 go.
    assert_eq!(s.cut(p1, 0, 3, &checkpoint).unwrap(), 3);
    assert_eq!(s.checkpoint(p1).unwrap(), Some(checkpoint));
    assert_eq!(s.checkpoint(p0).unwrap(), None);
    assert_eq!(s.row(5).unwrap(), None);
    assert!(s.row(4).unwrap().is_some());
    assert!(s.row(6).unwrap().is_some());
    assert_eq!(s.head().unwrap().map(|h| h.seq), Some(12));
    let gone = |r: &Record| r.seq <= 5 && r.seq % 2 == 1;
    assert_eq!(
        query(&mut s, &Filter::default(), Cursor::OLDEST, 100),
        expected(12, |r| !gone(r))
    );
    let s1 = Filter {
        session: Some("s1".into()),
        ..Filter::default()
    };
    assert_eq!(
        query(&mut s, &s1, Cursor::OLDEST, 100),
        expected(12, |r| !gone(r) && r.session.as_deref() == Some("s1"))
    );
    let mut rest = Vec::new();
    s.scan(0, u64::MAX, &mut |row| {
        rest.push(row.seq);
        Ok(true)
    })
    .unwrap();
    assert_eq!(rest, expected(12, |r| !gone(r)));
    assert_eq!(s.check_derived().unwrap(), None);
    // The next cut of the trail starts after its checkpoint.
    let next = Checkpoint {
        seq: 9,
        hash: sealed(9).hash().to_owned(),
        removed: 5,
    };
    assert_eq!(s.cut(p1, 5, 2, &next).unwrap(), 2);
    assert_eq!(s.row(8).unwrap().map(|r| r.seq), Some(8));
    // Appending goes on after the cut.
    s.append(&batch(13..=13)).unwrap();
    assert_eq!(s.head().unwrap().map(|h| h.seq), Some(13));
    assert_eq!(s.check_derived().unwrap(), None);
}

/// Each trail's last record is kept as batches are appended, and a scan of
/// one trail reads its rows only.
pub(crate) fn trails_keep_their_last_record(f: &impl Fixture) {
    let mut s = f.records();
    assert!(s.trails().unwrap().is_empty());
    s.append(&batch(1..=7)).unwrap();
    s.append(&batch(8..=8)).unwrap();
    let heads: Vec<(Option<String>, u64, String)> = s
        .trails()
        .unwrap()
        .into_iter()
        .map(|t| (t.project, t.seq, t.hash))
        .collect();
    assert_eq!(
        heads,
        [
            (Some("p0".to_owned()), 8, sealed(8).hash().to_owned()),
            (Some("p1".to_owned()), 7, sealed(7).hash().to_owned()),
        ]
    );
    // Another handle sees the same.
    assert_eq!(f.records().trails().unwrap().len(), 2);
    let mut odd = Vec::new();
    s.scan_trail(Some("p1"), 1, 7, &mut |row| {
        odd.push(row.seq);
        Ok(true)
    })
    .unwrap();
    assert_eq!(odd, [3, 5, 7]);
    let mut none = 0;
    s.scan_trail(None, 0, u64::MAX, &mut |_| {
        none += 1;
        Ok(true)
    })
    .unwrap();
    assert_eq!(none, 0);
}

/// A reader on another handle sees every committed batch, whole.
pub(crate) fn readers_see_committed_batches(f: &impl Fixture) {
    let (mut writer, mut reader) = (f.records(), f.records());
    assert_eq!(reader.head().unwrap(), None);
    writer.append(&batch(1..=3)).unwrap();
    assert_eq!(reader.head().unwrap().map(|h| h.seq), Some(3));
    writer.append(&batch(4..=9)).unwrap();
    assert_eq!(
        query(&mut reader, &Filter::default(), Cursor::NEWEST, 100),
        [9, 8, 7, 6, 5, 4, 3, 2, 1]
    );
}
