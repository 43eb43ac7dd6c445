//! Policy files: loading (one project, or a directory of projects), their
//! model, validation, and compilation into what a decision needs: per
//! project, agent and service, the rules handed to plugins; and who
//! administers and approves.
//!
//! Every error names the file, line and column, and says what to write
//! instead. Repeated list keys (the seed's repeated `allow:`) are merged in
//! order and reported as warnings; no rule is ever dropped silently.

pub mod alert_rules;
mod audit_plan;
pub mod budget_plan;
pub mod lint;
pub mod listing;
pub mod model;
mod parse;
mod people;
mod project;
mod rules;
mod set;
mod sources;
pub use crate::units;

use crate::error::{Error, Result};
use crate::runtime::PluginSpec;
use crate::runtime::types::Rule;
pub use model::Operator;
use model::{Budget, PolicyFile, RateLimits};
pub use parse::parse_file;
pub use people::Person;
pub use project::{Extras, compile_project};
pub use rules::split_compact;
pub use set::{PolicySet, Server, ServerDecl, assemble, assemble_among, compile, compile_server};
pub use sources::{Layout, ProjectSources, Root, Source, read_root};
use std::collections::BTreeMap;

/// A warning about a policy file (it still loads).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Warning {
    /// `file:line:col`.
    pub at: String,
    /// What and why.
    pub message: String,
}

/// One agent, compiled.
#[derive(Debug, Clone, Default)]
pub struct Agent {
    /// The agent's name.
    pub name: String,
    /// sha256 digests of its bearer tokens.
    pub token_hashes: Vec<[u8; 32]>,
    /// `file:line:col` of each token hash's entry.
    pub token_at: Vec<String>,
    /// Its rules, by service.
    pub rules: BTreeMap<String, Vec<Rule>>,
    /// Its budget.
    pub budget: Option<Budget>,
    /// Its rate limits.
    pub rate_limits: Option<RateLimits>,
}

/// One project's policy, loaded and validated.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Content hash of the project's files, e.g. `3f1c9a…` (16 hex digits).
    pub version: String,
    /// The project.
    pub project: String,
    /// `file:line:col` of its `project:` key (empty when none names it).
    pub project_at: String,
    /// Its folder under the policy root (`""` for a root that is one project).
    pub folder: String,
    /// Agents by name.
    pub agents: BTreeMap<String, Agent>,
    /// Service → plugin name.
    pub services: BTreeMap<String, String>,
    /// Plugins declared by the policy.
    pub plugins: BTreeMap<String, PluginSpec>,
    /// The project's custom plugins, in order.
    pub chain: Vec<String>,
    /// Where each plugin the policy names (as a service's plugin, in the
    /// chain or for masking) is first named: `file:line:col`.
    pub plugin_refs: BTreeMap<String, String>,
    /// Masking chains and operators.
    pub masking: MaskingPolicy,
    /// The project's own `audit:` block (a project of a directory of
    /// projects; in a one-project policy the block is the server's),
    /// compiled, and where it is (`file:line:col`).
    pub audit: Option<(crate::audit::Plan, String)>,
    /// The project's defaults for approval requests (`approvals:`), checked.
    pub approvals: model::ApprovalDefaults,
    /// The project's session limits (`sessions:`), checked.
    pub sessions: model::SessionDefaults,
    /// The project's alert rules (`alerts:`), compiled.
    pub alerts: std::sync::Arc<Vec<alert_rules::AlertRule>>,
    /// The project's budget, its rate limit and its time zone, checked.
    pub budgets: budget_plan::BudgetPlan,
    /// How tool calls become requests (`tool_calls:`), checked.
    pub tool_calls: crate::toolcall::plan::ToolPlan,
    /// The files, in load order, with their parsed contents.
    pub files: Vec<(String, PolicyFile)>,
    /// Warnings.
    pub warnings: Vec<Warning>,
}

/// An agent's session limits, in seconds: its `budget`'s keys, else the
/// project's `sessions:` block.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionLimits {
    /// A session with no decision for this long is over.
    pub idle_timeout_s: Option<u64>,
    /// A session this long after its first decision is over.
    pub max_duration_s: Option<u64>,
}

impl Policy {
    /// `agent`'s session limits.
    pub fn session_limits(&self, agent: &Agent) -> SessionLimits {
        let b = agent.budget.as_ref();
        SessionLimits {
            idle_timeout_s: b
                .and_then(|b| b.session_idle_timeout)
                .or(self.sessions.idle_timeout)
                .map(|d| d.0),
            max_duration_s: b
                .and_then(|b| b.max_session_duration)
                .or(self.sessions.max_duration)
                .map(|d| d.0),
        }
    }
}

/// What the policy says about masking.
#[derive(Debug, Clone)]
pub struct MaskingPolicy {
    /// The project's masking plugins, run on every masking request.
    pub chain: Vec<String>,
    /// Masking plugins of a service, run first for data from that service.
    pub services: BTreeMap<String, Vec<String>>,
    /// The operator for each kind.
    pub operators: BTreeMap<String, Operator>,
    /// The operator for kinds not in `operators`.
    pub default: Operator,
}

impl Default for MaskingPolicy {
    fn default() -> Self {
        Self {
            chain: vec!["pii".into(), "secrets".into()],
            services: BTreeMap::new(),
            operators: BTreeMap::new(),
            default: Operator::Redact,
        }
    }
}

impl MaskingPolicy {
    /// The operator for `kind`.
    pub fn operator(&self, kind: &str) -> Operator {
        self.operators.get(kind).copied().unwrap_or(self.default)
    }

    /// The masking plugins for data from `service`: the service's own, then
    /// the project's, each once.
    pub fn chain_for(&self, service: &str) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        let own = self.services.get(service).into_iter().flatten();
        for name in own.chain(&self.chain) {
            if !out.contains(&name.as_str()) {
                out.push(name);
            }
        }
        out
    }

    /// Every masking plugin the policy names.
    pub fn plugins(&self) -> impl Iterator<Item = &String> {
        self.chain.iter().chain(self.services.values().flatten())
    }
}

impl Policy {
    /// Checks that every plugin the policy uses (as a service's plugin, in
    /// the chain or for masking) is declared: in the policy, built in, or
    /// `declared`.
    pub fn check_plugins(&self, declared: impl Fn(&str) -> bool) -> Result<()> {
        for name in self
            .services
            .values()
            .chain(self.chain.iter())
            .chain(self.masking.plugins())
        {
            if !declared(name)
                && !self.plugins.contains_key(name)
                && crate::builtin::plugin(name).is_none()
            {
                return Err(Error::Config {
                    path: self.named_at(name),
                    message: format!(
                        "plugin `{name}` is used but not declared; add it under `plugins:` or use a built-in one"
                    ),
                });
            }
        }
        Ok(())
    }

    /// Where `plugin` is first named (`file:line:col`), or the first file.
    pub fn named_at(&self, plugin: &str) -> String {
        self.plugin_refs.get(plugin).cloned().unwrap_or_else(|| {
            self.files
                .first()
                .map(|(f, _)| f.clone())
                .unwrap_or_default()
        })
    }

    /// The plugin serving `service`: its binding in `services:`, else the
    /// built-in plugin of the same name (`aws`, `git`, `stripe`), else the
    /// generic `glob` plugin.
    pub fn plugin_for<'a>(&'a self, service: &'a str) -> &'a str {
        match self.services.get(service) {
            Some(plugin) => plugin,
            None if crate::builtin::plugin(service).is_some() => service,
            None => "glob",
        }
    }
}

#[cfg(test)]
mod tests;
