//! Budgets and rate limits (seed 000 chapter 5, seed 002's cost controls):
//! what a decision reserves and what usage spends against each limit
//! ([`ledger`]), the calendar periods limits count in ([`period`]), the
//! price of usage ([`pricing`]); requests per minute are admitted by the
//! store's [`crate::store::Limiter`] ([`Budgets::throttle`]).
//!
//! [`meters`] turns a project's budget plan and an agent's `budget` into
//! the meters a decision or a usage report touches; [`Budgets`] holds the
//! server's ledger, limiters and pricing.

pub mod ledger;
pub mod period;
pub mod pricing;

pub use crate::store::limiter::Throttled;
pub use ledger::{
    Ask, Charged, Crossing, Exceeded, Figures, Ledger, Meter, OnExceed, Scope, Span, Unit,
};
pub use period::Calendar;
pub use pricing::{Price, Priced, Pricing, Tokens};

use crate::policy::budget_plan::BudgetPlan;
use crate::policy::model::{Budget, OnBudgetExceeded};
use crate::units::Duration;
use serde::Deserialize;
use std::sync::Arc;

/// The `budgets:` block of the server configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BudgetSettings {
    /// How long a decision's reservation waits for its usage before it is
    /// released (default `10m`, from 1s to 1d).
    pub reservation_timeout: Duration,
    /// Reservations one project may have in flight, at most (default
    /// 100,000); a decision of it that would need one more is denied
    /// (`reservations_full`), and other projects are not affected.
    pub max_reservations: usize,
}

impl Default for BudgetSettings {
    fn default() -> Self {
        Self {
            reservation_timeout: Duration(600),
            max_reservations: 100_000,
        }
    }
}

impl BudgetSettings {
    /// Checks the ranges.
    pub fn validate(&self) -> Result<(), String> {
        if self.reservation_timeout.0 == 0 || self.reservation_timeout.0 > 86_400 {
            return Err("`budgets.reservation_timeout` must be 1s to 1d".into());
        }
        if self.max_reservations == 0 {
            return Err("`budgets.max_reservations` must be at least 1".into());
        }
        Ok(())
    }
}

/// The server's budgets: the ledger, the rate limiters, the pricing table.
pub struct Budgets<S> {
    /// Spend and reservations.
    pub ledger: Ledger<S>,
    /// The store, whose [`crate::store::Limiter`] admits requests.
    state: Arc<S>,
    /// The price of usage.
    pub pricing: Pricing,
    /// Reservation settings.
    pub settings: BudgetSettings,
    /// Today's calendar, by time zone name (a decision reads it, rather
    /// than working out its day and month in its zone each time).
    calendars: std::sync::Mutex<std::collections::HashMap<String, Arc<Calendar>>>,
}

impl<S> std::fmt::Debug for Budgets<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Budgets").finish_non_exhaustive()
    }
}

impl<S: crate::store::State> Budgets<S> {
    /// Budgets kept in `state`.
    pub fn new(state: Arc<S>, pricing: Pricing, settings: BudgetSettings) -> Self {
        Self {
            ledger: Ledger::new(state.clone(), settings.max_reservations),
            state,
            pricing,
            settings,
            calendars: Default::default(),
        }
    }

    /// The day and month of `now` in `plan`'s time zone.
    pub fn calendar(&self, plan: &BudgetPlan, now: i64) -> crate::Result<Arc<Calendar>> {
        if let Ok(cached) = self.calendars.lock()
            && let Some(c) = cached.get(&plan.time_zone_name)
            && c.holds(now)
        {
            return Ok(c.clone());
        }
        let c = Arc::new(Calendar::at(now, &plan.time_zone)?);
        if let Ok(mut cached) = self.calendars.lock() {
            cached.insert(plan.time_zone_name.clone(), c.clone());
        }
        Ok(c)
    }
}

impl<S: crate::store::State + crate::store::Limiter> Budgets<S> {
    /// Admits one request of `who` (an agent's name, `""` for the
    /// project's own limit) of `project` under `limit`, or says when to
    /// retry.
    pub async fn throttle(
        &self,
        project: &str,
        who: &str,
        limit: &crate::policy::model::RateLimits,
        now: i64,
    ) -> Result<(), Throttled> {
        let quota = crate::store::Quota {
            per_minute: limit.max_requests_per_minute,
            burst: burst_of(limit),
        };
        self.state.admit(project, who, quota, now).await
    }

    /// Forgets rate limiters unused for `idle_us`.
    pub fn forget_idle_limiters(&self, now: i64, idle_us: i64) {
        self.state.forget_idle(now, idle_us);
    }
}

/// The burst a limit allows: its own, else a whole minute's
/// (`governor`'s `Quota::per_minute`: up to `n` at once, refilled at `n`
/// a minute). Sustained, an agent gets `max_requests_per_minute`; after a
/// quiet minute up to `burst` may come at once, so a minute can see up to
/// `burst` more than the rate.
pub fn burst_of(r: &crate::policy::model::RateLimits) -> u32 {
    r.burst
        .unwrap_or(r.max_requests_per_minute)
        .clamp(1, r.max_requests_per_minute.max(1))
}

/// The counter of `agent`'s sessions started on `day` (kind `budget`).
pub fn sessions_key(agent: &str, day: &str) -> String {
    format!("sessions/agent/{agent}/day/{day}")
}

/// Which meters to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// Only those with a limit (a decision's).
    Limited,
    /// Every meter usage is counted on, limited or not (a usage report's,
    /// and the budget listing's).
    All,
}

/// Percent thresholds: `at` (sorted, from the policy) and 100.
fn thresholds(at: impl IntoIterator<Item = u8>) -> Vec<u8> {
    let mut t: Vec<u8> = at.into_iter().filter(|p| *p > 0 && *p < 100).collect();
    t.push(100);
    t
}

/// The meters of a decision or a usage report of `agent` (whose `budget`
/// is `budget`) in session `session` of `project`, at `calendar`.
pub fn meters(
    plan: &BudgetPlan,
    budget: Option<&Budget>,
    project: &str,
    agent: &str,
    session: &str,
    calendar: &Calendar,
    which: Which,
) -> Vec<Meter> {
    let mut out = Vec::new();
    let b = budget;
    let agent_alerts = thresholds(b.and_then(|b| b.alert_at).map(|p| p.0));
    let agent_channel = b.and_then(|b| b.alert_channel.clone());
    let wanted = |limit: Option<i64>| which == Which::All || limit.is_some();
    let tokens = |v: Option<u64>| v.map(|v| i64::try_from(v).unwrap_or(i64::MAX));
    let session_limit = tokens(b.and_then(|b| b.max_tokens_per_session));
    if wanted(session_limit) {
        out.push(Meter {
            key: format!("tokens/session/{agent}\u{1f}{session}"),
            scope: Scope::Session,
            subject: session.to_owned(),
            unit: Unit::Tokens,
            span: Span::Session,
            period: None,
            resets_at: None,
            name: "max_tokens_per_session",
            limit: session_limit,
            thresholds: agent_alerts.clone(),
            on_exceed: OnExceed::Deny,
            channel: agent_channel.clone(),
        });
    }
    let day_limit = tokens(b.and_then(|b| b.max_tokens_per_day));
    if wanted(day_limit) {
        out.push(Meter {
            key: format!("tokens/agent/{agent}/day/{}", calendar.day),
            scope: Scope::Agent,
            subject: agent.to_owned(),
            unit: Unit::Tokens,
            span: Span::Day,
            period: Some(calendar.day.clone()),
            resets_at: Some(calendar.day_ends),
            name: "max_tokens_per_day",
            limit: day_limit,
            thresholds: agent_alerts,
            on_exceed: OnExceed::Deny,
            channel: agent_channel,
        });
    }
    let pb = plan.project.as_ref();
    let on_exceed = match pb.map(|p| p.on_exceed) {
        Some(OnBudgetExceeded::Alert) => OnExceed::Alert,
        Some(OnBudgetExceeded::Deny) => OnExceed::Deny,
        _ => OnExceed::PauseAndAlert,
    };
    let project_alerts = thresholds(
        pb.map(|p| p.alert_thresholds.iter().map(|t| t.0).collect::<Vec<_>>())
            .unwrap_or_default(),
    );
    let project_channel = pb.and_then(|p| p.alert_channel.clone());
    // Cents to micro-dollars (the policy bounds money far below overflow;
    // saturating all the same).
    let money = |m: Option<crate::units::Money>| {
        m.map(|m| {
            i64::try_from(m.0)
                .unwrap_or(i64::MAX)
                .saturating_mul(10_000)
        })
    };
    for (unit, span, name, limit) in [
        (
            Unit::Tokens,
            Span::Day,
            "max_tokens_per_day",
            tokens(pb.and_then(|p| p.max_tokens_per_day)),
        ),
        (
            Unit::Tokens,
            Span::Month,
            "max_tokens_per_month",
            tokens(pb.and_then(|p| p.max_tokens_per_month)),
        ),
        (
            Unit::Micros,
            Span::Day,
            "daily_limit",
            money(pb.and_then(|p| p.daily_limit)),
        ),
        (
            Unit::Micros,
            Span::Month,
            "monthly_limit",
            money(pb.and_then(|p| p.monthly_limit)),
        ),
    ] {
        if !wanted(limit) {
            continue;
        }
        let (period, resets_at) = match span {
            Span::Month => (calendar.month.clone(), calendar.month_ends),
            _ => (calendar.day.clone(), calendar.day_ends),
        };
        let what = match unit {
            Unit::Tokens => "tokens",
            Unit::Micros => "cost",
        };
        let span_name = match span {
            Span::Month => "month",
            _ => "day",
        };
        out.push(Meter {
            key: format!("{what}/project/{span_name}/{period}"),
            scope: Scope::Project,
            subject: project.to_owned(),
            unit,
            span,
            period: Some(period),
            resets_at: Some(resets_at),
            name,
            limit,
            thresholds: project_alerts.clone(),
            on_exceed,
            channel: project_channel.clone(),
        });
    }
    out
}

#[cfg(test)]
mod tests;
