//! Masking: the masking plugins of a chain find sensitive data in a text or
//! a JSON document, and the host replaces each finding with the operator the
//! policy sets for its kind.
//!
//! Every plugin reads the original text; their findings are merged (where two
//! overlap, the union is masked). Any plugin failure fails the whole request:
//! nothing is returned unmasked.
//!
//! A JSON document is masked as one text of all its string and number values
//! (so a document costs one call per plugin, not one per value), then once
//! more with the values glued together, so that a value split across two
//! strings (`["4111 1111", "1111 1111"]`) is still found.

mod json;
mod operator;

pub use json::parse_strict;
pub use operator::{MaskKey, apply};

use crate::error::Result;
use crate::policy::{MaskingPolicy, Operator};
use crate::runtime::Plugin;
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;

/// One masked value, as reported: never the value itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reported {
    /// Kind of data, e.g. `credit_card`.
    pub kind: String,
    /// The plugin that found it (the first, when several did).
    pub plugin: String,
    /// The operator applied.
    pub operator: Operator,
    /// For JSON: the pointer (RFC 6901) of the string or number it was in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// Start of the value, a UTF-8 byte offset into the text (or into the
    /// string at `pointer`), before masking.
    pub start: usize,
    /// End (exclusive) of the value.
    pub end: usize,
}

/// A span one plugin found.
#[derive(Debug, Clone)]
struct Span {
    kind: String,
    plugin: usize,
    start: usize,
    end: usize,
}

/// Everything one masking request needs.
#[derive(Debug)]
pub struct Masker<'a> {
    /// The plugins to run, in order.
    pub chain: Vec<Arc<Plugin>>,
    /// Operators by kind.
    pub policy: &'a MaskingPolicy,
    /// The key for `hash` and `token`.
    pub key: &'a MaskKey,
    /// The session, for `token`.
    pub session: &'a str,
    /// An id for the plugins' log lines.
    pub request_id: &'a str,
}

impl Masker<'_> {
    /// Runs every plugin over `text` and merges their findings.
    fn find(&self, text: &str) -> Result<Vec<Span>> {
        let mut spans = Vec::new();
        for (i, plugin) in self.chain.iter().enumerate() {
            let found = plugin.mask(self.request_id, text)?;
            spans.extend(found.value.into_iter().map(|f| Span {
                kind: f.kind,
                plugin: i,
                start: f.start as usize,
                end: f.end as usize,
            }));
        }
        Ok(merge(spans))
    }

    fn plugin_name(&self, i: usize) -> String {
        self.chain
            .get(i)
            .map(|p| p.name().to_owned())
            .unwrap_or_default()
    }

    /// Replaces `spans` (sorted, disjoint, in bounds) in `text`.
    fn replace(&self, text: &str, spans: &[Span], pointer: Option<&str>) -> (String, Vec<Reported>) {
        let mut out = String::with_capacity(text.len());
        let mut reported = Vec::with_capacity(spans.len());
        let mut pos = 0;
        for s in spans {
            let op = self.policy.operator(&s.kind);
            out.push_str(text.get(pos..s.start).unwrap_or_default());
            let value = text.get(s.start..s.end).unwrap_or_default();
            out.push_str(&apply(op, self.key, self.session, &s.kind, value));
            pos = s.end;
            reported.push(Reported {
                kind: s.kind.clone(),
                plugin: self.plugin_name(s.plugin),
                operator: op,
                pointer: pointer.map(str::to_owned),
                start: s.start,
                end: s.end,
            });
        }
        out.push_str(text.get(pos..).unwrap_or_default());
        (out, reported)
    }

    /// Masks a text.
    pub fn mask_text(&self, text: &str) -> Result<(String, Vec<Reported>)> {
        let spans = self.find(text)?;
        Ok(self.replace(text, &spans, None))
    }

    /// Masks every string and number of a JSON document; keys and structure
    /// are kept. A number in which something was found becomes a string.
    pub fn mask_json(&self, mut doc: Value) -> Result<(Value, Vec<Reported>)> {
        let mut leaves = Vec::new();
        collect(&doc, &mut String::new(), &mut leaves);
        let mut spans: Vec<Vec<Span>> = vec![Vec::new(); leaves.len()];

        // Pass 1: each value on its own (separated by a blank line).
        let (text, starts) = join(&leaves, "\n\n");
        for s in self.find(&text)? {
            split(&s, &starts, &leaves, &mut spans, false);
        }
        // Pass 2: values glued together; only what crosses a boundary counts.
        if leaves.len() > 1 {
            let (text, starts) = join(&leaves, "");
            for s in self.find(&text)? {
                split(&s, &starts, &leaves, &mut spans, true);
            }
        }

        let mut reported = Vec::new();
        let mut replaced: Vec<Option<String>> = Vec::with_capacity(leaves.len());
        for (leaf, spans) in leaves.iter().zip(spans) {
            if spans.is_empty() {
                replaced.push(None);
                continue;
            }
            let spans = merge(spans);
            let (masked, r) = self.replace(&leaf.text, &spans, Some(&leaf.pointer));
            reported.extend(r);
            replaced.push(Some(masked));
        }
        let mut next = 0;
        substitute(&mut doc, &mut replaced, &mut next);
        Ok((doc, reported))
    }
}

/// Sorts spans and merges overlapping ones into their union (keeping the
/// first one's kind and plugin).
fn merge(mut spans: Vec<Span>) -> Vec<Span> {
    spans.sort_by_key(|s| (s.start, std::cmp::Reverse(s.end)));
    let mut out: Vec<Span> = Vec::with_capacity(spans.len());
    for s in spans {
        match out.last_mut() {
            Some(last) if s.start < last.end => last.end = last.end.max(s.end),
            _ => out.push(s),
        }
    }
    out
}

/// A string or number of a JSON document, in document order.
#[derive(Debug)]
struct Leaf {
    pointer: String,
    text: String,
}

fn collect(v: &Value, pointer: &mut String, out: &mut Vec<Leaf>) {
    match v {
        Value::String(s) => out.push(Leaf {
            pointer: pointer.clone(),
            text: s.clone(),
        }),
        Value::Number(n) => out.push(Leaf {
            pointer: pointer.clone(),
            text: n.to_string(),
        }),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&i.to_string());
                collect(item, pointer, out);
                pointer.truncate(len);
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&k.replace('~', "~0").replace('/', "~1"));
                collect(item, pointer, out);
                pointer.truncate(len);
            }
        }
        Value::Null | Value::Bool(_) => {}
    }
}

/// Replaces the leaves that were masked, in the same order `collect` saw them.
fn substitute(v: &mut Value, replaced: &mut [Option<String>], next: &mut usize) {
    match v {
        Value::String(_) | Value::Number(_) => {
            if let Some(masked) = replaced.get_mut(*next).and_then(Option::take) {
                *v = Value::String(masked);
            }
            *next += 1;
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|item| substitute(item, replaced, next)),
        Value::Object(map) => map
            .values_mut()
            .for_each(|item| substitute(item, replaced, next)),
        Value::Null | Value::Bool(_) => {}
    }
}

/// The leaves joined by `sep`, and where each leaf starts in the result.
fn join(leaves: &[Leaf], sep: &str) -> (String, Vec<usize>) {
    let total = leaves.iter().map(|l| l.text.len() + sep.len()).sum();
    let mut text = String::with_capacity(total);
    let mut starts = Vec::with_capacity(leaves.len());
    for (i, leaf) in leaves.iter().enumerate() {
        if i > 0 {
            text.push_str(sep);
        }
        starts.push(text.len());
        text.push_str(&leaf.text);
    }
    (text, starts)
}

/// Hands the parts of a span of the joined text to the leaves it covers.
/// With `crossing_only`, a span within a single leaf is ignored.
fn split(s: &Span, starts: &[usize], leaves: &[Leaf], out: &mut [Vec<Span>], crossing_only: bool) {
    // The first leaf that ends after the span starts.
    let first = starts.partition_point(|&st| st <= s.start).saturating_sub(1);
    let mut parts = Vec::new();
    for i in first..leaves.len() {
        let (ls, le) = (starts[i], starts[i] + leaves[i].text.len());
        if ls >= s.end {
            break;
        }
        let (a, b) = (s.start.max(ls), s.end.min(le));
        if a < b {
            parts.push((i, a - ls, b - ls));
        }
    }
    if crossing_only && parts.len() < 2 {
        return;
    }
    for (i, a, b) in parts {
        out[i].push(Span {
            kind: s.kind.clone(),
            plugin: s.plugin,
            start: a,
            end: b,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(texts: &[&str]) -> Vec<Leaf> {
        texts
            .iter()
            .map(|t| Leaf {
                pointer: String::new(),
                text: (*t).to_owned(),
            })
            .collect()
    }

    fn span(start: usize, end: usize) -> Span {
        Span {
            kind: "k".into(),
            plugin: 0,
            start,
            end,
        }
    }

    #[test]
    fn spans_of_the_joined_text_split_over_leaves() {
        let l = leaves(&["4111 1111", "1111 1111", "x"]);
        let (text, starts) = join(&l, "");
        assert_eq!(text, "4111 11111111 1111x");
        let mut out = vec![Vec::new(); 3];
        split(&span(0, 18), &starts, &l, &mut out, true);
        assert_eq!((out[0][0].start, out[0][0].end), (0, 9));
        assert_eq!((out[1][0].start, out[1][0].end), (0, 9));
        assert!(out[2].is_empty());
        let mut out = vec![Vec::new(); 3];
        split(&span(0, 4), &starts, &l, &mut out, true);
        assert!(out.iter().all(Vec::is_empty), "within one leaf: not crossing");
    }

    #[test]
    fn pointers_escape_and_numbers_are_leaves() {
        let doc = serde_json::json!({"a/b": [{"~": "x"}, 4111111111111111_u64], "n": null});
        let mut out = Vec::new();
        collect(&doc, &mut String::new(), &mut out);
        let got: Vec<_> = out.iter().map(|l| (l.pointer.as_str(), l.text.as_str())).collect();
        assert_eq!(got, [("/a~1b/0/~0", "x"), ("/a~1b/1", "4111111111111111")]);
    }

    #[test]
    fn overlapping_spans_merge_into_their_union() {
        let m = merge(vec![span(5, 9), span(0, 6), span(12, 14)]);
        let got: Vec<_> = m.iter().map(|s| (s.start, s.end)).collect();
        assert_eq!(got, [(0, 9), (12, 14)]);
    }
}
