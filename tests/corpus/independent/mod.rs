//! A second, independent labelled corpus for the masking plugins: its types,
//! its file format and the generator that writes it (see README.md).

// A template naming an unknown value, filler or near-miss is a bug of the
// generator: it fails loudly, on the first run.
#![allow(clippy::panic)]

mod check;
mod doc;
mod evasion;
mod near;
mod rng;
mod templates_config;
mod templates_data;
mod templates_evasion;
mod templates_http;
mod templates_logs;
mod templates_msg;
mod values;

pub use check::malformed;
use doc::Ctx;
use serde::{Deserialize, Serialize};

use super::generate::{Doc, Label, NearMiss};

/// Seed of the generator.
pub const SEED: u64 = 0x1D3E_9E4D_E47C_0A75;
/// Number of documents.
pub const DOCS: usize = 3000;
/// Shortest document, in bytes.
pub const MIN_LEN: usize = 40;
/// Longest document, in bytes.
pub const MAX_LEN: usize = 1500;

/// Kinds this corpus adds to `corpus::generate::kind`.
pub mod kind {
    pub use crate::corpus::generate::kind::*;
    /// `sk-ant-api03-…` / `sk-ant-admin01-…`.
    pub const ANTHROPIC_API_KEY: &str = "anthropic_api_key";
    /// `sk-proj-…`, `sk-svcacct-…`, `sk-admin-…`, legacy `sk-…T3BlbkFJ…`.
    pub const OPENAI_API_KEY: &str = "openai_api_key";
    /// `glpat-…` and the other GitLab prefixes, `GR1348941…`.
    pub const GITLAB_TOKEN: &str = "gitlab_token";
    /// `npm_` + 36.
    pub const NPM_TOKEN: &str = "npm_token";
    /// `pypi-AgEIcHlwaS5vcmc…`.
    pub const PYPI_TOKEN: &str = "pypi_token";
    /// Azure storage / Service Bus keys, Entra client secrets.
    pub const AZURE_KEY: &str = "azure_key";
    /// The six kinds this corpus adds.
    pub const NEW: [&str; 6] = [
        ANTHROPIC_API_KEY,
        OPENAI_API_KEY,
        GITLAB_TOKEN,
        NPM_TOKEN,
        PYPI_TOKEN,
        AZURE_KEY,
    ];
    /// All 23 kinds: the 17 of the first corpus, then the six new ones.
    pub fn every() -> Vec<&'static str> {
        ALL.iter().chain(NEW.iter()).copied().collect()
    }
}

/// Evasion techniques: how a value is disguised.
pub mod technique {
    /// The key that names the value is spelt with look-alike letters.
    pub const CONFUSABLE_KEYWORD: &str = "confusable_keyword";
    /// The value is broken across lines, the continuation indented.
    pub const LINE_WRAP: &str = "line_wrap";
    /// The value is broken across quoted lines (`> `).
    pub const QUOTE_WRAP: &str = "quote_wrap";
    /// The value is written with JSON string escapes.
    pub const JSON_ESCAPE: &str = "json_escape";
    /// The value is percent-encoded.
    pub const PERCENT_ENCODING: &str = "percent_encoding";
    /// The value is written with HTML character references.
    pub const HTML_ENTITY: &str = "html_entity";
    /// An SSN, phone, card or IBAN without separators after a naming key.
    pub const NO_SEPARATORS: &str = "no_separators";
    /// A password under an abbreviated key (`pw`, `pwd`, `pass`, …).
    pub const KEY_ABBREVIATION: &str = "key_abbreviation";
    /// An unusual private key block (EC, PGP, CRLF, indented, escaped, quoted).
    pub const PEM_VARIANT: &str = "pem_variant";
    /// Zero-width characters or non-ASCII digits inside the value.
    pub const INVISIBLE_OR_WIDTH: &str = "invisible_or_width";
    /// All techniques.
    pub const ALL: [&str; 10] = [
        CONFUSABLE_KEYWORD,
        LINE_WRAP,
        QUOTE_WRAP,
        JSON_ESCAPE,
        PERCENT_ENCODING,
        HTML_ENTITY,
        NO_SEPARATORS,
        KEY_ABBREVIATION,
        PEM_VARIANT,
        INVISIBLE_OR_WIDTH,
    ];
}

pub use near::ALL as NEAR_CATEGORIES;

/// One labelled value of this corpus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ILabel {
    /// Kind of the value.
    pub kind: String,
    /// Start (UTF-8 byte offset, inclusive).
    pub start: usize,
    /// End (UTF-8 byte offset, exclusive).
    pub end: usize,
    /// How the value is disguised, for evasion labels only.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub technique: Option<String>,
}

/// One document of this corpus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IDoc {
    /// Position in the corpus.
    pub id: usize,
    /// The document.
    pub text: String,
    /// Its sensitive values, sorted, not overlapping, not touching.
    pub labels: Vec<ILabel>,
}

impl IDoc {
    /// The document as the first corpus's [`Doc`], for scoring; with
    /// `only` set, keeps only the labels of that technique (or, for `""`,
    /// every evasion label).
    pub fn to_doc(&self, only: Option<&str>) -> Doc {
        let keep = |l: &&ILabel| match (only, &l.technique) {
            (None, _) => true,
            (Some(""), t) => t.is_some(),
            (Some(want), Some(t)) => t == want,
            (Some(_), None) => false,
        };
        Doc {
            id: self.id,
            text: self.text.clone(),
            labels: self
                .labels
                .iter()
                .filter(keep)
                .map(|l| Label {
                    kind: l.kind.clone(),
                    start: l.start,
                    end: l.end,
                })
                .collect(),
        }
    }
}

/// The documents and the near-misses placed in them.
#[derive(Debug, Clone)]
pub struct ICorpus {
    /// The documents.
    pub docs: Vec<IDoc>,
    /// Deliberate look-alikes, to explain false positives.
    pub near_misses: Vec<NearMiss>,
}

/// The techniques evasive documents take in turn; private-key documents
/// hold fewer values, so they come twice.
const ROTATION: [&str; 11] = [
    technique::CONFUSABLE_KEYWORD,
    technique::LINE_WRAP,
    technique::QUOTE_WRAP,
    technique::PEM_VARIANT,
    technique::JSON_ESCAPE,
    technique::PERCENT_ENCODING,
    technique::HTML_ENTITY,
    technique::PEM_VARIANT,
    technique::NO_SEPARATORS,
    technique::KEY_ABBREVIATION,
    technique::INVISIBLE_OR_WIDTH,
];

/// What a document is made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Clean,
    Normal,
    Evasive(usize),
}

/// The corpus (deterministic).
pub fn generate_corpus() -> ICorpus {
    let mut master = rng::Rng::new(SEED);
    let normal = doc::normal_templates();
    let evasive = templates_evasion::TEMPLATES;
    let mut docs = Vec::with_capacity(DOCS);
    let mut near_misses = Vec::new();
    let mut evasive_count = 0;
    for id in 0..DOCS {
        let mode = match id % 12 {
            0..=3 => Mode::Clean,
            4..=6 => {
                evasive_count += 1;
                Mode::Evasive(evasive_count)
            }
            _ => Mode::Normal,
        };
        loop {
            let mut c = Ctx::new(u64::from(master.next_u32()) << 32 | u64::from(master.next_u32()));
            c.clean = mode == Mode::Clean;
            match mode {
                Mode::Evasive(n) => {
                    let tech = ROTATION[n % ROTATION.len()];
                    let choices: Vec<_> = evasive.iter().filter(|(t, _)| *t == tech).collect();
                    let (_, f) = choices[c.rng.below(choices.len())];
                    f(&mut c);
                }
                _ => {
                    let f = normal[c.rng.below(normal.len())];
                    f(&mut c);
                }
            }
            let len = c.text.len();
            let wanted = match mode {
                Mode::Clean => c.labels.is_empty(),
                Mode::Normal => !c.labels.is_empty(),
                Mode::Evasive(_) => c.labels.iter().any(|l| l.technique.is_some()),
            };
            if (MIN_LEN..=MAX_LEN).contains(&len) && wanted && c.labels_ok() {
                near_misses.extend(c.near.iter().map(|&(category, start, end)| NearMiss {
                    doc: id,
                    category,
                    start,
                    end,
                }));
                docs.push(IDoc {
                    id,
                    text: c.text,
                    labels: c.labels,
                });
                break;
            }
        }
    }
    ICorpus { docs, near_misses }
}

/// The documents only.
pub fn generate() -> Vec<IDoc> {
    generate_corpus().docs
}

/// The corpus as JSON Lines.
pub fn to_jsonl(docs: &[IDoc]) -> Result<String, serde_json::Error> {
    let mut out = String::new();
    for d in docs {
        out.push_str(&serde_json::to_string(d)?);
        out.push('\n');
    }
    Ok(out)
}

/// Parses JSON Lines written by [`to_jsonl`]; the error names the line.
pub fn from_jsonl(text: &str) -> Result<Vec<IDoc>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("line {}: {e}", i + 1)))
        .collect()
}
