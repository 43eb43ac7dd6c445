//! The audit record as a value, and what can be wrong with a trail of them.
//!
//! A [`Record`] (its members, in the order of the canonical encoding), the
//! copies of its fields that a store keeps as [`Columns`], a
//! [`SealedRecord`] (the exact bytes that were hashed), the record time's
//! canonical form ([`format_ts`]) and [`Broken`], the first bad record a
//! check finds. [`crate::audit`] seals and chains records and verifies
//! trails, [`crate::store`] keeps them, and [`crate::Error`] carries a
//! [`Broken`]: all take these types from here. How a record is encoded and
//! hashed is the audit trail's, documented in [`crate::audit`].

use crate::decision::{Outcome, Step};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a record is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A decision (`POST /v1/decide`).
    Decision,
    /// An administrative action (policy reload, token change, …).
    Admin,
}

impl Kind {
    /// The name as stored: `decision` or `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Decision => "decision",
            Self::Admin => "admin",
        }
    }
}

/// One plugin's part in a decision, as audited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginRecord {
    /// Plugin name.
    pub plugin: String,
    /// `allow`, `deny`, `approve`, `abstain` or `error`.
    pub verdict: String,
    /// For a failure, its kind (e.g. `out_of_fuel`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Fuel used.
    pub fuel: u64,
    /// Wall-clock time, in microseconds.
    pub micros: u64,
}

impl From<&Step> for PluginRecord {
    fn from(step: &Step) -> Self {
        Self {
            plugin: step.plugin.clone(),
            verdict: step.verdict.to_owned(),
            error: step.error.map(str::to_owned),
            fuel: step.fuel,
            micros: step.micros,
        }
    }
}

/// One audit record. Members are serialized in declaration order, which is
/// part of the canonical encoding: do not reorder them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// Position in the chain: 1, 2, 3, … without gaps.
    pub seq: u64,
    /// When the writer sealed the record (see [`format_ts`]).
    pub ts: String,
    /// Decision or administrative action.
    pub kind: Kind,
    /// The decision's id (`dec_…`), as answered to the agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_id: Option<String>,
    /// For a decision, the agent that asked; for an administrative action,
    /// the agent it concerns, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// The agent's session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// The project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// The service asked about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The action asked about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// The resource asked about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// The request's attributes, already masked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<BTreeMap<String, String>>,
    /// The answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Outcome>,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Each plugin's verdict and cost, in chain order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugins: Option<Vec<PluginRecord>>,
    /// The policy version that decided (or that an admin action installed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_version: Option<String>,
    /// Time taken by the decision, in microseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_us: Option<u64>,
    /// The administrative event, e.g. `policy_reload`, `token_change`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// The administrative event's details (e.g. old and new version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<BTreeMap<String, serde_json::Value>>,
    /// The previous record's `hash` (or [`crate::audit::GENESIS_HASH`], or the
    /// checkpoint's hash after a retention cut).
    pub prev_hash: String,
    /// SHA-256 of the canonical bytes, lowercase hex.
    pub hash: String,
}

/// The copies of a record's fields that the store keeps as columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Columns {
    /// `kind`.
    pub kind: Kind,
    /// `decision_id`.
    pub decision_id: Option<String>,
    /// `agent`.
    pub agent: Option<String>,
    /// `session`.
    pub session: Option<String>,
    /// `project`.
    pub project: Option<String>,
    /// `decision`.
    pub decision: Option<Outcome>,
}

/// A record with its place in the chain and its body: the exact bytes that
/// were hashed, plus the hash member. Only the audit trail's sealing
/// functions make one ([`crate::audit::seal_record`] and the writer), so
/// the stored bytes are always the hashed ones.
#[derive(Debug, Clone)]
pub struct SealedRecord {
    seq: u64,
    ts: String,
    hash: String,
    body: String,
    columns: Columns,
}

impl SealedRecord {
    /// `seq`.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// `ts`.
    pub fn ts(&self) -> &str {
        &self.ts
    }

    /// `hash`.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// The body, as stored and exported.
    pub fn body(&self) -> &str {
        &self.body
    }

    /// The fields stored as columns.
    pub fn columns(&self) -> &Columns {
        &self.columns
    }
}

impl SealedRecord {
    /// A sealed record from its parts; for the sealing functions only.
    pub(crate) fn new(seq: u64, ts: String, hash: String, body: String, columns: Columns) -> Self {
        Self {
            seq,
            ts,
            hash,
            body,
            columns,
        }
    }

    /// `seq`, `ts` and `hash`, for the writer's receipt.
    pub(crate) fn into_receipt_parts(self) -> (u64, String, String) {
        (self.seq, self.ts, self.hash)
    }
}

/// Formats a time as a record's `ts`: UTC, RFC 3339, microseconds, e.g.
/// `2026-11-23T14:03:07.123456Z` (finer digits are truncated). The format has
/// a fixed width, so these strings sort in time order.
pub fn format_ts(ts: Timestamp) -> String {
    let micros = Timestamp::from_microsecond(ts.as_microsecond()).unwrap_or(ts);
    format!("{micros:.6}")
}

/// Parses a record's `ts`, accepting only the exact form [`format_ts`] writes.
pub(crate) fn parse_canonical_ts(s: &str) -> Option<Timestamp> {
    let ts: Timestamp = s.parse().ok()?;
    (format_ts(ts) == s).then_some(ts)
}

/// What is wrong with an audit trail: the first bad record found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "finding", rename_all = "snake_case")]
pub enum Broken {
    /// The record's content (or one of its indexed columns) is not what was
    /// written: its hash does not match, it is unreadable, or the next
    /// record's `prev_hash` shows it was rewritten.
    Edited {
        /// The record.
        seq: u64,
        /// What exactly does not match.
        what: String,
    },
    /// Records are missing from the middle (or the start) of the chain.
    Deleted {
        /// The last record before the gap (0: the start, or the checkpoint).
        after_seq: u64,
        /// How many are missing.
        missing: u64,
    },
    /// A record does not continue the record before it in its trail, and
    /// `seq`s lie between them: records of the trail between the two were
    /// deleted, or one of the two was rewritten. (Records of other trails
    /// may legitimately lie between, so how many are missing is not known.)
    Unlinked {
        /// The last good record of the trail.
        after_seq: u64,
        /// The record that does not continue it.
        seq: u64,
    },
    /// Records are missing that no retention removed (or retention claims
    /// more than was written): every `seq` up to `written` is either in the
    /// store or counted by a trail's checkpoint.
    Uncounted {
        /// The last `seq` written.
        written: u64,
        /// Records in the store.
        present: u64,
        /// Records the trails' checkpoints say retention removed.
        removed: u64,
    },
    /// An intact record sits in another record's place.
    Reordered {
        /// The place (the `seq` expected there).
        seq: u64,
    },
    /// The chain ends before the last record known to have been written.
    Truncated {
        /// The last record present.
        last_seq: u64,
        /// The last record written, from the head file or the export header.
        head_seq: u64,
    },
    /// The record at the head file's `seq` is not the one the writer wrote:
    /// the chain was rebuilt up to there.
    HeadMismatch {
        /// The head file's `seq`.
        seq: u64,
    },
    /// The store has records but the head file is gone.
    HeadMissing,
    /// The chain starts from a checkpoint that retention did not make: no
    /// export reached it, or no `audit_retention` record names it. The
    /// start of the log was cut by hand.
    ForgedCheckpoint {
        /// The checkpoint's `seq`.
        seq: u64,
        /// Which evidence is missing.
        why: String,
    },
    /// Something other than a record is unreadable: the checkpoint, the head
    /// file, an export file's header or trailer.
    Malformed {
        /// What.
        what: String,
    },
}

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Edited { seq, what } => write!(f, "record {seq} was edited: {what}"),
            Self::Deleted { after_seq, missing } => {
                write!(f, "{missing} record(s) deleted after record {after_seq}")
            }
            Self::Unlinked { after_seq, seq } => write!(
                f,
                "record {seq} does not continue record {after_seq} of its trail: records \
                 between them were deleted, or one of the two was rewritten"
            ),
            Self::Uncounted {
                written,
                present,
                removed,
            } => match written.checked_sub(present.saturating_add(*removed)) {
                Some(missing) => write!(
                    f,
                    "{missing} record(s) missing: records 1 to {written} were written, {present} \
                     are in the store and retention removed {removed}"
                ),
                None => write!(
                    f,
                    "the trails' checkpoints count more removed records ({removed}) than the \
                     {written} written less the {present} in the store"
                ),
            },
            Self::Reordered { seq } => {
                write!(
                    f,
                    "record {seq} is out of order: another record sits in its place"
                )
            }
            Self::Truncated { last_seq, head_seq } => write!(
                f,
                "truncated: the log ends at record {last_seq}, but record {head_seq} was written"
            ),
            Self::HeadMismatch { seq } => write!(
                f,
                "record {seq} is not the one the head file recorded: the chain was rebuilt"
            ),
            Self::HeadMissing => f.write_str("the head file `audit.head` is missing"),
            Self::ForgedCheckpoint { seq, why } => write!(
                f,
                "the checkpoint at record {seq} was not made by retention ({why}): \
                 records up to {seq} were removed by other means"
            ),
            Self::Malformed { what } => f.write_str(what),
        }
    }
}
