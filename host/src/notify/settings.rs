//! Where each channel is and how to reach it: the server configuration's
//! `notify:` section ([`NotifySettings`]). Secrets (Slack webhook URLs, the
//! Slack signing secret, the Telegram bot token, webhook signing secrets)
//! are read from the environment (`*_env`: the variable's name), so that
//! neither a policy file nor the configuration file holds them.

use super::channel::Channel;
use crate::units::Duration;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The `notify:` section of the server configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifySettings {
    /// Slack: one incoming webhook per channel, and the signing secret of
    /// the Slack app whose buttons post back to Palisade.
    pub slack: SlackSettings,
    /// Telegram: the bot and where its API is.
    pub telegram: TelegramSettings,
    /// JSON webhooks by name.
    pub webhooks: BTreeMap<String, WebhookSettings>,
    /// How delivery is retried.
    pub retry: RetrySettings,
    /// How long one delivery may take (default `10s`).
    pub timeout: Option<Duration>,
    /// Values that stand in for environment variables (tests, and tools
    /// that read secrets elsewhere); never read from a file.
    #[serde(skip)]
    pub env: BTreeMap<String, String>,
}

/// Slack's part of [`NotifySettings`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlackSettings {
    /// Per channel (`"#deploy-approvals"`), the environment variable holding
    /// its incoming-webhook URL.
    pub channels: BTreeMap<String, SlackChannel>,
    /// The environment variable holding the app's signing secret, which
    /// verifies the Approve / Deny interactions Slack posts back.
    pub signing_secret_env: Option<String>,
}

/// One Slack channel's webhook.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackChannel {
    /// The environment variable holding the incoming-webhook URL.
    pub webhook_url_env: String,
}

/// Telegram's part of [`NotifySettings`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelegramSettings {
    /// The environment variable holding the bot token.
    pub bot_token_env: Option<String>,
    /// The Bot API's base URL (default `https://api.telegram.org`).
    pub base_url: String,
}

impl Default for TelegramSettings {
    fn default() -> Self {
        Self {
            bot_token_env: None,
            base_url: "https://api.telegram.org".into(),
        }
    }
}

/// One JSON webhook.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// Where to post.
    pub url: String,
    /// The environment variable holding the signing secret.
    pub secret_env: String,
}

/// How a notification is retried: exponential backoff from `first` (with
/// jitter: each wait is drawn between half and all of it), at most `max`
/// between tries, `attempts` tries in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetrySettings {
    /// Tries in all (default 6, 1 to 20).
    pub attempts: u32,
    /// The first wait (default `2s`).
    pub first: Duration,
    /// The longest wait (default `5m`).
    pub max: Duration,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            attempts: 6,
            first: Duration(2),
            max: Duration(300),
        }
    }
}

impl NotifySettings {
    /// Checks the section: every Slack key is a channel, every webhook URL
    /// is `http(s)://`, the retry bounds make sense. The message says what
    /// to write.
    pub fn validate(&self) -> Result<(), String> {
        for name in self.slack.channels.keys() {
            if !matches!(
                Channel::parse(&format!("slack:{name}")),
                Ok(Channel::Slack(_))
            ) {
                return Err(format!(
                    "`notify.slack.channels`: `{name}` is not a Slack channel (write `\"#name\"`)"
                ));
            }
        }
        for (name, hook) in &self.webhooks {
            Channel::parse(&format!("webhook:{name}"))
                .map_err(|e| format!("`notify.webhooks.{name}`: {e}"))?;
            if !(hook.url.starts_with("https://") || hook.url.starts_with("http://")) {
                return Err(format!(
                    "`notify.webhooks.{name}.url` must be an http:// or https:// URL"
                ));
            }
        }
        // The bot token travels in the URL's path: in the clear only to
        // this machine (a test's receiver, a local relay).
        let url = &self.telegram.base_url;
        let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
            .iter()
            .any(|p| {
                url.strip_prefix(p)
                    .is_some_and(|r| r.is_empty() || r.starts_with([':', '/']))
            });
        if !(url.starts_with("https://") || loopback) {
            return Err(
                "`notify.telegram.base_url` must be an https:// URL (http:// only to this \
                 machine: the bot token is part of the URL)"
                    .into(),
            );
        }
        if !(1..=20).contains(&self.retry.attempts) {
            return Err("`notify.retry.attempts` must be 1 to 20".into());
        }
        if self.retry.first.0 == 0 || self.retry.max < self.retry.first {
            return Err(
                "`notify.retry`: `first` must be at least 1s and `max` at least `first`".into(),
            );
        }
        Ok(())
    }

    /// How long one delivery may take.
    pub fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.timeout.map_or(10, |d| d.0.clamp(1, 300)))
    }

    /// Whether `channel` has an address here (a policy naming one that has
    /// none is warned about; sending to it fails and is recorded).
    pub fn knows(&self, channel: &Channel) -> bool {
        match channel {
            Channel::Slack(c) => self.slack.channels.contains_key(c),
            Channel::Telegram(_) => self.telegram.bot_token_env.is_some(),
            Channel::Webhook(n) => self.webhooks.contains_key(n),
        }
    }
}

impl NotifySettings {
    /// The value of environment variable `name` ([`NotifySettings::env`]
    /// first), or why there is none.
    pub fn secret(&self, name: &str) -> Result<String, String> {
        if let Some(v) = self.env.get(name) {
            return Ok(v.clone());
        }
        match std::env::var(name) {
            Ok(v) if !v.is_empty() => Ok(v),
            _ => Err(format!("environment variable `{name}` is not set")),
        }
    }
}
