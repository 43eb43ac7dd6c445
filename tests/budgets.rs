//! End to end, issue 17: budgets and rate limits through the real server.
//! Usage reported and counted once, estimates reserved and settled, each
//! threshold alerting once to a Slack-compatible receiver, budgets that
//! deny or pause, rate limits that throttle, and bad input that counts
//! nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use support::{ConfigDir, token_hash};

/// What a Slack-compatible receiver was sent: each message's body.
type Inbox = Arc<Mutex<Vec<Value>>>;

/// A Slack-compatible webhook receiver on loopback: its URL and inbox.
async fn receiver() -> (String, Inbox) {
    let inbox: Inbox = Default::default();
    let log = inbox.clone();
    let app = axum::Router::new().fallback(move |body: String| {
        let log = log.clone();
        async move {
            log.lock()
                .unwrap()
                .push(serde_json::from_str(&body).unwrap_or(Value::String(body)));
            axum::Json(json!({"ok": true}))
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/services/T0/B0/x", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, inbox)
}

/// The alerts the receiver got whose text contains `needle`.
fn alerts_with(inbox: &Inbox, needle: &str) -> usize {
    inbox
        .lock()
        .unwrap()
        .iter()
        .filter(|m| m.to_string().contains(needle))
        .count()
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

/// A configuration with a Slack channel `#budgets`, the pricing table,
/// and the policy file `policy.yaml` holding `policy` (tokens `tok-bot`,
/// `tok-other` for agents `bot`, `other`; `tok-ops` administers).
fn config(policy: &str) -> ConfigDir {
    let cfg = ConfigDir::new(
        "policy: policy.yaml\n\
         notify:\n  slack:\n    channels:\n      \"#budgets\": {webhook_url_env: PAL_TEST_SLACK_URL}\n\
         pricing:\n  models:\n    m-cheap: {input: $1, output: $2}\n    m-dear: {input: $50, output: $100}\n",
    );
    std::fs::write(cfg.dir.path().join("policy.yaml"), policy_text(policy)).unwrap();
    cfg
}

fn policy_text(extra: &str) -> String {
    format!(
        "project: invoices\n\
         admins:\n  ops: [\"{ops}\"]\n\
         agents:\n\
         \x20 bot:\n    tokens: [\"{bot}\"]\n    allow:\n      - service: git\n        actions: [pull]\n        resources: [\"acme/*\"]\n\
         \x20 other:\n    tokens: [\"{other}\"]\n    allow:\n      - service: git\n        actions: [pull]\n        resources: [\"acme/*\"]\n\
         {extra}",
        ops = token_hash("tok-ops"),
        bot = token_hash("tok-bot"),
        other = token_hash("tok-other"),
    )
}

async fn call(
    s: &support::Server,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .request(method, s.url(path))
        .bearer_auth(token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.unwrap();
    (
        resp.status().as_u16(),
        resp.json().await.unwrap_or(Value::Null),
    )
}

async fn post(s: &support::Server, path: &str, token: &str, body: Value) -> (u16, Value) {
    call(s, reqwest::Method::POST, path, token, Some(body)).await
}

async fn get(s: &support::Server, path: &str, token: &str) -> (u16, Value) {
    call(s, reqwest::Method::GET, path, token, None).await
}

/// A decision of `token`'s agent in `session`, pulling a repo, with an
/// estimate.
async fn decide(s: &support::Server, token: &str, session: &str, estimate: i64) -> Value {
    let (status, d) = post(
        s,
        "/v1/decide",
        token,
        json!({"session": session, "service": "git", "action": "pull",
               "resource": "acme/api", "estimated_tokens": estimate}),
    )
    .await;
    assert_eq!(status, 200, "{d}");
    d
}

/// A usage report.
async fn usage(
    s: &support::Server,
    token: &str,
    id: &str,
    session: &str,
    output: i64,
    decision: Option<&str>,
) -> (u16, Value) {
    let mut body = json!({"usage_id": id, "session": session, "model": "m-cheap",
                          "output_tokens": output});
    if let Some(d) = decision {
        body["decision_id"] = json!(d);
    }
    post(s, "/v1/usage", token, body).await
}

/// The meter named `name` of `scope` in a `GET /v1/budgets` answer.
fn meter<'a>(budgets: &'a Value, scope: &str, name: &str) -> &'a Value {
    budgets["budgets"][0]["meters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["scope"] == scope && m["name"] == name)
        .unwrap_or_else(|| panic!("no {scope} meter {name} in {budgets}"))
}

/// Seed 000 chapter 6, third test, as written: "run a session
/// approaching the token limit → alert should fire". The receiver gets the
/// 80% alert once; the session is then denied at the limit with a
/// machine-readable reason (seed 002: budget exhaustion is explicit).
#[tokio::test]
async fn seed_000_chapter_6_a_session_approaching_its_token_limit_alerts_once_then_is_denied() {
    let (hook, slack) = receiver().await;
    let cfg = config(
        "budget:\n  max_tokens_per_session: 1000\n  alert_at: 80%\n  alert_channel: slack:#budgets\n",
    );
    let s = cfg.start_with_env(&[("PAL_TEST_SLACK_URL", hook)]).await;
    // Three calls of 300 tokens: 900, over 80%.
    let mut last = String::new();
    for i in 0..3 {
        let d = decide(&s, "tok-bot", "s-1", 300).await;
        assert_eq!(d["decision"], "allow", "{d}");
        assert_eq!(d["reserved"], true, "{d}");
        last = d["decision_id"].as_str().unwrap().to_owned();
        let (status, u) = usage(&s, "tok-bot", &format!("u-{i}"), "s-1", 300, Some(&last)).await;
        assert_eq!(status, 200, "{u}");
        assert_eq!(
            (u["counted"].clone(), u["settled"].clone()),
            (json!(true), json!(true))
        );
    }
    arrived(&slack, 1).await;
    assert_eq!(alerts_with(&slack, "80%"), 1, "{:?}", slack.lock().unwrap());
    // A retried report counts once; its id with other numbers is refused.
    let (status, again) = usage(&s, "tok-bot", "u-2", "s-1", 300, Some(&last)).await;
    assert_eq!(
        (status, again["counted"].clone()),
        (200, json!(false)),
        "{again}"
    );
    let (status, reused) = usage(&s, "tok-bot", "u-2", "s-1", 5, None).await;
    assert_eq!(status, 409, "{reused}");
    assert_eq!(reused["error"]["code"], "usage_id_reused");
    // 300 more does not fit: denied, saying what is left.
    let d = decide(&s, "tok-bot", "s-1", 300).await;
    assert_eq!(d["decision"], "deny", "{d}");
    assert_eq!(d["code"], "budget_exceeded");
    assert_eq!(d["budget"]["name"], "max_tokens_per_session");
    assert_eq!(d["budget"]["spent"], "900");
    assert_eq!(d["budget"]["remaining"], "100");
    // The last 100 fit exactly; then the session is at its limit.
    let d = decide(&s, "tok-bot", "s-1", 100).await;
    assert_eq!(d["decision"], "allow", "{d}");
    let id = d["decision_id"].as_str().unwrap().to_owned();
    usage(&s, "tok-bot", "u-9", "s-1", 100, Some(&id)).await;
    let d = decide(&s, "tok-bot", "s-1", 0).await;
    assert_eq!(
        (d["decision"].clone(), d["code"].clone()),
        (json!("deny"), json!("budget_exceeded")),
        "{d}"
    );
    arrived(&slack, 2).await;
    assert_eq!(alerts_with(&slack, "80%"), 1);
    assert_eq!(
        alerts_with(&slack, "has reached its"),
        1,
        "{:?}",
        slack.lock().unwrap()
    );
    // The agent sees its budget; a new session starts afresh.
    let (status, b) = get(&s, "/v1/budgets?session=s-1", "tok-bot").await;
    assert_eq!(status, 200, "{b}");
    let m = meter(&b, "session", "max_tokens_per_session");
    assert_eq!(
        (m["spent"].clone(), m["remaining"].clone()),
        (json!("1000"), json!("0")),
        "{m}"
    );
    assert_eq!(m["thresholds_crossed"], json!([80, 100]));
    assert_eq!(decide(&s, "tok-bot", "s-2", 300).await["decision"], "allow");
    // Alerts are listed and recorded.
    let (_, listed) = get(&s, "/v1/alerts?kind=budget", "tok-ops").await;
    assert_eq!(listed["alerts"].as_array().unwrap().len(), 2, "{listed}");
}

/// The concurrency test: 64 clients spend against one project
/// budget at once; spend never passes the limit (every reservation is
/// settled at the end), and each threshold alerts exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_clients_never_overspend_a_project_budget_and_each_threshold_alerts_once() {
    let (hook, slack) = receiver().await;
    let cfg = config(
        "project_budget:\n  max_tokens_per_month: 5000\n  alert_thresholds: [50%, 75%, 90%]\n  on_exceed: deny\n  alert_channel: slack:#budgets\n",
    );
    let s = Arc::new(cfg.start_with_env(&[("PAL_TEST_SLACK_URL", hook)]).await);
    let mut clients = Vec::new();
    for c in 0..64 {
        let s = s.clone();
        clients.push(tokio::spawn(async move {
            let session = format!("s-{c}");
            let mut allowed = 0;
            for i in 0..20 {
                let d = decide(&s, "tok-bot", &session, 100).await;
                if d["decision"] != "allow" {
                    assert_eq!(d["code"], "budget_exceeded", "{d}");
                    continue;
                }
                allowed += 1;
                let id = d["decision_id"].as_str().unwrap();
                let (status, u) = usage(
                    &s,
                    "tok-bot",
                    &format!("{session}-{i}"),
                    &session,
                    100,
                    Some(id),
                )
                .await;
                assert_eq!(status, 200, "{u}");
            }
            allowed
        }));
    }
    let mut allowed = 0;
    for c in clients {
        allowed += c.await.unwrap();
    }
    assert_eq!(allowed, 50, "5000 tokens at 100 a call");
    let (_, b) = get(&s, "/v1/budgets", "tok-ops").await;
    let m = meter(&b, "project", "max_tokens_per_month");
    assert_eq!(
        (m["spent"].clone(), m["reserved"].clone()),
        (json!("5000"), json!("0")),
        "{m}"
    );
    arrived(&slack, 4).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let got = slack.lock().unwrap().clone();
    assert_eq!(got.len(), 4, "{got:?}");
    for p in ["50%", "75%", "90%", "has reached its"] {
        assert_eq!(alerts_with(&slack, p), 1, "{p}: {got:?}");
    }
}

/// `on_exceed: pause_and_alert` (seed 000's project budget): the project
/// is paused when its money runs out; a resume alone still meets the
/// budget; a raised limit lets the agents work again.
#[tokio::test]
async fn a_project_out_of_money_is_paused_and_works_again_once_resumed_with_a_raised_limit() {
    let (hook, slack) = receiver().await;
    let block = |limit: &str| {
        format!(
            "project_budget:\n  monthly_limit: {limit}\n  alert_thresholds: [50%]\n  on_exceed: pause_and_alert\n  alert_channel: slack:#budgets\n"
        )
    };
    let cfg = config(&block("$0.01"));
    let s = cfg.start_with_env(&[("PAL_TEST_SLACK_URL", hook)]).await;
    // Without a model, an estimate is reserved at the table's highest
    // price (m-dear's $100 per million): 1,000 tokens do not fit $0.01.
    let d = decide(&s, "tok-bot", "s-1", 1000).await;
    assert_eq!(d["code"], "budget_exceeded", "{d}");
    assert_eq!(d["budget"]["remaining"], "$0.01", "{d}");
    // m-cheap output is $2 per million: 5,000 tokens are exactly $0.01.
    let d = decide(&s, "tok-bot", "s-1", 0).await;
    assert_eq!(d["decision"], "allow", "{d}");
    let (status, u) = usage(&s, "tok-bot", "u-1", "s-1", 5000, d["decision_id"].as_str()).await;
    assert_eq!(status, 200, "{u}");
    assert_eq!(u["cost"], "$0.01");
    arrived(&slack, 3).await;
    // 50%, 100%, and the pause's own notice is an audit record, not a message.
    assert_eq!(alerts_with(&slack, "50%"), 1, "{:?}", slack.lock().unwrap());
    assert_eq!(
        alerts_with(&slack, "project paused"),
        1,
        "{:?}",
        slack.lock().unwrap()
    );
    let mut paused = Value::Null;
    for _ in 0..50 {
        paused = decide(&s, "tok-other", "s-9", 0).await;
        if paused["code"] == "project_paused" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(paused["code"], "project_paused", "{paused}");
    assert!(
        paused["reason"]
            .as_str()
            .unwrap()
            .contains("budget_exceeded"),
        "{paused}"
    );
    // Resumed, but still over: denied by the budget, not paused again.
    let (status, r) = post(&s, "/v1/projects/invoices/resume", "tok-ops", json!({})).await;
    assert_eq!(status, 200, "{r}");
    let d = decide(&s, "tok-bot", "s-1", 0).await;
    assert_eq!(d["code"], "budget_exceeded", "{d}");
    // The limit raised: work again.
    std::fs::write(
        cfg.dir.path().join("policy.yaml"),
        policy_text(&block("$5")),
    )
    .unwrap();
    let (status, r) = post(&s, "/v1/admin/reload", "tok-ops", json!({})).await;
    assert_eq!(status, 200, "{r}");
    let d = decide(&s, "tok-bot", "s-1", 0).await;
    assert_eq!(d["decision"], "allow", "{d}");
    let (_, held) = get(&s, "/v1/holds", "tok-ops").await;
    assert_eq!(held["holds"].as_array().map(Vec::len), Some(0), "{held}");
}

/// Rate limits (seed 000 chapter 5): over the rate, `throttled` with
/// `retry_after`; the episode alerts once however long it lasts; throttled
/// decisions are in the trail.
#[tokio::test]
async fn a_rate_limit_throttles_with_retry_after_and_alerts_once_per_episode() {
    let (hook, slack) = receiver().await;
    let cfg = config(
        "rate_limits:\n  max_requests_per_minute: 30\n  burst: 2\n  on_exceed: throttle_and_alert\n  alert_channel: slack:#budgets\n",
    );
    let s = cfg.start_with_env(&[("PAL_TEST_SLACK_URL", hook)]).await;
    for _ in 0..2 {
        assert_eq!(decide(&s, "tok-bot", "s-1", 0).await["decision"], "allow");
    }
    for _ in 0..5 {
        let d = decide(&s, "tok-bot", "s-1", 0).await;
        assert_eq!(d["decision"], "throttled", "{d}");
        assert_eq!(d["code"], "rate_limited");
        let retry = d["retry_after"].as_u64().unwrap();
        assert!((1..=2).contains(&retry), "{d}");
        assert_eq!(d["rate_limit"]["max_requests_per_minute"], 30);
    }
    // Another agent has its own limit.
    assert_eq!(decide(&s, "tok-other", "s-1", 0).await["decision"], "allow");
    arrived(&slack, 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        slack.lock().unwrap().len(),
        1,
        "{:?}",
        slack.lock().unwrap()
    );
    assert_eq!(alerts_with(&slack, "rate limit of 30"), 1);
    let (_, trail) = get(&s, "/v1/audit?decision=throttled&limit=100", "tok-ops").await;
    assert_eq!(
        trail["records"].as_array().map(Vec::len),
        Some(5),
        "{trail}"
    );
}

/// `max_sessions_per_day`: the agent's third session of the day is over
/// from its start; its first two go on.
#[tokio::test]
async fn sessions_past_the_days_limit_are_denied_from_their_start() {
    let cfg = config("budget:\n  max_sessions_per_day: 2\n");
    let s = cfg.start().await;
    for session in ["a", "b", "a"] {
        assert_eq!(decide(&s, "tok-bot", session, 0).await["decision"], "allow");
    }
    let d = decide(&s, "tok-bot", "c", 0).await;
    assert_eq!(
        (d["decision"].clone(), d["code"].clone()),
        (json!("deny"), json!("budget_exceeded")),
        "{d}"
    );
    assert!(
        d["reason"]
            .as_str()
            .unwrap()
            .contains("max_sessions_per_day"),
        "{d}"
    );
    // Another agent's sessions are its own.
    assert_eq!(decide(&s, "tok-other", "c", 0).await["decision"], "allow");
    let (_, b) = get(&s, "/v1/budgets?agent=bot", "tok-ops").await;
    let m = meter(&b, "agent", "max_sessions_per_day");
    assert_eq!(
        (m["spent"].clone(), m["remaining"].clone()),
        (json!("2"), json!("0")),
        "{m}"
    );
}

/// Every bad report or estimate gets a 4xx naming its field, and nothing
/// is counted.
#[tokio::test]
async fn bad_usage_and_estimates_are_refused_by_field_and_count_nothing() {
    let cfg = config("project_budget:\n  max_tokens_per_month: 1000\n  on_exceed: deny\n");
    let s = cfg.start().await;
    let d = decide(&s, "tok-bot", "s-1", 0).await;
    assert_eq!(d["decision"], "allow", "{d}");
    let base =
        json!({"usage_id": "u-1", "session": "s-1", "model": "m-cheap", "output_tokens": 10});
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    let bad = [
        (with("output_tokens", json!(-5)), 400, "output_tokens"),
        (
            with("input_tokens", json!(10_000_000_000_000_i64)),
            400,
            "input_tokens",
        ),
        (with("output_tokens", json!(0)), 400, "input_tokens"),
        (with("output_tokens", json!("ten")), 400, "output_tokens"),
        (with("usage_id", json!("")), 400, "usage_id"),
        (with("cost", json!("$5OO")), 400, "cost"),
        (with("session", json!("never-seen")), 404, "session"),
        (with("colour", json!("red")), 400, "colour"),
    ];
    for (body, status, field) in bad {
        let (got, e) = post(&s, "/v1/usage", "tok-bot", body.clone()).await;
        assert_eq!(got, status, "{body} → {e}");
        assert!(
            e["error"]["message"]
                .as_str()
                .unwrap()
                .contains(&format!("`{field}`")),
            "{body} → {e}"
        );
    }
    // Another agent's session is not its own.
    let (got, e) = post(&s, "/v1/usage", "tok-other", base.clone()).await;
    assert_eq!(
        (got, e["error"]["code"].clone()),
        (404, json!("unknown_session")),
        "{e}"
    );
    // Another agent's decision cannot be settled by it.
    let d = decide(&s, "tok-bot", "s-1", 50).await;
    decide(&s, "tok-other", "s-1", 0).await;
    let (got, e) = post(
        &s,
        "/v1/usage",
        "tok-other",
        with("decision_id", d["decision_id"].clone()),
    )
    .await;
    assert_eq!(
        (got, e["error"]["code"].clone()),
        (404, json!("unknown_decision")),
        "{e}"
    );
    // Estimates out of range are refused before anything is decided.
    for est in [json!(-1), json!(10_000_000_000_000_000_i64)] {
        let (got, e) = post(
            &s,
            "/v1/decide",
            "tok-bot",
            json!({"session": "s-1", "service": "git", "action": "pull", "resource": "acme/api",
                   "estimated_tokens": est}),
        )
        .await;
        assert_eq!(got, 400, "{e}");
        assert!(
            e["error"]["message"]
                .as_str()
                .unwrap()
                .contains("`estimated_tokens`"),
            "{e}"
        );
    }
    let (_, b) = get(&s, "/v1/budgets", "tok-ops").await;
    let m = meter(&b, "project", "max_tokens_per_month");
    assert_eq!(
        (m["spent"].clone(), m["reserved"].clone()),
        (json!("0"), json!("50")),
        "{m}"
    );
    // An agent asks for another's budgets: refused.
    let (got, _) = get(&s, "/v1/budgets?agent=other", "tok-bot").await;
    assert_eq!(got, 403);
    // A bad estimate's type is refused naming its field.
    let (got, e) = post(
        &s,
        "/v1/decide",
        "tok-bot",
        json!({"session": "s-1", "service": "git", "action": "pull", "resource": "acme/api",
               "estimated_tokens": 1.5}),
    )
    .await;
    assert_eq!(got, 400, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`estimated_tokens`"),
        "{e}"
    );
    // A model the table does not know is not refused (its tokens would go
    // uncounted): it is priced at the table's highest price.
    let (got, u) = post(
        &s,
        "/v1/usage",
        "tok-bot",
        with("model", json!("m-unknown")),
    )
    .await;
    assert_eq!(got, 200, "{u}");
    assert_eq!(
        (u["priced"].clone(), u["cost"].clone()),
        (json!("highest"), json!("$0.001")),
        "{u}"
    );
    let (_, b) = get(&s, "/v1/budgets", "tok-ops").await;
    assert_eq!(meter(&b, "project", "max_tokens_per_month")["spent"], "10");
}

/// A money budget on a server with no pricing table cannot be enforced by
/// counting calls as free: its decisions are denied (`budget_unpriced`),
/// and usage still counts its tokens.
#[tokio::test]
async fn a_money_budget_without_a_pricing_table_denies_rather_than_count_calls_free() {
    let cfg = ConfigDir::new("policy: policy.yaml\n");
    std::fs::write(
        cfg.dir.path().join("policy.yaml"),
        policy_text(
            "budget:\n  max_tokens_per_session: 1000\nproject_budget:\n  daily_limit: $5\n  on_exceed: deny\n",
        ),
    )
    .unwrap();
    let s = cfg.start().await;
    let d = decide(&s, "tok-bot", "s-1", 10).await;
    assert_eq!(
        (d["decision"].clone(), d["code"].clone()),
        (json!("deny"), json!("budget_unpriced")),
        "{d}"
    );
    assert!(d["reason"].as_str().unwrap().contains("daily_limit"), "{d}");
    let (status, u) = usage(&s, "tok-bot", "u-1", "s-1", 40, None).await;
    assert_eq!(status, 200, "{u}");
    assert_eq!(
        (u["priced"].clone(), u["cost"].clone()),
        (json!("unpriced"), json!("$0.00")),
        "{u}"
    );
    let (_, b) = get(&s, "/v1/budgets?session=s-1", "tok-bot").await;
    assert_eq!(
        meter(&b, "session", "max_tokens_per_session")["spent"],
        "40"
    );
}

/// Seed 002's audit trail "with its result": an allowed call's result is
/// recorded beside its decision (its summary masked), once, by the
/// decision's own agent only; replay by decision id shows both.
#[tokio::test]
async fn a_calls_result_is_recorded_masked_beside_its_decision_once() {
    let cfg = config("");
    let s = cfg.start().await;
    let d = decide(&s, "tok-bot", "s-1", 0).await;
    let id = d["decision_id"].as_str().unwrap().to_owned();
    let path = format!("/v1/decisions/{id}/result");
    let result = json!({"session": "s-1", "outcome": "ok", "status": 200, "duration_ms": 35,
                        "size_bytes": 812, "summary": "paid with card 4111 1111 1111 1111"});
    // Bad input, another agent, another session: refused, nothing recorded.
    let mut wrong_outcome = result.clone();
    wrong_outcome["outcome"] = json!("maybe");
    let mut long = result.clone();
    long["summary"] = json!("x".repeat(2000));
    let mut other_session = result.clone();
    other_session["session"] = json!("s-2");
    for (token, body, status, needle) in [
        ("tok-bot", wrong_outcome, 400, "outcome"),
        ("tok-bot", long, 400, "summary"),
        ("tok-other", result.clone(), 404, "no decision"),
        ("tok-bot", other_session, 404, "no decision"),
    ] {
        let (got, e) = post(&s, &path, token, body).await;
        assert_eq!(got, status, "{e}");
        assert!(
            e["error"]["message"].as_str().unwrap().contains(needle),
            "{e}"
        );
    }
    let (status, r) = post(&s, &path, "tok-bot", result.clone()).await;
    assert_eq!(status, 200, "{r}");
    let summary = r["summary"].as_str().unwrap();
    assert!(
        !summary.contains("4111 1111 1111 1111") && summary.contains("paid with card"),
        "{r}"
    );
    let (status, again) = post(&s, &path, "tok-bot", result).await;
    assert_eq!(
        (status, again["error"]["code"].clone()),
        (409, json!("result_exists")),
        "{again}"
    );
    // Replay: what it asked, what it was told, what came of it.
    let (_, trail) = get(
        &s,
        &format!("/v1/audit?decision_id={id}&session=s-1"),
        "tok-ops",
    )
    .await;
    let records = trail["records"].as_array().unwrap();
    assert_eq!(records.len(), 2, "{trail}");
    assert_eq!(records[0]["decision"], "allow");
    assert_eq!(records[1]["event"], "tool_result");
    assert_eq!(records[1]["details"]["outcome"], "ok");
    assert_eq!(records[1]["details"]["status"], 200);
    assert!(
        !trail.to_string().contains("4111 1111 1111 1111"),
        "{trail}"
    );
}

/// A session whose first request is refused (throttled here) is made
/// uncounted, and counted against the day when it first gets through: a
/// throttled request is no way around `max_sessions_per_day`.
#[tokio::test]
async fn a_throttled_first_request_does_not_slip_a_session_past_the_days_limit() {
    let cfg = config(
        "budget:\n  max_sessions_per_day: 1\nrate_limits:\n  max_requests_per_minute: 60\n  burst: 1\n  on_exceed: throttle\n",
    );
    let s = cfg.start().await;
    assert_eq!(decide(&s, "tok-bot", "s-1", 0).await["decision"], "allow");
    let d = decide(&s, "tok-bot", "s-2", 0).await;
    assert_eq!(d["decision"], "throttled", "{d}");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let d = decide(&s, "tok-bot", "s-2", 0).await;
    assert_eq!(
        (d["decision"].clone(), d["code"].clone()),
        (json!("deny"), json!("budget_exceeded")),
        "{d}"
    );
}
