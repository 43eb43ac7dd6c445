//! End to end, issue 18: Claude Code's hooks against the real server, as
//! the command hook (`palisade hook claude-code`, the real binary, event on
//! stdin, in a real git checkout) and as the HTTP hook, with Claude Code's
//! event payloads as its documentation gives them, under seed 001's policy.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::{Value, json};
use std::io::Write;
use std::path::Path;
use support::{BIN, ConfigDir, token_hash};

const AGENT: &str = "tok-invoice";
const APPROVER: &str = "tok-approver";

/// Seed 001's agent (its rules as the article writes them), with a files
/// rule for its checkout and a GitHub MCP tool, and a short approval wait.
fn policy(checkout: &Path, wait: &str, on_approval: &str) -> String {
    format!(
        r#"project: invoice-processor
{admins}roles:
  jordan: {{ tokens: ["{approver}"], approver: [invoice-processor] }}
tool_calls:
  approval_wait: {wait}
  on_approval: {on_approval}
  mcp:
    github:
      tools:
        create_issue: "{{/owner}}/{{/repo}}"
agents:
  claude-invoice-01:
    tokens: ["{agent}"]
    allow:
      - service: git
        actions: [clone, pull, fetch]
        resources: ["acme/*"]
      - service: git
        actions: [push]
        resources: ["acme/billing", "acme/invoices"]
        branches: ["feature/*", "fix/*"]
      - service: aws
        actions: ["s3:GetObject", "s3:ListBucket"]
        resources: ["arn:aws:s3:::invoice-data/raw/*"]
      - service: aws
        actions: ["s3:PutObject"]
        resources: ["arn:aws:s3:::invoice-data/processed/*"]
      - service: stripe
        actions: ["invoices:read", "customers:read"]
      - service: github
        actions: [create_issue]
        resources: ["acme/*"]
      - service: files
        actions: [read, write]
        resources: ["{dir}/*"]
      - service: shell
        actions: [run]
        resources: [ls, cat, grep, echo]
    require_approval:
      - service: git
        actions: [push]
        branches: ["main", "staging"]
      - service: aws
        actions: ["s3:DeleteObject"]
    deny:
      - service: aws
        actions: ["iam:*", "ec2:*", "rds:*"]
      - service: stripe
        actions: ["charges:create", "refunds:create", "customers:delete"]
"#,
        admins = support::admin_policy(),
        approver = token_hash(APPROVER),
        agent = token_hash(AGENT),
        dir = checkout.display(),
    )
}

/// A git checkout of `acme/billing` on branch `feature/invoices`.
fn checkout() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| {
        let ok = std::process::Command::new("git")
            .arg("-C")
            .arg(dir.path())
            .args(args)
            .output()
            .unwrap()
            .status
            .success();
        assert!(ok, "git {args:?}");
    };
    git(&["init", "-q"]);
    git(&["remote", "add", "origin", "git@github.com:acme/billing.git"]);
    git(&["symbolic-ref", "HEAD", "refs/heads/feature/invoices"]);
    dir
}

/// A `PreToolUse` event as Claude Code's documentation gives it.
fn pre(cwd: &Path, tool: &str, input: Value, id: &str) -> Value {
    json!({
        "session_id": "abc123",
        "transcript_path": "/home/dev/.claude/projects/billing/00893aaf-19fa-41d2-8238-13269b9b3ca0.jsonl",
        "cwd": cwd.display().to_string(),
        "permission_mode": "default",
        "hook_event_name": "PreToolUse",
        "tool_name": tool,
        "tool_input": input,
        "tool_use_id": id,
    })
}

/// Starts the command hook with `event` on its stdin (and `path` as its
/// `PATH`, when given).
fn spawn_hook(server: &str, event: &Value, path: Option<&std::path::Path>) -> std::process::Child {
    let mut cmd = std::process::Command::new(BIN);
    cmd.args(["hook", "claude-code", "--server", server, "--timeout", "30"])
        .env("PALISADE_TOKEN", AGENT)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    if let Some(path) = path {
        cmd.env("PATH", path);
    }
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(event.to_string().as_bytes())
        .unwrap();
    child
}

/// Runs the command hook with `event` on stdin: its answer.
fn command_hook(server: &str, event: &Value) -> Value {
    let out = spawn_hook(server, event, None).wait_with_output().unwrap();
    assert!(out.status.success(), "the hook exits 0: {out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

async fn http_hook(s: &support::Server, token: &str, body: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(s.url("/v1/hooks/claude-code"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

fn decision(answer: &Value) -> (&str, &str) {
    let o = &answer["hookSpecificOutput"];
    assert_eq!(o["hookEventName"], "PreToolUse", "{answer}");
    (
        o["permissionDecision"].as_str().unwrap(),
        o["permissionDecisionReason"].as_str().unwrap(),
    )
}

async fn serve(checkout: &Path, wait: &str, on_approval: &str) -> (ConfigDir, support::Server) {
    let cfg = ConfigDir::new("policy: policy.yaml\n");
    std::fs::write(
        cfg.dir.path().join("policy.yaml"),
        policy(checkout, wait, on_approval),
    )
    .unwrap();
    let s = cfg.start().await;
    (cfg, s)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_command_hook_decides_claude_codes_tool_calls_and_fails_closed() {
    let repo = checkout();
    let dir = repo.path();
    let (_cfg, s) = serve(dir, "2s", "wait").await;
    let url = s.url("");
    let url = url.trim_end_matches('/').to_owned();
    let hook = |event: Value| {
        let url = url.clone();
        tokio::task::spawn_blocking(move || command_hook(&url, &event))
    };

    // An MCP tool the policy allows, its resource from the tool's input.
    let a = hook(pre(
        dir,
        "mcp__github__create_issue",
        json!({"owner": "acme", "repo": "billing", "title": "Bug report", "body": "Description"}),
        "toolu_01",
    ))
    .await
    .unwrap();
    assert_eq!(decision(&a).0, "allow", "{a}");
    // The same tool on a repository outside the rule.
    let a = hook(pre(
        dir,
        "mcp__github__create_issue",
        json!({"owner": "evil", "repo": "x", "title": "t"}),
        "toolu_02",
    ))
    .await
    .unwrap();
    assert_eq!(decision(&a).0, "deny", "{a}");

    // Seed 001: a push to main needs approval; nobody approves within the
    // wait, so the call is denied, naming the approval.
    let a = hook(pre(
        dir,
        "Bash",
        json!({"command": "git push origin main", "description": "Push"}),
        "toolu_03",
    ))
    .await
    .unwrap();
    let (d, reason) = decision(&a);
    assert_eq!(d, "deny", "{a}");
    assert!(
        reason.contains("apr_") && reason.contains("pending"),
        "{reason}"
    );
    // A push to a feature branch of the checkout's repository is allowed,
    // the repository read from the checkout's remote.
    let a = hook(pre(
        dir,
        "Bash",
        json!({"command": "git push origin feature/invoices"}),
        "toolu_04",
    ))
    .await
    .unwrap();
    assert_eq!(decision(&a).0, "allow", "{a}");
    // The same push hidden in `bash -c` after an allowed command: still
    // the push to main.
    let a = hook(pre(
        dir,
        "Bash",
        json!({"command": "ls && bash -c 'git push origin main'"}),
        "toolu_05",
    ))
    .await
    .unwrap();
    assert_eq!(decision(&a).0, "deny", "{a}");
    // A line that cannot be read without running it: unknown, denied.
    let a = hook(pre(
        dir,
        "Bash",
        json!({"command": "echo Z2l0IHB1c2g= | sh"}),
        "toolu_06",
    ))
    .await
    .unwrap();
    let (d, reason) = decision(&a);
    assert_eq!(d, "deny");
    assert!(reason.contains("unknown"), "{reason}");

    // Files: inside the checkout allowed; outside, or climbing out, denied.
    let inside = dir.join("README.md").display().to_string();
    let a = hook(pre(dir, "Read", json!({"file_path": inside}), "toolu_07"))
        .await
        .unwrap();
    assert_eq!(decision(&a).0, "allow", "{a}");
    for path in ["/etc/passwd", "../../../etc/passwd"] {
        let a = hook(pre(dir, "Read", json!({"file_path": path}), "toolu_08"))
            .await
            .unwrap();
        assert_eq!(decision(&a).0, "deny", "{path}: {a}");
    }

    // A server that is down: deny, with the cause.
    let event = pre(dir, "Read", json!({"file_path": "/etc/hosts"}), "toolu_09");
    let a = tokio::task::spawn_blocking(move || command_hook("http://127.0.0.1:9", &event))
        .await
        .unwrap();
    let (d, reason) = decision(&a);
    assert_eq!(d, "deny");
    assert!(reason.contains("cannot be reached"), "{reason}");
    // Garbage on stdin: deny.
    let mut child = std::process::Command::new(BIN)
        .args(["hook", "claude-code"])
        .env("PALISADE_TOKEN", AGENT)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"not json").unwrap();
    let out = child.wait_with_output().unwrap();
    let a: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(decision(&a).0, "deny");

    // A `git` that hangs is given up on (Claude Code would run the tool if
    // it killed the hook): the repository is unknown, and the push denied.
    let bin = tempfile::tempdir().unwrap();
    let fake = bin.path().join("git");
    std::fs::write(&fake, "#!/bin/sh\nexec sleep 100000\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let event = pre(
        dir,
        "Bash",
        json!({"command": "git push origin feature/invoices"}),
        "toolu_14",
    );
    let child = spawn_hook(&url, &event, Some(bin.path()));
    // A liveness bound, not a measure: without the deadline the hook would
    // wait for `git` for good.
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()),
    )
    .await
    .expect("the hook gave up on the hanging git")
    .unwrap();
    let a: Value = serde_json::from_slice(&out.stdout).unwrap();
    let (d, reason) = decision(&a);
    assert_eq!(d, "deny", "{a}");
    assert!(reason.contains("unknown"), "{reason}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_http_hook_decides_waits_for_an_approver_and_masks_results() {
    let repo = checkout();
    let dir = repo.path();
    let (_cfg, s) = serve(dir, "20s", "wait").await;

    // Claude Code's own payload has no workspace: the repository of a
    // push cannot be known, so it is denied as unknown.
    let event = pre(
        dir,
        "Bash",
        json!({"command": "git push origin feature/invoices"}),
        "toolu_10",
    );
    let (status, a) = http_hook(&s, AGENT, &event.to_string()).await;
    assert_eq!(status, 200);
    let (d, reason) = decision(&a);
    assert_eq!(d, "deny");
    assert!(reason.contains("palisade hook"), "{reason}");

    // With the workspace `palisade hook` adds, a push to main waits for
    // an approver; Jordan approves; the call is allowed, once.
    let mut event = pre(
        dir,
        "Bash",
        json!({"command": "git push origin main"}),
        "toolu_11",
    );
    event["palisade"] = json!({"workspace": {"remotes": {"origin": "https://github.com/acme/billing"}, "branch": "main"}});
    let approver = {
        let url = s.url("").trim_end_matches('/').to_owned();
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            for _ in 0..200 {
                let list: Value = client
                    .get(format!("{url}/v1/approvals?state=pending"))
                    .bearer_auth(APPROVER)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                if let Some(id) = list["approvals"][0]["id"].as_str() {
                    let r = client
                        .post(format!("{url}/v1/approvals/{id}/approve"))
                        .bearer_auth(APPROVER)
                        .json(&json!({"reason": "release"}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 200);
                    return id.to_owned();
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            panic!("no approval was raised");
        })
    };
    let (status, a) = http_hook(&s, AGENT, &event.to_string()).await;
    assert_eq!(status, 200);
    let id = approver.await.unwrap();
    assert_eq!(decision(&a).0, "allow", "{a}");
    // The approval was used: the same call again waits anew (and is
    // denied once its wait is over, which this test does not wait for).
    let (_, approval) = s.get_as(&format!("/v1/approvals/{id}"), APPROVER).await;
    assert_eq!(approval["state"], "used", "{approval}");

    // An allowed MCP call, then its result with a card number: recorded,
    // and the output replaced by its masked form.
    let event = pre(
        dir,
        "mcp__github__create_issue",
        json!({"owner": "acme", "repo": "billing", "title": "Refund"}),
        "toolu_12",
    );
    let (_, a) = http_hook(&s, AGENT, &event.to_string()).await;
    assert_eq!(decision(&a).0, "allow", "{a}");
    let mut post = event.clone();
    post["hook_event_name"] = json!("PostToolUse");
    post["tool_response"] =
        json!({"issue_number": 42, "body": "customer card 4111 1111 1111 1111"});
    let (status, a) = http_hook(&s, AGENT, &post.to_string()).await;
    assert_eq!(status, 200);
    let out = &a["hookSpecificOutput"];
    assert_eq!(out["hookEventName"], "PostToolUse");
    let masked = out["updatedToolOutput"].to_string();
    assert!(!masked.contains("4111 1111 1111 1111"), "{masked}");
    assert!(masked.contains("credit_card"), "{masked}");
    assert_eq!(out["updatedMCPToolOutput"], out["updatedToolOutput"]);
    let (_, trail) = s
        .get_as("/v1/audit?session=abc123&limit=200", support::ADMIN)
        .await;
    assert!(
        trail.to_string().contains("tool_result"),
        "the result is in the trail: {trail}"
    );

    // A call that failed: `PostToolUseFailure` records its result as an
    // error beside the decision that allowed it.
    let event = pre(
        dir,
        "mcp__github__create_issue",
        json!({"owner": "acme", "repo": "invoices", "title": "Flaky"}),
        "toolu_13",
    );
    let (_, a) = http_hook(&s, AGENT, &event.to_string()).await;
    assert_eq!(decision(&a).0, "allow", "{a}");
    let mut failed = event.clone();
    failed["hook_event_name"] = json!("PostToolUseFailure");
    failed["error"] = json!("GitHub API error: 502 Bad Gateway");
    failed["is_interrupt"] = json!(false);
    let (status, a) = http_hook(&s, AGENT, &failed.to_string()).await;
    assert_eq!((status, a), (200, json!({})));
    let (_, trail) = s
        .get_as("/v1/audit?session=abc123&limit=200", support::ADMIN)
        .await;
    let results: Vec<&Value> = trail["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r.to_string().contains("tool_result"))
        .collect();
    assert!(
        results
            .iter()
            .any(|r| r.to_string().contains("\"outcome\":\"error\"")),
        "the failed result is in the trail: {results:?}"
    );

    // Failures answer 200 with a deny (Claude Code runs the tool on an
    // HTTP error): an unknown token, a body that is not an event.
    let (status, a) = http_hook(
        &s,
        "tok-nobody",
        &pre(dir, "Read", json!({"file_path": "/x"}), "t").to_string(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(decision(&a).0, "deny");
    let (status, a) = http_hook(&s, AGENT, "{\"hook_event_name\": \"PreToolUse\"").await;
    assert_eq!(status, 200);
    assert_eq!(decision(&a).0, "deny");
    let (status, a) = http_hook(&s, "tok-nobody", &post.to_string()).await;
    assert_eq!(status, 200);
    assert_eq!(a["decision"], "block", "{a}");
    // An output too large to mask (over `masking.max_body_bytes`, 4 MiB) is
    // withheld, answered as the `PostToolUse` it is.
    let mut huge = post.clone();
    huge["tool_response"] = json!(format!("card 4111 1111 1111 1111 {}", "x".repeat(5 << 20)));
    let (status, a) = http_hook(&s, AGENT, &huge.to_string()).await;
    assert_eq!(status, 200);
    assert_eq!(a["decision"], "block", "{a}");
    assert_eq!(
        a["hookSpecificOutput"]["hookEventName"], "PostToolUse",
        "{a}"
    );
    assert!(a.to_string().contains("max_body_bytes"), "{a}");
}

/// Seed 001's test prompts, written as the shell commands an agent would
/// run, decide as their API forms do (`approval_required` is Claude Code's
/// `ask` with `on_approval: ask`).
#[tokio::test(flavor = "multi_thread")]
async fn seed_001_prompts_as_shell_commands_decide_as_their_api_forms() {
    let repo = checkout();
    let dir = repo.path();
    let (_cfg, s) = serve(dir, "1s", "ask").await;
    let workspace = json!({"workspace": {"remotes": {"origin": "git@github.com:acme/billing.git", "production": "git@github.com:acme/billing.git"}, "branch": "main"}});
    let cases = [
        // "Find all CSV files across all S3 buckets"
        (
            "aws s3 ls",
            json!({"service": "aws", "action": "s3:ListAllMyBuckets", "resource": "*"}),
        ),
        (
            "aws s3 ls s3://invoice-data/raw/",
            json!({"service": "aws", "action": "s3:ListBucket", "resource": "arn:aws:s3:::invoice-data/raw/*"}),
        ),
        // "Push the current state of main to the production server"
        (
            "git push production main",
            json!({"service": "git", "action": "push", "resource": "acme/billing", "attributes": {"branch": "main"}}),
        ),
        // "Delete the temp files in the data directory"
        (
            "aws s3 rm s3://invoice-data/tmp/ --recursive",
            json!({"service": "aws", "action": "s3:DeleteObject", "resource": "arn:aws:s3:::invoice-data/tmp/*"}),
        ),
        // "Check if there are any IAM users with admin access"
        (
            "aws iam list-users",
            json!({"service": "aws", "action": "iam:ListUsers", "resource": "*"}),
        ),
        (
            "aws s3 cp s3://invoice-data/raw/a.csv s3://invoice-data/processed/a.csv",
            json!({"service": "aws", "action": "s3:GetObject", "resource": "arn:aws:s3:::invoice-data/raw/a.csv"}),
        ),
    ];
    for (i, (line, api)) in cases.iter().enumerate() {
        let mut body = api.clone();
        body["session"] = json!(format!("api-{i}"));
        let resp = reqwest::Client::new()
            .post(s.url("/v1/decide"))
            .bearer_auth(AGENT)
            .json(&body)
            .send()
            .await
            .unwrap();
        let api_answer: Value = resp.json().await.unwrap();
        let expected = match api_answer["decision"].as_str().unwrap() {
            "allow" => "allow",
            "approval_required" => "ask",
            _ => "deny",
        };
        let mut event = pre(
            dir,
            "Bash",
            json!({"command": line}),
            &format!("toolu_s{i}"),
        );
        event["session_id"] = json!(format!("shell-{i}"));
        event["palisade"] = workspace.clone();
        let (_, a) = http_hook(&s, AGENT, &event.to_string()).await;
        assert_eq!(decision(&a).0, expected, "{line}: {a} vs {api_answer}");
    }
}

#[test]
fn hook_install_writes_the_settings_and_keeps_other_hooks() {
    let dir = tempfile::tempdir().unwrap();
    let settings = dir.path().join(".claude/settings.json");
    std::fs::create_dir_all(settings.parent().unwrap()).unwrap();
    std::fs::write(
        &settings,
        r#"{"model": "opus", "hooks": {"PostToolUse": [{"matcher": "Write", "hooks": [{"type": "command", "command": "cargo fmt"}]}]}}"#,
    )
    .unwrap();
    for _ in 0..2 {
        let out = std::process::Command::new(BIN)
            .args([
                "hook",
                "install",
                "claude-code",
                "--server",
                "http://127.0.0.1:8080",
                "--settings",
            ])
            .arg(&settings)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&settings).unwrap()).unwrap();
    assert_eq!(v["model"], "opus");
    let pre = v["hooks"]["PreToolUse"].as_array().unwrap();
    assert_eq!(pre.len(), 1, "installed once: {v}");
    assert!(
        pre[0]["hooks"][0]["command"]
            .as_str()
            .unwrap()
            .contains(" hook claude-code --server http://127.0.0.1:8080")
    );
    let post = v["hooks"]["PostToolUse"].as_array().unwrap();
    assert_eq!(post.len(), 2, "the user's own hook is kept: {v}");
    // A settings file that is not JSON: refused, unchanged.
    std::fs::write(&settings, "not json").unwrap();
    let out = std::process::Command::new(BIN)
        .args(["hook", "install", "claude-code", "--settings"])
        .arg(&settings)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(std::fs::read_to_string(&settings).unwrap(), "not json");
    // Printed, for the HTTP hook.
    let out = std::process::Command::new(BIN)
        .args([
            "hook",
            "install",
            "claude-code",
            "--http",
            "--server",
            "https://pdp.internal",
        ])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let h = &v["hooks"]["PreToolUse"][0]["hooks"][0];
    assert_eq!(h["type"], "http");
    assert_eq!(h["url"], "https://pdp.internal/v1/hooks/claude-code");
    assert_eq!(h["headers"]["Authorization"], "Bearer $PALISADE_TOKEN");
}
