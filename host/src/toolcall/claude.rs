//! Claude Code's hook events (`PreToolUse`, `PostToolUse`), read as its
//! documentation gives them, its tools mapped to requests, and the answers
//! it reads back (`hookSpecificOutput` with `permissionDecision`, or
//! `updatedToolOutput` for a result).
//!
//! | tool | request |
//! |---|---|
//! | `mcp__SERVER__TOOL` | service SERVER, action TOOL, resource from the `tool_calls.mcp` template (else `*`) |
//! | `Read`, `Glob`, `Grep` | `files` `read` on the absolute path (`Glob`/`Grep`: their `path`, else the working directory) |
//! | `Write`, `Edit`, `MultiEdit`, `NotebookEdit` | `files` `write` on the absolute path |
//! | `WebFetch` | `web` `fetch` on the URL's host (lowercase), with the `url` attribute |
//! | `WebSearch` | `web` `search` on `-` |
//! | `Bash` | the shell mapping of its `command` (see `shell`) |
//! | any other | service `claude-code`, action the tool's name, resource `-` |

use super::plan::ToolPlan;
use super::shell::{self, Shell};
use super::{Ask, Workspace, paths};
use serde::Deserialize;
use serde_json::{Value, json};

pub use super::{CLAUDE_CODE, FILES, WEB};

/// A hook event, as Claude Code sends it (on a command hook's standard
/// input, or as an HTTP hook's body). Fields it adds in later versions are
/// ignored.
#[derive(Debug, Clone, Deserialize)]
pub struct HookEvent {
    /// `PreToolUse`, `PostToolUse`, …
    pub hook_event_name: String,
    /// Claude Code's session: Palisade's session.
    pub session_id: String,
    /// The working directory.
    #[serde(default)]
    pub cwd: Option<String>,
    /// The tool's name.
    #[serde(default)]
    pub tool_name: Option<String>,
    /// The tool's input.
    #[serde(default)]
    pub tool_input: Option<Value>,
    /// What the tool returned (`PostToolUse`).
    #[serde(default)]
    pub tool_response: Option<Value>,
    /// Why the tool failed (`PostToolUseFailure`).
    #[serde(default)]
    pub error: Option<Value>,
    /// The call's id, the same in both events.
    #[serde(default)]
    pub tool_use_id: Option<String>,
    /// Added by `palisade hook`: what it saw of the working directory.
    #[serde(default)]
    pub palisade: Option<Extra>,
}

/// What `palisade hook` adds to the event.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Extra {
    /// The working directory's git remotes and branch.
    #[serde(default)]
    pub workspace: Option<Workspace>,
}

/// The requests a call of `tool` with `input` makes, run in `cwd`.
pub fn asks(
    tool: &str,
    input: &Value,
    cwd: Option<&str>,
    workspace: Option<&Workspace>,
    plan: &ToolPlan,
) -> Vec<Ask> {
    let cwd = cwd.filter(|c| c.starts_with('/'));
    let field = |name: &str| input.get(name).and_then(Value::as_str);
    let file = |action: &str, name: &str| match field(name) {
        Some(path) => super::file_ask(action, path, cwd, tool),
        None => Ask::unknown(FILES, tool, &format!("`{name}` is missing"), tool),
    };
    if let Some(rest) = tool.strip_prefix("mcp__") {
        let Some((server, name)) = rest
            .split_once("__")
            .filter(|(s, t)| !s.is_empty() && !t.is_empty())
        else {
            return vec![Ask::unknown(
                CLAUDE_CODE,
                "-",
                "an MCP tool name without `mcp__SERVER__TOOL`",
                tool,
            )];
        };
        return vec![mcp_ask(server, name, input, plan)];
    }
    match tool {
        "Read" => vec![file("read", "file_path")],
        "Grep" => vec![super::file_ask(
            "read",
            field("path").unwrap_or("."),
            cwd,
            tool,
        )],
        "Glob" => vec![glob(field("path").unwrap_or("."), field("pattern"), cwd)],
        "Write" | "Edit" | "MultiEdit" => vec![file("write", "file_path")],
        "NotebookEdit" => vec![file("write", "notebook_path")],
        "WebFetch" => match field("url").and_then(host_of) {
            Some(host) => {
                let url = field("url").unwrap_or_default();
                vec![Ask::new(WEB, "fetch", host, tool).with("url", shell::parse::clip(url))]
            }
            None => vec![Ask::unknown(
                WEB,
                tool,
                "`url` is missing or has no host",
                tool,
            )],
        },
        "WebSearch" => vec![Ask::new(WEB, "search", "-", tool)],
        "Bash" => match field("command") {
            Some(line) => shell::asks(
                line,
                &Shell {
                    cwd,
                    workspace,
                    git_hosts: &plan.git_hosts,
                },
            ),
            None => vec![Ask::unknown(
                super::SHELL,
                "-",
                "`command` is missing",
                tool,
            )],
        },
        other => vec![Ask::new(CLAUDE_CODE, other, "-", other)],
    }
}

/// `Glob`: a read of the folder its pattern searches: `path` joined with the
/// pattern's leading literal folders, so that `/etc/**` or `../../**` is a
/// read of `/etc` or of the folder two up, not of the working directory.
fn glob(path: &str, pattern: Option<&str>, cwd: Option<&str>) -> Ask {
    let base = paths::absolute(path, cwd);
    let literal: Vec<&str> = pattern
        .unwrap_or("")
        .split('/')
        .take_while(|s| !s.contains(['*', '?', '[', '{']))
        .collect();
    // The last literal segment may be a file name; its folder is read.
    let folders = match pattern {
        Some(p) if !p.ends_with('/') && literal.len() == p.split('/').count() => {
            &literal[..literal.len().saturating_sub(1)]
        }
        _ => &literal[..],
    };
    let joined = folders.join("/");
    let root = if joined.is_empty() && pattern.is_some_and(|p| p.starts_with('/')) {
        "/".to_owned()
    } else {
        joined
    };
    match base {
        Some(b) if root.is_empty() => super::file_ask("read", &b, None, "Glob"),
        Some(b) => super::file_ask("read", &root, Some(&b), "Glob"),
        None => Ask::unknown(
            FILES,
            "Glob",
            &format!("`{path}` is not a path that can be resolved here"),
            "Glob",
        ),
    }
}

/// The request of MCP tool `name` of `server`.
pub fn mcp_ask(server: &str, name: &str, input: &Value, plan: &ToolPlan) -> Ask {
    let source = format!("mcp__{server}__{name}");
    match plan.mcp.get(server).and_then(|m| m.template(name)) {
        None => Ask::new(server, name, "*", &source),
        Some(t) => match t.render(input) {
            Ok(resource) => Ask::new(server, name, resource, &source),
            Err(why) => Ask::unknown(server, name, &why, &source),
        },
    }
}

/// The lowercase host (and port, if any) of an `http(s)` URL.
fn host_of(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return None;
    }
    let host = parsed.host_str()?.to_ascii_lowercase();
    Some(match parsed.port() {
        Some(p) => format!("{host}:{p}"),
        None => host,
    })
}

/// A `PreToolUse` answer: `allow`, `deny` or `ask`, with the reason Claude
/// Code shows (to Claude for `deny`, to the user for `ask`).
pub fn permission(decision: &str, reason: &str) -> Value {
    json!({
        "hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": decision,
            "permissionDecisionReason": reason,
        }
    })
}

/// A `PostToolUse` answer that replaces the tool's output with `output`
/// (`updatedToolOutput`; MCP tools also get `updatedMCPToolOutput`, which
/// versions before 2.1.121 read), and blocks with `block` as the reason.
pub fn replace_output(tool: &str, output: Value, block: Option<&str>) -> Value {
    let mut specific = json!({
        "hookEventName": "PostToolUse",
        "updatedToolOutput": output,
    });
    if tool.starts_with("mcp__") {
        specific["updatedMCPToolOutput"] = specific["updatedToolOutput"].clone();
    }
    let mut answer = json!({ "hookSpecificOutput": specific });
    if let Some(reason) = block {
        answer["decision"] = "block".into();
        answer["reason"] = reason.into();
    }
    answer
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn one(tool: &str, input: Value) -> String {
        let a = asks(
            tool,
            &input,
            Some("/work/billing"),
            None,
            &ToolPlan::default(),
        );
        assert_eq!(a.len(), 1);
        format!("{} {} {}", a[0].service, a[0].action, a[0].resource)
    }

    #[test]
    fn file_tools_name_the_folder_they_touch() {
        assert_eq!(
            one("Read", json!({"file_path": "src/../../../etc/passwd"})),
            "files read /etc/passwd"
        );
        assert_eq!(
            one("Glob", json!({"pattern": "/etc/**"})),
            "files read /etc"
        );
        assert_eq!(
            one("Glob", json!({"pattern": "../../**/*.pem"})),
            "files read /"
        );
        assert_eq!(
            one("Glob", json!({"pattern": "src/**/*.rs"})),
            "files read /work/billing/src"
        );
        assert_eq!(
            one("Glob", json!({"pattern": "*.rs", "path": "/work/other"})),
            "files read /work/other"
        );
        assert_eq!(
            one("Grep", json!({"pattern": "x"})),
            "files read /work/billing"
        );
        assert_eq!(
            one("Write", json!({"file_path": ".git/config", "content": "x"})),
            "files unknown -"
        );
        assert_eq!(
            one(
                "Edit",
                json!({"file_path": "/work/billing/.git/hooks/pre-commit"})
            ),
            "files unknown -"
        );
        assert_eq!(one("Write", json!({"content": "x"})), "files unknown Write");
    }

    #[test]
    fn mcp_and_web_tools() {
        assert_eq!(
            one("mcp__github__create_issue", json!({})),
            "github create_issue *"
        );
        assert_eq!(one("mcp____x", json!({})), "claude-code unknown -");
        assert_eq!(
            one(
                "WebFetch",
                json!({"url": "https://Docs.Example.com:8443/a"})
            ),
            "web fetch docs.example.com:8443"
        );
        assert_eq!(
            one("WebFetch", json!({"url": "file:///etc/passwd"})),
            "web unknown WebFetch"
        );
        assert_eq!(one("TodoWrite", json!({})), "claude-code TodoWrite -");
    }
}
