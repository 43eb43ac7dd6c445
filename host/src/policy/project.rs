//! Compiling one project: its files (seed 001's, verbatim) into a
//! [`Policy`]: agents and their rules, identities, services, plugins, chain
//! and masking. Where the root is one project, its files may also declare
//! the server's people (`admins`, `roles`) and the audit trail's `audit`
//! block; in a directory of projects those belong to the top-level files.

use super::model::AgentSpec;
use super::parse::{parse_file, top_key_at};
use super::people::{self, Declared, token_hash};
use super::rules::{Locator, compile_agent};
use super::{Layout, Policy, Source, Warning, audit_plan, budget_plan};
use crate::error::{Error, Result};
use sha2::{Digest, Sha256};

/// What a project's files declare beyond the project itself (only where
/// the root is one project).
#[derive(Debug, Default)]
pub struct Extras {
    /// `admins:` and `roles:` entries.
    pub people: Vec<Declared>,
    /// The `audit:` block, compiled, and the file it is in.
    pub audit: Option<(crate::audit::Plan, String)>,
}

/// Parses, validates and compiles the files of one project (`folder` is its
/// folder under the root, `""` for a root that is one project).
pub fn compile_project(
    folder: &str,
    sources: &[Source],
    layout: Layout,
) -> Result<(Policy, Extras)> {
    let mut policy = Policy {
        folder: folder.to_owned(),
        ..Policy::default()
    };
    let mut extras = Extras::default();
    let mut hasher = Sha256::new();
    let mut project: Option<(String, String)> = None;
    let mut identities: Vec<(String, String, Vec<String>)> = Vec::new();
    let mut bound_services = std::collections::BTreeSet::new();
    let mut masking_at: Option<String> = None;
    let mut audit_at: Option<String> = None;
    let mut approvals_at: Option<String> = None;
    let mut sessions_at: Option<String> = None;
    let mut alerts_at: Option<String> = None;
    let mut tool_calls_at: Option<String> = None;
    let mut project_budget_at: Option<String> = None;
    let mut project_rate_at: Option<String> = None;
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

        match &file.project {
            Some(p) => match &project {
                Some((other, where_)) if other != p => {
                    return Err(fail(
                        "/project",
                        format!(
                            "project `{p}` differs from `{other}` in {where_}; one folder is one project"
                        ),
                    ));
                }
                _ => {
                    crate::identity::check_project_name(p).map_err(|m| fail("/project", m))?;
                    project = Some((p.clone(), at("/project")));
                }
            },
            None if layout == Layout::Projects => {
                return Err(Error::Config {
                    // The key belongs on the first line.
                    path: format!("{}:1:1", source.name),
                    message: format!(
                        "this file names no project; in a directory of projects every file \
                         starts with `project: NAME` (the project of folder `{folder}/`)"
                    ),
                });
            }
            None => {}
        }
        if layout == Layout::Projects {
            let server_only = [
                (!file.admins.is_empty(), "admins"),
                (!file.roles.is_empty(), "roles"),
            ];
            if let Some((_, key)) = server_only.iter().find(|(set, _)| *set) {
                return Err(Error::Config {
                    path: top_key_at(&source.name, &source.text, key),
                    message: format!(
                        "`{key}` belongs in a top-level file of the policy directory, beside \
                         the project folders: it is the server's, not one project's"
                    ),
                });
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
        let budgets = std::iter::once(("/budget".to_owned(), file.budget.as_ref())).chain(
            agents
                .iter()
                .map(|(_, a, p)| (format!("{p}/budget"), a.budget.as_ref())),
        );
        for (pointer, budget) in budgets {
            if let Some(b) = budget {
                budget_plan::check_budget(&pointer, b, &fail)?;
            }
        }
        let rates = std::iter::once(("/rate_limits".to_owned(), file.rate_limits.as_ref())).chain(
            agents
                .iter()
                .map(|(_, a, p)| (format!("{p}/rate_limits"), a.rate_limits.as_ref())),
        );
        for (pointer, rate) in rates {
            if let Some(r) = rate {
                budget_plan::check_rate(&pointer, r, &fail)?;
            }
        }
        if let Some(b) = &file.project_budget {
            if let Some(other) = project_budget_at.replace(source.name.clone()) {
                return Err(fail(
                    "/project_budget",
                    format!("`project_budget` is configured in {other} already; configure it once"),
                ));
            }
            let (tz, name) = budget_plan::check_project_budget(b, &fail)?;
            policy.budgets.time_zone = tz;
            policy.budgets.time_zone_name = name;
            policy.budgets.project = Some(b.clone());
        }
        if let Some(r) = &file.project_rate_limits {
            if let Some(other) = project_rate_at.replace(source.name.clone()) {
                return Err(fail(
                    "/project_rate_limits",
                    format!(
                        "`project_rate_limits` is configured in {other} already; configure it once"
                    ),
                ));
            }
            budget_plan::check_rate("/project_rate_limits", r, &fail)?;
            policy.budgets.project_rate = Some(r.clone());
        }
        for (name, spec, pointer) in agents {
            if policy.agents.contains_key(&name) {
                return Err(fail(
                    &pointer,
                    format!("agent `{name}` is defined twice; define each agent once"),
                ));
            }
            let agent = compile_agent(
                &name,
                &spec,
                &pointer,
                &loc,
                file.budget.clone(),
                file.rate_limits.clone(),
            )?;
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
                refer(&mut policy, plugin, at(&format!("{pointer}/plugin")));
            }
            for (i, plugin) in binding.masking.iter().enumerate() {
                refer(&mut policy, plugin, at(&format!("{pointer}/masking/{i}")));
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
                for (i, plugin) in chain.iter().enumerate() {
                    refer(&mut policy, plugin, at(&format!("/masking/chain/{i}")));
                }
                policy.masking.chain = chain.clone();
            }
            let mut operators = masking.operators.clone();
            if let Some(default) = operators.remove("default") {
                policy.masking.default = default;
            }
            policy.masking.operators = operators;
        }
        if let Some(defaults) = &file.approvals {
            if let Some(other) = approvals_at.replace(source.name.clone()) {
                return Err(fail(
                    "/approvals",
                    format!("`approvals` is configured in {other} already; configure it once"),
                ));
            }
            if let Some(c) = &defaults.channel {
                crate::notify::Channel::parse(c).map_err(|m| fail("/approvals/channel", m))?;
            }
            if defaults
                .timeout
                .is_some_and(|t| t.0 == 0 || t.0 > super::rules::MAX_APPROVAL_TIMEOUT_S)
            {
                return Err(fail(
                    "/approvals/timeout",
                    "`approvals.timeout` must be 1s to 30d (e.g. `60m`)".into(),
                ));
            }
            policy.approvals = defaults.clone();
        }
        if let Some(limits) = &file.sessions {
            if let Some(other) = sessions_at.replace(source.name.clone()) {
                return Err(fail(
                    "/sessions",
                    format!("`sessions` is configured in {other} already; configure it once"),
                ));
            }
            for (key, d) in [
                ("idle_timeout", limits.idle_timeout),
                ("max_duration", limits.max_duration),
            ] {
                if d.is_some_and(|d| d.0 == 0) {
                    return Err(fail(
                        &format!("/sessions/{key}"),
                        format!("`sessions.{key}` must be at least 1s (e.g. `2h`)"),
                    ));
                }
            }
            policy.sessions = *limits;
        }
        if let Some(spec) = &file.tool_calls {
            if let Some(other) = tool_calls_at.replace(source.name.clone()) {
                return Err(fail(
                    "/tool_calls",
                    format!("`tool_calls` is configured in {other} already; configure it once"),
                ));
            }
            policy.tool_calls = spec
                .compile()
                .map_err(|(at, m)| fail(&format!("/tool_calls{at}"), m))?;
        }
        if let Some(specs) = &file.alerts {
            if let Some(other) = alerts_at.replace(source.name.clone()) {
                return Err(fail(
                    "/alerts",
                    format!("`alerts` is configured in {other} already; configure it once"),
                ));
            }
            policy.alerts = std::sync::Arc::new(super::alert_rules::compile(specs, &fail)?);
        }
        if let Some(block) = &file.audit {
            if let Some(other) = audit_at.replace(source.name.clone()) {
                return Err(fail(
                    "/audit",
                    format!("`audit` is configured in {other} already; configure it once"),
                ));
            }
            let (plan, warnings) = audit_plan::compile(block, &at)?;
            // A project of a directory of projects has its own trail's
            // block; a one-project policy's block is the server's too.
            match layout {
                Layout::Projects => policy.audit = Some((plan, at("/audit"))),
                Layout::Project => extras.audit = Some((plan, source.name.clone())),
            }
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
        extras.people.extend(people::declared_in(&file, &at)?);
        for (agent, tokens) in &file.identities {
            identities.push((
                agent.clone(),
                at(&format!("/identities/{agent}")),
                tokens.clone(),
            ));
        }
        for (i, plugin) in file.chain.iter().enumerate() {
            refer(&mut policy, plugin, at(&format!("/chain/{i}")));
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
            agent.token_at.push(at.clone());
        }
    }
    let (name, at) = project.unwrap_or_else(|| ("default".into(), String::new()));
    policy.project = name;
    policy.project_at = at;
    policy.version = hex::encode(hasher.finalize())[..16].to_owned();
    Ok((policy, extras))
}

/// Notes where `plugin` is first named, for errors about it.
fn refer(policy: &mut Policy, plugin: &str, at: String) {
    policy.plugin_refs.entry(plugin.to_owned()).or_insert(at);
}

fn file_stem(name: &str) -> String {
    let base = name.rsplit('/').next().unwrap_or(name);
    base.trim_end_matches(".yaml")
        .trim_end_matches(".yml")
        .to_owned()
}
