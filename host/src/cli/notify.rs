//! `palisade notify test CHANNEL`: one test message, sent now, to check a
//! channel before going live (seed 002).

use clap::Subcommand;
use palisade::config::LoadedConfig;
use palisade::notify::{Channel, Message, send};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// The subcommands of `palisade notify`.
#[derive(Subcommand)]
pub(super) enum NotifyCommand {
    /// Send a test message to a channel (`slack:#CHANNEL`, `telegram:CHAT`,
    /// `webhook:NAME`) as the configuration's `notify:` section says; exit 1
    /// if it was not delivered.
    Test {
        /// The channel.
        channel: String,
        /// The server configuration (its `notify:` section).
        #[arg(long, short)]
        config: PathBuf,
    },
}

/// Runs one `palisade notify` subcommand.
pub(super) fn notify(command: NotifyCommand) -> anyhow::Result<ExitCode> {
    let NotifyCommand::Test { channel, config } = command;
    let channel = Channel::parse(&channel).map_err(anyhow::Error::msg)?;
    let loaded = LoadedConfig::from_file(&config)?;
    let settings = &loaded.config.notify;
    let now = palisade::audit::Timestamp::now();
    let message = Message {
        kind: "test".into(),
        id: format!("test-{}", now.as_second()),
        project: "(none)".into(),
        title: "Palisade test message: this channel is reached".into(),
        fields: vec![
            ("channel".into(), channel.to_string()),
            ("sent at".into(), now.to_string()),
        ],
        actions: false,
    };
    let delivery = send(settings, &channel, &message, now.as_second());
    let mut out = std::io::stdout().lock();
    if delivery.ok {
        writeln!(
            out,
            "delivered to {channel} (HTTP {})",
            delivery.status.unwrap_or_default()
        )?;
        Ok(ExitCode::SUCCESS)
    } else {
        writeln!(
            out,
            "NOT delivered to {channel}: {}",
            palisade::display::escape(delivery.error.as_deref().unwrap_or("unknown error"))
        )?;
        Ok(ExitCode::FAILURE)
    }
}
