//! A tool call of an agent's loop (a Claude Code tool, an MCP tool, a
//! shell command line), turned into the requests the policy decides: one
//! call may be several requests (`a && b`), each decided, any denial
//! denying the call.
//!
//! Mapping is pure: no I/O, no clock. What cannot be mapped becomes a
//! request for the `shell` service's `unknown` action (or the tool's own
//! `unknown`), which nothing allows unless a policy says so.

pub mod claude;
pub mod paths;
pub mod plan;
pub mod shell;

use std::collections::BTreeMap;

/// The service of commands a line runs that no other service names.
pub const SHELL: &str = "shell";
/// The service of file tools and of files a command line redirects to.
pub const FILES: &str = "files";
/// The service of web tools.
pub const WEB: &str = "web";
/// The service of Claude Code's other tools.
pub const CLAUDE_CODE: &str = "claude-code";
/// The action of what cannot be mapped.
pub const UNKNOWN: &str = "unknown";

/// One request a tool call makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ask {
    /// The service.
    pub service: String,
    /// The action.
    pub action: String,
    /// The resource.
    pub resource: String,
    /// Qualifiers (`branch`…).
    pub attributes: BTreeMap<String, String>,
    /// What the call said, for people: the command or tool it came from.
    pub source: String,
}

impl Ask {
    /// A request for `service` with no attributes.
    pub fn new(service: &str, action: &str, resource: impl Into<String>, source: &str) -> Self {
        Self {
            service: service.to_owned(),
            action: action.to_owned(),
            resource: resource.into(),
            attributes: BTreeMap::new(),
            source: shell::parse::clip(source),
        }
    }

    /// What cannot be mapped: `why`, about `text`. Its resource is the
    /// program's name where it is a plain word, else `-`, so that a rule
    /// can name programs; the whole text is in the `command` attribute.
    pub fn unknown(service: &str, label: &str, why: &str, text: &str) -> Self {
        let plain = !label.is_empty()
            && label.len() <= 64
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b))
            && !label.starts_with('.');
        let mut ask = Self::new(service, UNKNOWN, if plain { label } else { "-" }, text);
        ask.attributes.insert("why".into(), why.to_owned());
        ask.attributes
            .insert("command".into(), shell::parse::clip(text));
        ask
    }

    /// With attribute `name` set to `value`.
    pub fn with(mut self, name: &str, value: impl Into<String>) -> Self {
        self.attributes.insert(name.to_owned(), value.into());
        self
    }

    /// Whether this is a request for something that could not be mapped.
    pub fn is_unknown(&self) -> bool {
        self.action == UNKNOWN
    }
}

/// The `files` request for `action` on `path` (made absolute against
/// `cwd`), or an unknown one: a path that cannot be resolved here, or a
/// write into git's own files (`.git/config`, `.git/hooks/…`,
/// `.gitconfig`), which would change what later git commands do (where a
/// push goes, what a commit runs) out of the mapping's sight.
pub fn file_ask(action: &str, path: &str, cwd: Option<&str>, source: &str) -> Ask {
    let Some(p) = paths::absolute(path, cwd) else {
        return Ask::unknown(
            SHELL,
            "-",
            &format!("`{path}` is not a path that can be resolved here"),
            source,
        );
    };
    let git_own = p.split('/').any(|s| s == ".git" || s == ".gitconfig");
    if action != "read" && git_own {
        return Ask::unknown(
            FILES,
            "-",
            &format!(
                "writes `{p}`, git's own configuration or hooks, which change what git commands do"
            ),
            source,
        );
    }
    Ask::new(FILES, action, p, source)
}

/// What the caller knows of the place a command runs in: given by the
/// `palisade hook` command, which runs beside the agent; absent for a
/// caller that cannot look (the HTTP hook), so that what depends on it is
/// unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Workspace {
    /// The git remotes of the working directory, by name: their URLs (as
    /// `git remote get-url` gives them, `insteadOf` applied).
    #[serde(default)]
    pub remotes: BTreeMap<String, String>,
    /// Where each remote pushes, where that differs from `remotes`
    /// (`git remote get-url --push`: `pushurl`, `pushInsteadOf`).
    #[serde(default)]
    pub push_urls: BTreeMap<String, String>,
    /// The branch checked out there.
    #[serde(default)]
    pub branch: Option<String>,
    /// Where a `git push` that names no branch goes: `REMOTE/BRANCH`
    /// (`git rev-parse --abbrev-ref @{push}`, which applies `push.default`,
    /// `remote.*.push` and the branch's upstream).
    #[serde(default)]
    pub push_target: Option<String>,
}

impl Workspace {
    /// The remote and branch of `push_target`.
    pub fn push_target(&self) -> Option<(&str, &str)> {
        let target = self.push_target.as_deref()?;
        let mut splits = self.remotes.keys().filter_map(|r| {
            target
                .strip_prefix(r.as_str())
                .and_then(|b| b.strip_prefix('/'))
                .filter(|b| !b.is_empty())
                .map(|b| (r.as_str(), b))
        });
        // Remotes `origin` and `origin/x` both split `origin/x/main`: which
        // one git meant is not known here.
        match (splits.next(), splits.next()) {
            (Some(one), None) => Some(one),
            _ => None,
        }
    }
}
