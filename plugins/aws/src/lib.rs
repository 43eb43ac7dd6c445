//! Policy plugin for AWS, with IAM semantics.
//!
//! * **Actions** are `service:Action`, compared case-insensitively, with `*`
//!   and `?` (`s3:Get*`, `iam:*`, `*`).
//! * **Resources** are ARNs, matched segment by segment: a `*` in the
//!   partition, service, region or account never crosses a `:`; in the
//!   resource part it crosses `/` (and `:`). Partition and service are compared
//!   case-insensitively; region, account and resource are case-sensitive, as in
//!   AWS. A rule's `*` (or no resources) matches every resource. A `*` in the
//!   *request* is literal: asking for `arn:aws:s3:::*` only matches rules that
//!   grant every bucket.
//! * A request resource that is neither an ARN nor `*`, or that is ambiguous
//!   (the SDK's [`ambiguity`] guard: `.`/`..` segments, `//`, `%`, `\`,
//!   control or non-ASCII characters), is denied.

use palisade_guest::decide::strongest_match;
use palisade_guest::guard::{allow_unicode_configured, ambiguity};
use palisade_guest::iam::{action_matches, arn_matches};
use palisade_guest::{Policy, Request, Rule, Verdict};

/// The AWS policy.
pub struct AwsPolicy;

/// Lowercases the partition and service segments of an ARN.
pub fn canonical_arn(arn: &str) -> String {
    let mut parts: Vec<String> = arn.splitn(6, ':').map(str::to_owned).collect();
    for i in [0, 1, 2] {
        if let Some(p) = parts.get_mut(i) {
            *p = p.to_ascii_lowercase();
        }
    }
    parts.join(":")
}

/// Why the request's resource is refused before rules are read, if it is.
pub fn refuse(resource: &str, allow_unicode: bool) -> Option<String> {
    if resource == "*" {
        return None;
    }
    if resource.splitn(6, ':').count() != 6 || !resource.to_ascii_lowercase().starts_with("arn:") {
        return Some(format!(
            "`{resource}` is not an ARN (`arn:partition:service:region:account:resource`)"
        ));
    }
    let why = ambiguity(resource, allow_unicode)?;
    Some(format!("resource `{resource}` contains {why}"))
}

fn resource_matches(pattern: &str, resource: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    resource != "*" && arn_matches(&canonical_arn(pattern), &canonical_arn(resource))
}

impl Policy for AwsPolicy {
    fn evaluate(req: &Request, rules: &[Rule]) -> Verdict {
        if !req.action.contains(':') {
            return Verdict::deny(format!(
                "`{}` is not an IAM action (`service:Action`)",
                req.action
            ));
        }
        if let Some(why) = refuse(&req.resource, allow_unicode_configured()) {
            return Verdict::deny(why);
        }
        strongest_match(req, rules, |rule, r| {
            rule.actions.iter().any(|p| action_matches(p, &r.action))
                && rule
                    .resources
                    .iter()
                    .any(|p| resource_matches(p, &r.resource))
        })
    }
}

palisade_guest::export_policy!(AwsPolicy);

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_guest::testing::TestHost;

    fn eval(action: &str, resource: &str, rules: &[Rule]) -> Verdict {
        TestHost::new().install();
        AwsPolicy::evaluate(&Request::new("aws", action, resource), rules)
    }

    /// Seed 001's AWS rules.
    fn invoice() -> Vec<Rule> {
        vec![
            Rule::allow(
                ["s3:GetObject", "s3:ListBucket"],
                ["arn:aws:s3:::invoice-data/raw/*"],
            ),
            Rule::allow(["s3:PutObject"], ["arn:aws:s3:::invoice-data/processed/*"]),
            Rule::require_approval(["s3:DeleteObject"], ["*"]),
            Rule::deny(["iam:*", "ec2:*", "rds:*"], ["*"]),
        ]
    }

    #[test]
    fn seed_001_prompts() {
        let r = invoice();
        assert_eq!(
            eval("s3:ListBucket", "arn:aws:s3:::*", &r),
            Verdict::Abstain,
            "all buckets"
        );
        assert_eq!(
            eval("s3:GetObject", "arn:aws:s3:::other/x.csv", &r),
            Verdict::Abstain
        );
        assert!(eval("s3:DeleteObject", "arn:aws:s3:::invoice-data/tmp/a", &r).is_approve());
        assert!(eval("iam:ListUsers", "*", &r).is_deny());
        assert!(
            eval(
                "s3:GetObject",
                "arn:aws:s3:::invoice-data/raw/2026/a.csv",
                &r
            )
            .is_allow()
        );
    }

    #[test]
    fn case_games() {
        let r = invoice();
        assert!(eval("IAM:listusers", "*", &r).is_deny());
        assert!(eval("S3:GETOBJECT", "arn:aws:s3:::invoice-data/raw/a", &r).is_allow());
        assert!(eval("s3:GetObject", "arn:AWS:S3:::invoice-data/raw/a", &r).is_allow());
        // Resource paths are case-sensitive, as S3 keys are.
        assert_eq!(
            eval("s3:GetObject", "arn:aws:s3:::Invoice-data/raw/a", &r),
            Verdict::Abstain
        );
    }

    #[test]
    fn segments_are_not_crossed() {
        let r = [Rule::allow(
            ["ecs:UpdateService"],
            ["arn:aws:ecs:*:*:service/staging-*"],
        )];
        assert!(
            eval(
                "ecs:UpdateService",
                "arn:aws:ecs:us-east-1:123:service/staging-web",
                &r
            )
            .is_allow()
        );
        assert_eq!(
            eval(
                "ecs:UpdateService",
                "arn:aws:ecs:us-east-1:123:service/prod-web",
                &r
            ),
            Verdict::Abstain
        );
        // A region that tries to carry the account and resource.
        let sneaky = "arn:aws:ecs:us-east-1:123:service/prod-web:service/staging-x";
        assert_eq!(eval("ecs:UpdateService", sneaky, &r), Verdict::Abstain);
    }

    #[test]
    fn ambiguous_resources_are_denied() {
        let r = [Rule::allow(["s3:*"], ["arn:aws:s3:::invoice-data/raw/*"])];
        for res in [
            "arn:aws:s3:::invoice-data/raw/../secret",
            "arn:aws:s3:::invoice-data/raw/%2e%2e/secret",
            "arn:aws:s3:::invoice-data/raw/a\\b",
            "arn:aws:s3:::invoice-data/raw/ａ",
            "invoice-data/raw/a",
        ] {
            assert!(eval("s3:GetObject", res, &r).is_deny(), "{res}");
        }
        assert!(eval("GetObject", "arn:aws:s3:::invoice-data/raw/a", &r).is_deny());
    }
}
