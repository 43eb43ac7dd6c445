//! Sessions as decisions see them ([`Sessions`]): when each was first and
//! last seen, its decision counts, and whether it is over (idle too long,
//! or past its maximum duration), which denies it from then on.
//!
//! The decision path reads and updates a session in memory (one lookup
//! and one short lock); a session not in memory is read from the project's
//! state (kind `session`) once. What changed is written back by
//! [`Sessions::flush`] (every second, on the server's sweep, and before a
//! listing), so a crash loses at most that second of `last_seen` and counts.
//! A session is keyed by its project, its agent and its id: two agents
//! that use one id have a session each, and neither can end or keep alive
//! the other's.

use crate::decision::Outcome;
use crate::policy::SessionLimits;
use crate::store::{Expect, Key, Op, State};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The state kind sessions are kept under.
pub const KIND: &str = "session";

/// Why a session is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ended {
    /// No decision for longer than its idle timeout.
    IdleTimeout,
    /// Longer than its maximum duration since its first decision.
    MaxDuration,
    /// Started when its agent had used up its sessions for the day
    /// (`max_sessions_per_day`).
    DailySessions,
}

impl Ended {
    /// The machine-readable cause of the denials it gives:
    /// `session_idle_timeout`, `session_max_duration`.
    pub fn code(self) -> &'static str {
        match self {
            Self::IdleTimeout => "session_idle_timeout",
            Self::MaxDuration => "session_max_duration",
            Self::DailySessions => "budget_exceeded",
        }
    }
}

/// Decisions by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Counts {
    /// `allow`.
    pub allow: u64,
    /// `deny`.
    pub deny: u64,
    /// `approval_required`.
    pub approval_required: u64,
    /// `throttled`.
    #[serde(default)]
    pub throttled: u64,
}

/// One session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Session {
    /// Its id, as the agent names it.
    pub id: String,
    /// The project.
    pub project: String,
    /// The agent.
    pub agent: String,
    /// Its first decision (Unix microseconds).
    pub first_seen: i64,
    /// Its last decision (Unix microseconds).
    pub last_seen: i64,
    /// Its decisions by outcome.
    pub decisions: Counts,
    /// Why it is over, once it is (for good).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<Ended>,
    /// Made by a refused request while its agent has a daily session
    /// limit: not counted against the day yet (its first request that is
    /// not refused counts it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub uncounted: bool,
    /// Bumped at every change here, so that a flush knows whether what it
    /// wrote is still the latest.
    #[serde(skip)]
    rev: u64,
}

/// A session's entry, shared by the table, the decisions using it and the
/// list of what to write back.
pub type Entry = Arc<Mutex<Session>>;

/// A session's key: its project, agent and id.
type SessionKey = (String, String, String);

/// The state key of `agent`'s session `id` (sorting by agent, then id).
pub fn store_key(agent: &str, id: &str) -> String {
    format!("{agent}\u{1f}{id}")
}

/// A new session's count against its agent's sessions of the day.
#[derive(Debug, Clone, Copy)]
pub struct Daily<'a> {
    /// The counter's key (kind `budget`): `sessions/agent/NAME/day/DAY`.
    pub key: &'a str,
    /// Sessions per day, at most.
    pub limit: u32,
}

/// A decision's hold on its session: [`Sessions::observe`] gives it, and
/// [`Ticket::count`] counts the outcome.
#[derive(Debug, Clone)]
pub struct Ticket {
    entry: Entry,
    key: SessionKey,
}

/// Sessions over a state store `S`.
pub struct Sessions<S> {
    state: Arc<S>,
    /// Sessions in memory, by (project, agent, id); at most 256 MiB of
    /// keys, evicted after an hour unused (they are read back from the
    /// store when used again).
    live: moka::sync::Cache<SessionKey, Entry>,
    /// Sessions changed since they were last written.
    dirty: Mutex<HashMap<SessionKey, Entry>>,
    /// One flush at a time.
    flushing: tokio::sync::Mutex<()>,
}

impl<S> std::fmt::Debug for Sessions<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions").finish_non_exhaustive()
    }
}

fn poisoned() -> Error {
    Error::Engine("the session table's lock is poisoned".into())
}

use crate::units::micros;

impl<S: State> Sessions<S> {
    /// Sessions kept in `state`.
    pub fn new(state: Arc<S>) -> Self {
        Self {
            state,
            live: moka::sync::Cache::builder()
                .weigher(|k: &SessionKey, _: &Entry| {
                    u32::try_from(k.0.len() + k.1.len() + k.2.len() + 256).unwrap_or(u32::MAX)
                })
                .max_capacity(256 * 1024 * 1024)
                .time_to_idle(std::time::Duration::from_secs(3600))
                .build(),
            dirty: Mutex::new(HashMap::new()),
            flushing: tokio::sync::Mutex::new(()),
        }
    }

    /// `agent`'s session `id` of `project` as stored, if it is.
    async fn read(&self, project: &str, agent: &str, id: &str) -> Result<Option<Session>> {
        match self
            .state
            .get(&Key::new(project, KIND, store_key(agent, id)))
            .await?
        {
            Some(v) => serde_json::from_str(&v.value).map(Some).map_err(|e| {
                Error::Engine(format!("session `{id}` of `{project}` is unreadable: {e}"))
            }),
            None => Ok(None),
        }
    }

    /// Whether `agent` has a session `id` in `project` (one a decision has
    /// seen), in memory or in the store.
    pub async fn known(&self, project: &str, agent: &str, id: &str) -> Result<bool> {
        let key = (project.to_owned(), agent.to_owned(), id.to_owned());
        if self.live.contains_key(&key) {
            return Ok(true);
        }
        Ok(self.read(project, agent, id).await?.is_some())
    }

    /// A decision of `agent` in session `id` of `project` at `now`: the
    /// session is seen (made if new), and judged against `limits` first.
    /// A new session is counted against `daily` (its agent's sessions of
    /// the day, in the project's state) before it exists: one over the
    /// limit is over from its start. `Some(ended)` if it is over (it stays
    /// over); an `Err` of the store (the session could not be read or
    /// counted) must deny.
    pub async fn observe(
        &self,
        project: &str,
        agent: &str,
        id: &str,
        limits: SessionLimits,
        daily: Option<Daily<'_>>,
        now: i64,
    ) -> Result<(Ticket, Option<Ended>)> {
        self.observe_or_not(project, agent, id, limits, daily, false, now)
            .await
    }

    /// [`Sessions::observe`] for a request already refused (a hold, a rate
    /// limit): a new session is made but not counted against `daily`
    /// (marked `uncounted`), so that its first request that is not refused
    /// counts it; a refused request never spends, nor skips, a day's
    /// session.
    pub async fn observe_refused(
        &self,
        project: &str,
        agent: &str,
        id: &str,
        limits: SessionLimits,
        daily: Option<Daily<'_>>,
        now: i64,
    ) -> Result<(Ticket, Option<Ended>)> {
        self.observe_or_not(project, agent, id, limits, daily, true, now)
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn observe_or_not(
        &self,
        project: &str,
        agent: &str,
        id: &str,
        limits: SessionLimits,
        daily: Option<Daily<'_>>,
        refused_request: bool,
        now: i64,
    ) -> Result<(Ticket, Option<Ended>)> {
        let key = (project.to_owned(), agent.to_owned(), id.to_owned());
        let entry = match self.live.get(&key) {
            Some(e) => e,
            None => {
                let stored = self.read(project, agent, id).await?;
                let mut counted = None;
                let mut refused = None;
                let uncounted = stored.is_none() && daily.is_some() && refused_request;
                if let (None, Some(d), false) = (&stored, daily, refused_request) {
                    let counter = Key::new(project, crate::budget::ledger::KIND, d.key);
                    match self
                        .state
                        .reserve(counter.clone(), 1, i64::from(d.limit))
                        .await?
                    {
                        Ok(_) => counted = Some(counter),
                        Err(_) => refused = Some(Ended::DailySessions),
                    }
                }
                let fresh = || {
                    Arc::new(Mutex::new(stored.unwrap_or_else(|| Session {
                        id: id.to_owned(),
                        project: project.to_owned(),
                        agent: agent.to_owned(),
                        first_seen: now,
                        last_seen: now,
                        decisions: Counts::default(),
                        ended: refused,
                        uncounted,
                        rev: 0,
                    })))
                };
                // Whoever inserted first wins; a racing read is dropped,
                // and its count given back.
                let inserted = self.live.entry(key.clone()).or_insert_with(fresh);
                if let (false, Some(counter)) = (inserted.is_fresh(), counted) {
                    let back = Op::Add {
                        key: counter,
                        amount: -1,
                        limit: None,
                    };
                    if let Err(e) = self.state.transact(vec![back]).await {
                        tracing::warn!(error = %e, "a session counted twice could not be given back");
                    }
                }
                inserted.into_value()
            }
        };
        // Made uncounted by a refused request: this one is not refused
        // (yet), so it counts the session now. Two such requests at once
        // may both count it: the later gives its count back.
        if let (Some(d), false) = (daily, refused_request) {
            let pending = entry.lock().map_err(|_| poisoned())?.uncounted;
            if pending {
                let counter = Key::new(project, crate::budget::ledger::KIND, d.key);
                let verdict = self
                    .state
                    .reserve(counter.clone(), 1, i64::from(d.limit))
                    .await?;
                let give_back = {
                    let mut s = entry.lock().map_err(|_| poisoned())?;
                    match (s.uncounted, verdict) {
                        (true, Ok(_)) => {
                            s.uncounted = false;
                            false
                        }
                        (true, Err(_)) => {
                            s.uncounted = false;
                            s.ended = Some(Ended::DailySessions);
                            false
                        }
                        (false, Ok(_)) => true,
                        (false, Err(_)) => false,
                    }
                };
                if give_back {
                    let back = Op::Add {
                        key: counter,
                        amount: -1,
                        limit: None,
                    };
                    if let Err(e) = self.state.transact(vec![back]).await {
                        tracing::warn!(error = %e, "a session counted twice could not be given back");
                    }
                }
            }
        }
        let ended = {
            let mut s = entry.lock().map_err(|_| poisoned())?;
            if s.ended.is_none() {
                let idle = limits
                    .idle_timeout_s
                    .is_some_and(|t| now.saturating_sub(s.last_seen) > micros(t));
                let long = limits
                    .max_duration_s
                    .is_some_and(|t| now.saturating_sub(s.first_seen) > micros(t));
                s.ended = if idle {
                    Some(Ended::IdleTimeout)
                } else if long {
                    Some(Ended::MaxDuration)
                } else {
                    None
                };
            }
            if s.ended.is_none() {
                s.last_seen = s.last_seen.max(now);
            }
            s.rev += 1;
            s.ended
        };
        self.dirty
            .lock()
            .map_err(|_| poisoned())?
            .insert(key.clone(), entry.clone());
        Ok((Ticket { entry, key }, ended))
    }

    /// Writes what changed since it was last written, one transaction per
    /// project, one flush at a time. A session stays to be written until
    /// what was written is its latest (a change made meanwhile is written
    /// by the next flush); a flush cut short loses nothing. Returns how
    /// many sessions were written.
    pub async fn flush(&self) -> Result<usize> {
        let _one = self.flushing.lock().await;
        let pending: Vec<(SessionKey, Entry)> = self
            .dirty
            .lock()
            .map_err(|_| poisoned())?
            .iter()
            .map(|(k, e)| (k.clone(), e.clone()))
            .collect();
        type Written = (SessionKey, Entry, u64, String);
        let mut by_project: HashMap<String, Vec<Written>> = HashMap::new();
        for (key, entry) in pending {
            let (rev, value) = {
                let s = entry.lock().map_err(|_| poisoned())?;
                (s.rev, serde_json::to_string(&*s))
            };
            match value {
                Ok(v) => {
                    by_project
                        .entry(key.0.clone())
                        .or_default()
                        .push((key, entry.clone(), rev, v))
                }
                Err(e) => tracing::error!(error = %e, "a session cannot be encoded"),
            }
        }
        let mut written = 0;
        let mut first_error = None;
        for (_, entries) in by_project {
            let ops = entries
                .iter()
                .map(|(key, _, _, value)| Op::Put {
                    key: Key::new(&key.0, KIND, store_key(&key.1, &key.2)),
                    value: value.clone(),
                    expect: Expect::Any,
                })
                .collect();
            match self.state.transact(ops).await {
                Ok(Ok(_)) => {
                    let mut dirty = self.dirty.lock().map_err(|_| poisoned())?;
                    for (key, wrote, rev, _) in &entries {
                        // The same entry (not one read back after an
                        // eviction), at the same revision.
                        let unchanged = dirty.get(key).is_some_and(|e| {
                            Arc::ptr_eq(e, wrote) && e.lock().is_ok_and(|s| s.rev == *rev)
                        });
                        if unchanged {
                            dirty.remove(key);
                        }
                    }
                    written += entries.len();
                }
                Ok(Err(c)) => {
                    first_error
                        .get_or_insert(Error::Engine(format!("sessions not written: {c:?}")));
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(written),
        }
    }

    /// The sessions of `project` as last written, by agent then id, from
    /// after the [`store_key`] `after`, at most `limit` (flush first to see
    /// the latest).
    pub async fn list(
        &self,
        project: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Session>> {
        let page = self.state.list(project, KIND, after, limit).await?;
        page.iter()
            .map(|(id, v)| {
                serde_json::from_str(&v.value).map_err(|e| {
                    Error::Engine(format!("session `{id}` of `{project}` is unreadable: {e}"))
                })
            })
            .collect()
    }
}

impl<S: State> Sessions<S> {
    /// Counts a decision's outcome on its session (written at the next
    /// flush).
    pub fn count(&self, ticket: &Ticket, outcome: Outcome) {
        if let Ok(mut s) = ticket.entry.lock() {
            s.rev += 1;
            let c = &mut s.decisions;
            match outcome {
                Outcome::Allow => c.allow += 1,
                Outcome::Deny => c.deny += 1,
                Outcome::ApprovalRequired => c.approval_required += 1,
                Outcome::Throttled => c.throttled += 1,
            }
        }
        if let Ok(mut dirty) = self.dirty.lock() {
            dirty.insert(ticket.key.clone(), ticket.entry.clone());
        }
    }
}

#[cfg(test)]
mod tests;
