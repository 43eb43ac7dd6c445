//! [`AuditStore`] for [`SqliteStore`]: appends (one transaction per batch,
//! with the postings pass when one is due), reads, the `meta` table and
//! retention cuts.

use super::postings::{check_postings, load_unposted, write_postings};
use super::query::{last_before, query_page};
use super::{SqliteStore, sql_err, stored_row, text, to_i64, to_u64};
use crate::decision::Outcome;
use crate::record::{Broken, Record, SealedRecord};
use crate::store::records::{
    AuditStore, CHECKPOINT_KEY, ChainHead, Checkpoint, Cursor, Filter, MAX_PAGE, StoredRow,
    TrailHead, trail_key,
};
use crate::{Error, Result};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::collections::BTreeMap;

const INSERT: &str = "INSERT INTO records \
    (seq, ts, kind, decision_id, agent, session, project, decision, body, hash) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
const COLUMNS: &str = "seq, ts, kind, decision_id, agent, session, project, decision, body, hash";
/// Brings `trails` up to the last record: each trail's last record after
/// `trails_through`, then `trails_through` itself.
const UPDATE_TRAILS: &str = "\
    INSERT INTO trails (project, seq, hash) \
    SELECT coalesce(project, ''), seq, hash FROM records WHERE seq IN ( \
        SELECT max(seq) FROM records \
        WHERE seq > (SELECT coalesce(max(CAST(value AS INTEGER)), 0) FROM meta \
                     WHERE key = 'trails_through') \
        GROUP BY project) \
    ON CONFLICT (project) DO UPDATE SET seq = excluded.seq, hash = excluded.hash";
const SET_TRAILS_THROUGH: &str = "\
    INSERT INTO meta (key, value) SELECT 'trails_through', coalesce(max(seq), 0) FROM records \
    WHERE true ON CONFLICT (key) DO UPDATE SET value = excluded.value";
/// `meta` key: the last `seq` that `trails` covers.
const TRAILS_THROUGH: &str = "trails_through";
const SET_META: &str = "INSERT INTO meta (key, value) VALUES (?1, ?2) \
    ON CONFLICT (key) DO UPDATE SET value = excluded.value";

impl AuditStore for SqliteStore {
    fn append(&mut self, batch: &[SealedRecord]) -> Result<()> {
        let Some(last) = batch.last().map(SealedRecord::seq) else {
            return Ok(());
        };
        let mut unposted = match self.unposted.take() {
            Some(u) => u,
            None => load_unposted(&self.conn).map_err(|e| self.err(e))?,
        };
        let before = unposted.len();
        unposted.extend(batch.iter().map(|s| {
            let c = s.columns();
            (s.seq(), c.session.clone(), c.agent.clone())
        }));
        let post = unposted.len() as u64 >= self.post_every;
        let write = |conn: &mut Connection| -> rusqlite::Result<()> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut insert = tx.prepare_cached(INSERT)?;
                for s in batch {
                    let c = s.columns();
                    insert.execute(params![
                        to_i64(s.seq()),
                        s.ts(),
                        c.kind.as_str(),
                        c.decision_id,
                        c.agent,
                        c.session,
                        c.project,
                        c.decision.map(Outcome::as_str),
                        s.body(),
                        s.hash(),
                    ])?;
                }
            }
            if post {
                // Each trail's last record, with the posting pass, from the
                // records themselves (whoever wrote them since the last one).
                tx.prepare_cached(UPDATE_TRAILS)?.execute([])?;
                tx.prepare_cached(SET_TRAILS_THROUGH)?.execute([])?;
            }
            if post {
                write_postings(&tx, &unposted, last)?;
            }
            tx.commit()
        };
        let result = write(&mut self.conn);
        match result {
            Ok(()) if post => unposted.clear(),
            Ok(()) => {}
            Err(_) => unposted.truncate(before),
        }
        self.unposted = Some(unposted);
        result.map_err(|e| self.err(e))
    }

    fn head(&mut self) -> Result<Option<ChainHead>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT seq, hash, ts FROM records ORDER BY seq DESC LIMIT 1")
            .map_err(|e| sql_err(&self.path, e))?;
        st.query_row([], |r| {
            Ok(ChainHead {
                seq: to_u64(r.get(0)?),
                hash: text(r.get_ref(1)?).unwrap_or_default(),
                ts: text(r.get_ref(2)?).unwrap_or_default(),
            })
        })
        .optional()
        .map_err(|e| sql_err(&self.path, e))
    }

    fn trails(&mut self) -> Result<Vec<TrailHead>> {
        // The table as of its last pass, then the records after it, in one
        // read transaction.
        let read = |conn: &mut Connection| -> rusqlite::Result<BTreeMap<String, (u64, String)>> {
            let tx = conn.transaction()?;
            let mut heads = BTreeMap::new();
            {
                let mut st = tx.prepare_cached("SELECT project, seq, hash FROM trails")?;
                let mut rows = st.query([])?;
                while let Some(r) = rows.next()? {
                    let head = (to_u64(r.get(1)?), text(r.get_ref(2)?).unwrap_or_default());
                    heads.insert(text(r.get_ref(0)?).unwrap_or_default(), head);
                }
                let through: Option<String> = tx
                    .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
                    .query_row([TRAILS_THROUGH], |r| r.get(0))
                    .optional()?;
                let through = through.and_then(|t| t.parse::<i64>().ok()).unwrap_or(0);
                let mut st = tx.prepare_cached(
                    "SELECT seq, project, hash FROM records WHERE seq > ?1 ORDER BY seq",
                )?;
                let mut rows = st.query([through])?;
                while let Some(r) = rows.next()? {
                    let head = (to_u64(r.get(0)?), text(r.get_ref(2)?).unwrap_or_default());
                    heads.insert(text(r.get_ref(1)?).unwrap_or_default(), head);
                }
            }
            tx.commit()?;
            Ok(heads)
        };
        let heads = read(&mut self.conn).map_err(|e| self.err(e))?;
        Ok(heads
            .into_iter()
            .map(|(project, (seq, hash))| TrailHead {
                project: (!project.is_empty()).then_some(project),
                seq,
                hash,
            })
            .collect())
    }

    fn query(&mut self, filter: &Filter, cursor: Cursor, limit: usize) -> Result<Vec<Record>> {
        let limit = limit.min(MAX_PAGE);
        if limit == 0 {
            return Ok(Vec::new());
        }
        let path = self.path.clone();
        // One read transaction: one snapshot for the bounds and the pages.
        let tx = self.conn.transaction().map_err(|e| sql_err(&path, e))?;
        let out = query_page(&tx, &path, filter, cursor, limit)?;
        tx.commit().map_err(|e| sql_err(&path, e))?;
        Ok(out)
    }

    fn row(&mut self, seq: u64) -> Result<Option<StoredRow>> {
        let sql = format!("SELECT {COLUMNS} FROM records WHERE seq = ?1");
        let mut st = self.conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        st.query_row([to_i64(seq)], stored_row)
            .optional()
            .map_err(|e| sql_err(&self.path, e))
    }

    fn scan(
        &mut self,
        after_seq: u64,
        through_seq: u64,
        visit: &mut dyn FnMut(StoredRow) -> Result<bool>,
    ) -> Result<()> {
        self.scan_rows(after_seq, through_seq, None, visit)
    }

    fn scan_trail(
        &mut self,
        project: Option<&str>,
        after_seq: u64,
        through_seq: u64,
        visit: &mut dyn FnMut(StoredRow) -> Result<bool>,
    ) -> Result<()> {
        self.scan_rows(after_seq, through_seq, Some(project), visit)
    }

    fn last_seq_before(
        &mut self,
        project: Option<&str>,
        ts: &str,
        through_seq: u64,
    ) -> Result<Option<u64>> {
        let last = last_before(&self.conn, ts).map_err(|e| self.err(e))?;
        let Some(last) = last.map(|l| l.min(through_seq)) else {
            return Ok(None);
        };
        // Backwards from `last` to the trail's first record there.
        let seq: Option<i64> = self
            .conn
            .query_row(
                "SELECT seq FROM records WHERE seq <= ?1 AND project IS ?2 \
                 ORDER BY seq DESC LIMIT 1",
                params![to_i64(last), project],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        Ok(seq.map(to_u64))
    }

    fn meta(&mut self, key: &str) -> Result<Option<String>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT value FROM meta WHERE key = ?1")
            .map_err(|e| sql_err(&self.path, e))?;
        st.query_row([key], |r| Ok(text(r.get_ref(0)?)))
            .optional()
            .map(Option::flatten)
            .map_err(|e| sql_err(&self.path, e))
    }

    fn set_meta(&mut self, key: &str, value: &str) -> Result<()> {
        let mut st = self
            .conn
            .prepare_cached(SET_META)
            .map_err(|e| sql_err(&self.path, e))?;
        st.execute([key, value])
            .map(drop)
            .map_err(|e| sql_err(&self.path, e))
    }

    fn cut(
        &mut self,
        project: Option<&str>,
        after_seq: u64,
        expected: u64,
        checkpoint: &Checkpoint,
    ) -> Result<u64> {
        let value = serde_json::to_string(checkpoint).map_err(|e| Error::Audit {
            message: format!("cannot encode the checkpoint: {e}"),
        })?;
        let key = trail_key(CHECKPOINT_KEY, project);
        let (after, seq) = (to_i64(after_seq), to_i64(checkpoint.seq));
        let cut = |conn: &mut Connection| -> rusqlite::Result<usize> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.prepare_cached(SET_META)?
                .execute([key.as_str(), value.as_str()])?;
            let deleted = tx
                .prepare_cached(
                    "DELETE FROM records WHERE seq > ?1 AND seq <= ?2 AND project IS ?3",
                )?
                .execute(params![after, seq, project])?;
            if deleted as u64 != expected {
                // Dropping the transaction rolls it back.
                return Ok(deleted);
            }
            // Posting passes that no remaining record is in.
            tx.prepare_cached(
                "DELETE FROM postings WHERE upto < \
                 (SELECT coalesce(min(seq), ?1 + 1) FROM records)",
            )?
            .execute([seq])?;
            tx.commit()?;
            Ok(deleted)
        };
        let deleted = cut(&mut self.conn).map_err(|e| self.err(e))? as u64;
        if deleted != expected {
            return Err(Error::AuditBroken(Broken::Malformed {
                what: format!(
                    "a retention cut of {} through record {} would remove {deleted} records, \
                     not the {expected} counted: nothing was removed",
                    crate::store::trail_name(project),
                    checkpoint.seq
                ),
            }));
        }
        Ok(deleted)
    }

    fn maintain(&mut self) -> Result<()> {
        // PASSIVE: copies what it can without waiting for readers or the
        // writer; the WAL starts over once it is all copied.
        self.conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
            .map_err(|e| self.err(e))
    }

    fn check_derived(&mut self) -> Result<Option<Broken>> {
        // Records cut by retention are missing from passes that other
        // trails' records keep: the check skips entries without a record.
        check_postings(&self.conn, 0).map_err(|e| self.err(e))
    }
}

impl SqliteStore {
    /// The rows with `after_seq < seq <= through_seq` (of one trail when
    /// `trail` is given), in `seq` order, from one statement (one WAL
    /// snapshot, however long it runs), until `visit` says stop.
    fn scan_rows(
        &mut self,
        after_seq: u64,
        through_seq: u64,
        trail: Option<Option<&str>>,
        visit: &mut dyn FnMut(StoredRow) -> Result<bool>,
    ) -> Result<()> {
        let path = self.path.clone();
        let e = |e| sql_err(&path, e);
        let trail_cond = if trail.is_some() {
            " AND project IS ?3"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM records WHERE seq > ?1 AND seq <= ?2{trail_cond} ORDER BY seq"
        );
        let mut st = self.conn.prepare_cached(&sql).map_err(e)?;
        let (after, through) = (to_i64(after_seq), to_i64(through_seq));
        let mut rows = match trail {
            Some(project) => st.query(params![after, through, project]),
            None => st.query(params![after, through]),
        }
        .map_err(e)?;
        while let Some(r) = rows.next().map_err(e)? {
            if !visit(stored_row(r).map_err(e)?)? {
                break;
            }
        }
        Ok(())
    }
}
