//! Approvals: a decision that needs a person opens one ([`Approvals::open`]),
//! an approver decides it ([`Approvals::decide`]), and the agent uses an
//! approved one exactly once, for exactly the request it was raised for
//! ([`Approvals::use_once`]). Each approval is a value in its project's
//! state (`store::State`, kind `approval`), so every step is a conditional
//! write: two approvers, or two retries of the agent, can never both win.
//!
//! An approval is *open* from the moment it is raised until it is used,
//! denied, expired or cancelled. While it is open, the identical request
//! (same agent, session, service, action, resource and attributes: its
//! [`fingerprint`]) gets the same approval back instead of a new one: an
//! index value (kind `approval_open`, keyed by the fingerprint) is created
//! in the same transaction as the approval, and removed in the transaction
//! that closes it.
//!
//! Deadlines: a pending approval expires at `expires_at` (the rule's
//! `approval_timeout`); an approved one must be used within the same
//! timeout from its approval. Expiry is checked on every read, so it holds
//! across restarts without a timer; the expired ones are written down by
//! [`Approvals::expire_due`] (the server's sweep, which records each) or by
//! the identical request raising a new one ([`Opened::expired`]), never
//! silently.

use crate::store::{Expect, Key, Op, State};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The state kind of approvals.
pub const KIND: &str = "approval";
/// The state kind of the index of open approvals by fingerprint.
pub const OPEN_KIND: &str = "approval_open";
/// The state kind of the count of each agent's open approvals.
pub const COUNT_KIND: &str = "approval_count";

/// Most approvals one agent may have open at once: past it, a decision
/// that needs a person is denied rather than raising one more (an agent
/// varying its request cannot flood its approvers).
pub const MAX_OPEN_PER_AGENT: i64 = 20;

/// Where an approval is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Waiting for an approver.
    Pending,
    /// Approved, not used yet.
    Approved,
    /// Denied by an approver.
    Denied,
    /// Nobody decided in time, or it was approved and not used in time.
    Expired,
    /// Approved and used: it allowed its request once.
    Used,
    /// Closed by an operator (its session was killed, say).
    Cancelled,
}

impl Stage {
    /// The name as stored and answered.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Expired => "expired",
            Self::Used => "used",
            Self::Cancelled => "cancelled",
        }
    }
}

/// The exact request an approval is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requested {
    /// The service.
    pub service: String,
    /// The action.
    pub action: String,
    /// The resource.
    pub resource: String,
    /// The attributes, as sent.
    pub attributes: BTreeMap<String, String>,
}

/// An approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// Its id (`apr_…`).
    pub id: String,
    /// The project.
    pub project: String,
    /// The agent that asked.
    pub agent: String,
    /// Its session.
    pub session: String,
    /// The exact request.
    pub request: Requested,
    /// The request's [`fingerprint`].
    pub fingerprint: String,
    /// Why it needs approval (the rule, as the decision said).
    pub reason: String,
    /// Where people hear of it (`slack:#…`), if anywhere.
    pub channel: Option<String>,
    /// How long it may wait for a decision, and then for its use (seconds).
    pub timeout_s: u64,
    /// When it was raised (Unix microseconds).
    pub created_at: i64,
    /// When it expires unless decided (or, once approved, unless used).
    pub expires_at: i64,
    /// Where it is.
    pub stage: Stage,
    /// Who approved, denied or cancelled it.
    pub decided_by: Option<String>,
    /// Their reason.
    pub decided_reason: Option<String>,
    /// When.
    pub decided_at: Option<i64>,
    /// When it allowed its request.
    pub used_at: Option<i64>,
    /// The outbox notification that told people of it, if any.
    pub notification: Option<String>,
}

impl Approval {
    /// Whether it is still open at `now` (pending or approved, in time).
    pub fn open_at(&self, now: i64) -> bool {
        matches!(self.stage, Stage::Pending | Stage::Approved) && now < self.expires_at
    }

    /// Its stage as seen at `now`: an open one past its deadline is expired.
    pub fn stage_at(&self, now: i64) -> Stage {
        match self.stage {
            Stage::Pending | Stage::Approved if now >= self.expires_at => Stage::Expired,
            s => s,
        }
    }
}

/// The fingerprint of a request: sha256 over agent, session, service,
/// action, resource and the attributes, each length-prefixed so that no two
/// requests share one.
pub fn fingerprint(agent: &str, session: &str, request: &Requested) -> String {
    let mut h = Sha256::new();
    let mut field = |s: &str| {
        h.update((s.len() as u64).to_le_bytes());
        h.update(s.as_bytes());
    };
    for s in [
        agent,
        session,
        &request.service,
        &request.action,
        &request.resource,
    ] {
        field(s);
    }
    field(&request.attributes.len().to_string());
    for (k, v) in &request.attributes {
        field(k);
        field(v);
    }
    hex::encode(h.finalize())
}

/// Why an approval step was refused; nothing changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// No such approval (in this project).
    NotFound,
    /// The approver raised it (a request is never approved under the
    /// identity that asked).
    OwnRequest,
    /// It is no longer pending: decided, used, expired or cancelled.
    Closed(Stage),
    /// It is not approved (pending, denied, expired, used, cancelled).
    NotApproved(Stage),
    /// It was raised for another request.
    OtherRequest,
    /// Someone else changed it at the same moment; nothing of this step was
    /// done.
    Raced,
    /// The agent has [`MAX_OPEN_PER_AGENT`] approvals open already.
    TooMany,
}

impl Refused {
    /// The machine-readable cause of a decision it denies:
    /// `approval_not_found`, `approval_pending`, `approval_denied`,
    /// `approval_expired`, `approval_used`, `approval_cancelled`,
    /// `approval_other_request`, `approval_raced`, `too_many_approvals`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "approval_not_found",
            Self::OwnRequest => "own_request",
            Self::Closed(s) | Self::NotApproved(s) => match s {
                Stage::Pending => "approval_pending",
                Stage::Approved => "approval_approved",
                Stage::Denied => "approval_denied",
                Stage::Expired => "approval_expired",
                Stage::Used => "approval_used",
                Stage::Cancelled => "approval_cancelled",
            },
            Self::OtherRequest => "approval_other_request",
            Self::Raced => "approval_raced",
            Self::TooMany => "too_many_approvals",
        }
    }
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotFound => f.write_str("no such approval"),
            Self::OwnRequest => {
                f.write_str("nobody approves a request raised under their own identity")
            }
            Self::Closed(s) => write!(f, "the approval is {} already", s.as_str()),
            Self::NotApproved(s) => write!(f, "the approval is {}, not approved", s.as_str()),
            Self::OtherRequest => f.write_str("the approval was raised for another request"),
            Self::Raced => f.write_str("the approval changed at the same moment; ask again"),
            Self::TooMany => write!(
                f,
                "the agent has {MAX_OPEN_PER_AGENT} approvals open already; wait for them"
            ),
        }
    }
}

/// What a decision that needs a person raises: [`Approvals::open`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Raise {
    /// The project.
    pub project: String,
    /// The agent that asked.
    pub agent: String,
    /// Its session.
    pub session: String,
    /// The exact request.
    pub request: Requested,
    /// Why it needs approval (the decision's reason).
    pub reason: String,
    /// Where people hear of it, if anywhere.
    pub channel: Option<String>,
    /// How long it may wait for a decision, then for its use (seconds; at
    /// least 1).
    pub timeout_s: u64,
}

/// What [`Approvals::open`] gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The approval.
    pub approval: Approval,
    /// Whether it is new (`false`: the identical request's open one).
    pub created: bool,
    /// The identical request's approval that had expired and was written
    /// down as such to make way for this one (to be recorded).
    pub expired: Option<Approval>,
}

/// Approvals over a project state store `S`.
#[derive(Debug)]
pub struct Approvals<S> {
    state: std::sync::Arc<S>,
    /// The open approval of each request (by project and fingerprint) as
    /// last read or raised here, for at most [`OPEN_CACHE_TTL`]: the
    /// identical request asked again is answered without reading the store.
    /// It only ever answers `approval_required` (using an approval always
    /// reads the store), and every step this process takes on an approval
    /// drops its entry.
    open_cache: moka::sync::Cache<(String, String), Approval>,
    /// Bumped after every step this process takes on any approval (decided,
    /// used, cancelled, expired), so that a long-poll wakes at once.
    changed: tokio::sync::watch::Sender<u64>,
}

/// How long [`Approvals`] trusts what it last read of an open approval (a
/// step another process took is seen after at most this).
pub const OPEN_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(1);

fn decode(value: &str) -> Result<Approval> {
    serde_json::from_str(value)
        .map_err(|e| Error::Engine(format!("an approval in the state store is unreadable: {e}")))
}

fn encode(a: &Approval) -> Result<String> {
    serde_json::to_string(a).map_err(|e| Error::Engine(format!("cannot encode an approval: {e}")))
}

/// `secs` seconds after `now` (microseconds), saturating.
fn after(now: i64, secs: u64) -> i64 {
    now.saturating_add(i64::try_from(secs.saturating_mul(1_000_000)).unwrap_or(i64::MAX))
}

/// A new id: `apr_`, the time (so that ids sort by creation), then 96
/// random bits (so that none can be guessed).
fn new_id(now: i64) -> Result<String> {
    let mut b = [0u8; 12];
    getrandom::fill(&mut b).map_err(|e| Error::Engine(format!("no randomness for an id: {e}")))?;
    Ok(format!("apr_{:016x}{}", now.max(0), hex::encode(b)))
}

impl<S: State> Approvals<S> {
    /// Approvals kept in `state`.
    pub fn new(state: std::sync::Arc<S>) -> Self {
        Self {
            state,
            open_cache: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(OPEN_CACHE_TTL)
                .build(),
            changed: tokio::sync::watch::Sender::new(0),
        }
    }

    /// A receiver that sees a change after every step this process takes
    /// on an approval (a step another process takes is not seen: poll too).
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changed.subscribe()
    }

    fn touched(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    fn forget(&self, project: &str, fingerprint: &str) {
        self.open_cache
            .invalidate(&(project.to_owned(), fingerprint.to_owned()));
    }

    fn key(project: &str, id: &str) -> Key {
        Key::new(project, KIND, id)
    }

    fn open_key(project: &str, fingerprint: &str) -> Key {
        Key::new(project, OPEN_KIND, fingerprint)
    }

    fn count_key(project: &str, agent: &str) -> Key {
        Key::new(project, COUNT_KIND, agent)
    }

    /// The approval `id` of `project`, with its version.
    pub async fn get(&self, project: &str, id: &str) -> Result<Option<(Approval, u64)>> {
        match self.state.get(&Self::key(project, id)).await? {
            Some(v) => Ok(Some((decode(&v.value)?, v.version))),
            None => Ok(None),
        }
    }

    /// Raises an approval for what `raise` describes, or gives back the
    /// open one of the identical request.
    pub async fn open(
        &self,
        raise: Raise,
        now: i64,
    ) -> Result<std::result::Result<Opened, Refused>> {
        let Raise {
            project,
            agent,
            session,
            request,
            reason,
            channel,
            timeout_s,
        } = raise;
        let (project, agent, session) = (project.as_str(), agent.as_str(), session.as_str());
        let print = fingerprint(agent, session, &request);
        let timeout_s = timeout_s.max(1);
        let cache_key = (project.to_owned(), print.clone());
        let mut expired = None;
        if let Some(a) = self.open_cache.get(&cache_key)
            && a.open_at(now)
        {
            return Ok(Ok(Opened {
                approval: a,
                created: false,
                expired: None,
            }));
        }
        for _ in 0..4 {
            // The open one of this request, if any.
            if let Some(index) = self.state.get(&Self::open_key(project, &print)).await? {
                match self.get(project, &index.value).await? {
                    Some((a, _)) if a.open_at(now) => {
                        self.open_cache.insert(cache_key, a.clone());
                        return Ok(Ok(Opened {
                            approval: a,
                            created: false,
                            expired,
                        }));
                    }
                    Some((a, version)) => {
                        // Past its deadline: close it, then raise a new one.
                        if let Some(done) = self
                            .close(a, version, Stage::Expired, None, None, now)
                            .await?
                        {
                            expired = Some(done);
                        }
                        continue;
                    }
                    None => {
                        // An index entry without its approval: drop it.
                        self.state
                            .transact(vec![Op::Delete {
                                key: Self::open_key(project, &print),
                                expect: Expect::Version(index.version),
                            }])
                            .await?
                            .ok();
                        continue;
                    }
                }
            }
            let approval = Approval {
                id: new_id(now)?,
                project: project.to_owned(),
                agent: agent.to_owned(),
                session: session.to_owned(),
                request: request.clone(),
                fingerprint: print.clone(),
                reason: reason.clone(),
                channel: channel.clone(),
                timeout_s,
                created_at: now,
                expires_at: after(now, timeout_s),
                stage: Stage::Pending,
                decided_by: None,
                decided_reason: None,
                decided_at: None,
                used_at: None,
                notification: None,
            };
            let ops = vec![
                Op::Put {
                    key: Self::open_key(project, &print),
                    value: approval.id.clone(),
                    expect: Expect::Absent,
                },
                Op::Put {
                    key: Self::key(project, &approval.id),
                    value: encode(&approval)?,
                    expect: Expect::Absent,
                },
                Op::Add {
                    key: Self::count_key(project, agent),
                    amount: 1,
                    limit: Some(MAX_OPEN_PER_AGENT),
                },
            ];
            match self.state.transact(ops).await? {
                Ok(_) => {
                    self.open_cache.insert(cache_key, approval.clone());
                    return Ok(Ok(Opened {
                        approval,
                        created: true,
                        expired,
                    }));
                }
                Err(crate::store::Conflict::Limit { .. }) => return Ok(Err(Refused::TooMany)),
                Err(_) => {}
            }
            // Another decision raised it at the same moment: take theirs.
        }
        Err(Error::Engine(
            "could not raise an approval: the store kept changing under it".into(),
        ))
    }

    /// Closes `a` (read at `version`) as `stage`, removing it from the
    /// open index in the same transaction. `Ok(false)`: it changed meanwhile.
    async fn close(
        &self,
        mut a: Approval,
        version: u64,
        stage: Stage,
        by: Option<&str>,
        reason: Option<&str>,
        now: i64,
    ) -> Result<Option<Approval>> {
        self.forget(&a.project, &a.fingerprint);
        a.stage = stage;
        if stage == Stage::Used {
            a.used_at = Some(now);
        } else if by.is_some() {
            a.decided_by = by.map(str::to_owned);
            a.decided_reason = reason.map(str::to_owned);
            a.decided_at = Some(now);
        } else if a.decided_at.is_none() {
            // Expired undecided; an approved one keeps who approved it.
            a.decided_at = Some(now);
        }
        let ops = vec![
            Op::Put {
                key: Self::key(&a.project, &a.id),
                value: encode(&a)?,
                expect: Expect::Version(version),
            },
            Op::Delete {
                key: Self::open_key(&a.project, &a.fingerprint),
                expect: Expect::Any,
            },
            Op::Add {
                key: Self::count_key(&a.project, &a.agent),
                amount: -1,
                limit: None,
            },
        ];
        if self.state.transact(ops).await?.is_err() {
            return Ok(None);
        }
        self.touched();
        Ok(Some(a))
    }

    /// `approver` approves (`approve`) or denies approval `id` of
    /// `project`, with `reason`. Scope (whether `approver` may decide this
    /// project's approvals at all) is the caller's to check first.
    pub async fn decide(
        &self,
        project: &str,
        id: &str,
        approver: &str,
        approve: bool,
        reason: &str,
        now: i64,
    ) -> Result<std::result::Result<Approval, Refused>> {
        let Some((a, version)) = self.get(project, id).await? else {
            return Ok(Err(Refused::NotFound));
        };
        if a.agent == approver {
            return Ok(Err(Refused::OwnRequest));
        }
        match a.stage_at(now) {
            Stage::Pending => {}
            // Past its deadline: refused; the sweep writes it down (and
            // records it).
            other => return Ok(Err(Refused::Closed(other))),
        }
        self.forget(project, &a.fingerprint);
        let mut decided = a.clone();
        let ops = if approve {
            decided.stage = Stage::Approved;
            decided.decided_by = Some(approver.to_owned());
            decided.decided_reason = Some(reason.to_owned());
            decided.decided_at = Some(now);
            // It must now be used within the timeout.
            decided.expires_at = after(now, a.timeout_s);
            vec![Op::Put {
                key: Self::key(project, id),
                value: encode(&decided)?,
                expect: Expect::Version(version),
            }]
        } else {
            decided.stage = Stage::Denied;
            decided.decided_by = Some(approver.to_owned());
            decided.decided_reason = Some(reason.to_owned());
            decided.decided_at = Some(now);
            vec![
                Op::Put {
                    key: Self::key(project, id),
                    value: encode(&decided)?,
                    expect: Expect::Version(version),
                },
                Op::Delete {
                    key: Self::open_key(project, &a.fingerprint),
                    expect: Expect::Any,
                },
                Op::Add {
                    key: Self::count_key(project, &a.agent),
                    amount: -1,
                    limit: None,
                },
            ]
        };
        match self.state.transact(ops).await? {
            Ok(_) => {
                self.touched();
                Ok(Ok(decided))
            }
            Err(_) => Ok(Err(Refused::Raced)),
        }
    }

    /// Uses approval `id` of `project` for the request `agent` makes in
    /// `session`: allowed once, only if it is approved, in time, and was
    /// raised for exactly this request. The approval is then `used`.
    pub async fn use_once(
        &self,
        project: &str,
        id: &str,
        agent: &str,
        session: &str,
        request: &Requested,
        now: i64,
    ) -> Result<std::result::Result<Approval, Refused>> {
        let Some((a, version)) = self.get(project, id).await? else {
            return Ok(Err(Refused::NotFound));
        };
        if a.fingerprint != fingerprint(agent, session, request) {
            return Ok(Err(Refused::OtherRequest));
        }
        match a.stage_at(now) {
            Stage::Approved => {}
            other => return Ok(Err(Refused::NotApproved(other))),
        }
        match self.close(a, version, Stage::Used, None, None, now).await? {
            Some(used) => Ok(Ok(used)),
            None => Ok(Err(Refused::Raced)),
        }
    }

    /// Notes on approval `id` the outbox notification that told people of
    /// it (best effort: a change at the same moment wins).
    pub async fn note_notification(
        &self,
        project: &str,
        id: &str,
        notification: &str,
    ) -> Result<()> {
        let Some((mut a, version)) = self.get(project, id).await? else {
            return Ok(());
        };
        self.forget(project, &a.fingerprint);
        a.notification = Some(notification.to_owned());
        self.state
            .put(
                Self::key(project, id),
                encode(&a)?,
                Expect::Version(version),
            )
            .await?
            .ok();
        Ok(())
    }

    /// Cancels approval `id` (its session was killed, say): closed, never
    /// to be used. Returns it cancelled, or `None` if it was not open.
    pub async fn cancel(
        &self,
        project: &str,
        id: &str,
        by: &str,
        reason: &str,
        now: i64,
    ) -> Result<Option<Approval>> {
        let Some((a, version)) = self.get(project, id).await? else {
            return Ok(None);
        };
        if !a.open_at(now) {
            return Ok(None);
        }
        self.close(a, version, Stage::Cancelled, Some(by), Some(reason), now)
            .await
    }

    /// The open approvals of `project` (pending, or approved and not used;
    /// some may be past their deadline), with their versions, read through
    /// the index of open approvals: the cost is that of the open ones,
    /// never of every approval ever raised.
    pub async fn open_ones(&self, project: &str) -> Result<Vec<(Approval, u64)>> {
        // The index is small (at most 20 open per agent); the approvals
        // are read after it, one by one.
        let mut ids = Vec::new();
        self.state
            .for_each(project, OPEN_KIND, |_, index| {
                ids.push(index.value);
                Ok(())
            })
            .await?;
        let mut open = Vec::new();
        for id in ids {
            if let Some((a, version)) = self.get(project, &id).await?
                && matches!(a.stage, Stage::Pending | Stage::Approved)
            {
                open.push((a, version));
            }
        }
        Ok(open)
    }

    /// The approvals of `project`, oldest id first, from after `after`.
    pub async fn list(
        &self,
        project: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Approval>> {
        let page = self.state.list(project, KIND, after, limit).await?;
        page.iter().map(|(_, v)| decode(&v.value)).collect()
    }

    /// Writes down as expired the open approvals of `project` past their
    /// deadline at `now`; returns them.
    pub async fn expire_due(&self, project: &str, now: i64) -> Result<Vec<Approval>> {
        let mut expired = Vec::new();
        for (a, version) in self.open_ones(project).await? {
            if now >= a.expires_at
                && let Some(done) = self
                    .close(a, version, Stage::Expired, None, None, now)
                    .await?
            {
                expired.push(done);
            }
        }
        Ok(expired)
    }
}

#[cfg(test)]
mod tests;
