//! End to end, issue 16: human oversight through the real server. Approval
//! gates (raised, notified in Slack, decided by an approver or a Slack
//! button, used once, expired), with their abuse cases.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;
#[path = "support/two_projects.rs"]
mod two_projects;

use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use support::{ConfigDir, HOSTILE, token_hash};
use two_projects::*;

/// One request a receiver was sent.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    signature: Option<String>,
    body: String,
}

/// What a receiver was sent, in order.
type Inbox = Arc<Mutex<Vec<Received>>>;

/// A receiver on loopback, answering `{"ok": true}` (as Slack's webhooks,
/// Telegram's Bot API and a webhook endpoint would take a message): its
/// base URL and what it was sent.
async fn receiver() -> (String, Inbox) {
    let inbox: Inbox = Default::default();
    let log = inbox.clone();
    let app = axum::Router::new().fallback(
        move |uri: axum::http::Uri, headers: axum::http::HeaderMap, body: String| {
            let log = log.clone();
            async move {
                log.lock().unwrap().push(Received {
                    path: uri.path().to_owned(),
                    signature: headers
                        .get("palisade-signature")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned),
                    body,
                });
                axum::Json(json!({"ok": true}))
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, inbox)
}

/// Waits (up to 5 s) until `inbox` holds `n` messages.
async fn arrived(inbox: &Inbox, n: usize) {
    for _ in 0..100 {
        if inbox.lock().unwrap().len() >= n {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `application/x-www-form-urlencoded` of one value.
fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Posts a Slack `block_actions` interaction, as Slack does when `user`
/// clicks button `action` (value `id`), signed with `secret` at `ts`.
async fn click(
    s: &support::Server,
    secret: &str,
    ts: i64,
    user: &str,
    action: &str,
    id: &str,
) -> (u16, Value) {
    let payload = json!({
        "type": "block_actions",
        "user": {"id": user, "username": "someone", "team_id": "T0"},
        "team": {"id": "T0", "domain": "acme"},
        "api_app_id": "A0",
        "trigger_id": "1.2.3",
        "response_url": "https://hooks.slack.com/actions/T0/1/x",
        "actions": [{"type": "button", "action_id": action, "block_id": format!("palisade_{id}"),
                     "value": id, "action_ts": ts.to_string()}],
    });
    let body = format!("payload={}", form_encode(&payload.to_string()));
    let signature = palisade::notify::sign::slack_signature(secret.as_bytes(), ts, body.as_bytes());
    let resp = reqwest::Client::new()
        .post(s.url("/v1/slack/interactions"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", ts.to_string())
        .header("x-slack-signature", signature)
        .body(body)
        .send()
        .await
        .unwrap();
    (
        resp.status().as_u16(),
        resp.json().await.unwrap_or(Value::Null),
    )
}

/// The events of `project`'s trail that start with one of `prefixes`, in
/// order.
async fn trail_events(s: &support::Server, project: &str, prefixes: &[&str]) -> Vec<String> {
    let (_, trail) = get(
        s,
        &format!("/v1/audit?project={project}&limit=1000"),
        "tok-ops",
    )
    .await;
    trail["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["event"].as_str().map(str::to_owned))
        .filter(|e| prefixes.iter().any(|p| e.starts_with(p)))
        .collect()
}

/// The `approval_*` events of `project`'s trail, in order.
async fn approval_events(s: &support::Server, project: &str) -> Vec<String> {
    trail_events(s, project, &["approval_"]).await
}

/// Issue 16, approval gates: seed 000's production deploy raises an
/// approval; the agent cannot approve it, nor can anyone outside the
/// project's approvers; an approver's approval allows exactly that request,
/// once; a long-poll returns when it is decided; every step is recorded.
#[tokio::test]
async fn an_approval_allows_its_own_request_once_and_only_an_approver_gives_it() {
    // A Slack-compatible receiver for seed 000's `slack:#deploy-approvals`.
    let (base, slack) = receiver().await;
    let hook = format!("{base}/services/T0/B0/x");
    let cfg = ConfigDir::new(
        "policy: policies\nnotify:\n  slack:\n    channels:\n      \"#deploy-approvals\": {webhook_url_env: PAL_TEST_SLACK_URL}\n",
    )
    .with_file("hostile.wasm", HOSTILE);
    write_projects(&cfg.dir.path().join("policies"), ("", ""));
    let s = cfg.start_with_env(&[("PAL_TEST_SLACK_URL", hook)]).await;
    let prod = |service: &str| {
        req(
            "aws",
            "ecs:UpdateService",
            &format!("arn:aws:ecs:us-east-1:1:service/{service}"),
            json!({}),
        )
    };
    let (status, first) = decide(&s, "tok-ci", prod("prod-api")).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["decision"], "approval_required", "{first}");
    let id = first["approval"]["id"].as_str().unwrap().to_owned();
    assert_eq!(first["approval"]["state"], "pending");
    // The identical request gets the same approval back.
    let (_, again) = decide(&s, "tok-ci", prod("prod-api")).await;
    assert_eq!(again["approval"]["id"], id.as_str());
    // The approval request appears in Slack, once, with its buttons.
    arrived(&slack, 1).await;
    {
        let got = slack.lock().unwrap();
        assert_eq!(got.len(), 1, "{got:?}");
        let message: Value = serde_json::from_str(&got[0].body).unwrap();
        let text = message.to_string();
        assert!(
            text.contains("service/prod-api") && text.contains("ci-runner"),
            "{text}"
        );
        assert!(
            text.contains("palisade_approve") && text.contains(&id),
            "{text}"
        );
    }

    let post = |path: String, token: &'static str| {
        let s = &s;
        async move {
            call(
                s,
                reqwest::Method::POST,
                &path,
                token,
                Some(json!({"reason": "deploy window"})),
            )
            .await
        }
    };
    let approve = format!("/v1/approvals/{id}/approve");
    // A person's token never raises a request (so never their own).
    let (status, _) = decide(&s, "tok-approver", prod("prod-api")).await;
    assert_eq!(status, 401);
    // An agent never approves, not even another project's.
    assert_eq!(post(approve.clone(), "tok-ci").await.0, 403);
    assert_eq!(post(approve.clone(), "tok-invoice").await.0, 403);
    // Administrators who are not its project's approvers: as if it did not exist.
    assert_eq!(post(approve.clone(), "tok-inv-admin").await.0, 404);
    assert_eq!(post(approve.clone(), "tok-plat-admin").await.0, 404);
    // Bad input changes nothing.
    let (status, _) = call(
        &s,
        reqwest::Method::POST,
        &approve,
        "tok-approver",
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        post("/v1/approvals/apr_nope/approve".into(), "tok-approver")
            .await
            .0,
        404
    );
    // Without a signing secret, Slack's clicks are not taken at all.
    let (status, body) = click(&s, "any", now(), "U0APPROVER", "palisade_approve", &id).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "slack_not_configured");
    // Still pending: the agent's retry with it is not allowed.
    let mut with = prod("prod-api");
    with["approval_id"] = json!(id);
    let (_, early) = decide(&s, "tok-ci", with.clone()).await;
    assert_eq!(early["decision"], "deny", "{early}");
    assert!(
        early["reason"].as_str().unwrap().contains("pending"),
        "{early}"
    );

    // The agent waits for the decision; the approver approves.
    let waiter = {
        let url = s.url(&format!("/v1/approvals/{id}?wait=20s"));
        tokio::spawn(async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth("tok-ci")
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (status, approved) = post(approve.clone(), "tok-approver").await;
    assert_eq!(status, 200, "{approved}");
    assert_eq!(approved["state"], "approved");
    assert_eq!(approved["decided_by"], "approver");
    let waited = waiter.await.unwrap();
    assert_eq!(waited["state"], "approved", "{waited}");
    // Decided once.
    assert_eq!(post(approve.clone(), "tok-approver").await.0, 409);
    assert_eq!(
        post(format!("/v1/approvals/{id}/deny"), "tok-approver")
            .await
            .0,
        409
    );

    // Not for another request.
    let mut other = prod("prod-web");
    other["approval_id"] = json!(id);
    let (_, refused) = decide(&s, "tok-ci", other).await;
    assert_eq!(refused["decision"], "deny");
    assert!(
        refused["reason"]
            .as_str()
            .unwrap()
            .contains("another request"),
        "{refused}"
    );
    // Its own request: allowed, once.
    let (_, allowed) = decide(&s, "tok-ci", with.clone()).await;
    assert_eq!(allowed["decision"], "allow", "{allowed}");
    assert!(
        allowed["reason"].as_str().unwrap().contains(&id),
        "{allowed}"
    );
    let (_, twice) = decide(&s, "tok-ci", with).await;
    assert_eq!(twice["decision"], "deny", "{twice}");
    assert!(
        twice["reason"].as_str().unwrap().contains("used"),
        "{twice}"
    );

    // Listed for the project's people; another project's agent cannot see it.
    let (status, list) = get(&s, "/v1/approvals?state=used", "tok-approver").await;
    assert_eq!(status, 200);
    assert!(
        list["approvals"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["id"] == id.as_str())
    );
    // A page is bounded: each approval carries its request.
    let (_, one) = get(&s, "/v1/approvals?limit=1", "tok-approver").await;
    assert_eq!(one["approvals"].as_array().unwrap().len(), 1, "{one}");
    for bad in ["limit=0", "limit=201", "state=bogus"] {
        let (status, _) = get(&s, &format!("/v1/approvals?{bad}"), "tok-approver").await;
        assert_eq!(status, 400, "{bad}");
    }
    let (status, _) = get(&s, &format!("/v1/approvals/{id}"), "tok-invoice").await;
    assert_eq!(status, 404);
    let (_, none) = get(&s, "/v1/approvals", "tok-inv-admin").await;
    assert!(none["approvals"].as_array().unwrap().is_empty(), "{none}");

    // Every step is in the project's trail.
    assert_eq!(
        approval_events(&s, "platform").await,
        ["approval_raised", "approval_approved", "approval_used"]
    );
}

/// An approval nobody decides expires on time: the agent's long-poll
/// returns `expired`, using it is denied, and the expiry is recorded. Its
/// `webhook:` channel hears of it when it is raised and when it expires,
/// signed; the approval shows the delivery, and the trail records it.
#[tokio::test]
async fn an_undecided_approval_expires_on_time_and_is_recorded() {
    let (base, pager) = receiver().await;
    let quick = format!(
        "  quick: [\"{}\"]\nagents:\n  quick:\n    policies:\n      - rule: \"git:push on repos/*\"\n        \
         requires_approval: true\n        approval_timeout: 1s\n        approval_channel: webhook:pager\n",
        token_hash("tok-quick")
    );
    let config = format!(
        "notify:\n  webhooks:\n    pager: {{url: \"{base}/hook\", secret_env: PAL_TEST_PAGER_SECRET}}\n"
    );
    let env = [("PAL_TEST_PAGER_SECRET", "pager-secret".to_owned())];
    let (s, _cfg) = setup_with_env(&config, ("", &quick), &env).await;
    let push = req("git", "push", "repos/api", json!({}));
    let (_, asked) = decide(&s, "tok-quick", push.clone()).await;
    assert_eq!(asked["decision"], "approval_required", "{asked}");
    let id = asked["approval"]["id"].as_str().unwrap().to_owned();
    // Waiting longer than its timeout: the wait ends with it expired.
    let (status, waited) = get(&s, &format!("/v1/approvals/{id}?wait=10s"), "tok-quick").await;
    assert_eq!(status, 200);
    assert_eq!(waited["state"], "expired", "{waited}");
    // How its notification fared is for people, not for the agent.
    assert!(waited.get("delivery").is_none(), "{waited}");
    let (_, seen) = get(&s, &format!("/v1/approvals/{id}"), "tok-approver").await;
    assert_eq!(seen["delivery"]["channel"], "webhook:pager", "{seen}");
    assert_eq!(seen["delivery"]["stage"], "delivered", "{seen}");
    assert_eq!(seen["delivery"]["attempts"][0]["status"], 200, "{seen}");
    // Too late to approve, too late to use.
    let (status, _) = call(
        &s,
        reqwest::Method::POST,
        &format!("/v1/approvals/{id}/approve"),
        "tok-approver",
        Some(json!({"reason": "late"})),
    )
    .await;
    assert_eq!(status, 409);
    let mut with = push;
    with["approval_id"] = json!(id);
    let (_, late) = decide(&s, "tok-quick", with).await;
    assert_eq!(late["decision"], "deny", "{late}");

    // The channel heard of it twice, each signed over its body.
    arrived(&pager, 2).await;
    let got = pager.lock().unwrap().clone();
    let kinds: Vec<String> = got
        .iter()
        .map(|r| {
            assert_eq!(r.path, "/hook");
            let sig = r.signature.as_deref().expect("signed");
            let t: i64 = sig[2..sig.find(',').unwrap()].parse().unwrap();
            let want = palisade::notify::sign::sign_webhook(b"pager-secret", t, r.body.as_bytes());
            assert_eq!(sig, want);
            let body: Value = serde_json::from_str(&r.body).unwrap();
            assert_eq!(body["id"], id.as_str(), "{body}");
            body["type"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(kinds, ["approval", "approval_expired"]);

    // The sweep records the expiry, and each delivery, in the trail.
    let mut events = Vec::new();
    for _ in 0..50 {
        events = trail_events(&s, "platform", &["approval_", "notification_"]).await;
        if events
            .iter()
            .filter(|e| *e == "notification_delivered")
            .count()
            == 2
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    events.sort();
    assert_eq!(
        events,
        [
            "approval_expired",
            "approval_raised",
            "notification_delivered",
            "notification_delivered"
        ],
        "{events:?}"
    );
}

/// A Telegram channel gets the request through the Bot API, at the
/// configured base URL with the bot token; a webhook whose receiver is down
/// costs nothing but its tries: the decision is answered at once, the
/// approval shows each failed try, the trail records the failure, and the
/// server keeps serving.
#[tokio::test]
async fn telegram_hears_of_an_approval_and_a_dead_receiver_changes_no_decision() {
    let (base, telegram) = receiver().await;
    // A port nothing listens on.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let agent = format!(
        "  relay: [\"{}\"]\nagents:\n  relay:\n    policies:\n      \
         - rule: \"git:push on repos/*\"\n        requires_approval: true\n        \
         approval_channel: \"telegram:-1001234567890\"\n      \
         - rule: \"git:merge on repos/*\"\n        requires_approval: true\n        \
         approval_channel: webhook:down\n",
        token_hash("tok-relay")
    );
    let config = format!(
        "notify:\n  telegram: {{bot_token_env: PAL_TEST_BOT, base_url: \"{base}\"}}\n  \
         webhooks:\n    down: {{url: \"http://{dead}/hook\", secret_env: PAL_TEST_DOWN}}\n  \
         retry: {{attempts: 2, first: 1s, max: 1s}}\n  timeout: 2s\n"
    );
    let env = [
        ("PAL_TEST_BOT", "123:bot-token".to_owned()),
        ("PAL_TEST_DOWN", "down-secret".to_owned()),
    ];
    let (s, _cfg) = setup_with_env(&config, ("", &agent), &env).await;
    let (_, pushed) = decide(&s, "tok-relay", req("git", "push", "repos/api", json!({}))).await;
    assert_eq!(pushed["decision"], "approval_required", "{pushed}");
    let (_, merged) = decide(&s, "tok-relay", req("git", "merge", "repos/api", json!({}))).await;
    assert_eq!(merged["decision"], "approval_required", "{merged}");

    arrived(&telegram, 1).await;
    let got = telegram.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].path, "/bot123:bot-token/sendMessage");
    let sent: Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(sent["chat_id"], "-1001234567890", "{sent}");
    let text = sent["text"].as_str().unwrap();
    assert!(
        text.contains("agent: relay")
            && text.contains("service: git")
            && text.contains("action: push")
            && text.contains("resource: repos/api"),
        "{text}"
    );

    // The dead receiver: two tries, both failed, on the approval.
    let id = merged["approval"]["id"].as_str().unwrap();
    let mut seen = Value::Null;
    for _ in 0..100 {
        let (_, a) = get(&s, &format!("/v1/approvals/{id}"), "tok-approver").await;
        seen = a;
        if seen["delivery"]["stage"] == "failed" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(seen["delivery"]["stage"], "failed", "{seen}");
    let attempts = seen["delivery"]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{seen}");
    assert!(
        attempts
            .iter()
            .all(|a| a["ok"] == false && a["error"].is_string())
    );
    // Still pending for a person to find in the API; the server serves.
    assert_eq!(seen["state"], "pending");
    let (status, _) = s.get("/healthz").await;
    assert_eq!(status, 200);
    let mut events = Vec::new();
    for _ in 0..50 {
        events = trail_events(&s, "platform", &["notification_"]).await;
        if events.len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    events.sort();
    assert_eq!(events, ["notification_delivered", "notification_failed"]);
}

/// Seed 000 chapter 6, its second test as written: "ask for an action
/// requiring approval → approval request should appear in Slack". The
/// Slack-compatible receiver gets the message; a person approves with its
/// button (the signed interaction Slack would post); the agent's long-poll
/// returns and its retry is allowed, once. Forged, stale, unmapped and
/// out-of-scope clicks change nothing.
#[tokio::test]
async fn seed_000_chapter_6_an_approval_appears_in_slack_and_its_button_approves_it() {
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    let (base, slack) = receiver().await;
    let hook = format!("{base}/services/T0/B0/x");
    let cfg = ConfigDir::new(
        "policy: policies\nnotify:\n  slack:\n    signing_secret_env: PAL_TEST_SLACK_SECRET\n    \
         channels:\n      \"#deploy-approvals\": {webhook_url_env: PAL_TEST_SLACK_URL}\n",
    )
    .with_file("hostile.wasm", HOSTILE);
    write_projects(&cfg.dir.path().join("policies"), ("", ""));
    let s = cfg
        .start_with_env(&[
            ("PAL_TEST_SLACK_URL", hook),
            ("PAL_TEST_SLACK_SECRET", SECRET.to_owned()),
        ])
        .await;
    let deploy = req(
        "aws",
        "ecs:UpdateService",
        "arn:aws:ecs:us-east-1:1:service/prod-api",
        json!({}),
    );
    let (_, asked) = decide(&s, "tok-ci", deploy.clone()).await;
    assert_eq!(asked["decision"], "approval_required", "{asked}");
    let id = asked["approval"]["id"].as_str().unwrap().to_owned();

    // The request appears in Slack, with an Approve button for it.
    arrived(&slack, 1).await;
    let message: Value = serde_json::from_str(&slack.lock().unwrap()[0].body).unwrap();
    let button = message["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["elements"].as_array())
        .flatten()
        .find(|e| e["text"]["text"] == "Approve")
        .cloned()
        .unwrap_or_else(|| panic!("no Approve button: {message}"));
    assert_eq!(button["value"], id.as_str());
    let action = button["action_id"].as_str().unwrap().to_owned();

    // The agent waits.
    let waiter = {
        let url = s.url(&format!("/v1/approvals/{id}?wait=30s"));
        tokio::spawn(async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth("tok-ci")
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        })
    };

    // Clicks that are not Slack's, or not an approver's of this project.
    let t = now();
    let forged = [
        (
            click(&s, "not-the-secret", t, "U0APPROVER", &action, &id).await,
            401,
        ),
        (
            click(&s, SECRET, t - 600, "U0APPROVER", &action, &id).await,
            401,
        ),
        (click(&s, SECRET, t, "U0NOBODY", &action, &id).await, 403),
        (click(&s, SECRET, t, "U0BOTH", &action, &id).await, 404),
        (
            click(&s, SECRET, t, "U0APPROVER", "other_button", &id).await,
            400,
        ),
        (
            click(&s, SECRET, t, "U0APPROVER", &action, "apr_nope").await,
            404,
        ),
    ];
    for (i, ((status, body), want)) in forged.iter().enumerate() {
        assert_eq!(status, want, "case {i}: {body}");
    }
    let unsigned = reqwest::Client::new()
        .post(s.url("/v1/slack/interactions"))
        .body("payload=%7B%7D")
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status().as_u16(), 401);
    let (_, still) = get(&s, &format!("/v1/approvals/{id}"), "tok-approver").await;
    assert_eq!(still["state"], "pending", "{still}");

    // The approver clicks Approve.
    let (status, body) = click(&s, SECRET, now(), "U0APPROVER", &action, &id).await;
    assert_eq!(status, 200, "{body}");
    let waited = waiter.await.unwrap();
    assert_eq!(waited["state"], "approved", "{waited}");
    assert_eq!(waited["decided_by"], "approver");
    assert!(
        waited["decided_reason"]
            .as_str()
            .unwrap()
            .contains("in Slack by user U0APPROVER"),
        "{waited}"
    );
    // A replayed click changes nothing.
    let (status, _) = click(&s, SECRET, now(), "U0APPROVER", &action, &id).await;
    assert_eq!(status, 409);

    // The agent's retry is allowed, once.
    let mut with = deploy;
    with["approval_id"] = json!(id);
    let (_, allowed) = decide(&s, "tok-ci", with.clone()).await;
    assert_eq!(allowed["decision"], "allow", "{allowed}");
    let (_, again) = decide(&s, "tok-ci", with).await;
    assert_eq!(again["decision"], "deny", "{again}");
    assert_eq!(
        approval_events(&s, "platform").await,
        ["approval_raised", "approval_approved", "approval_used"]
    );
}

/// Approvals are state, not memory: after a restart a pending approval can
/// still be approved and used once, and one whose deadline passes while the
/// server is down (or starting) is expired, and recorded as such.
#[tokio::test]
async fn pending_approvals_survive_a_restart_and_still_expire_on_time() {
    let quick = format!(
        "  quick: [\"{}\"]\nagents:\n  quick:\n    policies:\n      - rule: \"git:push on repos/*\"\n        \
         requires_approval: true\n        approval_timeout: 2s\n",
        token_hash("tok-quick")
    );
    let (s, cfg) = setup("", ("", &quick)).await;
    let deploy = req(
        "aws",
        "ecs:UpdateService",
        "arn:aws:ecs:us-east-1:1:service/prod-api",
        json!({}),
    );
    let push = req("git", "push", "repos/api", json!({}));
    let (_, slow) = decide(&s, "tok-ci", deploy.clone()).await;
    let (_, fast) = decide(&s, "tok-quick", push).await;
    let slow_id = slow["approval"]["id"].as_str().unwrap().to_owned();
    let fast_id = fast["approval"]["id"].as_str().unwrap().to_owned();
    assert!(s.terminate().success());

    let s = cfg.start().await;
    // The 2-second one is over, whether or not the sweep has run yet.
    let (_, fast) = get(
        &s,
        &format!("/v1/approvals/{fast_id}?wait=10s"),
        "tok-quick",
    )
    .await;
    assert_eq!(fast["state"], "expired", "{fast}");
    // The hour-long one is still pending, and works as before.
    let (_, slow) = get(&s, &format!("/v1/approvals/{slow_id}"), "tok-ci").await;
    assert_eq!(slow["state"], "pending", "{slow}");
    let (status, _) = call(
        &s,
        reqwest::Method::POST,
        &format!("/v1/approvals/{slow_id}/approve"),
        "tok-approver",
        Some(json!({"reason": "after the restart"})),
    )
    .await;
    assert_eq!(status, 200);
    let mut with = deploy;
    with["approval_id"] = json!(slow_id);
    let (_, allowed) = decide(&s, "tok-ci", with.clone()).await;
    assert_eq!(allowed["decision"], "allow", "{allowed}");
    let (_, again) = decide(&s, "tok-ci", with).await;
    assert_eq!(again["decision"], "deny", "{again}");
    let mut events = Vec::new();
    for _ in 0..50 {
        events = approval_events(&s, "platform").await;
        if events.iter().any(|e| e == "approval_expired") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    events.sort();
    assert_eq!(
        events,
        [
            "approval_approved",
            "approval_expired",
            "approval_raised",
            "approval_raised",
            "approval_used"
        ],
        "{events:?}"
    );
}

/// An administrator's POST as `token` with `body`.
async fn post_as(s: &support::Server, path: &str, token: &str, body: Value) -> (u16, Value) {
    call(s, reqwest::Method::POST, path, token, Some(body)).await
}

/// Seed 002's bar is "under 30 seconds from a single action"; ours is the
/// next request. Eight clients hammer one session with requests the policy
/// allows; an administrator kills the session; no allow is answered after
/// the kill's answer, every later decision names the kill and who took it,
/// the session's pending approval is cancelled and its long-poll returns,
/// and the agent's other sessions go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_session_gets_no_allow_after_the_kill_while_8_clients_hammer_it() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};
    let (s, _cfg) = setup("", ("", "")).await;
    let s = Arc::new(s);
    let read = req("git", "read", "repos/api", json!({}));
    let (_, first) = decide(&s, "tok-ci", read.clone()).await;
    assert_eq!(first["decision"], "allow", "{first}");
    // A pending approval in the session, and the agent waiting on it.
    let deploy = req(
        "aws",
        "ecs:UpdateService",
        "arn:aws:ecs:us-east-1:1:service/prod-api",
        json!({}),
    );
    let (_, asked) = decide(&s, "tok-ci", deploy).await;
    let approval = asked["approval"]["id"].as_str().unwrap().to_owned();
    let waiter = {
        let url = s.url(&format!("/v1/approvals/{approval}?wait=60s"));
        tokio::spawn(async move {
            let started = Instant::now();
            let v: Value = reqwest::Client::new()
                .get(url)
                .bearer_auth("tok-ci")
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            (v, started.elapsed())
        })
    };

    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for _ in 0..8 {
        let (s, stop, read) = (s.clone(), stop.clone(), read.clone());
        clients.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut seen = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let answer: Value = client
                    .post(s.url("/v1/decide"))
                    .bearer_auth("tok-ci")
                    .json(&read)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                seen.push((Instant::now(), answer));
            }
            seen
        }));
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (status, killed) = post_as(
        &s,
        "/v1/sessions/s-1/kill",
        "tok-plat-admin",
        json!({"reason": "runaway loop"}),
    )
    .await;
    let killed_at = Instant::now();
    assert_eq!(status, 200, "{killed}");
    assert_eq!(killed["projects"], json!(["platform"]));
    assert_eq!(killed["approvals_cancelled"], json!([approval]));
    assert_eq!(killed["saved"], true);
    tokio::time::sleep(Duration::from_millis(400)).await;
    stop.store(true, Ordering::SeqCst);
    let mut before = 0;
    let mut after = Vec::new();
    for c in clients {
        for (at, answer) in c.await.unwrap() {
            if at <= killed_at {
                before += usize::from(answer["decision"] == "allow");
            } else {
                after.push(answer);
            }
        }
    }
    assert!(before > 0, "the clients were allowed before the kill");
    assert!(!after.is_empty(), "the clients asked after the kill");
    let allowed_after = after.iter().filter(|a| a["decision"] == "allow").count();
    assert_eq!(allowed_after, 0, "allows answered after the kill's answer");
    let denial = &after[after.len() - 1];
    assert_eq!(denial["code"], "session_killed", "{denial}");
    let reason = denial["reason"].as_str().unwrap();
    assert!(
        reason.contains("session `s-1` was killed by plat-admin")
            && reason.ends_with("runaway loop"),
        "{reason}"
    );

    // The long-poll returned at once with the approval cancelled; it can no
    // longer be approved.
    let (waited, took) = waiter.await.unwrap();
    assert_eq!(waited["state"], "cancelled", "{waited}");
    assert!(took < Duration::from_secs(30), "{took:?}");
    let (status, body) = post_as(
        &s,
        &format!("/v1/approvals/{approval}/approve"),
        "tok-approver",
        json!({"reason": "too late"}),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cancelled"),
        "{body}"
    );

    // The agent's other sessions, and the other agents, go on.
    let mut other = read.clone();
    other["session"] = json!("s-2");
    let (_, fine) = decide(&s, "tok-ci", other).await;
    assert_eq!(fine["decision"], "allow", "{fine}");
    let (_, holds) = get(&s, "/v1/holds", "tok-plat-admin").await;
    assert_eq!(holds["holds"][0]["scope"], "session", "{holds}");
    assert_eq!(holds["holds"][0]["target"], "s-1", "{holds}");
    let mut events = trail_events(&s, "platform", &["session_", "approval_"]).await;
    events.sort();
    assert_eq!(
        events,
        ["approval_cancelled", "approval_raised", "session_killed"],
        "{events:?}"
    );
}

/// An agent is suspended and resumed, a project paused and resumed, by
/// their administrators only; the holds outlive a restart; another
/// project is never touched; bad requests change nothing.
#[tokio::test]
async fn agents_are_suspended_and_projects_paused_until_resumed_by_their_administrators() {
    let (s, cfg) = setup("", ("", "")).await;
    let read = req("git", "read", "repos/api", json!({}));
    let invoice = req("stripe", "invoices:read", "in_123", json!({}));
    let (_, ok) = decide(&s, "tok-invoice", invoice.clone()).await;
    let invoice_before = ok["decision"].clone();

    // Who may not, and bad requests: nothing changes.
    let bad = [
        (
            "/v1/agents/ci-runner/suspend",
            "tok-inv-admin",
            json!({}),
            404,
        ),
        (
            "/v1/agents/ci-runner/suspend",
            "tok-approver",
            json!({}),
            403,
        ),
        ("/v1/agents/ci-runner/suspend", "tok-ci", json!({}), 401),
        (
            "/v1/agents/nobody/suspend",
            "tok-plat-admin",
            json!({}),
            404,
        ),
        (
            "/v1/agents/ci-runner/suspend",
            "tok-plat-admin",
            json!({"resaon": "x"}),
            400,
        ),
        (
            "/v1/agents/ci-runner/suspend",
            "tok-plat-admin",
            json!({"reason": "x".repeat(2000)}),
            400,
        ),
        (
            "/v1/projects/platform/pause",
            "tok-inv-admin",
            json!({}),
            404,
        ),
        (
            "/v1/projects/platform/pause",
            "tok-plat-admin",
            json!({"project": "platform"}),
            400,
        ),
        ("/v1/projects/nowhere/pause", "tok-ops", json!({}), 404),
        (
            "/v1/agents/ci-runner/resume",
            "tok-plat-admin",
            json!({}),
            409,
        ),
        (
            "/v1/projects/platform/resume",
            "tok-plat-admin",
            json!({}),
            409,
        ),
    ];
    for (path, token, body, want) in bad {
        let (status, answer) = post_as(&s, path, token, body).await;
        assert_eq!(status, want, "{path} as {token}: {answer}");
    }
    let (_, holds) = get(&s, "/v1/holds", "tok-ops").await;
    assert_eq!(holds["holds"], json!([]), "{holds}");
    let (_, still) = decide(&s, "tok-ci", read.clone()).await;
    assert_eq!(still["decision"], "allow", "{still}");

    // Suspended: every session of the agent; the other agents go on.
    let (status, _) = post_as(
        &s,
        "/v1/agents/ci-runner/suspend",
        "tok-plat-admin",
        json!({"reason": "leaked token"}),
    )
    .await;
    assert_eq!(status, 200);
    let mut elsewhere = read.clone();
    elsewhere["session"] = json!("s-9");
    let (_, denied) = decide(&s, "tok-ci", elsewhere).await;
    assert_eq!(denied["code"], "agent_suspended", "{denied}");
    assert!(
        denied["reason"]
            .as_str()
            .unwrap()
            .contains("agent `ci-runner` is suspended by plat-admin"),
        "{denied}"
    );
    let (_, reviewer) = decide(&s, "tok-reviewer", read.clone()).await;
    assert_eq!(reviewer["decision"], "allow", "{reviewer}");

    // Paused: every agent of the project, none of another.
    let (status, _) = post_as(&s, "/v1/projects/platform/pause", "tok-ops", json!({})).await;
    assert_eq!(status, 200);
    let (_, paused) = decide(&s, "tok-reviewer", read.clone()).await;
    assert_eq!(paused["code"], "project_paused", "{paused}");
    let (_, other) = decide(&s, "tok-invoice", invoice.clone()).await;
    assert_eq!(other["decision"], invoice_before, "{other}");

    // Both outlive a restart.
    assert!(s.terminate().success());
    let s = cfg.start().await;
    let (_, paused) = decide(&s, "tok-reviewer", read.clone()).await;
    assert_eq!(paused["code"], "project_paused", "{paused}");

    // Resumed: the project, then the agent.
    let (status, _) = post_as(
        &s,
        "/v1/projects/platform/resume",
        "tok-plat-admin",
        json!({"reason": "contained"}),
    )
    .await;
    assert_eq!(status, 200);
    let (_, back) = decide(&s, "tok-reviewer", read.clone()).await;
    assert_eq!(back["decision"], "allow", "{back}");
    let (_, still) = decide(&s, "tok-ci", read.clone()).await;
    assert_eq!(still["code"], "agent_suspended", "{still}");
    let (status, _) = post_as(
        &s,
        "/v1/agents/ci-runner/resume",
        "tok-plat-admin",
        json!({}),
    )
    .await;
    assert_eq!(status, 200);
    let (_, back) = decide(&s, "tok-ci", read).await;
    assert_eq!(back["decision"], "allow", "{back}");
    let events = trail_events(&s, "platform", &["agent_", "project_"]).await;
    assert_eq!(
        events,
        [
            "agent_suspended",
            "project_paused",
            "project_resumed",
            "agent_resumed"
        ],
        "{events:?}"
    );
}

/// `palisade kill` and `palisade resume` against the running server, with
/// the token from the environment; a refusal exits 1 and says why.
#[tokio::test]
async fn the_kill_switch_works_from_the_command_line() {
    let (s, _cfg) = setup("", ("", "")).await;
    let run = |args: &[&str], token: Option<&str>| {
        let mut cmd = std::process::Command::new(support::BIN);
        cmd.args(args).arg("--server").arg(&s.base);
        cmd.env_remove("PALISADE_TOKEN");
        if let Some(t) = token {
            cmd.env("PALISADE_TOKEN", t);
        }
        let out = cmd.output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (ok, out) = run(
        &[
            "kill",
            "--session",
            "s-7",
            "--project",
            "platform",
            "-r",
            "from the cli",
        ],
        Some("tok-plat-admin"),
    );
    assert!(ok, "{out}");
    assert!(
        out.contains("session `s-7` killed in platform by plat-admin"),
        "{out}"
    );
    let mut read = req("git", "read", "repos/api", json!({}));
    read["session"] = json!("s-7");
    let (_, denied) = decide(&s, "tok-ci", read).await;
    assert_eq!(denied["code"], "session_killed", "{denied}");
    assert!(
        denied["reason"].as_str().unwrap().ends_with("from the cli"),
        "{denied}"
    );

    let (ok, out) = run(&["kill", "--agent", "ci-runner"], Some("tok-plat-admin"));
    assert!(ok, "{out}");
    let (ok, out) = run(&["resume", "--agent", "ci-runner"], Some("tok-plat-admin"));
    assert!(ok && out.contains("resumed"), "{out}");
    // Refused: not suspended any more; not their project; no token.
    let (ok, out) = run(&["resume", "--agent", "ci-runner"], Some("tok-plat-admin"));
    assert!(!ok && out.contains("refused (HTTP 409)"), "{out}");
    let (ok, out) = run(&["kill", "--project", "platform"], Some("tok-inv-admin"));
    assert!(!ok && out.contains("refused (HTTP 404)"), "{out}");
    let (ok, out) = run(&["kill", "--project", "platform"], None);
    assert!(!ok && out.contains("PALISADE_TOKEN"), "{out}");
    let (_, holds) = get(&s, "/v1/holds?project=platform", "tok-ops").await;
    assert_eq!(holds["holds"].as_array().unwrap().len(), 1, "{holds}");
}

/// Session limits: a session idle past its agent's timeout, and one past
/// the project's maximum duration, are denied from then on with their
/// codes, while a new session goes on; `GET /v1/sessions` lists each with
/// its agent, times, counts and state, to the project's administrators
/// only.
#[tokio::test]
async fn sessions_end_when_idle_or_too_old_and_are_listed_with_their_state() {
    use std::time::Duration;
    let extra = format!(
        "  brief: [\"{}\"]\nsessions:\n  max_duration: 3s\nagents:\n  brief:\n    \
         policies: [\"git:read on repos/*\"]\n    budget:\n      session_idle_timeout: 2s\n",
        token_hash("tok-brief")
    );
    let (s, _cfg) = setup("", ("", &extra)).await;
    let read = |session: &str| {
        let mut r = req("git", "read", "repos/api", json!({}));
        r["session"] = json!(session);
        r
    };
    // Idle: allowed, then nothing for longer than 2 s.
    let (_, first) = decide(&s, "tok-brief", read("idle-1")).await;
    assert_eq!(first["decision"], "allow", "{first}");
    // Old: the reviewer (no idle timeout) keeps busy past the project's 3 s.
    let (_, busy) = decide(&s, "tok-reviewer", read("old-1")).await;
    assert_eq!(busy["decision"], "allow", "{busy}");
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(800)).await;
        decide(&s, "tok-reviewer", read("old-1")).await;
    }
    let (_, idle) = decide(&s, "tok-brief", read("idle-1")).await;
    assert_eq!(idle["decision"], "deny", "{idle}");
    assert_eq!(idle["code"], "session_idle_timeout", "{idle}");
    assert!(
        idle["reason"]
            .as_str()
            .unwrap()
            .contains("idle timeout (2s)"),
        "{idle}"
    );
    let (_, still) = decide(&s, "tok-brief", read("idle-1")).await;
    assert_eq!(still["code"], "session_idle_timeout", "{still}");
    let (_, old) = decide(&s, "tok-reviewer", read("old-1")).await;
    assert_eq!(old["code"], "session_max_duration", "{old}");
    // A new session goes on.
    let (_, fresh) = decide(&s, "tok-brief", read("idle-2")).await;
    assert_eq!(fresh["decision"], "allow", "{fresh}");
    let (status, _) = post_as(&s, "/v1/sessions/doomed/kill", "tok-plat-admin", json!({})).await;
    assert_eq!(status, 200);
    decide(&s, "tok-brief", read("doomed")).await;

    let (status, listed) = get(&s, "/v1/sessions?project=platform", "tok-plat-admin").await;
    assert_eq!(status, 200, "{listed}");
    let by_id = |id: &str| {
        listed["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no session {id}: {listed}"))
    };
    let idle = by_id("idle-1");
    assert_eq!(idle["agent"], "brief");
    assert_eq!(idle["state"], "expired", "{idle}");
    assert_eq!(idle["ended"], "session_idle_timeout");
    assert_eq!(
        idle["decisions"],
        json!({"allow": 1, "deny": 2, "approval_required": 0, "throttled": 0})
    );
    assert!(idle["first_seen"].as_str().unwrap().ends_with('Z'));
    assert_eq!(by_id("old-1")["ended"], "session_max_duration");
    assert_eq!(by_id("idle-2")["state"], "active");
    assert_eq!(by_id("doomed")["state"], "killed");
    let (_, only) = get(&s, "/v1/sessions?state=killed", "tok-plat-admin").await;
    assert_eq!(only["sessions"].as_array().unwrap().len(), 1, "{only}");
    let (_, brief) = get(&s, "/v1/sessions?agent=brief&limit=2", "tok-ops").await;
    assert_eq!(brief["sessions"].as_array().unwrap().len(), 2, "{brief}");

    // Another project's administrator sees none of them; bad queries: 400.
    let (status, _) = get(&s, "/v1/sessions?project=platform", "tok-inv-admin").await;
    assert_eq!(status, 404);
    let (_, theirs) = get(&s, "/v1/sessions", "tok-inv-admin").await;
    assert_eq!(theirs["sessions"], json!([]), "{theirs}");
    for bad in ["limit=0", "limit=201", "state=bogus", "colour=red"] {
        let (status, _) = get(&s, &format!("/v1/sessions?{bad}"), "tok-ops").await;
        assert_eq!(status, 400, "{bad}");
    }
    let (status, _) = get(&s, "/v1/sessions", "tok-approver").await;
    assert_eq!(status, 403);
}

/// Just-in-time elevation: a grant allows what no rule did, and what a
/// rule sends to a person, for its agent and its TTL only, matched by the
/// service's plugin; it shows in `?explain=true`, is revoked or expires at
/// once, never overrides a `deny` rule, and every step is recorded. An
/// approval can be given "for" a while, as a grant of exactly its request.
#[tokio::test]
async fn a_grant_elevates_its_agent_for_its_ttl_and_never_over_a_deny_rule() {
    use std::time::Duration;
    let (s, _cfg) = setup("grants:\n  max_ttl: 1h\n", ("", "")).await;
    let push_main = req("git", "push", "repos/api/branches/main", json!({}));
    let (_, before) = decide(&s, "tok-ci", push_main.clone()).await;
    assert_eq!(before["decision"], "deny", "{before}");
    assert_eq!(before["code"], "no_matching_rule", "{before}");
    let grant =
        |agent: &str, project: &str, service: &str, action: &str, resource: &str, ttl: &str| {
            json!({"project": project, "agent": agent, "service": service, "actions": [action],
               "resources": [resource], "ttl": ttl, "reason": "hotfix OPS-7"})
        };

    // Bad requests give nothing.
    let bad = [
        (
            grant(
                "ci-runner",
                "platform",
                "git",
                "push",
                "repos/api/branches/main",
                "2h",
            ),
            "tok-approver",
            400,
        ),
        (
            grant(
                "ci-runner",
                "platform",
                "git",
                "push",
                "repos/api/branches/main",
                "soon",
            ),
            "tok-approver",
            400,
        ),
        (
            json!({"project": "platform", "agent": "ci-runner", "service": "git", "actions": [],
                "resources": ["r"], "ttl": "1m", "reason": "x"}),
            "tok-approver",
            400,
        ),
        (
            grant("nobody", "platform", "git", "push", "r", "1m"),
            "tok-approver",
            404,
        ),
        (
            grant("ci-runner", "platform", "git", "push", "r", "1m"),
            "tok-inv-admin",
            404,
        ),
        (
            grant("ci-runner", "platform", "git", "push", "r", "1m"),
            "tok-ci",
            401,
        ),
    ];
    for (body, token, want) in bad {
        let (status, answer) = post_as(&s, "/v1/grants", token, body.clone()).await;
        assert_eq!(status, want, "{body} as {token}: {answer}");
    }
    let (_, none) = get(&s, "/v1/grants", "tok-ops").await;
    assert_eq!(none["grants"], json!([]), "{none}");

    // Given by an approver of the project: allowed, naming the grant.
    let (status, given) = post_as(
        &s,
        "/v1/grants",
        "tok-approver",
        grant(
            "ci-runner",
            "platform",
            "git",
            "push",
            "repos/api/branches/main",
            "30m",
        ),
    )
    .await;
    assert_eq!(status, 201, "{given}");
    let id = given["id"].as_str().unwrap().to_owned();
    assert_eq!(given["state"], "active");
    let (_, allowed) = call(
        &s,
        reqwest::Method::POST,
        "/v1/decide?explain=true",
        "tok-ci",
        Some(push_main.clone()),
    )
    .await;
    assert_eq!(allowed["decision"], "allow", "{allowed}");
    assert!(
        allowed["reason"]
            .as_str()
            .unwrap()
            .starts_with(&format!("allowed by grant {id} (given by approver")),
        "{allowed}"
    );
    assert!(
        allowed["explain"]
            .as_array()
            .unwrap()
            .iter()
            .any(|step| step["plugin"] == "git (grant)" && step["verdict"] == "allow"),
        "{allowed}"
    );
    // Only what it names, only for its agent.
    let other = req("git", "push", "repos/web/branches/main", json!({}));
    let (_, still) = decide(&s, "tok-ci", other).await;
    assert_eq!(still["decision"], "deny", "{still}");
    let (_, reviewer) = decide(&s, "tok-reviewer", push_main.clone()).await;
    assert_eq!(reviewer["decision"], "deny", "{reviewer}");

    // Revoked: out of force at once; twice is a conflict.
    let (status, revoked) = call(
        &s,
        reqwest::Method::DELETE,
        &format!("/v1/grants/{id}"),
        "tok-plat-admin",
        None,
    )
    .await;
    assert_eq!(status, 200, "{revoked}");
    assert_eq!(revoked["state"], "revoked");
    assert_eq!(revoked["revoked_by"], "plat-admin");
    let (_, after) = decide(&s, "tok-ci", push_main.clone()).await;
    assert_eq!(after["decision"], "deny", "{after}");
    let (status, _) = call(
        &s,
        reqwest::Method::DELETE,
        &format!("/v1/grants/{id}"),
        "tok-plat-admin",
        None,
    )
    .await;
    assert_eq!(status, 409);
    let (status, _) = call(
        &s,
        reqwest::Method::DELETE,
        "/v1/grants/grt_nope",
        "tok-plat-admin",
        None,
    )
    .await;
    assert_eq!(status, 404);

    // A deny rule stands whatever is granted.
    let iam = req("aws", "iam:CreateUser", "arn:aws:iam::1:user/x", json!({}));
    let (status, _) = post_as(
        &s,
        "/v1/grants",
        "tok-inv-admin",
        grant(
            "claude-invoice-01",
            "invoice-processor",
            "aws",
            "iam:CreateUser",
            "*",
            "30m",
        ),
    )
    .await;
    assert_eq!(status, 201);
    let (_, denied) = decide(&s, "tok-invoice", iam).await;
    assert_eq!(denied["decision"], "deny", "{denied}");
    assert!(
        !denied["reason"].as_str().unwrap().contains("grant"),
        "{denied}"
    );

    // An approval "for" a while: a grant of exactly its request.
    let deploy = |svc: &str| {
        req(
            "aws",
            "ecs:UpdateService",
            &format!("arn:aws:ecs:us-east-1:1:service/{svc}"),
            json!({}),
        )
    };
    let (_, asked) = decide(&s, "tok-ci", deploy("prod-api")).await;
    let approval = asked["approval"]["id"].as_str().unwrap().to_owned();
    let approve = format!("/v1/approvals/{approval}/approve");
    for (body, want) in [
        (json!({"reason": "window", "for": "3h"}), 400),
        (json!({"reason": "window", "for": "later"}), 400),
    ] {
        let (status, answer) = post_as(&s, &approve, "tok-approver", body).await;
        assert_eq!(status, want, "{answer}");
    }
    let (status, _) = post_as(
        &s,
        &format!("/v1/approvals/{approval}/deny"),
        "tok-approver",
        json!({"reason": "no", "for": "1m"}),
    )
    .await;
    assert_eq!(status, 400);
    let (_, pending) = get(&s, &format!("/v1/approvals/{approval}"), "tok-approver").await;
    assert_eq!(pending["state"], "pending", "{pending}");
    // A request holding a pattern character cannot be granted "for" a
    // while: refused before anything is decided.
    let (_, starred) = decide(&s, "tok-ci", deploy("prod-*")).await;
    let starred = starred["approval"]["id"].as_str().unwrap().to_owned();
    let (status, body) = post_as(
        &s,
        &format!("/v1/approvals/{starred}/approve"),
        "tok-approver",
        json!({"reason": "window", "for": "1m"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (_, still) = get(&s, &format!("/v1/approvals/{starred}"), "tok-approver").await;
    assert_eq!(still["state"], "pending", "{still}");
    let (status, approved) = post_as(
        &s,
        &approve,
        "tok-approver",
        json!({"reason": "window", "for": "2s"}),
    )
    .await;
    assert_eq!(status, 200, "{approved}");
    let for_grant = approved["grant"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        let (_, again) = decide(&s, "tok-ci", deploy("prod-api")).await;
        assert_eq!(again["decision"], "allow", "{again}");
        assert!(
            again["reason"].as_str().unwrap().contains(&for_grant),
            "{again}"
        );
    }
    let (_, web) = decide(&s, "tok-ci", deploy("prod-web")).await;
    assert_eq!(web["decision"], "approval_required", "{web}");
    // It expires on its own, and is written down.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (_, late) = decide(&s, "tok-ci", deploy("prod-api")).await;
    assert_eq!(late["decision"], "approval_required", "{late}");
    let mut events = Vec::new();
    for _ in 0..30 {
        events = trail_events(&s, "platform", &["grant_"]).await;
        if events.iter().any(|e| e == "grant_expired") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        events,
        [
            "grant_given",
            "grant_revoked",
            "grant_given",
            "grant_expired"
        ],
        "{events:?}"
    );
    let (_, listed) = get(
        &s,
        "/v1/grants?project=platform&state=expired",
        "tok-approver",
    )
    .await;
    assert_eq!(listed["grants"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["grants"][0]["approval"], approval.as_str());
}

/// Alerts through the real server: repeated denials and off-hours activity
/// each reach their channel once per episode, not once per request; an
/// agent's first access (after it was learnt) fires once; every alert is
/// listed at `GET /v1/alerts` (filters, to the project's administrators
/// only) and recorded.
#[tokio::test]
async fn alerts_fire_once_per_episode_reach_their_channel_and_are_listed() {
    let (base, pager) = receiver().await;
    // No working day at all: everything is off hours.
    let extra = format!(
        "  watched: [\"{}\"]\nagents:\n  watched:\n    policies: [\"git:read on repos/*\"]\n\
         alerts:\n  - kind: denied\n    threshold: 3\n    window: 1m\n    channel: webhook:pager\n  \
         - kind: off_hours\n    days: []\n    channel: webhook:pager\n  \
         - kind: first_access\n    learn_for: 1s\n",
        token_hash("tok-watched")
    );
    let config = format!(
        "notify:\n  webhooks:\n    pager: {{url: \"{base}/alerts\", secret_env: PAL_TEST_PAGER_SECRET}}\n"
    );
    let env = [("PAL_TEST_PAGER_SECRET", "pager-secret".to_owned())];
    let (s, _cfg) = setup_with_env(&config, ("", &extra), &env).await;
    let read = |r: &str| req("git", "read", &format!("repos/{r}"), json!({}));
    let push = req("git", "push", "repos/api", json!({}));
    decide(&s, "tok-watched", read("api")).await;
    // Six denials: one episode of `denied`.
    for _ in 0..6 {
        let (_, d) = decide(&s, "tok-watched", push.clone()).await;
        assert_eq!(d["decision"], "deny", "{d}");
    }
    // Past the learning second: a first access fires, a repeated one not.
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    decide(&s, "tok-watched", read("billing")).await;
    decide(&s, "tok-watched", read("billing")).await;
    decide(&s, "tok-watched", read("api")).await;

    let mut kinds: Vec<String> = Vec::new();
    for _ in 0..50 {
        let (_, listed) = get(&s, "/v1/alerts?project=platform", "tok-plat-admin").await;
        kinds = listed["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["kind"].as_str().unwrap().to_owned())
            .collect();
        if kinds.len() >= 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    kinds.sort();
    assert_eq!(kinds, ["denied", "first_access", "off_hours"], "{kinds:?}");
    let (_, denied) = get(&s, "/v1/alerts?kind=denied&agent=watched", "tok-ops").await;
    let alert = &denied["alerts"][0];
    assert_eq!(alert["details"]["denials"], "3", "{alert}");
    assert!(alert["time"].as_str().unwrap().ends_with('Z'));
    let (_, first) = get(&s, "/v1/alerts?kind=first_access", "tok-ops").await;
    assert_eq!(
        first["alerts"][0]["details"]["resource"], "repos/billing",
        "{first}"
    );
    let (_, none) = get(&s, "/v1/alerts?until=2000-01-01T00:00:00Z", "tok-ops").await;
    assert_eq!(none["alerts"], json!([]), "{none}");

    // The channel got the two with a channel, once each.
    arrived(&pager, 2).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let got: Vec<Value> = pager
        .lock()
        .unwrap()
        .iter()
        .map(|r| serde_json::from_str(&r.body).unwrap())
        .collect();
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got.iter().all(|m| m["type"] == "alert"), "{got:?}");

    // Others see nothing; bad queries change nothing.
    let (status, _) = get(&s, "/v1/alerts?project=platform", "tok-inv-admin").await;
    assert_eq!(status, 404);
    for bad in ["kind=loud", "since=yesterday", "limit=0", "colour=red"] {
        let (status, _) = get(&s, &format!("/v1/alerts?{bad}"), "tok-ops").await;
        assert_eq!(status, 400, "{bad}");
    }
    let mut events = Vec::new();
    for _ in 0..30 {
        events = trail_events(&s, "platform", &["alert_"]).await;
        if events.len() >= 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(events.len(), 3, "{events:?}");
}

/// Holds and grants are in the server's memory, so a second server on the
/// same data directory would never hear of a kill or a revocation: it is
/// refused, with the audit trail off too (the audit log takes the same
/// lock when it is on).
#[tokio::test]
async fn a_second_server_on_the_same_data_directory_is_refused_even_without_audit() {
    let cfg = ConfigDir::new("policy: policies\naudit:\n  enabled: false\n")
        .with_file("hostile.wasm", HOSTILE);
    write_projects(&cfg.dir.path().join("policies"), ("", ""));
    let first = cfg.start().await;
    let (config, data) = (cfg.config(), cfg.data());
    let (status, stderr) = support::start_failing(&[
        "--config",
        config.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains("is another palisade using this data directory"),
        "{stderr}"
    );
    let (status, _) = first.get("/healthz").await;
    assert_eq!(status, 200);
}

/// An agent name held in two of the caller's projects: a suspension
/// without a project takes both, but a resume must say which one it lifts.
#[tokio::test]
async fn a_resume_held_in_two_projects_must_name_the_project() {
    let twin = format!(
        "  claude-invoice-01: [\"{}\"]\nagents:\n  claude-invoice-01:\n    policies: [\"git:read on repos/*\"]\n",
        token_hash("tok-twin")
    );
    let (s, _cfg) = setup("", ("", &twin)).await;
    let path = "/v1/agents/claude-invoice-01";
    let (status, held) = post_as(&s, &format!("{path}/suspend"), "tok-both", json!({})).await;
    assert_eq!(status, 200, "{held}");
    assert_eq!(held["projects"], json!(["invoice-processor", "platform"]));
    let (status, body) = post_as(&s, &format!("{path}/resume"), "tok-both", json!({})).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "ambiguous");
    let (_, still) = decide(&s, "tok-twin", req("git", "read", "repos/a", json!({}))).await;
    assert_eq!(still["code"], "agent_suspended", "{still}");
    let (status, one) = post_as(
        &s,
        &format!("{path}/resume"),
        "tok-both",
        json!({"project": "platform"}),
    )
    .await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["projects"], json!(["platform"]));
    let (_, back) = decide(&s, "tok-twin", req("git", "read", "repos/a", json!({}))).await;
    assert_eq!(back["decision"], "allow", "{back}");
    // Held in one project only now: no project needed.
    let (status, _) = post_as(&s, &format!("{path}/resume"), "tok-both", json!({})).await;
    assert_eq!(status, 200);
}
