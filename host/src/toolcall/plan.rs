//! A project's `tool_calls:` block: how its agents' tool calls become
//! requests (the resource of each MCP tool, the git hosts whose
//! repositories the policy names) and what a hook does with
//! `approval_required`. Written in a policy file, checked by
//! [`ToolCallsSpec::compile`].

use crate::units::Duration;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Longest `approval_wait`: a hook waits this long at most.
pub const MAX_APPROVAL_WAIT_S: u64 = 600;
/// Default `approval_wait`.
pub const DEFAULT_APPROVAL_WAIT_S: u64 = 120;

/// The block as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolCallsSpec {
    /// `wait` (default): a hook holds the call until a person decides (at
    /// most `approval_wait`); `ask`: Claude Code asks its own user, naming
    /// the approval.
    #[serde(default)]
    pub on_approval: Option<OnApproval>,
    /// How long a hook waits for a decision (default `2m`, at most `10m`).
    #[serde(default)]
    pub approval_wait: Option<Duration>,
    /// Whether a tool result with findings is also blocked, besides being
    /// replaced by its masked form (default `false`).
    #[serde(default)]
    pub block_on_findings: Option<bool>,
    /// Hosts whose repositories the policy names as `owner/name` (default
    /// `[github.com]`): a remote elsewhere is unknown.
    #[serde(default)]
    pub git_hosts: Option<Vec<String>>,
    /// MCP servers by name: the resource of their tools.
    #[serde(default)]
    pub mcp: BTreeMap<String, McpServerSpec>,
}

/// What a hook does with `approval_required`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnApproval {
    /// Hold the call until a person decides, then allow (using the
    /// approval once) or deny.
    #[default]
    Wait,
    /// Answer Claude Code's `ask`, naming the approval: the user at the
    /// keyboard decides.
    Ask,
}

/// One MCP server's mapping.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpServerSpec {
    /// The resource of its tools: a template of JSON pointers into the
    /// tool's input, e.g. `"{/owner}/{/repo}"` or `/path`.
    #[serde(default)]
    pub resource: Option<String>,
    /// Per tool, a template that replaces `resource`; `-` for a tool whose
    /// input names no resource (its resource is then `-`).
    #[serde(default)]
    pub tools: BTreeMap<String, String>,
}

/// The block, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolPlan {
    /// What a hook does with `approval_required`.
    pub on_approval: OnApproval,
    /// How long a hook waits, in seconds.
    pub approval_wait_s: u64,
    /// Whether findings in a tool result block it.
    pub block_on_findings: bool,
    /// Hosts of the repositories the policy names.
    pub git_hosts: Vec<String>,
    /// MCP servers' resources.
    pub mcp: BTreeMap<String, McpPlan>,
}

impl Default for ToolPlan {
    fn default() -> Self {
        Self {
            on_approval: OnApproval::Wait,
            approval_wait_s: DEFAULT_APPROVAL_WAIT_S,
            block_on_findings: false,
            git_hosts: vec!["github.com".into()],
            mcp: BTreeMap::new(),
        }
    }
}

/// One MCP server's resources.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct McpPlan {
    /// For its tools not in `tools`.
    pub resource: Option<Template>,
    /// Per tool.
    pub tools: BTreeMap<String, Template>,
}

impl McpPlan {
    /// The template of `tool`: its own, also when its case differs (rules
    /// match actions ignoring case, so `DELETE_REPO` must not fall back
    /// to the server's template where `delete_repo` has its own); else the
    /// server's.
    pub fn template(&self, tool: &str) -> Option<&Template> {
        self.tools
            .get(tool)
            .or_else(|| {
                let lower = tool.to_lowercase();
                self.tools
                    .iter()
                    .find(|(name, _)| name.to_lowercase() == lower)
                    .map(|(_, t)| t)
            })
            .or(self.resource.as_ref())
    }
}

/// A resource made of literal text and JSON pointers into a tool's input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(Vec<Piece>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Pointer(String),
}

impl Template {
    /// The resource `-`, for a tool whose input names none (written `-` in
    /// `tools:`; any other text without a placeholder is refused, so that
    /// `acme/billing` written for `{/owner}/{/repo}` is not every call's
    /// resource).
    pub fn none() -> Self {
        Self(vec![Piece::Text("-".into())])
    }

    /// Reads `{/a/b}` placeholders in `text`; a text that is one pointer
    /// (`/path`) is one placeholder.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.starts_with('/') && !text.contains('{') {
            return Ok(Self(vec![Piece::Pointer(text.to_owned())]));
        }
        let mut pieces = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                pieces.push(Piece::Text(rest[..open].to_owned()));
            }
            let after = &rest[open + 1..];
            let close = after
                .find('}')
                .ok_or_else(|| format!("`{text}` opens a `{{` it does not close"))?;
            let pointer = &after[..close];
            if !pointer.starts_with('/') {
                return Err(format!(
                    "`{{{pointer}}}` in `{text}` is not a JSON pointer; write e.g. `{{/repo}}`"
                ));
            }
            pieces.push(Piece::Pointer(pointer.to_owned()));
            rest = &after[close + 1..];
        }
        if rest.contains('}') {
            return Err(format!("`{text}` closes a `}}` it did not open"));
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_owned()));
        }
        if !pieces.iter().any(|p| matches!(p, Piece::Pointer(_))) {
            return Err(format!(
                "`{text}` names no part of the tool's input; write e.g. `{{/owner}}/{{/repo}}`"
            ));
        }
        Ok(Self(pieces))
    }

    /// The resource for `input`, or why it has none: a pointer that finds
    /// nothing, or finds something other than a string or a number.
    pub fn render(&self, input: &serde_json::Value) -> Result<String, String> {
        let mut out = String::new();
        for p in &self.0 {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Pointer(ptr) => match input.pointer(ptr) {
                    Some(serde_json::Value::String(s)) => out.push_str(s),
                    Some(serde_json::Value::Number(n)) => out.push_str(&n.to_string()),
                    Some(_) => return Err(format!("the tool's input at `{ptr}` is not a string")),
                    None => return Err(format!("the tool's input has nothing at `{ptr}`")),
                },
            }
        }
        Ok(out)
    }
}

impl ToolCallsSpec {
    /// Checks the block; `Err((pointer under the block, message))`.
    pub fn compile(&self) -> Result<ToolPlan, (String, String)> {
        let mut plan = ToolPlan {
            on_approval: self.on_approval.unwrap_or_default(),
            block_on_findings: self.block_on_findings.unwrap_or(false),
            ..ToolPlan::default()
        };
        if let Some(w) = self.approval_wait {
            if w.0 == 0 || w.0 > MAX_APPROVAL_WAIT_S {
                return Err((
                    "/approval_wait".into(),
                    "`tool_calls.approval_wait` must be 1s to 10m (e.g. `2m`)".into(),
                ));
            }
            plan.approval_wait_s = w.0;
        }
        if let Some(hosts) = &self.git_hosts {
            for (i, h) in hosts.iter().enumerate() {
                let ok = !h.is_empty()
                    && h.len() <= 253
                    && h.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
                    && !h.starts_with('.')
                    && !h.ends_with('.');
                if !ok {
                    return Err((
                        format!("/git_hosts/{i}"),
                        format!("`{h}` is not a host name; write e.g. `github.com`"),
                    ));
                }
            }
            plan.git_hosts = hosts.iter().map(|h| h.to_ascii_lowercase()).collect();
        }
        for (server, spec) in &self.mcp {
            if server.is_empty() || server.contains("__") {
                return Err((
                    format!("/mcp/{server}"),
                    format!("`{server}` is not an MCP server name (no `__`, not empty)"),
                ));
            }
            let mut m = McpPlan::default();
            if let Some(r) = &spec.resource {
                m.resource =
                    Some(Template::parse(r).map_err(|e| (format!("/mcp/{server}/resource"), e))?);
            }
            for (tool, r) in &spec.tools {
                let t = match r.as_str() {
                    // A tool whose input names no resource.
                    "-" => Template::none(),
                    _ => Template::parse(r)
                        .map_err(|e| (format!("/mcp/{server}/tools/{tool}"), e))?,
                };
                m.tools.insert(tool.clone(), t);
            }
            plan.mcp.insert(server.clone(), m);
        }
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn templates_take_strings_and_numbers_from_the_input() {
        let t = Template::parse("{/owner}/{/repo}").unwrap();
        assert_eq!(
            t.render(&json!({"owner": "acme", "repo": "billing"}))
                .unwrap(),
            "acme/billing"
        );
        let t = Template::parse("/issue").unwrap();
        assert_eq!(t.render(&json!({"issue": 42})).unwrap(), "42");
        assert!(
            t.render(&json!({}))
                .unwrap_err()
                .contains("nothing at `/issue`")
        );
        assert!(
            t.render(&json!({"issue": {"x": 1}}))
                .unwrap_err()
                .contains("not a string")
        );
    }

    #[test]
    fn a_tools_own_template_holds_whatever_the_case_of_its_name() {
        let plan = McpPlan {
            resource: Some(Template::parse("{/owner}").unwrap()),
            tools: BTreeMap::from([(
                "delete_repo".to_owned(),
                Template::parse("{/owner}/{/repo}").unwrap(),
            )]),
        };
        let input = json!({"owner": "acme", "repo": "billing"});
        for name in ["delete_repo", "DELETE_REPO", "Delete_Repo"] {
            let t = plan.template(name).unwrap();
            assert_eq!(t.render(&input).unwrap(), "acme/billing", "{name}");
        }
        assert_eq!(
            plan.template("create_issue")
                .unwrap()
                .render(&input)
                .unwrap(),
            "acme"
        );
    }

    #[test]
    fn a_tool_without_a_resource_is_written_dash() {
        let spec = ToolCallsSpec {
            mcp: BTreeMap::from([(
                "fs".to_owned(),
                McpServerSpec {
                    resource: Some("/path".into()),
                    tools: BTreeMap::from([("list_allowed_directories".into(), "-".into())]),
                },
            )]),
            ..ToolCallsSpec::default()
        };
        let plan = spec.compile().unwrap();
        let fs = &plan.mcp["fs"];
        let t = fs.template("list_allowed_directories").unwrap();
        assert_eq!(t.render(&json!({})).unwrap(), "-");
        assert!(
            fs.template("read_text_file")
                .unwrap()
                .render(&json!({}))
                .is_err()
        );
    }

    #[test]
    fn bad_templates_say_what_to_write() {
        assert!(
            Template::parse("{owner}")
                .unwrap_err()
                .contains("not a JSON pointer")
        );
        assert!(
            Template::parse("{/owner")
                .unwrap_err()
                .contains("does not close")
        );
        assert!(
            Template::parse("acme/billing")
                .unwrap_err()
                .contains("names no part")
        );
        assert!(
            Template::parse("a}").unwrap_err().contains("names no part")
                || Template::parse("{/a}}").is_err()
        );
    }

    #[test]
    fn the_block_is_checked() {
        let spec = ToolCallsSpec {
            approval_wait: Some(Duration(0)),
            ..ToolCallsSpec::default()
        };
        assert_eq!(spec.compile().unwrap_err().0, "/approval_wait");
        let spec = ToolCallsSpec {
            git_hosts: Some(vec!["github.com/".into()]),
            ..ToolCallsSpec::default()
        };
        assert_eq!(spec.compile().unwrap_err().0, "/git_hosts/0");
        let plan = ToolCallsSpec::default().compile().unwrap();
        assert_eq!(plan, ToolPlan::default());
    }
}
