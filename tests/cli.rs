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
