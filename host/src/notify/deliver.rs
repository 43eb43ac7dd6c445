//! Sending one notification to one channel, once: [`send`]. Blocking (one
//! HTTP request, bounded by the configured timeout), so callers on the
//! async workers run it with `spawn_blocking`. Retries are the outbox's.

use super::channel::Channel;
use super::message::Message;
use super::settings::NotifySettings;
use super::sign::{WEBHOOK_SIGNATURE_HEADER, sign_webhook};
use serde::{Deserialize, Serialize};

/// What one try gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delivery {
    /// Whether the receiver took it (a 2xx answer; for Telegram, also
    /// `"ok": true`).
    pub ok: bool,
    /// The HTTP status, if the receiver answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Why it failed, for people (never a secret: URLs are not shown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Delivery {
    fn failed(error: impl Into<String>) -> Self {
        Self {
            ok: false,
            status: None,
            error: Some(error.into()),
        }
    }
}

/// Sends `message` to `channel` as `settings` say, once, at `now` (Unix
/// seconds, for a webhook's signature). Never panics and never returns an
/// error: a failure is a [`Delivery`] that says why.
pub fn send(settings: &NotifySettings, channel: &Channel, message: &Message, now: i64) -> Delivery {
    let (url, body, headers) = match request(settings, channel, message, now) {
        Ok(r) => r,
        Err(why) => return Delivery::failed(why),
    };
    let timeout = settings.timeout();
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(timeout))
        .build();
    let agent = ureq::Agent::new_with_config(config);
    let mut req = agent.post(&url).header("content-type", "application/json");
    for (name, value) in &headers {
        req = req.header(name.as_str(), value.as_str());
    }
    match req.send(body.as_bytes()) {
        Ok(mut resp) => {
            let status = resp.status().as_u16();
            let text = resp
                .body_mut()
                .with_config()
                .limit(16 * 1024)
                .read_to_string()
                .unwrap_or_default();
            let telegram_ok = !matches!(channel, Channel::Telegram(_))
                || serde_json::from_str::<serde_json::Value>(&text)
                    .is_ok_and(|v| v["ok"] == serde_json::Value::Bool(true));
            let ok = (200..300).contains(&status) && telegram_ok;
            Delivery {
                ok,
                status: Some(status),
                error: (!ok).then(|| {
                    let text: String = text.chars().take(200).collect();
                    format!("{channel} answered HTTP {status}: {text}")
                }),
            }
        }
        Err(e) => Delivery::failed(format!("{channel} could not be reached: {}", describe(&e))),
    }
}

/// A transport error, without the URL (a Slack webhook's URL is a secret).
fn describe(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(_) => "timed out".into(),
        ureq::Error::Io(io) => format!("{}", io.kind()),
        ureq::Error::ConnectionFailed => "connection failed".into(),
        ureq::Error::HostNotFound => "host not found".into(),
        other => {
            let text = other.to_string();
            // ureq's messages may quote the URL; keep only the kind.
            text.split(':').next().unwrap_or("error").to_owned()
        }
    }
}

type Request = (String, String, Vec<(String, String)>);

/// The URL, body and extra headers for `channel`, or why it has no
/// address.
fn request(
    settings: &NotifySettings,
    channel: &Channel,
    message: &Message,
    now: i64,
) -> Result<Request, String> {
    match channel {
        Channel::Slack(c) => {
            let hook =
                settings.slack.channels.get(c).ok_or_else(|| {
                    format!("{channel} has no webhook in `notify.slack.channels`")
                })?;
            let url = settings.secret(&hook.webhook_url_env)?;
            Ok((url, message.slack_payload().to_string(), Vec::new()))
        }
        Channel::Telegram(chat) => {
            let var =
                settings.telegram.bot_token_env.as_deref().ok_or_else(|| {
                    format!("{channel}: `notify.telegram.bot_token_env` is not set")
                })?;
            let token = settings.secret(var)?;
            let base = settings.telegram.base_url.trim_end_matches('/');
            let url = format!("{base}/bot{token}/sendMessage");
            Ok((url, message.telegram_payload(chat).to_string(), Vec::new()))
        }
        Channel::Webhook(name) => {
            let hook = settings
                .webhooks
                .get(name)
                .ok_or_else(|| format!("{channel} is not in `notify.webhooks`"))?;
            let key = settings.secret(&hook.secret_env)?;
            let sent_at = jiff::Timestamp::from_second(now)
                .map(|t| t.to_string())
                .unwrap_or_default();
            let body = message.webhook_payload(&sent_at).to_string();
            let signature = sign_webhook(key.as_bytes(), now, body.as_bytes());
            Ok((
                hook.url.clone(),
                body,
                vec![(WEBHOOK_SIGNATURE_HEADER.to_owned(), signature)],
            ))
        }
    }
}
