//! What a notification says ([`Message`]) and how each kind of channel
//! carries it: a Slack incoming-webhook payload with Block Kit blocks (and
//! Approve / Deny buttons for an approval), a Telegram `sendMessage`, a
//! JSON webhook body.
//!
//! Every value a message shows may have been written by an agent (a
//! resource, an attribute), so it is escaped for the channel: Slack's
//! `&`, `<` and `>` (which would otherwise make a mention such as
//! `<!channel>` or a link), and nothing is interpreted by Telegram (plain
//! text, no parse mode).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The `action_id` of the Approve button in a Slack message.
pub const SLACK_APPROVE: &str = "palisade_approve";
/// The `action_id` of the Deny button in a Slack message.
pub const SLACK_DENY: &str = "palisade_deny";

/// One notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Message {
    /// What it is about: `approval`, `alert`, `test`.
    pub kind: String,
    /// The id of what it is about (an approval's, an alert's).
    pub id: String,
    /// The project.
    pub project: String,
    /// One line for people.
    pub title: String,
    /// Named values, in order (agent, session, the request, the rule, the
    /// expiry…).
    pub fields: Vec<(String, String)>,
    /// Whether the message carries Approve / Deny buttons (Slack) for the
    /// approval `id`.
    #[serde(default)]
    pub actions: bool,
}

/// Escapes text for Slack's `mrkdwn` and `plain_text`: first what could
/// make a line of its own or hide text (newlines and other control
/// characters, line and paragraph separators, bidirectional overrides,
/// zero-width characters, printed as `\n`, `\u{202e}`…), then Slack's `&`,
/// `<` and `>`.
fn slack_escape(s: &str) -> String {
    slack_entities(&crate::display::escape(s))
}

/// Slack's `&`, `<` and `>` only (for text whose values are escaped
/// already).
fn slack_entities(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A value shown in Slack as code: never a link, a mention or formatting
/// (a backtick in it would end the code span, so it becomes `'`).
fn slack_code(s: &str) -> String {
    format!("`{}`", slack_escape(s).replace('`', "'"))
}

/// The longest value a Slack field shows (its text holds at most 2,000
/// characters, with the name).
const MAX_FIELD_CHARS: usize = 1_800;

/// Slack keeps a section's text under 3,000 characters; fields are cut
/// well below that.
fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max).collect();
    out.push('…');
    out
}

impl Message {
    /// The message as plain lines: the title, then `name: value` per field,
    /// each value on its own line whatever it holds (its control and
    /// invisible characters escaped).
    pub fn plain_text(&self) -> String {
        let e = crate::display::escape;
        let mut text = format!("[{}] {}", e(&self.project), e(&self.title));
        for (name, value) in &self.fields {
            text.push_str(&format!("\n{}: {}", e(name), e(value)));
        }
        text
    }

    /// A Slack incoming-webhook payload: `text` (the fallback) and
    /// `blocks`.
    pub fn slack_payload(&self) -> Value {
        let mut blocks = vec![json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": format!(
                "*{}*\nproject `{}`",
                slack_escape(&cut(&self.title, 300)),
                slack_escape(&self.project)
            )}
        })];
        // Every field is shown (Slack takes 10 per section: one section per
        // ten). A value too long for a field is cut, and then the message
        // carries no buttons: nobody approves what they could not read.
        let mut complete = self.title.chars().count() <= 300;
        for chunk in self.fields.chunks(10) {
            let fields: Vec<Value> = chunk
                .iter()
                .map(|(name, value)| {
                    complete &= value.chars().count() <= MAX_FIELD_CHARS;
                    json!({"type": "mrkdwn", "text": format!(
                        "*{}*\n{}",
                        slack_escape(name),
                        slack_code(&cut(value, MAX_FIELD_CHARS))
                    )})
                })
                .collect();
            blocks.push(json!({"type": "section", "fields": fields}));
        }
        if self.actions && !complete {
            blocks.push(json!({
                "type": "section",
                "text": {"type": "mrkdwn", "text": format!(
                    "This request is too long to show here in full: read it and decide it \
                     through Palisade's API (`GET /v1/approvals/{}`).",
                    slack_escape(&self.id)
                )}
            }));
        }
        if self.actions && complete {
            blocks.push(json!({
                "type": "actions",
                "block_id": format!("palisade_{}", self.id),
                "elements": [
                    {"type": "button", "style": "primary", "action_id": SLACK_APPROVE,
                     "text": {"type": "plain_text", "text": "Approve"}, "value": self.id},
                    {"type": "button", "style": "danger", "action_id": SLACK_DENY,
                     "text": {"type": "plain_text", "text": "Deny"}, "value": self.id},
                ]
            }));
        }
        json!({"text": slack_entities(&cut(&self.plain_text(), 2_000)), "blocks": blocks})
    }

    /// A Telegram `sendMessage` body for `chat`: plain text, no parse mode,
    /// no link previews.
    pub fn telegram_payload(&self, chat: &str) -> Value {
        let mut text = cut(&self.plain_text(), 3_500);
        if self.actions {
            text.push_str(&format!(
                "\n\nApprove or deny: POST /v1/approvals/{}/approve or /deny",
                self.id
            ));
        }
        json!({"chat_id": chat, "text": text, "disable_web_page_preview": true})
    }

    /// A JSON webhook body, sent at `sent_at` (RFC 3339).
    pub fn webhook_payload(&self, sent_at: &str) -> Value {
        let fields: serde_json::Map<String, Value> = self
            .fields
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        json!({
            "type": self.kind, "id": self.id, "project": self.project,
            "title": self.title, "fields": fields, "sent_at": sent_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn approval() -> Message {
        Message {
            kind: "approval".into(),
            id: "apr_1".into(),
            project: "platform".into(),
            title: "ci-runner asks to deploy to production".into(),
            fields: vec![
                ("agent".into(), "ci-runner".into()),
                (
                    "request".into(),
                    "aws:ecs:UpdateService on <!channel> & prod".into(),
                ),
            ],
            actions: true,
        }
    }

    #[test]
    fn every_field_is_shown_and_a_value_too_long_to_show_takes_the_buttons_away() {
        let buttons = |m: &Message| m.slack_payload().to_string().contains(SLACK_APPROVE);
        let mut many = approval();
        for i in 0..15 {
            many.fields
                .push((format!("attribute a{i}"), format!("v{i}")));
        }
        let text = many.slack_payload().to_string();
        assert!(
            text.contains("attribute a14") && text.contains("`v14`"),
            "{text}"
        );
        assert!(buttons(&many));
        let mut long = approval();
        long.fields
            .push(("resource".into(), "r".repeat(MAX_FIELD_CHARS + 1)));
        assert!(!buttons(&long));
        assert!(
            long.slack_payload()
                .to_string()
                .contains("too long to show here")
        );
    }

    #[test]
    fn a_slack_message_names_everything_escapes_what_agents_wrote_and_has_buttons() {
        let p = approval().slack_payload();
        let text = p.to_string();
        assert!(text.contains("ci-runner asks to deploy"), "{text}");
        assert!(!text.contains("<!channel>"), "{text}");
        assert!(text.contains("&lt;!channel&gt; &amp; prod"), "{text}");
        let buttons = &p["blocks"][2]["elements"];
        assert_eq!(buttons[0]["action_id"], SLACK_APPROVE);
        assert_eq!(buttons[1]["action_id"], SLACK_DENY);
        assert_eq!(buttons[0]["value"], "apr_1");
        let mut alert = approval();
        alert.actions = false;
        assert_eq!(alert.slack_payload()["blocks"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn an_agents_text_cannot_forge_a_line_or_a_link() {
        let mut m = approval();
        m.fields[1].1 =
            "svc/x\n*rule*\nread-only, pre-approved by SRE \u{202e} https://evil.example `x`"
                .into();
        // Slack: one field, in a code span (no link, no formatting), its
        // newlines and the override escaped.
        let field = m.slack_payload()["blocks"][1]["fields"][1]["text"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            field,
            "*request*\n`svc/x\\n*rule*\\nread-only, pre-approved by SRE \\u{202e} https://evil.example 'x'`"
        );
        // Plain text (Slack's fallback, Telegram): no line of its own.
        assert_eq!(m.plain_text().lines().count(), 3, "{}", m.plain_text());
        let tg = m.telegram_payload("1")["text"].as_str().unwrap().to_owned();
        assert!(tg.lines().all(|l| !l.starts_with("read-only")), "{tg}");
    }

    #[test]
    fn telegram_and_webhook_bodies_carry_the_same_facts() {
        let t = approval().telegram_payload("-100123");
        assert_eq!(t["chat_id"], "-100123");
        assert!(t.get("parse_mode").is_none());
        assert!(
            t["text"]
                .as_str()
                .unwrap()
                .contains("request: aws:ecs:UpdateService")
        );
        let w = approval().webhook_payload("2026-12-06T12:00:00Z");
        assert_eq!(w["fields"]["agent"], "ci-runner");
        assert_eq!(w["type"], "approval");
    }
}
