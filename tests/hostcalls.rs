//! End to end: what a plugin can do through its host calls is bounded and
//! named: its log (a budget per call and per plugin, a dropped count, one
//! escaped line per message), `wasi:random`, resource handles, and
//! `wasi:cli/exit`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::{Value, json};
use std::time::Duration;
use support::{ADMIN, ConfigDir, HOSTILE, Server, admin_policy, token_hash};

/// A server whose agent `a` (token `tok-a`) may do anything on `files`, with
/// the hostile fixture in the project chain under `limits`.
async fn hostile_server(limits: &str) -> (Server, ConfigDir) {
    let cfg = ConfigDir::new(&format!(
        "policy: policies\nplugins:\n  hostile:\n    path: hostile.wasm\n    limits: {limits}\n"
    ))
    .with_file("hostile.wasm", HOSTILE);
    let dir = cfg.dir.path().join("policies");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(
        dir.join("p.yaml"),
        format!(
            "agents:\n  a:\n    allow:\n      - service: files\n        actions: [\"*\"]\n        resources: [\"*\"]\nchain: [hostile]\nidentities:\n  a: [\"{}\"]\n",
            token_hash("tok-a")
        ),
    )
    .unwrap();
    std::fs::write(dir.join("zz-admins.yaml"), admin_policy()).unwrap();
    let server = cfg.start_with_env(&[("NO_COLOR", "1".into())]).await;
    (server, cfg)
}

async fn decide(server: &Server, action: &str) -> Value {
    let body = json!({"session": "s-1", "service": "files", "action": action, "resource": "f/1"});
    let resp = reqwest::Client::new()
        .post(server.url("/v1/decide?explain=true"))
        .bearer_auth("tok-a")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

/// The server's log lines, without colour codes.
fn log_lines(server: &Server) -> Vec<String> {
    let text = server.stderr();
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
            continue;
        }
        plain.push(c);
    }
    plain.lines().map(str::to_owned).collect()
}

/// Waits (bounded: 10 s) for a log line containing `needle`; returns all lines.
async fn wait_for_line(server: &Server, needle: &str) -> Vec<String> {
    for _ in 0..200 {
        let lines = log_lines(server);
        if lines.iter().any(|l| l.contains(needle)) {
            return lines;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no log line with `{needle}`:\n{}", server.stderr());
}

#[tokio::test]
async fn a_plugin_log_flood_is_bounded_counted_and_escaped() {
    let (s, _cfg) = hostile_server("{log_lines_per_call: 5}").await;

    // 1,000 lines asked for, 5 written, 995 dropped and said so once.
    let a = decide(&s, "log").await;
    assert_eq!(a["decision"], "allow", "{a}");
    let request_id = a["decision_id"].as_str().unwrap().to_owned();
    let lines = wait_for_line(&s, "plugin log lines dropped").await;
    let written: Vec<_> = lines
        .iter()
        .filter(|l| l.contains("hostile log line"))
        .collect();
    assert_eq!(written.len(), 5, "{written:?}");
    let summary: Vec<_> = lines
        .iter()
        .filter(|l| l.contains("plugin log lines dropped"))
        .collect();
    assert_eq!(summary.len(), 1, "{summary:?}");
    assert!(summary[0].contains("dropped_lines=995"), "{}", summary[0]);
    assert!(summary[0].contains("plugin=\"hostile\""), "{}", summary[0]);
    assert!(
        summary[0].contains(&format!("request_id=\"{request_id}\"")),
        "{}",
        summary[0]
    );
    let (status, plugins) = s.get_as("/v1/plugins", ADMIN).await;
    assert_eq!(status, 200);
    let hostile = plugins["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "hostile")
        .unwrap();
    assert_eq!(hostile["log_lines_dropped"], 995, "{hostile}");
    assert_eq!(hostile["limits"]["log_lines_per_call"], 5, "{hostile}");

    // A message with a newline and a fake log line is one escaped line.
    let a = decide(&s, "log_forge").await;
    assert_eq!(a["decision"], "allow", "{a}");
    let lines = wait_for_line(&s, "innocent").await;
    let forged: Vec<_> = lines.iter().filter(|l| l.contains("innocent")).collect();
    assert_eq!(forged.len(), 1, "{forged:?}");
    assert!(
        forged[0].contains(
            r#""innocent\n2026-12-06T07:00:00.000000Z  INFO palisade::api: decision=allow agent=admin\r\u{001b}[2K\u{202e}""#
        ),
        "{}",
        forged[0]
    );
    assert!(
        !lines.iter().any(|l| l.starts_with("2026-12-06T07:00:00")),
        "a forged line reached the log:\n{lines:?}"
    );
}

#[tokio::test]
async fn wasi_limits_and_exit_are_named_and_the_server_keeps_serving() {
    // A deadline long enough for fuel, not the clock, to end the log loop.
    let (s, _cfg) = hostile_server("{deadline_ms: 10000}").await;
    for (action, kind) in [
        ("random", "host_call_limit"),
        ("handles", "handle_limit"),
        ("exit", "plugin_exited"),
        ("log_forever", "out_of_fuel"),
    ] {
        let a = decide(&s, action).await;
        assert_eq!(a["decision"], "deny", "{action}: {a}");
        let step = &a["explain"][1];
        assert_eq!(step["plugin"], "hostile", "{a}");
        assert_eq!(step["error"], kind, "{action}: {a}");
    }
    let a = decide(&s, "ok").await;
    assert_eq!(a["decision"], "allow", "{a}");
}
