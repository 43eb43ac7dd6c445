//! Per-kind scoring of a plugin's findings against the corpus's labels.
//!
//! - A label is *recalled* when the findings of its kind, together, cover
//!   every byte of it.
//! - A finding is a *true positive* when it overlaps a label of its kind;
//!   otherwise it is a false positive.

use super::generate::{Doc, NearMiss, kind};
use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

/// One span a plugin reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Kind the plugin gave it.
    pub kind: String,
    /// Start (byte offset, inclusive).
    pub start: usize,
    /// End (byte offset, exclusive).
    pub end: usize,
}

/// Counts of one kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KindScore {
    /// Labels of this kind.
    pub labels: usize,
    /// Labels fully covered by findings of this kind.
    pub recalled: usize,
    /// Findings of this kind.
    pub findings: usize,
    /// Findings that overlap a label of this kind.
    pub true_positives: usize,
}

impl KindScore {
    /// True positives over findings; 1 when there are no findings.
    pub fn precision(&self) -> f64 {
        if self.findings == 0 {
            1.0
        } else {
            self.true_positives as f64 / self.findings as f64
        }
    }

    /// Recalled labels over labels; 1 when there are no labels.
    pub fn recall(&self) -> f64 {
        if self.labels == 0 {
            1.0
        } else {
            self.recalled as f64 / self.labels as f64
        }
    }
}

/// A missed label or a false positive, with what a plugin author needs to
/// find it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Document id.
    pub doc: usize,
    /// Kind of the label (miss) or of the finding (false positive).
    pub kind: String,
    /// Start of the span.
    pub start: usize,
    /// End of the span.
    pub end: usize,
    /// The span in context, the span itself between `⟦` and `⟧`.
    pub snippet: String,
    /// What else is there: partial coverage, another kind, a near-miss.
    pub note: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "doc {} {} [{}..{}] {}",
            self.doc, self.kind, self.start, self.end, self.snippet
        )?;
        if !self.note.is_empty() {
            write!(f, " ({})", self.note)?;
        }
        Ok(())
    }
}

/// The result of scoring.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Counts by kind.
    pub kinds: BTreeMap<String, KindScore>,
    /// Labels not fully covered, in document order.
    pub misses: Vec<Problem>,
    /// Findings that overlap no label of their kind, in document order.
    pub false_positives: Vec<Problem>,
}

/// Bytes of context on each side of a span in a snippet.
const CONTEXT: usize = 32;

/// `text[start..end]` with some context, the span marked, escaped onto one line.
pub fn snippet(text: &str, start: usize, end: usize) -> String {
    let end = end.min(text.len());
    let start = start.min(end);
    let mut from = start.saturating_sub(CONTEXT);
    while !text.is_char_boundary(from) {
        from -= 1;
    }
    let mut to = (end + CONTEXT).min(text.len());
    while !text.is_char_boundary(to) {
        to += 1;
    }
    let (mut s, mut e) = (start, end);
    while !text.is_char_boundary(s) {
        s -= 1;
    }
    while !text.is_char_boundary(e) {
        e += 1;
    }
    let esc = |t: &str| t.escape_debug().to_string();
    format!(
        "{}{}⟦{}⟧{}{}",
        if from > 0 { "…" } else { "" },
        esc(&text[from..s]),
        esc(&text[s..e]),
        esc(&text[e..to]),
        if to < text.len() { "…" } else { "" }
    )
}

fn overlaps(a: (usize, usize), b: (usize, usize)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

/// Bytes of `[start, end)` covered by `spans` (sorted by start), as the
/// first uncovered offset, or `end` when all are covered.
fn first_gap(start: usize, end: usize, spans: &[(usize, usize)]) -> usize {
    let mut at = start;
    for &(s, e) in spans {
        if s > at {
            break;
        }
        at = at.max(e);
        if at >= end {
            return end;
        }
    }
    at.min(end)
}

/// Scores `findings[i]` against `docs[i].labels` for every document;
/// `near_misses` only annotate false positives.
pub fn score(docs: &[Doc], findings: &[Vec<Finding>], near_misses: &[NearMiss]) -> Report {
    let mut report = Report::default();
    for k in kind::ALL {
        report.kinds.insert(k.to_owned(), KindScore::default());
    }
    let empty = Vec::new();
    for (i, doc) in docs.iter().enumerate() {
        let found = findings.get(i).unwrap_or(&empty);
        let near: Vec<&NearMiss> = near_misses.iter().filter(|n| n.doc == doc.id).collect();
        for label in &doc.labels {
            let entry = report.kinds.entry(label.kind.clone()).or_default();
            entry.labels += 1;
            let mut same: Vec<(usize, usize)> = found
                .iter()
                .filter(|f| {
                    f.kind == label.kind && overlaps((f.start, f.end), (label.start, label.end))
                })
                .map(|f| (f.start, f.end))
                .collect();
            same.sort_unstable();
            let gap = first_gap(label.start, label.end, &same);
            if gap >= label.end {
                entry.recalled += 1;
                continue;
            }
            let mut notes = Vec::new();
            if !same.is_empty() {
                let parts: Vec<String> = same.iter().map(|&(s, e)| format!("{s}..{e}")).collect();
                notes.push(format!(
                    "partly found as {}; byte {gap} is not covered",
                    parts.join(", ")
                ));
            }
            for f in found {
                if f.kind != label.kind && overlaps((f.start, f.end), (label.start, label.end)) {
                    notes.push(format!("found as {} [{}..{}]", f.kind, f.start, f.end));
                }
            }
            report.misses.push(Problem {
                doc: doc.id,
                kind: label.kind.clone(),
                start: label.start,
                end: label.end,
                snippet: snippet(&doc.text, label.start, label.end),
                note: notes.join("; "),
            });
        }
        for f in found {
            let entry = report.kinds.entry(f.kind.clone()).or_default();
            entry.findings += 1;
            let hit = doc
                .labels
                .iter()
                .any(|l| l.kind == f.kind && overlaps((f.start, f.end), (l.start, l.end)));
            if hit {
                entry.true_positives += 1;
                continue;
            }
            let mut notes = Vec::new();
            for l in &doc.labels {
                if overlaps((f.start, f.end), (l.start, l.end)) {
                    notes.push(format!(
                        "overlaps a {} label [{}..{}]",
                        l.kind, l.start, l.end
                    ));
                }
            }
            for n in &near {
                if overlaps((f.start, f.end), (n.start, n.end)) {
                    notes.push(format!("near-miss: {}", n.category));
                }
            }
            if !kind::ALL.contains(&f.kind.as_str()) {
                notes.push("not a kind of the corpus".to_owned());
            }
            report.false_positives.push(Problem {
                doc: doc.id,
                kind: f.kind.clone(),
                start: f.start,
                end: f.end,
                snippet: snippet(&doc.text, f.start, f.end),
                note: notes.join("; "),
            });
        }
    }
    report
}

impl Report {
    /// Kinds, in the corpus's order, then any others.
    pub fn ordered(&self) -> Vec<(&str, &KindScore)> {
        let mut out: Vec<(&str, &KindScore)> = kind::ALL
            .iter()
            .filter_map(|k| self.kinds.get(*k).map(|s| (*k, s)))
            .collect();
        for (k, s) in &self.kinds {
            if !kind::ALL.contains(&k.as_str()) {
                out.push((k.as_str(), s));
            }
        }
        out
    }

    /// Kinds whose recall is below `min_recall` or precision below `min_precision`.
    pub fn failing(&self, min_recall: f64, min_precision: f64) -> Vec<String> {
        self.ordered()
            .into_iter()
            .filter(|(_, s)| s.recall() < min_recall || s.precision() < min_precision)
            .map(|(k, _)| k.to_owned())
            .collect()
    }

    /// Misses and false positives of `kinds`, at most `limit` of each.
    pub fn problems(&self, kinds: &[String], limit: usize) -> String {
        let mut out = String::new();
        let of = |p: &&Problem| kinds.contains(&p.kind);
        let misses: Vec<&Problem> = self.misses.iter().filter(of).collect();
        let fps: Vec<&Problem> = self.false_positives.iter().filter(of).collect();
        let _ = writeln!(
            out,
            "misses ({}, first {}):",
            misses.len(),
            limit.min(misses.len())
        );
        for p in misses.iter().take(limit) {
            let _ = writeln!(out, "  {p}");
        }
        let _ = writeln!(
            out,
            "false positives ({}, first {}):",
            fps.len(),
            limit.min(fps.len())
        );
        for p in fps.iter().take(limit) {
            let _ = writeln!(out, "  {p}");
        }
        out
    }

    /// Misses and false positives, at most `per_kind` of each per kind.
    pub fn problems_by_kind(&self, per_kind: usize) -> String {
        let mut out = String::new();
        for (k, _) in self.ordered() {
            let misses: Vec<&Problem> = self.misses.iter().filter(|p| p.kind == k).collect();
            let fps: Vec<&Problem> = self
                .false_positives
                .iter()
                .filter(|p| p.kind == k)
                .collect();
            if misses.is_empty() && fps.is_empty() {
                continue;
            }
            let _ = writeln!(
                out,
                "{k}: {} missed, {} false positives",
                misses.len(),
                fps.len()
            );
            for p in misses.iter().take(per_kind) {
                let _ = writeln!(out, "  miss  {p}");
            }
            for p in fps.iter().take(per_kind) {
                let _ = writeln!(out, "  false {p}");
            }
        }
        out
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<24} {:>7} {:>9} {:>9} {:>7} {:>10} {:>7}",
            "kind", "labels", "recalled", "findings", "tp", "precision", "recall"
        )?;
        let mut total = KindScore::default();
        for (k, s) in self.ordered() {
            writeln!(
                f,
                "{:<24} {:>7} {:>9} {:>9} {:>7} {:>10.3} {:>7.3}",
                k,
                s.labels,
                s.recalled,
                s.findings,
                s.true_positives,
                s.precision(),
                s.recall()
            )?;
            total.labels += s.labels;
            total.recalled += s.recalled;
            total.findings += s.findings;
            total.true_positives += s.true_positives;
        }
        writeln!(
            f,
            "{:<24} {:>7} {:>9} {:>9} {:>7} {:>10.3} {:>7.3}",
            "all",
            total.labels,
            total.recalled,
            total.findings,
            total.true_positives,
            total.precision(),
            total.recall()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::generate::Label;

    fn doc(id: usize, text: &str, labels: &[(&str, usize, usize)]) -> Doc {
        Doc {
            id,
            text: text.to_owned(),
            labels: labels
                .iter()
                .map(|&(k, s, e)| Label {
                    kind: k.to_owned(),
                    start: s,
                    end: e,
                })
                .collect(),
        }
    }

    fn f(k: &str, s: usize, e: usize) -> Finding {
        Finding {
            kind: k.to_owned(),
            start: s,
            end: e,
        }
    }

    #[test]
    fn exact_findings_score_perfectly() {
        let docs = [doc(0, "mail jane@example.com now", &[("email", 5, 21)])];
        let r = score(&docs, &[vec![f("email", 5, 21)]], &[]);
        let s = r.kinds["email"];
        assert_eq!(
            (s.labels, s.recalled, s.findings, s.true_positives),
            (1, 1, 1, 1)
        );
        assert!(r.misses.is_empty() && r.false_positives.is_empty());
        assert!(r.failing(0.99, 0.98).is_empty());
    }

    #[test]
    fn a_label_is_recalled_only_when_fully_covered() {
        let text = "card 4111 1111 1111 1111 ok";
        let docs = [doc(0, text, &[("credit_card", 5, 24)])];
        // Two findings that together cover the label: recalled.
        let r = score(
            &docs,
            &[vec![f("credit_card", 5, 14), f("credit_card", 14, 24)]],
            &[],
        );
        assert_eq!(r.kinds["credit_card"].recalled, 1);
        assert_eq!(r.kinds["credit_card"].true_positives, 2);
        // Wider than the label: still recalled, still a true positive.
        let r = score(&docs, &[vec![f("credit_card", 0, 27)]], &[]);
        assert_eq!(r.kinds["credit_card"].recalled, 1);
        // A gap: a miss that says where, though the finding is a true positive.
        let r = score(&docs, &[vec![f("credit_card", 5, 19)]], &[]);
        let s = r.kinds["credit_card"];
        assert_eq!((s.recalled, s.true_positives), (0, 1));
        assert_eq!(r.misses.len(), 1);
        assert!(r.misses[0].note.contains("byte 19"), "{}", r.misses[0].note);
        // Gaps between findings are found too.
        let r = score(
            &docs,
            &[vec![f("credit_card", 5, 9), f("credit_card", 10, 24)]],
            &[],
        );
        assert_eq!(r.kinds["credit_card"].recalled, 0);
    }

    #[test]
    fn a_finding_of_the_wrong_kind_is_a_false_positive_and_a_miss() {
        let docs = [doc(3, "SSN: 123-45-6780.", &[("ssn", 5, 16)])];
        let r = score(&docs, &[vec![f("phone", 5, 16)]], &[]);
        assert_eq!(r.kinds["ssn"].recalled, 0);
        assert_eq!(r.kinds["phone"].findings, 1);
        assert_eq!(r.kinds["phone"].true_positives, 0);
        assert!(
            r.misses[0].note.contains("found as phone"),
            "{}",
            r.misses[0]
        );
        assert!(r.false_positives[0].note.contains("overlaps a ssn label"));
        assert_eq!(
            r.failing(0.99, 0.98),
            vec!["ssn".to_owned(), "phone".to_owned()]
        );
    }

    #[test]
    fn false_positives_name_their_near_miss() {
        let docs = [doc(7, "order 4111111111111112 shipped", &[])];
        let near = [NearMiss {
            doc: 7,
            category: "16-digit number failing Luhn",
            start: 6,
            end: 22,
        }];
        let r = score(&docs, &[vec![f("credit_card", 6, 22)]], &near);
        assert_eq!(r.kinds["credit_card"].precision(), 0.0);
        assert_eq!(r.kinds["credit_card"].recall(), 1.0);
        let p = &r.false_positives[0];
        assert_eq!(p.snippet, "order ⟦4111111111111112⟧ shipped");
        assert!(p.note.contains("near-miss: 16-digit number failing Luhn"));
        let text = r.problems(&["credit_card".to_owned()], 20);
        assert!(text.contains("doc 7 credit_card [6..22]"), "{text}");
    }

    #[test]
    fn unknown_kinds_count_against_precision() {
        let docs = [doc(0, "hello world", &[])];
        let r = score(&docs, &[vec![f("url", 0, 5)]], &[]);
        assert_eq!(r.failing(0.99, 0.98), vec!["url".to_owned()]);
        assert!(r.false_positives[0].note.contains("not a kind"));
        assert!(r.to_string().contains("url"));
    }

    #[test]
    fn snippets_respect_char_boundaries_and_escape() {
        let text = "Zoë\nMüller <zoë@example.com> ünd so weiter und so fort, immer weiter";
        let s = snippet(text, 13, 30);
        assert!(s.contains("⟦"), "{s}");
        assert!(s.contains("\\n"), "{s}");
        // Out of range spans do not panic.
        let _ = snippet(text, 500, 900);
    }
}
