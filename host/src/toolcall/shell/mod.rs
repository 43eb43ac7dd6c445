//! Shell command lines held to the policy: a line is read
//! ([`parse`]) into the commands it would run, and each command is mapped
//! ([`map`]) onto the service a policy already names (`git push origin
//! main` is git `push` on the repository's branch `main`), onto the
//! `shell` service (`kubectl:delete`, `rm:recursive`, `run` of a program),
//! or onto `shell`'s `unknown` action where the line cannot be read
//! without running it.

mod git;
mod map;
pub mod parse;
mod tools;
mod words;

use super::{Ask, Workspace};

/// Words of commands that change the checked-out branch.
const MOVES_HEAD: &[&str] = &[
    "checkout",
    "switch",
    "symbolic-ref",
    "update-ref",
    "worktree",
    "branch -m",
    "branch -M",
    "branch --move",
    "rebase",
];

/// `git` subcommands that leave the checked-out branch where it is. Any
/// other (`checkout`, a user's alias such as `co`…) may move it.
const KEEPS_HEAD: &[&str] = &[
    "add",
    "am",
    "apply",
    "blame",
    "cat-file",
    "cherry-pick",
    "clean",
    "clone",
    "commit",
    "config",
    "describe",
    "diff",
    "fetch",
    "format-patch",
    "grep",
    "help",
    "init",
    "log",
    "ls-files",
    "ls-remote",
    "ls-tree",
    "merge",
    "mv",
    "notes",
    "pull",
    "push",
    "reflog",
    "remote",
    "reset",
    "restore",
    "revert",
    "rev-list",
    "rev-parse",
    "rm",
    "shortlog",
    "show",
    "show-ref",
    "status",
    "tag",
    "version",
];

/// Whether a line may check out another branch before a later command of
/// it: a word of [`MOVES_HEAD`] in the line as written or in any word it
/// is read into (quotes and escapes undone: `git check''out`), or a `git`
/// command whose subcommand is not one of [`KEEPS_HEAD`] (or not known).
fn moves_head(line: &str, parts: &[parse::Part]) -> bool {
    let named = |text: &str| MOVES_HEAD.iter().any(|w| text.contains(w));
    if named(line) {
        return true;
    }
    parts.iter().any(|p| match p {
        // Unknown as a whole, so denied whatever the branch.
        parse::Part::Opaque { .. } => false,
        parse::Part::Command(c) => {
            let words: Vec<&str> = c.argv.iter().map(parse::Word::text).collect();
            named(&words.join(" ")) || git_may_move(&c.argv)
        }
    })
}

/// Whether `argv` runs `git` (by name or path, anywhere in it: behind
/// `sudo`, `env`…) with a subcommand that may move HEAD.
fn git_may_move(argv: &[parse::Word]) -> bool {
    let Some(at) = argv
        .iter()
        .position(|w| w.known().is_some_and(|p| p == "git" || p.ends_with("/git")))
    else {
        return false;
    };
    let mut rest = argv[at + 1..].iter();
    while let Some(w) = rest.next() {
        match w.known() {
            // Options with a value, then the others.
            Some("-C" | "-c" | "--git-dir" | "--work-tree" | "--namespace") => {
                rest.next();
            }
            Some(o) if o.starts_with('-') => {}
            Some(sub) => return !KEEPS_HEAD.contains(&sub),
            None => return true,
        }
    }
    false
}

/// What mapping a line needs to know besides the line.
#[derive(Debug, Clone, Copy)]
pub struct Shell<'a> {
    /// The absolute working directory the line runs in, if known.
    pub cwd: Option<&'a str>,
    /// The git remotes and branch there, if the caller looked.
    pub workspace: Option<&'a Workspace>,
    /// Hosts whose repositories a policy names as `owner/name`.
    pub git_hosts: &'a [String],
}

/// The requests `line` makes, in the order its commands appear: never
/// empty (an empty line is one `run` of nothing, which no rule allows).
pub fn asks(line: &str, shell: &Shell<'_>) -> Vec<Ask> {
    // The workspace was read before the line runs: a line that may check
    // out another branch (`git checkout main && git push origin HEAD`)
    // has no known branch or push target, anywhere in it.
    let parts = parse::parse(line);
    let moved;
    let shell = match shell.workspace {
        Some(ws) if moves_head(line, &parts) => {
            moved = Workspace {
                branch: None,
                push_target: None,
                ..ws.clone()
            };
            &Shell {
                workspace: Some(&moved),
                ..*shell
            }
        }
        _ => shell,
    };
    let mut out = map::parts(parts, shell, 0);
    if out.is_empty() {
        out.push(Ask::unknown(
            super::SHELL,
            "-",
            "the line runs no command",
            line,
        ));
    }
    out
}

#[cfg(test)]
mod tests;
