//! Policy plugin for AWS, with IAM semantics.
//!
//! * **Actions** are `service:Action`, compared case-insensitively, with `*`
//!   and `?` (`s3:Get*`, `iam:*`, `*`).
//! * **Resources** are ARNs, matched segment by segment: a `*` in the
//!   partition, service, region or account never crosses a `:`; in the
//!   resource part it crosses `/` (and `:`). A rule's `*` (or no resources)
//!   matches every resource. A `*` in the *request* is literal: asking for
//!   `arn:aws:s3:::*` only matches rules that grant every bucket.
//! * **Canonical form** ([`canonical_arn`]), on both sides: partition,
//!   service and region compare case-insensitively (region codes are
//!   lowercase, and endpoints are host names, which fold case); for `iam`
//!   the resource part does too, because IAM user, group, role and policy
//!   names are unique regardless of case. Everything else is case-sensitive,
//!   as S3 keys are.
//! * An S3 bucket (`arn:aws:s3:::BUCKET[/KEY]`) with an uppercase letter or a
//!   character bucket names cannot hold is denied: names are lowercase by
//!   rule, and virtual-hosted requests fold case, so `Invoice-Data` reaches
//!   `invoice-data`.
//! * A request resource that is neither an ARN nor `*`, or that is ambiguous
//!   (the SDK's [`ambiguity`] guard: `.`/`..` segments, `//`, `%`, `\`,
//!   control or non-ASCII characters), is denied.

use palisade_guest::decide::strongest_match;
use palisade_guest::guard::{allow_unicode_configured, ambiguity};
use palisade_guest::iam::{action_matches, arn_matches};
use palisade_guest::{Policy, Request, Rule, Verdict};

/// The AWS policy.
pub struct AwsPolicy;

/// The canonical form of an ARN (or ARN pattern): `arn`, partition, service
/// and region in lowercase, and for `iam` the resource part too.
///
/// ```
/// use palisade_plugin_aws::canonical_arn;
/// assert_eq!(canonical_arn("ARN:AWS:ECS:US-EAST-1:1:service/Web"), "arn:aws:ecs:us-east-1:1:service/Web");
/// assert_eq!(canonical_arn("arn:aws:IAM::1:role/Admin"), "arn:aws:iam::1:role/admin");
/// ```
pub fn canonical_arn(arn: &str) -> String {
    let mut parts: Vec<String> = arn.splitn(6, ':').map(str::to_owned).collect();
    let iam = parts.get(2).is_some_and(|s| s.eq_ignore_ascii_case("iam"));
    for (i, p) in parts.iter_mut().enumerate() {
        if i <= 3 || (i == 5 && iam) {
            *p = p.to_ascii_lowercase();
        }
    }
    parts.join(":")
}

/// Why the S3 bucket of `arn` (`arn:aws:s3:::BUCKET[/KEY]`) is refused, if
/// it is: bucket names are lowercase letters, digits, `.` and `-` (a
/// request's `*` and `?` are kept as literal wildcards).
fn bad_bucket(arn: &str) -> Option<String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [_, _, service, region, account, resource] = parts.as_slice() else {
        return None;
    };
    if !service.eq_ignore_ascii_case("s3") || !region.is_empty() || !account.is_empty() {
        return None;
    }
    let bucket = resource.split('/').next().unwrap_or_default();
    let bad = bucket.is_empty()
        || bucket
            .chars()
            .any(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || ".-*?".contains(c)));
    bad.then(|| {
        format!(
            "`{bucket}` is not an S3 bucket name (lowercase letters, digits, `.` and `-`); \
             write `{}`",
            bucket.to_ascii_lowercase()
        )
    })
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
    if let Some(why) = ambiguity(resource, allow_unicode) {
        return Some(format!("resource `{resource}` contains {why}"));
    }
    bad_bucket(resource)
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
        // Keys are case-sensitive, as S3 keys are.
        assert_eq!(
            eval("s3:GetObject", "arn:aws:s3:::invoice-data/RAW/a", &r),
            Verdict::Abstain
        );
        // Bucket names are lowercase by rule: another spelling is refused.
        assert!(eval("s3:GetObject", "arn:aws:s3:::Invoice-data/raw/a", &r).is_deny());
    }

    /// Issue 14, item 5, for AWS: an allow on everything and a deny on one
    /// bucket, one region and one role; spellings AWS reads as the same
    /// resource are denied, or refused.
    #[test]
    fn spellings_of_a_resource_do_not_dodge_its_deny() {
        let r = [
            Rule::allow(["*"], ["*"]),
            Rule::deny(["s3:*"], ["arn:aws:s3:::prod-data/*"]),
            Rule::deny(["ecs:*"], ["arn:aws:ecs:us-east-1:*:service/prod-*"]),
            Rule::deny(["iam:PassRole"], ["arn:aws:iam::123456789012:role/Admin"]),
        ];
        for (action, res) in [
            ("s3:GetObject", "arn:aws:s3:::prod-data/a.csv"),
            ("s3:GetObject", "arn:aws:s3:::PROD-DATA/a.csv"),
            ("s3:GetObject", "arn:aws:s3:::Prod-Data/a.csv"),
            ("s3:GetObject", "arn:AWS:S3:::prod-data/a.csv"),
            (
                "ecs:UpdateService",
                "arn:aws:ecs:US-EAST-1:1:service/prod-web",
            ),
            (
                "ecs:UpdateService",
                "arn:aws:ecs:Us-East-1:1:service/prod-web",
            ),
            ("iam:PassRole", "arn:aws:iam::123456789012:role/admin"),
            ("iam:PassRole", "arn:aws:iam::123456789012:role/ADMIN"),
            ("IAM:passrole", "arn:aws:IAM::123456789012:role/Admin"),
        ] {
            let v = eval(action, res, &r);
            assert!(v.is_deny(), "{action} {res}: {v:?}");
        }
        // Keys stay case-sensitive; other buckets and roles are not caught.
        for res in [
            "arn:aws:s3:::prod-data2/a.csv",
            "arn:aws:s3:::other/prod-data/a.csv",
            "arn:aws:ecs:us-west-2:1:service/prod-web",
            "arn:aws:iam::123456789012:role/Admin2",
        ] {
            let action = if res.contains(":s3:") {
                "s3:GetObject"
            } else if res.contains(":ecs:") {
                "ecs:UpdateService"
            } else {
                "iam:PassRole"
            };
            assert!(eval(action, res, &r).is_allow(), "{res}");
        }
        for bad in [
            "arn:aws:s3:::prod_data/a",
            "arn:aws:s3:::/a",
            "arn:aws:s3:::Prod-Data",
        ] {
            assert!(eval("s3:GetObject", bad, &r).is_deny(), "{bad}");
        }
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
