//! Export: JSON lines, one file per complete hour or day, each verifiable on
//! its own.
//!
//! A file `audit-2026-11-23T14.jsonl` (hourly) or `audit-2026-11-23.jsonl`
//! (daily, UTC) holds:
//!
//! ```text
//! {"palisade_audit_export":1,"period":"2026-11-23T14","first_seq":51,"last_seq":90,"prev_hash":"…"}
//! <the body of record 51, exactly as stored>
//! …
//! <the body of record 90>
//! {"last_hash":"…","count":40}
//! ```
//!
//! A file holds the records of one trail: one project's (the header then
//! names it, `"project":"billing"`) or the server's. `prev_hash` is the hash
//! of the trail's record before `first_seq` (64 zeros for its first record),
//! so the file verifies alone ([`verify_export_file`](super::verify_export_file))
//! and consecutive files of a trail verify as one chain
//! ([`verify_export_files`](super::verify_export_files)). `seq`s rise along
//! the file, with gaps where other trails' records lie.
//!
//! Export is incremental and idempotent: the store's `meta` table remembers
//! the last exported record, and a period is exported once it is over (or,
//! when a server stops, with whatever it holds: [`Horizon::Everything`]).
//! Files go through an [`ExportSink`]: [`DirSink`] writes a directory,
//! [`S3Sink`](super::s3::S3Sink) an S3-compatible bucket;
//! [`Destination`](super::destination::Destination) says which.

use super::dir::DirSink;
use super::entry::GENESIS_HASH;
use super::sink::ExportSink;
use super::verify::Chain;
use crate::record::{Broken, format_ts};
use crate::store::{AuditStore, ExportMark};
use crate::{Error, Result};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

/// How records are grouped into files (UTC).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// One file per hour (the policy's default).
    #[default]
    Hourly,
    /// One file per day.
    Daily,
}

impl Period {
    fn micros(self) -> i64 {
        match self {
            Self::Hourly => 3_600_000_000,
            Self::Daily => 86_400_000_000,
        }
    }

    /// The period of a canonical `ts`: `2026-11-23T14` or `2026-11-23`.
    fn key(self, ts: &str) -> &str {
        let n = match self {
            Self::Hourly => 13,
            Self::Daily => 10,
        };
        ts.get(..n).unwrap_or(ts)
    }

    /// The start of the period containing `micros`.
    fn floor(self, micros: i64) -> i64 {
        micros - micros.rem_euclid(self.micros())
    }
}

/// A period must have ended this long ago to be exported, unless a later
/// record already shows the writer has moved past it (a record's time is
/// taken just before its batch commits).
const GRACE_MICROS: i64 = 60_000_000;

/// One exported file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportedFile {
    /// Its name, e.g. `audit-2026-11-23T14.jsonl`.
    pub name: String,
    /// The trail's project; `None` for the server's trail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// Its period, e.g. `2026-11-23T14`.
    pub period: String,
    /// The first record in it.
    pub first_seq: u64,
    /// The last record in it.
    pub last_seq: u64,
    /// How many records.
    pub count: u64,
    /// The hash of the trail's record before `first_seq`.
    pub prev_hash: String,
    /// The hash of record `last_seq`.
    pub last_hash: String,
}

/// An export file's first line.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Header {
    pub(super) palisade_audit_export: u32,
    /// The trail's project; absent for the server's trail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) project: Option<String>,
    pub(super) period: String,
    pub(super) first_seq: u64,
    pub(super) last_seq: u64,
    pub(super) prev_hash: String,
}

/// An export file's last line.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Trailer {
    pub(super) last_hash: String,
    pub(super) count: u64,
}

fn json_line<T: Serialize>(w: &mut dyn Write, value: &T, name: &str) -> Result<()> {
    let mut line = serde_json::to_vec(value).map_err(|e| Error::Audit {
        message: format!("cannot encode `{name}`: {e}"),
    })?;
    line.push(b'\n');
    w.write_all(&line).map_err(|source| Error::Io {
        path: name.into(),
        source,
    })
}

fn ts_of(micros: i64) -> Result<String> {
    Timestamp::from_microsecond(micros)
        .map(format_ts)
        .map_err(|e| Error::Audit {
            message: format!("time out of range: {e}"),
        })
}

/// How far an [`export`] goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Horizon {
    /// The periods complete at this time (normally now): a period is
    /// complete once it ended 60 s before, or earlier if a later record
    /// already exists (a record's time is taken just before its batch
    /// commits, so a late record of an ended period may still come within
    /// that minute).
    Complete(Timestamp),
    /// Every record stored, the period still open included: for a server
    /// that stops, so that it leaves nothing unexported. Records of that
    /// period written later go into a file of their own
    /// (`audit-<period>.<first_seq>.jsonl`).
    Everything,
}

impl From<Timestamp> for Horizon {
    fn from(up_to: Timestamp) -> Self {
        Self::Complete(up_to)
    }
}

/// The first `ts` that a [`Horizon::Complete`] export at `up_to` leaves out.
fn complete_cutoff(store: &mut dyn AuditStore, period: Period, up_to: Timestamp) -> Result<String> {
    let up_to = up_to.as_microsecond();
    let now_floor = period.floor(up_to);
    let graced_floor = period.floor(up_to.saturating_sub(GRACE_MICROS));
    let mut cutoff = ts_of(graced_floor)?;
    if now_floor > graced_floor {
        let boundary = ts_of(now_floor)?;
        if store.head()?.is_some_and(|h| h.ts >= boundary) {
            cutoff = boundary;
        }
    }
    Ok(cutoff)
}

/// Exports every record of the trail of `project` (`None`: the server's)
/// up to `horizon` (a time: the periods complete then) that has not been
/// exported yet, one file per period, into `sink`; returns the files written
/// (none if there is nothing new).
///
/// The records exported are verified on the way (an
/// [`Error::AuditBroken`] stops the export before anything is marked as
/// exported); a file is marked exported only once the sink has committed
/// it, so an error leaves the rest for the next export. Files are named
/// after their period (`audit-2026-11-23T14.jsonl`); records of a period
/// that was exported already (a late record, or records written after a
/// [`Horizon::Everything`] export) go into a file named after their period
/// and first record (`audit-2026-11-23T14.97.jsonl`) rather than replacing
/// the earlier file.
pub fn export(
    store: &mut dyn AuditStore,
    sink: &mut dyn ExportSink,
    project: Option<&str>,
    period: Period,
    horizon: impl Into<Horizon>,
) -> Result<Vec<ExportedFile>> {
    let mark = store.export_mark(project)?;
    let checkpoint = store.checkpoint(project)?;
    let (start_seq, start_hash) = match (mark, checkpoint) {
        (Some(m), Some(c)) if c.seq > m.seq => (c.seq, c.hash),
        (Some(m), _) => (m.seq, m.hash),
        (None, Some(c)) => (c.seq, c.hash),
        (None, None) => (0, GENESIS_HASH.to_owned()),
    };
    let cutoff = match horizon.into() {
        Horizon::Complete(up_to) => Some(complete_cutoff(store, period, up_to)?),
        Horizon::Everything => None,
    };

    // Pass 1: which records go into which file.
    let mut groups: Vec<ExportedFile> = Vec::new();
    let mut chain = Chain::new(start_seq, start_hash, "the last export");
    let mut broken = None;
    store.scan_trail(project, start_seq, u64::MAX, &mut |row| {
        let record = match chain.check_row(&row) {
            Ok(r) => r,
            Err(b) => {
                broken = Some(b);
                return Ok(false);
            }
        };
        if cutoff.as_ref().is_some_and(|c| &record.ts >= c) {
            return Ok(false);
        }
        let key = period.key(&record.ts);
        match groups.last_mut() {
            Some(g) if g.period == key => {
                g.last_seq = record.seq;
                g.count += 1;
                g.last_hash = record.hash;
            }
            _ => groups.push(ExportedFile {
                name: String::new(),
                project: project.map(str::to_owned),
                period: key.to_owned(),
                first_seq: record.seq,
                last_seq: record.seq,
                count: 1,
                prev_hash: record.prev_hash,
                last_hash: record.hash,
            }),
        }
        Ok(true)
    })?;
    if let Some(b) = broken {
        return Err(Error::AuditBroken(b));
    }

    // Pass 2: write each file, then mark it exported.
    for g in &mut groups {
        // A period's file is named after the period, unless the destination
        // has a file of that name: an earlier export of the same period (it
        // was exported while still open, at a shutdown), or a file of
        // another frequency's period of the same name. Then the period and
        // its first record name it, which only the same records ever get, so
        // an exported file is never replaced by other records.
        let plain = format!("audit-{}.jsonl", g.period);
        g.name = if sink.exists(&plain)? {
            format!("audit-{}.{}.jsonl", g.period, g.first_seq)
        } else {
            plain
        };
        write_file(store, sink, g)?;
        let mark = ExportMark {
            seq: g.last_seq,
            hash: g.last_hash.clone(),
            period: g.period.clone(),
        };
        store.set_export_mark(project, &mark)?;
    }
    Ok(groups)
}

fn write_file(
    store: &mut dyn AuditStore,
    sink: &mut dyn ExportSink,
    g: &ExportedFile,
) -> Result<()> {
    let mut file = sink.create(&g.name)?;
    let header = Header {
        palisade_audit_export: 1,
        project: g.project.clone(),
        period: g.period.clone(),
        first_seq: g.first_seq,
        last_seq: g.last_seq,
        prev_hash: g.prev_hash.clone(),
    };
    json_line(&mut file, &header, &g.name)?;
    let after = g.first_seq - 1;
    let mut chain = Chain::new(after, g.prev_hash.clone(), "the previous export");
    let mut count = 0u64;
    store.scan_trail(g.project.as_deref(), after, g.last_seq, &mut |row| {
        chain.check_row(&row).map_err(Error::AuditBroken)?;
        let body = row.body.as_deref().unwrap_or_default();
        file.write_all(body.as_bytes())
            .and_then(|()| file.write_all(b"\n"))
            .map_err(|source| Error::Io {
                path: g.name.clone().into(),
                source,
            })?;
        count += 1;
        Ok(true)
    })?;
    if count != g.count || chain.last_hash() != g.last_hash {
        return Err(Error::AuditBroken(Broken::Malformed {
            what: format!(
                "records {}..={} changed while being exported",
                g.first_seq, g.last_seq
            ),
        }));
    }
    let trailer = Trailer {
        last_hash: g.last_hash.clone(),
        count,
    };
    json_line(&mut file, &trailer, &g.name)?;
    file.commit()
}

/// [`export`] of the trail of `project` into the directory `dest_dir`.
pub fn export_to_dir(
    store: &mut dyn AuditStore,
    dest_dir: &Path,
    project: Option<&str>,
    period: Period,
    horizon: impl Into<Horizon>,
) -> Result<Vec<ExportedFile>> {
    export(
        store,
        &mut DirSink::new(dest_dir)?,
        project,
        period,
        horizon,
    )
}
