//! Policy files: loading (one file or a directory of `.yaml` files), their
//! model, validation, and compilation into what a decision needs: per agent and
//! service, the rules handed to plugins.
//!
//! Every error names the file, line and column, and says what to write
//! instead. Repeated list keys (the seed's repeated `allow:`) are merged in
//! order and reported as warnings; no rule is ever dropped silently.

mod audit_plan;
pub mod lint;
pub mod model;
pub mod units;

use crate::config::PluginSpec;
use crate::error::{Error, Result};
use crate::runtime::types::{ApprovalSettings, Effect, Qualifier, Rule};
use crate::yaml::{self, Document, Pos};
use cap_std::fs::Dir;
pub use model::Operator;
use model::{AgentSpec, Budget, CompactRule, PolicyFile, RateLimits, StructuredRule};
use sha2::{Digest, Sha256};
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
    /// Its rules, by service.
    pub rules: BTreeMap<String, Vec<Rule>>,
    /// Its budget.
    pub budget: Option<Budget>,
    /// Its rate limits.
    pub rate_limits: Option<RateLimits>,
}

/// A loaded, validated policy.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Content hash of every file, e.g. `3f1c9a…` (16 hex digits).
    pub version: String,
    /// The project.
    pub project: String,
    /// Agents by name.
    pub agents: BTreeMap<String, Agent>,
    /// Service → plugin name.
    pub services: BTreeMap<String, String>,
    /// Plugins declared by the policy.
    pub plugins: BTreeMap<String, PluginSpec>,
    /// The project's custom plugins, in order.
    pub chain: Vec<String>,
    /// Masking chains and operators.
    pub masking: MaskingPolicy,
    /// Export and retention of the audit trail (the `audit:` block).
    pub audit: crate::audit::Plan,
    /// Administrators by name, with the sha256 digests of their tokens.
    pub admins: BTreeMap<String, Vec<[u8; 32]>>,
    /// The files, in load order, with their parsed contents.
    pub files: Vec<(String, PolicyFile)>,
    /// Warnings.
    pub warnings: Vec<Warning>,
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
                let at = self
                    .files
                    .first()
                    .map(|(f, _)| f.clone())
                    .unwrap_or_default();
                return Err(Error::Config {
                    path: at,
                    message: format!(
                        "plugin `{name}` is used but not declared; add it under `plugins:` or use a built-in one"
                    ),
                });
            }
        }
        Ok(())
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

/// A policy source text and its name (for messages).
pub struct Source {
    /// The name shown in messages and in rule ids (so in the reasons agents
    /// read), relative to the policy root, e.g. `ci.yaml`: never the
    /// server's absolute paths.
    pub name: String,
    /// The text.
    pub text: String,
}

/// Reads `name` (a file, or a directory whose `.yaml`/`.yml` files are read in
/// name order) from `dir`. Each source is named relative to `name`, the
/// policy root: a file by its file name, a directory's files by theirs;
/// `display` names the root in errors about the root itself.
pub fn read_sources(dir: &Dir, name: &str, display: &str) -> Result<Vec<Source>> {
    let io = |e: std::io::Error| Error::Config {
        path: display.to_owned(),
        message: format!(
            "cannot read the policy (paths cannot leave the configuration's directory): {e}"
        ),
    };
    let meta = dir.metadata(name).map_err(io)?;
    if meta.is_file() {
        let text = dir.read_to_string(name).map_err(io)?;
        let file_name = std::path::Path::new(name)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(name);
        return Ok(vec![Source {
            name: file_name.to_owned(),
            text,
        }]);
    }
    let sub = dir.open_dir(name).map_err(io)?;
    let mut names: Vec<String> = sub
        .entries()
        .map_err(io)?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(".yaml") || n.ends_with(".yml"))
        .collect();
    names.sort();
    if names.is_empty() {
        return Err(Error::Config {
            path: display.to_owned(),
            message: "the policy directory holds no `.yaml` or `.yml` files".into(),
        });
    }
    names
        .into_iter()
        .map(|n| {
            let text = sub.read_to_string(&n).map_err(io)?;
            Ok(Source { name: n, text })
        })
        .collect()
}

fn err_at(file: &str, pos: Pos, message: impl Into<String>) -> Error {
    Error::Config {
        path: format!("{file}:{pos}"),
        message: message.into(),
    }
}

/// One warning for each `budget`, `project_budget` and `rate_limits` block
/// of `file` and its `agents`: they are read and checked, but this version
/// enforces none of them, and a policy author must not believe otherwise.
fn not_yet_enforced(
    file: &PolicyFile,
    agents: &[(String, AgentSpec, String)],
    at: &dyn Fn(&str) -> String,
) -> Vec<Warning> {
    let warning = |pointer: String, key: &str| Warning {
        at: at(&pointer),
        message: format!(
            "`{key}` is not enforced yet: this version of Palisade checks the block but \
             neither counts usage nor denies or throttles over it; enforce it elsewhere \
             (e.g. at the gateway) until a release that enforces it"
        ),
    };
    let mut out = Vec::new();
    if file.budget.is_some() {
        out.push(warning("/budget".into(), "budget"));
    }
    if file.project_budget.is_some() {
        out.push(warning("/project_budget".into(), "project_budget"));
    }
    if file.rate_limits.is_some() {
        out.push(warning("/rate_limits".into(), "rate_limits"));
    }
    for (_, spec, pointer) in agents {
        if spec.budget.is_some() {
            out.push(warning(format!("{pointer}/budget"), "budget"));
        }
        if spec.rate_limits.is_some() {
            out.push(warning(format!("{pointer}/rate_limits"), "rate_limits"));
        }
    }
    out
}

/// Parses one file's text: the file, its positioned document, and warnings.
pub fn parse_file(name: &str, text: &str) -> Result<(PolicyFile, Document, Vec<Warning>)> {
    let doc = yaml::parse(text).map_err(|e| {
        let hint = seed_compact_hint(text, e.pos.line);
        err_at(name, e.pos, format!("{}{hint}", e.message))
    })?;
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

/// Parses, validates and compiles `sources` into a policy.
pub fn compile(sources: &[Source]) -> Result<Policy> {
    let mut policy = Policy::default();
    let mut hasher = Sha256::new();
    let mut project: Option<(String, String)> = None;
    let mut identities: Vec<(String, String, Vec<String>)> = Vec::new();
    let mut admin_at: BTreeMap<String, String> = BTreeMap::new();
    let mut bound_services = std::collections::BTreeSet::new();
    let mut masking_at: Option<String> = None;
    let mut audit_at: Option<String> = None;
    for source in sources {
        hasher.update(source.name.as_bytes());
        hasher.update([0]);
        hasher.update(source.text.as_bytes());
        hasher.update([0]);
        let (file, doc, warnings) = parse_file(&source.name, &source.text)?;
        policy.warnings.extend(warnings);
        let loc = Locator {
            file: &source.name,
            doc: &doc,
        };
        let at = |pointer: &str| loc.at(pointer);
        let fail = |pointer: &str, message: String| Error::Config {
            path: at(pointer),
            message,
        };

        if let Some(p) = &file.project {
            match &project {
                Some((other, where_)) if other != p => {
                    return Err(fail(
                        "/project",
                        format!(
                            "project `{p}` differs from `{other}` in {where_}; one policy is one project"
                        ),
                    ));
                }
                _ => project = Some((p.clone(), source.name.clone())),
            }
        }
        let mut agents: Vec<(String, AgentSpec, String)> = file
            .agents
            .iter()
            .map(|(n, a)| (n.clone(), a.clone(), format!("/agents/{n}")))
            .collect();
        if !file.policies.is_empty() || file.agent.is_some() {
            let name = match &file.agent {
                Some(a) => a.clone(),
                None => file_stem(&source.name),
            };
            agents.push((
                name,
                AgentSpec {
                    policies: file.policies.clone(),
                    ..AgentSpec::default()
                },
                String::new(),
            ));
        }
        policy
            .warnings
            .extend(not_yet_enforced(&file, &agents, &at));
        for (name, spec, pointer) in agents {
            if policy.agents.contains_key(&name) {
                return Err(fail(
                    &pointer,
                    format!("agent `{name}` is defined twice; define each agent once"),
                ));
            }
            let agent = compile_agent(&name, &spec, &pointer, &loc, file.budget, file.rate_limits)?;
            policy.agents.insert(name, agent);
        }
        for (service, binding) in &file.services {
            let pointer = format!("/services/{service}");
            if !bound_services.insert(service.clone()) {
                return Err(fail(
                    &pointer,
                    format!("service `{service}` is bound twice"),
                ));
            }
            if binding.plugin.is_none() && binding.masking.is_empty() {
                return Err(fail(
                    &pointer,
                    format!(
                        "service `{service}` names no plugin; write `plugin: NAME`, `masking: [NAME]` or both"
                    ),
                ));
            }
            if let Some(plugin) = &binding.plugin {
                policy.services.insert(service.clone(), plugin.clone());
            }
            if !binding.masking.is_empty() {
                policy
                    .masking
                    .services
                    .insert(service.clone(), binding.masking.clone());
            }
        }
        if let Some(masking) = &file.masking {
            if let Some(other) = masking_at.replace(source.name.clone()) {
                return Err(fail(
                    "/masking",
                    format!("`masking` is configured in {other} already; configure it once"),
                ));
            }
            if let Some(chain) = &masking.chain {
                if chain.is_empty() {
                    policy.warnings.push(Warning {
                        at: at("/masking/chain"),
                        message: "`masking.chain` is empty: data from a service without its own \
                                  `masking` plugins is returned and audited unmasked"
                            .into(),
                    });
                }
                policy.masking.chain = chain.clone();
            }
            let mut operators = masking.operators.clone();
            if let Some(default) = operators.remove("default") {
                policy.masking.default = default;
            }
            policy.masking.operators = operators;
        }
        if let Some(block) = &file.audit {
            if let Some(other) = audit_at.replace(source.name.clone()) {
                return Err(fail(
                    "/audit",
                    format!("`audit` is configured in {other} already; configure it once"),
                ));
            }
            let (plan, warnings) = audit_plan::compile(block, &at)?;
            policy.audit = plan;
            policy.warnings.extend(warnings);
        }
        for (name, spec) in &file.plugins {
            let pointer = format!("/plugins/{name}");
            spec.validate()
                .map_err(|m| fail(&pointer, format!("plugin `{name}`: {m}")))?;
            if policy.plugins.insert(name.clone(), spec.clone()).is_some() {
                return Err(fail(&pointer, format!("plugin `{name}` is declared twice")));
            }
        }
        for (admin, tokens) in &file.admins {
            let at_admin = at(&format!("/admins/{admin}"));
            let hashes = tokens
                .iter()
                .map(|t| token_hash(t, admin, &at_admin))
                .collect::<Result<Vec<_>>>()?;
            admin_at.insert(admin.clone(), at_admin.clone());
            if policy.admins.insert(admin.clone(), hashes).is_some() {
                return Err(Error::Config {
                    path: at_admin,
                    message: format!("admin `{admin}` is defined twice"),
                });
            }
        }
        for (agent, tokens) in &file.identities {
            identities.push((
                agent.clone(),
                at(&format!("/identities/{agent}")),
                tokens.clone(),
            ));
        }
        policy.chain.extend(file.chain.iter().cloned());
        policy.files.push((source.name.clone(), file));
    }
    for (name, at, tokens) in identities {
        let agent = policy.agents.get_mut(&name).ok_or_else(|| Error::Config {
            path: at.clone(),
            message: format!("`identities` names agent `{name}`, which no policy defines"),
        })?;
        for t in &tokens {
            agent.token_hashes.push(token_hash(t, &name, &at)?);
        }
    }
    check_identities(&policy, &admin_at)?;
    policy.project = project.map(|(p, _)| p).unwrap_or_else(|| "default".into());
    policy.version = hex::encode(hasher.finalize())[..16].to_owned();
    Ok(policy)
}

/// Every token hash must name one identity: an agent name is never an admin
/// name, and no hash is held by two agents (shared credentials make the audit
/// trail unable to say who acted) or by an agent and an admin (the agent could
/// administer).
fn check_identities(policy: &Policy, admin_at: &BTreeMap<String, String>) -> Result<()> {
    for (admin, at) in admin_at {
        if policy.agents.contains_key(admin) {
            return Err(Error::Config {
                path: at.clone(),
                message: format!(
                    "`{admin}` is both an agent and an admin; an agent can never administer"
                ),
            });
        }
    }
    let mut owner: BTreeMap<[u8; 32], &str> = BTreeMap::new();
    let agents = policy
        .agents
        .values()
        .map(|a| (a.name.as_str(), &a.token_hashes));
    let admins = policy.admins.iter().map(|(n, h)| (n.as_str(), h));
    for (name, hashes) in agents.chain(admins) {
        for hash in hashes {
            if let Some(other) = owner.insert(*hash, name)
                && other != name
            {
                let at = admin_at.get(name).cloned().unwrap_or_else(|| {
                    policy
                        .files
                        .first()
                        .map(|(f, _)| f.clone())
                        .unwrap_or_default()
                });
                return Err(Error::Config {
                    path: at,
                    message: format!(
                        "`{other}` and `{name}` hold the same token hash; give every agent and                          admin its own token (`palisade token new NAME`)"
                    ),
                });
            }
        }
    }
    Ok(())
}

/// Parses `sha256:<hex>`; anything else (a plaintext token) is refused.
fn token_hash(entry: &str, agent: &str, at: &str) -> Result<[u8; 32]> {
    let hex = entry.strip_prefix("sha256:").ok_or_else(|| Error::Config {
        path: at.to_owned(),
        message: "a token entry is `sha256:<64 hex digits>`, the hash `palisade token new` prints; never the token itself".into(),
    })?;
    let mut digest = [0u8; 32];
    hex::decode_to_slice(hex, &mut digest).map_err(|_| Error::Config {
        path: at.to_owned(),
        message: format!(
            "`{entry}` is not a sha256 digest; write the line `palisade token new {agent}` prints"
        ),
    })?;
    Ok(digest)
}

fn file_stem(name: &str) -> String {
    let base = name.rsplit('/').next().unwrap_or(name);
    base.trim_end_matches(".yaml")
        .trim_end_matches(".yml")
        .to_owned()
}

/// Where things are in one policy file.
struct Locator<'a> {
    file: &'a str,
    doc: &'a Document,
}

impl Locator<'_> {
    /// `file:line:col` of the node at `pointer` (or its nearest ancestor).
    fn at(&self, pointer: &str) -> String {
        format!("{}:{}", self.file, self.doc.pos(pointer))
    }

    /// `file:line`: a rule's id.
    fn rule_id(&self, pointer: &str) -> String {
        format!("{}:{}", self.file, self.doc.pos(pointer).line)
    }
}

fn compile_agent(
    name: &str,
    spec: &AgentSpec,
    pointer: &str,
    loc: &Locator<'_>,
    file_budget: Option<Budget>,
    file_rates: Option<RateLimits>,
) -> Result<Agent> {
    let mut agent = Agent {
        name: name.to_owned(),
        budget: spec.budget.or(file_budget),
        rate_limits: spec.rate_limits.or(file_rates),
        ..Agent::default()
    };
    for (i, t) in spec.tokens.iter().enumerate() {
        let digest = token_hash(t, name, &loc.at(&format!("{pointer}/tokens/{i}")))?;
        agent.token_hashes.push(digest);
    }
    let lists = [
        ("allow", Effect::Allow, &spec.allow),
        (
            "require_approval",
            Effect::RequireApproval,
            &spec.require_approval,
        ),
        ("deny", Effect::Deny, &spec.deny),
    ];
    for (key, effect, rules) in lists {
        for (i, r) in rules.iter().enumerate() {
            let rule = structured(r, effect, loc.rule_id(&format!("{pointer}/{key}/{i}")));
            agent.rules.entry(r.service.clone()).or_default().push(rule);
        }
    }
    let base = if pointer.is_empty() {
        String::new()
    } else {
        pointer.to_owned()
    };
    for (i, r) in spec.policies.iter().enumerate() {
        let p = format!("{base}/policies/{i}");
        let (service, rule) = compact(r, loc.rule_id(&p)).map_err(|message| Error::Config {
            path: loc.at(&p),
            message,
        })?;
        agent.rules.entry(service).or_default().push(rule);
    }
    Ok(agent)
}

fn approval(
    channel: &Option<String>,
    timeout: Option<units::Duration>,
) -> Option<ApprovalSettings> {
    if channel.is_none() && timeout.is_none() {
        return None;
    }
    Some(ApprovalSettings {
        channel: channel.clone(),
        timeout_seconds: timeout.map(|d| u32::try_from(d.0).unwrap_or(u32::MAX)),
    })
}

fn structured(r: &StructuredRule, effect: Effect, id: String) -> Rule {
    let mut qualifiers = Vec::new();
    if let Some(b) = &r.branches {
        qualifiers.push(Qualifier {
            name: "branch".into(),
            values: b.clone(),
        });
    }
    Rule {
        id,
        effect,
        actions: r.actions.clone().unwrap_or_else(|| vec!["*".into()]),
        resources: r.resources.clone().unwrap_or_else(|| vec!["*".into()]),
        qualifiers,
        approval: approval(&r.approval_channel, r.approval_timeout),
    }
}

/// Splits `service:action on resource`.
pub fn split_compact(line: &str) -> Result<(String, String, String), String> {
    let form = "write `service:action on resource`, e.g. `git:read on repos/*`";
    let (left, resource) = line
        .split_once(" on ")
        .ok_or_else(|| format!("`{line}` has no ` on `; {form}"))?;
    let (service, action) = left
        .trim()
        .split_once(':')
        .ok_or_else(|| format!("`{left}` names no service; {form}"))?;
    let resource = resource.trim();
    if service.is_empty() || action.is_empty() || resource.is_empty() || resource.contains(' ') {
        return Err(format!("`{line}` is not a compact rule; {form}"));
    }
    Ok((service.to_owned(), action.to_owned(), resource.to_owned()))
}

fn compact(r: &CompactRule, id: String) -> Result<(String, Rule), String> {
    let (line, effect, appr) = match r {
        CompactRule::Line(l) => (l.as_str(), Effect::Allow, None),
        CompactRule::Detailed(d) => {
            let effect = match (d.deny, d.requires_approval) {
                (true, true) => {
                    return Err(
                        "a rule cannot both `deny` and have `requires_approval`; pick one".into(),
                    );
                }
                (true, false) => Effect::Deny,
                (false, true) => Effect::RequireApproval,
                (false, false) => Effect::Allow,
            };
            (
                d.rule.as_str(),
                effect,
                approval(&d.approval_channel, d.approval_timeout),
            )
        }
    };
    let (service, action, resource) = split_compact(line)?;
    let rule = Rule {
        id,
        effect,
        actions: vec![action],
        resources: vec![resource],
        qualifiers: vec![],
        approval: appr,
    };
    Ok((service, rule))
}

#[cfg(test)]
mod tests;
