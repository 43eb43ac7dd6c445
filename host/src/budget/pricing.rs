//! The pricing table of the server configuration ([`Pricing`]): per model,
//! the price of a million input, output and cached tokens. Usage is priced
//! here, in micro-dollars (µ$), rounded up: a call is never free because of
//! rounding, and a model the table does not know is priced at the
//! configured `default`, else at the table's highest price: naming an
//! unknown model never makes a call cheaper, nor free.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;

/// Micro-dollars in a dollar.
pub const MICROS_PER_DOLLAR: i64 = 1_000_000;

/// A price per million tokens, in micro-dollars: written `$3`, `$0.075`
/// (at most six decimals).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Price(pub i64);

impl Price {
    /// Parses `$3` or `$0.075`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || {
            format!("`{s}` is not a price; write dollars per million tokens, e.g. `$3` or `$0.075`")
        };
        let digits = s.trim().strip_prefix('$').ok_or_else(bad)?;
        let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
        if whole.is_empty()
            || frac.len() > 6
            || (digits.contains('.') && frac.is_empty())
            || !whole
                .bytes()
                .chain(frac.bytes())
                .all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        let whole: i64 = whole.parse().map_err(|_| bad())?;
        let frac: i64 = format!("{frac:0<6}").parse().map_err(|_| bad())?;
        whole
            .checked_mul(MICROS_PER_DOLLAR)
            .and_then(|w| w.checked_add(frac))
            .filter(|p| *p <= 1_000_000 * MICROS_PER_DOLLAR)
            .map(Self)
            .ok_or_else(|| format!("`{s}` is more than $1,000,000 per million tokens"))
    }
}

impl<'de> Deserialize<'de> for Price {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        let text = match &v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl Serialize for Price {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&dollars(self.0))
    }
}

/// `$1.234567` from micro-dollars, without trailing zeros past the cents.
pub fn dollars(micros: i64) -> String {
    let sign = if micros < 0 { "-" } else { "" };
    let m = micros.unsigned_abs();
    let whole = m / 1_000_000;
    let frac = format!("{:06}", m % 1_000_000);
    let trimmed = frac.trim_end_matches('0');
    let frac = if trimmed.len() < 2 {
        &frac[..2]
    } else {
        trimmed
    };
    format!("{sign}${whole}.{frac}")
}

/// One model's prices per million tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPrice {
    /// Input tokens.
    pub input: Price,
    /// Output tokens.
    pub output: Price,
    /// Cached input tokens (default: the input price).
    #[serde(default)]
    pub cached: Option<Price>,
}

impl ModelPrice {
    /// The highest of its prices: what an estimate of unknown kind is
    /// reserved at.
    pub fn highest(&self) -> Price {
        self.input
            .max(self.output)
            .max(self.cached.unwrap_or_default())
    }
}

/// The `pricing:` block of the server configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Pricing {
    /// Prices by model name, as agents report it.
    #[serde(default)]
    pub models: BTreeMap<String, ModelPrice>,
    /// The price of a model not in `models`; without it, such a model is
    /// priced at the table's highest price.
    #[serde(default)]
    pub default: Option<ModelPrice>,
}

/// How a usage report was priced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Priced {
    /// At its model's prices.
    Model,
    /// At the table's `default`.
    Default,
    /// Every token at the table's highest price (a model it does not know).
    Highest,
    /// Not at all: the server has no pricing table (its tokens count; its
    /// cost is 0, and money budgets deny every call).
    Unpriced,
}

impl Priced {
    /// The name as answered.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Model => "model",
            Self::Default => "default",
            Self::Highest => "highest",
            Self::Unpriced => "unpriced",
        }
    }
}

/// Tokens of one report, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tokens {
    /// Input tokens (not cached).
    pub input: u64,
    /// Output tokens.
    pub output: u64,
    /// Cached input tokens.
    pub cached: u64,
}

impl Tokens {
    /// All of them.
    pub fn total(&self) -> u64 {
        self.input
            .saturating_add(self.output)
            .saturating_add(self.cached)
    }
}

/// `tokens` at `price` per million, in micro-dollars, rounded up.
fn cost_of(tokens: u64, price: Price) -> i64 {
    let micros = (i128::from(tokens) * i128::from(price.0) + 999_999) / 1_000_000;
    i64::try_from(micros).unwrap_or(i64::MAX)
}

impl Pricing {
    /// The prices of `model`: its own, else the default; `None` when
    /// neither is configured.
    pub fn of(&self, model: &str) -> Option<&ModelPrice> {
        self.models.get(model).or(self.default.as_ref())
    }

    /// What `tokens` of `model` cost, in micro-dollars (`None`: the model
    /// is unknown and there is no default).
    pub fn cost(&self, model: &str, tokens: Tokens) -> Option<i64> {
        let p = self.of(model)?;
        Some(
            cost_of(tokens.input, p.input)
                .saturating_add(cost_of(tokens.output, p.output))
                .saturating_add(cost_of(tokens.cached, p.cached.unwrap_or(p.input))),
        )
    }

    /// What an estimate of `tokens` is reserved at: the highest price of
    /// `model` (when given and known), else the highest price in the table
    /// (the default included): a reservation never under-prices.
    pub fn estimate(&self, model: Option<&str>, tokens: u64) -> i64 {
        let price = match model.and_then(|m| self.models.get(m)) {
            Some(p) => p.highest(),
            None => self
                .models
                .values()
                .chain(self.default.iter())
                .map(ModelPrice::highest)
                .max()
                .unwrap_or_default(),
        };
        cost_of(tokens, price)
    }

    /// What `tokens` of `model` cost, and how they were priced: at the
    /// model's prices, at the `default`, or (a model the table does not
    /// know, and no default) every token at the table's highest price, so
    /// that naming an unknown model never makes a call cheaper. `None`
    /// only when the table is empty.
    pub fn charge(&self, model: &str, tokens: Tokens) -> Option<(i64, Priced)> {
        if self.models.contains_key(model) {
            return self.cost(model, tokens).map(|c| (c, Priced::Model));
        }
        if self.default.is_some() {
            return self.cost(model, tokens).map(|c| (c, Priced::Default));
        }
        if self.is_empty() {
            return None;
        }
        Some((self.estimate(None, tokens.total()), Priced::Highest))
    }

    /// Whether anything can be priced at all.
    pub fn is_empty(&self) -> bool {
        self.models.is_empty() && self.default.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_parse_to_micro_dollars() {
        assert_eq!(Price::parse("$3"), Ok(Price(3_000_000)));
        assert_eq!(Price::parse("$0.075"), Ok(Price(75_000)));
        assert_eq!(Price::parse("$15.5"), Ok(Price(15_500_000)));
        for bad in ["3", "$", "$1.", "$1.2345678", "$-1", "$1e3", "$5OO"] {
            assert!(Price::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(dollars(1_500_000), "$1.50");
        assert_eq!(dollars(75_000), "$0.075");
        assert_eq!(dollars(3), "$0.000003");
    }

    #[test]
    fn usage_is_priced_by_kind_and_rounded_up() {
        let p: Pricing = serde_json::from_value(serde_json::json!({
            "models": {"m": {"input": "$3", "output": "$15", "cached": "$0.30"}}
        }))
        .unwrap();
        let t = Tokens {
            input: 1_000_000,
            output: 100_000,
            cached: 10,
        };
        // $3 + $1.50 + 3 µ$.
        assert_eq!(p.cost("m", t), Some(4_500_003));
        // One token is never free.
        let one = Tokens {
            input: 1,
            ..Tokens::default()
        };
        assert_eq!(p.cost("m", one), Some(3));
        assert_eq!(p.cost("unknown", one), None);
        // A model the table does not know is priced at its highest price.
        assert_eq!(p.charge("unknown", t), Some((16_500_150, Priced::Highest)));
        assert_eq!(p.charge("m", t).map(|c| c.1), Some(Priced::Model));
        assert_eq!(Pricing::default().charge("m", t), None);
        // An estimate is reserved at the highest price.
        assert_eq!(p.estimate(Some("m"), 1_000_000), 15_000_000);
        assert_eq!(p.estimate(None, 1_000_000), 15_000_000);
    }

    #[test]
    fn the_default_prices_unknown_models() {
        let p: Pricing = serde_json::from_value(serde_json::json!({
            "default": {"input": "$10", "output": "$30"}
        }))
        .unwrap();
        let t = Tokens {
            input: 1_000_000,
            ..Tokens::default()
        };
        assert_eq!(p.cost("anything", t), Some(10_000_000));
    }
}
