//! Policy plugin for git.
//!
//! * **Actions** (case-insensitive): `clone`, `fetch`, `pull`, `read`, `push`,
//!   `merge`, `branch-create`, `branch-delete`, `tag`, `comment`, ... A rule's
//!   `read` covers `clone`, `fetch`, `pull` and `read`; a rule's `*` covers all.
//! * **Repositories** are globs (`acme/*`, `repos/*`); `*` crosses `/`.
//! * **Branches** come from the request's `branch` (or `ref`) attribute, or from
//!   a resource of the form `REPO/branches/BRANCH`; rules take them from
//!   `branches:` or from the same resource form. `refs/heads/main` and
//!   `heads/main` are normalised to `main`, so a ref cannot slip past a rule on
//!   `main`. A branch name git itself would refuse is denied.
//! * A rule with branches and a request without one: an allow rule does not
//!   match, a deny or require-approval rule does.
//! * **Repositories** are compared in a canonical form, on both the request
//!   and the rules' patterns, because the forges treat these spellings as one
//!   repository: ASCII lowercase (GitHub and GitLab names are
//!   case-insensitive), without trailing `/` and without one trailing `.git`.
//!   So `ACME/Prod-Infra.git/` is `acme/prod-infra` ([`canonical_repo`]).
//! * What has no safe canonical form is denied before any rule is read: `..`,
//!   `%`, `\`, empty segments (`//`, a leading `/`), control or non-ASCII
//!   characters, URLs and scp-style addresses (`https://host/…`,
//!   `git@host:…`), a first segment that looks like a host (`github.com/…`),
//!   and any character forges do not allow in names (only letters, digits,
//!   `.`, `_`, `-` and `/` between segments).

use palisade_guest::decide::{qualifier_accepts, strongest_match};
use palisade_guest::guard::ambiguity;
use palisade_guest::{Policy, Request, Rule, Verdict, glob};

/// The git policy.
pub struct GitPolicy;

/// Actions a rule's `read` covers.
const READ: &[&str] = &["read", "clone", "fetch", "pull"];

/// `refs/heads/x` and `heads/x` → `x`.
pub fn normalise_branch(branch: &str) -> &str {
    branch
        .strip_prefix("refs/heads/")
        .or_else(|| branch.strip_prefix("heads/"))
        .unwrap_or(branch)
}

/// Why git would refuse this branch name (`git check-ref-format`), if it would.
pub fn invalid_branch(branch: &str) -> Option<&'static str> {
    if branch.is_empty() {
        return Some("is empty");
    }
    if branch.starts_with('-') || branch.starts_with('/') || branch.ends_with('/') {
        return Some("starts with `-` or `/`, or ends with `/`");
    }
    if branch.ends_with('.') || branch.ends_with(".lock") {
        return Some("ends with `.` or `.lock`");
    }
    if branch.contains("..")
        || branch.contains("//")
        || branch.contains("@{")
        || branch.contains("/.")
    {
        return Some("contains `..`, `//`, `@{` or a component starting with `.`");
    }
    if branch
        .chars()
        .any(|c| c.is_control() || " ~^:?*[\\".contains(c))
    {
        return Some("contains a space, a control character or one of ~^:?*[\\");
    }
    None
}

/// Splits `REPO/branches/BRANCH` (the `branches` keyword in any case).
fn split_branch(resource: &str) -> (&str, Option<&str>) {
    // ASCII lowercasing keeps every byte offset.
    match resource.to_ascii_lowercase().find("/branches/") {
        Some(i) => (&resource[..i], Some(&resource[i + "/branches/".len()..])),
        None => (resource, None),
    }
}

/// The case-insensitive, suffix-free part of the canonical form, shared by
/// requests and patterns: lowercase, trailing `/` removed, then one trailing
/// `.git` removed.
fn fold(repo: &str) -> String {
    let lower = repo.to_ascii_lowercase();
    let trimmed = lower.trim_end_matches('/');
    trimmed.strip_suffix(".git").unwrap_or(trimmed).to_owned()
}

/// The canonical form of a requested repository, or why it has none.
///
/// ```
/// use palisade_plugin_git::canonical_repo;
/// assert_eq!(canonical_repo("ACME/Prod-Infra.git/").as_deref(), Ok("acme/prod-infra"));
/// assert!(canonical_repo("git@github.com:acme/prod-infra").is_err());
/// assert!(canonical_repo("acme//prod-infra").is_err());
/// ```
pub fn canonical_repo(repo: &str) -> Result<String, String> {
    // Non-ASCII is refused whatever the configuration: forges allow only
    // ASCII in repository names, and look-alike letters are a classic bypass.
    if let Some(why) = ambiguity(repo, false) {
        return Err(format!("repository `{repo}` contains {why}"));
    }
    if repo.contains(':') || repo.contains('@') {
        return Err(format!(
            "repository `{repo}` is a URL or an address; write it as `owner/name`"
        ));
    }
    let canonical = fold(repo);
    let segments: Vec<&str> = canonical.split('/').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Err(format!(
            "repository `{repo}` has an empty path segment; write it as `owner/name`"
        ));
    }
    if let Some(bad) = canonical
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "._-/".contains(*c)))
    {
        return Err(format!(
            "repository `{repo}` contains `{bad}`, which forges do not allow in names"
        ));
    }
    if segments.len() > 1 && segments.first().is_some_and(|s| s.contains('.')) {
        return Err(format!(
            "repository `{repo}` starts with what looks like a host; write it as `owner/name`"
        ));
    }
    if segments
        .iter()
        .any(|s| s.starts_with('.') && s.trim_matches('.').is_empty())
    {
        return Err(format!(
            "repository `{repo}` contains a `.` or `..` path segment"
        ));
    }
    Ok(canonical)
}

fn action_matches(pattern: &str, action: &str) -> bool {
    if pattern.eq_ignore_ascii_case("read") {
        return READ.iter().any(|a| a.eq_ignore_ascii_case(action));
    }
    glob::matches_ignore_case(pattern, action)
}

fn rule_matches(rule: &Rule, repo: &str, branch: Option<&str>, action: &str) -> bool {
    if !rule.actions.iter().any(|p| action_matches(p, action)) {
        return false;
    }
    // Each resource pattern may carry its own branch pattern.
    let resource_ok = rule.resources.iter().any(|p| {
        let (repo_pattern, branch_pattern) = split_branch(p);
        glob::matches(&fold(repo_pattern), repo)
            && match (branch_pattern, branch) {
                (None, _) => true,
                (Some(bp), Some(b)) => glob::matches(normalise_branch(bp), b),
                (Some(_), None) => rule.effect != palisade_guest::Effect::Allow,
            }
    });
    resource_ok
        && qualifier_accepts(rule, "branch", branch, |p, v| {
            glob::matches(normalise_branch(p), v)
        })
}

impl Policy for GitPolicy {
    fn evaluate(req: &Request, rules: &[Rule]) -> Verdict {
        let (repo, resource_branch) = split_branch(&req.resource);
        let repo = match canonical_repo(repo) {
            Ok(repo) => repo,
            Err(why) => return Verdict::deny(why),
        };
        let attr_branch = match (req.attribute("branch"), req.attribute("ref")) {
            (Some(b), Some(r)) if normalise_branch(b) != normalise_branch(r) => {
                return Verdict::deny(format!("the request says branch `{b}` but ref `{r}`"));
            }
            (b, r) => b.or(r),
        };
        let branch = match (resource_branch, attr_branch) {
            (Some(a), Some(b)) if normalise_branch(a) != normalise_branch(b) => {
                return Verdict::deny(format!(
                    "the resource names branch `{a}` but the request says `{b}`"
                ));
            }
            (Some(b), _) | (None, Some(b)) => Some(normalise_branch(b)),
            (None, None) => None,
        };
        if let Some(b) = branch
            && let Some(why) = invalid_branch(b)
        {
            return Verdict::deny(format!("branch `{b}` {why}"));
        }
        strongest_match(req, rules, |rule, r| {
            rule_matches(rule, &repo, branch, &r.action)
        })
    }
}

palisade_guest::export_policy!(GitPolicy);

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_guest::testing::TestHost;

    fn eval(req: Request, rules: &[Rule]) -> Verdict {
        TestHost::new().install();
        GitPolicy::evaluate(&req, rules)
    }

    /// Seed 001's git rules.
    fn invoice() -> Vec<Rule> {
        vec![
            Rule::allow(["clone", "pull", "fetch"], ["acme/*"]),
            Rule::allow(["push"], ["acme/billing", "acme/invoices"])
                .qualifier("branch", ["feature/*", "fix/*"]),
            Rule::require_approval(["push"], ["*"]).qualifier("branch", ["main", "staging"]),
        ]
    }

    #[test]
    fn seed_001_git_rules() {
        let r = invoice();
        assert!(eval(Request::new("git", "pull", "acme/api"), &r).is_allow());
        assert!(
            eval(
                Request::new("git", "push", "acme/billing").attr("branch", "feature/x"),
                &r
            )
            .is_allow()
        );
        assert!(
            eval(
                Request::new("git", "push", "acme/billing").attr("branch", "main"),
                &r
            )
            .is_approve()
        );
        assert_eq!(
            eval(
                Request::new("git", "push", "acme/api").attr("branch", "feature/x"),
                &r
            ),
            Verdict::Abstain
        );
        // No branch: the allow (which needs one) does not match; the approval rule does.
        assert!(eval(Request::new("git", "push", "acme/billing"), &r).is_approve());
    }

    #[test]
    fn refs_cannot_slip_past_main() {
        let r = invoice();
        for b in ["refs/heads/main", "heads/main", "main"] {
            assert!(
                eval(
                    Request::new("git", "push", "acme/billing").attr("branch", b),
                    &r
                )
                .is_approve(),
                "{b}"
            );
            assert!(
                eval(
                    Request::new("git", "push", "acme/billing").attr("ref", b),
                    &r
                )
                .is_approve(),
                "{b}"
            );
        }
        let v = eval(
            Request::new("git", "push", "acme/billing/branches/refs/heads/main"),
            &r,
        );
        assert!(v.is_approve(), "{v:?}");
    }

    #[test]
    fn hostile_branches_and_repos_are_denied() {
        let r = invoice();
        for b in [
            "feature/../main",
            "feature/x.lock",
            "-main",
            "feature/x ",
            "main~1",
            "feature//x",
            "ma\u{0}in",
        ] {
            assert!(
                eval(
                    Request::new("git", "push", "acme/billing").attr("branch", b),
                    &r
                )
                .is_deny(),
                "{b}"
            );
        }
        for repo in [
            "acme/../secret",
            "acme/%62illing",
            "ACME\\billing",
            "acmе/billing",
        ] {
            assert!(
                eval(Request::new("git", "pull", repo), &r).is_deny(),
                "{repo}"
            );
        }
        let v = eval(
            Request::new("git", "push", "acme/billing/branches/feature/x").attr("branch", "main"),
            &r,
        );
        assert!(v.is_deny(), "conflicting branches must deny: {v:?}");
    }

    /// Issue 14, item 5: an allow on `*` and a deny of `push` on
    /// `acme/prod-infra`; every spelling a forge reads as that repository is
    /// denied, and what has no safe canonical form is denied too.
    #[test]
    fn spellings_of_a_repository_do_not_dodge_its_deny() {
        let r = [
            Rule::allow(["*"], ["*"]).id("p.yaml:1"),
            Rule::deny(["push"], ["acme/prod-infra"]).id("p.yaml:2"),
        ];
        for repo in [
            "acme/prod-infra",
            "ACME/prod-infra",
            "acme/Prod-Infra",
            "acme/prod-infra.git",
            "acme/prod-infra/",
            "acme/prod-infra.git/",
            "ACME/PROD-INFRA.GIT",
            "acme/prod-infra/branches/main",
            "acme/prod-infra/BRANCHES/main",
        ] {
            let v = eval(Request::new("git", "push", repo), &r);
            assert!(v.is_deny(), "{repo}: {v:?}");
            assert!(
                eval(Request::new("git", "pull", repo), &r).is_allow(),
                "{repo} is still readable"
            );
        }
        // No safe canonical form: denied before any rule, whatever the action.
        for repo in [
            "https://github.com/acme/prod-infra",
            "git@github.com:acme/prod-infra",
            "ssh://git@github.com/acme/prod-infra",
            "github.com/acme/prod-infra",
            "acme//prod-infra",
            "acme/prod-infra//",
            "/acme/prod-infra",
            "acme/./prod-infra",
            "acme/prod-infra/..",
            "acme/.git",
            "acme/prod infra",
            "acme/prod-infra~1",
            "acme/prod-infr*",
            "acme/prod-іnfra", // Cyrillic і
        ] {
            let v = eval(Request::new("git", "pull", repo), &r);
            assert!(v.is_deny(), "{repo}: {v:?}");
        }
        // Other repositories, and names that only look alike, are not caught.
        for repo in ["acme/prod-infra2", "acme/prod-infra.wiki", "acme/.github"] {
            assert!(
                eval(Request::new("git", "push", repo), &r).is_allow(),
                "{repo}"
            );
        }
    }

    #[test]
    fn rule_patterns_are_canonical_too() {
        let r = [
            Rule::allow(["*"], ["*"]),
            Rule::deny(["push"], ["ACME/Prod-Infra.git/"]),
            Rule::deny(["push"], ["Acme/Billing/branches/main"]),
        ];
        assert!(eval(Request::new("git", "push", "acme/prod-infra"), &r).is_deny());
        assert!(
            eval(
                Request::new("git", "push", "acme/billing").attr("branch", "main"),
                &r
            )
            .is_deny()
        );
        assert!(
            eval(
                Request::new("git", "push", "acme/billing").attr("branch", "dev"),
                &r
            )
            .is_allow()
        );
        assert_eq!(
            canonical_repo("Repos/Acme-API.git").as_deref(),
            Ok("repos/acme-api")
        );
    }

    #[test]
    fn case_games_on_actions_do_not_dodge_rules() {
        let r = [
            Rule::allow(["*"], ["acme/*"]),
            Rule::deny(["push"], ["acme/*"]),
        ];
        assert!(eval(Request::new("git", "PUSH", "acme/api"), &r).is_deny());
        assert!(eval(Request::new("git", "Push", "acme/api"), &r).is_deny());
    }

    #[test]
    fn seed_000_resource_form_and_read_group() {
        let r = [
            Rule::allow(["read"], ["repos/*"]),
            Rule::allow(["push"], ["repos/*/branches/feature/*"]),
        ];
        for a in ["read", "clone", "fetch", "pull"] {
            assert!(
                eval(Request::new("git", a, "repos/acme-api"), &r).is_allow(),
                "{a}"
            );
        }
        assert!(
            eval(
                Request::new("git", "push", "repos/acme-api/branches/feature/login"),
                &r
            )
            .is_allow()
        );
        assert!(
            eval(
                Request::new("git", "push", "repos/acme-api").attr("branch", "feature/login"),
                &r
            )
            .is_allow()
        );
        assert_eq!(
            eval(
                Request::new("git", "push", "repos/acme-api/branches/main"),
                &r
            ),
            Verdict::Abstain
        );
        assert_eq!(
            eval(Request::new("git", "push", "repos/acme-api"), &r),
            Verdict::Abstain
        );
        assert_eq!(
            eval(Request::new("git", "merge", "repos/acme-api"), &r),
            Verdict::Abstain
        );
    }
}
