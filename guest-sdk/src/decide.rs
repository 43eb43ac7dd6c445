//! The usual way to turn matching rules into a verdict.

use crate::{Effect, Request, Rule, Verdict};

/// Applies `matches` to every rule and answers with the strongest match:
/// any deny, else any require-approval, else any allow, else abstain (which
/// the host turns into deny). The reason names the rule and the request.
///
/// ```
/// use palisade_guest::{Request, Rule, decide::strongest_match, glob};
/// let rules = [Rule::allow(["read"], ["*"]).id("p.yaml:3"), Rule::deny(["read"], ["secret"]).id("p.yaml:4")];
/// let v = strongest_match(&Request::new("fs", "read", "secret"), &rules, |r, q| {
///     glob::matches_any(&r.actions, &q.action) && glob::matches_any(&r.resources, &q.resource)
/// });
/// assert!(v.is_deny());
/// ```
pub fn strongest_match(
    request: &Request,
    rules: &[Rule],
    mut matches: impl FnMut(&Rule, &Request) -> bool,
) -> Verdict {
    let mut best: Option<&Rule> = None;
    for rule in rules {
        let stronger = match best {
            None => true,
            Some(b) => rank(rule.effect) > rank(b.effect),
        };
        if stronger && matches(rule, request) {
            best = Some(rule);
            if rule.effect == Effect::Deny {
                break;
            }
        }
    }
    match best {
        None => Verdict::Abstain,
        Some(rule) => {
            let what = match rule.effect {
                Effect::Deny => "denied by",
                Effect::RequireApproval => "requires approval by",
                Effect::Allow => "allowed by",
            };
            Verdict::for_rule(
                rule,
                format!(
                    "{} {} on `{}` {what} {}",
                    request.service,
                    request.action,
                    request.resource,
                    rule.label()
                ),
            )
        }
    }
}

fn rank(e: Effect) -> u8 {
    match e {
        Effect::Allow => 1,
        Effect::RequireApproval => 2,
        Effect::Deny => 3,
    }
}

/// True when a qualifier `name` of `rule` accepts the request's `value`.
/// A rule without the qualifier accepts anything. When the request lacks the
/// value, an allow rule does not match while a deny or require-approval rule
/// does: a missing attribute never widens access.
pub fn qualifier_accepts(
    rule: &Rule,
    name: &str,
    value: Option<&str>,
    mut matches: impl FnMut(&str, &str) -> bool,
) -> bool {
    match (rule.qualifier_values(name), value) {
        (None, _) => true,
        (Some(patterns), Some(v)) => patterns.iter().any(|p| matches(p, v)),
        (Some(_), None) => rule.effect != Effect::Allow,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_and_abstain() {
        let req = Request::new("s", "a", "r");
        let all = |_: &Rule, _: &Request| true;
        let rules = [
            Rule::allow(["a"], ["r"]),
            Rule::require_approval(["a"], ["r"]),
        ];
        assert!(strongest_match(&req, &rules, all).is_approve());
        assert!(strongest_match(&req, &rules[..1], all).is_allow());
        assert_eq!(
            strongest_match(&req, &rules, |_, _| false),
            Verdict::Abstain
        );
    }

    #[test]
    fn missing_qualifier_values_never_widen() {
        let allow = Rule::allow(["push"], ["r"]).qualifier("branch", ["main"]);
        let deny = Rule::deny(["push"], ["r"]).qualifier("branch", ["main"]);
        let eq = |p: &str, v: &str| p == v;
        assert!(!qualifier_accepts(&allow, "branch", None, eq));
        assert!(qualifier_accepts(&deny, "branch", None, eq));
        assert!(qualifier_accepts(&allow, "branch", Some("main"), eq));
        assert!(!qualifier_accepts(&allow, "branch", Some("dev"), eq));
        assert!(qualifier_accepts(&allow, "tag", None, eq));
    }
}
