//! One command's requests: wrappers (`sudo`, `env`, `xargs`, `bash -c`…)
//! peeled off, then the program's own mapping (see `git` and `tools`), or
//! `run` of the program on the `shell` service.

use super::parse::{self, Command, Part, Word};
use super::words::{Here, has_flag, skip_strict};
use super::{Shell, tools};
use crate::toolcall::{Ask, SHELL, paths};

/// Where programs named by an absolute path are taken for the program of
/// their name (`/usr/bin/git` is `git`); a path anywhere else is a program
/// the line may have written itself.
const BIN_DIRS: &[&str] = &[
    "/bin",
    "/sbin",
    "/usr/bin",
    "/usr/sbin",
    "/usr/local/bin",
    "/usr/local/sbin",
    "/opt/homebrew/bin",
];

/// Shells: with `-c` they run their argument (read here); otherwise a
/// script or their input, which cannot be read here.
const SHELLS: &[&str] = &[
    "sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "fish", "busybox",
];

/// Interpreters whose inline code (`-c`, `-e`) cannot be read here.
const INTERPRETERS: &[(&str, &[&str])] = &[
    ("python", &["-c"]),
    ("python3", &["-c"]),
    ("python2", &["-c"]),
    ("perl", &["-e", "-E"]),
    ("ruby", &["-e"]),
    ("node", &["-e", "--eval", "-p", "--print"]),
    ("deno", &["eval"]),
    ("php", &["-r"]),
    ("lua", &["-e"]),
    ("osascript", &["-e"]),
    ("awk", &[]),
    ("gawk", &[]),
];

/// Builtins that change how later commands are read or run (`alias git=…`,
/// `PATH`, `source`), whatever their arguments.
const REWIRING: &[&str] = &[
    "alias", "source", ".", "trap", "enable", "hash", "shopt", "set", "unalias", "declare",
    "typeset", "readonly", "local", "bind", "builtin", "fc", "history", "let",
];

/// Variables that change what a command runs or where it acts.
fn rewires(name: &str) -> bool {
    const EXACT: &[&str] = &[
        "PATH",
        "IFS",
        "ENV",
        "BASH_ENV",
        "PROMPT_COMMAND",
        "KUBECONFIG",
        "SHELLOPTS",
        "BASHOPTS",
        "CDPATH",
        "HOME",
        "PSQLRC",
        "PGSERVICEFILE",
        "PGHOST",
        "PGDATABASE",
    ];
    const PREFIX: &[&str] = &["LD_", "DYLD_", "GIT_", "AWS_", "GH_", "BASH_FUNC_", "TF_"];
    EXACT.contains(&name) || PREFIX.iter().any(|p| name.starts_with(p))
}

/// The requests of every part of `line`.
pub(super) fn line(line: &str, shell: &Shell<'_>, depth: usize) -> Vec<Ask> {
    if depth > parse::MAX_DEPTH {
        return vec![Ask::unknown(SHELL, "-", "nested too deep to read", line)];
    }
    parts(parse::parse(line), shell, depth)
}

/// The requests of a line's parts, read.
pub(super) fn parts(parts: Vec<Part>, shell: &Shell<'_>, depth: usize) -> Vec<Ask> {
    let mut out = Vec::new();
    for part in parts {
        match part {
            Part::Opaque { why, text } => out.push(Ask::unknown(SHELL, "-", &why, &text)),
            Part::Command(c) => command(&c, shell, depth, &mut out),
        }
    }
    out
}

/// The text of a command, for people.
fn text_of(argv: &[Word]) -> String {
    argv.iter().map(Word::text).collect::<Vec<_>>().join(" ")
}

/// The working directory of `c`, absolute, if known.
fn dir_of(c: &Command, shell: &Shell<'_>) -> Option<String> {
    match c.dir.as_deref() {
        Some("") => shell.cwd.map(str::to_owned),
        Some(d) => paths::absolute(d, shell.cwd),
        None => None,
    }
}

fn command(c: &Command, shell: &Shell<'_>, depth: usize, out: &mut Vec<Ask>) {
    let text = text_of(&c.argv);
    let dir = dir_of(c, shell);
    for r in &c.redirects {
        out.push(redirect(r, dir.as_deref(), &text));
    }
    for assignment in &c.env {
        if let Some(why) = rewiring_assignment(assignment) {
            out.push(Ask::unknown(SHELL, "-", &why, assignment.text()));
        }
    }
    if c.argv.is_empty() {
        return;
    }
    let here = Here {
        shell,
        dir: dir.as_deref(),
        // Not moved, or moved back to where the line runs (`cd /work/x`
        // when that is the working directory).
        same_dir: c.dir.as_deref() == Some("")
            || (dir.is_some() && dir == shell.cwd.and_then(|w| paths::absolute(w, None))),
        piped_input: c.piped_input,
        privileged: false,
        depth,
    };
    program(&c.argv, here, out);
}

/// Why an assignment `NAME=value` changes what commands run, if it does.
fn rewiring_assignment(word: &Word) -> Option<String> {
    let name = match word {
        Word::Known(s) | Word::Dynamic(s) => s.split('=').next().unwrap_or(s),
    };
    rewires(name).then(|| format!("sets `{name}`, which changes what commands run or where"))
}

fn redirect(r: &parse::Redirect, dir: Option<&str>, text: &str) -> Ask {
    let action = if r.writes { "write" } else { "read" };
    match r.target.known() {
        Some(path @ ("/dev/null" | "/dev/stdout" | "/dev/stderr" | "/dev/tty")) => {
            Ask::new(crate::toolcall::FILES, action, path, text).with("device", "true")
        }
        Some(path) => crate::toolcall::file_ask(action, path, dir, text),
        None => Ask::unknown(
            SHELL,
            "-",
            "redirects to a file the line does not fix",
            r.target.text(),
        ),
    }
}

/// The requests of `argv` run where `here` says.
pub(super) fn program(argv: &[Word], mut here: Here<'_>, out: &mut Vec<Ask>) {
    let text = text_of(argv);
    // Every wrapper (`env env env …`) is a level: bounded, so a hostile line
    // cannot exhaust the stack.
    here.depth += 1;
    if here.depth > 2 * parse::MAX_DEPTH {
        out.push(Ask::unknown(
            SHELL,
            "-",
            "wrapped too many times to read",
            &text,
        ));
        return;
    }
    let Some(first) = argv.first() else { return };
    let Some(name) = first.known() else {
        out.push(Ask::unknown(
            SHELL,
            "-",
            "the program is only known when the line runs",
            &text,
        ));
        return;
    };
    let name = match program_name(name) {
        Ok(n) => n,
        Err(why) => {
            out.push(Ask::unknown(SHELL, name, &why, &text));
            return;
        }
    };
    let args = &argv[1..];
    let start = out.len();
    match name {
        "sudo" | "doas" => {
            here.privileged = true;
            // `sudo -D DIR`: another directory, as `env -C`.
            if has_flag(args, &["-D", "--chdir"])
                || args
                    .iter()
                    .any(|a| a.known().is_some_and(|a| a.starts_with("--chdir=")))
            {
                here.same_dir = false;
                here.dir = None;
            }
            let with_value = [
                "-u",
                "-g",
                "-C",
                "-D",
                "-h",
                "-p",
                "-r",
                "-t",
                "-U",
                "-T",
                "--user",
                "--group",
                "--chdir",
                "--host",
                "--prompt",
                "--role",
                "--type",
                "--other-user",
                "--close-from",
                "--command-timeout",
            ];
            let no_value = [
                "-E",
                "-H",
                "-n",
                "-P",
                "-S",
                "-b",
                "-k",
                "-A",
                "-B",
                "-N",
                "--preserve-env",
                "--non-interactive",
                "--stdin",
                "--set-home",
                "--askpass",
                "--background",
                "--bell",
                "--reset-timestamp",
                "--preserve-groups",
            ];
            match skip_strict(args, &with_value, &no_value) {
                Some(rest) if !rest.is_empty() => program(rest, here, out),
                _ => out.push(Ask::unknown(
                    SHELL,
                    name,
                    "runs a shell or editor as another user, or with an option the mapping does not read",
                    &text,
                )),
            }
        }
        "env" => env(args, here, &text, out),
        "nohup" => wrapped(args, &[], &[], here, name, &text, out),
        "time" => wrapped(
            args,
            &["-o", "-f", "--output", "--format"],
            &[
                "-p",
                "-v",
                "-a",
                "-q",
                "--portability",
                "--verbose",
                "--append",
                "--quiet",
            ],
            here,
            name,
            &text,
            out,
        ),
        "setsid" => wrapped(
            args,
            &[],
            &["-f", "-w", "-c", "--fork", "--wait", "--ctty"],
            here,
            name,
            &text,
            out,
        ),
        "nice" => wrapped(
            args,
            &["-n", "--adjustment"],
            &["-#"],
            here,
            name,
            &text,
            out,
        ),
        "ionice" => wrapped(
            args,
            &["-c", "-n", "--class", "--classdata"],
            &["-t"],
            here,
            name,
            &text,
            out,
        ),
        "stdbuf" => wrapped(
            args,
            &["-i", "-o", "-e", "--input", "--output", "--error"],
            &[],
            here,
            name,
            &text,
            out,
        ),
        "command" if matches!(args.first().and_then(Word::known), Some("-v" | "-V")) => {
            out.push(Ask::new(SHELL, "run", "command", &text));
        }
        "command" => wrapped(args, &[], &["-p"], here, name, &text, out),
        "exec" => wrapped(args, &["-a"], &["-c", "-l"], here, name, &text, out),
        "timeout" => match skip_strict(
            args,
            &["-s", "-k", "--signal", "--kill-after"],
            &["-v", "--verbose", "--preserve-status", "--foreground"],
        ) {
            // The first word after the options is the duration.
            Some([_, rest @ ..]) if !rest.is_empty() => program(rest, here, out),
            _ => out.push(Ask::unknown(SHELL, name, "cannot tell what it runs", &text)),
        },
        "xargs" => xargs(args, here, &text, out),
        // A variable name with a subscript is evaluated as arithmetic,
        // which runs the `$(…)` a subscript may hold (see `parse`).
        "unset" | "read" | "test" | "[" | "printf" | "mapfile" | "readarray"
            if (name != "printf" || has_flag(args, &["-v"]))
                && args.iter().any(|a| a.text().contains('[')) =>
        {
            out.push(Ask::unknown(
                SHELL,
                name,
                "names an array element, whose subscript bash evaluates",
                &text,
            ));
        }
        "eval" => match known_words(args) {
            Some(words) => out.extend(nested(&words.join(" "), here)),
            None => out.push(Ask::unknown(
                SHELL,
                name,
                "evaluates text only known when the line runs",
                &text,
            )),
        },
        _ if REWIRING.contains(&name)
            || (name == "export" && args.iter().any(|a| rewiring_assignment(a).is_some())) =>
        {
            out.push(Ask::unknown(
                SHELL,
                name,
                "changes how later commands are read or run",
                &text,
            ));
        }
        _ if SHELLS.contains(&name) => shell_command(name, args, here, &text, out),
        _ => {
            if let Some((_, inline)) = INTERPRETERS.iter().find(|(n, _)| *n == name)
                && (inline.is_empty()
                    || has_flag(args, inline)
                    || here.piped_input && args.is_empty())
            {
                out.push(Ask::unknown(
                    SHELL,
                    name,
                    "runs code the mapping cannot read",
                    &text,
                ));
            } else {
                match tools::map(name, args, &here, &text, out) {
                    None => out.push(Ask::new(SHELL, "run", name, &text)),
                    // Commands it runs in turn (`find -exec`).
                    Some(inner) => {
                        for argv in inner {
                            program(&argv, here, out);
                        }
                    }
                }
            }
        }
    }
    if here.privileged {
        for ask in &mut out[start..] {
            ask.attributes.insert("privileged".into(), "true".into());
        }
    }
}

/// `name` as a program: its base name when it is a path into a system
/// binary folder.
fn program_name(name: &str) -> Result<&str, String> {
    if !name.contains('/') {
        if name.is_empty() {
            return Err("runs an empty program name".into());
        }
        return Ok(name);
    }
    match name.rsplit_once('/') {
        Some((dir, base)) if BIN_DIRS.contains(&dir) && !base.is_empty() => Ok(base),
        _ => Err(format!(
            "runs `{name}`, a program by a path outside the system's binary folders"
        )),
    }
}

/// Every word's value, if all are known.
fn known_words(args: &[Word]) -> Option<Vec<&str>> {
    args.iter().map(Word::known).collect()
}

fn wrapped(
    args: &[Word],
    with_value: &[&str],
    no_value: &[&str],
    here: Here<'_>,
    name: &str,
    text: &str,
    out: &mut Vec<Ask>,
) {
    match skip_strict(args, with_value, no_value) {
        Some(rest) if !rest.is_empty() => program(rest, here, out),
        Some(_) => out.push(Ask::new(SHELL, "run", name, text)),
        None => out.push(Ask::unknown(SHELL, name, "cannot tell what it runs", text)),
    }
}

/// `env [-i] [-u NAME] [NAME=value…] program…`.
fn env(args: &[Word], mut here: Here<'_>, text: &str, out: &mut Vec<Ask>) {
    let mut i = 0;
    while let Some(a) = args.get(i) {
        let Some(a) = a.known() else {
            out.push(Ask::unknown(
                SHELL,
                "env",
                "an argument is only known when run",
                text,
            ));
            return;
        };
        if a == "-S" || a.starts_with("--split-string") || a.starts_with("-S") {
            out.push(Ask::unknown(
                SHELL,
                "env",
                "splits a string into a command",
                text,
            ));
            return;
        }
        if a == "-C" || a.starts_with("--chdir") {
            // Another directory: the caller's workspace does not apply.
            here.same_dir = false;
            here.dir = None;
            i += if a == "-C" { 2 } else { 1 };
            continue;
        }
        if a == "-u" || a == "--unset" {
            i += 2;
            continue;
        }
        if matches!(
            a,
            "-i" | "-0" | "-v" | "--ignore-environment" | "--null" | "--debug"
        ) || a.starts_with("--unset=")
        {
            i += 1;
            continue;
        }
        if a.starts_with('-') {
            out.push(Ask::unknown(
                SHELL,
                "env",
                &format!("`env {a}` is an option the mapping does not read"),
                text,
            ));
            return;
        }
        if a.contains('=') {
            if let Some(why) = rewiring_assignment(&args[i]) {
                out.push(Ask::unknown(SHELL, "env", &why, text));
                return;
            }
            i += 1;
            continue;
        }
        break;
    }
    match args.get(i..) {
        Some(rest) if !rest.is_empty() => program(rest, here, out),
        _ => out.push(Ask::new(SHELL, "run", "env", text)),
    }
}

/// `xargs [options] program args…`: the program is given words read from
/// its input, which are only known when run.
fn xargs(args: &[Word], here: Here<'_>, text: &str, out: &mut Vec<Ask>) {
    let with_value = [
        "-I",
        "-L",
        "-n",
        "-P",
        "-s",
        "-d",
        "-E",
        "-a",
        "-l",
        "--arg-file",
        "--delimiter",
        "--max-args",
        "--max-procs",
    ];
    let no_value = [
        "-0",
        "-r",
        "-t",
        "-p",
        "-x",
        "-o",
        "--null",
        "--no-run-if-empty",
        "--verbose",
        "--interactive",
        "--exit",
        "--open-tty",
    ];
    let Some(rest) = skip_strict(args, &with_value, &no_value) else {
        out.push(Ask::unknown(
            SHELL,
            "xargs",
            "an option is only known when run",
            text,
        ));
        return;
    };
    let replace = args
        .iter()
        .position(|a| a.known() == Some("-I"))
        .and_then(|i| args.get(i + 1))
        .and_then(Word::known)
        .or_else(|| has_flag(args, &["-i"]).then_some("{}"));
    let mut argv: Vec<Word> = if rest.is_empty() {
        vec![Word::Known("echo".into())]
    } else {
        rest.iter()
            .map(|w| match (w, replace) {
                (Word::Known(s), Some(r)) if s.contains(r) => Word::Dynamic(s.clone()),
                _ => w.clone(),
            })
            .collect()
    };
    if replace.is_none() {
        argv.push(Word::Dynamic("<input>".into()));
    }
    program(&argv, here, out);
}

/// The requests of `inner`, a line that `bash -c` or `eval` runs where
/// `here` runs: after a `cd` elsewhere (or `env -C`, `sudo -D`), neither
/// the line's working directory nor its workspace holds there.
fn nested(inner: &str, here: Here<'_>) -> Vec<Ask> {
    if here.same_dir {
        return line(inner, here.shell, here.depth + 1);
    }
    let moved = Shell {
        cwd: here.dir,
        workspace: None,
        git_hosts: here.shell.git_hosts,
    };
    line(inner, &moved, here.depth + 1)
}

/// `bash -c 'line'` reads `line`; `bash script`, `bash` reading its input:
/// not readable here.
fn shell_command(name: &str, args: &[Word], here: Here<'_>, text: &str, out: &mut Vec<Ask>) {
    let mut iter = args.iter();
    while let Some(a) = iter.next() {
        match a.known() {
            // `-c`, or combined flags such as `-lc`, `-ec`.
            Some(f) if f.starts_with('-') && !f.starts_with("--") && f.ends_with('c') => {
                return match iter.next().and_then(Word::known) {
                    Some(inner) => out.extend(nested(inner, here)),
                    None => out.push(Ask::unknown(
                        SHELL,
                        name,
                        "runs a command only known when the line runs",
                        text,
                    )),
                };
            }
            Some(f) if f.starts_with('-') && f != "-" && f != "-s" => continue,
            _ => break,
        }
    }
    out.push(Ask::unknown(
        SHELL,
        name,
        "runs a script or its input, which the mapping cannot read",
        text,
    ));
}
