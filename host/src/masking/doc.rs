//! A JSON document taken apart for masking: its strings, numbers and keys
//! ("pieces"), in document order, and put back together masked.
//!
//! A piece knows only the array or object it is in and how it is reached
//! from there, so it costs the same whatever its path: a JSON pointer is
//! built only for a piece in which something was found, after its total
//! length was checked against the request's limit.

use super::limits::{Limits, limit_error};
use crate::error::Result;
use serde_json::{Map, Number, Value};
use std::collections::{HashMap, HashSet};

/// What a piece is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// A string or a number; `key` is the piece of the key it is the value
    /// of, when its parent is an object.
    Value {
        /// The key's piece.
        key: Option<usize>,
        /// Whether it was a number (then it becomes a string if masked).
        number: bool,
    },
    /// An object's key; `leaf` when its value is a string or a number.
    Key {
        /// Whether the value is a string or a number.
        leaf: bool,
    },
}

/// How a piece or container is reached from its parent.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// It is the document itself.
    Root,
    /// An element of an array.
    Index(usize),
    /// The member of an object whose key is this piece.
    Member(usize),
}

/// A string, number or key of the document.
#[derive(Debug)]
pub(super) struct Piece {
    /// Its text: a string as is, a number in its digit form (see
    /// [`digit_form`]), a key as is.
    pub(super) text: String,
    /// The array or object it is in (0: none, it is the document).
    pub(super) parent: usize,
    /// What it is.
    pub(super) role: Role,
    at: Step,
}

/// An array or object.
#[derive(Debug)]
struct Container {
    parent: usize,
    at: Step,
}

/// A document taken apart. Its strings are moved out into the pieces and
/// moved back by [`Doc::assemble`].
#[derive(Debug)]
pub(super) struct Doc {
    value: Value,
    /// The pieces, in document order (a key before its value).
    pub(super) pieces: Vec<Piece>,
    /// Index 0 stands for "no container" (the parent of the document).
    containers: Vec<Container>,
}

/// A number's digit form: the text that is scanned. Integers as written;
/// other numbers in plain decimal notation, without exponent and without a
/// `.0` (`4111111111111111.0` and `4111111111111111e0` both read
/// `4111111111111111`), so that a card written as a float is a run of
/// digits the plugins see.
pub(super) fn digit_form(n: &Number) -> String {
    match n.as_f64() {
        Some(f) if n.is_f64() => f.to_string(),
        _ => n.to_string(),
    }
}

impl Doc {
    /// Takes `value` apart.
    pub(super) fn new(mut value: Value) -> Self {
        let mut parts = Parts {
            pieces: Vec::new(),
            containers: vec![Container {
                parent: 0,
                at: Step::Root,
            }],
        };
        parts.walk(&mut value, 0, Step::Root, None);
        Self {
            value,
            pieces: parts.pieces,
            containers: parts.containers,
        }
    }

    /// The final name of every key: `None` for a key kept as it was, the
    /// masked key otherwise. A masked key that would repeat a name its
    /// object already has gets a suffix `#2`, `#3`, … (the first free one),
    /// so no two members merge and no value is lost. The masked keys are
    /// moved out of `masked` (indexed by piece); masked values stay there.
    pub(super) fn key_names(&self, masked: &mut [Option<String>]) -> Vec<Option<String>> {
        let touched: HashSet<usize> = self
            .pieces
            .iter()
            .zip(masked.iter())
            .filter(|(p, m)| matches!(p.role, Role::Key { .. }) && m.is_some())
            .map(|(p, _)| p.parent)
            .collect();
        let mut taken: HashMap<usize, HashSet<String>> = HashMap::new();
        for (p, m) in self.pieces.iter().zip(masked.iter()) {
            if matches!(p.role, Role::Key { .. }) && m.is_none() && touched.contains(&p.parent) {
                taken.entry(p.parent).or_default().insert(p.text.clone());
            }
        }
        let mut next: HashMap<(usize, String), usize> = HashMap::new();
        let mut names = Vec::with_capacity(self.pieces.len());
        for (p, m) in self.pieces.iter().zip(masked.iter_mut()) {
            let base = match p.role {
                Role::Key { .. } => m.take(),
                Role::Value { .. } => None,
            };
            let name = base.map(|base| {
                let names = taken.entry(p.parent).or_default();
                let mut name = base.clone();
                let n = next.entry((p.parent, base.clone())).or_insert(1);
                while names.contains(&name) {
                    *n += 1;
                    name = format!("{base}#{n}");
                }
                names.insert(name.clone());
                name
            });
            names.push(name);
        }
        names
    }

    /// The text a key is known by after masking.
    fn key_name<'a>(&'a self, names: &'a [Option<String>], piece: usize) -> &'a str {
        match names.get(piece) {
            Some(Some(masked)) => masked,
            _ => self.pieces.get(piece).map_or("", |p| p.text.as_str()),
        }
    }

    fn step_len(&self, names: &[Option<String>], at: Step) -> usize {
        match at {
            Step::Root => 0,
            Step::Index(i) => 1 + i.checked_ilog10().unwrap_or(0) as usize + 1,
            Step::Member(k) => {
                let key = self.key_name(names, k);
                1 + key.len() + key.bytes().filter(|b| matches!(b, b'~' | b'/')).count()
            }
        }
    }

    /// The byte length of each piece's pointer, for the pieces `wanted`
    /// (0 for the others), without building any.
    pub(super) fn pointer_lens(&self, names: &[Option<String>], wanted: &[bool]) -> Vec<usize> {
        let mut containers = vec![0usize; self.containers.len()];
        for (i, c) in self.containers.iter().enumerate().skip(1) {
            let parent = containers.get(c.parent).copied().unwrap_or(0);
            if let Some(len) = containers.get_mut(i) {
                *len = parent + self.step_len(names, c.at);
            }
        }
        self.pieces
            .iter()
            .zip(wanted)
            .map(|(p, &w)| {
                if w {
                    containers.get(p.parent).copied().unwrap_or(0) + self.step_len(names, p.at)
                } else {
                    0
                }
            })
            .collect()
    }

    /// The JSON pointer (RFC 6901) of a piece, with keys as masked: the
    /// member's pointer for a key.
    pub(super) fn pointer(&self, names: &[Option<String>], piece: usize) -> String {
        let mut steps = Vec::new();
        if let Some(p) = self.pieces.get(piece) {
            steps.push(p.at);
            let mut c = p.parent;
            while let Some(container) = self.containers.get(c).filter(|_| c != 0) {
                steps.push(container.at);
                c = container.parent;
            }
        }
        let mut out = String::new();
        for step in steps.into_iter().rev() {
            match step {
                Step::Root => {}
                Step::Index(i) => {
                    out.push('/');
                    out.push_str(&i.to_string());
                }
                Step::Member(k) => {
                    out.push('/');
                    for c in self.key_name(names, k).chars() {
                        match c {
                            '~' => out.push_str("~0"),
                            '/' => out.push_str("~1"),
                            c => out.push(c),
                        }
                    }
                }
            }
        }
        out
    }

    /// Puts the document back together: every piece's text moved back, or
    /// its masked text (a masked number becomes a string), and every key
    /// under its final name (see [`Doc::key_names`]).
    pub(super) fn assemble(
        mut self,
        mut masked: Vec<Option<String>>,
        names: Vec<Option<String>>,
    ) -> Value {
        let mut texts: Vec<String> = self
            .pieces
            .iter_mut()
            .map(|p| std::mem::take(&mut p.text))
            .collect();
        let mut names = names;
        let mut next = 0;
        let mut take = |next: &mut usize| {
            let i = *next;
            *next += 1;
            let masked = masked.get_mut(i).and_then(Option::take);
            let original = texts.get_mut(i).map(std::mem::take).unwrap_or_default();
            let name = names.get_mut(i).and_then(Option::take);
            (masked, original, name)
        };
        put_back(&mut self.value, &mut take, &mut next);
        self.value
    }

    /// Checks the pointers of the findings fit the limit: `counts` is how
    /// many findings each piece has.
    pub(super) fn check_pointers(
        &self,
        names: &[Option<String>],
        counts: &[usize],
        limits: &Limits,
    ) -> Result<()> {
        let wanted: Vec<bool> = counts.iter().map(|&n| n > 0).collect();
        let total = self
            .pointer_lens(names, &wanted)
            .iter()
            .zip(counts)
            .fold(0usize, |sum, (&len, &n)| {
                sum.saturating_add(len.saturating_mul(n))
            });
        if total > limits.max_pointer_bytes {
            return Err(limit_error(
                format!("the findings' JSON pointers would take {total} bytes"),
                "max_pointer_bytes",
                limits.max_pointer_bytes,
            ));
        }
        Ok(())
    }
}

/// The pieces and containers, as the walk finds them.
struct Parts {
    pieces: Vec<Piece>,
    containers: Vec<Container>,
}

impl Parts {
    fn walk(&mut self, v: &mut Value, parent: usize, at: Step, key: Option<usize>) {
        let value = |text: String, number: bool| Piece {
            text,
            parent,
            at,
            role: Role::Value { key, number },
        };
        match v {
            Value::String(s) => self.pieces.push(value(std::mem::take(s), false)),
            Value::Number(n) => self.pieces.push(value(digit_form(n), true)),
            Value::Array(items) => {
                let me = self.containers.len();
                self.containers.push(Container { parent, at });
                for (i, item) in items.iter_mut().enumerate() {
                    self.walk(item, me, Step::Index(i), None);
                }
            }
            Value::Object(map) => {
                let me = self.containers.len();
                self.containers.push(Container { parent, at });
                for (k, item) in map.iter_mut() {
                    let piece = self.pieces.len();
                    self.pieces.push(Piece {
                        text: k.clone(),
                        parent: me,
                        at: Step::Member(piece),
                        role: Role::Key {
                            leaf: matches!(item, Value::String(_) | Value::Number(_)),
                        },
                    });
                    self.walk(item, me, Step::Member(piece), Some(piece));
                }
            }
            Value::Null | Value::Bool(_) => {}
        }
    }
}

/// What [`put_back`] takes for the next piece: its masked text, its
/// original text, and (for a key) its new name.
type Next = (Option<String>, String, Option<String>);

/// Walks `v` in the order [`Parts::walk`] did, putting the pieces back.
fn put_back(v: &mut Value, take: &mut impl FnMut(&mut usize) -> Next, next: &mut usize) {
    match v {
        Value::String(s) => {
            let (masked, original, _) = take(next);
            *s = masked.unwrap_or(original);
        }
        Value::Number(_) => {
            if let (Some(masked), _, _) = take(next) {
                *v = Value::String(masked);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| put_back(item, take, next)),
        Value::Object(map) => {
            let members = std::mem::take(map);
            let mut out = Map::with_capacity(members.len());
            for (k, mut item) in members {
                let (_, _, name) = take(next);
                put_back(&mut item, take, next);
                out.insert(name.unwrap_or(k), item);
            }
            *map = out;
        }
        Value::Null | Value::Bool(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pieces_in_document_order_keys_before_values() {
        let doc = Doc::new(json!({"a/b": [{"~": "x"}, 4111111111111111_u64], "n": null}));
        let got: Vec<_> = doc
            .pieces
            .iter()
            .map(|p| (p.text.as_str(), p.role))
            .collect();
        assert_eq!(
            got,
            [
                ("a/b", Role::Key { leaf: false }),
                ("~", Role::Key { leaf: true }),
                (
                    "x",
                    Role::Value {
                        key: Some(1),
                        number: false
                    }
                ),
                (
                    "4111111111111111",
                    Role::Value {
                        key: None,
                        number: true
                    }
                ),
                ("n", Role::Key { leaf: false }),
            ]
        );
        let names = vec![None; doc.pieces.len()];
        let pointers: Vec<_> = (0..doc.pieces.len())
            .map(|i| doc.pointer(&names, i))
            .collect();
        assert_eq!(
            pointers,
            ["/a~1b", "/a~1b/0/~0", "/a~1b/0/~0", "/a~1b/1", "/n"]
        );
        let wanted = vec![true; doc.pieces.len()];
        let lens = doc.pointer_lens(&names, &wanted);
        assert_eq!(lens, pointers.iter().map(String::len).collect::<Vec<_>>());
    }

    #[test]
    fn numbers_are_read_in_digit_form() {
        let forms: Vec<String> = [
            "4111111111111111.0",
            "4111111111111111e0",
            "41111111111111.11e2",
            "-12",
            "0.5",
            "18446744073709551615",
        ]
        .iter()
        .map(|t| match serde_json::from_str::<Value>(t) {
            Ok(Value::Number(n)) => digit_form(&n),
            other => panic!("{other:?}"),
        })
        .collect();
        assert_eq!(
            forms,
            [
                "4111111111111111",
                "4111111111111111",
                "4111111111111111",
                "-12",
                "0.5",
                "18446744073709551615"
            ]
        );
    }

    #[test]
    fn masked_keys_never_merge_with_their_siblings() {
        let doc = Doc::new(json!({
            "[REDACTED:email]": 1,
            "a@example.com": 2,
            "b@example.com": {"c@example.com": 3},
            "[REDACTED:email]#2": 4,
        }));
        let mut masked: Vec<Option<String>> = doc
            .pieces
            .iter()
            .map(|p| {
                (matches!(p.role, Role::Key { .. }) && p.text.ends_with("@example.com"))
                    .then(|| "[REDACTED:email]".to_owned())
            })
            .collect();
        let names = doc.key_names(&mut masked);
        // The pointer of the value under a masked key uses the masked key.
        let inner = doc
            .pieces
            .iter()
            .position(|p| p.text == "3")
            .unwrap_or_default();
        assert_eq!(
            doc.pointer(&names, inner),
            "/[REDACTED:email]#4/[REDACTED:email]"
        );
        let out = doc.assemble(vec![None; names.len()], names);
        assert_eq!(
            out,
            json!({
                "[REDACTED:email]": 1,
                "[REDACTED:email]#3": 2,
                "[REDACTED:email]#4": {"[REDACTED:email]": 3},
                "[REDACTED:email]#2": 4,
            })
        );
        let keys: Vec<_> = out
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        assert_eq!(
            keys,
            [
                "[REDACTED:email]",
                "[REDACTED:email]#3",
                "[REDACTED:email]#4",
                "[REDACTED:email]#2"
            ],
            "order kept"
        );
    }

    #[test]
    fn assembly_moves_strings_back_and_numbers_become_strings_when_masked() {
        let doc = Doc::new(json!({"s": "keep", "n": 4111111111111111.0_f64, "m": 7}));
        let mut masked = vec![None; doc.pieces.len()];
        let n = doc.pieces.iter().position(|p| p.text == "4111111111111111");
        if let Some(slot) = n.and_then(|n| masked.get_mut(n)) {
            *slot = Some("************1111".to_owned());
        }
        let names = doc.key_names(&mut masked.clone());
        let out = doc.assemble(masked, names);
        assert_eq!(out, json!({"s": "keep", "n": "************1111", "m": 7}));
    }
}
