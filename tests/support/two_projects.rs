//! Two projects on one server, as the end-to-end tests of projects and
//! oversight use them: seed 001's invoice-processor and seed 000's agents
//! (as project `platform`), their people and tokens, and calls as them.

#![allow(dead_code, clippy::unwrap_used)]

use crate::support::{ConfigDir, HOSTILE, Server, token_hash};
use serde_json::{Value, json};
use std::path::Path;

pub const INVOICE: &str = include_str!("../policies/invoice-processor.yaml");
pub const CODE_REVIEWER: &str = include_str!("../policies/code-reviewer.yaml");

/// Seed 000's ci-runner with its budget and rate limits (its rate raised
/// from the seed's 30 a minute, so that the oversight tests that hammer it
/// are not throttled: `tests/budgets.rs` tests rate limits); its `audit`
/// block is the server's, in the top-level file.
pub const CI_RUNNER: &str = "\
# ci-runner — staging free, production gated
policies:
  - git:read on repos/*
  - git:push on repos/*/branches/feature/*
  - aws:ecs:UpdateService on arn:aws:ecs:*:*:service/staging-*
  - rule: \"aws:ecs:UpdateService on arn:aws:ecs:*:*:service/prod-*\"
    requires_approval: true
    approval_channel: slack:#deploy-approvals
    approval_timeout: 60m
budget:
  max_tokens_per_session: 100000
  max_sessions_per_day: 50
  alert_at: 80%
rate_limits:
  max_requests_per_minute: 60000
  on_exceed: throttle_and_alert
";

/// Tokens: agents `tok-invoice`, `tok-reviewer`, `tok-ci`; people
/// `tok-ops` (server administrator), `tok-inv-admin`, `tok-plat-admin`
/// (project administrators), `tok-approver` (approver of `platform`, Slack
/// user `U0APPROVER`); `both` (administrator of both, approver of none) is
/// Slack user `U0BOTH`.
pub fn people() -> String {
    format!(
        "admins:\n  ops: [\"{}\"]\nroles:\n  inv-admin:\n    tokens: [\"{}\"]\n    admin: [invoice-processor]\n  \
         plat-admin:\n    tokens: [\"{}\"]\n    admin: [platform]\n  approver:\n    tokens: [\"{}\"]\n    approver: [platform]\n    slack_user: U0APPROVER\n  \
         both:\n    tokens: [\"{}\"]\n    admin: [invoice-processor, platform]\n    slack_user: U0BOTH\n",
        token_hash("tok-ops"),
        token_hash("tok-inv-admin"),
        token_hash("tok-plat-admin"),
        token_hash("tok-approver"),
        token_hash("tok-both"),
    )
}

/// Writes the two-project policy directory under `root`, with `extra`
/// appended to each project's identities file (`invoice`, `platform`).
pub fn write_projects(root: &Path, extra: (&str, &str)) {
    let invoice = root.join("invoice");
    let platform = root.join("platform");
    std::fs::create_dir_all(&invoice).unwrap();
    std::fs::create_dir_all(&platform).unwrap();
    std::fs::write(root.join("people.yaml"), people()).unwrap();
    std::fs::write(invoice.join("policy.yaml"), INVOICE).unwrap();
    std::fs::write(
        invoice.join("identities.yaml"),
        format!(
            "project: invoice-processor\nidentities:\n  claude-invoice-01: [\"{}\"]\n{}",
            token_hash("tok-invoice"),
            extra.0
        ),
    )
    .unwrap();
    std::fs::write(
        platform.join("code-reviewer.yaml"),
        format!("project: platform\n{CODE_REVIEWER}"),
    )
    .unwrap();
    std::fs::write(
        platform.join("ci-runner.yaml"),
        format!("project: platform\n{CI_RUNNER}"),
    )
    .unwrap();
    std::fs::write(
        platform.join("identities.yaml"),
        format!(
            "project: platform\nidentities:\n  code-reviewer: [\"{}\"]\n  ci-runner: [\"{}\"]\n{}",
            token_hash("tok-reviewer"),
            token_hash("tok-ci"),
            extra.1
        ),
    )
    .unwrap();
}

pub async fn setup(config: &str, extra: (&str, &str)) -> (Server, ConfigDir) {
    setup_with_env(config, extra, &[]).await
}

/// [`setup`] with environment variables for the server.
pub async fn setup_with_env(
    config: &str,
    extra: (&str, &str),
    env: &[(&str, String)],
) -> (Server, ConfigDir) {
    let cfg =
        ConfigDir::new(&format!("policy: policies\n{config}")).with_file("hostile.wasm", HOSTILE);
    write_projects(&cfg.dir.path().join("policies"), extra);
    let server = cfg.start_with_env(env).await;
    (server, cfg)
}

pub async fn call(
    s: &Server,
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

pub async fn decide(s: &Server, token: &str, body: Value) -> (u16, Value) {
    call(s, reqwest::Method::POST, "/v1/decide", token, Some(body)).await
}

pub async fn get(s: &Server, path: &str, token: &str) -> (u16, Value) {
    call(s, reqwest::Method::GET, path, token, None).await
}

/// A reload asked for by the server administrator.
pub async fn reload(s: &Server) -> (u16, Value) {
    call(
        s,
        reqwest::Method::POST,
        "/v1/admin/reload",
        "tok-ops",
        None,
    )
    .await
}

pub fn req(service: &str, action: &str, resource: &str, attributes: Value) -> Value {
    json!({"session": "s-1", "service": service, "action": action, "resource": resource, "attributes": attributes})
}
