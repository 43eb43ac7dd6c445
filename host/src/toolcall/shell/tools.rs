//! The programs a policy cares about, each mapped to the requests it
//! makes: `git` and `gh` (see `git`), `aws` onto IAM actions and ARNs, and
//! `kubectl`, `terraform`, `psql`, `rm` and `find -delete` onto actions of
//! the `shell` service (`kubectl:delete`, `terraform:apply`,
//! `psql:drop`, `rm:recursive`).

use super::git;
use super::parse::Word;
use super::words::Here;
use crate::toolcall::{Ask, SHELL, paths};

/// Adds the requests of `name args…` to `out`, and gives the commands it
/// runs in turn (`find -exec`); `None` when `name` is not a program mapped
/// here.
pub(super) fn map(
    name: &str,
    args: &[Word],
    here: &Here<'_>,
    text: &str,
    out: &mut Vec<Ask>,
) -> Option<Vec<Vec<Word>>> {
    match name {
        "git" => git::git(args, here, text, out),
        "gh" => git::gh(args, here, text, out),
        "aws" => aws(args, text, out),
        "kubectl" | "oc" => kubectl(name, args, text, out),
        "terraform" | "tofu" => terraform(name, args, here, text, out),
        "psql" => psql(args, here, text, out),
        "rm" => rm(args, here, text, out),
        "find" => return Some(find(args, here, text, out)),
        _ => return None,
    }
    Some(Vec::new())
}

/// `kebab-case` → `KebabCase`.
fn pascal(op: &str) -> String {
    op.split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// `s3://bucket/key` → `arn:aws:s3:::bucket/key`.
fn s3_arn(url: &str) -> Option<String> {
    let rest = url.strip_prefix("s3://")?;
    if rest.is_empty() {
        return None;
    }
    Some(format!("arn:aws:s3:::{rest}"))
}

/// `aws [global options] SERVICE OPERATION [args]`.
fn aws(args: &[Word], text: &str, out: &mut Vec<Ask>) {
    let unknown = |why: &str| Ask::unknown(SHELL, "aws", why, text);
    let Some(words) = args.iter().map(Word::known).collect::<Option<Vec<_>>>() else {
        return out.push(unknown("an argument is only known when the line runs"));
    };
    if words.iter().any(|a| a.starts_with("--endpoint-url")) {
        return out.push(unknown(
            "`--endpoint-url` sends the call to a service the policy does not name",
        ));
    }
    // Options that take no value; every other `--option` takes the next
    // word unless it is an option itself.
    const NO_VALUE: &[&str] = &[
        "--recursive",
        "--dryrun",
        "--quiet",
        "--delete",
        "--exact-timestamps",
        "--no-paginate",
        "--debug",
        "--no-verify-ssl",
        "--no-sign-request",
        "--only-show-errors",
        "--follow-symlinks",
        "--no-follow-symlinks",
        "--human-readable",
        "--summarize",
        "--force",
        "--no-cli-pager",
        "--no-progress",
        "--size-only",
        "--include-buckets",
    ];
    let mut positional = Vec::new();
    let mut flags = Vec::new();
    let mut i = 0;
    while let Some(a) = words.get(i) {
        i += 1;
        if !a.starts_with("--") {
            positional.push(*a);
            continue;
        }
        flags.push(*a);
        if !a.contains('=')
            && !NO_VALUE.contains(a)
            && let Some(v) = words.get(i).filter(|v| !v.starts_with("--"))
        {
            flags.push(v);
            i += 1;
        }
    }
    let value_of = |name: &str| {
        flags
            .iter()
            .position(|f| *f == name)
            .and_then(|p| flags.get(p + 1).copied())
            .or_else(|| {
                flags
                    .iter()
                    .find_map(|f| f.strip_prefix(&format!("{name}=")))
            })
    };
    let recursive = flags.contains(&"--recursive");
    match positional.as_slice() {
        ["configure", ..] => out.push(unknown(
            "`aws configure` changes the credentials every later call uses",
        )),
        ["s3", op, targets @ ..] => {
            let object = |url: &str| {
                s3_arn(url).map(|arn| {
                    if recursive {
                        format!("{}/*", arn.trim_end_matches('/'))
                    } else {
                        arn
                    }
                })
            };
            let ask = |action: &str, arn: String| Ask::new("aws", action, arn, text);
            match (*op, targets) {
                ("ls", []) => out.push(ask("s3:ListAllMyBuckets", "*".into())),
                ("ls", [url, ..]) => match s3_arn(url) {
                    Some(arn) => {
                        let bucket = arn.split('/').next().unwrap_or(&arn).to_owned();
                        let prefix = arn
                            .strip_prefix(&bucket)
                            .unwrap_or("")
                            .trim_start_matches('/');
                        let resource = if prefix.is_empty() {
                            bucket
                        } else {
                            format!("{bucket}/{prefix}*")
                        };
                        out.push(ask("s3:ListBucket", resource));
                    }
                    None => out.push(unknown(&format!("`{url}` is not an s3:// URL"))),
                },
                ("rm", [url, ..]) => match object(url) {
                    Some(arn) => out.push(ask("s3:DeleteObject", arn)),
                    None => out.push(unknown(&format!("`{url}` is not an s3:// URL"))),
                },
                ("cp" | "mv" | "sync", [from, to, ..]) => {
                    let sync_delete = *op == "sync" && flags.contains(&"--delete");
                    if let Some(arn) = object(from) {
                        out.push(ask("s3:GetObject", arn.clone()));
                        if *op == "mv" {
                            out.push(ask("s3:DeleteObject", arn));
                        }
                    }
                    if let Some(arn) = object(to) {
                        out.push(ask("s3:PutObject", arn.clone()));
                        if sync_delete {
                            out.push(ask("s3:DeleteObject", arn));
                        }
                    }
                    if !from.starts_with("s3://") && !to.starts_with("s3://") {
                        out.push(unknown("an s3 copy with no s3:// side"));
                    }
                }
                ("mb", [url, ..]) => match s3_arn(url) {
                    Some(arn) => out.push(ask("s3:CreateBucket", arn)),
                    None => out.push(unknown(&format!("`{url}` is not an s3:// URL"))),
                },
                ("rb", [url, ..]) => match s3_arn(url) {
                    Some(arn) => out.push(ask("s3:DeleteBucket", arn)),
                    None => out.push(unknown(&format!("`{url}` is not an s3:// URL"))),
                },
                ("presign", [url, ..]) => match s3_arn(url) {
                    Some(arn) => out.push(ask("s3:GetObject", arn)),
                    None => out.push(unknown(&format!("`{url}` is not an s3:// URL"))),
                },
                _ => out.push(unknown(&format!(
                    "`aws s3 {op}` is not read by the mapping"
                ))),
            }
        }
        ["s3api", op, ..] => {
            let resource = match (value_of("--bucket"), value_of("--key")) {
                (Some(b), Some(k)) => format!("arn:aws:s3:::{b}/{k}"),
                (Some(b), None) => format!("arn:aws:s3:::{b}"),
                _ => "*".to_owned(),
            };
            out.push(Ask::new(
                "aws",
                &format!("s3:{}", pascal(op)),
                resource,
                text,
            ));
        }
        [service, op, ..] => {
            let prefix = match *service {
                "stepfunctions" => "states",
                "configservice" => "config",
                s => s,
            };
            out.push(Ask::new(
                "aws",
                &format!("{prefix}:{}", pascal(op)),
                "*",
                text,
            ));
        }
        _ => out.push(unknown("no service and operation")),
    }
}

/// `kubectl [flags] VERB [TYPE[/NAME] | TYPE NAME…] [-n NS]` → action
/// `kubectl:VERB`, resource `NAMESPACE/TYPE/NAME`.
fn kubectl(name: &str, args: &[Word], text: &str, out: &mut Vec<Ask>) {
    let unknown = |why: &str| Ask::unknown(SHELL, name, why, text);
    let Some(words) = args.iter().map(Word::known).collect::<Option<Vec<_>>>() else {
        return out.push(unknown("an argument is only known when the line runs"));
    };
    let with_value = [
        "-n",
        "--namespace",
        "--context",
        "--cluster",
        "--kubeconfig",
        "--user",
        "-f",
        "--filename",
        "-l",
        "--selector",
        "-o",
        "--output",
        "-c",
        "--container",
        "-s",
        "--server",
        "--token",
        "--as",
    ];
    let mut namespace = "default".to_owned();
    let mut files = Vec::new();
    let mut positional = Vec::new();
    let mut i = 0;
    while let Some(a) = words.get(i) {
        let value = words.get(i + 1).copied().unwrap_or_default();
        match *a {
            "-n" | "--namespace" => namespace = value.to_owned(),
            "-A" | "--all-namespaces" => namespace = "*".into(),
            "-f" | "--filename" => files.push(value),
            "--kubeconfig" | "--server" | "-s" | "--token" | "--as" | "--context" | "--cluster" => {
                return out.push(unknown(&format!(
                    "`{a}` talks to a cluster or as a user the line chooses"
                )));
            }
            _ => {}
        }
        if let Some(ns) = a.strip_prefix("--namespace=") {
            namespace = ns.to_owned();
        }
        if with_value.contains(a) {
            i += 2;
            continue;
        }
        if !a.starts_with('-') {
            positional.push(*a);
        }
        i += 1;
    }
    let Some((verb, objects)) = positional.split_first() else {
        return out.push(unknown("no verb"));
    };
    let action = format!("kubectl:{verb}");
    let resource = match objects {
        [] if files.is_empty() => format!("{namespace}/*"),
        [] => format!("{namespace}/file:{}", files.join(",")),
        [one] if one.contains('/') => format!("{namespace}/{one}"),
        [kind] => format!("{namespace}/{kind}/*"),
        [kind, names @ ..] => {
            for n in names {
                out.push(Ask::new(
                    SHELL,
                    &action,
                    format!("{namespace}/{kind}/{n}"),
                    text,
                ));
            }
            return;
        }
    };
    out.push(Ask::new(SHELL, &action, resource, text));
}

/// `terraform [-chdir=DIR] VERB…` → action `terraform:VERB` (`state rm` is
/// `terraform:state-rm`) on the directory.
fn terraform(name: &str, args: &[Word], here: &Here<'_>, text: &str, out: &mut Vec<Ask>) {
    let unknown = |why: &str| Ask::unknown(SHELL, name, why, text);
    let Some(words) = args.iter().map(Word::known).collect::<Option<Vec<_>>>() else {
        return out.push(unknown("an argument is only known when the line runs"));
    };
    let mut dir = here.dir.map(str::to_owned);
    let mut positional = Vec::new();
    for a in &words {
        if let Some(d) = a.strip_prefix("-chdir=") {
            dir = paths::absolute(d, here.dir);
        } else if !a.starts_with('-') {
            positional.push(*a);
        }
    }
    let verb = match positional.as_slice() {
        ["state" | "workspace", sub, ..] => format!("{}-{sub}", positional[0]),
        [verb, ..] => (*verb).to_owned(),
        [] => return out.push(unknown("no subcommand")),
    };
    out.push(Ask::new(
        SHELL,
        &format!("terraform:{verb}"),
        dir.unwrap_or_else(|| "-".into()),
        text,
    ));
}

/// SQL commands whose keyword anywhere in a statement makes an action.
const SQL: &[&str] = &[
    "select", "insert", "update", "delete", "merge", "drop", "truncate", "alter", "create",
    "grant", "revoke", "copy", "vacuum", "reindex", "cluster", "comment", "do", "call", "execute",
    "lock", "set", "reset", "begin", "commit", "rollback", "explain", "analyze", "show", "refresh",
    "listen", "notify", "import", "security", "load",
];

/// `psql [-d DB | DB] -c SQL…` → `psql:KEYWORD` for every SQL command
/// keyword in the statements, on the database.
fn psql(args: &[Word], here: &Here<'_>, text: &str, out: &mut Vec<Ask>) {
    let unknown = |why: &str| Ask::unknown(SHELL, "psql", why, text);
    let Some(words) = args.iter().map(Word::known).collect::<Option<Vec<_>>>() else {
        return out.push(unknown("an argument is only known when the line runs"));
    };
    let mut sql = Vec::new();
    let mut database = None;
    let with_value = [
        "-h",
        "--host",
        "-p",
        "--port",
        "-U",
        "--username",
        "-v",
        "--set",
        "--variable",
        "-o",
        "--output",
        "-P",
        "--pset",
        "-F",
        "-R",
        "-L",
        "--log-file",
        "-T",
    ];
    let mut i = 0;
    while let Some(a) = words.get(i) {
        let value = words.get(i + 1).copied();
        match *a {
            "-c" | "--command" => {
                sql.extend(value);
                i += 2;
                continue;
            }
            "-d" | "--dbname" => {
                database = value;
                i += 2;
                continue;
            }
            "-f" | "--file" => {
                return out.push(unknown("runs SQL from a file the mapping cannot read"));
            }
            _ => {}
        }
        if let Some(v) = a.strip_prefix("--command=") {
            sql.push(v);
        } else if let Some(v) = a.strip_prefix("--dbname=") {
            database = Some(v);
        } else if a.starts_with("--file=") {
            return out.push(unknown("runs SQL from a file the mapping cannot read"));
        } else if with_value.contains(a) {
            i += 1;
        } else if !a.starts_with('-') && database.is_none() {
            database = Some(a);
        }
        i += 1;
    }
    if sql.is_empty() {
        let why = if here.piped_input {
            "runs SQL from its input, which the mapping cannot read"
        } else {
            "an interactive session, whose SQL the mapping cannot see"
        };
        return out.push(unknown(why));
    }
    let database = database
        .map(|d| {
            d.rsplit('/')
                .next()
                .unwrap_or(d)
                .split('?')
                .next()
                .unwrap_or(d)
                .to_owned()
        })
        .unwrap_or_else(|| "-".into());
    let mut actions: Vec<&str> = Vec::new();
    for statement in &sql {
        let lower = statement.to_ascii_lowercase();
        for word in lower.split(|c: char| !c.is_ascii_alphanumeric() && c != '_') {
            if let Some(k) = SQL.iter().find(|k| **k == word)
                && !actions.contains(k)
            {
                actions.push(k);
            }
        }
    }
    if actions.is_empty() {
        return out.push(unknown("SQL with no command the mapping reads"));
    }
    for a in actions {
        out.push(Ask::new(
            SHELL,
            &format!("psql:{a}"),
            database.clone(),
            text,
        ));
    }
}

/// `rm [-r] [-f] PATH…` → `rm` (or `rm:recursive`) on each absolute path.
fn rm(args: &[Word], here: &Here<'_>, text: &str, out: &mut Vec<Ask>) {
    let mut recursive = false;
    let mut options_done = false;
    let mut targets = Vec::new();
    for w in args {
        let Some(a) = w.known() else {
            out.push(Ask::unknown(
                SHELL,
                "rm",
                "removes a path only known when the line runs",
                text,
            ));
            continue;
        };
        if !options_done && a == "--" {
            options_done = true;
        } else if !options_done && a.starts_with('-') && a.len() > 1 {
            recursive |= a == "--recursive"
                || (!a.starts_with("--") && (a.contains('r') || a.contains('R')));
        } else {
            targets.push(a);
        }
    }
    let action = if recursive { "rm:recursive" } else { "rm" };
    for a in targets {
        match paths::absolute(a, here.dir) {
            Some(p) => out.push(Ask::new(SHELL, action, p, text)),
            None => out.push(Ask::unknown(
                SHELL,
                "rm",
                &format!("removes `{a}`, a path that cannot be resolved here"),
                text,
            )),
        }
    }
}

/// `find PATH… [-delete] [-exec CMD… ;]`: `run` of find, `rm:recursive` of
/// its paths for `-delete`, and the command each `-exec` runs, with `{}`
/// only known when run.
fn find(args: &[Word], here: &Here<'_>, text: &str, out: &mut Vec<Ask>) -> Vec<Vec<Word>> {
    let mut runs = Vec::new();
    let roots: Vec<&Word> = args
        .iter()
        .take_while(|w| {
            w.known()
                .is_none_or(|a| !a.starts_with('-') && a != "(" && a != "!")
        })
        .collect();
    out.push(Ask::new(SHELL, "run", "find", text));
    let mut i = 0;
    while let Some(w) = args.get(i) {
        match w.known() {
            Some("-delete") => {
                let roots: Vec<String> = if roots.is_empty() {
                    vec![".".into()]
                } else {
                    roots.iter().map(|w| w.text().to_owned()).collect()
                };
                for r in roots {
                    match paths::absolute(&r, here.dir) {
                        Some(p) => out.push(Ask::new(SHELL, "rm:recursive", p, text)),
                        None => out.push(Ask::unknown(
                            SHELL,
                            "find",
                            "deletes under a path that cannot be resolved here",
                            text,
                        )),
                    }
                }
            }
            Some("-exec" | "-execdir" | "-ok" | "-okdir") => {
                let inner: Vec<Word> = args[i + 1..]
                    .iter()
                    .take_while(|w| !matches!(w.known(), Some(";" | "+")))
                    .map(|w| match w.known() {
                        Some(s) if s.contains("{}") => Word::Dynamic(s.to_owned()),
                        _ => w.clone(),
                    })
                    .collect();
                i += inner.len();
                runs.push(inner);
            }
            _ => {}
        }
        i += 1;
    }
    runs
}
