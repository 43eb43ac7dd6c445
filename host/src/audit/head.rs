//! The head file, `audit.head`: the writer's last committed record, and
//! each trail's, kept beside the store so that a chain cut short at its end
//! (or one trail cut short, though other trails' records follow) is found
//! ([`HeadFile`], and `check_head_file`).

use super::entry::GENESIS_HASH;
use super::entry::rehash;
use crate::record::Broken;
use crate::store::{AuditStore, ChainHead, Checkpoint};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// The head file, `audit.head`: the writer's last committed record, and
/// each trail's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeadFile {
    /// Its `seq`.
    pub seq: u64,
    /// Its `hash`.
    pub hash: String,
    /// Each trail's last record, by project (`""`: the server's trail).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub trails: BTreeMap<String, TrailMark>,
}

/// A trail's last record, in the head file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrailMark {
    /// Its `seq`.
    pub seq: u64,
    /// Its `hash`.
    pub hash: String,
}

impl HeadFile {
    /// The file's name in the data directory.
    pub const FILE: &'static str = "audit.head";

    /// Reads `data_dir/audit.head`; `None` if there is none. An unreadable
    /// one is an [`Error::AuditBroken`].
    pub fn read(data_dir: &Path) -> Result<Option<HeadFile>> {
        let path = data_dir.join(Self::FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(Error::Io { path, source }),
        };
        serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            Error::AuditBroken(Broken::Malformed {
                what: format!("the head file `{}` is unreadable: {e}", path.display()),
            })
        })
    }

    /// Replaces `data_dir/audit.head` atomically (temporary file, sync,
    /// rename).
    pub(crate) fn write(&self, data_dir: &Path) -> Result<()> {
        let path = data_dir.join(Self::FILE);
        let tmp = data_dir.join("audit.head.tmp");
        let io = |source| Error::Io {
            path: tmp.clone(),
            source,
        };
        let json = serde_json::to_vec(self).map_err(|e| Error::Audit {
            message: format!("cannot encode the head file: {e}"),
        })?;
        let _ = std::fs::remove_file(&tmp);
        let mut f = crate::data_dir::create_private(&tmp).map_err(io)?;
        f.write_all(&json).map_err(io)?;
        f.sync_all().map_err(io)?;
        drop(f);
        std::fs::rename(&tmp, &path).map_err(|source| Error::Io { path, source })
    }
}

/// Checks the head file against the store's last record, its trails' last
/// records and their checkpoints (without walking the chain): the store,
/// and each trail, must reach the head file's record, and that record must
/// be the one recorded (unless retention cut it).
pub(crate) fn check_head_file(
    store: &mut dyn AuditStore,
    file: &HeadFile,
    head: Option<&ChainHead>,
    checkpoints: &[Checkpoint],
) -> Result<()> {
    let broken = |b| Err(Error::AuditBroken(b));
    let trails = store.trails()?;
    for (project, mark) in &file.trails {
        let reached = trails
            .iter()
            .find(|t| t.project.as_deref().unwrap_or("") == project)
            .map_or(0, |t| t.seq);
        if mark.seq > reached {
            return broken(Broken::Truncated {
                last_seq: reached,
                head_seq: mark.seq,
            });
        }
        // Each trail's last record as the head file saw it must still be
        // that record: a rewritten tail of a trail that is not the store's
        // last would otherwise pass, and the writer would chain onto it.
        match recorded_hash(store, mark.seq, checkpoints)? {
            Some(h) if h != mark.hash => return broken(Broken::HeadMismatch { seq: mark.seq }),
            _ => {}
        }
    }
    let cut_through = checkpoints.iter().map(|c| c.seq).max();
    let last = head.map(|h| h.seq).or(cut_through).unwrap_or(0);
    if file.seq > last {
        return broken(Broken::Truncated {
            last_seq: last,
            head_seq: file.seq,
        });
    }
    match recorded_hash(store, file.seq, checkpoints)? {
        Some(h) if h != file.hash => broken(Broken::HeadMismatch { seq: file.seq }),
        _ => Ok(()),
    }
}

/// The hash recorded for `seq`: the genesis hash for 0, the hash its
/// record claims, or its checkpoint's; `None` if retention cut it (nothing
/// is left to compare with); an empty string (which matches no hash) if it
/// is missing and nothing accounts for it.
pub(crate) fn recorded_hash(
    store: &mut dyn AuditStore,
    seq: u64,
    checkpoints: &[Checkpoint],
) -> Result<Option<String>> {
    if seq == 0 {
        return Ok(Some(GENESIS_HASH.to_owned()));
    }
    if let Some(r) = store.row(seq)? {
        return Ok(Some(
            r.body
                .and_then(|b| rehash(&b).map(|(claimed, _)| claimed.to_owned()))
                .unwrap_or_default(),
        ));
    }
    let cut_through = checkpoints.iter().map(|c| c.seq).max();
    Ok(match checkpoints.iter().find(|c| c.seq == seq) {
        Some(c) => Some(c.hash.clone()),
        None if cut_through.is_some_and(|t| seq < t) => None,
        None => Some(String::new()),
    })
}
