//! Queries: one page of records matching a [`Filter`], in `seq` order from
//! a [`Cursor`], inside one read transaction; time windows by binary search
//! on `seq` (times never decrease along it), sessions and agents through
//! [`super::postings`].

use super::postings::{POSTED_THROUGH, decode_seqs};
use super::{sql_err, text, to_i64, to_u64};
use crate::record::{Broken, Record, format_ts};
use crate::store::records::{Cursor, Filter};
use crate::{Error, Result};
use rusqlite::Connection;
use rusqlite::params;
use rusqlite::types::{Value, ValueRef};
use std::path::Path;

/// The first `seq` whose `ts` is at or after `ts` (binary search: times
/// never decrease along `seq`).
pub(super) fn first_at_or_after(conn: &Connection, ts: &str) -> rusqlite::Result<Option<u64>> {
    let (min, max): (Option<i64>, Option<i64>) =
        conn.query_row("SELECT min(seq), max(seq) FROM records", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    // Keys below 1 are not records (and would overflow the midpoint).
    let (Some(min), Some(max)) = (min.map(|m| m.max(1)), max) else {
        return Ok(None);
    };
    if min > max {
        return Ok(None);
    }
    let mut at =
        conn.prepare_cached("SELECT seq, ts FROM records WHERE seq >= ?1 ORDER BY seq LIMIT 1")?;
    // The first row at or after `seq`; there is one for every seq <= max.
    let mut row_at = |seq: i64| -> rusqlite::Result<(i64, String)> {
        at.query_row([seq], |r| {
            Ok((r.get(0)?, text(r.get_ref(1)?).unwrap_or_default()))
        })
    };
    if row_at(max)?.1.as_str() < ts {
        return Ok(None);
    }
    let (mut lo, mut hi) = (min, max);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if row_at(mid)?.1.as_str() >= ts {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Ok(Some(to_u64(row_at(lo)?.0)))
}

/// The last `seq` whose `ts` is before `ts`.
pub(super) fn last_before(conn: &Connection, ts: &str) -> rusqlite::Result<Option<u64>> {
    let bound = first_at_or_after(conn, ts)?.map_or(i64::MAX, to_i64);
    let max: Option<i64> = conn.query_row(
        "SELECT max(seq) FROM records WHERE seq < ?1",
        [bound],
        |r| r.get(0),
    )?;
    Ok(max.map(to_u64))
}

// ---- queries ----

/// The conditions of a query and their arguments.
#[derive(Default, Clone)]
struct Where {
    conds: Vec<String>,
    args: Vec<Value>,
}

impl Where {
    /// Adds `<cond> ?N`.
    fn and(&mut self, cond: &str, arg: Value) {
        self.args.push(arg);
        self.conds.push(format!("{cond} ?{}", self.args.len()));
    }

    /// Adds `<column> IN (?N, …)`; an empty set matches nothing.
    fn and_in(&mut self, column: &str, values: &[String]) {
        if values.is_empty() {
            self.conds.push("0".into());
            return;
        }
        let mut marks = Vec::with_capacity(values.len());
        for v in values {
            self.args.push(Value::Text(v.clone()));
            marks.push(format!("?{}", self.args.len()));
        }
        self.conds
            .push(format!("{column} IN ({})", marks.join(", ")));
    }

    /// `SELECT r.seq, r.body FROM records r WHERE … ORDER BY r.seq … LIMIT …`.
    fn select(mut self, desc: bool, limit: usize) -> (String, Vec<Value>) {
        self.args.push(Value::Integer(to_i64(limit as u64)));
        let sql = format!(
            "SELECT r.seq, r.body FROM records r WHERE {} ORDER BY r.seq {} LIMIT ?{}",
            self.conds.join(" AND "),
            if desc { "DESC" } else { "ASC" },
            self.args.len()
        );
        (sql, self.args)
    }
}

/// The filter's conditions on `records r`. The `+` keeps the planner on the
/// `seq` key.
fn conditions(filter: &Filter) -> Where {
    let mut q = Where::default();
    let text_filters = [
        ("+r.session =", &filter.session),
        ("+r.agent =", &filter.agent),
        ("+r.project =", &filter.project),
        ("+r.decision_id =", &filter.decision_id),
    ];
    for (c, v) in text_filters {
        if let Some(v) = v {
            q.and(c, Value::Text(v.clone()));
        }
    }
    if let Some(projects) = &filter.projects {
        q.and_in("+r.project", projects);
    }
    if let Some(d) = filter.decision {
        q.and("+r.decision =", Value::Text(d.as_str().into()));
    }
    if let Some(k) = filter.kind {
        q.and("+r.kind =", Value::Text(k.as_str().into()));
    }
    if let Some(t) = filter.from_ts {
        q.and("+r.ts >=", Value::Text(format_ts(t)));
    }
    if let Some(t) = filter.to_ts {
        q.and("+r.ts <", Value::Text(format_ts(t)));
    }
    q
}

/// One page of a query, read inside one transaction.
struct Page<'a> {
    conn: &'a Connection,
    path: &'a Path,
    conds: Where,
    desc: bool,
    limit: usize,
    out: Vec<Record>,
}

impl Page<'_> {
    fn full(&self) -> bool {
        self.out.len() >= self.limit
    }

    fn sql_err(&self, e: rusqlite::Error) -> Error {
        sql_err(self.path, e)
    }

    /// Matching records with `lo <= seq <= hi`.
    fn range(&mut self, lo: u64, hi: u64) -> Result<()> {
        if lo > hi || self.full() {
            return Ok(());
        }
        let mut q = self.conds.clone();
        q.and("r.seq >=", Value::Integer(to_i64(lo)));
        q.and("r.seq <=", Value::Integer(to_i64(hi)));
        self.read(q)
    }

    /// Matching records of `field = value` with `lo <= seq <= hi`, through
    /// `postings`.
    fn posted(&mut self, field: &str, value: &str, lo: u64, hi: u64) -> Result<()> {
        if lo > hi || self.full() {
            return Ok(());
        }
        let sql = format!(
            "SELECT first_seq, seqs FROM postings \
             WHERE field = ?1 AND value = ?2 AND upto >= ?3 AND first_seq <= ?4 \
             ORDER BY upto {}",
            if self.desc { "DESC" } else { "ASC" }
        );
        let conn = self.conn;
        let mut st = conn.prepare_cached(&sql).map_err(|e| self.sql_err(e))?;
        let mut rows = st
            .query(params![field, value, to_i64(lo), to_i64(hi)])
            .map_err(|e| self.sql_err(e))?;
        while !self.full()
            && let Some(r) = rows.next().map_err(|e| self.sql_err(e))?
        {
            let first = to_u64(r.get(0).map_err(|e| self.sql_err(e))?);
            let seqs = match r.get_ref(1).map_err(|e| self.sql_err(e))? {
                ValueRef::Blob(b) => decode_seqs(first, b),
                _ => None,
            };
            let Some(seqs) = seqs else {
                return Err(Error::AuditBroken(Broken::Edited {
                    seq: first,
                    what: "its postings entry is unreadable".into(),
                }));
            };
            let seqs: Vec<u64> = seqs.into_iter().filter(|s| (lo..=hi).contains(s)).collect();
            if seqs.is_empty() {
                continue;
            }
            let list = serde_json::to_string(&seqs).map_err(|e| Error::Audit {
                message: format!("cannot encode a seq list: {e}"),
            })?;
            let mut q = self.conds.clone();
            q.and("r.seq IN (SELECT value FROM json_each(", Value::Text(list));
            if let Some(c) = q.conds.last_mut() {
                c.push_str("))");
            }
            self.read(q)?;
        }
        Ok(())
    }

    fn read(&mut self, q: Where) -> Result<()> {
        let (sql, args) = q.select(self.desc, self.limit - self.out.len());
        let conn = self.conn;
        let mut st = conn.prepare_cached(&sql).map_err(|e| self.sql_err(e))?;
        let mut rows = st
            .query(rusqlite::params_from_iter(args))
            .map_err(|e| self.sql_err(e))?;
        while !self.full()
            && let Some(r) = rows.next().map_err(|e| self.sql_err(e))?
        {
            let seq = to_u64(r.get(0).map_err(|e| self.sql_err(e))?);
            let body = text(r.get_ref(1).map_err(|e| self.sql_err(e))?).unwrap_or_default();
            let record: Record = serde_json::from_str(&body).map_err(|err| {
                Error::AuditBroken(Broken::Edited {
                    seq,
                    what: format!("the stored body is not a record: {err}"),
                })
            })?;
            self.out.push(record);
        }
        Ok(())
    }
}

pub(super) fn query_page(
    conn: &Connection,
    path: &Path,
    filter: &Filter,
    cursor: Cursor,
    limit: usize,
) -> Result<Vec<Record>> {
    let e = |e| sql_err(path, e);
    let (mut lo, mut hi, desc) = match cursor {
        Cursor::After(c) => (c.saturating_add(1), u64::MAX, false),
        Cursor::Before(c) => (0, c.saturating_sub(1), true),
    };
    if let Some(t) = filter.from_ts {
        match first_at_or_after(conn, &format_ts(t)).map_err(e)? {
            Some(s) => lo = lo.max(s),
            None => return Ok(Vec::new()),
        }
    }
    if let Some(t) = filter.to_ts {
        match last_before(conn, &format_ts(t)).map_err(e)? {
            Some(s) => hi = hi.min(s),
            None => return Ok(Vec::new()),
        }
    }
    let mut page = Page {
        conn,
        path,
        conds: conditions(filter),
        desc,
        limit,
        out: Vec::new(),
    };
    let key = match (&filter.session, &filter.agent) {
        (Some(s), _) => Some(("session", s)),
        (None, Some(a)) => Some(("agent", a)),
        (None, None) => None,
    };
    match key {
        None => page.range(lo, hi)?,
        Some((field, value)) => {
            // Through the postings up to the last pass, then the records
            // after it.
            let through: i64 = conn
                .query_row(POSTED_THROUGH, [], |r| r.get(0))
                .map_err(e)?;
            let through = to_u64(through);
            let tail = lo.max(through.saturating_add(1));
            if desc {
                page.range(tail, hi)?;
                page.posted(field, value, lo, hi.min(through))?;
            } else {
                page.posted(field, value, lo, hi.min(through))?;
                page.range(tail, hi)?;
            }
        }
    }
    Ok(page.out)
}
