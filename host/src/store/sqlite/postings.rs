//! Which records belong to a session or an agent: the `postings` table.
//!
//! # Why no secondary indexes on `records`
//!
//! The store is on the decision path, so what a record costs to write
//! matters more than anything else here. Measured on the target machine
//! (2 cores, one fsync ≈ 0.21 ms; 200k records from 64 concurrent tasks with
//! 64 sessions and 8 agents; batches of about 32), the writer managed about
//! 21k records/s with `(session, seq)` and `(agent, seq)` indexes on
//! `records` (and half that with one on the random `decision_id`), about
//! 35k/s with those copied into an indexed side table in bulk instead, about
//! 47k/s with an index on `ts` alone and about 60k/s with none. Every index
//! whose inserts spread over many pages (one hot page per active session,
//! any page at all for random ids) makes every commit write that many more
//! 4 KiB pages to the WAL, and every insert costs a B-tree descent. Hence,
//! at about 50–60k/s with the postings below:
//!
//! * `ts`: no index. Times never decrease along `seq` (the writer sees to
//!   that and verification checks it), so a time window is found by binary
//!   search on `seq` (a few dozen key lookups).
//! * session and agent: `postings`. The writer keeps the `(seq, session,
//!   agent)` of the last records in memory and, in the transaction of the
//!   batch that reaches [`POST_EVERY`] of them, writes one row per session and
//!   per agent listing their `seq`s. Queries read those lists up to the last
//!   pass and scan the few records after it.
//! * `decision_id`: no index (decision ids are random). Find a decision by id
//!   together with a time window, a session or an agent.

use super::{Unposted, text, to_i64, to_u64};
use crate::record::Broken;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, params};
use std::collections::{BTreeMap, HashMap};

const INSERT_POSTING: &str =
    "INSERT INTO postings (field, value, upto, first_seq, seqs) VALUES (?1, ?2, ?3, ?4, ?5)";
pub(super) const POSTED_THROUGH: &str = "SELECT coalesce(max(upto), 0) FROM postings";

/// How many records the writer lets accumulate before writing their
/// `postings` (queries by session or agent scan at most about this many
/// records beyond the last pass).
pub const POST_EVERY: u64 = 1024;

/// Ascending `seqs` as LEB128 deltas from the first (whose delta is 0).
pub(super) fn encode_seqs(seqs: &[u64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(seqs.len() * 2);
    let mut prev = seqs.first().copied().unwrap_or(0);
    for &s in seqs {
        let mut d = s - prev;
        prev = s;
        loop {
            let byte = (d & 0x7f) as u8;
            d >>= 7;
            if d == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
    }
    out
}

/// The inverse of [`encode_seqs`]; `None` if `bytes` is not such a list.
pub(super) fn decode_seqs(first: u64, bytes: &[u8]) -> Option<Vec<u64>> {
    let mut out = Vec::with_capacity(bytes.len());
    let (mut d, mut shift, mut seq) = (0u64, 0u32, first);
    for &b in bytes {
        d |= u64::from(b & 0x7f).checked_shl(shift)?;
        if b & 0x80 != 0 {
            shift += 7;
            if shift > 63 {
                return None;
            }
            continue;
        }
        if (d == 0) != out.is_empty() {
            return None;
        }
        seq = seq.checked_add(d)?;
        out.push(seq);
        (d, shift) = (0, 0);
    }
    (shift == 0 && !out.is_empty()).then_some(out)
}

/// Writes one posting row per session and per agent of `unposted`.
pub(super) fn write_postings(
    conn: &Connection,
    unposted: &[Unposted],
    upto: u64,
) -> rusqlite::Result<()> {
    let mut lists: BTreeMap<(&str, &str), Vec<u64>> = BTreeMap::new();
    for (seq, session, agent) in unposted {
        if let Some(s) = session {
            lists.entry(("session", s)).or_default().push(*seq);
        }
        if let Some(a) = agent {
            lists.entry(("agent", a)).or_default().push(*seq);
        }
    }
    let mut insert = conn.prepare_cached(INSERT_POSTING)?;
    for ((field, value), seqs) in lists {
        let first = seqs.first().copied().unwrap_or(0);
        insert.execute(params![
            field,
            value,
            to_i64(upto),
            to_i64(first),
            encode_seqs(&seqs)
        ])?;
    }
    Ok(())
}

/// The records after the last posting pass.
pub(super) fn load_unposted(conn: &Connection) -> rusqlite::Result<Vec<Unposted>> {
    let through: i64 = conn.query_row(POSTED_THROUGH, [], |r| r.get(0))?;
    let mut st =
        conn.prepare_cached("SELECT seq, session, agent FROM records WHERE seq > ?1 ORDER BY seq")?;
    let rows = st.query_map([through], |r| {
        Ok((to_u64(r.get(0)?), text(r.get_ref(1)?), text(r.get_ref(2)?)))
    })?;
    rows.collect()
}

/// Checks `postings` against the records' `session` and `agent` columns
/// (which verification checks against the bodies): pass by pass, every
/// record after `floor` is listed under its session and its agent and
/// nowhere else. A missing or altered entry would hide a record from
/// queries.
pub(super) fn check_postings(conn: &Connection, floor: u64) -> rusqlite::Result<Option<Broken>> {
    let broken = |seq: u64, what: &str| {
        Ok(Some(Broken::Edited {
            seq,
            what: what.to_owned(),
        }))
    };
    let uptos: Vec<u64> = conn
        .prepare("SELECT DISTINCT upto FROM postings ORDER BY upto")?
        .query_map([], |r| r.get(0).map(to_u64))?
        .collect::<rusqlite::Result<_>>()?;
    let mut rows_of =
        conn.prepare_cached("SELECT field, value, first_seq, seqs FROM postings WHERE upto = ?1")?;
    let mut records_in = conn.prepare_cached(
        "SELECT seq, session, agent FROM records WHERE seq > ?1 AND seq <= ?2 ORDER BY seq",
    )?;
    let mut prev = floor;
    for upto in uptos {
        if upto <= floor {
            continue;
        }
        // seq → (session, agent), as the postings of this pass say.
        let mut listed: HashMap<u64, (Option<String>, Option<String>)> = HashMap::new();
        let mut rows = rows_of.query([to_i64(upto)])?;
        while let Some(r) = rows.next()? {
            let field = text(r.get_ref(0)?);
            let value = text(r.get_ref(1)?);
            let first = to_u64(r.get(2)?);
            let seqs = match r.get_ref(3)? {
                ValueRef::Blob(b) => decode_seqs(first, b),
                _ => None,
            };
            let Some(seqs) = seqs else {
                return broken(first, "its postings entry is unreadable");
            };
            for seq in seqs {
                if seq <= floor {
                    continue; // cut by retention
                }
                if seq <= prev || seq > upto {
                    return broken(seq, "it is listed in the postings of another pass");
                }
                let slot = listed.entry(seq).or_default();
                let taken = match field.as_deref() {
                    Some("session") => slot.0.replace(value.clone().unwrap_or_default()),
                    Some("agent") => slot.1.replace(value.clone().unwrap_or_default()),
                    _ => return broken(seq, "its postings entry has an unknown field"),
                };
                if taken.is_some() {
                    return broken(seq, "it is listed twice in the postings");
                }
            }
        }
        let mut rows = records_in.query([to_i64(prev), to_i64(upto)])?;
        while let Some(r) = rows.next()? {
            let seq = to_u64(r.get(0)?);
            let columns = (text(r.get_ref(1)?), text(r.get_ref(2)?));
            if listed.remove(&seq).unwrap_or_default() != columns {
                return broken(
                    seq,
                    "its session/agent postings entry is missing or differs from the record",
                );
            }
        }
        // Entries left over name records that are not there (any missing
        // record is the chain's finding, not this one's).
        prev = upto;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_lists_round_trip() {
        for seqs in [
            vec![1],
            vec![5, 6, 7, 300, 301, 100_000, u64::from(u32::MAX) + 7],
        ] {
            let first = seqs[0];
            assert_eq!(decode_seqs(first, &encode_seqs(&seqs)), Some(seqs));
        }
        assert_eq!(decode_seqs(1, &[]), None);
        assert_eq!(decode_seqs(1, &[0x80]), None);
        assert_eq!(decode_seqs(1, &[1]), None); // the first delta is 0
        assert_eq!(decode_seqs(1, &[0, 0]), None); // not ascending
        assert_eq!(decode_seqs(1, &[0xff; 12]), None);
    }
}
