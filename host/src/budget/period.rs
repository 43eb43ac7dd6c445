//! Calendar periods in a time zone ([`Calendar`]): the day and the month a
//! moment falls in, as the keys their counters are kept under, and when
//! each resets. A period rolls over by itself: the next moment's key is the
//! next period's, whose counters start at 0.

use crate::{Error, Result};

/// The day and the month of one moment, in one time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    /// `2026-12-06`.
    pub day: String,
    /// When the day starts (Unix microseconds).
    pub day_starts: i64,
    /// When the day ends (Unix microseconds).
    pub day_ends: i64,
    /// `2026-12`.
    pub month: String,
    /// When the month ends (Unix microseconds).
    pub month_ends: i64,
}

impl Calendar {
    /// Whether `now` falls in this calendar's day.
    pub fn holds(&self, now: i64) -> bool {
        (self.day_starts..self.day_ends).contains(&now)
    }

    /// The day and month of `now` (Unix microseconds) in `tz`.
    pub fn at(now: i64, tz: &jiff::tz::TimeZone) -> Result<Self> {
        let bad = |e: jiff::Error| Error::Engine(format!("a budget period: {e}"));
        let zoned = jiff::Timestamp::from_microsecond(now)
            .map_err(bad)?
            .to_zoned(tz.clone());
        let day_start = zoned.start_of_day().map_err(bad)?;
        let next_day = day_start
            .checked_add(jiff::Span::new().days(1))
            .map_err(bad)?;
        let month_start = zoned
            .first_of_month()
            .map_err(bad)?
            .start_of_day()
            .map_err(bad)?;
        let next_month = month_start
            .checked_add(jiff::Span::new().months(1))
            .map_err(bad)?;
        Ok(Self {
            day: zoned.strftime("%Y-%m-%d").to_string(),
            day_starts: day_start.timestamp().as_microsecond(),
            day_ends: next_day.timestamp().as_microsecond(),
            month: zoned.strftime("%Y-%m").to_string(),
            month_ends: next_month.timestamp().as_microsecond(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(s: &str) -> i64 {
        s.parse::<jiff::Timestamp>().unwrap().as_microsecond()
    }

    #[test]
    fn days_and_months_follow_the_time_zone() {
        let paris = jiff::tz::TimeZone::get("Europe/Paris").unwrap();
        // 23:30 UTC on Dec 31 is already Jan 1 in Paris.
        let c = Calendar::at(us("2026-12-31T23:30:00Z"), &paris).unwrap();
        assert_eq!(c.day, "2027-01-01");
        assert_eq!(c.month, "2027-01");
        assert_eq!(c.day_ends, us("2027-01-01T23:00:00Z"));
        assert_eq!(c.month_ends, us("2027-01-31T23:00:00Z"));
        let utc = Calendar::at(us("2026-12-31T23:30:00Z"), &jiff::tz::TimeZone::UTC).unwrap();
        assert_eq!(utc.day, "2026-12-31");
        assert_eq!(utc.month, "2026-12");
        assert_eq!(utc.month_ends, us("2027-01-01T00:00:00Z"));
    }

    #[test]
    fn a_day_with_a_clock_change_ends_at_the_next_midnight() {
        let paris = jiff::tz::TimeZone::get("Europe/Paris").unwrap();
        // 2026-03-29 has 23 hours in Paris.
        let c = Calendar::at(us("2026-03-29T10:00:00Z"), &paris).unwrap();
        assert_eq!(c.day, "2026-03-29");
        assert_eq!(c.day_ends, us("2026-03-29T22:00:00Z"));
    }
}
