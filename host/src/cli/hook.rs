//! `palisade hook claude-code`: Claude Code's command hook. Reads the event
//! on standard input, adds what it sees of the working directory (its git
//! remotes and branch, which the server cannot see), asks the server, and
//! prints the answer. Fails closed: a server that cannot be reached, or an
//! answer that cannot be read, prints a `deny` naming the cause (for a
//! result, the output withheld). Always exits 0, so Claude Code reads the
//! JSON.
//!
//! `palisade hook install claude-code` prints the hook configuration, or
//! merges it into a settings file.

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::process::ExitCode;

use super::client::Server;

/// Largest event read from standard input.
const MAX_EVENT: u64 = 8 * 1024 * 1024;

/// The hook commands.
#[derive(Subcommand)]
pub(super) enum HookCommand {
    /// Claude Code's command hook (event on stdin, answer on stdout);
    /// `PALISADE_TOKEN` is the agent's token.
    ClaudeCode(HookArgs),
    /// Print, or merge into a settings file, the Claude Code hook
    /// configuration.
    Install {
        #[command(subcommand)]
        target: InstallTarget,
    },
}

/// Where the server is.
#[derive(Args)]
pub(super) struct HookArgs {
    /// The server (default: `$PALISADE_URL`, else http://127.0.0.1:8080).
    #[arg(long)]
    server: Option<String>,
    /// Seconds to wait for the server's answer (an approval may be waited
    /// for); then deny. Keep it below Claude Code's `timeout` for the hook
    /// (600 s unless set): a hook Claude Code kills lets the tool run.
    #[arg(long, default_value_t = 590)]
    timeout: u64,
}

/// What to install.
#[derive(Subcommand)]
pub(super) enum InstallTarget {
    /// Claude Code's `hooks` settings.
    ClaudeCode(InstallArgs),
}

/// How to install.
#[derive(Args)]
pub(super) struct InstallArgs {
    /// Merge into this settings file (e.g. `.claude/settings.json`) instead
    /// of printing.
    #[arg(long)]
    settings: Option<std::path::PathBuf>,
    /// Use Claude Code's HTTP hook (`type: http`) instead of the command:
    /// needs no binary beside the agent, but sends no workspace (git
    /// commands are then unknown) and relies on Claude Code's `onFailure`
    /// to block when the server cannot be reached.
    #[arg(long)]
    http: bool,
    /// The server's URL, written into the configuration.
    #[arg(long)]
    server: Option<String>,
    /// Claude Code's timeout for the hook, in seconds (at least 30); the
    /// command gives up 10 s before it, so that it is the one to answer
    /// (with a deny). Keep the policy's `tool_calls.approval_wait` below.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(30..=3600))]
    timeout: u64,
}

/// The tools the hook is asked about: every one Palisade maps, and every
/// MCP tool.
pub const MATCHER: &str =
    "Bash|Read|Write|Edit|MultiEdit|NotebookEdit|Glob|Grep|WebFetch|WebSearch|mcp__.*";

/// Runs a `palisade hook` command.
pub(super) fn run(command: HookCommand) -> anyhow::Result<ExitCode> {
    match command {
        HookCommand::ClaudeCode(args) => {
            let answer = claude_code(args);
            let mut out = std::io::stdout().lock();
            writeln!(out, "{answer}")?;
            Ok(ExitCode::SUCCESS)
        }
        HookCommand::Install {
            target: InstallTarget::ClaudeCode(args),
        } => install(args),
    }
}

/// The answer to print for the event on standard input.
fn claude_code(args: HookArgs) -> Value {
    let mut input = Vec::new();
    let read = std::io::stdin().take(MAX_EVENT + 1).read_to_end(&mut input);
    let mut event: Value = match read {
        Ok(n) if n as u64 > MAX_EVENT => return failed("", "the event is larger than 8 MiB"),
        Ok(_) => match serde_json::from_slice(&input) {
            Ok(v @ Value::Object(_)) => v,
            _ => return failed("", "standard input is not a Claude Code hook event"),
        },
        Err(e) => return failed("", &format!("standard input could not be read: {e}")),
    };
    let name = event["hook_event_name"].as_str().unwrap_or("").to_owned();
    // Only shell lines read the workspace (git commands); other tools do
    // not pay for the `git` runs.
    if name == "PreToolUse"
        && event["tool_name"] == "Bash"
        && let Some(cwd) = event["cwd"].as_str()
        && let Some(ws) = workspace(std::path::Path::new(cwd))
    {
        event["palisade"] = json!({ "workspace": ws });
    }
    match ask(args, &event) {
        Ok(answer) => answer,
        Err(e) => failed(&name, &format!("{e:#}")),
    }
}

/// POSTs the event; the server's answer.
fn ask(args: HookArgs, event: &Value) -> anyhow::Result<Value> {
    let server = Server::from_env(
        args.server,
        "the agent's",
        std::time::Duration::from_secs(args.timeout),
    )?;
    let (status, text) = server.post("/v1/hooks/claude-code", event, 64 * 1024 * 1024)?;
    if status != 200 {
        bail!("the Palisade server answered {status}");
    }
    serde_json::from_str(&text).context("the server's answer is not JSON")
}

/// The fail-closed answer for event `name`.
fn failed(name: &str, why: &str) -> Value {
    // A failed call's event has nothing to deny or withhold.
    if name == "PostToolUseFailure" {
        return json!({});
    }
    if name == "PostToolUse" {
        return json!({
            "decision": "block",
            "reason": format!("Palisade withheld this tool's output: {why}"),
            "hookSpecificOutput": {
                "hookEventName": "PostToolUse",
                "updatedToolOutput": "[withheld by Palisade: the output could not be masked]",
            }
        });
    }
    json!({
        "hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": "deny",
            "permissionDecisionReason": format!("Palisade denied this tool call: {why}"),
        }
    })
}

/// `git` in `dir` with `args`, started.
fn git(dir: &std::path::Path, args: &[&str]) -> Option<std::process::Child> {
    std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()
}

/// How long the `git` runs may take together. A hook Claude Code kills
/// lets the tool run, so a `git` that hangs (a network filesystem, a
/// lock) is killed, and the line's repository is then unknown: denied.
const GIT_DEADLINE: std::time::Duration = std::time::Duration::from_secs(5);

/// A started `git`'s output, trimmed, if it succeeded and said something
/// by `deadline`; killed, and nothing, if not.
fn output(child: Option<std::process::Child>, deadline: std::time::Instant) -> Option<String> {
    let mut child = child?;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
    let out = child.wait_with_output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (out.status.success() && !text.is_empty()).then_some(text)
}

/// The git remotes (fetch and push URLs, as git resolves them), branch
/// and push target of `dir`, if it is in a repository: three `git` runs,
/// at once, none of which runs anything of the repository's.
fn workspace(dir: &std::path::Path) -> Option<Value> {
    let remotes = git(dir, &["remote", "-v"]);
    let branch = git(dir, &["symbolic-ref", "--short", "-q", "HEAD"]);
    let target = git(
        dir,
        &[
            "rev-parse",
            "--abbrev-ref",
            "--symbolic-full-name",
            "@{push}",
        ],
    );
    let deadline = std::time::Instant::now() + GIT_DEADLINE;
    let (listed, branch, push_target) = (
        output(remotes, deadline),
        output(branch, deadline),
        output(target, deadline),
    );
    // Not a repository (or no remote): nothing to send.
    let listed = listed?;
    let (mut remotes, mut push_urls) = (serde_json::Map::new(), serde_json::Map::new());
    for line in listed.lines() {
        // `origin\tgit@github.com:acme/billing.git (fetch)`
        let Some((name, rest)) = line.split_once('\t') else {
            continue;
        };
        if let Some(url) = rest.strip_suffix(" (fetch)") {
            remotes.insert(name.to_owned(), url.into());
        } else if let Some(url) = rest.strip_suffix(" (push)") {
            push_urls.insert(name.to_owned(), url.into());
        }
    }
    Some(json!({
        "remotes": remotes,
        "push_urls": push_urls,
        "branch": branch,
        "push_target": push_target,
    }))
}

/// This program, by its absolute path where it is known (a hook command
/// that is not found is a non-blocking error to Claude Code: the tool
/// would run), quoted for the shell Claude Code runs it with.
fn program() -> String {
    let path = std::env::current_exe()
        .ok()
        .and_then(|p| p.to_str().map(str::to_owned))
        .unwrap_or_else(|| "palisade".into());
    quoted(&path)
}

/// `word` as one word for the shell Claude Code runs the command with.
fn quoted(word: &str) -> String {
    if !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+:@=,".contains(&b))
    {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// The `hooks` block for Claude Code.
pub fn hooks_config(http: bool, server: &str, timeout: u64) -> Value {
    let handler = if http {
        json!({
            "type": "http",
            "url": format!("{}/v1/hooks/claude-code", server.trim_end_matches('/')),
            "headers": { "Authorization": "Bearer $PALISADE_TOKEN" },
            "allowedEnvVars": ["PALISADE_TOKEN"],
            "timeout": timeout,
            "onFailure": "block",
        })
    } else {
        json!({
            "type": "command",
            "command": format!(
                "{} hook claude-code --server {} --timeout {}",
                program(),
                quoted(server),
                timeout - 10
            ),
            "timeout": timeout,
        })
    };
    json!({
        "PreToolUse": [{ "matcher": MATCHER, "hooks": [handler.clone()] }],
        "PostToolUse": [{ "matcher": MATCHER, "hooks": [handler.clone()] }],
        "PostToolUseFailure": [{ "matcher": MATCHER, "hooks": [handler] }],
    })
}

fn install(args: InstallArgs) -> anyhow::Result<ExitCode> {
    let server = super::client::server_url(args.server);
    // A server the hooks could not use (they would deny every call) is
    // refused now, not at the first tool call.
    super::client::check_server(&server)?;
    let hooks = hooks_config(args.http, &server, args.timeout);
    let Some(path) = args.settings else {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&json!({ "hooks": hooks }))?
        )?;
        return Ok(ExitCode::SUCCESS);
    };
    let mut settings: Value = match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON; nothing was written", path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => json!({}),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let Some(object) = settings.as_object_mut() else {
        bail!(
            "{} is not a JSON object; nothing was written",
            path.display()
        );
    };
    let existing = object.entry("hooks").or_insert_with(|| json!({}));
    let Some(existing) = existing.as_object_mut() else {
        bail!(
            "`hooks` in {} is not an object; nothing was written",
            path.display()
        );
    };
    for (event, entries) in hooks.as_object().into_iter().flatten() {
        let list = existing.entry(event.clone()).or_insert_with(|| json!([]));
        let Some(list) = list.as_array_mut() else {
            bail!(
                "`hooks.{event}` in {} is not a list; nothing was written",
                path.display()
            );
        };
        // Palisade's own entry is replaced, others are kept.
        list.retain(|e| !is_palisade(e));
        list.extend(entries.as_array().into_iter().flatten().cloned());
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(&path, serde_json::to_string_pretty(&settings)? + "\n")
        .with_context(|| format!("cannot write {}", path.display()))?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "wrote Palisade's PreToolUse, PostToolUse and PostToolUseFailure hooks into {}; set PALISADE_TOKEN to the agent's token where Claude Code runs",
        path.display()
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Whether a hooks entry is one this command wrote.
fn is_palisade(entry: &Value) -> bool {
    entry["hooks"].as_array().into_iter().flatten().any(|h| {
        h["command"]
            .as_str()
            .is_some_and(|c| c.contains(" hook claude-code"))
            || h["url"]
                .as_str()
                .is_some_and(|u| u.ends_with("/v1/hooks/claude-code"))
    })
}
