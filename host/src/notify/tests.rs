//! Delivery and the outbox against real HTTP receivers on loopback (small
//! servers in the tests), on a real state store.

use super::sign::{WEBHOOK_SIGNATURE_HEADER, sign_webhook};
use super::*;
use crate::store::SqliteState;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request a receiver got.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    headers: HeaderMap,
    body: String,
}

/// A receiver on loopback: answers each request with the next status of
/// `answers` (200 once they run out), or never (`hang`).
struct Receiver {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Receiver {
    async fn start(answers: &[u16], hang: bool) -> Self {
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let answers = Arc::new(Mutex::new(answers.iter().copied().collect::<VecDeque<_>>()));
        let (log, plan) = (seen.clone(), answers.clone());
        let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
            let (log, plan) = (log.clone(), plan.clone());
            async move {
                log.lock().unwrap().push(Seen {
                    path: uri.path().to_owned(),
                    headers,
                    body: String::from_utf8_lossy(&body).into_owned(),
                });
                if hang {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                }
                let status = plan.lock().unwrap().pop_front().unwrap_or(200);
                (
                    StatusCode::from_u16(status).unwrap(),
                    r#"{"ok":true,"result":{}}"#,
                )
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn settings(url: &str) -> NotifySettings {
    let mut s: NotifySettings = serde_json::from_value(serde_json::json!({
        "slack": {"channels": {"#deploy-approvals": {"webhook_url_env": "T_SLACK_URL"}}},
        "telegram": {"bot_token_env": "T_BOT", "base_url": url},
        "webhooks": {"pager": {"url": format!("{url}/hook"), "secret_env": "T_HOOK_SECRET"}},
        "retry": {"attempts": 2, "first": 1, "max": 1},
        "timeout": 1,
    }))
    .unwrap();
    s.env = [
        ("T_SLACK_URL", format!("{url}/services/T0/B0/x")),
        ("T_BOT", "123:abc".to_owned()),
        ("T_HOOK_SECRET", "whsec".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    s.validate().unwrap();
    s
}

fn approval() -> Message {
    Message {
        kind: "approval".into(),
        id: "apr_1".into(),
        project: "platform".into(),
        title: "ci-runner asks to update a production service".into(),
        fields: vec![
            ("agent".into(), "ci-runner".into()),
            ("session".into(), "s-1".into()),
            (
                "request".into(),
                "aws:ecs:UpdateService on arn:aws:ecs:*:*:service/prod-api".into(),
            ),
            ("rule".into(), "ci-runner.yaml:6:5".into()),
            ("expires".into(), "2026-12-06T15:00:00Z".into()),
        ],
        actions: true,
    }
}

async fn send_now(settings: &NotifySettings, channel: &str) -> Delivery {
    let (s, c) = (settings.clone(), Channel::parse(channel).unwrap());
    tokio::task::spawn_blocking(move || send(&s, &c, &approval(), 1_700_000_000))
        .await
        .unwrap()
}

#[tokio::test]
async fn each_kind_of_channel_gets_what_its_receiver_expects() {
    let r = Receiver::start(&[], false).await;
    let s = settings(&r.url);
    for channel in [
        "slack:#deploy-approvals",
        "telegram:-100123",
        "webhook:pager",
    ] {
        let d = send_now(&s, channel).await;
        assert!(d.ok, "{channel}: {d:?}");
    }
    let seen = r.seen();
    // Slack: the incoming webhook's URL, text and blocks naming the request,
    // with the buttons.
    assert_eq!(seen[0].path, "/services/T0/B0/x");
    let slack: serde_json::Value = serde_json::from_str(&seen[0].body).unwrap();
    assert!(slack["text"].as_str().unwrap().contains("service/prod-api"));
    assert!(seen[0].body.contains(message::SLACK_APPROVE));
    // Telegram: the bot's sendMessage, the chat.
    assert_eq!(seen[1].path, "/bot123:abc/sendMessage");
    let tg: serde_json::Value = serde_json::from_str(&seen[1].body).unwrap();
    assert_eq!(tg["chat_id"], "-100123");
    // Webhook: signed over the timestamp and the body, as sent.
    assert_eq!(seen[2].path, "/hook");
    let sig = seen[2].headers[WEBHOOK_SIGNATURE_HEADER].to_str().unwrap();
    assert_eq!(
        sig,
        sign_webhook(b"whsec", 1_700_000_000, seen[2].body.as_bytes())
    );
}

#[tokio::test]
async fn a_channel_without_an_address_or_a_refusing_receiver_is_a_failure_that_says_why() {
    let r = Receiver::start(&[500], false).await;
    let s = settings(&r.url);
    let d = send_now(&s, "slack:#elsewhere").await;
    assert!(!d.ok && d.error.unwrap().contains("no webhook"));
    let d = send_now(&s, "webhook:pager").await;
    assert_eq!((d.ok, d.status), (false, Some(500)));
    let mut unset = s.clone();
    unset.env.clear();
    let d = send_now(&unset, "webhook:pager").await;
    assert!(d.error.unwrap().contains("`T_HOOK_SECRET` is not set"));
    // A receiver that hangs: the timeout, never the caller's wait.
    let hang = Receiver::start(&[], true).await;
    let d = send_now(&settings(&hang.url), "webhook:pager").await;
    assert!(
        !d.ok && d.error.as_deref().unwrap().contains("timed out"),
        "{d:?}"
    );
}

async fn wait_for(outbox: &Outbox<SqliteState>, id: &str, stage: Stage) -> Notification {
    for _ in 0..200 {
        if let Some(n) = outbox.get("platform", id).await.unwrap()
            && n.stage == stage
        {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "{id} never reached {stage:?}: {:?}",
        outbox.get("platform", id).await
    );
}

#[tokio::test]
async fn the_outbox_retries_a_failed_try_and_keeps_every_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let state = Arc::new(SqliteState::open(dir.path()).unwrap());
    let r = Receiver::start(&[503], false).await;
    let outbox = Outbox::new(state, settings(&r.url));
    tokio::spawn(outbox.clone().run());
    let channel = Channel::parse("webhook:pager").unwrap();
    let id = outbox
        .enqueue("platform", &channel, approval())
        .await
        .unwrap();
    let n = wait_for(&outbox, &id, Stage::Delivered).await;
    assert_eq!(n.attempts.len(), 2);
    assert_eq!(n.attempts[0].delivery.status, Some(503));
    assert!(n.attempts[1].delivery.ok);
    assert_eq!(r.seen().len(), 2);
    outbox.stop();
}

#[tokio::test]
async fn an_undeliverable_notification_ends_failed_after_its_tries() {
    let dir = tempfile::tempdir().unwrap();
    let state = Arc::new(SqliteState::open(dir.path()).unwrap());
    // Nothing listens there.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let outbox = Outbox::new(state, settings(&url));
    tokio::spawn(outbox.clone().run());
    let channel = Channel::parse("webhook:pager").unwrap();
    let id = outbox
        .enqueue("platform", &channel, approval())
        .await
        .unwrap();
    let n = wait_for(&outbox, &id, Stage::Failed).await;
    assert_eq!(n.attempts.len(), 2, "bounded by `retry.attempts`");
    assert!(
        n.attempts
            .iter()
            .all(|a| !a.delivery.ok && a.delivery.error.is_some())
    );
    outbox.stop();
}

#[tokio::test]
async fn pending_notifications_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let r = Receiver::start(&[], false).await;
    let channel = Channel::parse("slack:#deploy-approvals").unwrap();
    let id = {
        // Written, never sent: the server stopped first.
        let state = Arc::new(SqliteState::open(dir.path()).unwrap());
        let outbox = Outbox::new(state, settings(&r.url));
        outbox
            .enqueue("platform", &channel, approval())
            .await
            .unwrap()
    };
    let state = Arc::new(SqliteState::open(dir.path()).unwrap());
    let outbox = Outbox::new(state, settings(&r.url));
    assert_eq!(outbox.resume(["platform".to_owned()]).await.unwrap(), 1);
    tokio::spawn(outbox.clone().run());
    let n = wait_for(&outbox, &id, Stage::Delivered).await;
    assert_eq!(n.attempts.len(), 1);
    assert_eq!(r.seen().len(), 1);
    outbox.stop();
}
