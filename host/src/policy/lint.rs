//! The floor of "RBAC for AI agents": no wildcard actions, no wildcard
//! resources, push to main requires approval, data deletion requires
//! approval, no IAM actions. Each finding points at its rule's `file:line`.

use super::{Agent, Policy};
use crate::runtime::types::{Effect, Rule};
use palisade_guest::glob::matches_ignore_case as glob_ci;

/// One lint finding.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    /// `file:line` of the rule.
    pub at: String,
    /// Short name of the check, e.g. `wildcard-action`.
    pub check: &'static str,
    /// What is wrong and what to write instead.
    pub message: String,
}

/// Every finding of every agent.
pub fn lint(policy: &Policy) -> Vec<Finding> {
    let mut out = Vec::new();
    for agent in policy.agents.values() {
        lint_agent(agent, &mut out);
    }
    out
}

fn grants(rule: &Rule) -> bool {
    rule.effect == Effect::Allow
}

fn is_wild_resource(r: &str) -> bool {
    r.chars().all(|c| c == '*')
        || r.rsplit(':')
            .next()
            .is_some_and(|last| r.starts_with("arn:") && last.chars().all(|c| c == '*'))
}

/// True when some rule of `rules` with one of `effects` covers `action` on the
/// branch `branch` (a rule without branches covers every branch).
fn gated(rules: &[Rule], action: &str, branch: Option<&str>) -> bool {
    rules.iter().any(|r| {
        r.effect != Effect::Allow
            && r.actions.iter().any(|p| glob_ci(p, action))
            && match (branch, r.qualifiers.iter().find(|q| q.name == "branch")) {
                (Some(b), Some(q)) => q.values.iter().any(|p| glob_ci(p, b)),
                _ => true,
            }
    })
}

fn lint_agent(agent: &Agent, out: &mut Vec<Finding>) {
    for (service, rules) in &agent.rules {
        for rule in rules.iter().filter(|r| grants(r)) {
            let mut add = |check, message: String| {
                out.push(Finding {
                    at: rule.id.clone(),
                    check,
                    message,
                })
            };
            for a in rule.actions.iter().filter(|a| a.contains('*')) {
                add(
                    "wildcard-action",
                    format!(
                        "agent `{}` is allowed `{a}` on `{service}`; list the specific actions it needs",
                        agent.name
                    ),
                );
            }
            for r in rule.resources.iter().filter(|r| is_wild_resource(r)) {
                add(
                    "wildcard-resource",
                    format!(
                        "agent `{}` is allowed `{}` on every `{service}` resource (`{r}`); scope it to the buckets, repos or objects it needs",
                        agent.name,
                        rule.actions.join(", ")
                    ),
                );
            }
            if service == "git" && rule.actions.iter().any(|a| glob_ci(a, "push")) {
                let branches = rule.qualifiers.iter().find(|q| q.name == "branch");
                let reaches_main =
                    branches.is_none_or(|q| q.values.iter().any(|p| glob_ci(p, "main")));
                if reaches_main && !gated(rules, "push", Some("main")) {
                    add(
                        "push-to-main",
                        format!(
                            "agent `{}` may push to `main` without approval; add `require_approval: [{{service: git, actions: [push], branches: [main]}}]`",
                            agent.name
                        ),
                    );
                }
            }
            for a in rule.actions.iter() {
                let deletes = a.to_ascii_lowercase().contains("delete") || a.contains('*');
                let probe = if service == "aws" {
                    "s3:DeleteObject"
                } else {
                    "delete"
                };
                if deletes
                    && (a.to_ascii_lowercase().contains("delete") || glob_ci(a, probe))
                    && !gated(rules, a, None)
                {
                    add(
                        "delete-without-approval",
                        format!(
                            "agent `{}` may `{a}` on `{service}` without approval; move it to `require_approval`",
                            agent.name
                        ),
                    );
                }
            }
            if service == "aws" && rule.actions.iter().any(|a| glob_ci(a, "iam:CreateUser")) {
                add(
                    "iam-action",
                    format!(
                        "agent `{}` is granted IAM actions; deny `iam:*` unless IAM is its explicit job",
                        agent.name
                    ),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Root, Source, compile};
    use super::*;

    fn findings(text: &str) -> Vec<(&'static str, String)> {
        let set = compile(&Root::project(vec![Source {
            name: "p.yaml".into(),
            text: text.into(),
        }]))
        .unwrap();
        let p = set.projects.values().next().unwrap();
        lint(p).into_iter().map(|f| (f.check, f.at)).collect()
    }

    #[test]
    fn seed_001_passes_the_floor() {
        let text = include_str!("../../../tests/policies/invoice-processor.yaml");
        let f = findings(text);
        // Stripe's read-only rule names no resources: the one finding.
        assert_eq!(f, [("wildcard-resource", "p.yaml:25".to_owned())]);
    }

    #[test]
    fn each_floor_rule_is_found_at_its_line() {
        let text = "agents:\n  a:\n    allow:\n      - service: aws\n        actions: [\"s3:*\"]\n        resources: [\"arn:aws:s3:::*\"]\n      - service: git\n        actions: [push]\n        resources: [acme/api]\n      - service: aws\n        actions: [\"iam:CreateUser\"]\n        resources: [\"arn:aws:iam::1:user/x\"]\n";
        let f = findings(text);
        let checks: Vec<&str> = f.iter().map(|(c, _)| *c).collect();
        assert!(checks.contains(&"wildcard-action"), "{f:?}");
        assert!(checks.contains(&"wildcard-resource"), "{f:?}");
        assert!(checks.contains(&"delete-without-approval"), "{f:?}");
        assert!(checks.contains(&"push-to-main"), "{f:?}");
        assert!(checks.contains(&"iam-action"), "{f:?}");
        assert!(
            f.iter()
                .any(|(c, at)| *c == "push-to-main" && at == "p.yaml:7"),
            "{f:?}"
        );
    }
}
