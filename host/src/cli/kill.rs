//! `palisade kill` and `palisade resume`: the kill switch from a terminal,
//! against a running server (its HTTP API, as an administrator).
//!
//! The token is read from `PALISADE_TOKEN`, never from the command line
//! (where `ps` and shell history would show it).

use anyhow::bail;
use clap::Args;
use std::io::Write;
use std::process::ExitCode;

use super::client::Server;

/// What to stop (exactly one), and where the server is.
#[derive(Args)]
#[command(group(clap::ArgGroup::new("what").args(["session", "agent"])))]
pub(super) struct KillArgs {
    /// Kill this session: its next decision is denied, for good.
    #[arg(long)]
    session: Option<String>,
    /// Suspend this agent (every session) until `palisade resume --agent`.
    #[arg(long)]
    agent: Option<String>,
    /// Pause this project; with --session or --agent, the project they
    /// are in (default: every project the token administers).
    #[arg(long)]
    project: Option<String>,
    /// Why (shown in the agent's denials and the audit trail).
    #[arg(long, short)]
    reason: Option<String>,
    /// The server (default: `$PALISADE_URL`, else http://127.0.0.1:8080).
    #[arg(long)]
    server: Option<String>,
}

/// What to resume (exactly one of an agent or a project).
#[derive(Args)]
pub(super) struct ResumeArgs {
    /// Resume this agent; with --project, in that project only.
    #[arg(long)]
    agent: Option<String>,
    /// Resume this project (or, with --agent, the agent's project).
    #[arg(long)]
    project: Option<String>,
    /// Why.
    #[arg(long, short)]
    reason: Option<String>,
    /// The server (default: `$PALISADE_URL`, else http://127.0.0.1:8080).
    #[arg(long)]
    server: Option<String>,
}

/// A path segment, percent-encoded.
fn segment(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// Runs `palisade kill`.
pub(super) fn kill(args: KillArgs) -> anyhow::Result<ExitCode> {
    let (path, project) = match (&args.session, &args.agent, &args.project) {
        (Some(s), None, p) => (format!("/v1/sessions/{}/kill", segment(s)), p.clone()),
        (None, Some(a), p) => (format!("/v1/agents/{}/suspend", segment(a)), p.clone()),
        (None, None, Some(p)) => (format!("/v1/projects/{}/pause", segment(p)), None),
        _ => bail!("give one of --session or --agent (with --project to narrow it), or --project"),
    };
    post(args.server, &path, args.reason, project)
}

/// Runs `palisade resume`.
pub(super) fn resume(args: ResumeArgs) -> anyhow::Result<ExitCode> {
    let (path, project) = match (&args.agent, &args.project) {
        (Some(a), p) => (format!("/v1/agents/{}/resume", segment(a)), p.clone()),
        (None, Some(p)) => (format!("/v1/projects/{}/resume", segment(p)), None),
        (None, None) => bail!("give --agent or --project"),
    };
    post(args.server, &path, args.reason, project)
}

/// POSTs the hold or release and prints what the server did; exit 1 if it
/// refused.
fn post(
    server: Option<String>,
    path: &str,
    reason: Option<String>,
    project: Option<String>,
) -> anyhow::Result<ExitCode> {
    let server = Server::from_env(
        server,
        "an administrator's",
        std::time::Duration::from_secs(30),
    )?;
    let mut body = serde_json::Map::new();
    if let Some(r) = reason {
        body.insert("reason".into(), r.into());
    }
    if let Some(p) = project {
        body.insert("project".into(), p.into());
    }
    let (status, text) = server.post(path, &serde_json::Value::Object(body), 1024 * 1024)?;
    let answer: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let mut out = std::io::stdout().lock();
    if (200..300).contains(&status) {
        let list = |v: &serde_json::Value| {
            v.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default()
        };
        writeln!(
            out,
            "{} `{}` {} in {} by {}",
            answer["scope"].as_str().unwrap_or("?"),
            palisade::display::escape(answer["target"].as_str().unwrap_or("?")),
            answer["action"].as_str().unwrap_or("?"),
            list(&answer["projects"]),
            answer["by"].as_str().unwrap_or("?"),
        )?;
        let cancelled = list(&answer["approvals_cancelled"]);
        if !cancelled.is_empty() {
            writeln!(out, "approvals cancelled: {cancelled}")?;
        }
        if answer["saved"] == false {
            writeln!(
                out,
                "WARNING: in force on the server, but not saved: it will not survive a restart"
            )?;
        }
        Ok(ExitCode::SUCCESS)
    } else {
        let message = answer["error"]["message"].as_str().unwrap_or(&text);
        writeln!(
            out,
            "refused (HTTP {status}): {}",
            palisade::display::escape(message)
        )?;
        Ok(ExitCode::FAILURE)
    }
}
