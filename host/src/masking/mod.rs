//! Masking: the masking plugins of a chain find sensitive data in a text or
//! a JSON document, and the host replaces each finding with the operator the
//! policy sets for its kind.
//!
//! Every plugin reads the original text; their findings are merged (where two
//! overlap, or two of one kind touch, their union is masked). Any plugin
//! failure fails the whole request: nothing is returned unmasked. So does
//! going past a [`Limits`] bound: what a request may cost is bounded by the
//! configuration, not by what a plugin reports or how long a document's keys
//! are.
//!
//! A JSON document is masked as one text of all its strings, numbers and
//! keys (so a document costs one call per plugin, not one per value), each
//! value written as `"key": "value"` so that a plugin sees the key a value is
//! assigned to (`{"password": "hunter2"}` is a password because of its key),
//! then once more with neighbouring values of the same array or object glued
//! together, so that a value split across strings (`["4111 1111", "1111
//! 1111"]`) is still found. Keys are masked like values; numbers are read in
//! their digit form (`4111111111111111.0` is read `4111111111111111`).

mod cache;
mod doc;
mod joined;
mod json;
mod limits;
mod operator;
#[cfg(test)]
mod tests;

pub use cache::FindingsCache;
pub use json::{ParseError, parse_strict};
pub use limits::Limits;
pub use operator::{MaskKey, Scope, apply};

use crate::error::Result;
use crate::policy::{MaskingPolicy, Operator};
use crate::runtime::{Caller, Plugin};
use doc::{Doc, Role};
use joined::{glue, render_keyed, split};
use limits::{Room, limit_error};
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
    /// For JSON: the pointer (RFC 6901) of the string or number it was in,
    /// or of the member whose key it was in, with keys as masked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// For JSON: true when it was in the key of the member at `pointer`
    /// (then `start` and `end` are offsets into the key as sent).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub in_key: bool,
    /// Start of the value, a UTF-8 byte offset into the text (or into the
    /// string at `pointer`, or the digit form of the number there), before
    /// masking.
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
    /// A part before the last of a value split across strings: an operator
    /// that keeps the end of a value (`last_four`) keeps nothing of it, or
    /// each part would show its own last digits.
    split_head: bool,
}

/// Inputs of at least this many bytes are masked where they cannot stall
/// the server's async workers (see [`offload`]).
pub(crate) const OFFLOAD_BYTES: usize = 64 << 10;

/// Runs `work`, the host's side of masking `size` bytes (reading, merging,
/// replacing, writing the answer). From [`OFFLOAD_BYTES`] up, on a
/// multi-threaded runtime, the worker first hands its other tasks to the
/// other workers (`tokio::task::block_in_place`), so a large document does
/// not hold up requests queued behind it; small inputs, and current-thread
/// runtimes (the CLI's one-off runs, tests), run it in place.
pub(crate) fn offload<R>(size: usize, work: impl FnOnce() -> R) -> R {
    use tokio::runtime::{Handle, RuntimeFlavor};
    let multi_threaded =
        Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread);
    if size >= OFFLOAD_BYTES && multi_threaded {
        tokio::task::block_in_place(work)
    } else {
        work()
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
    /// The caller's project, for `hash` and `token`.
    pub project: &'a str,
    /// The authenticated agent, for `token`.
    pub agent: &'a str,
    /// The session, for `token`.
    pub session: &'a str,
    /// An id for the plugins' log lines.
    pub request_id: &'a str,
    /// Where to remember findings in short texts, if anywhere.
    pub findings: Option<&'a FindingsCache>,
    /// What the request may cost.
    pub limits: Limits,
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
        if let Some(spans) = cache.get(&key) {
            return Ok(spans);
        }
        let spans: Arc<[Span]> = self.run_chain(text).await?.into();
        cache.insert(key, spans.clone());
        Ok(spans)
    }

    /// Runs every plugin over `text` and merges their findings. A plugin
    /// reporting more than [`Limits::max_findings`] fails the request.
    async fn run_chain(&self, text: &str) -> Result<Vec<Span>> {
        let caller = self.caller();
        let mut spans = Vec::new();
        for (i, plugin) in self.chain.iter().enumerate() {
            let found = plugin.mask(&caller, text).await?;
            if found.value.len() > self.limits.max_findings {
                return Err(limit_error(
                    format!(
                        "plugin `{}` reported {} findings",
                        plugin.name(),
                        found.value.len()
                    ),
                    "max_findings",
                    self.limits.max_findings,
                ));
            }
            spans.extend(found.value.into_iter().map(|f| Span {
                kind: f.kind,
                plugin: i,
                start: f.start as usize,
                end: f.end as usize,
                split_head: false,
            }));
        }
        Ok(offload(text.len(), || merge(spans)))
    }

    /// Fails when an answer would hold more than [`Limits::max_findings`].
    fn check_count(&self, findings: usize) -> Result<()> {
        if findings > self.limits.max_findings {
            return Err(limit_error(
                format!("the content has {findings} findings"),
                "max_findings",
                self.limits.max_findings,
            ));
        }
        Ok(())
    }

    /// Whom the plugins are called for: their instances are kept apart by it.
    fn caller(&self) -> Caller {
        Caller::new(self.project, self.agent, self.session, self.request_id)
    }

    /// Whose values these are, for `hash` and `token`.
    fn scope(&self) -> Scope<'_> {
        Scope {
            project: self.project,
            agent: self.agent,
            session: self.session,
        }
    }

    fn plugin_name(&self, i: usize) -> String {
        self.chain
            .get(i)
            .map(|p| p.name().to_owned())
            .unwrap_or_default()
    }

    /// Replaces `spans` (sorted, disjoint, in bounds) in `text`, charging
    /// everything it writes to `room`.
    fn replace(&self, text: &str, spans: &[Span], room: &mut Room) -> Result<String> {
        let mut out = String::with_capacity(text.len());
        let mut pos = 0;
        for s in spans {
            let op = self.policy.operator(&s.kind);
            let before = text.get(pos..s.start).unwrap_or_default();
            let value = text.get(s.start..s.end).unwrap_or_default();
            let masked = if s.split_head && op == Operator::LastFour {
                value
                    .chars()
                    .map(|c| if c.is_alphanumeric() { '*' } else { c })
                    .collect()
            } else {
                apply(op, self.key, self.scope(), &s.kind, value)
            };
            room.take(before.len() + masked.len())?;
            out.push_str(before);
            out.push_str(&masked);
            pos = s.end;
        }
        let rest = text.get(pos..).unwrap_or_default();
        room.take(rest.len())?;
        out.push_str(rest);
        Ok(out)
    }

    /// What is reported of `spans`.
    fn report(&self, spans: &[Span], pointer: Option<&str>, in_key: bool) -> Vec<Reported> {
        spans
            .iter()
            .map(|s| Reported {
                kind: s.kind.clone(),
                plugin: self.plugin_name(s.plugin),
                operator: self.policy.operator(&s.kind),
                pointer: pointer.map(str::to_owned),
                in_key,
                start: s.start,
                end: s.end,
            })
            .collect()
    }

    /// Masks a text.
    pub async fn mask_text(&self, text: &str) -> Result<(String, Vec<Reported>)> {
        let spans = self.find(text).await?;
        offload(text.len(), || {
            self.check_count(spans.len())?;
            let masked = self.replace(text, &spans, &mut Room::new(&self.limits))?;
            Ok((masked, self.report(&spans, None, false)))
        })
    }

    /// Masks every string, number and key of a JSON document; the structure
    /// and the order of keys are kept. A number in which something was found
    /// becomes a string; a masked key that would repeat a sibling's name gets
    /// a suffix `#2`, `#3`, … so that no two members merge.
    pub async fn mask_json(&self, doc: Value) -> Result<(Value, Vec<Reported>)> {
        let doc = Doc::new(doc);
        let size: usize = doc.pieces.iter().map(|p| p.text.len()).sum();
        let mut spans: Vec<Vec<Span>> = vec![Vec::new(); doc.pieces.len()];

        // Pass 1: each value on a line of its own, after its key.
        let (text, placed) = offload(size, || render_keyed(&doc.pieces));
        let found = self.find(&text).await?;
        offload(size, || {
            for s in found.iter() {
                split(s, &placed, &mut spans, None);
            }
        });
        drop((text, placed));
        // Pass 2: values glued together; only what crosses a boundary counts.
        let values = doc
            .pieces
            .iter()
            .filter(|p| matches!(p.role, Role::Value { .. }))
            .count();
        if values > 1 {
            let (text, placed) = offload(size, || glue(&doc.pieces));
            let found = self.find(&text).await?;
            offload(size, || {
                let mut crossing = vec![Vec::new(); spans.len()];
                for s in found.iter() {
                    split(s, &placed, &mut crossing, Some(&spans));
                }
                for (found, more) in spans.iter_mut().zip(crossing) {
                    found.extend(more);
                }
            });
        }
        offload(size, || self.finish_json(doc, spans))
    }

    /// Masks the pieces of `doc` where `spans` (per piece) say, and puts it
    /// back together with what is reported. Pointers are built only for
    /// pieces with findings, once their total length is known to fit.
    fn finish_json(&self, doc: Doc, spans: Vec<Vec<Span>>) -> Result<(Value, Vec<Reported>)> {
        let spans: Vec<Vec<Span>> = spans
            .into_iter()
            .map(|s| if s.is_empty() { s } else { merge(s) })
            .collect();
        let counts: Vec<usize> = spans.iter().map(Vec::len).collect();
        self.check_count(counts.iter().sum())?;
        let mut room = Room::new(&self.limits);
        let mut masked = Vec::with_capacity(spans.len());
        for (piece, spans) in doc.pieces.iter().zip(&spans) {
            masked.push(if spans.is_empty() {
                None
            } else {
                Some(self.replace(&piece.text, spans, &mut room)?)
            });
        }
        let names = doc.key_names(&mut masked);
        doc.check_pointers(&names, &counts, &self.limits)?;
        let mut reported = Vec::new();
        for (i, (piece, spans)) in doc.pieces.iter().zip(&spans).enumerate() {
            if !spans.is_empty() {
                let in_key = matches!(piece.role, Role::Key { .. });
                let pointer = doc.pointer(&names, i);
                reported.extend(self.report(spans, Some(&pointer), in_key));
            }
        }
        Ok((doc.assemble(masked, names), reported))
    }
}

/// Sorts spans and merges overlapping ones into their union (keeping the
/// first one's kind and plugin), and touching ones of the same kind into
/// one: a plugin reporting every byte of a value as a finding of its own
/// yields one finding, not one per byte.
fn merge(mut spans: Vec<Span>) -> Vec<Span> {
    spans.sort_by_key(|s| (s.start, std::cmp::Reverse(s.end)));
    let mut out: Vec<Span> = Vec::with_capacity(spans.len());
    for s in spans {
        match out.last_mut() {
            Some(last) if s.start < last.end || (s.start == last.end && s.kind == last.kind) => {
                last.end = last.end.max(s.end);
                last.split_head |= s.split_head;
            }
            _ => out.push(s),
        }
    }
    out
}
