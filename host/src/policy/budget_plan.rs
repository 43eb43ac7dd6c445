//! A project's `budget`, `project_budget`, `rate_limits` and
//! `project_rate_limits` blocks (seed 000 chapter 5, seed 002's cost
//! controls), checked at their lines and compiled into what the decision
//! path meters: [`BudgetPlan`].

use super::model::{Budget, ProjectBudget, RateLimits};
use crate::error::Error;
use crate::units::Percent;

/// The largest token count a limit may name (counters are 64-bit and add
/// many reports together).
pub const MAX_TOKENS: u64 = 1_000_000_000_000_000;

/// The largest amount of money a limit may name, in cents ($10^12: in
/// micro-dollars it stays far within 64 bits).
pub const MAX_CENTS: u64 = 100_000_000_000_000;

/// The largest rate a limit may name, per minute.
pub const MAX_PER_MINUTE: u32 = 6_000_000;

/// The project's side of budgets and rate limits, compiled.
#[derive(Debug, Clone)]
pub struct BudgetPlan {
    /// The time zone days and months are counted in.
    pub time_zone: jiff::tz::TimeZone,
    /// Its name as written (`UTC` when not given).
    pub time_zone_name: String,
    /// The project's budget, checked.
    pub project: Option<ProjectBudget>,
    /// The rate limit of all its agents together, checked.
    pub project_rate: Option<RateLimits>,
}

impl Default for BudgetPlan {
    fn default() -> Self {
        Self {
            time_zone: jiff::tz::TimeZone::UTC,
            time_zone_name: "UTC".into(),
            project: None,
            project_rate: None,
        }
    }
}

impl BudgetPlan {
    /// Whether anything is metered at all for `budget` (an agent's) and
    /// this plan: a decision of an agent with nothing metered skips the
    /// ledger.
    pub fn meters(&self, budget: Option<&Budget>) -> bool {
        self.project.is_some()
            || budget.is_some_and(|b| {
                b.max_tokens_per_session.is_some() || b.max_tokens_per_day.is_some()
            })
    }
}

type Fail<'a> = &'a dyn Fn(&str, String) -> Error;

/// Checks an agent's (or a file's) `budget` block at `pointer`.
pub(super) fn check_budget(pointer: &str, b: &Budget, fail: Fail<'_>) -> Result<(), Error> {
    for (key, v) in [
        ("max_tokens_per_session", b.max_tokens_per_session),
        ("max_tokens_per_day", b.max_tokens_per_day),
    ] {
        if let Some(v) = v {
            tokens(&format!("{pointer}/{key}"), key, v, fail)?;
        }
    }
    if b.max_sessions_per_day == Some(0) {
        return Err(fail(
            &format!("{pointer}/max_sessions_per_day"),
            "`max_sessions_per_day` must be at least 1 (to stop an agent, suspend it)".into(),
        ));
    }
    if let Some(p) = b.alert_at {
        share(&format!("{pointer}/alert_at"), "alert_at", p, fail)?;
    }
    if let Some(c) = &b.alert_channel {
        crate::notify::Channel::parse(c)
            .map_err(|m| fail(&format!("{pointer}/alert_channel"), m))?;
    }
    for (key, d) in [
        ("max_session_duration", b.max_session_duration),
        ("session_idle_timeout", b.session_idle_timeout),
    ] {
        if d.is_some_and(|d| d.0 == 0) {
            return Err(fail(
                &format!("{pointer}/{key}"),
                format!("`{key}` must be at least 1s (e.g. `30m`)"),
            ));
        }
    }
    Ok(())
}

/// Checks the `project_budget` block and compiles its time zone.
pub(super) fn check_project_budget(
    b: &ProjectBudget,
    fail: Fail<'_>,
) -> Result<(jiff::tz::TimeZone, String), Error> {
    let p = "/project_budget";
    if b.monthly_limit.is_none()
        && b.daily_limit.is_none()
        && b.max_tokens_per_month.is_none()
        && b.max_tokens_per_day.is_none()
    {
        return Err(fail(
            p,
            "`project_budget` sets no limit; write at least one of `monthly_limit: $500`, \
             `daily_limit: $50`, `max_tokens_per_month`, `max_tokens_per_day`"
                .into(),
        ));
    }
    for (key, m) in [
        ("monthly_limit", b.monthly_limit),
        ("daily_limit", b.daily_limit),
    ] {
        if m.is_some_and(|m| m.0 == 0) {
            return Err(fail(
                &format!("{p}/{key}"),
                format!("`{key}` must be more than $0 (to stop a project, pause it)"),
            ));
        }
        if m.is_some_and(|m| m.0 > MAX_CENTS) {
            return Err(fail(
                &format!("{p}/{key}"),
                format!("`{key}` must be at most $1,000,000,000,000"),
            ));
        }
    }
    for (key, v) in [
        ("max_tokens_per_month", b.max_tokens_per_month),
        ("max_tokens_per_day", b.max_tokens_per_day),
    ] {
        if let Some(v) = v {
            tokens(&format!("{p}/{key}"), key, v, fail)?;
        }
    }
    let mut last: Option<Percent> = None;
    for (i, t) in b.alert_thresholds.iter().enumerate() {
        let at = format!("{p}/alert_thresholds/{i}");
        share(&at, "alert_thresholds", *t, fail)?;
        if let Some(prev) = last
            && *t <= prev
        {
            return Err(fail(
                &at,
                format!(
                    "`alert_thresholds` must increase: {}% comes after {}%; write them in \
                     order, each once (e.g. `[50%, 75%, 90%]`)",
                    t.0, prev.0
                ),
            ));
        }
        last = Some(*t);
    }
    if let Some(c) = &b.alert_channel {
        crate::notify::Channel::parse(c).map_err(|m| fail(&format!("{p}/alert_channel"), m))?;
    }
    match &b.time_zone {
        None => Ok((jiff::tz::TimeZone::UTC, "UTC".into())),
        Some(name) => jiff::tz::TimeZone::get(name)
            .map(|tz| (tz, name.clone()))
            .map_err(|_| {
                fail(
                    &format!("{p}/time_zone"),
                    format!(
                        "`{name}` is not a time zone; write an IANA name such as `UTC` or \
                         `Europe/Paris`"
                    ),
                )
            }),
    }
}

/// Checks a `rate_limits` (or `project_rate_limits`) block at `pointer`.
pub(super) fn check_rate(pointer: &str, r: &RateLimits, fail: Fail<'_>) -> Result<(), Error> {
    if r.max_requests_per_minute == 0 || r.max_requests_per_minute > MAX_PER_MINUTE {
        return Err(fail(
            &format!("{pointer}/max_requests_per_minute"),
            format!(
                "`max_requests_per_minute` must be 1 to {MAX_PER_MINUTE} (to stop an agent, \
                 suspend it)"
            ),
        ));
    }
    if r.burst
        .is_some_and(|b| b == 0 || b > r.max_requests_per_minute)
    {
        return Err(fail(
            &format!("{pointer}/burst"),
            "`burst` must be 1 to `max_requests_per_minute`".into(),
        ));
    }
    if let Some(c) = &r.alert_channel {
        crate::notify::Channel::parse(c)
            .map_err(|m| fail(&format!("{pointer}/alert_channel"), m))?;
    }
    Ok(())
}

fn tokens(pointer: &str, key: &str, v: u64, fail: Fail<'_>) -> Result<(), Error> {
    if v == 0 || v > MAX_TOKENS {
        return Err(fail(
            pointer,
            format!("`{key}` must be 1 to {MAX_TOKENS} tokens"),
        ));
    }
    Ok(())
}

fn share(pointer: &str, key: &str, p: Percent, fail: Fail<'_>) -> Result<(), Error> {
    if p.0 == 0 {
        return Err(fail(
            pointer,
            format!("`{key}` must be 1% to 100% (0% would alert before anything is used)"),
        ));
    }
    Ok(())
}
