//! Units the policy files and the server configuration use: durations
//! (`60m`), money (`$500`), percentages (`80%`); and times as they are
//! answered ([`rfc3339`]) and counted ([`micros`]).

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// A duration written as `30s`, `60m`, `1h`, `7d`, `1y` or a number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Duration(pub u64);

/// An amount of money written as `$500` or `$12.50`, kept in cents.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Money(pub u64);

/// A percentage written as `80%`, from 0 to 100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Percent(pub u8);

/// A time (Unix microseconds) as RFC 3339 (`2026-12-06T17:43:05Z`), or
/// empty if out of range.
pub fn rfc3339(us: i64) -> String {
    jiff::Timestamp::from_microsecond(us)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// Seconds as microseconds, saturating.
pub fn micros(secs: u64) -> i64 {
    i64::try_from(secs.saturating_mul(1_000_000)).unwrap_or(i64::MAX)
}

impl Duration {
    /// Parses `30s`, `60m`, `1h`, `7d`, `1y` or plain seconds.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
        let n: u64 = num.parse().map_err(|_| {
            format!("`{s}` is not a duration; write e.g. `30s`, `60m`, `1h` or `7d`")
        })?;
        let mult = match unit {
            "" | "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            "y" => 365 * 86_400,
            _ => {
                return Err(format!(
                    "`{s}` has an unknown unit `{unit}`; use s, m, h, d or y"
                ));
            }
        };
        n.checked_mul(mult)
            .map(Self)
            .ok_or_else(|| format!("`{s}` is too long"))
    }
}

impl Money {
    /// Parses `$500` or `$12.50`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not an amount of money; write e.g. `$500` or `$12.50`");
        let digits = s.trim().strip_prefix('$').ok_or_else(bad)?;
        let (whole, cents) = match digits.split_once('.') {
            Some((w, c)) if c.len() <= 2 && !c.is_empty() => (w, format!("{c:0<2}")),
            Some(_) => return Err(bad()),
            None => (digits, "00".to_owned()),
        };
        if whole.is_empty()
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !cents.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        let whole: u64 = whole.parse().map_err(|_| bad())?;
        let cents: u64 = cents.parse().map_err(|_| bad())?;
        whole
            .checked_mul(100)
            .and_then(|w| w.checked_add(cents))
            .map(Self)
            .ok_or_else(bad)
    }
}

impl Percent {
    /// Parses `80%`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not a percentage; write e.g. `80%`");
        let n: u8 = s
            .trim()
            .strip_suffix('%')
            .ok_or_else(bad)?
            .parse()
            .map_err(|_| bad())?;
        if n > 100 {
            return Err(format!("`{s}` is more than 100%"));
        }
        Ok(Self(n))
    }
}

macro_rules! serde_via_text {
    ($ty:ident, $fmt:expr) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let v = serde_json::Value::deserialize(d)?;
                let text = match &v {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Number(n) => n.to_string(),
                    _ => {
                        return Err(de::Error::custom(format!(
                            "expected a value like `{}`",
                            $fmt
                        )));
                    }
                };
                $ty::parse(&text).map_err(de::Error::custom)
            }
        }
    };
}

serde_via_text!(Duration, "60m");
serde_via_text!(Money, "$500");
serde_via_text!(Percent, "80%");

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{}s", self.0))
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("${}.{:02}", self.0 / 100, self.0 % 100))
    }
}

impl Serialize for Percent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{}%", self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(Duration::parse("60m"), Ok(Duration(3600)));
        assert_eq!(Duration::parse("1h"), Ok(Duration(3600)));
        assert_eq!(Duration::parse("90"), Ok(Duration(90)));
        assert!(Duration::parse("5 weeks").is_err());
        assert!(Duration::parse("m").is_err());
    }

    #[test]
    fn money() {
        assert_eq!(Money::parse("$500"), Ok(Money(50_000)));
        assert_eq!(Money::parse("$12.5"), Ok(Money(1250)));
        assert_eq!(Money::parse("$0.07"), Ok(Money(7)));
        assert!(Money::parse("500").is_err());
        assert!(Money::parse("$1.234").is_err());
        assert!(Money::parse("$-3").is_err());
    }

    #[test]
    fn percent() {
        assert_eq!(Percent::parse("80%"), Ok(Percent(80)));
        assert!(Percent::parse("80").is_err());
        assert!(Percent::parse("180%").is_err());
    }
}
