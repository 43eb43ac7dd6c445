//! IAM-style matching of AWS actions and ARNs.
//!
//! * Actions are `service:Action`, compared case-insensitively, with `*` and
//!   `?` wildcards (`s3:Get*`, `iam:*`, `*`).
//! * ARNs are `arn:partition:service:region:account:resource`. The first five
//!   segments are matched one by one and a wildcard never crosses their `:`;
//!   the resource part is matched as a whole, so there `*` crosses `/` and `:`.

use crate::glob::{matches, matches_with};

/// True when the IAM action `pattern` matches `action` (case-insensitive).
///
/// ```
/// use palisade_guest::iam::action_matches;
/// assert!(action_matches("s3:Get*", "S3:GetObject"));
/// assert!(!action_matches("s3:Get*", "s3:PutObject"));
/// assert!(action_matches("*", "iam:CreateUser"));
/// ```
pub fn action_matches(pattern: &str, action: &str) -> bool {
    match (pattern.split_once(':'), action.split_once(':')) {
        (Some((ps, pa)), Some((s, a))) => {
            matches_with(ps, s, None, true) && matches_with(pa, a, None, true)
        }
        // A bare `*` (or any pattern without a service) matches the whole action.
        (None, _) => matches_with(pattern, action, None, true),
        (Some(_), None) => false,
    }
}

/// True when the ARN pattern matches `arn`.
///
/// ```
/// use palisade_guest::iam::arn_matches;
/// assert!(arn_matches("arn:aws:ecs:*:*:service/prod-*", "arn:aws:ecs:us-east-1:123456789012:service/prod-api"));
/// assert!(arn_matches("arn:aws:s3:::invoices/*", "arn:aws:s3:::invoices/2024/q1.csv"));
/// // `*` does not cross the `:` between ARN segments:
/// assert!(!arn_matches("arn:aws:*:service/x", "arn:aws:ecs:us-east-1:1:service/x"));
/// ```
pub fn arn_matches(pattern: &str, arn: &str) -> bool {
    let p: Vec<&str> = pattern.splitn(6, ':').collect();
    let a: Vec<&str> = arn.splitn(6, ':').collect();
    match (p.as_slice(), a.as_slice()) {
        ([pp @ .., pr], [ap @ .., ar]) if p.len() == 6 && a.len() == 6 => {
            pp.iter()
                .zip(ap.iter())
                .all(|(ps, s)| matches_with(ps, s, Some(':'), false))
                && matches(pr, ar)
        }
        // `*` alone matches every ARN; anything else must be a full ARN.
        _ => pattern == "*",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions() {
        assert!(action_matches("ecs:UpdateService", "ECS:updateservice"));
        assert!(action_matches("iam:*", "iam:CreateAccessKey"));
        assert!(!action_matches("iam:*", "s3:GetObject"));
        assert!(!action_matches("s3:*", "s3x:GetObject"));
        assert!(action_matches("s3:?etObject", "s3:GetObject"));
        assert!(!action_matches("s3:GetObject", "s3"));
    }

    #[test]
    fn arns() {
        let arn = "arn:aws:s3:::bucket/a/b.csv";
        assert!(arn_matches("arn:aws:s3:::bucket/*", arn));
        assert!(arn_matches("arn:aws:s3:::*", arn));
        assert!(!arn_matches("arn:aws:s3:::other/*", arn));
        assert!(arn_matches("*", arn));
        assert!(!arn_matches("arn:aws:s3:::bucket/*", "not-an-arn"));
        assert!(!arn_matches("arn:*", arn));
        // region wildcard does not swallow the account segment
        assert!(!arn_matches(
            "arn:aws:ecs:*:service/prod-*",
            "arn:aws:ecs:us-east-1:1:service/prod-a"
        ));
        // resource part may itself contain ':'
        assert!(arn_matches(
            "arn:aws:logs:*:*:log-group:/app/*",
            "arn:aws:logs:eu-west-1:1:log-group:/app/web:*"
        ));
    }
}
