//! Whether an agent's rules could ever let it do an action, whatever the
//! resource: what `palisade mcp-proxy` shows of a server's tools.
//!
//! A call is allowed only by an `allow` or `require_approval` rule (or a
//! live grant) whose actions match it: the service's plugin denies a
//! request no rule matches, and that deny wins over any other plugin's
//! allow. So a tool no such rule names can never be called, and is not
//! shown; neither is one that a `deny` rule refuses on every resource with
//! no qualifier. A tool that is shown is still decided in full on each
//! call, with its resource: showing it allows nothing.

use crate::runtime::types::{Effect, Rule};
use palisade_guest::glob::matches_ignore_case as glob_ci;

/// Whether `rules` (an agent's rules for one service, with its live
/// grants) could allow `action` on some resource: `Ok` with the first rule
/// that could, or `Err` with why none can.
pub fn offered<'a>(
    rules: impl IntoIterator<Item = &'a Rule>,
    action: &str,
) -> Result<String, String> {
    let mut could = None;
    for rule in rules {
        if !rule.actions.iter().any(|p| glob_ci(p, action)) {
            continue;
        }
        match rule.effect {
            Effect::Deny if denies_everywhere(rule) => {
                return Err(format!("denied on every resource by {}", rule.id));
            }
            Effect::Deny => {}
            Effect::Allow | Effect::RequireApproval => {
                could.get_or_insert_with(|| rule.id.clone());
            }
        }
    }
    could.ok_or_else(|| "no rule of this agent allows it".to_owned())
}

/// A deny rule with a resource pattern that is all `*` and no qualifier.
fn denies_everywhere(rule: &Rule) -> bool {
    rule.qualifiers.is_empty()
        && rule
            .resources
            .iter()
            .any(|r| !r.is_empty() && r.chars().all(|c| c == '*'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::types::Qualifier;

    fn rule(id: &str, effect: Effect, action: &str, resource: &str) -> Rule {
        Rule {
            id: id.into(),
            effect,
            actions: vec![action.into()],
            resources: vec![resource.into()],
            qualifiers: Vec::new(),
            approval: None,
        }
    }

    #[test]
    fn an_action_some_allow_or_approval_rule_names_is_offered() {
        let rules = [
            rule("p:1", Effect::Allow, "create_issue", "acme/*"),
            rule("p:2", Effect::RequireApproval, "merge_*", "acme/*"),
        ];
        assert_eq!(offered(&rules, "create_issue").unwrap(), "p:1");
        assert_eq!(offered(&rules, "MERGE_pull_request").unwrap(), "p:2");
        assert!(
            offered(&rules, "delete_repo")
                .unwrap_err()
                .contains("no rule")
        );
        assert!(offered(&[], "create_issue").is_err());
    }

    #[test]
    fn a_deny_on_every_resource_hides_what_an_allow_names() {
        let rules = [
            rule("p:1", Effect::Allow, "*", "acme/*"),
            rule("p:2", Effect::Deny, "delete_*", "**"),
        ];
        assert_eq!(
            offered(&rules, "delete_repo").unwrap_err(),
            "denied on every resource by p:2"
        );
        assert!(offered(&rules, "create_issue").is_ok());
    }

    #[test]
    fn a_narrower_deny_leaves_the_action_offered() {
        let mut qualified = rule("p:3", Effect::Deny, "push", "*");
        qualified.qualifiers.push(Qualifier {
            name: "branch".into(),
            values: vec!["main".into()],
        });
        let rules = [
            rule("p:1", Effect::Allow, "push", "acme/*"),
            rule("p:2", Effect::Deny, "push", "acme/secret"),
            qualified,
        ];
        assert_eq!(offered(&rules, "push").unwrap(), "p:1");
    }
}
