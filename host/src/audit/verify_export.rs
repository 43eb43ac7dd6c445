//! Verifying export files: each on its own ([`verify_export_file`]: its
//! header, every record against its hash and the one before, its trailer),
//! and several as one chain ([`verify_export_files`]). The format is
//! [`export`](mod@super::export)'s.

use super::entry::GENESIS_HASH;
use super::export::{Header, Trailer};
use super::verify::Chain;
use crate::record::Broken;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

/// What a verified export file holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportReport {
    /// The trail's project, from the header (`None`: the server's trail).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
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
/// `prev_hash`), of the header's trail, `seq`s rising, the trailer. Returns
/// the first finding as `Ok(Err(_))`.
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
    let mut count = 0u64;
    while let Some(line) = lines.next()? {
        if trailer.is_some() {
            return malformed(format!("`{name}`: lines after the trailer"));
        }
        if line.starts_with(b"{\"last_hash\"") {
            match serde_json::from_slice::<Trailer>(&line) {
                Ok(t) => trailer = Some(t),
                Err(_) => return malformed(format!("`{name}`: the trailer is unreadable")),
            }
            continue;
        }
        let seq = seq_of(&line).unwrap_or(chain.last_seq().saturating_add(1));
        let Ok(body) = std::str::from_utf8(&line) else {
            return Ok(Err(Broken::Edited {
                seq,
                what: "the line is not UTF-8".into(),
            }));
        };
        if count == 0 && seq != header.first_seq {
            return Ok(Err(Broken::Edited {
                seq,
                what: format!(
                    "the file's first record should be record {}, as its header says",
                    header.first_seq
                ),
            }));
        }
        match chain.check_body(seq, body) {
            Ok(record) if record.project != header.project => {
                return Ok(Err(Broken::Edited {
                    seq,
                    what: "it belongs to another trail than the file's header names".into(),
                }));
            }
            Ok(_) => count += 1,
            Err(Broken::Unlinked { after_seq, seq }) => {
                return Ok(Err(out_of_place(&mut lines, after_seq, seq)?));
            }
            Err(b) => return Ok(Err(b)),
        }
    }
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
        project: header.project,
        period: header.period,
        first_seq: header.first_seq,
        last_seq: header.last_seq,
        count,
        prev_hash: header.prev_hash,
        last_hash: trailer.last_hash,
    }))
}

/// The `seq` a line claims.
fn seq_of(line: &[u8]) -> Option<u64> {
    #[derive(Deserialize)]
    struct Seq {
        seq: u64,
    }
    serde_json::from_slice::<Seq>(line).ok().map(|s| s.seq)
}

/// Record `seq` does not continue record `after_seq`: if a later line holds
/// a record between them, the lines are out of order (the first record out
/// of place is the smallest such); otherwise records between them are gone.
fn out_of_place(lines: &mut Lines, after_seq: u64, seq: u64) -> Result<Broken> {
    let mut smallest = None::<u64>;
    while let Some(line) = lines.next()? {
        if let Some(s) = seq_of(&line).filter(|s| (after_seq + 1..seq).contains(s)) {
            smallest = Some(smallest.map_or(s, |m| m.min(s)));
        }
    }
    Ok(match smallest {
        Some(s) => Broken::Reordered { seq: s },
        None => Broken::Unlinked { after_seq, seq },
    })
}

/// Verifies export files as chains: each on its own, then the files of
/// each trail (in `first_seq` order) each continuing the previous one.
/// Reports come back by trail (the server's first), then by `first_seq`.
pub fn verify_export_files(paths: &[PathBuf]) -> Result<Result<Vec<ExportReport>, Broken>> {
    let mut reports = Vec::new();
    for p in paths {
        match verify_export_file(p)? {
            Ok(r) => reports.push(r),
            Err(b) => return Ok(Err(b)),
        }
    }
    reports.sort_by(|a, b| (&a.project, a.first_seq).cmp(&(&b.project, b.first_seq)));
    for (i, r) in reports.iter().enumerate() {
        let first_of_trail = i == 0 || reports[i - 1].project != r.project;
        if first_of_trail && r.first_seq == 1 && r.prev_hash != GENESIS_HASH {
            return Ok(Err(Broken::Edited {
                seq: 1,
                what: "the first record does not start from 64 zeros".into(),
            }));
        }
    }
    for w in reports.windows(2) {
        let [a, b] = w else { continue };
        if a.project != b.project {
            continue;
        }
        if b.first_seq <= a.last_seq {
            return Ok(Err(Broken::Malformed {
                what: format!(
                    "export files overlap: records {}..={} and {}..={}",
                    a.first_seq, a.last_seq, b.first_seq, b.last_seq
                ),
            }));
        }
        if b.prev_hash != a.last_hash {
            return Ok(Err(Broken::Unlinked {
                after_seq: a.last_seq,
                seq: b.first_seq,
            }));
        }
    }
    Ok(Ok(reports))
}
