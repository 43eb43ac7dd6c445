//! Budgets and rate limits on the HTTP side: what a decision is throttled
//! by or reserves ([`meter`], on the decision path), the alerts and the
//! pause a budget raises, and `GET /v1/budgets` (administrators of the
//! project; an agent sees its own).

use super::{ApiError, AppState, auth};
use crate::budget::{self, Crossing, Exceeded, Meter, OnExceed, Unit, Which};
use crate::decision::{Decision, Outcome};
use crate::oversight::{Raised, Scope as HoldScope};
use crate::policy::Agent;
use crate::policy::model::{AlertKind, OnRateExceeded};
use crate::runtime::types::DecisionRequest;
use crate::snapshot::{Identity, Project};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Who pauses a project whose budget is exhausted, as holds and the audit
/// trail name it.
pub const BUDGET_ACTOR: &str = "palisade (budget)";

/// What a decision asks to reserve: `estimated_tokens`, priced at
/// `model`'s highest price (or the table's highest without one).
#[derive(Debug, Clone, Default)]
pub(super) struct Estimate {
    pub(super) tokens: i64,
    pub(super) model: Option<String>,
}

/// A throttled decision's figures.
#[derive(Debug, Clone, Serialize)]
pub(super) struct ThrottleView {
    /// Seconds until a request would be admitted (rounded up).
    pub(super) retry_after: u64,
    /// `agent` or `project`.
    scope: &'static str,
    /// The limit, per minute.
    max_requests_per_minute: u32,
}

/// A budget's figures, as answered and listed.
#[derive(Debug, Clone, Serialize)]
pub(super) struct MeterView {
    /// `session`, `agent` or `project`.
    scope: budget::Scope,
    /// The session id, the agent's or the project's name.
    subject: String,
    /// The policy key that limits it (`max_tokens_per_session`,
    /// `monthly_limit`…), or `null` when it is only counted.
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'static str>,
    /// `tokens`, `usd` or `sessions`.
    unit: &'static str,
    /// `session`, `day` or `month`.
    span: budget::Span,
    /// `2026-12-06`, `2026-12`.
    #[serde(skip_serializing_if = "Option::is_none")]
    period: Option<String>,
    /// The limit (`$500.00` for money), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    limit: Option<String>,
    /// Spent: reported usage.
    spent: String,
    /// Reserved by decisions in flight.
    reserved: String,
    /// What is left of the limit after spend and reservations.
    #[serde(skip_serializing_if = "Option::is_none")]
    remaining: Option<String>,
    /// The thresholds (percent of the limit) spend has crossed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    thresholds_crossed: Vec<u8>,
    /// What reaching the limit does: `deny`, `pause_and_alert`, `alert`.
    #[serde(skip_serializing_if = "Option::is_none")]
    on_exceed: Option<OnExceed>,
    /// When the period ends (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    resets_at: Option<String>,
}

/// An amount of `unit` as shown: a count, or dollars.
fn shown(unit: Unit, amount: i64) -> String {
    match unit {
        Unit::Tokens => amount.to_string(),
        Unit::Micros => budget::pricing::dollars(amount),
    }
}

fn view(m: &Meter, f: budget::Figures) -> MeterView {
    MeterView {
        scope: m.scope,
        subject: m.subject.clone(),
        name: m.limit.map(|_| m.name),
        unit: match m.unit {
            Unit::Tokens => "tokens",
            Unit::Micros => "usd",
        },
        span: m.span,
        period: m.period.clone(),
        limit: m.limit.map(|l| shown(m.unit, l)),
        spent: shown(m.unit, f.spent),
        reserved: shown(m.unit, f.reserved),
        remaining: m.limit.map(|l| {
            let left = l.saturating_sub(f.spent).saturating_sub(f.reserved);
            shown(m.unit, left.max(0))
        }),
        thresholds_crossed: m
            .limit
            .filter(|l| *l > 0)
            .map(|l| {
                m.thresholds
                    .iter()
                    .copied()
                    .filter(|p| i128::from(f.spent) * 100 >= i128::from(l) * i128::from(*p))
                    .collect()
            })
            .unwrap_or_default(),
        on_exceed: m.limit.map(|_| m.on_exceed),
        resets_at: m.resets_at.map(crate::units::rfc3339),
    }
}

/// What metering did to a decision.
#[derive(Debug, Default)]
pub(super) struct Metered {
    /// The decision, when a rate limit or a budget stops it.
    pub(super) stopped: Option<Decision>,
    /// A rate limit's figures.
    pub(super) throttle: Option<ThrottleView>,
    /// The budget it does not fit.
    pub(super) over: Option<MeterView>,
    /// Whether a reservation was made (released unless the answer is
    /// `allow`).
    pub(super) reserved: bool,
}

/// The rate limits of `request` of `agent` at `now`: the agent's, then
/// the project's. Over one, the `throttled` decision (and its alert, once
/// per episode); `None` when it is admitted.
pub(super) async fn throttle(
    state: &Arc<AppState>,
    project: &Project,
    agent: &Agent,
    request: &DecisionRequest,
    now: i64,
) -> Option<Metered> {
    let gate = state.gate()?;
    let budgets = &gate.budgets;
    let plan = &project.policy.budgets;
    for (scope, who, limit) in [
        ("agent", agent.name.as_str(), agent.rate_limits.as_ref()),
        ("project", "", plan.project_rate.as_ref()),
    ] {
        let Some(limit) = limit else { continue };
        let Err(t) = budgets.throttle(&request.project, who, limit, now).await else {
            continue;
        };
        let retry_after = t.retry_after_ms.div_ceil(1000);
        let whose = match scope {
            "agent" => format!("agent `{}`", agent.name),
            _ => format!("project `{}`", request.project),
        };
        if t.new_episode && limit.on_exceed() == OnRateExceeded::ThrottleAndAlert {
            let details = BTreeMap::from([
                ("scope".to_owned(), scope.to_owned()),
                (
                    "max_requests_per_minute".to_owned(),
                    limit.max_requests_per_minute.to_string(),
                ),
                ("session".to_owned(), request.session.clone()),
            ]);
            spawn_alert(
                state,
                Outside {
                    project: request.project.clone(),
                    agent: agent.name.clone(),
                    kind: AlertKind::RateLimit,
                    channel: limit.alert_channel.clone(),
                    title: format!(
                        "{whose} is over its rate limit of {} requests per minute",
                        limit.max_requests_per_minute
                    ),
                    details,
                    at: now,
                },
            );
        }
        return Some(Metered {
            stopped: Some(Decision {
                outcome: Outcome::Throttled,
                reason: format!(
                    "throttled: {whose} is over its rate limit of {} requests per minute; \
                     retry after {retry_after}s",
                    limit.max_requests_per_minute
                ),
                steps: Vec::new(),
                code: Some("rate_limited"),
            }),
            throttle: Some(ThrottleView {
                retry_after,
                scope,
                max_requests_per_minute: limit.max_requests_per_minute,
            }),
            ..Metered::default()
        });
    }
    None
}

/// The budgets of `request` of `agent` at `now`: one that does not fit is
/// denied with `budget_exceeded`; otherwise the estimate is reserved. A
/// ledger that cannot be read denies.
pub(super) async fn meter(
    state: &Arc<AppState>,
    project: &Project,
    agent: &Agent,
    request: &DecisionRequest,
    estimate: &Estimate,
    now: i64,
) -> Metered {
    let Some(gate) = state.gate() else {
        return Metered::default();
    };
    let budgets = &gate.budgets;
    let plan = &project.policy.budgets;
    if !plan.meters(agent.budget.as_ref()) {
        return Metered::default();
    }
    let unreadable = |e: crate::Error| {
        tracing::error!(project = %request.project, error = %e, "cannot read the budget; the decision is denied");
        Metered {
            stopped: Some(Decision::host_denial(
                "denied: the budget cannot be read".into(),
                "state_unavailable",
            )),
            ..Metered::default()
        }
    };
    let calendar = match budgets.calendar(plan, now) {
        Ok(c) => c,
        Err(e) => return unreadable(e),
    };
    let meters = budget::meters(
        plan,
        agent.budget.as_ref(),
        &request.project,
        &request.agent,
        &request.session,
        &calendar,
        Which::Limited,
    );
    // Money budgets need prices: without a pricing table they cannot be
    // enforced, so they deny rather than count every call as free.
    if budgets.pricing.is_empty()
        && let Some(m) = meters.iter().find(|m| m.unit == Unit::Micros && m.denies())
    {
        tracing::warn!(project = %request.project, "a money budget is set but the server has no pricing table; the decision is denied");
        return Metered {
            stopped: Some(Decision::host_denial(
                format!(
                    "denied: {}'s `{}` is in money, and this server has no pricing table to \
                     price usage with; an administrator adds `pricing:` to the server's \
                     configuration",
                    whose(m),
                    m.name
                ),
                "budget_unpriced",
            )),
            ..Metered::default()
        };
    }
    let cost = budgets.pricing.estimate(
        estimate.model.as_deref(),
        estimate.tokens.max(0).unsigned_abs(),
    );
    let expires = now.saturating_add(crate::units::micros(budgets.settings.reservation_timeout.0));
    let reserved = budgets
        .ledger
        .reserve(budget::Ask {
            project: &request.project,
            agent: &request.agent,
            decision: &request.request_id,
            meters: &meters,
            tokens: estimate.tokens,
            cost,
            expires,
            now,
        })
        .await;
    match reserved {
        Ok(Ok(reserved)) => Metered {
            reserved,
            ..Metered::default()
        },
        Ok(Err(ex)) if ex.meter.key == budget::ledger::FULL => {
            tracing::warn!(project = %request.project, "the project holds all the budget reservations it may; the decision is denied");
            Metered {
                stopped: Some(Decision::host_denial(
                    format!(
                        "denied: project `{}` has {} budget reservations in flight, the most \
                         it may hold; report usage for finished calls, or retry later",
                        request.project,
                        ex.meter.limit.unwrap_or_default()
                    ),
                    "reservations_full",
                )),
                ..Metered::default()
            }
        }
        Ok(Err(ex)) => {
            // Spawned only while the limit's 100% is not known to have
            // alerted: an agent hammering a spent budget costs no task,
            // and no store write, per denial.
            if ex.exhausted
                && !budgets
                    .ledger
                    .known_alerted(&request.project, &ex.meter, 100)
            {
                let state = state.clone();
                let (project, agent) = (request.project.clone(), agent.name.clone());
                let ex2 = ex.clone();
                tokio::spawn(async move { exhausted(&state, &project, &agent, &ex2, now).await });
            }
            Metered {
                stopped: Some(Decision::host_denial(denial(&ex), "budget_exceeded")),
                over: Some(view(&ex.meter, ex.figures)),
                ..Metered::default()
            }
        }
        Err(e) => unreadable(e),
    }
}

/// The reason given for a decision that does not fit `ex`.
fn denial(ex: &Exceeded) -> String {
    let m = &ex.meter;
    let limit = m.limit.unwrap_or_default();
    let left = limit
        .saturating_sub(ex.figures.spent)
        .saturating_sub(ex.figures.reserved)
        .max(0);
    let whose = whose(m);
    let when = m
        .resets_at
        .map(|t| format!("; it resets at {}", crate::units::rfc3339(t)))
        .unwrap_or_else(|| "; start a new session".into());
    format!(
        "denied: {whose} is over its budget: `{}` is {}, {} spent and {} reserved, {} left, \
         this call needs {}{when}",
        m.name,
        shown(m.unit, limit),
        shown(m.unit, ex.figures.spent),
        shown(m.unit, ex.figures.reserved),
        shown(m.unit, left),
        shown(m.unit, ex.needed),
    )
}

fn whose(m: &Meter) -> String {
    match m.scope {
        budget::Scope::Session => format!("session `{}`", m.subject),
        budget::Scope::Agent => format!("agent `{}`", m.subject),
        budget::Scope::Project => format!("project `{}`", m.subject),
    }
}

/// A budget's limit reached (a call refused when spend alone is at the
/// limit): alerts once in the period and, for a project budget with
/// `on_exceed: pause_and_alert`, pauses the project (both only if the
/// usage that reached it has not already).
async fn exhausted(state: &Arc<AppState>, project: &str, agent: &str, ex: &Exceeded, now: i64) {
    let crossing = Crossing {
        meter: ex.meter.clone(),
        percent: 100,
        figures: ex.figures,
    };
    crossed(state, project, agent, &crossing, now).await;
}

/// Alerts `c` unless its threshold already alerted in its period; at 100%
/// with `pause_and_alert`, pauses the project.
pub(super) async fn crossed(
    state: &Arc<AppState>,
    project: &str,
    agent: &str,
    c: &Crossing,
    now: i64,
) {
    let Some(gate) = state.gate() else { return };
    match gate
        .budgets
        .ledger
        .first_alert(project, &c.meter, c.percent)
        .await
    {
        Ok(true) => {}
        Ok(false) => return,
        Err(e) => {
            tracing::error!(project, error = %e, "cannot tell whether a budget threshold alerted; it is not alerted");
            return;
        }
    }
    let m = &c.meter;
    let limit = m.limit.unwrap_or_default();
    let mut details = BTreeMap::from([
        ("limit".to_owned(), m.name.to_owned()),
        ("of".to_owned(), shown(m.unit, limit)),
        ("spent".to_owned(), shown(m.unit, c.figures.spent)),
        ("percent".to_owned(), format!("{}%", c.percent)),
        ("scope".to_owned(), whose(m)),
    ]);
    if let Some(p) = &m.period {
        details.insert("period".into(), p.clone());
    }
    if let Some(t) = m.resets_at {
        details.insert("resets_at".into(), crate::units::rfc3339(t));
    }
    let pause = c.percent >= 100 && m.on_exceed == OnExceed::PauseAndAlert;
    if pause {
        details.insert("action".into(), "project paused".into());
    }
    let title = if c.percent >= 100 {
        format!(
            "{} has reached its `{}` of {}{}",
            whose(m),
            m.name,
            shown(m.unit, limit),
            m.period
                .as_deref()
                .map(|p| format!(" for {p}"))
                .unwrap_or_default()
        )
    } else {
        format!(
            "{} has used {}% of its `{}` of {}{}",
            whose(m),
            c.percent,
            m.name,
            shown(m.unit, limit),
            m.period
                .as_deref()
                .map(|p| format!(" for {p}"))
                .unwrap_or_default()
        )
    };
    // The control first, then the word about it.
    let mut paused = true;
    if pause {
        let reason = format!("budget_exceeded: {title}");
        if let Err(e) = super::containment::take(
            state,
            BUDGET_ACTOR,
            HoldScope::Project,
            project.to_owned(),
            reason,
            vec![project.to_owned()],
        )
        .await
        {
            tracing::error!(project, error = ?e, "a project over its budget could not be paused");
            paused = false;
        }
    }
    let raised = raise(
        state,
        Outside {
            project: project.to_owned(),
            agent: agent.to_owned(),
            kind: AlertKind::Budget,
            channel: m.channel.clone(),
            title,
            details,
            at: now,
        },
    )
    .await;
    if !raised || !paused {
        // Not raised, or not paused: the next report that finds the
        // threshold reached raises it and pauses (again).
        if let Err(e) = gate
            .budgets
            .ledger
            .forget_alert(project, m, c.percent)
            .await
        {
            tracing::error!(project, error = %e, "a budget alert that was not raised could not be re-armed");
        }
    }
}

/// An alert no rule raises (a budget's, a rate limit's), to raise.
struct Outside {
    project: String,
    agent: String,
    kind: AlertKind,
    channel: Option<String>,
    title: String,
    details: BTreeMap<String, String>,
    at: i64,
}

/// Raises `alert` off the decision path.
fn spawn_alert(state: &Arc<AppState>, alert: Outside) {
    let state = state.clone();
    tokio::spawn(async move {
        raise(&state, alert).await;
    });
}

/// Stores, sends and records `alert`; whether it was raised.
async fn raise(state: &AppState, alert: Outside) -> bool {
    let Some(gate) = state.gate() else {
        return false;
    };
    let raised = Raised {
        project: &alert.project,
        agent: &alert.agent,
        kind: alert.kind,
        rule: None,
        channel: alert.channel.as_deref(),
        title: alert.title,
        details: alert.details,
        at: alert.at,
    };
    match gate.alerts.raise_now(&gate.outbox, raised).await {
        Ok(a) => {
            super::alerts::record(state, &a).await;
            true
        }
        Err(e) => {
            tracing::error!(project = %alert.project, error = %e, "an alert could not be raised");
            false
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BudgetQuery {
    project: Option<String>,
    agent: Option<String>,
    session: Option<String>,
}

/// One project's budgets.
#[derive(Debug, Serialize)]
pub(super) struct ProjectBudgets {
    project: String,
    /// The time zone its days and months are counted in.
    time_zone: String,
    meters: Vec<MeterView>,
}

/// `GET /v1/budgets` answers.
#[derive(Debug, Serialize)]
pub(super) struct BudgetList {
    budgets: Vec<ProjectBudgets>,
}

fn unavailable(e: crate::Error) -> ApiError {
    tracing::error!(error = %e, "budgets cannot be read");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "state_unavailable",
        "budgets cannot be read (the server's log says why)",
    )
}

/// `GET /v1/budgets?project=&agent=&session=`: spend, reservations, what
/// is left, the thresholds crossed and when each period resets, for the
/// project, each agent (today), each agent's sessions today, and the
/// session named (with `agent` for a person). An agent sees its own and
/// its project's.
pub(super) async fn list(
    State(state): State<Arc<AppState>>,
    query: Result<Query<BudgetQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Json<BudgetList>, ApiError> {
    let Query(query) = query
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", e.body_text()))?;
    let snapshot = auth::ready(&state)?;
    let gate = super::gate(&state)?;
    let token = auth::bearer(&headers)?;
    // (project, the agents to show).
    let wanted: Vec<(String, Option<String>)> = match snapshot.authenticate(token) {
        Some(Identity::Agent(project, agent)) => {
            let mine = &project.policy.project;
            if query.project.as_deref().is_some_and(|p| p != mine)
                || query.agent.as_deref().is_some_and(|a| a != agent.name)
            {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    "an agent sees its own budgets only",
                ));
            }
            vec![(mine.clone(), Some(agent.name.clone()))]
        }
        Some(Identity::Person(person)) => {
            if !person.server_admin && person.admin_of.is_empty() {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    "only an administrator may do this",
                ));
            }
            auth::projects_in_scope(
                &snapshot,
                person,
                query.project.as_deref(),
                auth::administers,
            )?
            .into_iter()
            .map(|p| (p, query.agent.clone()))
            .collect()
        }
        None => {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "unknown token",
            ));
        }
    };
    if query.session.is_some() && wanted.iter().any(|(_, a)| a.is_none()) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "`session` needs `agent` (sessions are each agent's own)",
        ));
    }
    let now = jiff::Timestamp::now().as_microsecond();
    let mut out = Vec::new();
    for (name, only) in wanted {
        let Some(project) = snapshot.projects.get(&name) else {
            continue;
        };
        let plan = &project.policy.budgets;
        let calendar = gate.budgets.calendar(plan, now).map_err(unavailable)?;
        let agents: Vec<&Agent> = match &only {
            Some(a) => match project.policy.agents.get(a) {
                Some(agent) => vec![agent],
                None => {
                    return Err(ApiError::new(
                        StatusCode::NOT_FOUND,
                        "not_found",
                        format!("no agent `{a}` in project `{name}`"),
                    ));
                }
            },
            None => project.policy.agents.values().collect(),
        };
        // The project's meters once, then each agent's day (and the
        // session asked for).
        let mut meters: Vec<Meter> =
            budget::meters(plan, None, &name, "", "", &calendar, Which::All)
                .into_iter()
                .filter(|m| m.scope == budget::Scope::Project)
                .collect();
        for agent in agents {
            let session = query.session.as_deref().unwrap_or("");
            meters.extend(
                budget::meters(
                    plan,
                    agent.budget.as_ref(),
                    &name,
                    &agent.name,
                    session,
                    &calendar,
                    Which::All,
                )
                .into_iter()
                .filter(|m| match m.scope {
                    budget::Scope::Agent => true,
                    budget::Scope::Session => query.session.is_some(),
                    budget::Scope::Project => false,
                }),
            );
        }
        let figures = gate
            .budgets
            .ledger
            .figures(&name, &meters, now)
            .await
            .map_err(unavailable)?;
        let mut views: Vec<MeterView> = meters
            .iter()
            .zip(figures)
            .map(|(m, f)| view(m, f))
            .collect();
        // Sessions started today, for agents with a daily session limit.
        for agent in project.policy.agents.values() {
            if only.as_deref().is_some_and(|a| a != agent.name) {
                continue;
            }
            let Some(limit) = agent.budget.as_ref().and_then(|b| b.max_sessions_per_day) else {
                continue;
            };
            let key = budget::sessions_key(&agent.name, &calendar.day);
            let started = gate
                .budgets
                .ledger
                .counter(&name, &key)
                .await
                .map_err(unavailable)?;
            views.push(MeterView {
                scope: budget::Scope::Agent,
                subject: agent.name.clone(),
                name: Some("max_sessions_per_day"),
                unit: "sessions",
                span: budget::Span::Day,
                period: Some(calendar.day.clone()),
                limit: Some(limit.to_string()),
                spent: started.to_string(),
                reserved: "0".into(),
                remaining: Some((i64::from(limit) - started).max(0).to_string()),
                thresholds_crossed: Vec::new(),
                on_exceed: Some(OnExceed::Deny),
                resets_at: Some(crate::units::rfc3339(calendar.day_ends)),
            });
        }
        out.push(ProjectBudgets {
            project: name.clone(),
            time_zone: plan.time_zone_name.clone(),
            meters: views,
        });
    }
    Ok(Json(BudgetList { budgets: out }))
}
