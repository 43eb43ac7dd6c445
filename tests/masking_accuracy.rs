//! Accuracy of the built-in masking plugins (`pii`, `secrets`) on the
//! labelled corpus in `tests/corpus/` (see its README).
#![allow(clippy::expect_used)]

mod corpus;

use corpus::generate::{self, kind, near};
use corpus::score::{self, Finding};
use corpus::values;
use palisade::runtime::{Caller, EngineSettings, PluginOptions, Runtime};
use std::collections::{BTreeMap, BTreeSet};

/// The checked-in corpus.
const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/corpus/masking.jsonl");
/// Set to `1` to rewrite the corpus from the generator.
const REGENERATE: &str = "PALISADE_REGENERATE_CORPUS";
/// Set to `1` to print every miss and false positive, not ten per kind.
const VERBOSE: &str = "PALISADE_CORPUS_VERBOSE";
/// Targets, per kind.
const MIN_RECALL: f64 = 0.99;
const MIN_PRECISION: f64 = 0.98;
/// Labels every kind must have.
const MIN_LABELS: usize = 250;

fn env_is_1(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| v == "1")
}

/// Why `value` is not a well-formed value of `kind`, if it is not.
fn malformed(kind: &str, value: &str) -> Option<&'static str> {
    let digits: String = value.chars().filter(char::is_ascii_digit).collect();
    let edge = |c: char| c.is_whitespace() || "\"'`,;".contains(c);
    if value.starts_with(edge) || value.ends_with(edge) {
        return Some("starts or ends with a space, quote or separator");
    }
    let bad = match kind {
        kind::CREDIT_CARD => !(values::luhn_valid(&digits) && (15..=19).contains(&digits.len())),
        kind::SSN => {
            let part = |r: std::ops::Range<usize>| digits[r].parse().unwrap_or(0);
            digits.len() != 9 || !values::ssn_valid(part(0..3), part(3..5), part(5..9))
        }
        kind::IBAN => !values::iban_valid(value),
        kind::EMAIL => value.matches('@').count() != 1,
        kind::PHONE => {
            !(8..=13).contains(&digits.len()) || !value.ends_with(|c: char| c.is_ascii_digit())
        }
        kind::AWS_ACCESS_KEY_ID => {
            value.len() != 20 || !(value.starts_with("AKIA") || value.starts_with("ASIA"))
        }
        kind::AWS_SECRET_ACCESS_KEY => value.len() != 40,
        kind::JWT => !value.starts_with("eyJ") || value.split('.').count() != 3,
        kind::BEARER_TOKEN => value.len() < 16 || value.contains(char::is_whitespace),
        kind::PRIVATE_KEY => {
            !(value.starts_with("-----BEGIN ") && value.ends_with(" PRIVATE KEY-----"))
        }
        kind::PASSWORD | kind::SECRET => value.len() < 4 || value.contains(char::is_whitespace),
        _ => false,
    };
    bad.then_some("not a valid value of its kind")
}

#[test]
fn corpus_file_matches_generator() {
    let text = corpus::to_jsonl(&generate::generate()).expect("serialize the corpus");
    if env_is_1(REGENERATE) {
        // Write then rename, so that a test reading the corpus meanwhile sees
        // the old file or the new one, never half of one.
        let tmp = format!("{CORPUS}.tmp");
        std::fs::write(&tmp, &text).expect("write tests/corpus/masking.jsonl.tmp");
        std::fs::rename(&tmp, CORPUS).expect("rename it to tests/corpus/masking.jsonl");
        println!("wrote {CORPUS} ({} bytes)", text.len());
        return;
    }
    let on_disk = std::fs::read_to_string(CORPUS)
        .expect("read tests/corpus/masking.jsonl (create it with PALISADE_REGENERATE_CORPUS=1)");
    if on_disk == text {
        return;
    }
    let first = on_disk
        .lines()
        .zip(text.lines())
        .position(|(a, b)| a != b)
        .map_or_else(
            || {
                format!(
                    "line counts differ: {} on disk, {} generated",
                    on_disk.lines().count(),
                    text.lines().count()
                )
            },
            |i| format!("first difference on line {} (document {i})", i + 1),
        );
    assert!(
        on_disk == text,
        "tests/corpus/masking.jsonl is not what the generator makes: {first}; \
         if the generator changed on purpose, run `{REGENERATE}=1 cargo test -p palisade --test masking_accuracy`"
    );
}

#[test]
fn labels_are_sane() {
    let corpus = generate::generate_corpus();
    let mut counts = vec![0usize; kind::ALL.len()];
    let mut bad = Vec::new();
    for doc in &corpus.docs {
        let mut prev_end = None;
        for l in &doc.labels {
            assert!(
                l.start < l.end && l.end <= doc.text.len(),
                "doc {}: {l:?} out of bounds",
                doc.id
            );
            assert!(
                doc.text.is_char_boundary(l.start) && doc.text.is_char_boundary(l.end),
                "doc {}: {l:?} not on char boundaries",
                doc.id
            );
            if let Some(end) = prev_end {
                assert!(
                    l.start > end,
                    "doc {}: {l:?} overlaps or touches the previous label",
                    doc.id
                );
            }
            prev_end = Some(l.end);
            if let Some(why) = malformed(&l.kind, &doc.text[l.start..l.end]) {
                bad.push(format!(
                    "doc {}: {} {:?}: {why}",
                    doc.id,
                    l.kind,
                    &doc.text[l.start..l.end]
                ));
            }
            match kind::index(&l.kind) {
                Some(i) => counts[i] += 1,
                None => bad.push(format!("doc {}: `{}`", doc.id, l.kind)),
            }
        }
    }
    assert!(bad.is_empty(), "bad labels:\n{}", bad.join("\n"));
    let clean = corpus.docs.iter().filter(|d| d.labels.is_empty()).count();
    println!("{} documents, {clean} without labels", corpus.docs.len());
    for (k, n) in kind::ALL.iter().zip(&counts) {
        println!("  {k:<24} {n:>5} labels");
    }
    for c in near::ALL {
        let n = corpus
            .near_misses
            .iter()
            .filter(|m| m.category == c)
            .count();
        println!("  near-miss {c:<32} {n:>5}");
    }
    let short: Vec<String> = kind::ALL
        .iter()
        .zip(&counts)
        .filter(|(_, n)| **n < MIN_LABELS)
        .map(|(k, n)| format!("{k}: {n}"))
        .collect();
    assert!(
        short.is_empty(),
        "kinds with fewer than {MIN_LABELS} labels: {}",
        short.join(", ")
    );
}

#[test]
fn pii_and_secrets_meet_accuracy_targets() {
    let text = std::fs::read_to_string(CORPUS).expect("read tests/corpus/masking.jsonl");
    let docs = corpus::from_jsonl(&text).expect("parse tests/corpus/masking.jsonl");
    let rt = Runtime::new(
        &EngineSettings {
            pooling: true,
            max_instances: 16,
            ..EngineSettings::default()
        },
        None,
    )
    .expect("build the runtime");
    let plugins = ["pii", "secrets"].map(|name| {
        let bytes = palisade::builtin::plugin(name).expect("the plugin is built in");
        (
            name,
            rt.load(name, bytes, PluginOptions::default())
                .expect("load the plugin"),
        )
    });
    let executor = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("an executor for the plugin calls");
    let caller = Caller::new("corpus", "corpus", "corpus", "corpus");
    let mut findings = Vec::with_capacity(docs.len());
    let mut errors = Vec::new();
    // The kinds each plugin reported.
    let mut reported: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for doc in &docs {
        let mut found = Vec::new();
        for (name, plugin) in &plugins {
            match executor.block_on(plugin.mask(&caller, &doc.text)) {
                Ok(out) => {
                    let kinds = reported.entry(name).or_default();
                    kinds.extend(out.value.iter().map(|f| f.kind.clone()));
                    found.extend(out.value.into_iter().map(|f| Finding {
                        kind: f.kind,
                        start: f.start as usize,
                        end: f.end as usize,
                    }));
                }
                Err(e) => errors.push(format!("doc {}: {name}: {e}", doc.id)),
            }
        }
        findings.push(found);
    }
    // Near-misses explain false positives; they belong to the generator's
    // documents, so use them only when the file is the generator's.
    let generated = generate::generate_corpus();
    let near_misses = if generated.docs == docs {
        generated.near_misses
    } else {
        Vec::new()
    };
    let report = score::score(&docs, &findings, &near_misses);
    println!("{report}");
    let per_kind = if env_is_1(VERBOSE) { usize::MAX } else { 10 };
    println!("{}", report.problems_by_kind(per_kind));
    assert!(
        errors.is_empty(),
        "{} calls failed:\n{}",
        errors.len(),
        errors
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    // The corpus's kinds are the ones the plugins report: each plugin's list
    // against what it found in the corpus (which labels every kind at least
    // MIN_LABELS times), and `ALL` is the two lists.
    let set =
        |kinds: &[&str]| -> BTreeSet<String> { kinds.iter().map(|k| k.to_string()).collect() };
    for (name, listed) in [("pii", &kind::PII[..]), ("secrets", &kind::SECRETS[..])] {
        assert_eq!(
            reported.get(name).cloned().unwrap_or_default(),
            set(listed),
            "the kinds `{name}` reports are not the corpus's `kind::{}`",
            name.to_uppercase()
        );
    }
    let both: BTreeSet<String> = reported.into_values().flatten().collect();
    assert_eq!(
        both,
        set(&kind::ALL),
        "`kind::ALL` is not what the plugins report"
    );
    let failing = report.failing(MIN_RECALL, MIN_PRECISION);
    assert!(
        failing.is_empty(),
        "below target (recall {MIN_RECALL}, precision {MIN_PRECISION}): {}\n{report}\n{}",
        failing.join(", "),
        report.problems(&failing, 20)
    );
}
