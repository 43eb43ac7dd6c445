//! One audit record, what callers hand the writer ([`Entry`]), and the
//! canonical encoding and hash (see the [module docs](super) for the format).

use crate::decision::{Decision, Outcome};
use crate::record::{Columns, Kind, PluginRecord, Record, SealedRecord};
use crate::{Error, Result};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The members of a record between `ts` and `prev_hash`, in [`Record`]'s
/// order and with its skipping rules (a test holds the two together). The
/// caller's thread encodes them, so that the writer only frames and hashes.
#[derive(Serialize)]
struct Content<'a> {
    kind: Kind,
    #[serde(skip_serializing_if = "Option::is_none")]
    decision_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    agent: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    project: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    service: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    attributes: Option<&'a BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    decision: Option<Outcome>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    plugins: Option<&'a [PluginRecord]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy_version: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    latency_us: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<&'a BTreeMap<String, serde_json::Value>>,
}

/// An entry encoded by its caller, waiting for its place in the chain.
#[derive(Debug)]
pub(crate) struct Prepared {
    /// The encoded [`Content`], without its braces.
    middle: String,
    columns: Columns,
}

impl Prepared {
    /// The project the entry concerns: its trail (`None`: the server's).
    pub(crate) fn project(&self) -> Option<&str> {
        self.columns.project.as_deref()
    }
}

fn encode(content: &Content<'_>) -> Result<String> {
    let mut json = serde_json::to_string(content).map_err(|e| Error::Audit {
        message: format!("cannot encode an audit record: {e}"),
    })?;
    // `{…}` → `…` (a struct's encoding has both braces).
    json.pop();
    json.remove(0);
    Ok(json)
}

/// What the writer answers once a record is durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The record's `seq`.
    pub seq: u64,
    /// Its `ts`.
    pub ts: String,
    /// Its `hash`.
    pub hash: String,
}

impl From<SealedRecord> for Receipt {
    fn from(record: SealedRecord) -> Self {
        let (seq, ts, hash) = record.into_receipt_parts();
        Receipt { seq, ts, hash }
    }
}

/// Gives `prepared` its place: `seq`, `ts` and `prev_hash`; hashes it.
pub(crate) fn seal(prepared: Prepared, seq: u64, ts: &str, prev_hash: &str) -> SealedRecord {
    let mut body = String::with_capacity(prepared.middle.len() + 220);
    body.push_str("{\"seq\":");
    body.push_str(&seq.to_string());
    body.push_str(",\"ts\":\"");
    body.push_str(ts);
    body.push_str("\",");
    body.push_str(&prepared.middle);
    body.push_str(",\"prev_hash\":\"");
    body.push_str(prev_hash);
    body.push_str("\"}");
    let hash = to_hex(&Sha256::digest(body.as_bytes()));
    body.pop();
    body.push_str(HASH_MEMBER);
    body.push_str(&hash);
    body.push_str("\"}");
    SealedRecord::new(seq, ts.to_owned(), hash, body, prepared.columns)
}

/// Seals `record` as it is, recomputing its hash (for tools and tests that
/// rebuild records; the writer seals [`Entry`]s).
pub fn seal_record(record: &Record) -> Result<SealedRecord> {
    let content = Content {
        kind: record.kind,
        decision_id: record.decision_id.as_deref(),
        agent: record.agent.as_deref(),
        session: record.session.as_deref(),
        project: record.project.as_deref(),
        service: record.service.as_deref(),
        action: record.action.as_deref(),
        resource: record.resource.as_deref(),
        attributes: record.attributes.as_ref(),
        decision: record.decision,
        reason: record.reason.as_deref(),
        plugins: record.plugins.as_deref(),
        policy_version: record.policy_version.as_deref(),
        latency_us: record.latency_us,
        event: record.event.as_deref(),
        details: record.details.as_ref(),
    };
    let prepared = Prepared {
        middle: encode(&content)?,
        columns: Columns {
            kind: record.kind,
            decision_id: record.decision_id.clone(),
            agent: record.agent.clone(),
            session: record.session.clone(),
            project: record.project.clone(),
            decision: record.decision,
        },
    };
    Ok(seal(prepared, record.seq, &record.ts, &record.prev_hash))
}

/// Lowercase hex.
fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// The `prev_hash` of the first record: 64 zeros.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const HASH_MEMBER: &str = ",\"hash\":\"";
/// `,"hash":"` + 64 hex digits + `"}`.
const SUFFIX_LEN: usize = HASH_MEMBER.len() + 64 + 2;

/// The hash a body claims (its `hash` member) and the hash of its canonical
/// bytes; `None` if the body does not end with a well-formed hash member.
pub fn rehash(body: &str) -> Option<(&str, String)> {
    let bytes = body.as_bytes();
    let split = bytes.len().checked_sub(SUFFIX_LEN)?;
    let (canonical, suffix) = bytes.split_at(split);
    let (member, rest) = suffix.split_at(HASH_MEMBER.len());
    let (claimed, end) = rest.split_at(64);
    if member != HASH_MEMBER.as_bytes()
        || end != b"\"}"
        || !claimed
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
    {
        return None;
    }
    let claimed = std::str::from_utf8(claimed).ok()?;
    let mut h = Sha256::new();
    h.update(canonical);
    h.update(b"}");
    Some((claimed, to_hex(&h.finalize())))
}

/// What a caller hands the writer: a record before it has a place in the
/// chain (`seq`, `ts`, `prev_hash` and `hash` are the writer's).
#[derive(Debug, Clone)]
pub enum Entry {
    /// A decision.
    Decision(DecisionEntry),
    /// An administrative action.
    Admin(AdminEntry),
    /// What came of an allowed tool call, tied to its decision.
    Result(ResultEntry),
}

/// A tool call's result, as its agent reported it: an administrative
/// record (`tool_result`) that carries its decision's id and session, so
/// that a query for the decision finds both.
#[derive(Debug, Clone)]
pub struct ResultEntry {
    /// The decision it is the result of.
    pub decision_id: String,
    /// The agent.
    pub agent: String,
    /// The session.
    pub session: String,
    /// The project.
    pub project: String,
    /// The outcome and its figures (the summary **already masked**).
    pub details: BTreeMap<String, serde_json::Value>,
}

/// The event of a tool call's result.
pub const RESULT_EVENT: &str = "tool_result";

/// A decision to record.
#[derive(Debug, Clone)]
pub struct DecisionEntry {
    /// The decision's id (`dec_…`).
    pub decision_id: String,
    /// The agent that asked.
    pub agent: String,
    /// The agent's session.
    pub session: String,
    /// The project.
    pub project: String,
    /// The service.
    pub service: String,
    /// The action.
    pub action: String,
    /// The resource.
    pub resource: String,
    /// The attributes, **already masked**.
    pub attributes: BTreeMap<String, String>,
    /// The answer.
    pub decision: Outcome,
    /// Why.
    pub reason: String,
    /// Each plugin's part ([`DecisionEntry::plugins_of`]).
    pub plugins: Vec<PluginRecord>,
    /// The policy version that decided.
    pub policy_version: String,
    /// Time taken by the decision, in microseconds.
    pub latency_us: u64,
}

impl DecisionEntry {
    /// The plugin steps of `decision`, as audited.
    pub fn plugins_of(decision: &Decision) -> Vec<PluginRecord> {
        decision.steps.iter().map(PluginRecord::from).collect()
    }
}

/// An administrative action to record.
#[derive(Debug, Clone, Default)]
pub struct AdminEntry {
    /// What happened, e.g. `policy_reload`, `token_change`.
    pub event: String,
    /// The agent concerned, if any.
    pub agent: Option<String>,
    /// The project, if known.
    pub project: Option<String>,
    /// The policy version in force after the action, if known.
    pub policy_version: Option<String>,
    /// Why, for a human, if known.
    pub reason: Option<String>,
    /// Details, e.g. `{"old_version": …, "new_version": …}`. Never secrets.
    pub details: BTreeMap<String, serde_json::Value>,
}

impl From<DecisionEntry> for Entry {
    fn from(e: DecisionEntry) -> Self {
        Self::Decision(e)
    }
}

impl From<ResultEntry> for Entry {
    fn from(e: ResultEntry) -> Self {
        Self::Result(e)
    }
}

impl From<AdminEntry> for Entry {
    fn from(e: AdminEntry) -> Self {
        Self::Admin(e)
    }
}

impl Entry {
    /// Encodes the entry (on the caller's thread).
    pub(crate) fn prepare(self) -> Result<Prepared> {
        match self {
            Self::Decision(d) => {
                let middle = encode(&Content {
                    kind: Kind::Decision,
                    decision_id: Some(&d.decision_id),
                    agent: Some(&d.agent),
                    session: Some(&d.session),
                    project: Some(&d.project),
                    service: Some(&d.service),
                    action: Some(&d.action),
                    resource: Some(&d.resource),
                    attributes: Some(&d.attributes),
                    decision: Some(d.decision),
                    reason: Some(&d.reason),
                    plugins: Some(&d.plugins),
                    policy_version: Some(&d.policy_version),
                    latency_us: Some(d.latency_us),
                    event: None,
                    details: None,
                })?;
                Ok(Prepared {
                    middle,
                    columns: Columns {
                        kind: Kind::Decision,
                        decision_id: Some(d.decision_id),
                        agent: Some(d.agent),
                        session: Some(d.session),
                        project: Some(d.project),
                        decision: Some(d.decision),
                    },
                })
            }
            Self::Admin(a) => {
                let middle = encode(&Content {
                    kind: Kind::Admin,
                    decision_id: None,
                    agent: a.agent.as_deref(),
                    session: None,
                    project: a.project.as_deref(),
                    service: None,
                    action: None,
                    resource: None,
                    attributes: None,
                    decision: None,
                    reason: a.reason.as_deref(),
                    plugins: None,
                    policy_version: a.policy_version.as_deref(),
                    latency_us: None,
                    event: Some(&a.event),
                    details: Some(&a.details),
                })?;
                Ok(Prepared {
                    middle,
                    columns: Columns {
                        kind: Kind::Admin,
                        decision_id: None,
                        agent: a.agent,
                        session: None,
                        project: a.project,
                        decision: None,
                    },
                })
            }
            Self::Result(r) => {
                let middle = encode(&Content {
                    kind: Kind::Admin,
                    decision_id: Some(&r.decision_id),
                    agent: Some(&r.agent),
                    session: Some(&r.session),
                    project: Some(&r.project),
                    service: None,
                    action: None,
                    resource: None,
                    attributes: None,
                    decision: None,
                    reason: None,
                    plugins: None,
                    policy_version: None,
                    latency_us: None,
                    event: Some(RESULT_EVENT),
                    details: Some(&r.details),
                })?;
                Ok(Prepared {
                    middle,
                    columns: Columns {
                        kind: Kind::Admin,
                        decision_id: Some(r.decision_id),
                        agent: Some(r.agent),
                        session: Some(r.session),
                        project: Some(r.project),
                        decision: None,
                    },
                })
            }
        }
    }
}
