//! The import structure of the workspace's own code, read from source (no
//! build): per crate, which file imports which, and two rules on it.
//!
//! - No import circles: files that import each other, directly or through
//!   others (a strongly connected component of more than one file).
//! - In the host, no import from a lower layer to a higher one (see
//!   [`LAYERS`]): data flows one way, from the command line down to the
//!   leaf types.
//!
//! Circles and up-layer imports that are being removed are listed in
//! [`KNOWN_CIRCLES`] and [`KNOWN_UP_LAYER`]. A new one fails the test, and
//! so does a listed one that is gone: the lists only shrink.
//!
//! What counts as an import of file `a` from file `b`: a `use` of a path
//! that resolves into `b` (through `crate::`, `super::`, `self::`, a child
//! module, the binary's `palisade::`, and through re-exports to where the
//! name is defined), and such a path written in code (`crate::x::y()`). A
//! `mod` declaration alone is not an import, and neither is what a file
//! takes from its own ancestors' modules (`super::X`, or `crate::X`, where
//! `X` is defined in the parent's `mod.rs` or in `lib.rs`): a module's root
//! file is its face, and what its children take from it stays inside the
//! module. A parent's use of its children is counted. Test code is left out:
//! `#[cfg(test)]` items and files named `tests.rs` or under a `tests/`
//! folder. Run with `cargo test -p palisade --test architecture`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The host's layers, top first, as top-level modules of `host/src`
/// (`main` is the binary's `main.rs`, `cli` its `cli.rs` and `cli/`). A file
/// may import from its own layer and the layers below it, never from one
/// above. Modules not listed here are checked for circles only.
const LAYERS: &[&[&str]] = &[
    &["main", "cli"],
    // The server builds the state and serves; `offline` decides without it.
    &["server", "offline"],
    // HTTP only.
    &["api", "http"],
    // Swaps a new snapshot into what serves.
    &["reload"],
    &["live"],
    // Every project with its policy and plugins, loaded.
    &["snapshot"],
    &["config"],
    &["chain"],
    &["runtime", "policy", "masking", "oversight", "budget"],
    // What a tool call of an agent's loop asks (pure mapping).
    &["toolcall"],
    // Where state and records are kept, and how people are reached.
    &["store", "audit", "notify"],
    // Leaf value types (`decision`, `record`: the value types of a decision
    // and of an audit record, where they stand apart), identity, the data
    // directory, the crate's error, text for people, YAML.
    &[
        "decision", "record", "identity", "data_dir", "builtin", "error", "display", "yaml",
        "units",
    ],
];

/// Circles allowed while they are being removed, each the set of files in
/// it (paths from the workspace root). Empty since issue 15 removed the
/// last ones: any circle fails the test; a listed one that no longer exists
/// does too, so the list only shrinks.
const KNOWN_CIRCLES: &[&[&str]] = &[];

/// Imports from a lower layer to a higher one allowed while they are being
/// removed, as `(importing file, imported file)`. Empty since issue 15; same
/// rule as [`KNOWN_CIRCLES`].
const KNOWN_UP_LAYER: &[(&str, &str)] = &[];

#[test]
fn no_import_circles_but_the_known_ones() {
    let graphs = workspace_graphs();
    let found: BTreeSet<BTreeSet<String>> = graphs.iter().flat_map(Graph::circles).collect();
    let known: BTreeSet<BTreeSet<String>> = KNOWN_CIRCLES
        .iter()
        .map(|c| c.iter().map(|f| f.to_string()).collect())
        .collect();
    let mut report = String::new();
    for circle in found.difference(&known) {
        let graph = graphs
            .iter()
            .find(|g| g.edges.keys().any(|(a, _)| circle.contains(a)))
            .expect("a circle comes from a graph");
        let _ = writeln!(report, "new import circle:\n{}", graph.describe(circle));
    }
    for circle in known.difference(&found) {
        let files: Vec<&str> = circle.iter().map(String::as_str).collect();
        let _ = writeln!(
            report,
            "listed circle no longer exists (remove it from KNOWN_CIRCLES): {}",
            files.join(", ")
        );
    }
    assert!(report.is_empty(), "{report}");
}

#[test]
fn no_imports_from_a_lower_layer_to_a_higher_one_but_the_known_ones() {
    let graphs = workspace_graphs();
    let host = graphs
        .iter()
        .find(|g| g.name == "host")
        .expect("the host is read");
    let found: BTreeMap<(String, String), &BTreeSet<String>> = host
        .edges
        .iter()
        .filter(|((a, b), _)| runs_up(a, b))
        .map(|(pair, names)| (pair.clone(), names))
        .collect();
    let known: BTreeSet<(String, String)> = KNOWN_UP_LAYER
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    let mut report = String::new();
    for ((a, b), names) in &found {
        if !known.contains(&(a.clone(), b.clone())) {
            let _ = writeln!(report, "import up the layers: {a} -> {b}: {}", join(names));
        }
    }
    for (a, b) in &known {
        if !found.contains_key(&(a.clone(), b.clone())) {
            let _ = writeln!(
                report,
                "listed up-layer import no longer exists (remove it from KNOWN_UP_LAYER): {a} -> {b}"
            );
        }
    }
    assert!(report.is_empty(), "{report}");
}

/// True when `a` importing `b` runs from a lower layer to a higher one.
fn runs_up(a: &str, b: &str) -> bool {
    matches!((layer_of(a), layer_of(b)), (Some(la), Some(lb)) if lb < la)
}

/// The layer of a host file, by its top-level module: 0 is the top.
fn layer_of(file: &str) -> Option<usize> {
    let rest = file.strip_prefix("host/src/")?;
    let top = rest.split('/').next()?;
    let module = top.strip_suffix(".rs").unwrap_or(top);
    LAYERS.iter().position(|layer| layer.contains(&module))
}

fn join(names: &BTreeSet<String>) -> String {
    names.iter().cloned().collect::<Vec<_>>().join(", ")
}

// ---------------------------------------------------------------------------
// The crates of the workspace and their graphs.

/// The workspace root: this test is a target of `host`.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ has a parent")
        .to_path_buf()
}

/// Reads files from disk, relative to the workspace root.
struct Disk(PathBuf);

impl Files for Disk {
    fn read(&self, path: &str) -> Option<String> {
        std::fs::read_to_string(self.0.join(path)).ok()
    }
}

/// The host (library and binary), the guest SDK and every plugin.
fn workspace_graphs() -> Vec<Graph> {
    let root = workspace_root();
    let disk = Disk(root.clone());
    let mut graphs = vec![
        Graph::of("host", &disk, "host/src/lib.rs", Some("host/src/main.rs")),
        Graph::of("guest-sdk", &disk, "guest-sdk/src/lib.rs", None),
    ];
    let mut plugins: Vec<String> = std::fs::read_dir(root.join("plugins"))
        .expect("plugins/ is readable")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| root.join("plugins").join(name).join("src/lib.rs").is_file())
        .collect();
    plugins.sort();
    for name in plugins {
        let lib = format!("plugins/{name}/src/lib.rs");
        graphs.push(Graph::of(&name, &disk, &lib, None));
    }
    graphs
}

/// Where source text comes from (the disk, or a test's own files).
trait Files {
    /// The text of `path` (from the workspace root), if there is such a file.
    fn read(&self, path: &str) -> Option<String>;
}

/// The file-level import graph of one crate (for the host, of its library
/// and binary together).
struct Graph {
    name: String,
    /// `(importing file, imported file)` and the names that tie them.
    edges: BTreeMap<(String, String), BTreeSet<String>>,
}

impl Graph {
    /// Reads the crate whose library root is `lib` (and whose binary root,
    /// which names the library `palisade`, is `bin`).
    fn of(name: &str, files: &dyn Files, lib: &str, bin: Option<&str>) -> Self {
        let mut krates = vec![Krate::load(files, lib)];
        if let Some(bin) = bin {
            krates.push(Krate::load(files, bin));
        }
        let mut edges: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
        for (k, krate) in krates.iter().enumerate() {
            for m in krate.modules.values() {
                for r in &m.refs {
                    let Some((target, name)) = resolve(&krates, k, &m.path, &r.path) else {
                        continue;
                    };
                    // What a file takes from its own ancestors' modules
                    // (`super::X`, `crate::X` defined in `mod.rs` or
                    // `lib.rs`) stays inside the module whose face that
                    // file is: not an import between files.
                    let ancestor = target.0 == k
                        && target.1.len() < m.path.len()
                        && m.path.starts_with(&target.1);
                    let to = &krates[target.0].modules[&target.1].file;
                    if *to != m.file && !ancestor {
                        edges
                            .entry((m.file.clone(), to.clone()))
                            .or_default()
                            .insert(name);
                    }
                }
            }
        }
        Self {
            name: name.to_owned(),
            edges,
        }
    }

    /// The circles: strongly connected components of more than one file
    /// (Tarjan's algorithm).
    fn circles(&self) -> Vec<BTreeSet<String>> {
        let mut next: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (a, b) in self.edges.keys() {
            next.entry(a).or_default().push(b);
            next.entry(b).or_default();
        }
        struct Tarjan<'a> {
            next: &'a BTreeMap<&'a str, Vec<&'a str>>,
            index: BTreeMap<&'a str, usize>,
            low: BTreeMap<&'a str, usize>,
            stack: Vec<&'a str>,
            on_stack: BTreeSet<&'a str>,
            out: Vec<BTreeSet<String>>,
        }
        impl<'a> Tarjan<'a> {
            fn visit(&mut self, v: &'a str) {
                let i = self.index.len();
                self.index.insert(v, i);
                self.low.insert(v, i);
                self.stack.push(v);
                self.on_stack.insert(v);
                for &w in &self.next[v] {
                    if !self.index.contains_key(w) {
                        self.visit(w);
                        let lw = self.low[w];
                        let lv = self.low.get_mut(v).expect("visited");
                        *lv = (*lv).min(lw);
                    } else if self.on_stack.contains(w) {
                        let iw = self.index[w];
                        let lv = self.low.get_mut(v).expect("visited");
                        *lv = (*lv).min(iw);
                    }
                }
                if self.low[v] == self.index[v] {
                    let mut scc = BTreeSet::new();
                    while let Some(w) = self.stack.pop() {
                        self.on_stack.remove(w);
                        scc.insert(w.to_owned());
                        if w == v {
                            break;
                        }
                    }
                    if scc.len() > 1 {
                        self.out.push(scc);
                    }
                }
            }
        }
        let mut t = Tarjan {
            next: &next,
            index: BTreeMap::new(),
            low: BTreeMap::new(),
            stack: Vec::new(),
            on_stack: BTreeSet::new(),
            out: Vec::new(),
        };
        for &v in next.keys() {
            if !t.index.contains_key(v) {
                t.visit(v);
            }
        }
        t.out
    }

    /// A circle as a reviewer reads it: its files, then each import inside
    /// it with the names that tie it.
    fn describe(&self, circle: &BTreeSet<String>) -> String {
        let files: Vec<&str> = circle.iter().map(String::as_str).collect();
        let mut s = format!(
            "  {} files: {}\n  paste into KNOWN_CIRCLES only if it is being removed: &{files:?},\n",
            files.len(),
            files.join(", ")
        );
        let mut level = Graph {
            name: self.name.clone(),
            edges: BTreeMap::new(),
        };
        for ((a, b), names) in &self.edges {
            if circle.contains(a) && circle.contains(b) {
                let up = runs_up(a, b);
                let mark = if up { " (runs up the layers)" } else { "" };
                let _ = writeln!(s, "  {a} -> {b}: {}{mark}", join(names));
                if !up {
                    level.edges.insert((a.clone(), b.clone()), names.clone());
                }
            }
        }
        if level.edges.len()
            < self
                .edges
                .iter()
                .filter(|((a, b), _)| circle.contains(a) && circle.contains(b))
                .count()
        {
            let inner = level.circles();
            let _ = writeln!(
                s,
                "  without the imports that run up the layers, {} circle(s) remain inside it:",
                inner.len()
            );
            for c in inner {
                let files: Vec<&str> = c.iter().map(String::as_str).collect();
                let _ = writeln!(s, "    {}", files.join(", "));
            }
        }
        s
    }
}

// ---------------------------------------------------------------------------
// Modules: the tree of one crate, read from its root file.

/// A path written in a module: in a `use` or in code.
struct Ref {
    path: Vec<String>,
}

/// One module: a file, or an inline `mod name { … }` inside one.
struct Module {
    path: Vec<String>,
    file: String,
    /// Names defined here (functions, types, constants, …).
    defines: BTreeSet<String>,
    /// Names bound by `use`, and the path each stands for.
    binds: BTreeMap<String, Vec<String>>,
    /// Paths of `use …::*`.
    globs: Vec<Vec<String>>,
    /// Every path this module writes, to be resolved.
    refs: Vec<Ref>,
}

/// One crate's modules by path (the root is `[]`).
struct Krate {
    modules: BTreeMap<Vec<String>, Module>,
}

impl Krate {
    fn load(files: &dyn Files, root: &str) -> Self {
        let mut krate = Self {
            modules: BTreeMap::new(),
        };
        krate.load_file(files, Vec::new(), root);
        krate
    }

    fn load_file(&mut self, files: &dyn Files, path: Vec<String>, file: &str) {
        let Some(text) = files.read(file) else {
            return;
        };
        let parsed = parse(&tokenize(&text));
        // Where the files of child modules are: beside a `lib.rs`, `main.rs`
        // or `mod.rs`, else in the folder named after the file.
        let (dir, stem) = file.rsplit_once('/').unwrap_or(("", file));
        let stem = stem.strip_suffix(".rs").unwrap_or(stem);
        let base = if matches!(stem, "lib" | "main" | "mod") {
            dir.to_owned()
        } else {
            format!("{dir}/{stem}")
        };
        let mut children = Vec::new();
        for m in parsed {
            let mut full = path.clone();
            full.extend(m.inline.iter().cloned());
            if let Some(child) = &m.declares_file {
                let mut child_path = full.clone();
                child_path.push(child.clone());
                let mut dir = base.clone();
                for part in &m.inline {
                    dir = format!("{dir}/{part}");
                }
                children.push((child_path, dir, child.clone()));
                continue;
            }
            let module = self.modules.entry(full.clone()).or_insert_with(|| Module {
                path: full,
                file: file.to_owned(),
                defines: BTreeSet::new(),
                binds: BTreeMap::new(),
                globs: Vec::new(),
                refs: Vec::new(),
            });
            module.defines.extend(m.defines);
            module.binds.extend(m.binds);
            module.globs.extend(m.globs);
            module
                .refs
                .extend(m.refs.into_iter().map(|path| Ref { path }));
        }
        for (child_path, dir, name) in children {
            let candidates = [format!("{dir}/{name}.rs"), format!("{dir}/{name}/mod.rs")];
            for candidate in candidates {
                if is_test_file(&candidate) {
                    break;
                }
                if files.read(&candidate).is_some() {
                    // A child module's name is also a name its parent defines.
                    if let Some(parent) = self.modules.get_mut(&child_path[..child_path.len() - 1])
                    {
                        parent.defines.insert(name.clone());
                    }
                    self.load_file(files, child_path, &candidate);
                    break;
                }
            }
        }
    }
}

/// Files of test code: `tests.rs`, or anything under a `tests/` folder.
fn is_test_file(path: &str) -> bool {
    path.ends_with("/tests.rs") || path.contains("/tests/")
}

/// Resolves `path`, written in module `scope` of crate `k`, to the module
/// that defines what it names: `((crate, module path), the name)`. `None`
/// for paths outside the crates (`std::…`, other crates, local names).
fn resolve(
    krates: &[Krate],
    k: usize,
    scope: &[String],
    path: &[String],
) -> Option<((usize, Vec<String>), String)> {
    resolve_in(krates, k, scope, path, 0)
}

fn resolve_in(
    krates: &[Krate],
    mut k: usize,
    scope: &[String],
    path: &[String],
    depth: usize,
) -> Option<((usize, Vec<String>), String)> {
    if depth > 16 || path.is_empty() {
        return None;
    }
    let modules = &krates[k].modules;
    let first = path[0].as_str();
    let (mut base, mut rest): (Vec<String>, &[String]) = match first {
        "crate" => (Vec::new(), &path[1..]),
        "self" => (scope.to_vec(), &path[1..]),
        "super" => {
            let mut base = scope.to_vec();
            let mut rest = path;
            while rest.first().map(String::as_str) == Some("super") {
                base.pop()?;
                rest = &rest[1..];
            }
            (base, rest)
        }
        // The binary names the library by its crate name.
        "palisade" if k > 0 => {
            k = 0;
            (Vec::new(), &path[1..])
        }
        _ => {
            let mut child = scope.to_vec();
            child.push(first.to_owned());
            if modules.contains_key(&child) {
                (child, &path[1..])
            } else if let Some(bound) = modules.get(scope).and_then(|m| m.binds.get(first)) {
                let mut full = bound.clone();
                full.extend(path[1..].iter().cloned());
                return resolve_in(krates, k, scope, &full, depth + 1);
            } else {
                return None;
            }
        }
    };
    let modules = &krates[k].modules;
    while let Some(seg) = rest.first() {
        let mut child = base.clone();
        child.push(seg.clone());
        if modules.contains_key(&child) {
            base = child;
            rest = &rest[1..];
        } else {
            break;
        }
    }
    let Some(name) = rest.first() else {
        let name = base.last().cloned().unwrap_or_else(|| "crate".to_owned());
        return Some(((k, base), name));
    };
    let module = modules.get(&base)?;
    if module.defines.contains(name) {
        return Some(((k, base), name.clone()));
    }
    if let Some(bound) = module.binds.get(name) {
        let mut full = bound.clone();
        full.extend(rest[1..].iter().cloned());
        let found = resolve_in(krates, k, &base, &full, depth + 1)?;
        // A name bound to what this module's file itself holds (generated
        // bindings, say) is named as it was imported.
        if found.0.0 == k && krates[k].modules[&found.0.1].file == module.file {
            return Some(((k, base), name.clone()));
        }
        return Some(found);
    }
    for glob in &module.globs {
        let mut full = glob.clone();
        full.extend(rest.iter().cloned());
        if let Some(found) = resolve_in(krates, k, &base, &full, depth + 1)
            && krates[found.0.0].modules[&found.0.1].defines.contains(name)
        {
            return Some(found);
        }
    }
    Some(((k, base), name.clone()))
}

// ---------------------------------------------------------------------------
// Reading Rust: tokens, then items.

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Ident(String),
    /// `::`
    Path,
    Punct(char),
    /// A literal: a string, a character or a number.
    Lit,
}

/// Splits Rust source into tokens, without comments; literals become
/// [`Tok::Lit`] so that nothing inside them is read as code.
fn tokenize(src: &str) -> Vec<Tok> {
    let c: Vec<char> = src.chars().collect();
    let n = c.len();
    let at = |i: usize| c.get(i).copied().unwrap_or('\0');
    let mut out = Vec::new();
    let mut i = 0;
    while i < n {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
        } else if ch == '/' && at(i + 1) == '/' {
            while i < n && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < n {
                if c[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if let Some(end) = raw_string_end(&c, i) {
            out.push(Tok::Lit);
            i = end;
        } else if ch == '"' || (matches!(ch, 'b' | 'c') && at(i + 1) == '"') {
            i += if ch == '"' { 1 } else { 2 };
            while i < n && c[i] != '"' {
                i += if c[i] == '\\' { 2 } else { 1 };
            }
            out.push(Tok::Lit);
            i += 1;
        } else if ch == '\'' || (ch == 'b' && at(i + 1) == '\'') {
            let q = if ch == 'b' { i + 1 } else { i };
            if at(q + 1) == '\\' {
                // An escaped character (`'\''`, `'\u{…}'`): to the
                // closing quote after the escaped one.
                i = q + 3;
                while i < n && c[i] != '\'' {
                    i += 1;
                }
                out.push(Tok::Lit);
                i += 1;
            } else if at(q + 2) == '\'' {
                out.push(Tok::Lit);
                i = q + 3;
            } else {
                // A lifetime or a label.
                i = q + 1;
                while i < n && (c[i].is_alphanumeric() || c[i] == '_') {
                    i += 1;
                }
            }
        } else if ch == 'r' && at(i + 1) == '#' && (at(i + 2).is_alphabetic() || at(i + 2) == '_') {
            let s = i + 2;
            i = s;
            while i < n && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push(Tok::Ident(c[s..i].iter().collect()));
        } else if ch.is_alphabetic() || ch == '_' {
            let s = i;
            while i < n && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push(Tok::Ident(c[s..i].iter().collect()));
        } else if ch.is_ascii_digit() {
            while i < n && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push(Tok::Lit);
        } else if ch == ':' && at(i + 1) == ':' {
            out.push(Tok::Path);
            i += 2;
        } else {
            out.push(Tok::Punct(ch));
            i += 1;
        }
    }
    out
}

/// The end of a raw string (`r"…"`, `r#"…"#`, `br#"…"#`, `cr"…"`) that
/// starts at `i`, if one does.
fn raw_string_end(c: &[char], i: usize) -> Option<usize> {
    let mut j = i;
    if matches!(c.get(j), Some('b' | 'c')) {
        j += 1;
    }
    if c.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let mut hashes = 0;
    while c.get(j) == Some(&'#') {
        hashes += 1;
        j += 1;
    }
    if c.get(j) != Some(&'"') {
        return None;
    }
    j += 1;
    while j < c.len() {
        if c[j] == '"' && (1..=hashes).all(|h| c.get(j + h) == Some(&'#')) {
            return Some(j + 1 + hashes);
        }
        j += 1;
    }
    Some(c.len())
}

/// What one module of a file says: `inline` is its path inside the file
/// (empty for the file's own module).
#[derive(Default)]
struct Parsed {
    inline: Vec<String>,
    /// Set for a `mod name;`: this entry only declares the file module `name`.
    declares_file: Option<String>,
    defines: BTreeSet<String>,
    binds: BTreeMap<String, Vec<String>>,
    globs: Vec<Vec<String>>,
    refs: Vec<Vec<String>>,
}

/// Reads a file's items: module declarations, definitions, `use` trees and
/// paths in code, per (inline) module, leaving out `#[cfg(test)]` items.
fn parse(toks: &[Tok]) -> Vec<Parsed> {
    let ident = |i: usize| match toks.get(i) {
        Some(Tok::Ident(s)) => Some(s.as_str()),
        _ => None,
    };
    let punct = |i: usize, p: char| toks.get(i) == Some(&Tok::Punct(p));
    let mut out: Vec<Parsed> = vec![Parsed::default()];
    // The inline modules we are in: (index into `out`, brace depth inside).
    let mut scopes: Vec<(usize, usize)> = vec![(0, 0)];
    let mut depth = 0;
    let mut cfg_test = false;
    let mut i = 0;
    while i < toks.len() {
        let (cur, scope_depth) = *scopes.last().expect("the file's scope");
        let item_level = depth == scope_depth;
        // Attributes: remember `#[cfg(test)]` for the next item.
        if punct(i, '#') && (punct(i + 1, '[') || (punct(i + 1, '!') && punct(i + 2, '['))) {
            let open = if punct(i + 1, '[') { i + 1 } else { i + 2 };
            let close = matching(toks, open);
            let inner = &toks[open + 1..close];
            if inner
                == [
                    Tok::Ident("cfg".into()),
                    Tok::Punct('('),
                    Tok::Ident("test".into()),
                    Tok::Punct(')'),
                ]
            {
                cfg_test = true;
            }
            i = close + 1;
            continue;
        }
        if cfg_test {
            cfg_test = false;
            i = item_end(toks, i);
            continue;
        }
        match &toks[i] {
            Tok::Punct('{') => {
                depth += 1;
                i += 1;
            }
            Tok::Punct('}') => {
                depth = depth.saturating_sub(1);
                if scopes.len() > 1 && depth < scope_depth {
                    scopes.pop();
                }
                i += 1;
            }
            Tok::Ident(kw) if kw == "mod" && item_level => {
                let Some(name) = ident(i + 1) else {
                    i += 1;
                    continue;
                };
                let name = name.to_owned();
                let inline = out[cur].inline.clone();
                if punct(i + 2, ';') {
                    out.push(Parsed {
                        inline,
                        declares_file: Some(name),
                        ..Parsed::default()
                    });
                    i += 3;
                } else if punct(i + 2, '{') {
                    let mut path = inline;
                    path.push(name);
                    out.push(Parsed {
                        inline: path,
                        ..Parsed::default()
                    });
                    depth += 1;
                    scopes.push((out.len() - 1, depth));
                    i += 3;
                } else {
                    i += 1;
                }
            }
            Tok::Ident(kw) if kw == "use" => {
                let end = item_end(toks, i);
                let mut entries = Vec::new();
                use_tree(&toks[i + 1..end], &mut Vec::new(), &mut entries);
                for (path, bind) in entries {
                    let p = &mut out[cur];
                    match bind {
                        Bind::Name(name) if item_level => {
                            p.binds.insert(name, path.clone());
                        }
                        Bind::Glob if item_level => p.globs.push(path.clone()),
                        _ => {}
                    }
                    p.refs.push(path);
                }
                i = end;
            }
            Tok::Ident(kw)
                if item_level
                    && matches!(
                        kw.as_str(),
                        "fn" | "struct" | "enum" | "trait" | "type" | "const" | "static" | "union"
                    ) =>
            {
                if let Some(name) = ident(i + 1) {
                    out[cur].defines.insert(name.to_owned());
                }
                i += 1;
            }
            Tok::Ident(kw) if kw == "macro_rules" && punct(i + 1, '!') => {
                if let Some(name) = ident(i + 2) {
                    out[cur].defines.insert(name.to_owned());
                }
                i += 2;
            }
            Tok::Ident(first) if toks.get(i + 1) == Some(&Tok::Path) => {
                // A path in code, unless it continues one (`a::b` read at `b`).
                let mut path = vec![first.clone()];
                let mut j = i + 1;
                while toks.get(j) == Some(&Tok::Path) {
                    match ident(j + 1) {
                        Some(seg) => {
                            path.push(seg.to_owned());
                            j += 2;
                        }
                        None => break,
                    }
                }
                out[cur].refs.push(path);
                i = j;
            }
            _ => i += 1,
        }
    }
    out
}

/// What a `use` entry binds.
enum Bind {
    Name(String),
    Glob,
    Nothing,
}

/// Flattens a `use` tree into full paths and what each binds.
fn use_tree(toks: &[Tok], prefix: &mut Vec<String>, out: &mut Vec<(Vec<String>, Bind)>) {
    let mut i = 0;
    // A leading `::` (extern path) or `$` (in `$crate`) adds nothing.
    while matches!(toks.get(i), Some(Tok::Path | Tok::Punct('$'))) {
        i += 1;
    }
    let start = prefix.len();
    loop {
        match toks.get(i) {
            Some(Tok::Ident(seg)) => {
                prefix.push(seg.clone());
                i += 1;
                if toks.get(i) == Some(&Tok::Path) {
                    i += 1;
                    continue;
                }
                let bind = if toks.get(i) == Some(&Tok::Ident("as".into())) {
                    match toks.get(i + 1) {
                        Some(Tok::Ident(alias)) if alias == "_" => Bind::Nothing,
                        Some(Tok::Ident(alias)) => Bind::Name(alias.clone()),
                        _ => Bind::Nothing,
                    }
                } else if seg == "self" {
                    prefix.pop();
                    let name = prefix.last().cloned();
                    out.push((prefix.clone(), name.map_or(Bind::Nothing, Bind::Name)));
                    prefix.truncate(start);
                    return;
                } else {
                    Bind::Name(seg.clone())
                };
                out.push((prefix.clone(), bind));
                break;
            }
            Some(Tok::Punct('*')) => {
                out.push((prefix.clone(), Bind::Glob));
                break;
            }
            Some(Tok::Punct('{')) => {
                let close = matching(toks, i);
                let inner = &toks[i + 1..close];
                let mut depth = 0;
                let mut from = 0;
                for (k, t) in inner.iter().enumerate() {
                    match t {
                        Tok::Punct('{') => depth += 1,
                        Tok::Punct('}') => depth -= 1,
                        Tok::Punct(',') if depth == 0 => {
                            use_tree(&inner[from..k], prefix, out);
                            from = k + 1;
                        }
                        _ => {}
                    }
                }
                if from < inner.len() {
                    use_tree(&inner[from..], prefix, out);
                }
                break;
            }
            _ => break,
        }
    }
    prefix.truncate(start);
}

/// The index of the bracket that closes the one at `open`.
fn matching(toks: &[Tok], open: usize) -> usize {
    let mut depth = 0i32;
    for (k, t) in toks.iter().enumerate().skip(open) {
        match t {
            Tok::Punct('(' | '[' | '{') => depth += 1,
            Tok::Punct(')' | ']' | '}') => {
                depth -= 1;
                if depth == 0 {
                    return k;
                }
            }
            _ => {}
        }
    }
    toks.len().saturating_sub(1)
}

/// The index just past the item that starts at `i`: its `;` or its body's
/// closing brace, outside brackets.
fn item_end(toks: &[Tok], i: usize) -> usize {
    let mut depth = 0i32;
    for (k, t) in toks.iter().enumerate().skip(i) {
        match t {
            Tok::Punct('(' | '[' | '{') => depth += 1,
            Tok::Punct(')' | ']') => depth -= 1,
            Tok::Punct('}') => {
                depth -= 1;
                if depth == 0 {
                    return k + 1;
                }
            }
            Tok::Punct(';') if depth == 0 => return k + 1,
            _ => {}
        }
    }
    toks.len()
}

// ---------------------------------------------------------------------------
// The checker checked, on small crates of its own.

/// Files held in memory.
struct Memory(BTreeMap<&'static str, &'static str>);

impl Files for Memory {
    fn read(&self, path: &str) -> Option<String> {
        self.0.get(path).map(|s| s.to_string())
    }
}

fn graph_of(files: &[(&'static str, &'static str)]) -> Graph {
    let memory = Memory(files.iter().copied().collect());
    Graph::of("t", &memory, "t/src/lib.rs", None)
}

fn pairs(g: &Graph) -> Vec<(String, String)> {
    g.edges.keys().cloned().collect()
}

fn pair(a: &str, b: &str) -> (String, String) {
    (a.to_owned(), b.to_owned())
}

#[test]
fn the_checker_sees_a_circle_through_use_and_code_paths() {
    let g = graph_of(&[
        ("t/src/lib.rs", "mod a;\nmod b;\n"),
        ("t/src/a.rs", "use crate::b::B;\npub(crate) struct A;\n"),
        (
            "t/src/b.rs",
            "pub(crate) struct B;\nfn f() { crate::a::A; }\n",
        ),
    ]);
    assert_eq!(
        pairs(&g),
        [
            pair("t/src/a.rs", "t/src/b.rs"),
            pair("t/src/b.rs", "t/src/a.rs")
        ]
    );
    assert_eq!(g.circles().len(), 1);
    assert!(
        g.describe(&g.circles()[0])
            .contains("t/src/b.rs -> t/src/a.rs: A")
    );
}

#[test]
fn the_checker_follows_re_exports_and_child_modules() {
    let g = graph_of(&[
        (
            "t/src/lib.rs",
            "mod kind;\nmod scan;\npub use kind::Kind;\nfn go() { scan::scan(); }\n",
        ),
        ("t/src/kind.rs", "pub enum Kind { A }\n"),
        (
            "t/src/scan.rs",
            "use crate::Kind;\npub(crate) fn scan() {}\n",
        ),
    ]);
    // `crate::Kind` is `kind::Kind`: no circle through lib.rs.
    assert_eq!(
        pairs(&g),
        [
            pair("t/src/lib.rs", "t/src/kind.rs"),
            pair("t/src/lib.rs", "t/src/scan.rs"),
            pair("t/src/scan.rs", "t/src/kind.rs"),
        ]
    );
    assert!(g.circles().is_empty());
}

#[test]
fn the_checker_leaves_out_tests_comments_strings_and_inline_modules() {
    let g = graph_of(&[
        (
            "t/src/lib.rs",
            "mod a;\nmod b;\n#[cfg(test)]\nmod tests;\n#[cfg(test)]\nmod more { use crate::b::B; }\n",
        ),
        (
            "t/src/a.rs",
            "// crate::b::B\n/* crate::b::B */\nconst S: &str = \"crate::b::B\";\nconst R: &str = r#\"crate::b::B\"#;\nfn f<'a>(x: &'a str) -> char { 'b' }\nmod inner { use super::f; }\n#[cfg(test)]\nfn t() { crate::b::B; }\n",
        ),
        ("t/src/b.rs", "pub struct B;\nuse crate::a;\n"),
        ("t/src/tests.rs", "use crate::a::f;\n"),
    ]);
    assert_eq!(pairs(&g), [pair("t/src/b.rs", "t/src/a.rs")]);
}

#[test]
fn the_layers_are_in_order() {
    assert_eq!(layer_of("host/src/main.rs"), Some(0));
    assert_eq!(layer_of("host/src/cli/audit.rs"), Some(0));
    assert_eq!(layer_of("host/src/api/mod.rs"), Some(2));
    assert!(layer_of("host/src/audit/writer.rs") > layer_of("host/src/runtime/plugin.rs"));
    assert!(layer_of("host/src/error.rs") > layer_of("host/src/audit/mod.rs"));
    assert!(layer_of("host/src/config/mod.rs") > layer_of("host/src/snapshot.rs"));
    assert!(layer_of("host/src/reload/mod.rs") < layer_of("host/src/live.rs"));
    assert_eq!(
        layer_of("host/src/http.rs"),
        layer_of("host/src/api/mod.rs")
    );
    assert_eq!(layer_of("plugins/pii/src/lib.rs"), None);
}
