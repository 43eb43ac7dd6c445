//! End to end: the `palisade` command line.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::process::Command;
use support::{BIN, HOSTILE};

#[test]
fn plugin_inspect_prints_world_exports_imports_and_digest() {
    let out = Command::new(BIN)
        .args(["plugin", "inspect", HOSTILE])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("world:   palisade:plugin/plugin"), "{text}");
    assert!(text.contains("palisade:plugin/policy@0.1.0"), "{text}");
    assert!(text.contains("palisade:plugin/masking@0.1.0"), "{text}");
    assert!(text.contains("imports:"), "{text}");
    let digest = support::digest_of(std::path::Path::new(HOSTILE));
    assert!(text.contains(&format!("sha256:  {digest}")), "{text}");
}

#[test]
fn plugin_inspect_refuses_a_non_component() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.wasm");
    std::fs::write(&junk, b"not wasm").unwrap();
    let out = Command::new(BIN)
        .args(["plugin", "inspect"])
        .arg(&junk)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a valid WebAssembly component"), "{err}");
}

#[test]
fn plugin_inspect_reports_a_missing_file() {
    let out = Command::new(BIN)
        .args(["plugin", "inspect", "/nonexistent/p.wasm"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read `/nonexistent/p.wasm`"));
}

fn palisade(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .env_remove("PALISADE_LOG")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const POLICIES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/policies");

#[test]
fn policy_tests_pass_for_the_seed_and_fail_with_a_diff() {
    let (code, out, _) = palisade(&["test", &format!("{POLICIES}/invoice-processor_test.yaml")]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("5 passed, 0 failed"), "{out}");

    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        format!("{POLICIES}/invoice-processor.yaml"),
        dir.path().join("p.yaml"),
    )
    .unwrap();
    let tests = "policy: p.yaml\ntests:\n  - name: iam is allowed (wrong on purpose)\n    request: {agent: claude-invoice-01, service: aws, action: \"iam:ListUsers\", resource: \"*\"}\n    expect: allow\n";
    std::fs::write(dir.path().join("t.yaml"), tests).unwrap();
    let (code, out, _) = palisade(&["test", dir.path().join("t.yaml").to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAIL iam is allowed (wrong on purpose)"),
        "{out}"
    );
    assert!(out.contains("t.yaml:3"), "{out}");
    assert!(out.contains("expected: allow"), "{out}");
    assert!(out.contains("got: deny"), "{out}");
    assert!(out.contains("0 passed, 1 failed"), "{out}");
}

#[test]
fn check_reports_merges_and_lint_with_lines_and_refuses_invalid_files() {
    let (code, out, _) = palisade(&["check", &format!("{POLICIES}/invoice-processor.yaml")]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("invoice-processor.yaml:15:5: warning: `allow` is repeated"),
        "{out}"
    );
    assert!(
        out.contains("invoice-processor.yaml:25: lint[wildcard-resource]"),
        "{out}"
    );
    let (code, _, _) = palisade(&[
        "check",
        "--strict",
        &format!("{POLICIES}/invoice-processor.yaml"),
    ]);
    assert_eq!(code, 1);

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("ci.yaml");
    std::fs::write(&bad, "policies:\n  - aws:ecs:UpdateService on arn:aws:ecs:*:*:service/prod-*\n    requires_approval: true\n").unwrap();
    let (code, out, _) = palisade(&["check", bad.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("ci.yaml:3:"), "{out}");
    assert!(
        out.contains("- rule: \"aws:ecs:UpdateService on arn:aws:ecs:*:*:service/prod-*\""),
        "{out}"
    );
    // Oversight settings: a malformed channel, a zero duration, a bad alert.
    for (text, at) in [
        (
            "policies:\n  - rule: \"git:push on r/*\"\n    requires_approval: true\n    approval_channel: slack-deploys\n",
            "ci.yaml:4:",
        ),
        (
            "policies:\n  - rule: \"git:push on r/*\"\n    requires_approval: true\n    approval_timeout: 0s\n",
            "ci.yaml:4:",
        ),
        ("sessions:\n  idle_timeout: 0s\n", "ci.yaml:2:"),
        (
            "alerts:\n  - kind: off_hours\n    time_zone: Mars/Olympus\n",
            "ci.yaml:3:",
        ),
    ] {
        std::fs::write(&bad, text).unwrap();
        let (code, out, _) = palisade(&["check", bad.to_str().unwrap()]);
        assert_eq!(code, 1, "{text}\n{out}");
        assert!(out.contains(at), "{text}\n{out}");
    }
}

#[test]
fn eval_explains_one_decision() {
    let dir = tempfile::tempdir().unwrap();
    let req = dir.path().join("req.yaml");
    std::fs::write(&req, "agent: claude-invoice-01\nservice: git\naction: push\nresource: acme/billing\nattributes: {branch: refs/heads/main}\n").unwrap();
    let (code, out, err) = palisade(&[
        "eval",
        &format!("{POLICIES}/invoice-processor.yaml"),
        "--request",
        req.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["decision"], "approval_required");
    assert_eq!(v["explain"][0]["plugin"], "git");
    assert!(
        !err.contains("INFO"),
        "no info logs for one-shot tools: {err}"
    );
}

#[test]
fn token_new_prints_a_token_and_only_its_hash_for_the_policy() {
    let (code, out, _) = palisade(&["token", "new", "ci-runner"]);
    assert_eq!(code, 0);
    let token = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("pal_"))
        .map(|t| format!("pal_{t}"))
        .unwrap();
    let line = out.lines().find(|l| l.contains("ci-runner: [")).unwrap();
    assert!(line.contains(&support::token_hash(&token)), "{out}");
    assert_eq!(out.matches(&token).count(), 1, "the token is printed once");
}

/// `palisade notify test CHANNEL`: a test message to a real receiver on
/// loopback, signed with the secret from the environment; a channel with
/// no address or a malformed one says why and exits 1 (2 for bad input).
#[tokio::test]
async fn notify_test_reaches_a_webhook_and_says_when_it_does_not() {
    use axum::body::Bytes;
    use axum::http::HeaderMap;
    use hmac::{Hmac, Mac};
    use std::sync::{Arc, Mutex};
    let got: Arc<Mutex<Vec<(HeaderMap, Bytes)>>> = Arc::default();
    let log = got.clone();
    let app = axum::Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
        let log = log.clone();
        async move {
            log.lock().unwrap().push((headers, body));
            "ok"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("palisade.yaml");
    std::fs::write(
        &config,
        format!(
            "notify:\n  webhooks:\n    pager:\n      url: http://{addr}/hook\n      secret_env: PAL_TEST_HOOK_SECRET\n"
        ),
    )
    .unwrap();
    let run = move |channel: &str| {
        let out = Command::new(BIN)
            .args(["notify", "test", channel, "--config"])
            .arg(&config)
            .env("PAL_TEST_HOOK_SECRET", "whsec_test")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let (code, text) = tokio::task::spawn_blocking(move || {
        (
            run("webhook:pager"),
            run("slack:#nowhere"),
            run("slack:nowhere"),
        )
    })
    .await
    .map(|(ok, unknown, bad)| {
        assert_eq!(unknown.0, 1, "{}", unknown.1);
        assert!(
            unknown.1.contains("NOT delivered to slack:#nowhere"),
            "{}",
            unknown.1
        );
        assert!(unknown.1.contains("no webhook"), "{}", unknown.1);
        assert_ne!(bad.0, 0, "{}", bad.1);
        assert!(bad.1.contains("write `slack:#CHANNEL`"), "{}", bad.1);
        ok
    })
    .unwrap();
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("delivered to webhook:pager (HTTP 200)"),
        "{text}"
    );
    let got = got.lock().unwrap();
    assert_eq!(got.len(), 1);
    let (headers, body) = &got[0];
    let sig = headers["palisade-signature"].to_str().unwrap();
    let t = sig.strip_prefix("t=").unwrap().split(',').next().unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"whsec_test").unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    let expected = hex::encode(mac.finalize().into_bytes());
    assert_eq!(sig, format!("t={t},v1={expected}"));
    let json: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(json["type"], "test");
}
