//! Masking: the masking plugins of a chain find sensitive data in a text or
//! a JSON document, and the host replaces each finding with the operator the
//! policy sets for its kind.
//!
//! Every plugin reads the original text; their findings are merged (where two
//! overlap, the union is masked). Any plugin failure fails the whole request:
//! nothing is returned unmasked.
//!
//! A JSON document is masked as one text of all its string and number values
//! (so a document costs one call per plugin, not one per value), each written
//! as `"key": "value"` so that a plugin sees the key a value is assigned to
//! (`{"password": "hunter2"}` is a password because of its key), then once
//! more with neighbouring values of the same array or object glued together,
//! so that a value split across strings (`["4111 1111", "1111 1111"]`) is
//! still found.

mod json;
mod operator;

pub use json::parse_strict;
pub use operator::{MaskKey, apply};

use crate::error::Result;
use crate::policy::{MaskingPolicy, Operator};
use crate::runtime::{Caller, Plugin};
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

/// What a masking chain found in texts it was recently given, by a digest of
/// the chain's plugin names and the text.
///
/// For the audit record's attributes, which repeat all day (the same branch
/// names, regions and buckets): without it, every decision with attributes
/// runs the whole masking chain again. A snapshot owns one, so a reload (new
/// plugins or configuration) starts empty. Only texts up to
/// [`FindingsCache::MAX_TEXT`] bytes are kept, at most
/// [`FindingsCache::CAPACITY`] of them (moka keeps the most used); the key is a SHA-256 digest, so the
/// cache holds no text, only where in it something was found. Masking
/// plugins must be deterministic (the same text, the same findings), which
/// the plugin contract asks of them.
#[derive(Debug, Clone)]
pub struct FindingsCache(moka::sync::Cache<[u8; 32], Arc<[Span]>>);

impl FindingsCache {
    /// The longest text kept.
    pub const MAX_TEXT: usize = 4096;
    /// How many texts' findings are kept.
    pub const CAPACITY: u64 = 10_000;

    /// Keyed by each plugin's name and the part of `caller` its instances
    /// are kept apart by ([`Plugin::reuse_scope`]): findings that one
    /// caller's instance returned are never handed to another caller.
    fn key(chain: &[Arc<Plugin>], caller: &Caller, text: &str) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update((chain.len() as u64).to_le_bytes());
        for p in chain {
            for part in std::iter::once(p.name()).chain(p.reuse_scope(caller)) {
                h.update((part.len() as u64).to_le_bytes());
                h.update(part.as_bytes());
            }
        }
        h.update([0]);
        h.update(text.as_bytes());
        h.finalize().into()
    }
}

impl Default for FindingsCache {
    fn default() -> Self {
        Self(moka::sync::Cache::new(Self::CAPACITY))
    }
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
    /// The project, whose plugin instances serve this request.
    pub project: &'a str,
    /// The agent, as authenticated: plugin instances are kept apart by it.
    pub agent: &'a str,
    /// The session, for `token`.
    pub session: &'a str,
    /// An id for the plugins' log lines.
    pub request_id: &'a str,
    /// Where to remember findings in short texts, if anywhere.
    pub findings: Option<&'a FindingsCache>,
}

impl Masker<'_> {
    /// Runs every plugin over `text` and merges their findings (or takes
    /// them from [`Masker::findings`], where they were kept).
    async fn find(&self, text: &str) -> Result<Arc<[Span]>> {
        let Some(cache) = self
            .findings
            .filter(|_| text.len() <= FindingsCache::MAX_TEXT)
        else {
            return Ok(self.run_chain(text).await?.into());
        };
        let key = FindingsCache::key(&self.chain, &self.caller(), text);
        if let Some(spans) = cache.0.get(&key) {
            return Ok(spans);
        }
        let spans: Arc<[Span]> = self.run_chain(text).await?.into();
        cache.0.insert(key, spans.clone());
        Ok(spans)
    }

    /// Runs every plugin over `text` and merges their findings.
    async fn run_chain(&self, text: &str) -> Result<Vec<Span>> {
        let caller = self.caller();
        let mut spans = Vec::new();
        for (i, plugin) in self.chain.iter().enumerate() {
            let found = plugin.mask(&caller, text).await?;
            spans.extend(found.value.into_iter().map(|f| Span {
                kind: f.kind,
                plugin: i,
                start: f.start as usize,
                end: f.end as usize,
            }));
        }
        Ok(merge(spans))
    }

    /// Whom the plugins are called for.
    fn caller(&self) -> Caller {
        Caller::new(self.project, self.agent, self.session, self.request_id)
    }

    fn plugin_name(&self, i: usize) -> String {
        self.chain
            .get(i)
            .map(|p| p.name().to_owned())
            .unwrap_or_default()
    }

    /// Replaces `spans` (sorted, disjoint, in bounds) in `text`.
    fn replace(
        &self,
        text: &str,
        spans: &[Span],
        pointer: Option<&str>,
    ) -> (String, Vec<Reported>) {
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
    pub async fn mask_text(&self, text: &str) -> Result<(String, Vec<Reported>)> {
        let spans = self.find(text).await?;
        Ok(self.replace(text, &spans, None))
    }

    /// Masks every string and number of a JSON document; keys and structure
    /// are kept. A number in which something was found becomes a string.
    pub async fn mask_json(&self, mut doc: Value) -> Result<(Value, Vec<Reported>)> {
        let mut leaves = Vec::new();
        collect(&doc, None, 0, &mut 0, &mut String::new(), &mut leaves);
        let mut spans: Vec<Vec<Span>> = vec![Vec::new(); leaves.len()];

        // Pass 1: each value on a line of its own, after its key.
        let (text, placed) = render_keyed(&leaves);
        for s in self.find(&text).await?.iter() {
            split(s, &placed, &mut spans, None);
        }
        // Pass 2: values glued together; only what crosses a boundary counts.
        if leaves.len() > 1 {
            let (text, placed) = glue(&leaves);
            let mut crossing = vec![Vec::new(); leaves.len()];
            for s in self.find(&text).await?.iter() {
                split(s, &placed, &mut crossing, Some(&spans));
            }
            for (found, more) in spans.iter_mut().zip(crossing) {
                found.extend(more);
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
    /// The key it is the value of, when its parent is an object.
    key: Option<String>,
    /// Which array or object it is in (numbered in document order).
    parent: usize,
    text: String,
}

/// Collects the strings and numbers of `v`, which sits in container
/// `parent` under `key`; `containers` counts the arrays and objects seen.
fn collect(
    v: &Value,
    key: Option<&str>,
    parent: usize,
    containers: &mut usize,
    pointer: &mut String,
    out: &mut Vec<Leaf>,
) {
    let leaf = |text: String| Leaf {
        pointer: pointer.clone(),
        key: key.map(str::to_owned),
        parent,
        text,
    };
    match v {
        Value::String(s) => out.push(leaf(s.clone())),
        Value::Number(n) => out.push(leaf(n.to_string())),
        Value::Array(items) => {
            *containers += 1;
            let me = *containers;
            for (i, item) in items.iter().enumerate() {
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&i.to_string());
                collect(item, None, me, containers, pointer, out);
                pointer.truncate(len);
            }
        }
        Value::Object(map) => {
            *containers += 1;
            let me = *containers;
            for (k, item) in map {
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&k.replace('~', "~0").replace('/', "~1"));
                collect(item, Some(k), me, containers, pointer, out);
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

/// Where a leaf's value sits in a joined text.
#[derive(Debug)]
struct Placed {
    /// Offset of the value in the joined text.
    start: usize,
    /// Length of the value as written there.
    len: usize,
    /// For a value written escaped: the offset in the original value of each
    /// byte written, plus one final entry (the value's length).
    origin: Option<Vec<usize>>,
}

impl Placed {
    /// Maps an offset within the written value back to the original.
    fn original(&self, at: usize) -> usize {
        match &self.origin {
            None => at,
            Some(o) => o.get(at).copied().unwrap_or(at),
        }
    }
}

/// Every leaf as a line `"key": "value"` (or `"value"` in an array), with
/// `"` and `\` in values escaped so that a quoted value ends where it does.
fn render_keyed(leaves: &[Leaf]) -> (String, Vec<Placed>) {
    let mut text = String::new();
    let mut placed = Vec::with_capacity(leaves.len());
    for leaf in leaves {
        if let Some(key) = &leaf.key {
            text.push('"');
            // A key cannot close the quotes early or glue onto the value.
            text.extend(
                key.chars()
                    .map(|c| if c == '"' || c == '\\' { '_' } else { c }),
            );
            text.push_str("\": ");
        }
        text.push('"');
        let start = text.len();
        let needs_escape = leaf.text.contains(['"', '\\']);
        let origin = if needs_escape {
            let mut origin = Vec::with_capacity(leaf.text.len() + 8);
            for (at, c) in leaf.text.char_indices() {
                if c == '"' || c == '\\' {
                    text.push('\\');
                    origin.push(at);
                }
                text.push(c);
                origin.extend(std::iter::repeat_n(at, c.len_utf8()));
            }
            origin.push(leaf.text.len());
            Some(origin)
        } else {
            text.push_str(&leaf.text);
            None
        };
        placed.push(Placed {
            start,
            len: text.len() - start,
            origin,
        });
        text.push_str("\"\n");
    }
    (text, placed)
}

/// The values glued together: nothing between neighbours in the same array
/// or object, a line break between the others.
fn glue(leaves: &[Leaf]) -> (String, Vec<Placed>) {
    let mut text = String::with_capacity(leaves.iter().map(|l| l.text.len() + 1).sum());
    let mut placed = Vec::with_capacity(leaves.len());
    let mut parent = None;
    for leaf in leaves {
        if parent.is_some_and(|p| p != leaf.parent) {
            text.push('\n');
        }
        parent = Some(leaf.parent);
        placed.push(Placed {
            start: text.len(),
            len: leaf.text.len(),
            origin: None,
        });
        text.push_str(&leaf.text);
    }
    (text, placed)
}

/// Hands the parts of a span of the joined text to the leaves it covers.
///
/// With `alone` (the glued pass: what each leaf held on its own), a span is
/// ignored if it lies within a single leaf, or if it is an address already
/// found on its own in its last leaf with the end of the values before it
/// glued to its front (`"main"` then `"ann@example.com"` glue into the
/// address `mainann@example.com`: an address's local part absorbs any word
/// before it, so the earlier value is not part of it), provided the address
/// found alone covers all of its leaf's part. Only that case: a
/// span that extends a finding into the *next* value, or of any other kind,
/// may be a value split across strings, and every part of it is masked.
fn split(s: &Span, placed: &[Placed], out: &mut [Vec<Span>], alone: Option<&[Vec<Span>]>) {
    // The first leaf that starts after the span's start, less one.
    let first = placed
        .partition_point(|p| p.start <= s.start)
        .saturating_sub(1);
    let mut parts = Vec::new();
    for (i, p) in placed.iter().enumerate().skip(first) {
        if p.start >= s.end {
            break;
        }
        let (a, b) = (s.start.max(p.start), s.end.min(p.start + p.len));
        if a < b {
            parts.push((i, p.original(a - p.start), p.original(b - p.start)));
        }
    }
    if let Some(alone) = alone {
        // The address found alone must cover all of its leaf's part: one
        // that only overlaps it (`".doe@corp.example.com"` alone is found
        // from the `d`) may have its front in the earlier values.
        let address_glued_behind = s.kind == "email"
            && parts.last().is_some_and(|&(i, a, b)| {
                alone.get(i).is_some_and(|found| {
                    found
                        .iter()
                        .any(|f| f.kind == s.kind && f.start <= a && b <= f.end)
                })
            });
        if parts.len() < 2 || address_glued_behind {
            return;
        }
    }
    for (i, a, b) in parts {
        if let Some(leaf) = out.get_mut(i) {
            leaf.push(Span {
                kind: s.kind.clone(),
                plugin: s.plugin,
                start: a,
                end: b,
            });
        }
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
                key: Some("k".into()),
                parent: 1,
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
        let (text, placed) = glue(&l);
        assert_eq!(text, "4111 11111111 1111x");
        let mut out = vec![Vec::new(); 3];
        split(&span(0, 18), &placed, &mut out, Some(&[]));
        assert_eq!((out[0][0].start, out[0][0].end), (0, 9));
        assert_eq!((out[1][0].start, out[1][0].end), (0, 9));
        assert!(out[2].is_empty());
        let mut out = vec![Vec::new(); 3];
        split(&span(0, 4), &placed, &mut out, Some(&[]));
        assert!(
            out.iter().all(Vec::is_empty),
            "within one leaf: not crossing"
        );
    }

    #[test]
    fn an_address_glued_behind_a_value_is_not_a_new_one() {
        let email = |start, end| Span {
            kind: "email".into(),
            ..span(start, end)
        };
        let l = leaves(&["main", "ann@example.com"]);
        let (_, placed) = glue(&l);
        // Leaf 1 alone held an address at 0..15.
        let alone = vec![Vec::new(), vec![email(0, 15)]];
        let mut out = vec![Vec::new(); 2];
        split(&email(0, 19), &placed, &mut out, Some(&alone));
        assert!(out.iter().all(Vec::is_empty), "`main` is not an address");
        // Another kind found alone does not hide a value split across leaves.
        let mut phone = email(0, 15);
        phone.kind = "phone".into();
        let mut glued_phone = email(0, 19);
        glued_phone.kind = "phone".into();
        split(
            &glued_phone,
            &placed,
            &mut out,
            Some(&[Vec::new(), vec![phone]]),
        );
        assert_eq!(out.iter().map(Vec::len).collect::<Vec<_>>(), [1, 1]);
        // Nor does an address found alone that covers only part of its
        // leaf's share: `jane` and `.` are the front of
        // `jane.doe@corp.example.com`, split across two values.
        let l = leaves(&["jane", ".doe@corp.example.com"]);
        let (_, placed) = glue(&l);
        let mut out = vec![Vec::new(); 2];
        let alone = vec![Vec::new(), vec![email(1, 21)]];
        split(&email(0, 25), &placed, &mut out, Some(&alone));
        assert_eq!(out.iter().map(Vec::len).collect::<Vec<_>>(), [1, 1]);
        assert_eq!((out[0][0].start, out[0][0].end), (0, 4));
        assert_eq!((out[1][0].start, out[1][0].end), (0, 21));
        // Nor does a finding extended into the next value: `0100` is the
        // end of the number in `["+1 415 555", " 0100"]`.
        let l = leaves(&["ann@example.com", "x"]);
        let (_, placed) = glue(&l);
        let mut out = vec![Vec::new(); 2];
        let alone = vec![vec![email(0, 15)], Vec::new()];
        split(&email(0, 16), &placed, &mut out, Some(&alone));
        assert_eq!(out.iter().map(Vec::len).collect::<Vec<_>>(), [1, 1]);
    }

    #[test]
    fn keyed_lines_escape_quotes_and_map_back() {
        let l = leaves(&["a\"b", "plain"]);
        let (text, placed) = render_keyed(&l);
        assert_eq!(text, "\"k\": \"a\\\"b\"\n\"k\": \"plain\"\n");
        // The whole escaped value maps back to the whole original value.
        let (start, end) = (placed[0].start, placed[0].start + placed[0].len);
        let mut out = vec![Vec::new(); 2];
        split(&span(start, end), &placed, &mut out, None);
        assert_eq!((out[0][0].start, out[0][0].end), (0, 3));
        let p = &placed[1];
        assert_eq!(&text[p.start..p.start + p.len], "plain");
    }

    #[test]
    fn pointers_escape_and_numbers_are_leaves() {
        let doc = serde_json::json!({"a/b": [{"~": "x"}, 4111111111111111_u64], "n": null});
        let mut out = Vec::new();
        collect(&doc, None, 0, &mut 0, &mut String::new(), &mut out);
        let got: Vec<_> = out
            .iter()
            .map(|l| (l.pointer.as_str(), l.text.as_str()))
            .collect();
        assert_eq!(got, [("/a~1b/0/~0", "x"), ("/a~1b/1", "4111111111111111")]);
    }

    #[test]
    fn overlapping_spans_merge_into_their_union() {
        let m = merge(vec![span(5, 9), span(0, 6), span(12, 14)]);
        let got: Vec<_> = m.iter().map(|s| (s.start, s.end)).collect();
        assert_eq!(got, [(0, 9), (12, 14)]);
    }
}
