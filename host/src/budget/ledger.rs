//! The budget ledger ([`Ledger`]): for each meter (the tokens or the money
//! of a session, an agent or the project, in a period), what is spent and
//! what decisions in flight have reserved, and the reservations.
//!
//! Spend is durable: each usage report is one transaction of the project's
//! state that stores the report (by its id, so a retry counts once) and
//! adds to every meter it charges (kind `budget`). Reservations live in
//! memory: this process is the only writer of its data directory, so one
//! lock makes "does it fit? then reserve" exact however many decisions ask
//! at once, without a store write on the decision path. A reservation is
//! settled by the usage that names its decision, released when its
//! decision is not allowed, or released at its deadline; a restart drops
//! them (their decisions' usage is still counted when it comes).
//!
//! Each meter is read from the state once (its first use after a start),
//! before anything is added to it here, so memory and the store agree.

use crate::store::{Applied, Conflict, Expect, Key, Op, State};
use crate::{Error, Result};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The state kind of the meters' spend (counters).
pub const KIND: &str = "budget";
/// The state kind of usage reports, by agent and `usage_id`.
pub const USAGE_KIND: &str = "usage";
/// The state kind of thresholds that have alerted, by meter.
pub const ALERTED_KIND: &str = "budget_alert";

/// What a meter counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Tokens.
    Tokens,
    /// Money, in micro-dollars.
    Micros,
}

/// Whose a meter is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// One session of one agent.
    Session,
    /// One agent, all its sessions.
    Agent,
    /// The project, all its agents.
    Project,
}

/// How long a meter counts before it starts again at 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Span {
    /// The session's life.
    Session,
    /// A calendar day.
    Day,
    /// A calendar month.
    Month,
}

/// What reaching a limit does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnExceed {
    /// Calls that do not fit are denied.
    Deny,
    /// Calls that do not fit are denied, and the project is paused.
    PauseAndAlert,
    /// Nothing is denied: the limit only alerts.
    Alert,
}

/// One meter a decision or a usage report touches, with its limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meter {
    /// Its counter's key in the project's state.
    pub key: String,
    /// Whose.
    pub scope: Scope,
    /// The session id, the agent's or the project's name.
    pub subject: String,
    /// What it counts.
    pub unit: Unit,
    /// How long.
    pub span: Span,
    /// The period (`2026-12-06`, `2026-12`; none for a session).
    pub period: Option<String>,
    /// When the period ends (Unix microseconds).
    pub resets_at: Option<i64>,
    /// The policy key that sets the limit (`max_tokens_per_session`,
    /// `monthly_limit`…); empty when it only counts.
    pub name: &'static str,
    /// The limit (`None`: counted, not limited).
    pub limit: Option<i64>,
    /// The shares (percent) that alert, ending with 100.
    pub thresholds: Vec<u8>,
    /// What reaching it does.
    pub on_exceed: OnExceed,
    /// Where its alerts go.
    pub channel: Option<String>,
}

impl Meter {
    /// Whether a call that does not fit is denied.
    pub fn denies(&self) -> bool {
        self.limit.is_some() && self.on_exceed != OnExceed::Alert
    }
}

/// A meter's figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Figures {
    /// Spent (reported usage).
    pub spent: i64,
    /// Reserved by decisions in flight.
    pub reserved: i64,
}

/// A decision that does not fit a meter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exceeded {
    /// The meter.
    pub meter: Meter,
    /// Its figures when the decision was refused.
    pub figures: Figures,
    /// What the decision needed (its estimate, at least 1).
    pub needed: i64,
    /// Whether spend alone has reached the limit: the budget is
    /// exhausted, not just too small for this call or busy with
    /// reservations.
    pub exhausted: bool,
}

/// A threshold a usage report took a meter across.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crossing {
    /// The meter.
    pub meter: Meter,
    /// The share crossed (percent).
    pub percent: u8,
    /// Its figures after the report.
    pub figures: Figures,
}

/// What a decision asks [`Ledger::reserve`] for.
#[derive(Debug, Clone, Copy)]
pub struct Ask<'a> {
    /// The project.
    pub project: &'a str,
    /// The agent.
    pub agent: &'a str,
    /// The decision's id (the reservation's).
    pub decision: &'a str,
    /// Its meters.
    pub meters: &'a [Meter],
    /// The tokens to reserve.
    pub tokens: i64,
    /// The money to reserve (micro-dollars).
    pub cost: i64,
    /// When the reservation goes back by itself (Unix microseconds).
    pub expires: i64,
    /// Now (Unix microseconds).
    pub now: i64,
}

/// What [`Ledger::charge`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Charged {
    /// Counted: the thresholds it crossed, and whether it settled the
    /// reservation of the decision it named.
    Counted {
        /// Thresholds crossed.
        crossings: Vec<Crossing>,
        /// Whether a reservation was settled.
        settled: bool,
    },
    /// A report with this id was counted before: its stored value.
    Duplicate(String),
}

#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    spent: i64,
    reserved: i64,
    used_at: i64,
}

#[derive(Debug)]
struct Reservation {
    project: String,
    agent: String,
    parts: Vec<(String, i64)>,
    expires: i64,
}

#[derive(Debug, Default)]
struct Books {
    /// By project, then meter key; present once read from the state.
    tallies: HashMap<String, HashMap<String, Tally>>,
    /// By decision id.
    reservations: HashMap<String, Reservation>,
    /// Reservations in flight, by project.
    held: HashMap<String, usize>,
    /// Thresholds known to have alerted ([`marker`]).
    alerted: std::collections::HashSet<String>,
    /// Bumped by every [`Ledger::forget_alert`]: a threshold found taken
    /// in the state is remembered only if nothing was forgotten meanwhile
    /// (the marker it found may be the one forgotten).
    forgets: u64,
}

/// Meters one project keeps in memory before those with nothing reserved
/// are forgotten.
const MAX_TALLIES_PER_PROJECT: usize = 200_000;

/// Thresholds remembered as alerted, at most (then forgotten: the state
/// still knows).
const MAX_ALERTED_IN_MEMORY: usize = 100_000;

/// The state key of threshold `percent` of `meter` at its current limit.
fn marker_key(meter: &Meter, percent: u8) -> String {
    format!(
        "{}/{}/{percent}",
        meter.key,
        meter.limit.unwrap_or_default()
    )
}

/// [`marker_key`] within `project`, for memory.
fn marker(project: &str, meter: &Meter, percent: u8) -> String {
    format!("{project}\u{1f}{}", marker_key(meter, percent))
}

/// The pseudo-meter named when a project holds all the reservations it
/// may ([`Exceeded::meter`] with key [`FULL`]).
fn full_meter(project: &str, max: usize) -> Meter {
    Meter {
        key: FULL.into(),
        scope: Scope::Project,
        subject: project.to_owned(),
        unit: Unit::Tokens,
        span: Span::Session,
        period: None,
        resets_at: None,
        name: "max_reservations",
        limit: Some(i64::try_from(max).unwrap_or(i64::MAX)),
        thresholds: Vec::new(),
        on_exceed: OnExceed::Deny,
        channel: None,
    }
}

/// The key of the pseudo-meter of a project out of reservations.
pub const FULL: &str = "reservations";

impl Books {
    fn tally(&self, project: &str, meter: &str) -> Option<&Tally> {
        self.tallies.get(project)?.get(meter)
    }

    /// The tally of `meter`, made (at `fresh`) if there is none (`None`
    /// never happens: the entry was just made).
    fn tally_or(&mut self, project: &str, meter: &str, fresh: Tally) -> Option<&mut Tally> {
        if !self.tallies.contains_key(project) {
            self.tallies.insert(project.to_owned(), HashMap::new());
        }
        let metered = self.tallies.get_mut(project)?;
        if !metered.contains_key(meter) {
            // Bounded: past the cap, the meters with nothing reserved are
            // forgotten (they are read again from the state when used), so
            // an agent cycling session ids cannot grow this without end.
            if metered.len() >= MAX_TALLIES_PER_PROJECT {
                metered.retain(|_, t| t.reserved > 0);
            }
            metered.insert(meter.to_owned(), fresh);
        }
        metered.get_mut(meter)
    }
}

/// The ledger over a state store `S`.
pub struct Ledger<S> {
    state: Arc<S>,
    books: Mutex<Books>,
    max_reservations: usize,
}

impl<S> std::fmt::Debug for Ledger<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger").finish_non_exhaustive()
    }
}

fn poisoned() -> Error {
    Error::Engine("the budget ledger's lock is poisoned".into())
}

/// The amount of a meter's unit among `tokens` and `cost`.
fn amount(unit: Unit, tokens: i64, cost: i64) -> i64 {
    match unit {
        Unit::Tokens => tokens,
        Unit::Micros => cost,
    }
}

impl<S: State> Ledger<S> {
    /// A ledger kept in `state`, with at most `max_reservations` in flight.
    pub fn new(state: Arc<S>, max_reservations: usize) -> Self {
        Self {
            state,
            books: Mutex::new(Books::default()),
            max_reservations,
        }
    }

    /// Reads each of `meters` not yet in memory from the state.
    async fn load(&self, project: &str, meters: &[Meter], now: i64) -> Result<()> {
        let missing: Vec<&Meter> = {
            let books = self.books.lock().map_err(|_| poisoned())?;
            meters
                .iter()
                .filter(|m| books.tally(project, &m.key).is_none())
                .collect()
        };
        for m in missing {
            let spent = self.state.total(&Key::new(project, KIND, &m.key)).await?;
            let mut books = self.books.lock().map_err(|_| poisoned())?;
            books.tally_or(
                project,
                &m.key,
                Tally {
                    spent,
                    reserved: 0,
                    used_at: now,
                },
            );
        }
        Ok(())
    }

    /// For decision `decision` of `agent`: if the call fits every meter
    /// that denies (what is spent, what is reserved, and `tokens` or
    /// `cost`, at least 1, within the limit), reserves `tokens` / `cost` on
    /// each of them until `expires` (`Ok(true)`; `Ok(false)` when there was
    /// nothing to reserve); otherwise reserves nothing and names the first
    /// meter it does not fit. Meters that only alert are not reserved on.
    /// A project holds at most `max_reservations` at once: past that, the
    /// call does not fit the pseudo-meter [`FULL`].
    pub async fn reserve(&self, ask: Ask<'_>) -> Result<std::result::Result<bool, Box<Exceeded>>> {
        // Most decisions find their meters in memory: one lock, no await.
        // A meter not there yet is read from the state, then the check is
        // made again; one still missing (forgotten by a sweep meanwhile)
        // denies: a meter is never judged as 0 spent.
        for attempt in 0..3 {
            {
                let mut books = self.books.lock().map_err(|_| poisoned())?;
                if let Some(done) = self.reserve_in(&mut books, &ask) {
                    return Ok(done);
                }
            }
            if attempt < 2 {
                self.load(ask.project, ask.meters, ask.now).await?;
            }
        }
        Err(Error::Engine(
            "a budget meter was forgotten while it was read".into(),
        ))
    }

    fn reserve_in(
        &self,
        books: &mut Books,
        ask: &Ask<'_>,
    ) -> Option<std::result::Result<bool, Box<Exceeded>>> {
        let Ask {
            project,
            agent,
            decision,
            meters,
            tokens,
            cost,
            expires,
            now,
        } = *ask;
        let metered = match books.tallies.get_mut(project) {
            Some(m) => m,
            None if meters.iter().any(Meter::denies) => return None,
            None => return Some(Ok(false)),
        };
        let mut parts = Vec::new();
        for m in meters.iter().filter(|m| m.denies()) {
            let t = metered.get_mut(&m.key)?;
            t.used_at = now;
            let want = amount(m.unit, tokens, cost).max(0);
            let limit = m.limit.unwrap_or(i64::MAX);
            let needed = want.max(1);
            // In i128: spend and reservations near i64::MAX never wrap.
            let total = i128::from(t.spent) + i128::from(t.reserved) + i128::from(needed);
            if total > i128::from(limit) {
                return Some(Err(Box::new(Exceeded {
                    meter: m.clone(),
                    figures: Figures {
                        spent: t.spent,
                        reserved: t.reserved,
                    },
                    needed,
                    exhausted: t.spent >= limit,
                })));
            }
            if want > 0 {
                parts.push((m.key.clone(), want));
            }
        }
        if parts.is_empty() {
            return Some(Ok(false));
        }
        let held = books.held.get(project).copied().unwrap_or(0);
        if held >= self.max_reservations {
            // Not a budget's verdict: the caller denies as unavailable.
            return Some(Err(Box::new(Exceeded {
                meter: full_meter(project, self.max_reservations),
                figures: Figures::default(),
                needed: 1,
                exhausted: false,
            })));
        }
        if let Some(metered) = books.tallies.get_mut(project) {
            for (key, want) in &parts {
                if let Some(t) = metered.get_mut(key) {
                    t.reserved = t.reserved.saturating_add(*want);
                }
            }
        }
        match books.held.get_mut(project) {
            Some(n) => *n += 1,
            None => {
                books.held.insert(project.to_owned(), 1);
            }
        }
        let old = books.reservations.insert(
            decision.to_owned(),
            Reservation {
                project: project.to_owned(),
                agent: agent.to_owned(),
                parts,
                expires,
            },
        );
        if let Some(old) = old {
            // A decision id is new each time; should one repeat, its old
            // reservation is given back rather than leaked.
            give_back(books, old);
        }
        Some(Ok(true))
    }

    /// Gives back the reservation of `decision`, if it has one.
    pub fn release(&self, decision: &str) {
        if let Ok(mut books) = self.books.lock() {
            release_in(&mut books, decision);
        }
    }

    /// Counts a usage report of `agent`: stores `record` under `usage_key`
    /// (refused if one is there: [`Charged::Duplicate`]) and adds `tokens`
    /// / `cost` to every one of `meters`, in one transaction; then settles
    /// the reservation of `decision` (if it is `agent`'s) and gives the
    /// thresholds crossed.
    #[allow(clippy::too_many_arguments)]
    pub async fn charge(
        &self,
        project: &str,
        agent: &str,
        usage_key: &str,
        record: String,
        meters: &[Meter],
        tokens: i64,
        cost: i64,
        decision: Option<&str>,
        now: i64,
    ) -> Result<Charged> {
        self.load(project, meters, now).await?;
        let mut ops = vec![Op::Put {
            key: Key::new(project, USAGE_KIND, usage_key),
            value: record,
            expect: Expect::Absent,
        }];
        for m in meters {
            ops.push(Op::Add {
                key: Key::new(project, KIND, &m.key),
                amount: amount(m.unit, tokens, cost),
                limit: None,
            });
        }
        match self.state.transact(ops).await? {
            Ok(applied) => {
                let totals: Vec<i64> = applied
                    .iter()
                    .filter_map(|a| match a {
                        Applied::Added { total } => Some(*total),
                        _ => None,
                    })
                    .collect();
                let mut books = self.books.lock().map_err(|_| poisoned())?;
                let settled = match decision {
                    Some(d)
                        if books
                            .reservations
                            .get(d)
                            .is_some_and(|r| r.project == project && r.agent == agent) =>
                    {
                        release_in(&mut books, d);
                        true
                    }
                    _ => false,
                };
                let mut crossings = Vec::new();
                for (m, total) in meters.iter().zip(totals) {
                    let Some(t) = books.tally_or(project, &m.key, Tally::default()) else {
                        continue;
                    };
                    // The store's total is the truth; memory follows it.
                    t.spent = total.max(t.spent);
                    t.used_at = now;
                    let figures = Figures {
                        spent: t.spent,
                        reserved: t.reserved,
                    };
                    // Every threshold spend has reached and that has not
                    // alerted (as far as this process knows): the caller
                    // asks [`Ledger::first_alert`], which decides for good.
                    // By level, not by crossing: one lost to a failure, or
                    // re-armed by a new limit, alerts at the next report.
                    if let Some(limit) = m.limit.filter(|l| *l > 0) {
                        for p in &m.thresholds {
                            let line = i128::from(limit) * i128::from(*p);
                            if i128::from(total) * 100 >= line
                                && !books.alerted.contains(&marker(project, m, *p))
                            {
                                crossings.push(Crossing {
                                    meter: m.clone(),
                                    percent: *p,
                                    figures,
                                });
                            }
                        }
                    }
                }
                Ok(Charged::Counted { crossings, settled })
            }
            Err(Conflict::Version { op: 0, .. }) => {
                let stored = self
                    .state
                    .get(&Key::new(project, USAGE_KIND, usage_key))
                    .await?
                    .map(|v| v.value)
                    .unwrap_or_default();
                Ok(Charged::Duplicate(stored))
            }
            Err(c) => Err(Error::Engine(format!(
                "a usage report could not be counted ({c:?})"
            ))),
        }
    }

    /// Whether threshold `percent` of `meter` alerts now: true the first
    /// time it is asked for the meter's period and limit (kept in the
    /// state, so once for good, whoever asks and however often; a new
    /// limit is a new line, and alerts again). What this process knows
    /// has alerted is answered from memory, without the store.
    pub async fn first_alert(&self, project: &str, meter: &Meter, percent: u8) -> Result<bool> {
        let id = marker(project, meter, percent);
        let forgets = {
            let books = self.books.lock().map_err(|_| poisoned())?;
            if books.alerted.contains(&id) {
                return Ok(false);
            }
            books.forgets
        };
        let key = Key::new(project, ALERTED_KIND, marker_key(meter, percent));
        let first = self.state.put(key, "", Expect::Absent).await?.is_ok();
        let mut books = self.books.lock().map_err(|_| poisoned())?;
        if books.alerted.len() >= MAX_ALERTED_IN_MEMORY {
            // The state decides anyway; memory only spares it the writes.
            books.alerted.clear();
        }
        if first || books.forgets == forgets {
            books.alerted.insert(id);
        }
        Ok(first)
    }

    /// Whether this process knows threshold `percent` of `meter` has
    /// alerted (memory only: `false` may still be answered `false` by
    /// [`Ledger::first_alert`]).
    pub fn known_alerted(&self, project: &str, meter: &Meter, percent: u8) -> bool {
        self.books
            .lock()
            .is_ok_and(|b| b.alerted.contains(&marker(project, meter, percent)))
    }

    /// Undoes [`Ledger::first_alert`] for an alert that could not be
    /// raised, so that the next report raises it.
    pub async fn forget_alert(&self, project: &str, meter: &Meter, percent: u8) -> Result<()> {
        let key = Key::new(project, ALERTED_KIND, marker_key(meter, percent));
        self.state
            .transact(vec![Op::Delete {
                key,
                expect: Expect::Any,
            }])
            .await?
            .map_err(|c| Error::Engine(format!("an alert marker could not be removed ({c:?})")))?;
        if let Ok(mut books) = self.books.lock() {
            books.alerted.remove(&marker(project, meter, percent));
            books.forgets += 1;
        }
        Ok(())
    }

    /// The figures of each of `meters`.
    pub async fn figures(&self, project: &str, meters: &[Meter], now: i64) -> Result<Vec<Figures>> {
        self.load(project, meters, now).await?;
        let books = self.books.lock().map_err(|_| poisoned())?;
        Ok(meters
            .iter()
            .map(|m| {
                let t = books.tally(project, &m.key).copied().unwrap_or_default();
                Figures {
                    spent: t.spent,
                    reserved: t.reserved,
                }
            })
            .collect())
    }

    /// Releases the reservations past their deadline, and forgets meters
    /// unused for `idle_us` with nothing reserved (they are read again
    /// when used). Returns how many reservations were released.
    pub fn sweep(&self, now: i64, idle_us: i64) -> usize {
        let Ok(mut books) = self.books.lock() else {
            return 0;
        };
        let due: Vec<String> = books
            .reservations
            .iter()
            .filter(|(_, r)| r.expires <= now)
            .map(|(d, _)| d.clone())
            .collect();
        for d in &due {
            release_in(&mut books, d);
        }
        for metered in books.tallies.values_mut() {
            metered.retain(|_, t| t.reserved > 0 || now.saturating_sub(t.used_at) < idle_us);
        }
        books.tallies.retain(|_, m| !m.is_empty());
        books.held.retain(|_, n| *n > 0);
        due.len()
    }

    /// The stored counter `key` of `project` (kind [`KIND`]).
    pub async fn counter(&self, project: &str, key: &str) -> Result<i64> {
        self.state.total(&Key::new(project, KIND, key)).await
    }

    /// The project and agent of the reservation of `decision`, if it has
    /// one.
    pub fn owner(&self, decision: &str) -> Option<(String, String)> {
        let books = self.books.lock().ok()?;
        books
            .reservations
            .get(decision)
            .map(|r| (r.project.clone(), r.agent.clone()))
    }

    /// Reservations in flight.
    pub fn in_flight(&self) -> usize {
        self.books.lock().map_or(0, |b| b.reservations.len())
    }
}

fn release_in(books: &mut Books, decision: &str) {
    if let Some(r) = books.reservations.remove(decision) {
        give_back(books, r);
    }
}

fn give_back(books: &mut Books, r: Reservation) {
    if let Some(n) = books.held.get_mut(&r.project) {
        *n = n.saturating_sub(1);
    }
    let Some(metered) = books.tallies.get_mut(&r.project) else {
        return;
    };
    for (key, want) in r.parts {
        if let Some(t) = metered.get_mut(&key) {
            t.reserved = t.reserved.saturating_sub(want).max(0);
        }
    }
}
