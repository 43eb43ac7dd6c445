//! Accuracy of the built-in masking plugins (`pii`, `secrets`) on the
//! labelled corpus in `tests/corpus/` (see its README).
#![allow(clippy::expect_used)]

mod corpus;

use corpus::generate::{self, kind, near};
use corpus::independent::{self, technique};
use corpus::score::{self, Finding};
use corpus::values;
use palisade::runtime::{Caller, EngineSettings, PluginOptions, Runtime};
use std::collections::{BTreeMap, BTreeSet};

/// The checked-in corpus.
const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/corpus/masking.jsonl");
/// Set to `1` to rewrite the corpus from the generator.
const REGENERATE: &str = "PALISADE_REGENERATE_CORPUS";
/// A directory with `palisade_plugin_pii.wasm` and
/// `palisade_plugin_secrets.wasm` to measure instead of the built-in plugins.
const PLUGINS: &str = "PALISADE_CORPUS_PLUGINS";
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

/// What the built-in plugins found in a corpus.
struct PluginRun {
    /// Findings of `pii` then `secrets`, per document.
    findings: Vec<Vec<Finding>>,
    /// Failed calls.
    errors: Vec<String>,
    /// The kinds each plugin reported.
    reported: BTreeMap<&'static str, BTreeSet<String>>,
}

/// Loads the built-in `pii` and `secrets` plugins and runs every document
/// through both, in that order.
fn run_plugins(docs: &[generate::Doc]) -> PluginRun {
    let rt = Runtime::new(
        &EngineSettings {
            pooling: true,
            max_instances: 16,
            ..EngineSettings::default()
        },
        None,
    )
    .expect("build the runtime");
    // Another build of the plugins (an older commit's, your own) can be
    // measured against the same corpora.
    let dir = std::env::var_os(PLUGINS);
    let plugins = ["pii", "secrets"].map(|name| {
        let bytes = match &dir {
            Some(dir) => {
                let path = std::path::Path::new(dir).join(format!("palisade_plugin_{name}.wasm"));
                std::fs::read(&path).expect("read the plugin from PALISADE_CORPUS_PLUGINS")
            }
            None => palisade::builtin::plugin(name)
                .expect("the plugin is built in")
                .to_vec(),
        };
        (
            name,
            rt.load(name, &bytes, PluginOptions::default())
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
    let mut reported: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for doc in docs {
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
    PluginRun {
        findings,
        errors,
        reported,
    }
}

/// Asserts that a label's `span` lies in `text` on character boundaries,
/// after the previous label's end (`prev_end`) with a byte between them.
fn check_span(
    doc: usize,
    text: &str,
    (start, end): (usize, usize),
    prev_end: &mut Option<usize>,
    label: &dyn std::fmt::Debug,
) {
    assert!(
        start < end && end <= text.len(),
        "doc {doc}: {label:?} out of bounds"
    );
    assert!(
        text.is_char_boundary(start) && text.is_char_boundary(end),
        "doc {doc}: {label:?} not on char boundaries"
    );
    if let Some(prev) = *prev_end {
        assert!(
            start > prev,
            "doc {doc}: {label:?} overlaps or touches the previous label"
        );
    }
    *prev_end = Some(end);
}

/// Fails unless the checked-in corpus at `path` is `text`, what its
/// generator makes; with `PALISADE_REGENERATE_CORPUS=1`, writes it instead.
/// `filter` is the test filter that regenerates it, for the message.
fn matches_generator(path: &str, text: &str, filter: &str) {
    if env_is_1(REGENERATE) {
        // Write then rename, so that a test reading the corpus meanwhile sees
        // the old file or the new one, never half of one.
        let tmp = format!("{path}.tmp");
        std::fs::write(&tmp, text).expect("write the corpus's .tmp file");
        std::fs::rename(&tmp, path).expect("rename the .tmp file to the corpus");
        println!("wrote {path} ({} bytes)", text.len());
        return;
    }
    let on_disk = std::fs::read_to_string(path)
        .expect("read the corpus (create it with PALISADE_REGENERATE_CORPUS=1)");
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
        "{path} is not what the generator makes: {first}; if the generator changed on \
         purpose, run `{REGENERATE}=1 cargo test -p palisade --test masking_accuracy{filter}`"
    );
}

#[test]
fn corpus_file_matches_generator() {
    let text = corpus::to_jsonl(&generate::generate()).expect("serialize the corpus");
    matches_generator(CORPUS, &text, "");
}

#[test]
fn labels_are_sane() {
    let corpus = generate::generate_corpus();
    let mut counts = vec![0usize; kind::ALL.len()];
    let mut bad = Vec::new();
    for doc in &corpus.docs {
        let mut prev_end = None;
        for l in &doc.labels {
            check_span(doc.id, &doc.text, (l.start, l.end), &mut prev_end, l);
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
    let PluginRun {
        findings,
        errors,
        reported,
    } = run_plugins(&docs);
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

// ------------------------------------------------------------ the independent corpus

/// The checked-in independent corpus (see `tests/corpus/independent/README.md`).
const INDEPENDENT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/corpus/independent.jsonl"
);
/// Labels every kind of the independent corpus must have.
const INDEPENDENT_MIN_LABELS: usize = 100;
/// Labels each of the six new kinds must have.
const INDEPENDENT_MIN_NEW_LABELS: usize = 80;
/// Labels each technique must have.
const INDEPENDENT_MIN_TECHNIQUE_LABELS: usize = 120;
/// Recall every technique must reach.
const MIN_TECHNIQUE_RECALL: f64 = 0.95;
/// A kind with at least this many evasion labels must reach
/// [`MIN_TECHNIQUE_RECALL`] on them.
const MIN_EVASION_LABELS: usize = 20;

#[test]
fn independent_corpus_file_matches_generator() {
    let text = independent::to_jsonl(&independent::generate()).expect("serialize the corpus");
    matches_generator(INDEPENDENT, &text, " independent");
}

#[test]
fn independent_labels_are_sane() {
    let corpus = independent::generate_corpus();
    assert_eq!(corpus.docs.len(), independent::DOCS);
    let every = independent::kind::every();
    let mut kinds: BTreeMap<&str, usize> = every.iter().map(|k| (*k, 0)).collect();
    let mut techniques: BTreeMap<&str, usize> = technique::ALL.iter().map(|t| (*t, 0)).collect();
    let mut bad = Vec::new();
    for (i, doc) in corpus.docs.iter().enumerate() {
        assert_eq!(doc.id, i, "ids are positions");
        let len = doc.text.len();
        if !(independent::MIN_LEN..=independent::MAX_LEN).contains(&len) {
            bad.push(format!("doc {}: {len} bytes", doc.id));
        }
        let mut prev_end = None;
        for l in &doc.labels {
            check_span(doc.id, &doc.text, (l.start, l.end), &mut prev_end, l);
            let value = &doc.text[l.start..l.end];
            if let Some(why) = independent::malformed(&l.kind, value, l.technique.as_deref()) {
                bad.push(format!("doc {}: {} {value:?}: {why}", doc.id, l.kind));
            }
            match kinds.get_mut(l.kind.as_str()) {
                Some(n) => *n += 1,
                None => bad.push(format!("doc {}: unknown kind `{}`", doc.id, l.kind)),
            }
            if let Some(t) = &l.technique {
                match techniques.get_mut(t.as_str()) {
                    Some(n) => *n += 1,
                    None => bad.push(format!("doc {}: unknown technique `{t}`", doc.id)),
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "bad documents or labels:\n{}",
        bad.join("\n")
    );
    let clean = corpus.docs.iter().filter(|d| d.labels.is_empty()).count();
    let evasive = corpus
        .docs
        .iter()
        .filter(|d| d.labels.iter().any(|l| l.technique.is_some()))
        .count();
    println!(
        "{} documents, {clean} without labels, {evasive} with an evasive value",
        corpus.docs.len()
    );
    for k in &every {
        println!("  {k:<24} {:>5} labels", kinds[k]);
    }
    for t in technique::ALL {
        println!("  technique {t:<22} {:>5} labels", techniques[t]);
    }
    for c in independent::NEAR_CATEGORIES {
        let n = corpus
            .near_misses
            .iter()
            .filter(|m| m.category == c)
            .count();
        println!("  near-miss {c:<36} {n:>5}");
    }
    let short: Vec<String> = every
        .iter()
        .filter(|k| {
            let min = if independent::kind::NEW.contains(k) {
                INDEPENDENT_MIN_NEW_LABELS
            } else {
                INDEPENDENT_MIN_LABELS
            };
            kinds[*k] < min
        })
        .map(|k| format!("{k}: {}", kinds[k]))
        .chain(
            technique::ALL
                .iter()
                .filter(|t| techniques[*t] < INDEPENDENT_MIN_TECHNIQUE_LABELS)
                .map(|t| format!("{t}: {}", techniques[t])),
        )
        .collect();
    assert!(
        short.is_empty(),
        "kinds or techniques with too few labels: {}",
        short.join(", ")
    );
    assert!(
        (900..=1100).contains(&clean),
        "{clean} documents without labels, not about a third"
    );
}

/// Labels and recalled labels per kind of a report, for kinds with labels.
fn recall_rows(report: &score::Report) -> Vec<(String, usize, usize)> {
    report
        .ordered()
        .into_iter()
        .filter(|(_, s)| s.labels > 0)
        .map(|(k, s)| (k.to_owned(), s.labels, s.recalled))
        .collect()
}

fn ratio(n: usize, d: usize) -> f64 {
    if d == 0 { 1.0 } else { n as f64 / d as f64 }
}

#[test]
fn independent_corpus_meets_accuracy_targets() {
    let text = std::fs::read_to_string(INDEPENDENT).expect("read tests/corpus/independent.jsonl");
    let idocs = independent::from_jsonl(&text).expect("parse tests/corpus/independent.jsonl");
    let docs: Vec<generate::Doc> = idocs.iter().map(|d| d.to_doc(None)).collect();
    let PluginRun {
        findings, errors, ..
    } = run_plugins(&docs);
    let generated = independent::generate_corpus();
    let near_misses = if generated.docs == idocs {
        generated.near_misses
    } else {
        Vec::new()
    };
    let per = if env_is_1(VERBOSE) { usize::MAX } else { 10 };

    // (a) the whole corpus
    let report = score::score(&docs, &findings, &near_misses);
    println!("== independent corpus: all labels ==\n{report}");

    // (b) the evasion subset: recall only
    let evasive: Vec<generate::Doc> = idocs.iter().map(|d| d.to_doc(Some(""))).collect();
    let evasion = score::score(&evasive, &findings, &near_misses);
    println!("== evasion labels per kind (recall only) ==");
    println!(
        "{:<24} {:>7} {:>9} {:>7}",
        "kind", "labels", "recalled", "recall"
    );
    let mut failing = report.failing(MIN_RECALL, MIN_PRECISION);
    for (k, labels, recalled) in recall_rows(&evasion) {
        let r = ratio(recalled, labels);
        println!("{k:<24} {labels:>7} {recalled:>9} {r:>7.3}");
        if labels >= MIN_EVASION_LABELS && r < MIN_TECHNIQUE_RECALL {
            failing.push(format!("{k} (evasion recall {r:.3})"));
        }
    }

    // (c) recall per technique
    println!("\n== recall per technique ==");
    println!(
        "{:<24} {:>7} {:>9} {:>7}",
        "technique", "labels", "recalled", "recall"
    );
    let mut per_technique = Vec::new();
    for t in technique::ALL {
        let only: Vec<generate::Doc> = idocs.iter().map(|d| d.to_doc(Some(t))).collect();
        let r = score::score(&only, &findings, &near_misses);
        let (labels, recalled) = recall_rows(&r)
            .iter()
            .fold((0, 0), |(l, c), (_, a, b)| (l + a, c + b));
        let rec = ratio(recalled, labels);
        println!("{t:<24} {labels:>7} {recalled:>9} {rec:>7.3}");
        if rec < MIN_TECHNIQUE_RECALL {
            failing.push(format!("technique {t} (recall {rec:.3})"));
        }
        per_technique.push((t, r));
    }

    // (d) misses and false positives per kind, misses per technique
    println!(
        "\n== misses and false positives per kind ==\n{}",
        report.problems_by_kind(per)
    );
    println!("== misses per technique ==");
    for (t, r) in &per_technique {
        if r.misses.is_empty() {
            continue;
        }
        println!("{t}: {} missed", r.misses.len());
        for p in r.misses.iter().take(per) {
            println!("  miss  {p}");
        }
    }
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
    let failing_kinds = report.failing(MIN_RECALL, MIN_PRECISION);
    assert!(
        failing.is_empty(),
        "below target (recall {MIN_RECALL}, precision {MIN_PRECISION} per kind; recall \
         {MIN_TECHNIQUE_RECALL} per technique and on evasion labels): {}\n{}",
        failing.join(", "),
        report.problems(&failing_kinds, 20)
    );
}
