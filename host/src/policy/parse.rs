//! Parsing one policy file: YAML with positions, the file's model, and
//! warnings for repeated lists; the playbook's shapes that YAML cannot
//! read, and a repeated top-level `policies:` list, are refused with the form
//! to write instead.

use super::Warning;
use super::model::PolicyFile;
use crate::error::{Error, Result};
use crate::yaml::{self, Document, Pos};

fn err_at(file: &str, pos: Pos, message: impl Into<String>) -> Error {
    Error::Config {
        path: format!("{file}:{pos}"),
        message: message.into(),
    }
}

/// `file:line:1` of the top-level `key:` in `text` (the first line that
/// starts with it), or of the file's first line.
pub(super) fn top_key_at(file: &str, text: &str, key: &str) -> String {
    let line = text
        .lines()
        .position(|l| {
            l.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with(':'))
        })
        .map_or(1, |i| i + 1);
    format!("{file}:{line}:1")
}

/// Parses one file's text: the file, its positioned document, and warnings.
pub fn parse_file(name: &str, text: &str) -> Result<(PolicyFile, Document, Vec<Warning>)> {
    let doc = yaml::parse(text).map_err(|e| {
        let hint = seed_compact_hint(text, e.pos.line);
        err_at(name, e.pos, format!("{}{hint}", e.message))
    })?;
    if let Some(m) = doc
        .merged
        .iter()
        .find(|m| m.top_level && m.key == "policies")
    {
        return Err(err_at(
            name,
            m.again,
            repeated_policies(text, m.first, m.again),
        ));
    }
    let file: PolicyFile = yaml::deserialize_at(&doc, name)?;
    let warnings = doc
        .merged
        .iter()
        .map(|m| Warning {
            at: format!("{name}:{}", m.again),
            message: format!(
                "`{}` is repeated (first at line {}); the lists were merged in order. \
                 Write one `{}:` list to make this explicit",
                m.key, m.first.line, m.key
            ),
        })
        .collect();
    Ok((file, doc, warnings))
}

/// The message for a second top-level `policies:` list. Seed 000 writes two
/// agents' rules as two such lists, each under a comment naming its agent;
/// merging them would give one agent both agents' rights, so the file is
/// refused and the `agents:` form shown, with the names the comments suggest.
fn repeated_policies(text: &str, first: Pos, again: Pos) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let name_above = |pos: Pos, fallback: &str| {
        pos.line
            .checked_sub(2)
            .and_then(|i| lines.get(i))
            .and_then(|l| l.trim_start().strip_prefix('#'))
            .and_then(|c| c.split_whitespace().next())
            .filter(|w| {
                w.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            })
            .unwrap_or(fallback)
            .to_owned()
    };
    let (a, b) = (name_above(first, "agent-a"), name_above(again, "agent-b"));
    format!(
        "`policies` is given again at the top level (first at line {}): two top-level \
         `policies:` lists would be merged into one agent with both lists' rights. Give \
         each agent its own key:\n  agents:\n    {a}:\n      policies:\n        - ...\n    \
         {b}:\n      policies:\n        - ...",
        first.line
    )
}

/// When a YAML error sits on an option line under a compact rule written as a
/// plain list item (the playbook's shape, which YAML cannot parse), shows the
/// form to write instead.
fn seed_compact_hint(text: &str, line: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let Some(bad) = line.checked_sub(1).and_then(|i| lines.get(i)) else {
        return String::new();
    };
    let option = bad.trim_start();
    if ![
        "requires_approval:",
        "approval_channel:",
        "approval_timeout:",
        "deny:",
    ]
    .iter()
    .any(|o| option.starts_with(o))
    {
        return String::new();
    }
    let item = lines[..line - 1]
        .iter()
        .rev()
        .find(|l| l.trim_start().starts_with("- "))
        .map(|l| {
            l.trim_start()
                .trim_start_matches("- ")
                .trim()
                .trim_matches('"')
        });
    match item {
        Some(rule) if rule.contains(" on ") => format!(
            ". A rule with options must be a mapping; write:\n  - rule: \"{rule}\"\n    {option}"
        ),
        _ => String::new(),
    }
}
