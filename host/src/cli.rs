//! The command line: `serve`, `check`, `eval`, `test`, `token`, `plugin`,
//! `audit` (verify, replay, export, retain), `notify test`, `kill`/`resume`
//! `hook` (Claude Code's hook, and its installation) and `mcp-proxy`.

mod audit;
mod client;
mod hook;
mod kill;
mod mcp_proxy;
mod notify;

use anyhow::Context;
use audit::{AuditCommand, audit};
use clap::{Parser, Subcommand, ValueEnum};
use kill::{KillArgs, ResumeArgs, kill, resume};
use notify::{NotifyCommand, notify};
use palisade::config::LoadedConfig;
use palisade::display::escape;
use palisade::runtime::{EngineSettings, Runtime};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Palisade: a policy decision point for AI agents.
#[derive(Parser)]
#[command(name = "palisade", version, about)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, value_enum, default_value = "text", global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (the embedded default configuration unless --config is given).
    Serve {
        /// Configuration file (YAML).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Override the listen address, e.g. 127.0.0.1:0.
        #[arg(long)]
        listen: Option<String>,
        /// Override the data directory.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Work with plugin components.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
    /// Work with agent tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Validate and lint a policy: one project (a file or a folder of .yaml
    /// files) or a directory of projects (one folder each).
    Check {
        /// The policy.
        path: PathBuf,
        /// Exit with 1 on lint findings too, not only on errors.
        #[arg(long)]
        strict: bool,
    },
    /// Decide one request against a policy, explained, without a server.
    Eval {
        /// The policy (one project, or a directory of projects).
        path: PathBuf,
        /// The agent's project (default: the request's `project`, or the
        /// policy's only project).
        #[arg(long)]
        project: Option<String>,
        /// The request (YAML or JSON): agent, service, action, resource, attributes.
        #[arg(long)]
        request: PathBuf,
    },
    /// Run policy tests (YAML files of requests and expected decisions).
    Test {
        /// Test files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Notification channels: send a test message.
    Notify {
        #[command(subcommand)]
        command: NotifyCommand,
    },
    /// The kill switch, against a running server: kill a session, suspend
    /// an agent or pause a project (`PALISADE_TOKEN`: an administrator's).
    Kill(KillArgs),
    /// Resume an agent or a project the kill switch stopped.
    Resume(ResumeArgs),
    /// Palisade in an agent's tool loop: `hook claude-code` (Claude Code's
    /// command hook) and `hook install claude-code`.
    Hook {
        #[command(subcommand)]
        command: hook::HookCommand,
    },
    /// Palisade between an MCP client and an MCP server: only the tools
    /// the agent may call are listed, each call is decided, each result
    /// masked (`PALISADE_TOKEN`: the agent's token).
    McpProxy(mcp_proxy::McpProxyArgs),
    /// Work with the audit trail (in the data directory).
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
        /// The data directory (default: `./palisade-data`, as `serve`; for
        /// `export --config`, the configuration's `data_dir`).
        #[arg(long, global = true)]
        data_dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Make a new token for AGENT: prints the token once and the line to paste.
    New {
        /// The agent's name.
        agent: String,
    },
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Print a component's world, exports, imports and sha256 digest.
    Inspect {
        /// The `.wasm` component.
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    // The server narrates; the one-shot tools only speak up when something is wrong.
    let default_level = if matches!(cli.command, Command::Serve { .. }) {
        "info"
    } else {
        "warn"
    };
    init_logging(cli.log_format, default_level);
    match cli.command {
        Command::Serve {
            config,
            listen,
            data_dir,
        } => serve(config, listen, data_dir),
        Command::Plugin {
            command: PluginCommand::Inspect { file, json },
        } => inspect(&file, json),
        Command::Token {
            command: TokenCommand::New { agent },
        } => token_new(&agent),
        Command::Check { path, strict } => check(&path, strict),
        Command::Eval {
            path,
            project,
            request,
        } => eval(&path, project, &request),
        Command::Test { files } => test(&files),
        Command::Audit { command, data_dir } => audit(command, data_dir),
        Command::Notify { command } => notify(command),
        Command::Kill(args) => kill(args),
        Command::Resume(args) => resume(args),
        Command::Hook { command } => hook::run(command),
        Command::McpProxy(args) => mcp_proxy::run(args),
    }
}

fn init_logging(format: LogFormat, default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PALISADE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        // Text is read by people: every field value escaped (see `display`).
        LogFormat::Text => builder.fmt_fields(palisade::display::log_fields()).init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn serve(
    config: Option<PathBuf>,
    listen: Option<String>,
    data_dir: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let mut loaded = match &config {
        Some(path) => LoadedConfig::from_file(path)?,
        None => LoadedConfig::embedded()?,
    };
    if let Some(listen) = listen {
        loaded.config.listen = listen;
    }
    if let Some(dir) = data_dir {
        loaded.config.data_dir = dir;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("palisade-worker")
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        let addr = loaded.config.listen.clone();
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .with_context(|| format!("cannot listen on `{addr}`"))?;
        let local = listener
            .local_addr()
            .context("cannot read the bound address")?;
        tracing::info!(config = %loaded.origin, %local, "palisade starting");
        // Tests and scripts read this line to learn the bound port.
        println!("palisade listening on http://{local}");
        std::io::stdout().flush().ok();
        palisade::server::run(loaded, listener, shutdown_signal()).await?;
        tracing::info!("stopped");
        Ok(ExitCode::SUCCESS)
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

fn inspect(file: &PathBuf, json: bool) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read `{}`", file.display()))?;
    let settings = EngineSettings {
        pooling: false,
        ..EngineSettings::default()
    };
    let runtime = Runtime::new(&settings, None)?;
    let info = runtime
        .inspect(&bytes)
        .with_context(|| format!("cannot inspect `{}`", file.display()))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&info)?);
    } else {
        println!("file:    {}", file.display());
        println!("sha256:  {}", info.digest);
        println!("size:    {} bytes", info.size);
        println!("world:   {}", info.world);
        println!("exports:");
        for e in &info.exports {
            println!("  {e}");
        }
        println!("imports:");
        for i in &info.imports {
            println!("  {i}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn token_new(agent: &str) -> anyhow::Result<ExitCode> {
    let (token, line) = palisade::identity::new_token()
        .map_err(|e| anyhow::anyhow!("cannot draw random bytes for a token: {e}"))?;
    println!("token for `{agent}` (shown once; give it to the agent, store it nowhere else):");
    println!("  {token}");
    println!();
    println!("add its hash to the policy (only the hash is stored):");
    println!("identities:");
    println!("  {agent}: [\"{line}\"]");
    Ok(ExitCode::SUCCESS)
}

fn check(path: &std::path::Path, strict: bool) -> anyhow::Result<ExitCode> {
    let loaded = palisade::config::LoadedConfig::for_policy(path)?;
    let set = match loaded
        .policy_root()
        .and_then(|root| palisade::policy::compile(&root))
    {
        Ok(p) => p,
        Err(e) => {
            // Line by line: a message may show a form to write on lines of
            // its own; each line is still escaped.
            for line in e.to_string().lines() {
                println!("{}", escape(line));
            }
            return Ok(ExitCode::FAILURE);
        }
    };
    for policy in set.projects.values() {
        if let Err(e) = policy.check_plugins(|_| false) {
            println!("{}", escape(&e.to_string()));
            return Ok(ExitCode::FAILURE);
        }
    }
    for w in &set.server.warnings {
        println!("{}: warning: {}", escape(&w.at), escape(&w.message));
    }
    let mut findings = Vec::new();
    for policy in set.projects.values() {
        findings.extend(palisade::policy::lint::lint(policy));
    }
    for f in &findings {
        println!(
            "{}: lint[{}]: {}",
            escape(&f.at),
            f.check,
            escape(&f.message)
        );
    }
    for policy in set.projects.values() {
        println!(
            "project `{}` ({}, {} agents): valid",
            escape(&policy.project),
            policy.version,
            policy.agents.len(),
        );
    }
    let n = set.projects.len();
    println!(
        "policy {} ({n} project{}): valid, {} warnings, {} lint findings",
        set.server.version,
        if n == 1 { "" } else { "s" },
        set.server.warnings.len(),
        findings.len()
    );
    Ok(if strict && !findings.is_empty() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn eval(
    path: &std::path::Path,
    project: Option<String>,
    request: &std::path::Path,
) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(request)
        .with_context(|| format!("cannot read `{}`", request.display()))?;
    let mut spec: palisade::offline::RequestSpec =
        palisade::yaml::from_str(&text, &request.display().to_string())?;
    if project.is_some() {
        spec.project = project;
    }
    let offline = palisade::offline::Offline::load(path)?;
    let (decision, policy) = offline.decide_in(&spec)?;
    let out = serde_json::json!({
        "project": policy.project,
        "decision": decision.outcome,
        "reason": decision.reason,
        "policy_version": policy.version,
        "explain": decision.steps,
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(ExitCode::SUCCESS)
}

fn test(files: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let (mut passed, mut failed) = (0usize, 0usize);
    for file in files {
        for r in palisade::offline::run_tests(file)? {
            match &r.failure {
                None => {
                    passed += 1;
                    println!(
                        "PASS {} ({}, project `{}`)",
                        escape(&r.name),
                        escape(&r.at),
                        escape(&r.project)
                    );
                }
                Some(diff) => {
                    failed += 1;
                    println!(
                        "FAIL {} ({}, project `{}`)\n     {}",
                        escape(&r.name),
                        escape(&r.at),
                        escape(&r.project),
                        escape(diff)
                    );
                }
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
