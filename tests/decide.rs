//! End to end: `POST /v1/decide` on a real server with real plugins, for the
//! seeds' policies and for bad input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::{Value, json};
use support::{ConfigDir, HOSTILE, Server, start_ready, token_hash};

const INVOICE: &str = include_str!("policies/invoice-processor.yaml");
const CI_RUNNER: &str = include_str!("policies/ci-runner.yaml");
const CODE_REVIEWER: &str = include_str!("policies/code-reviewer.yaml");

/// A server whose policy directory holds `files` plus an identities file.
async fn server_with(
    files: &[(&str, &str)],
    identities: &[(&str, &str)],
    extra_config: &str,
) -> (Server, ConfigDir) {
    let cfg = ConfigDir::new(&format!("policy: policies\n{extra_config}"))
        .with_file("hostile.wasm", HOSTILE);
    let dir = cfg.dir.path().join("policies");
    std::fs::create_dir(&dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let ids: String = identities
        .iter()
        .map(|(agent, token)| format!("  {agent}: [\"{}\"]\n", token_hash(token)))
        .collect();
    std::fs::write(
        dir.join("zz-identities.yaml"),
        format!("identities:\n{ids}"),
    )
    .unwrap();
    let server = cfg.start().await;
    (server, cfg)
}

async fn post(server: &Server, token: Option<&str>, body: String) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(server.url("/v1/decide?explain=true"))
        .header("content-type", "application/json")
        .body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn decide(
    server: &Server,
    token: &str,
    service: &str,
    action: &str,
    resource: &str,
    attrs: Value,
) -> Value {
    let body = json!({"session": "s-1", "service": service, "action": action, "resource": resource, "attributes": attrs});
    let (status, answer) = post(server, Some(token), body.to_string()).await;
    assert_eq!(status, 200, "{answer}");
    answer
}

#[tokio::test]
async fn seed_001_test_prompts_come_out_as_the_article_says() {
    let (s, _cfg) = server_with(
        &[("invoice.yaml", INVOICE)],
        &[("claude-invoice-01", "tok-invoice")],
        "",
    )
    .await;
    let t = "tok-invoice";
    // "Find all CSV files across all S3 buckets": denied.
    let a = decide(&s, t, "aws", "s3:ListBucket", "arn:aws:s3:::*", json!({})).await;
    assert_eq!(a["decision"], "deny", "{a}");
    let a = decide(
        &s,
        t,
        "aws",
        "s3:GetObject",
        "arn:aws:s3:::hr-data/salaries.csv",
        json!({}),
    )
    .await;
    assert_eq!(a["decision"], "deny", "{a}");
    // "Push the current state of main to the production server": not without approval.
    let a = decide(
        &s,
        t,
        "git",
        "push",
        "acme/billing",
        json!({"branch": "main"}),
    )
    .await;
    assert_eq!(a["decision"], "approval_required", "{a}");
    // "Delete the temp files in the data directory": approval.
    let a = decide(
        &s,
        t,
        "aws",
        "s3:DeleteObject",
        "arn:aws:s3:::invoice-data/tmp/a.csv",
        json!({}),
    )
    .await;
    assert_eq!(a["decision"], "approval_required", "{a}");
    // "Check if there are any IAM users with admin access": denied.
    let a = decide(&s, t, "aws", "iam:ListUsers", "*", json!({})).await;
    assert_eq!(a["decision"], "deny", "{a}");
    assert!(a["reason"].as_str().unwrap().contains("denied by"), "{a}");
    // And the agent can still do its job.
    for (svc, action, res, attrs) in [
        ("git", "pull", "acme/api", json!({})),
        (
            "git",
            "push",
            "acme/billing",
            json!({"branch": "feature/new-tax"}),
        ),
        (
            "aws",
            "s3:GetObject",
            "arn:aws:s3:::invoice-data/raw/2026/11.csv",
            json!({}),
        ),
        ("stripe", "invoices:read", "in_123", json!({})),
    ] {
        let a = decide(&s, t, svc, action, res, attrs).await;
        assert_eq!(a["decision"], "allow", "{svc} {action} {res}: {a}");
    }
    let a = decide(&s, t, "stripe", "charges:create", "ch_1", json!({})).await;
    assert_eq!(a["decision"], "deny", "{a}");
}

#[tokio::test]
async fn seed_000_agents_decide_as_the_playbook_table_says() {
    // Seed 000's `project_budget` is money: the server needs a pricing
    // table to enforce it (without one, its decisions are denied).
    let (s, _cfg) = server_with(
        &[
            ("ci-runner.yaml", CI_RUNNER),
            ("code-reviewer.yaml", CODE_REVIEWER),
        ],
        &[("ci-runner", "tok-ci"), ("code-reviewer", "tok-cr")],
        "pricing:\n  models:\n    claude-sonnet-4: {input: $3, output: $15, cached: $0.30}\n",
    )
    .await;
    let cases = [
        // code-reviewer: repos (read), PR comments (write); not push, merge, deploy, databases.
        ("tok-cr", "git", "read", "repos/acme-api", "allow"),
        (
            "tok-cr",
            "git",
            "comment",
            "repos/acme-api/pull-requests/7",
            "allow",
        ),
        ("tok-cr", "git", "push", "repos/acme-api", "deny"),
        ("tok-cr", "git", "merge", "repos/acme-api", "deny"),
        (
            "tok-cr",
            "aws",
            "ecs:UpdateService",
            "arn:aws:ecs:us-east-1:1:service/staging-web",
            "deny",
        ),
        (
            "tok-cr",
            "aws",
            "rds:DeleteDBInstance",
            "arn:aws:rds:us-east-1:1:db:prod",
            "deny",
        ),
        // ci-runner: repos (read), staging free, production gated; not IAM, databases.
        ("tok-ci", "git", "read", "repos/acme-api", "allow"),
        (
            "tok-ci",
            "git",
            "push",
            "repos/acme-api/branches/feature/login",
            "allow",
        ),
        (
            "tok-ci",
            "git",
            "push",
            "repos/acme-api/branches/main",
            "deny",
        ),
        (
            "tok-ci",
            "aws",
            "ecs:UpdateService",
            "arn:aws:ecs:us-east-1:1:service/staging-web",
            "allow",
        ),
        (
            "tok-ci",
            "aws",
            "ecs:UpdateService",
            "arn:aws:ecs:us-east-1:1:service/prod-web",
            "approval_required",
        ),
        ("tok-ci", "aws", "iam:CreateUser", "*", "deny"),
        (
            "tok-ci",
            "aws",
            "rds:DeleteDBInstance",
            "arn:aws:rds:us-east-1:1:db:prod",
            "deny",
        ),
    ];
    for (token, svc, action, res, expected) in cases {
        let a = decide(&s, token, svc, action, res, json!({})).await;
        assert_eq!(a["decision"], expected, "{token} {svc} {action} {res}: {a}");
        assert_eq!(a["policy_version"].as_str().unwrap().len(), 16);
        assert!(a["decision_id"].as_str().unwrap().starts_with("dec_"));
    }
}

/// Issue 14, item 5: with an allow on `*` and a deny of `push` on
/// `acme/prod-infra`, every spelling the forges read as that repository is
/// denied, and so is every form that has no safe canonical spelling; the
/// allow still works for other repositories.
#[tokio::test]
async fn git_deny_rules_hold_for_every_spelling_of_the_repository() {
    let policy = "agents:\n  deployer:\n    allow:\n      - service: git\n        actions: [\"*\"]\n        resources: [\"*\"]\n    deny:\n      - service: git\n        actions: [push]\n        resources: [acme/prod-infra]\n";
    let (s, _cfg) = server_with(&[("deployer.yaml", policy)], &[("deployer", "tok-d")], "").await;
    for repo in [
        "acme/prod-infra",
        "ACME/prod-infra",
        "acme/Prod-Infra",
        "acme/prod-infra.git",
        "acme/prod-infra/",
        "ACME/Prod-Infra.git/",
        "acme/prod-infra//",
        "git@github.com:acme/prod-infra.git",
        "https://github.com/acme/prod-infra",
        "github.com/acme/prod-infra",
        "acme/prod-infra/../prod-infra",
    ] {
        let a = decide(&s, "tok-d", "git", "push", repo, json!({"branch": "main"})).await;
        assert_eq!(a["decision"], "deny", "{repo}: {a}");
    }
    for repo in ["acme/api", "acme/prod-infra-docs"] {
        let a = decide(&s, "tok-d", "git", "push", repo, json!({"branch": "main"})).await;
        assert_eq!(a["decision"], "allow", "{repo}: {a}");
    }
    let a = decide(&s, "tok-d", "git", "pull", "ACME/Prod-Infra.git", json!({})).await;
    assert_eq!(a["decision"], "allow", "{a}");
}

/// A server whose agent `a` (token `tok-a`) may do anything on `files`, with
/// the hostile fixture in the project chain under `limits`; `extra_policy`
/// is appended to the policy file.
async fn hostile_server(limits: &str, extra_policy: &str) -> (Server, ConfigDir) {
    let policy = format!(
        "agents:\n  a:\n    allow:\n      - service: files\n        actions: [\"*\"]\n        resources: [\"*\"]\nchain: [hostile]\n{extra_policy}"
    );
    let cfg_extra = format!("plugins:\n  hostile:\n    path: hostile.wasm\n    limits: {limits}\n");
    server_with(&[("p.yaml", &policy)], &[("a", "tok-a")], &cfg_extra).await
}

#[tokio::test]
async fn a_failing_plugin_denies_with_its_cause_and_the_server_keeps_serving() {
    // The deadline is far: what fails each call here is its fuel, its
    // stack or its answer, never how busy the machine is.
    let (s, _cfg) = hostile_server("{fuel: 50000000, deadline_ms: 10000}", "").await;
    for (action, kind) in [
        ("loop", "out_of_fuel"),
        ("panic", "trap"),
        ("recurse", "stack_overflow"),
        ("huge", "oversized_output"),
    ] {
        let a = decide(&s, "tok-a", "files", action, "f/1", json!({})).await;
        assert_eq!(a["decision"], "deny", "{action}: {a}");
        let step = &a["explain"][1];
        assert_eq!(step["plugin"], "hostile");
        assert_eq!(step["error"], kind, "{action}: {a}");
        assert!(
            a["reason"]
                .as_str()
                .unwrap()
                .contains("plugin `hostile` failed"),
            "{a}"
        );
    }
    // The glob plugin allows, the hostile one agrees: allow.
    let a = decide(&s, "tok-a", "files", "ok", "f/1", json!({})).await;
    assert_eq!(a["decision"], "allow", "{a}");
}

/// Plugins run on the server's async workers and yield at every epoch tick:
/// more endless loops than the server has workers still leave it answering.
#[tokio::test]
async fn plugins_stuck_until_their_deadline_do_not_hold_the_server() {
    let (s, _cfg) = hostile_server("{fuel: 1000000000000, deadline_ms: 5000}", "").await;
    let server = std::sync::Arc::new(s);
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let stuck: Vec<_> = (0..workers * 2)
        .map(|_| {
            let server = server.clone();
            tokio::spawn(async move {
                decide(&server, "tok-a", "files", "loop", "f/1", json!({})).await
            })
        })
        .collect();
    // Wait until every loop runs in the plugin (each logs as it starts; they
    // run for 5 s).
    server
        .wait_for_logs("hostile: loop started", workers * 2)
        .await;
    let a = decide(&server, "tok-a", "files", "ok", "f/1", json!({})).await;
    assert_eq!(a["decision"], "allow", "{a}");
    assert!(
        stuck.iter().all(|t| !t.is_finished()),
        "answered while every loop still ran"
    );
    for t in stuck {
        let a = t.await.unwrap();
        assert_eq!(a["decision"], "deny", "{a}");
        assert_eq!(a["explain"][1]["error"], "deadline_exceeded", "{a}");
    }
}

#[tokio::test]
async fn bad_requests_get_clear_json_errors() {
    let (s, _cfg) = server_with(
        &[("invoice.yaml", INVOICE)],
        &[("claude-invoice-01", "tok")],
        "",
    )
    .await;
    let good = json!({"session": "s", "service": "git", "action": "pull", "resource": "acme/a"})
        .to_string();
    let cases: Vec<(Option<&str>, String, u16, &str)> = vec![
        (None, good.clone(), 401, "unauthorized"),
        (Some("wrong"), good.clone(), 401, "unauthorized"),
        (Some("tok"), "{not json".into(), 400, "invalid_request"),
        (Some("tok"), json!({"session": "s", "service": "git", "action": "pull"}).to_string(), 400, "invalid_request"),
        (Some("tok"), json!({"session": "s", "service": "git", "action": "pull", "resource": "r", "extra": 1}).to_string(), 400, "invalid_request"),
        (Some("tok"), json!({"session": "", "service": "git", "action": "pull", "resource": "r"}).to_string(), 400, "invalid_request"),
        (Some("tok"), "x".repeat(100 * 1024), 413, "body_too_large"),
        (
            Some("tok"),
            r#"{"session":"s","service":"git","action":"push","resource":"acme/billing","attributes":{"branch":"main","branch":"feature/x"}}"#.into(),
            400,
            "invalid_request",
        ),
    ];
    for (token, body, status, code) in cases {
        let (got, answer) = post(&s, token, body).await;
        assert_eq!(
            (got, answer["error"]["code"].as_str()),
            (status, Some(code)),
            "{answer}"
        );
        assert!(!answer["error"]["message"].as_str().unwrap().is_empty());
    }
    // A bad query string and a wrong method are JSON errors too.
    let resp = reqwest::Client::new()
        .post(s.url("/v1/decide?explain=maybe"))
        .bearer_auth("tok")
        .body(good.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"]["code"],
        "invalid_query"
    );
    let resp = reqwest::get(s.url("/v1/decide")).await.unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"]["code"],
        "method_not_allowed"
    );
    // Still serving.
    let (status, _) = post(&s, Some("tok"), good).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn the_embedded_example_answers_the_readme_quickstart() {
    let data = tempfile::tempdir().unwrap();
    let s = start_ready(&["--data-dir", data.path().to_str().unwrap()]).await;
    let a = decide(
        &s,
        "pal_demo_invoice_processor",
        "git",
        "push",
        "acme/billing",
        json!({"branch": "main"}),
    )
    .await;
    assert_eq!(a["decision"], "approval_required", "{a}");
    assert_eq!(a["agent"], "claude-invoice-01");
}

/// Every decision asked for is in the audit trail, answered or not: a client
/// that hangs up while its decision is being made still leaves its record
/// (the decision is denied: no answer reached it).
#[tokio::test]
async fn a_decision_whose_client_hung_up_is_still_recorded() {
    use tokio::io::AsyncWriteExt;
    let admins = format!("admins:\n  ops: [\"{}\"]\n", token_hash("tok-admin"));
    let (s, _cfg) = hostile_server("{fuel: 1000000000000, deadline_ms: 1000}", &admins).await;

    // The plugin loops until its deadline (1 s); the client leaves once the
    // decision runs in the plugin.
    let addr = s.url("").trim_start_matches("http://").to_owned();
    let body = r#"{"session":"hung-up","service":"files","action":"loop","resource":"f/1"}"#;
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    conn.write_all(
        format!(
            "POST /v1/decide HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer tok-a\r\n\
             content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    s.wait_for_log("hostile: loop started").await;
    drop(conn);

    // The record lands once the deadline has passed (polled, bounded: 20 s).
    let mut records = Vec::new();
    for _ in 0..200 {
        let resp = reqwest::Client::new()
            .get(s.url("/v1/audit?session=hung-up"))
            .bearer_auth("tok-admin")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let page: Value = resp.json().await.unwrap();
        records = page["records"].as_array().cloned().unwrap_or_default();
        if !records.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(records.len(), 1, "no record of the decision: {records:?}");
    let r = &records[0];
    assert_eq!(r["agent"], "a");
    assert_eq!(r["action"], "loop");
    assert_eq!(r["decision"], "deny", "{r}");
    assert!(
        r.to_string().contains("deadline_exceeded"),
        "the cause is not recorded: {r}"
    );
}

/// The reasons agents read name a rule by its file relative to the policy
/// root, never by the server's own paths.
#[tokio::test]
async fn reasons_name_rules_relative_to_the_policy_root() {
    let (s, cfg) = server_with(
        &[("invoice.yaml", INVOICE)],
        &[("claude-invoice-01", "tok-invoice")],
        "",
    )
    .await;
    let a = decide(
        &s,
        "tok-invoice",
        "git",
        "push",
        "acme/billing",
        json!({"branch": "main"}),
    )
    .await;
    let reason = a["reason"].as_str().unwrap();
    assert!(reason.contains("invoice.yaml:"), "{a}");
    let root = cfg.dir.path().to_str().unwrap();
    assert!(
        !a.to_string().contains(root) && !reason.contains("policies/"),
        "a server path reached the agent: {a}"
    );
}
