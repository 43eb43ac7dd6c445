//! YAML with positions, for every file Palisade reads (configuration,
//! policies, policy tests, requests): parses a document into a tree whose
//! every node knows its line and column, merges repeated keys whose values are
//! lists (the seed's repeated `allow:` blocks) instead of silently keeping the
//! last, and turns the tree into JSON plus a pointer → position index, so that
//! [`deserialize_at`] reports a typed error at the right line and column.

use crate::error::{Error, Result};
use std::collections::HashMap;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A position in a file: 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub col: usize,
}

impl std::fmt::Display for Pos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// A repeated key whose list values were merged in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    /// The key, e.g. `allow`.
    pub key: String,
    /// Where it first appeared.
    pub first: Pos,
    /// Where it appeared again.
    pub again: Pos,
    /// Whether the key is one of the document's top-level keys.
    pub top_level: bool,
}

/// A YAML syntax error or an unmergeable repeated key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    /// Where.
    pub pos: Pos,
    /// What.
    pub message: String,
}

#[derive(Debug, Clone)]
enum Kind {
    Scalar(String, TScalarStyle),
    Seq(Vec<Node>),
    Map(Vec<(String, Pos, Node)>),
}

#[derive(Debug, Clone)]
struct Node {
    kind: Kind,
    pos: Pos,
    /// Nodes in this subtree, itself included.
    size: usize,
}

/// Most nodes that aliases may add to a document. Without a bound, nested
/// aliases expand exponentially (a "billion laughs" file).
const MAX_ALIAS_EXPANSION: usize = 100_000;

/// A parsed document: JSON value, positions by JSON pointer, merged keys.
#[derive(Debug, Clone)]
pub struct Document {
    /// The document as JSON.
    pub value: serde_json::Value,
    /// Position of every node, by JSON pointer (`/agents/a/allow/0`).
    pub positions: HashMap<String, Pos>,
    /// Repeated keys that were merged.
    pub merged: Vec<Merged>,
}

impl Document {
    /// The position of `pointer`, or of its nearest ancestor that has one.
    pub fn pos(&self, pointer: &str) -> Pos {
        let mut p = pointer.to_owned();
        loop {
            if let Some(pos) = self.positions.get(&p) {
                return *pos;
            }
            match p.rfind('/') {
                Some(i) => p.truncate(i),
                None => return self.positions.get("").copied().unwrap_or_default(),
            }
        }
    }
}

fn pos(m: Marker) -> Pos {
    Pos {
        line: m.line(),
        col: m.col() + 1,
    }
}

#[derive(Default)]
struct Builder {
    stack: Vec<(Node, Option<usize>)>,
    keys: Vec<Option<(String, Pos)>>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    merged: Vec<Merged>,
    error: Option<YamlError>,
    expanded: usize,
}

impl Builder {
    fn push_value(&mut self, node: Node, anchor: usize) {
        if let Some((parent, _)) = self.stack.last_mut() {
            parent.size += node.size;
        }
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        let Some((parent, _)) = self.stack.last_mut() else {
            self.root = Some(node);
            return;
        };
        match &mut parent.kind {
            Kind::Seq(items) => items.push(node),
            Kind::Map(entries) => {
                let slot = self.keys.last_mut().and_then(Option::take);
                match slot {
                    None => {
                        // This node is a key.
                        let key = match &node.kind {
                            Kind::Scalar(s, _) => s.clone(),
                            _ => {
                                self.error.get_or_insert(YamlError {
                                    pos: node.pos,
                                    message: "a mapping key must be a plain value".into(),
                                });
                                String::new()
                            }
                        };
                        if let Some(k) = self.keys.last_mut() {
                            *k = Some((key, node.pos));
                        }
                    }
                    Some((key, key_pos)) => {
                        if let Some((_, first, existing)) =
                            entries.iter_mut().find(|(k, _, _)| *k == key)
                        {
                            match (&mut existing.kind, node.kind) {
                                (Kind::Seq(a), Kind::Seq(b)) => {
                                    a.extend(b);
                                    self.merged.push(Merged {
                                        key,
                                        first: *first,
                                        again: key_pos,
                                        top_level: self.stack.len() == 1,
                                    });
                                }
                                _ => {
                                    let first = *first;
                                    self.error.get_or_insert(YamlError {
                                        pos: key_pos,
                                        message: format!(
                                            "`{key}` is repeated (first at line {}); only lists \
                                             can be repeated and merged, so write it once",
                                            first.line
                                        ),
                                    });
                                }
                            }
                        } else {
                            entries.push((key, key_pos, node));
                        }
                    }
                }
            }
            Kind::Scalar(..) => {}
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let at = pos(mark);
        match ev {
            Event::Scalar(value, style, anchor, _) => self.push_value(
                Node {
                    kind: Kind::Scalar(value, style),
                    pos: at,
                    size: 1,
                },
                anchor,
            ),
            Event::SequenceStart(anchor, _) => self.stack.push((
                Node {
                    kind: Kind::Seq(Vec::new()),
                    pos: at,
                    size: 1,
                },
                Some(anchor),
            )),
            Event::MappingStart(anchor, _) => {
                self.stack.push((
                    Node {
                        kind: Kind::Map(Vec::new()),
                        pos: at,
                        size: 1,
                    },
                    Some(anchor),
                ));
                self.keys.push(None);
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if matches!(ev, Event::MappingEnd) {
                    self.keys.pop();
                }
                if let Some((node, anchor)) = self.stack.pop() {
                    self.push_value(node, anchor.unwrap_or(0));
                }
            }
            Event::Alias(id) => match self.anchors.get(&id) {
                Some(node) if self.expanded + node.size > MAX_ALIAS_EXPANSION => {
                    self.error.get_or_insert(YamlError {
                        pos: at,
                        message: format!(
                            "aliases expand this document past {MAX_ALIAS_EXPANSION} values; \
                             write the repeated parts out or share less"
                        ),
                    });
                }
                Some(node) => {
                    self.expanded += node.size;
                    let node = node.clone();
                    self.push_value(node, 0);
                }
                None => {
                    self.error.get_or_insert(YamlError {
                        pos: at,
                        message: "alias to an unknown anchor".into(),
                    });
                }
            },
            _ => {}
        }
    }
}

/// Parses one YAML document.
pub fn parse(text: &str) -> Result<Document, YamlError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    parser.load(&mut builder, false).map_err(|e| YamlError {
        pos: pos(*e.marker()),
        message: e.info().to_owned(),
    })?;
    if let Some(e) = builder.error {
        return Err(e);
    }
    let mut positions = HashMap::new();
    let value = match builder.root {
        Some(root) => to_json(&root, String::new(), &mut positions),
        None => serde_json::Value::Null,
    };
    Ok(Document {
        value,
        positions,
        merged: builder.merged,
    })
}

/// Deserializes the document into `T`; an error names `name`, line and column
/// of the offending node (of the key itself, for an unknown key).
pub fn deserialize_at<T: serde::de::DeserializeOwned>(doc: &Document, name: &str) -> Result<T> {
    let value = if doc.value.is_null() {
        serde_json::json!({})
    } else {
        doc.value.clone()
    };
    serde_path_to_error::deserialize(value).map_err(|e| {
        let pointer: String = e
            .path()
            .iter()
            .map(|seg| match seg {
                serde_path_to_error::Segment::Seq { index } => format!("/{index}"),
                serde_path_to_error::Segment::Map { key } => {
                    format!("/{}", key.replace('~', "~0").replace('/', "~1"))
                }
                serde_path_to_error::Segment::Enum { variant } => format!("/{variant}"),
                serde_path_to_error::Segment::Unknown => String::new(),
            })
            .collect();
        let inner = e.into_inner().to_string();
        let pos = unknown_key(&inner)
            .and_then(|k| {
                let own = doc.positions.get(&format!("{pointer}#key"));
                own.or_else(|| doc.positions.get(&format!("{pointer}/{k}#key")))
                    .copied()
            })
            .unwrap_or_else(|| doc.pos(&pointer));
        let at = if pointer.is_empty() {
            String::new()
        } else {
            format!(" (at `{pointer}`)")
        };
        Error::Config {
            path: format!("{name}:{pos}"),
            message: format!("{inner}{at}"),
        }
    })
}

/// Parses `text` and deserializes it into `T`; every error names `name`,
/// line and column.
pub fn from_str<T: serde::de::DeserializeOwned>(text: &str, name: &str) -> Result<T> {
    let doc = parse(text).map_err(|e| Error::Config {
        path: format!("{name}:{}", e.pos),
        message: e.message,
    })?;
    deserialize_at(&doc, name)
}

fn unknown_key(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next()
}

fn to_json(
    node: &Node,
    pointer: String,
    positions: &mut HashMap<String, Pos>,
) -> serde_json::Value {
    use serde_json::Value;
    let value = match &node.kind {
        Kind::Scalar(s, TScalarStyle::Plain) => plain_scalar(s),
        Kind::Scalar(s, _) => Value::String(s.clone()),
        Kind::Seq(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, n)| to_json(n, format!("{pointer}/{i}"), positions))
                .collect(),
        ),
        Kind::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, kpos, n)| {
                    let child = format!("{pointer}/{}", k.replace('~', "~0").replace('/', "~1"));
                    let v = to_json(n, child.clone(), positions);
                    // A key's own position is more useful than its value's for
                    // "unknown field" errors; values keep theirs below it.
                    positions.insert(format!("{child}#key"), *kpos);
                    (k.clone(), v)
                })
                .collect(),
        ),
    };
    positions.insert(pointer, node.pos);
    value
}

/// YAML 1.2 core schema resolution of a plain scalar.
fn plain_scalar(s: &str) -> serde_json::Value {
    use serde_json::Value;
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Ok(i) = s.parse::<i64>() {
        return Value::from(i);
    }
    if let Ok(u) = s.parse::<u64>() {
        return Value::from(u);
    }
    let looks_numeric = s
        .bytes()
        .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
        && s.bytes().any(|b| b.is_ascii_digit());
    if looks_numeric && let Ok(f) = s.parse::<f64>() {
        return serde_json::Number::from_f64(f)
            .map_or_else(|| Value::String(s.to_owned()), Value::Number);
    }
    Value::String(s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_list_keys_are_merged_in_order() {
        let doc = parse("a:\n  allow:\n    - 1\n  deny:\n    - 9\n  allow:\n    - 2\n").unwrap();
        assert_eq!(doc.value["a"]["allow"], serde_json::json!([1, 2]));
        assert_eq!(doc.merged.len(), 1);
        assert_eq!(doc.merged[0].key, "allow");
        assert_eq!((doc.merged[0].first.line, doc.merged[0].again.line), (2, 6));
        assert!(!doc.merged[0].top_level);
        let doc = parse("policies:\n  - a\nx: 1\npolicies:\n  - b\n").unwrap();
        assert!(doc.merged[0].top_level);
    }

    #[test]
    fn repeated_scalar_keys_are_errors() {
        let e = parse("project: a\nproject: b\n").unwrap_err();
        assert_eq!(e.pos.line, 2);
        assert!(e.message.contains("`project` is repeated"), "{}", e.message);
    }

    #[test]
    fn positions_are_recorded() {
        let doc = parse("agents:\n  x:\n    allow:\n      - service: git\n").unwrap();
        assert_eq!(doc.pos("/agents/x/allow/0/service").line, 4);
        assert_eq!(doc.pos("/agents/x/allow/0/nope").line, 4);
    }

    #[test]
    fn scalars_resolve_like_yaml_core() {
        let doc = parse("a: true\nb: '1'\nc: 1\nd: 1.5\ne: 60m\nf: ~\ng: $500\n").unwrap();
        assert_eq!(
            doc.value,
            serde_json::json!({"a": true, "b": "1", "c": 1, "d": 1.5, "e": "60m", "f": null, "g": "$500"})
        );
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..8 {
            let prev = format!("*a{}", i - 1);
            let items = [prev.as_str(); 10].join(", ");
            text.push_str(&format!("a{i}: &a{i} [{items}]\n"));
        }
        let e = parse(&text).unwrap_err();
        assert!(
            e.message.contains("aliases expand this document"),
            "{}",
            e.message
        );
        // Ordinary sharing still works.
        let doc = parse("base: &b [read, list]\nother: *b\n").unwrap();
        assert_eq!(doc.value["other"], serde_json::json!(["read", "list"]));
    }

    #[test]
    fn syntax_errors_have_positions() {
        let e = parse("policies:\n  - a on b\n    requires_approval: true\n").unwrap_err();
        assert_eq!(e.pos.line, 3);
        assert!(
            e.message.contains("mapping values are not allowed"),
            "{}",
            e.message
        );
    }
}
