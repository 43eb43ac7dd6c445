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
    let moved;
    let shell = match shell.workspace {
        Some(ws) if MOVES_HEAD.iter().any(|w| line.contains(w)) => {
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
    let mut out = map::line(line, shell, 0);
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
