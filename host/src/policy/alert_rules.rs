//! A project's `alerts:` block (seed 000 chapter 3: permission-denied
//! events, 10× normal request volume, off-hours activity, new resource
//! access), checked at its lines and compiled into [`AlertRule`]s.

use super::model::{AlertKind, AlertSpec};
use crate::units::Duration;

/// What an alert rule watches, compiled.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// At least `threshold` denied decisions of one agent within `window_s`.
    Denied {
        /// Denials.
        threshold: u32,
        /// Seconds.
        window_s: u64,
    },
    /// An agent's requests in the last minute over `factor` × its rolling
    /// per-minute baseline, once it has `min_history_s` of history, and at
    /// least `min_requests` in that minute.
    Volume {
        /// The multiple of the baseline.
        factor: u32,
        /// History needed before it can fire (seconds).
        min_history_s: u64,
        /// Requests in the minute needed before it can fire.
        min_requests: u32,
    },
    /// A decision outside working hours: before `start` or from `end`
    /// (minutes of the day), or on a day not in `days` (Monday = 0), in
    /// `time_zone`.
    OffHours {
        /// First working minute of the day.
        start: u16,
        /// First minute after work.
        end: u16,
        /// Working days, Monday first.
        days: [bool; 7],
        /// Where the hours are.
        time_zone: jiff::tz::TimeZone,
    },
    /// An agent allowed on a (service, resource) it was never allowed on
    /// before, once it has been seen for `learn_for_s`.
    FirstAccess {
        /// Seconds after an agent's first decision during which its
        /// accesses are learnt, not alerted.
        learn_for_s: u64,
    },
}

/// One alert rule of a project.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRule {
    /// Its place in the block (0-based), naming it in alerts.
    pub index: usize,
    /// `denied`, `volume`, `off_hours`, `first_access`.
    pub kind: AlertKind,
    /// What it watches.
    pub condition: Condition,
    /// Where alerts go (`slack:#security`), if anywhere; they are always
    /// recorded and listed.
    pub channel: Option<String>,
    /// After an alert of this rule for an agent, none again for that agent
    /// for this long (seconds): one alert per episode.
    pub cooldown_s: u64,
}

/// Default cool-down: 15 minutes.
pub const DEFAULT_COOLDOWN_S: u64 = 900;

/// Compiles the block; `fail(pointer, message)` makes the error at its line.
pub fn compile(
    specs: &[AlertSpec],
    fail: &dyn Fn(&str, String) -> crate::Error,
) -> crate::Result<Vec<AlertRule>> {
    specs
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            compile_one(i, spec, &|key: &str, m: String| {
                fail(&format!("/alerts/{i}{key}"), m)
            })
        })
        .collect()
}

fn compile_one(
    index: usize,
    spec: &AlertSpec,
    fail: &dyn Fn(&str, String) -> crate::Error,
) -> crate::Result<AlertRule> {
    let kind = spec.kind;
    // Keys that belong to another kind are mistakes, not silently ignored.
    let present: [(&str, bool, &[AlertKind]); 9] = [
        ("threshold", spec.threshold.is_some(), &[AlertKind::Denied]),
        ("window", spec.window.is_some(), &[AlertKind::Denied]),
        ("factor", spec.factor.is_some(), &[AlertKind::Volume]),
        (
            "min_history",
            spec.min_history.is_some(),
            &[AlertKind::Volume],
        ),
        (
            "min_requests",
            spec.min_requests.is_some(),
            &[AlertKind::Volume],
        ),
        ("hours", spec.hours.is_some(), &[AlertKind::OffHours]),
        ("days", spec.days.is_some(), &[AlertKind::OffHours]),
        (
            "time_zone",
            spec.time_zone.is_some(),
            &[AlertKind::OffHours],
        ),
        (
            "learn_for",
            spec.learn_for.is_some(),
            &[AlertKind::FirstAccess],
        ),
    ];
    for (key, given, kinds) in present {
        if given && !kinds.contains(&kind) {
            return Err(fail(
                &format!("/{key}"),
                format!("`{key}` does not apply to a `{}` alert", kind.as_str()),
            ));
        }
    }
    if let Some(c) = &spec.channel {
        crate::notify::Channel::parse(c).map_err(|m| fail("/channel", m))?;
    }
    let at_least_1s = |key: &str, d: Option<Duration>| match d {
        Some(Duration(0)) => Err(fail(
            &format!("/{key}"),
            format!("`{key}` must be at least 1s"),
        )),
        _ => Ok(()),
    };
    at_least_1s("cooldown", spec.cooldown)?;
    at_least_1s("window", spec.window)?;
    let condition = match kind {
        AlertKind::Denied => {
            let threshold = spec.threshold.unwrap_or(5);
            if threshold == 0 {
                return Err(fail("/threshold", "`threshold` must be at least 1".into()));
            }
            Condition::Denied {
                threshold,
                window_s: spec.window.map_or(600, |d| d.0),
            }
        }
        AlertKind::Volume => {
            let factor = spec.factor.unwrap_or(10);
            if factor < 2 {
                return Err(fail("/factor", "`factor` must be at least 2".into()));
            }
            Condition::Volume {
                factor,
                min_history_s: spec.min_history.map_or(3600, |d| d.0.max(60)),
                min_requests: spec.min_requests.unwrap_or(20),
            }
        }
        AlertKind::OffHours => {
            let hours = spec.hours.as_deref().unwrap_or("08:00-18:00");
            let (start, end) = parse_hours(hours).map_err(|m| fail("/hours", m))?;
            let mut days = [false; 7];
            let names = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
            let given = spec
                .days
                .clone()
                .unwrap_or_else(|| names[..5].iter().map(|d| (*d).to_owned()).collect());
            for (i, d) in given.iter().enumerate() {
                let Some(n) = names.iter().position(|n| n.eq_ignore_ascii_case(d)) else {
                    return Err(fail(
                        &format!("/days/{i}"),
                        format!("`{d}` is not a day; write mon, tue, wed, thu, fri, sat or sun"),
                    ));
                };
                days[n] = true;
            }
            let tz_name = spec.time_zone.as_deref().unwrap_or("UTC");
            let time_zone = jiff::tz::TimeZone::get(tz_name).map_err(|_| {
                fail(
                    "/time_zone",
                    format!("`{tz_name}` is not a time zone (write e.g. `Europe/Berlin` or `UTC`)"),
                )
            })?;
            Condition::OffHours {
                start,
                end,
                days,
                time_zone,
            }
        }
        AlertKind::FirstAccess => Condition::FirstAccess {
            learn_for_s: spec.learn_for.map_or(3600, |d| d.0),
        },
        AlertKind::Budget | AlertKind::RateLimit => {
            return Err(fail(
                "/kind",
                format!(
                    "`{}` alerts are not rules: set `budget.alert_at`, \
                     `project_budget.alert_thresholds` or `rate_limits.on_exceed: \
                     throttle_and_alert`, and their `alert_channel`",
                    kind.as_str()
                ),
            ));
        }
    };
    Ok(AlertRule {
        index,
        kind,
        condition,
        channel: spec.channel.clone(),
        cooldown_s: spec.cooldown.map_or(DEFAULT_COOLDOWN_S, |d| d.0),
    })
}

/// `08:00-18:00` → minutes of the day (start, end), start before end.
fn parse_hours(text: &str) -> Result<(u16, u16), String> {
    let bad = || format!("`{text}` is not working hours; write `HH:MM-HH:MM`, e.g. `08:00-18:00`");
    let minute = |t: &str| -> Option<u16> {
        let (h, m) = t.trim().split_once(':')?;
        let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
        (h <= 24 && m < 60 && h * 60 + m <= 1440).then_some(h * 60 + m)
    };
    let (a, b) = text.split_once('-').ok_or_else(bad)?;
    let (start, end) = (minute(a).ok_or_else(bad)?, minute(b).ok_or_else(bad)?);
    if start >= end {
        return Err(format!("`{text}`: the start must be before the end"));
    }
    Ok((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn working_hours_parse_or_say_what_to_write() {
        assert_eq!(parse_hours("08:00-18:30"), Ok((480, 1110)));
        assert_eq!(parse_hours("00:00-24:00"), Ok((0, 1440)));
        for bad in ["8-18", "18:00-08:00", "08:00-25:00", "08:60-09:00", ""] {
            assert!(parse_hours(bad).is_err(), "{bad}");
        }
    }
}
