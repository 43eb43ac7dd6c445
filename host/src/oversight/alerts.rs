//! Alerts (seed 000 chapter 3): permission-denied events, request volume
//! over a multiple of an agent's baseline, off-hours activity, and an
//! agent's first access to a resource ([`Alerts`]).
//!
//! The decision path only hands each decision to a bounded queue
//! ([`Alerts::observe`]: no lock, no allocation beyond the event, never a
//! wait; a full queue drops the event and counts it). A worker
//! ([`Alerts::run`]) evaluates the project's rules off the path, keeps each
//! agent's counters in memory, and raises an alert once per episode (a rule
//! does not fire again for the same agent within its cool-down): the alert
//! is kept in the project's state (kind `alert`), sent to the rule's
//! channel through the outbox, and handed to the server to record.
//!
//! What an agent has accessed (for `first_access`) is kept in the state
//! (kind `seen`), so a restart does not make everything new; the volume
//! baseline and the denial windows are in memory and start again after a
//! restart.

use crate::decision::Outcome;
use crate::notify::{Channel, Message, Outbox};
use crate::policy::alert_rules::{AlertRule, Condition};
use crate::policy::model::AlertKind;
use crate::store::{Expect, Key, State};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The state kind alerts are kept under.
pub const KIND: &str = "alert";
/// The state kind of what agents have accessed.
pub const SEEN_KIND: &str = "seen";
/// Events waiting for the worker, at most.
pub const QUEUE: usize = 65_536;
/// Accesses remembered in memory per agent (the state has them all).
const SEEN_IN_MEMORY: usize = 10_000;

const MINUTE: i64 = 60_000_000;

/// One decision, as alerts see it.
#[derive(Debug, Clone)]
pub struct Event {
    /// The project.
    pub project: String,
    /// The agent.
    pub agent: String,
    /// The session.
    pub session: String,
    /// The service.
    pub service: String,
    /// The action.
    pub action: String,
    /// The resource.
    pub resource: String,
    /// The answer.
    pub outcome: Outcome,
    /// When (Unix microseconds).
    pub at: i64,
}

/// One alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alert {
    /// Its id (`alr_…`, sorting by time).
    pub id: String,
    /// The project.
    pub project: String,
    /// The agent.
    pub agent: String,
    /// What fired.
    pub kind: AlertKind,
    /// The rule's place in the project's `alerts:` block (none for a
    /// budget's or a rate limit's alert).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<usize>,
    /// What happened, for people.
    pub title: String,
    /// The figures (counts, the resource, the local time…).
    pub details: BTreeMap<String, String>,
    /// When (Unix microseconds).
    pub at: i64,
    /// Where it was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// Its outbox notification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification: Option<String>,
}

/// An alert to raise now ([`Alerts::raise_now`]).
#[derive(Debug, Clone)]
pub struct Raised<'a> {
    /// The project.
    pub project: &'a str,
    /// The agent (the project's name for a project's alert).
    pub agent: &'a str,
    /// What fired.
    pub kind: AlertKind,
    /// The rule, if a rule fired.
    pub rule: Option<usize>,
    /// Where it goes, e.g. `slack:#budgets`.
    pub channel: Option<&'a str>,
    /// What happened, for people.
    pub title: String,
    /// The figures.
    pub details: BTreeMap<String, String>,
    /// When (Unix microseconds).
    pub at: i64,
}

/// One rule's memory for one agent.
#[derive(Debug, Default)]
struct RuleState {
    /// `denied`: the denials within the window.
    denials: VecDeque<i64>,
    /// When it last fired.
    last_fired: Option<i64>,
}

/// One agent's memory.
#[derive(Debug)]
struct Watch {
    /// Its first decision seen by this process (the volume baseline's
    /// history starts there).
    first_here: i64,
    /// Requests per minute, the last 61 minutes, oldest first.
    minutes: VecDeque<(i64, u32)>,
    /// Accesses known to be seen.
    seen: HashSet<[u8; 16]>,
    /// Each rule's memory, by index.
    rules: HashMap<usize, RuleState>,
    /// When alerts first saw the agent (read from the state once).
    since: Option<i64>,
}

impl Watch {
    fn new(at: i64) -> Self {
        Self {
            first_here: at,
            minutes: VecDeque::new(),
            seen: HashSet::new(),
            rules: HashMap::new(),
            since: None,
        }
    }

    /// Counts a request in its minute; returns (this minute's count, the
    /// mean of the complete minutes of the last hour since `first_here`,
    /// minutes of history).
    fn count(&mut self, at: i64) -> (u32, f64, i64) {
        let minute = at.div_euclid(MINUTE);
        match self.minutes.back_mut() {
            Some((m, n)) if *m == minute => *n += 1,
            _ => self.minutes.push_back((minute, 1)),
        }
        while self.minutes.front().is_some_and(|(m, _)| *m < minute - 60) {
            self.minutes.pop_front();
        }
        let current = self.minutes.back().map_or(0, |(_, n)| *n);
        let history = (minute - self.first_here.div_euclid(MINUTE)).clamp(0, 60);
        let past: u64 = self
            .minutes
            .iter()
            .filter(|(m, _)| *m < minute && *m >= minute - history)
            .map(|(_, n)| u64::from(*n))
            .sum();
        let mean = if history > 0 {
            past as f64 / history as f64
        } else {
            0.0
        };
        (current, mean, history)
    }
}

/// Alerts over a state store `S`.
pub struct Alerts<S> {
    state: Arc<S>,
    tx: tokio::sync::mpsc::Sender<Event>,
    rx: std::sync::Mutex<Option<tokio::sync::mpsc::Receiver<Event>>>,
    dropped: AtomicU64,
}

impl<S> std::fmt::Debug for Alerts<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Alerts")
            .field("dropped", &self.dropped.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

fn decode(id: &str, v: &str) -> Result<Alert> {
    serde_json::from_str(v).map_err(|e| {
        Error::Engine(format!(
            "alert `{id}` in the state store is unreadable: {e}"
        ))
    })
}

use crate::units::micros;

/// The id of what `agent` accessed: 128 bits of sha256 over the agent,
/// the service and the resource.
fn access_id(agent: &str, service: &str, resource: &str) -> [u8; 16] {
    let mut h = Sha256::new();
    for part in [agent, service, resource] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    let d = h.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&d[..16]);
    out
}

impl<S: State + 'static> Alerts<S> {
    /// Alerts kept in `state`.
    pub fn new(state: Arc<S>) -> Self {
        let (tx, rx) = tokio::sync::mpsc::channel(QUEUE);
        Self {
            state,
            tx,
            rx: std::sync::Mutex::new(Some(rx)),
            dropped: AtomicU64::new(0),
        }
    }

    /// Hands a decision to the worker: never waits; a full queue drops it.
    pub fn observe(&self, event: Event) {
        if self.tx.try_send(event).is_err() {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(
                    dropped = n,
                    "the alert queue is full: decisions were not evaluated for alerts"
                );
            }
        }
    }

    /// Events dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Evaluates events until the queue closes: `rules(project)` gives the
    /// project's rules as serving; each alert raised is stored, sent
    /// through `outbox` to its rule's channel, and given to `raised`. Runs
    /// once (a second call returns at once).
    pub async fn run(
        self: Arc<Self>,
        outbox: Arc<Outbox<S>>,
        rules: impl Fn(&str) -> Option<Arc<Vec<AlertRule>>> + Send + 'static,
        raised: impl Fn(Alert) + Send + 'static,
    ) {
        let Some(mut rx) = self.rx.lock().ok().and_then(|mut r| r.take()) else {
            return;
        };
        let mut watches: HashMap<(String, String), Watch> = HashMap::new();
        while let Some(e) = rx.recv().await {
            let Some(rules) = rules(&e.project).filter(|r| !r.is_empty()) else {
                continue;
            };
            let key = (e.project.clone(), e.agent.clone());
            let watch = watches.entry(key).or_insert_with(|| Watch::new(e.at));
            let fired = match self.evaluate(&rules, watch, &e).await {
                Ok(f) => f,
                Err(err) => {
                    tracing::warn!(project = %e.project, error = %err, "alerts could not be evaluated for a decision");
                    continue;
                }
            };
            for (rule, title, details) in fired {
                match self.raise(&outbox, rule, &e, title, details).await {
                    Ok(a) => raised(a),
                    Err(err) => {
                        tracing::error!(project = %e.project, error = %err, "an alert could not be raised")
                    }
                }
            }
        }
    }

    /// The rules `e` fires, each at most once per cool-down for its agent.
    async fn evaluate<'r>(
        &self,
        rules: &'r [AlertRule],
        watch: &mut Watch,
        e: &Event,
    ) -> Result<Vec<(&'r AlertRule, String, BTreeMap<String, String>)>> {
        let (current, mean, history) = watch.count(e.at);
        let mut fired = Vec::new();
        let mut first_access: Option<bool> = None;
        for rule in rules {
            let hit = match &rule.condition {
                Condition::Denied {
                    threshold,
                    window_s,
                } => {
                    let st = watch.rules.entry(rule.index).or_default();
                    if e.outcome == Outcome::Deny {
                        st.denials.push_back(e.at);
                        // Only the last `threshold` matter.
                        while st.denials.len() > *threshold as usize {
                            st.denials.pop_front();
                        }
                    }
                    while st
                        .denials
                        .front()
                        .is_some_and(|t| *t <= e.at - micros(*window_s))
                    {
                        st.denials.pop_front();
                    }
                    let n = st.denials.len();
                    (e.outcome == Outcome::Deny && n >= *threshold as usize).then(|| {
                        (
                            format!("{} was denied {n} times in {}s", e.agent, window_s),
                            BTreeMap::from([
                                ("denials".to_owned(), n.to_string()),
                                ("window".to_owned(), format!("{window_s}s")),
                                (
                                    "last".to_owned(),
                                    format!("{}:{} on {}", e.service, e.action, e.resource),
                                ),
                            ]),
                        )
                    })
                }
                Condition::Volume {
                    factor,
                    min_history_s,
                    min_requests,
                } => {
                    let enough =
                        history * 60 >= i64::try_from(*min_history_s).unwrap_or(i64::MAX).min(3600);
                    let over = f64::from(current) > f64::from(*factor) * mean.max(1.0 / 60.0);
                    (enough && current >= *min_requests && over).then(|| {
                        (
                            format!(
                                "{} made {current} requests this minute, over {factor}× its baseline of {mean:.1}/min",
                                e.agent
                            ),
                            BTreeMap::from([
                                ("requests_this_minute".to_owned(), current.to_string()),
                                ("baseline_per_minute".to_owned(), format!("{mean:.1}")),
                                ("factor".to_owned(), factor.to_string()),
                            ]),
                        )
                    })
                }
                Condition::OffHours {
                    start,
                    end,
                    days,
                    time_zone,
                } => {
                    let local = jiff::Timestamp::from_microsecond(e.at)
                        .map_err(|err| Error::Engine(format!("a decision's time: {err}")))?
                        .to_zoned(time_zone.clone());
                    let day = usize::from(local.weekday().to_monday_zero_offset().unsigned_abs());
                    let minute = i32::from(local.hour()) * 60 + i32::from(local.minute());
                    let working = days.get(day).copied().unwrap_or(false)
                        && minute >= i32::from(*start)
                        && minute < i32::from(*end);
                    (!working).then(|| {
                        (
                            format!(
                                "{} is active off hours ({})",
                                e.agent,
                                local.strftime("%a %H:%M %Z")
                            ),
                            BTreeMap::from([
                                ("local_time".to_owned(), local.to_string()),
                                (
                                    "request".to_owned(),
                                    format!("{}:{} on {}", e.service, e.action, e.resource),
                                ),
                            ]),
                        )
                    })
                }
                Condition::FirstAccess { learn_for_s } => {
                    if e.outcome != Outcome::Allow {
                        None
                    } else {
                        let first = match first_access {
                            Some(f) => f,
                            None => {
                                let f = self.first_access(watch, e).await?;
                                first_access = Some(f);
                                f
                            }
                        };
                        let since = match watch.since {
                            Some(t) => t,
                            None => {
                                let t = self.agent_since(e).await?;
                                watch.since = Some(t);
                                t
                            }
                        };
                        let learnt = e.at.saturating_sub(since) >= micros(*learn_for_s);
                        (first && learnt).then(|| {
                            (
                                format!(
                                    "{} accessed {}:{} for the first time",
                                    e.agent, e.service, e.resource
                                ),
                                BTreeMap::from([
                                    ("service".to_owned(), e.service.clone()),
                                    ("resource".to_owned(), e.resource.clone()),
                                    ("action".to_owned(), e.action.clone()),
                                ]),
                            )
                        })
                    }
                }
            };
            let Some((title, mut details)) = hit else {
                continue;
            };
            let st = watch.rules.entry(rule.index).or_default();
            let cooling = st
                .last_fired
                .is_some_and(|t| e.at.saturating_sub(t) < micros(rule.cooldown_s));
            if cooling {
                continue;
            }
            st.last_fired = Some(e.at);
            details.insert("session".into(), e.session.clone());
            fired.push((rule, title, details));
        }
        Ok(fired)
    }

    /// Whether `e` is its agent's first access to its (service, resource):
    /// remembered in memory, and in the state for good.
    async fn first_access(&self, watch: &mut Watch, e: &Event) -> Result<bool> {
        let id = access_id(&e.agent, &e.service, &e.resource);
        if watch.seen.contains(&id) {
            return Ok(false);
        }
        if watch.seen.len() >= SEEN_IN_MEMORY {
            watch.seen.clear();
        }
        watch.seen.insert(id);
        let key = Key::new(&e.project, SEEN_KIND, hex::encode(id));
        let written = self.state.put(key, "", Expect::Absent).await?;
        Ok(written.is_ok())
    }

    /// When the agent of `e` was first seen by alerts (kept in the state).
    async fn agent_since(&self, e: &Event) -> Result<i64> {
        let key = Key::new(&e.project, SEEN_KIND, format!("agent/{}", e.agent));
        if let Some(v) = self.state.get(&key).await? {
            return v
                .value
                .parse()
                .map_err(|_| Error::Engine("an agent's first-seen time is unreadable".into()));
        }
        self.state
            .put(key, e.at.to_string(), Expect::Absent)
            .await?
            .ok();
        Ok(e.at)
    }

    /// Stores and sends one alert of a rule.
    async fn raise(
        &self,
        outbox: &Outbox<S>,
        rule: &AlertRule,
        e: &Event,
        title: String,
        details: BTreeMap<String, String>,
    ) -> Result<Alert> {
        let raised = Raised {
            project: &e.project,
            agent: &e.agent,
            kind: rule.kind,
            rule: Some(rule.index),
            channel: rule.channel.as_deref(),
            title,
            details,
            at: e.at,
        };
        self.raise_now(outbox, raised).await
    }

    /// Stores an alert raised outside the rules (a budget's, a rate
    /// limit's), sends it to its channel (if any) through `outbox`, and
    /// gives it back to be recorded.
    pub async fn raise_now(&self, outbox: &Outbox<S>, r: Raised<'_>) -> Result<Alert> {
        let mut b = [0u8; 12];
        getrandom::fill(&mut b)
            .map_err(|err| Error::Engine(format!("no randomness for an id: {err}")))?;
        let mut alert = Alert {
            id: format!("alr_{:016x}{}", r.at.max(0), hex::encode(b)),
            project: r.project.to_owned(),
            agent: r.agent.to_owned(),
            kind: r.kind,
            rule: r.rule,
            title: r.title,
            details: r.details,
            at: r.at,
            channel: r.channel.map(str::to_owned),
            notification: None,
        };
        if let Some(channel) = r.channel.and_then(|c| Channel::parse(c).ok()) {
            let mut fields = vec![
                ("agent".to_owned(), alert.agent.clone()),
                ("alert".to_owned(), alert.kind.as_str().to_owned()),
            ];
            fields.extend(alert.details.iter().map(|(k, v)| (k.clone(), v.clone())));
            let message = Message {
                kind: "alert".into(),
                id: alert.id.clone(),
                project: alert.project.clone(),
                title: alert.title.clone(),
                fields,
                actions: false,
            };
            match outbox.enqueue(&alert.project, &channel, message).await {
                Ok(id) => alert.notification = Some(id),
                Err(err) => {
                    tracing::warn!(alert = %alert.id, error = %err, "an alert's notification could not be queued")
                }
            }
        }
        let value = serde_json::to_string(&alert)
            .map_err(|err| Error::Engine(format!("cannot encode an alert: {err}")))?;
        self.state
            .put(
                Key::new(&alert.project, KIND, &alert.id),
                value,
                Expect::Absent,
            )
            .await?
            .map_err(|c| Error::Engine(format!("alert id {} is taken ({c:?})", alert.id)))?;
        Ok(alert)
    }

    /// The alerts of `project`, oldest first, from after id `after`, at most
    /// `limit`.
    pub async fn list(
        &self,
        project: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Alert>> {
        let page = self.state.list(project, KIND, after, limit).await?;
        page.iter().map(|(id, v)| decode(id, &v.value)).collect()
    }
}

#[cfg(test)]
mod tests;
