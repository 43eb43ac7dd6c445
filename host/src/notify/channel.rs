//! Where a notification goes, as a policy names it: [`Channel`]
//! (`slack:#deploy-approvals`, `telegram:-1001234`, `webhook:pager`).
//!
//! A policy names a channel only; its address and secrets (a Slack webhook
//! URL, a bot token, a signing secret) live in the server's configuration
//! and environment ([`super::NotifySettings`]), never in policy files.

use std::fmt;

/// A notification channel.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    /// A Slack channel, through the incoming webhook the configuration
    /// gives for it (`slack:#deploy-approvals`).
    Slack(String),
    /// A Telegram chat, through the Bot API (`telegram:-1001234567890` or
    /// `telegram:@channelname`).
    Telegram(String),
    /// A JSON webhook the configuration names (`webhook:pager`).
    Webhook(String),
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Slack(c) => write!(f, "slack:{c}"),
            Self::Telegram(c) => write!(f, "telegram:{c}"),
            Self::Webhook(n) => write!(f, "webhook:{n}"),
        }
    }
}

const WHAT_TO_WRITE: &str =
    "write `slack:#CHANNEL`, `telegram:CHAT_ID` (or `telegram:@NAME`) or `webhook:NAME`";

impl Channel {
    /// Parses `slack:#channel`, `telegram:CHAT` or `webhook:NAME`; the
    /// message says what to write instead.
    pub fn parse(text: &str) -> Result<Self, String> {
        let Some((kind, name)) = text.split_once(':') else {
            return Err(format!("`{text}` is not a channel; {WHAT_TO_WRITE}"));
        };
        let bad = |why: &str| Err(format!("channel `{text}`: {why}; {WHAT_TO_WRITE}"));
        if name.is_empty() || name.len() > 128 {
            return bad("the name is empty or longer than 128 bytes");
        }
        let plain = |s: &str| {
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        };
        match kind {
            "slack" => match name.strip_prefix('#') {
                Some(c) if !c.is_empty() && plain(c) => Ok(Self::Slack(name.to_owned())),
                _ => bad("a Slack channel is `#` and letters, digits, `-`, `_` or `.`"),
            },
            "telegram" => {
                let id = name.strip_prefix('-').unwrap_or(name);
                let numeric = !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit());
                let handle = name
                    .strip_prefix('@')
                    .is_some_and(|h| !h.is_empty() && plain(h));
                if numeric || handle {
                    Ok(Self::Telegram(name.to_owned()))
                } else {
                    bad("a Telegram chat is a numeric id (`-100…` for groups) or `@name`")
                }
            }
            "webhook" if plain(name) => Ok(Self::Webhook(name.to_owned())),
            "webhook" => bad("a webhook's name is letters, digits, `-`, `_` or `.`"),
            _ => bad(&format!("`{kind}` is not a kind of channel")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seeds_channels_parse_and_print_as_written() {
        for text in [
            "slack:#deploy-approvals",
            "telegram:-1001234567890",
            "telegram:@ops_alerts",
            "webhook:pager",
        ] {
            assert_eq!(Channel::parse(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn malformed_channels_say_what_to_write() {
        for text in [
            "slack",
            "slack:deploy",
            "slack:#",
            "slack:#a b",
            "telegram:abc",
            "telegram:@",
            "webhook:",
            "webhook:a/b",
            "email:ops@example.com",
        ] {
            let e = Channel::parse(text).unwrap_err();
            assert!(e.contains("write `slack:#CHANNEL`"), "{text}: {e}");
        }
    }
}
