//! Generic glob-rule policy plugin, for services with no plugin of their own.
//!
//! * Actions match case-insensitively (ASCII), with `*` and `?`.
//! * Resources match case-sensitively, with `*` (crosses `/`) and `?`.
//! * A qualifier (e.g. `branch: [main, release/*]`) matches the request
//!   attribute of the same name. When the attribute is absent an allow rule
//!   does not match, while a deny or require-approval rule does: a missing
//!   attribute can never widen access.
//! * Resources that are ambiguous are denied before any rule is read: `.` or
//!   `..` segments, `//`, percent-encoding, backslashes, control characters,
//!   and (unless the plugin configuration says `{"allow_unicode": true}`)
//!   non-ASCII characters, which include look-alikes of ASCII letters.
//! * Any matching deny wins, then require-approval, then allow; no match abstains
//!   (and the host denies by default).
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use palisade_guest::decide::{qualifier_accepts, strongest_match};
use palisade_guest::guard::{allow_unicode_configured, ambiguity};
use palisade_guest::{Policy, Request, Rule, Verdict, glob};

/// The generic glob policy.
pub struct GlobPolicy;

fn rule_matches(rule: &Rule, req: &Request) -> bool {
    rule.actions
        .iter()
        .any(|p| glob::matches_ignore_case(p, &req.action))
        && glob::matches_any(&rule.resources, &req.resource)
        && rule
            .qualifiers
            .iter()
            .all(|(name, _)| qualifier_accepts(rule, name, req.attribute(name), glob::matches))
}

impl Policy for GlobPolicy {
    fn evaluate(req: &Request, rules: &[Rule]) -> Verdict {
        if let Some(why) = ambiguity(&req.resource, allow_unicode_configured()) {
            return Verdict::deny(format!("resource `{}` contains {why}", req.resource));
        }
        strongest_match(req, rules, rule_matches)
    }
}

palisade_guest::export_policy!(GlobPolicy);

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_guest::testing::TestHost;

    fn eval(req: Request, rules: &[Rule]) -> Verdict {
        GlobPolicy::evaluate(&req, rules)
    }

    #[test]
    fn deny_beats_approval_beats_allow() {
        TestHost::new().install();
        let rules = [
            Rule::allow(["*"], ["repos/*"]).id("a"),
            Rule::require_approval(["push"], ["repos/*"]).id("b"),
            Rule::deny(["push"], ["repos/secret"]).id("c"),
        ];
        assert!(eval(Request::new("git", "read", "repos/x"), &rules).is_allow());
        assert!(eval(Request::new("git", "push", "repos/x"), &rules).is_approve());
        assert!(eval(Request::new("git", "push", "repos/secret"), &rules).is_deny());
        assert_eq!(
            eval(Request::new("git", "read", "other/x"), &rules),
            Verdict::Abstain
        );
    }

    #[test]
    fn actions_ignore_case_resources_do_not() {
        TestHost::new().install();
        let rules = [
            Rule::deny(["delete"], ["files/*"]),
            Rule::allow(["*"], ["files/*"]),
        ];
        assert!(eval(Request::new("fs", "DELETE", "files/a"), &rules).is_deny());
        assert_eq!(
            eval(Request::new("fs", "read", "FILES/a"), &rules),
            Verdict::Abstain
        );
    }

    #[test]
    fn missing_attribute_never_widens() {
        TestHost::new().install();
        let allow = [Rule::allow(["push"], ["repo"]).qualifier("branch", ["feature/*"])];
        assert!(
            eval(
                Request::new("git", "push", "repo").attr("branch", "feature/x"),
                &allow
            )
            .is_allow()
        );
        assert_eq!(
            eval(Request::new("git", "push", "repo"), &allow),
            Verdict::Abstain
        );
        let deny = [
            Rule::allow(["push"], ["repo"]),
            Rule::deny(["push"], ["repo"]).qualifier("branch", ["main"]),
        ];
        assert!(eval(Request::new("git", "push", "repo"), &deny).is_deny());
        assert!(
            eval(
                Request::new("git", "push", "repo").attr("branch", "dev"),
                &deny
            )
            .is_allow()
        );
    }

    #[test]
    fn ambiguous_resources_are_denied() {
        TestHost::new().install();
        let rules = [Rule::allow(["*"], ["*"])];
        for r in [
            "files/../secret",
            "files/./a",
            "files//a",
            "files/%2e%2e/a",
            "files\\a",
            "files/\u{0}",
            "files/ѕecret", // Cyrillic dze
        ] {
            assert!(eval(Request::new("fs", "read", r), &rules).is_deny(), "{r}");
        }
        TestHost::new()
            .config(r#"{"allow_unicode": true}"#)
            .install();
        assert!(eval(Request::new("fs", "read", "files/café"), &rules).is_allow());
    }
}
