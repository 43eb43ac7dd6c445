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
//! `prev_hash` is the hash of record `first_seq - 1` (64 zeros for record 1),
//! so the file verifies alone ([`verify_export_file`]) and consecutive files
//! verify as one chain ([`verify_export_files`]).
//!
//! Export is incremental and idempotent: the store's `meta` table remembers
//! the last exported record, and a period is exported once it is over (or,
//! when a server stops, with whatever it holds: [`Horizon::Everything`]).
//! Files go through an [`ExportSink`]: [`DirSink`] writes a directory,
//! [`S3Sink`](super::s3::S3Sink) an S3-compatible bucket;
//! [`Destination`](super::destination::Destination) says which.

use super::GENESIS_HASH;
use super::dir::DirSink;
use super::sink::ExportSink;
use super::verify::Chain;
use crate::record::{Broken, format_ts};
use crate::store::{AuditStore, EXPORTED_KEY, ExportMark};
use crate::{Error, Result};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

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
    /// Its period, e.g. `2026-11-23T14`.
    pub period: String,
    /// The first record in it.
    pub first_seq: u64,
    /// The last record in it.
    pub last_seq: u64,
    /// How many records.
    pub count: u64,
    /// The hash of record `first_seq - 1`.
    pub prev_hash: String,
    /// The hash of record `last_seq`.
    pub last_hash: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    palisade_audit_export: u32,
    period: String,
    first_seq: u64,
    last_seq: u64,
    prev_hash: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Trailer {
    last_hash: String,
    count: u64,
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

/// Exports every record up to `horizon` (a time: the periods complete then)
/// that has not been exported yet, one file per period, into `sink`;
/// returns the files written (none if there is nothing new).
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
    period: Period,
    horizon: impl Into<Horizon>,
) -> Result<Vec<ExportedFile>> {
    let mark = store.export_mark()?;
    let checkpoint = store.checkpoint()?;
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
    store.scan(start_seq, u64::MAX, &mut |row| {
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
        let mark = serde_json::to_string(&mark).map_err(|e| Error::Audit {
            message: format!("cannot encode the export mark: {e}"),
        })?;
        store.set_meta(EXPORTED_KEY, &mark)?;
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
        period: g.period.clone(),
        first_seq: g.first_seq,
        last_seq: g.last_seq,
        prev_hash: g.prev_hash.clone(),
    };
    json_line(&mut file, &header, &g.name)?;
    let after = g.first_seq - 1;
    let mut chain = Chain::new(after, g.prev_hash.clone(), "the previous export");
    let mut count = 0u64;
    store.scan(after, g.last_seq, &mut |row| {
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

/// [`export`] into the directory `dest_dir`.
pub fn export_to_dir(
    store: &mut dyn AuditStore,
    dest_dir: &Path,
    period: Period,
    horizon: impl Into<Horizon>,
) -> Result<Vec<ExportedFile>> {
    export(store, &mut DirSink::new(dest_dir)?, period, horizon)
}

/// What a verified export file holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportReport {
    /// The period, from the header.
    pub period: String,
    /// The first record.
    pub first_seq: u64,
    /// The last record.
    pub last_seq: u64,
    /// How many records.
    pub count: u64,
    /// The hash the file continues from.
    pub prev_hash: String,
    /// The last record's hash.
    pub last_hash: String,
}

/// Reads lines of a file as bytes (a line that is not UTF-8 is a finding,
/// not an error).
struct Lines {
    reader: BufReader<File>,
    path: PathBuf,
}

impl Lines {
    fn next(&mut self) -> Result<Option<Vec<u8>>> {
        let mut line = Vec::new();
        let n = self
            .reader
            .read_until(b'\n', &mut line)
            .map_err(|source| Error::Io {
                path: self.path.clone(),
                source,
            })?;
        if n == 0 {
            return Ok(None);
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        Ok(Some(line))
    }
}

/// Verifies one export file on its own: the header, every record against
/// its hash and the previous one (the first against the header's
/// `prev_hash`), `seq`s without gaps, the trailer. Returns the first finding
/// as `Ok(Err(_))`.
pub fn verify_export_file(path: &Path) -> Result<Result<ExportReport, Broken>> {
    let file = File::open(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    let mut lines = Lines {
        reader: BufReader::new(file),
        path: path.to_owned(),
    };
    let malformed = |what: String| Ok(Err(Broken::Malformed { what }));
    let name = path.display();
    let header: Header = match lines.next()?.map(|l| serde_json::from_slice(&l)) {
        Some(Ok(h)) => h,
        _ => return malformed(format!("`{name}`: line 1 is not an export header")),
    };
    if header.palisade_audit_export != 1 || header.first_seq == 0 {
        return malformed(format!("`{name}`: unsupported export header"));
    }
    let mut chain = Chain::new(header.first_seq - 1, header.prev_hash.clone(), "the header");
    let mut trailer = None;
    while let Some(line) = lines.next()? {
        if trailer.is_some() {
            return malformed(format!("`{name}`: lines after the trailer"));
        }
        let expected = chain.last_seq().saturating_add(1);
        if line.starts_with(b"{\"last_hash\"") {
            match serde_json::from_slice::<Trailer>(&line) {
                Ok(t) => trailer = Some(t),
                Err(_) => return malformed(format!("`{name}`: the trailer is unreadable")),
            }
            continue;
        }
        let Ok(body) = std::str::from_utf8(&line) else {
            return Ok(Err(Broken::Edited {
                seq: expected,
                what: "the line is not UTF-8".into(),
            }));
        };
        match chain.check_body(expected, body) {
            Ok(_) => {}
            Err(Broken::Reordered { seq }) => {
                return Ok(Err(out_of_place(&mut lines, seq, body)?));
            }
            Err(b) => return Ok(Err(b)),
        }
    }
    let count = chain
        .last_seq()
        .saturating_add(1)
        .saturating_sub(header.first_seq);
    let Some(trailer) = trailer else {
        return Ok(Err(Broken::Truncated {
            last_seq: chain.last_seq(),
            head_seq: header.last_seq,
        }));
    };
    if chain.last_seq() < header.last_seq {
        return Ok(Err(Broken::Truncated {
            last_seq: chain.last_seq(),
            head_seq: header.last_seq,
        }));
    }
    if chain.last_seq() > header.last_seq || trailer.count != count {
        return malformed(format!(
            "`{name}`: the header and trailer do not describe the records"
        ));
    }
    if trailer.last_hash != chain.last_hash() {
        return Ok(Err(Broken::Edited {
            seq: chain.last_seq(),
            what: "the record's hash differs from the trailer's `last_hash`".into(),
        }));
    }
    Ok(Ok(ExportReport {
        period: header.period,
        first_seq: header.first_seq,
        last_seq: header.last_seq,
        count,
        prev_hash: header.prev_hash,
        last_hash: trailer.last_hash,
    }))
}

/// A file's line holds an intact record other than the one expected at
/// `seq`: reordered if the expected one comes later, else deleted.
fn out_of_place(lines: &mut Lines, seq: u64, body: &str) -> Result<Broken> {
    #[derive(Deserialize)]
    struct Seq {
        seq: u64,
    }
    let seq_of = |b: &[u8]| serde_json::from_slice::<Seq>(b).ok().map(|s| s.seq);
    let found = seq_of(body.as_bytes()).unwrap_or(seq);
    if found > seq {
        while let Some(line) = lines.next()? {
            if seq_of(&line) == Some(seq) {
                return Ok(Broken::Reordered { seq });
            }
        }
        return Ok(Broken::Deleted {
            after_seq: seq - 1,
            missing: found - seq,
        });
    }
    Ok(Broken::Reordered { seq })
}

/// Verifies export files as one chain: each on its own, then each (in
/// `first_seq` order) continuing the previous one.
pub fn verify_export_files(paths: &[PathBuf]) -> Result<Result<Vec<ExportReport>, Broken>> {
    let mut reports = Vec::new();
    for p in paths {
        match verify_export_file(p)? {
            Ok(r) => reports.push(r),
            Err(b) => return Ok(Err(b)),
        }
    }
    reports.sort_by_key(|r| r.first_seq);
    if let Some(first) = reports.first()
        && first.first_seq == 1
        && first.prev_hash != GENESIS_HASH
    {
        return Ok(Err(Broken::Edited {
            seq: 1,
            what: "the first record does not start from 64 zeros".into(),
        }));
    }
    for w in reports.windows(2) {
        let [a, b] = w else { continue };
        if b.first_seq <= a.last_seq {
            return Ok(Err(Broken::Malformed {
                what: format!(
                    "export files overlap: records {}..={} and {}..={}",
                    a.first_seq, a.last_seq, b.first_seq, b.last_seq
                ),
            }));
        }
        if b.first_seq > a.last_seq.saturating_add(1) {
            return Ok(Err(Broken::Deleted {
                after_seq: a.last_seq,
                missing: b.first_seq - a.last_seq - 1,
            }));
        }
        if b.prev_hash != a.last_hash {
            return Ok(Err(Broken::Edited {
                seq: a.last_seq,
                what: "the next file's `prev_hash` does not match this record".into(),
            }));
        }
    }
    Ok(Ok(reports))
}
