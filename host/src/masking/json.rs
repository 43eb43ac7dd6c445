//! A strict JSON reader for masking requests: a repeated key, nesting
//! deeper than the limit or more values than the limit is an error, never a
//! silent choice.

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::cell::Cell;

/// Why a body was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Not a document this reader accepts; the message says where and why.
    Invalid(String),
    /// It holds more values (keys included) than the limit given.
    TooManyValues(usize),
}

/// Parses `bytes` as one JSON document. Objects may not repeat a key (a
/// gateway reading the first and a masker reading the last would disagree on
/// what was masked), no array or object may be nested more than `max_depth`
/// levels deep, and the document may hold at most `max_values` values (every
/// string, number, `true`, `false`, `null`, array, object and key counts
/// one): the reader stops at the first value past it, so a body of a million
/// `0`s costs no more than the limit allows. The message says where and
/// what went wrong.
pub fn parse_strict(
    bytes: &[u8],
    max_depth: usize,
    max_values: usize,
) -> Result<Value, ParseError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let values = Cell::new(0);
    let result = Strict {
        depth: 0,
        max_depth,
        values: &values,
        max_values,
    }
    .deserialize(&mut de)
    .and_then(|value| de.end().map(|()| value));
    match result {
        _ if values.get() > max_values => Err(ParseError::TooManyValues(max_values)),
        Ok(value) => Ok(value),
        Err(e) => Err(ParseError::Invalid(e.to_string())),
    }
}

#[derive(Clone, Copy)]
struct Strict<'c> {
    depth: usize,
    max_depth: usize,
    /// Values read so far.
    values: &'c Cell<usize>,
    max_values: usize,
}

impl Strict<'_> {
    fn deeper<E: de::Error>(self) -> Result<Self, E> {
        if self.depth >= self.max_depth {
            return Err(E::custom(format!(
                "nested deeper than {} levels",
                self.max_depth
            )));
        }
        Ok(Self {
            depth: self.depth + 1,
            ..self
        })
    }

    /// Counts one more value.
    fn count<E: de::Error>(self) -> Result<(), E> {
        let n = self.values.get() + 1;
        self.values.set(n);
        if n > self.max_values {
            return Err(E::custom(format!("more than {} values", self.max_values)));
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.count()?;
        Ok(Value::Null)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        self.count()?;
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        self.count()?;
        Ok(Value::from(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        self.count()?;
        Ok(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        self.count()?;
        Ok(Value::from(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        self.count()?;
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        self.count()?;
        Ok(Value::String(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.count()?;
        let inner = self.deeper()?;
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(inner)? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.count()?;
        let inner = self.deeper()?;
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            self.count()?;
            if out.contains_key(&key) {
                return Err(de::Error::custom(format!("key `{key}` is given twice")));
            }
            let value = map.next_value_seed(inner)?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid(e: &ParseError) -> &str {
        match e {
            ParseError::Invalid(m) => m,
            ParseError::TooManyValues(_) => "",
        }
    }

    #[test]
    fn reads_json_and_keeps_key_order() {
        let v = parse_strict(br#"{"b": [1, 2.5, "x", null, true], "a": {}}"#, 8, 100).unwrap();
        assert_eq!(
            v.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["b", "a"]
        );
        assert_eq!(v["b"][2], "x");
    }

    #[test]
    fn refuses_repeated_keys_depth_and_trailing_data() {
        let e = parse_strict(br#"{"a": {"k": 1, "k": 2}}"#, 8, 100).unwrap_err();
        assert!(invalid(&e).contains("key `k` is given twice"), "{e:?}");
        assert!(parse_strict(b"[[[[1]]]]", 4, 100).is_ok());
        let e = parse_strict(b"[[[[[1]]]]]", 4, 100).unwrap_err();
        assert!(invalid(&e).contains("nested deeper than 4 levels"), "{e:?}");
        assert!(parse_strict(b"{} {}", 4, 100).is_err());
        assert!(parse_strict(b"\"\xff\"", 4, 100).is_err(), "invalid UTF-8");
        assert!(
            parse_strict(br#""\ud800""#, 4, 100).is_err(),
            "lone surrogate"
        );
    }

    #[test]
    fn counts_every_value_and_key_and_stops_past_the_limit() {
        // 1 object + 3 keys + 3 array elements + 1 array + 2 scalars = 10.
        let doc = br#"{"a": [1, "x", null], "b": true, "c": 2.5}"#;
        assert!(parse_strict(doc, 8, 10).is_ok());
        assert_eq!(parse_strict(doc, 8, 9), Err(ParseError::TooManyValues(9)));
        // Past the limit even when the rest is malformed: the count wins.
        let zeros = format!("[{}", "0,".repeat(1000));
        assert_eq!(
            parse_strict(zeros.as_bytes(), 8, 100),
            Err(ParseError::TooManyValues(100))
        );
    }
}
