//! `git` and `gh` command lines as requests of the `git` service: the
//! repository (`owner/name`) from the remote the command names or the
//! working directory's, the branch from the refspec or the checked-out
//! branch. What changes the repository or the behaviour out of sight
//! (`-C` elsewhere, `--git-dir`, `-c`, `--exec`, `--receive-pack`) and a
//! repository or branch that cannot be known are unknown.

use super::parse::Word;
use super::words::{Here, skip_options};
use crate::toolcall::{Ask, SHELL};

/// The service git commands are decided by.
pub const GIT: &str = "git";

/// The requests of `git args…`.
pub(super) fn git(args: &[Word], here: &Here<'_>, text: &str, out: &mut Vec<Ask>) {
    let unknown = |why: &str| Ask::unknown(SHELL, GIT, why, text);
    let mut same_repo = here.same_dir;
    let mut i = 0;
    // Global options, before the subcommand.
    while let Some(w) = args.get(i) {
        let Some(a) = w.known() else {
            return out.push(unknown("an option is only known when the line runs"));
        };
        if !a.starts_with('-') {
            break;
        }
        match a {
            "-C" => {
                let target = args.get(i + 1).and_then(Word::known);
                let stays = target.is_some_and(|t| t == "." || t.is_empty())
                    || target.zip(here.dir).is_some_and(|(t, d)| {
                        crate::toolcall::paths::absolute(t, Some(d)).as_deref() == Some(d)
                    });
                same_repo &= stays;
                i += 2;
            }
            "--no-pager"
            | "-p"
            | "--paginate"
            | "-P"
            | "--no-replace-objects"
            | "--literal-pathspecs"
            | "--glob-pathspecs"
            | "--noglob-pathspecs"
            | "--icase-pathspecs"
            | "--no-optional-locks"
            | "--no-lazy-fetch"
            | "--no-advice"
            | "--bare" => i += 1,
            _ if a.starts_with("--git-dir")
                || a.starts_with("--work-tree")
                || a.starts_with("--namespace") =>
            {
                same_repo = false;
                i += if a.contains('=') { 1 } else { 2 };
            }
            _ => {
                return out.push(unknown(&format!(
                    "`git {a}` changes what git runs or reads (configuration, aliases, programs)"
                )));
            }
        }
    }
    let Some(sub) = args.get(i).and_then(Word::known) else {
        return out.push(unknown("no subcommand git can be seen to run"));
    };
    let rest = &args[i + 1..];
    if runs_other(sub, rest) {
        return out.push(unknown(&format!(
            "`git {sub}` is given a command or program to run, which the mapping cannot read"
        )));
    }
    let repo = |remote: Option<&str>| repository(remote, same_repo, here, false);
    match sub {
        "push" => push(rest, here, same_repo, text, out),
        "clone" => {
            let with_value = [
                "-b",
                "--branch",
                "-o",
                "--origin",
                "--depth",
                "--reference",
                "-j",
                "--jobs",
                "--filter",
                "--separate-git-dir",
                "--shallow-since",
                "--shallow-exclude",
            ];
            match skip_options(rest, &with_value)
                .and_then(|r| r.first())
                .and_then(Word::known)
            {
                Some(url) => match url_repository(url, here.shell.git_hosts) {
                    Ok(r) => out.push(Ask::new(GIT, "clone", r, text)),
                    Err(why) => out.push(unknown(&why)),
                },
                None => out.push(unknown("clones a repository the line does not fix")),
            }
        }
        "pull" | "fetch" | "ls-remote" => {
            let action = if sub == "ls-remote" { "read" } else { sub };
            let with_value = [
                "--depth",
                "-j",
                "--jobs",
                "--refmap",
                "-o",
                "--server-option",
                "-s",
                "--strategy",
                "-X",
                "--strategy-option",
            ];
            let remote = match skip_options(rest, &with_value) {
                Some(r) => r.first().map(Word::known),
                None => return out.push(unknown("an option is only known when the line runs")),
            };
            match remote {
                Some(None) => out.push(unknown("the remote is only known when the line runs")),
                Some(Some(r)) => match repo(Some(r)) {
                    Ok(repo) => out.push(Ask::new(GIT, action, repo, text)),
                    Err(why) => out.push(unknown(&why)),
                },
                None => match repo(None) {
                    Ok(repo) => out.push(Ask::new(GIT, action, repo, text)),
                    Err(why) => out.push(unknown(&why)),
                },
            }
        }
        _ => {
            // Everything else acts on the working directory's repository,
            // as the action of its name (`status`, `commit`, `merge`…).
            match repo(None) {
                Ok(repo) => {
                    let mut ask = Ask::new(GIT, sub, repo, text);
                    if let Some(b) = current_branch(here, same_repo) {
                        ask = ask.with("branch", b);
                    }
                    out.push(ask);
                }
                Err(why) => out.push(unknown(&why)),
            }
        }
    }
}

/// Whether `git SUB REST…` runs a program the line names to it
/// (`--exec`, `--upload-pack`, `rebase -x`, `submodule foreach`,
/// `bisect run`, filters, external diff tools).
fn runs_other(sub: &str, rest: &[Word]) -> bool {
    let options: &[&str] = match sub {
        "push" => &["--exec", "--receive-pack", "--repo"],
        "clone" => &["--upload-pack", "-u", "--template", "-c", "--config"],
        "fetch" | "pull" | "ls-remote" | "archive" => &["--upload-pack", "--exec"],
        "rebase" => &["-x", "--exec"],
        "difftool" | "mergetool" => return true,
        "filter-branch" | "filter-repo" => return true,
        _ => &[],
    };
    let words: Vec<&str> = rest.iter().filter_map(Word::known).collect();
    match (sub, words.first()) {
        ("submodule", Some(&"foreach")) | ("bisect", Some(&"run")) => return true,
        _ => {}
    }
    words.iter().any(|a| {
        options
            .iter()
            .any(|o| a == o || a.starts_with(&format!("{o}=")))
    })
}

fn current_branch(here: &Here<'_>, same_repo: bool) -> Option<String> {
    same_repo
        .then(|| here.shell.workspace.and_then(|w| w.branch.clone()))
        .flatten()
}

/// The repository `owner/name` a remote (a name or a URL) points at; with
/// no remote, the remote of the working directory's push target (else
/// `origin`); for a push, where that remote pushes.
fn repository(
    remote: Option<&str>,
    same_repo: bool,
    here: &Here<'_>,
    push: bool,
) -> Result<String, String> {
    if let Some(r) = remote
        && looks_like_url(r)
    {
        return url_repository(r, here.shell.git_hosts);
    }
    if !same_repo {
        return Err(
            "acts on a repository other than the working directory's, which cannot be known here"
                .into(),
        );
    }
    let Some(ws) = here.shell.workspace else {
        return Err("the working directory's repository is not known (no workspace was sent: use the `palisade hook` command)".into());
    };
    let name = remote
        .map(str::to_owned)
        .or_else(|| ws.push_target().map(|(r, _)| r.to_owned()))
        .unwrap_or_else(|| "origin".into());
    // A push goes where the remote pushes (`pushurl`), which may differ
    // from where it fetches.
    let url = push
        .then(|| ws.push_urls.get(&name))
        .flatten()
        .or_else(|| ws.remotes.get(&name));
    match url {
        Some(url) => url_repository(url, here.shell.git_hosts),
        None => Err(format!("the working directory has no remote `{name}`")),
    }
}

fn looks_like_url(r: &str) -> bool {
    r.contains("://") || r.contains(':') || r.starts_with('/') || r.starts_with('.')
}

/// `owner/name` of a remote URL on one of `hosts`: `https://github.com/
/// acme/billing.git`, `ssh://git@github.com/acme/billing`,
/// `git@github.com:acme/billing.git`. A URL on another host, a local path
/// or anything else is refused: a push there is a push out of the policy's
/// sight.
pub(super) fn url_repository(url: &str, hosts: &[String]) -> Result<String, String> {
    // `https://evil.example?@github.com/acme/x`: curl ends the host at `?`,
    // this reading would not. Characters a URL parser may read another way
    // make the remote unknown.
    if url.contains(['?', '#', '\\']) || url.contains(char::is_whitespace) {
        return Err(format!(
            "remote `{url}` has characters (`?`, `#`, `\\`, blanks) that git could read as another host"
        ));
    }
    let (host, path) = if let Some((scheme, rest)) = url.split_once("://") {
        if !matches!(
            scheme,
            "https" | "http" | "ssh" | "git" | "git+ssh" | "ssh+git"
        ) {
            return Err(format!(
                "remote `{url}` uses a scheme the mapping does not read"
            ));
        }
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let host = authority.rsplit('@').next().unwrap_or(authority);
        let host = host.split(':').next().unwrap_or(host);
        (host, path)
    } else if let Some((authority, path)) = url.split_once(':')
        && !authority.contains('/')
    {
        (authority.rsplit('@').next().unwrap_or(authority), path)
    } else {
        return Err(format!(
            "remote `{url}` is a local path, not a repository a policy names"
        ));
    };
    if !hosts.iter().any(|h| h.eq_ignore_ascii_case(host)) {
        return Err(format!(
            "remote `{url}` is on `{host}`, not a host the policy's repositories are on ({})",
            hosts.join(", ")
        ));
    }
    let path = path.trim_start_matches('/').trim_end_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    if path.split('/').count() != 2 || path.split('/').any(str::is_empty) {
        return Err(format!("remote `{url}` names no `owner/name`"));
    }
    Ok(path.to_owned())
}

/// `git push [options] [remote [refspec…]]`.
fn push(rest: &[Word], here: &Here<'_>, same_repo: bool, text: &str, out: &mut Vec<Ask>) {
    let unknown = |why: &str| Ask::unknown(SHELL, GIT, why, text);
    let mut force = false;
    let mut delete = false;
    let mut positional: Vec<&str> = Vec::new();
    let mut iter = rest.iter();
    let mut options_done = false;
    while let Some(w) = iter.next() {
        let Some(a) = w.known() else {
            return out.push(unknown("an argument is only known when the line runs"));
        };
        if options_done || !a.starts_with('-') {
            positional.push(a);
            continue;
        }
        match a {
            "--" => options_done = true,
            "-f" | "--force" => force = true,
            _ if a.starts_with("--force-with-lease") || a.starts_with("--force-if-includes") => {
                force = true
            }
            "-d" | "--delete" => delete = true,
            _ if a.starts_with("--recurse-submodules")
                && !matches!(a, "--recurse-submodules=no" | "--recurse-submodules=check") =>
            {
                return out.push(unknown(
                    "pushes submodules too, to repositories the line does not name",
                ));
            }
            "--all" | "--mirror" | "--tags" | "--branches" => {
                return out.push(unknown(&format!(
                    "`git push {a}` pushes branches the line does not name"
                )));
            }
            "-o" | "--push-option" => {
                iter.next();
            }
            _ if a.starts_with("-") && a.len() > 2 && !a.starts_with("--") && a.contains('f') => {
                force = true
            }
            _ => {}
        }
    }
    let (remote, refspecs) = match positional.split_first() {
        Some((r, specs)) => (Some(*r), specs.to_vec()),
        None => (None, Vec::new()),
    };
    let workspace = here.shell.workspace.filter(|_| same_repo && here.same_dir);
    if refspecs.is_empty() {
        // `git push [REMOTE]`: where git's `@{push}` says, as the hook
        // read it (it applies `push.default`, `remote.*.push` and the
        // branch's upstream), and only to that remote.
        return match workspace.and_then(|w| w.push_target()) {
            Some((r, branch)) if remote.is_none_or(|x| x == r) => {
                match repository(Some(r), same_repo, here, true) {
                    Ok(repo) => out.push(push_ask(&repo, branch, force, delete, text)),
                    Err(why) => out.push(unknown(&why)),
                }
            }
            _ => out.push(unknown(
                "pushes without naming a branch, and where that goes is not known here; \
                 name it: `git push origin BRANCH`",
            )),
        };
    }
    let repository = match repository(remote, same_repo, here, true) {
        Ok(r) => r,
        Err(why) => return out.push(unknown(&why)),
    };
    let current = workspace.and_then(|w| w.branch.clone());
    for spec in refspecs {
        let spec = spec.strip_prefix('+').map_or(spec, |s| {
            force = true;
            s
        });
        let (src, dst) = match spec.split_once(':') {
            Some((s, d)) => (s, d),
            None => (spec, spec),
        };
        let deleting = delete || (src.is_empty() && spec.contains(':'));
        let dst = if dst == "HEAD" || dst == "@" {
            match &current {
                Some(b) => b.as_str(),
                None => return out.push(unknown("pushes HEAD, whose branch is not known here")),
            }
        } else {
            dst
        };
        let branch = dst.strip_prefix("refs/heads/").unwrap_or(dst);
        if branch.is_empty() || branch.starts_with("refs/") {
            return out.push(unknown(&format!(
                "pushes `{spec}`, not a branch the mapping reads"
            )));
        }
        out.push(push_ask(&repository, branch, force, deleting, text));
    }
}

fn push_ask(repo: &str, branch: &str, force: bool, delete: bool, text: &str) -> Ask {
    let action = if delete { "branch-delete" } else { "push" };
    let mut ask = Ask::new(GIT, action, repo, text).with("branch", branch);
    if force {
        ask = ask.with("force", "true");
    }
    ask
}

/// `gh pr merge`, `gh repo clone`, `gh pr|issue|release VERB` as git
/// requests on the repository (`-R owner/name`, else the working
/// directory's); anything else of `gh` (`api`, `auth`, `alias`,
/// `extension`…) is unknown.
pub(super) fn gh(args: &[Word], here: &Here<'_>, text: &str, out: &mut Vec<Ask>) {
    let unknown = |why: &str| Ask::unknown(SHELL, "gh", why, text);
    let Some(words) = args.iter().map(Word::known).collect::<Option<Vec<_>>>() else {
        return out.push(unknown("an argument is only known when the line runs"));
    };
    // gh takes the last `-R`; more than one is not read here.
    let named: Vec<&str> = words
        .iter()
        .enumerate()
        .filter_map(|(i, a)| match *a {
            "-R" | "--repo" => words.get(i + 1).copied(),
            _ => a.strip_prefix("--repo="),
        })
        .collect();
    if named.len() > 1 {
        return out.push(unknown("names its repository more than once"));
    }
    let explicit = named.first().copied();
    let positional: Vec<&str> = words
        .iter()
        .copied()
        .filter(|a| !a.starts_with('-'))
        .collect();
    let (action, repo_arg) = match positional.as_slice() {
        ["pr", "merge", ..] => ("merge".to_owned(), None),
        ["repo", "clone", r, ..] => ("clone".to_owned(), Some(*r)),
        [group @ ("pr" | "issue" | "release"), verb, ..] => (format!("{group}-{verb}"), None),
        _ => return out.push(unknown("a `gh` command the mapping does not read")),
    };
    // `gh pr merge https://github.com/acme/prod/pull/5` acts on the URL's
    // repository, not the working directory's.
    if repo_arg.is_none() && positional.iter().skip(2).any(|a| a.contains("://")) {
        return out.push(unknown(
            "names its pull request or issue by URL, whose repository is not read here",
        ));
    }
    let repo = match repo_arg.or(explicit) {
        Some(r) if r.contains("://") || r.contains('@') => url_repository(r, here.shell.git_hosts),
        Some(r) if r.split('/').count() == 2 => Ok(r.to_owned()),
        Some(r) => Err(format!("`{r}` is not an `owner/name` repository")),
        None => repository(None, here.same_dir, here, false),
    };
    match repo {
        Ok(r) => out.push(Ask::new(GIT, &action, r, text)),
        Err(why) => out.push(unknown(&why)),
    }
}
