//! The command line: `serve` and `plugin inspect`.

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use palisade::config::LoadedConfig;
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
    init_logging(cli.log_format);
    match cli.command {
        Command::Serve {
            config,
            listen,
            data_dir,
        } => serve(config, listen, data_dir),
        Command::Plugin {
            command: PluginCommand::Inspect { file, json },
        } => inspect(&file, json),
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PALISADE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
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
