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
//! * **Canonical form**: the plugin cannot know how a service spells its
//!   names, so it compares resources exactly and refuses the spellings that
//!   services commonly read as another resource: besides the above, a
//!   trailing `/` (`files/secret/` is the directory `files/secret`) and a
//!   segment ending in `.` (Windows drops it, and `host.` is the host
//!   `host`). A service whose names ignore case (host names, e-mail
//!   addresses) sets `{"ignore_case": true}` in the plugin's configuration:
//!   resources and patterns then compare ASCII case-insensitively.
//! * Any matching deny wins, then require-approval, then allow; no match abstains
//!   (and the host denies by default).
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use palisade_guest::decide::{qualifier_accepts, strongest_match};
use palisade_guest::guard::{allow_unicode_configured, ambiguity, flag_configured};
use palisade_guest::{Policy, Request, Rule, Verdict, glob};

/// The generic glob policy.
pub struct GlobPolicy;

fn rule_matches(rule: &Rule, req: &Request, ignore_case: bool) -> bool {
    rule.actions
        .iter()
        .any(|p| glob::matches_ignore_case(p, &req.action))
        && rule
            .resources
            .iter()
            .any(|p| glob::matches_with(p, &req.resource, None, ignore_case))
        && rule
            .qualifiers
            .iter()
            .all(|(name, _)| qualifier_accepts(rule, name, req.attribute(name), glob::matches))
}

/// Why `resource` is refused before any rule is read, if it is.
pub fn refuse(resource: &str, allow_unicode: bool) -> Option<String> {
    if let Some(why) = ambiguity(resource, allow_unicode) {
        return Some(format!("resource `{resource}` contains {why}"));
    }
    if resource.len() > 1 && resource.ends_with('/') {
        return Some(format!(
            "resource `{resource}` ends with `/`; write it without"
        ));
    }
    if resource.split('/').any(|s| s.len() > 1 && s.ends_with('.')) {
        return Some(format!(
            "resource `{resource}` has a segment ending in `.`, which many services drop; write it without"
        ));
    }
    None
}

impl Policy for GlobPolicy {
    fn evaluate(req: &Request, rules: &[Rule]) -> Verdict {
        if let Some(why) = refuse(&req.resource, allow_unicode_configured()) {
            return Verdict::deny(why);
        }
        let ignore_case = flag_configured("ignore_case");
        strongest_match(req, rules, |rule, r| rule_matches(rule, r, ignore_case))
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

    /// Issue 14, item 5, for the generic plugin: an allow on everything and
    /// a deny on one resource; spellings services read as that resource are
    /// refused, and with `ignore_case` other cases are caught.
    #[test]
    fn spellings_of_a_resource_do_not_dodge_its_deny() {
        TestHost::new().install();
        let rules = [
            Rule::allow(["*"], ["*"]),
            Rule::deny(["read"], ["files/secret"]),
            Rule::deny(["get"], ["db.example.com"]),
        ];
        for r in [
            "files/secret",
            "files/secret/",
            "files/secret.",
            "files./secret",
        ] {
            assert!(eval(Request::new("fs", "read", r), &rules).is_deny(), "{r}");
        }
        assert!(eval(Request::new("http", "get", "db.example.com."), &rules).is_deny());
        // Exact comparison by default: another case is another resource.
        assert!(eval(Request::new("fs", "read", "files/Secret"), &rules).is_allow());
        assert!(eval(Request::new("fs", "read", "files/secret.txt"), &rules).is_allow());
        assert!(eval(Request::new("fs", "read", "/"), &rules).is_allow());
        TestHost::new().config(r#"{"ignore_case": true}"#).install();
        for (svc, action, r) in [
            ("fs", "read", "FILES/Secret"),
            ("http", "get", "DB.Example.COM"),
        ] {
            assert!(eval(Request::new(svc, action, r), &rules).is_deny(), "{r}");
        }
        assert!(eval(Request::new("fs", "read", "files/other"), &rules).is_allow());
    }
}
