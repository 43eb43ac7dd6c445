//! One agent's rules, compiled from the structured form (`allow` /
//! `require_approval` / `deny` lists) and the compact form
//! (`service:action on resource` lines), each with its `file:line` id.

use super::model::{AgentSpec, Budget, CompactRule, RateLimits, StructuredRule};
use super::people::token_hash;
use super::{Agent, units};
use crate::error::{Error, Result};
use crate::runtime::types::{ApprovalSettings, Effect, Qualifier, Rule};
use crate::yaml::Document;

/// Where things are in one policy file.
pub(super) struct Locator<'a> {
    pub(super) file: &'a str,
    pub(super) doc: &'a Document,
}

impl Locator<'_> {
    /// `file:line:col` of the node at `pointer` (or its nearest ancestor).
    pub(super) fn at(&self, pointer: &str) -> String {
        format!("{}:{}", self.file, self.doc.pos(pointer))
    }

    /// `file:line`: a rule's id.
    fn rule_id(&self, pointer: &str) -> String {
        format!("{}:{}", self.file, self.doc.pos(pointer).line)
    }
}

pub(super) fn compile_agent(
    name: &str,
    spec: &AgentSpec,
    pointer: &str,
    loc: &Locator<'_>,
    file_budget: Option<Budget>,
    file_rates: Option<RateLimits>,
) -> Result<Agent> {
    let mut agent = Agent {
        name: name.to_owned(),
        budget: match spec.budget.clone() {
            Some(b) => Some(b.or_keys(file_budget)),
            None => file_budget,
        },
        rate_limits: match spec.rate_limits.clone() {
            Some(r) => Some(r.or_keys(file_rates.as_ref())),
            None => file_rates,
        },
        ..Agent::default()
    };
    for (i, t) in spec.tokens.iter().enumerate() {
        let at = loc.at(&format!("{pointer}/tokens/{i}"));
        agent.token_hashes.push(token_hash(t, name, &at)?);
        agent.token_at.push(at);
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
            let p = format!("{pointer}/{key}/{i}");
            let rule =
                structured(r, effect, loc.rule_id(&p)).map_err(|(key, message)| Error::Config {
                    path: loc.at(&key.map_or_else(|| p.clone(), |k| format!("{p}/{k}"))),
                    message,
                })?;
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
        let (service, rule) =
            compact(r, loc.rule_id(&p)).map_err(|(key, message)| Error::Config {
                path: loc.at(&key.map_or_else(|| p.clone(), |k| format!("{p}/{k}"))),
                message,
            })?;
        agent.rules.entry(service).or_default().push(rule);
    }
    Ok(agent)
}

/// The longest an approval may wait (30 days): its deadline must be a time
/// that can be written down.
pub const MAX_APPROVAL_TIMEOUT_S: u64 = 30 * 86_400;

/// A rule's error: the key it is at (under the rule), if one, and the
/// message.
type RuleError = (Option<&'static str>, String);

fn whole(message: String) -> RuleError {
    (None, message)
}

fn approval(
    channel: &Option<String>,
    timeout: Option<units::Duration>,
) -> std::result::Result<Option<ApprovalSettings>, RuleError> {
    if channel.is_none() && timeout.is_none() {
        return Ok(None);
    }
    if let Some(c) = channel {
        crate::notify::Channel::parse(c)
            .map_err(|e| (Some("approval_channel"), format!("`approval_channel`: {e}")))?;
    }
    if timeout.is_some_and(|t| t.0 == 0 || t.0 > MAX_APPROVAL_TIMEOUT_S) {
        return Err((
            Some("approval_timeout"),
            "`approval_timeout` must be 1s to 30d (e.g. `60m`)".into(),
        ));
    }
    Ok(Some(ApprovalSettings {
        channel: channel.clone(),
        timeout_seconds: timeout.map(|d| u32::try_from(d.0).unwrap_or(u32::MAX)),
    }))
}

fn structured(
    r: &StructuredRule,
    effect: Effect,
    id: String,
) -> std::result::Result<Rule, RuleError> {
    let mut qualifiers = Vec::new();
    if let Some(b) = &r.branches {
        qualifiers.push(Qualifier {
            name: "branch".into(),
            values: b.clone(),
        });
    }
    Ok(Rule {
        id,
        effect,
        actions: r.actions.clone().unwrap_or_else(|| vec!["*".into()]),
        resources: r.resources.clone().unwrap_or_else(|| vec!["*".into()]),
        qualifiers,
        approval: approval(&r.approval_channel, r.approval_timeout)?,
    })
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

fn compact(r: &CompactRule, id: String) -> std::result::Result<(String, Rule), RuleError> {
    let (line, effect, appr) = match r {
        CompactRule::Line(l) => (l.as_str(), Effect::Allow, None),
        CompactRule::Detailed(d) => {
            let effect = match (d.deny, d.requires_approval) {
                (true, true) => {
                    return Err(whole(
                        "a rule cannot both `deny` and have `requires_approval`; pick one".into(),
                    ));
                }
                (true, false) => Effect::Deny,
                (false, true) => Effect::RequireApproval,
                (false, false) => Effect::Allow,
            };
            (
                d.rule.as_str(),
                effect,
                approval(&d.approval_channel, d.approval_timeout)?,
            )
        }
    };
    let (service, action, resource) = split_compact(line).map_err(whole)?;
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
