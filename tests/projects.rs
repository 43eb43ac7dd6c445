//! End to end: one server, two projects. Seed 001's invoice-processor and
//! seed 000's agents (as project `platform`) each decide as their seed
//! says; an agent of one project cannot act in, read or see the other; a
//! project administrator sees only their project; a plugin that remembers
//! cannot carry one project's data to the other; a broken file in one
//! project keeps it on its last good version while the other's change
//! installs; seed 000's two-agent block is refused with the form to write.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;
#[path = "support/two_projects.rs"]
mod two_projects;

use serde_json::{Value, json};
use std::path::Path;
use support::{BIN, ConfigDir, HOSTILE, token_hash};
use two_projects::*;

#[tokio::test]
async fn each_project_decides_as_its_seed_says() {
    let (s, _cfg) = setup("", ("", "")).await;
    let cases = [
        // Seed 001: the invoice processor.
        (
            "tok-invoice",
            req(
                "aws",
                "s3:GetObject",
                "arn:aws:s3:::invoice-data/raw/2026/11.csv",
                json!({}),
            ),
            "allow",
            "invoice-processor",
        ),
        (
            "tok-invoice",
            req("git", "push", "acme/billing", json!({"branch": "main"})),
            "approval_required",
            "invoice-processor",
        ),
        (
            "tok-invoice",
            req("aws", "iam:ListUsers", "*", json!({})),
            "deny",
            "invoice-processor",
        ),
        (
            "tok-invoice",
            req("aws", "s3:ListBucket", "arn:aws:s3:::*", json!({})),
            "deny",
            "invoice-processor",
        ),
        // Seed 000: the code reviewer and the CI runner.
        (
            "tok-reviewer",
            req("git", "comment", "repos/api/pull-requests/7", json!({})),
            "allow",
            "platform",
        ),
        (
            "tok-reviewer",
            req("git", "push", "repos/api/branches/feature/x", json!({})),
            "deny",
            "platform",
        ),
        (
            "tok-ci",
            req("git", "push", "repos/api/branches/feature/x", json!({})),
            "allow",
            "platform",
        ),
        (
            "tok-ci",
            req(
                "aws",
                "ecs:UpdateService",
                "arn:aws:ecs:us-east-1:1:service/staging-web",
                json!({}),
            ),
            "allow",
            "platform",
        ),
        (
            "tok-ci",
            req(
                "aws",
                "ecs:UpdateService",
                "arn:aws:ecs:us-east-1:1:service/prod-web",
                json!({}),
            ),
            "approval_required",
            "platform",
        ),
        (
            "tok-ci",
            req("aws", "iam:CreateUser", "*", json!({})),
            "deny",
            "platform",
        ),
    ];
    for (token, body, want, project) in cases {
        let (status, answer) = decide(&s, token, body.clone()).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["decision"], want, "{token} {body}: {answer}");
        assert_eq!(answer["project"], project, "{answer}");
    }
    // With two projects, each may hold at most three quarters of a shared
    // plugin's instances.
    let (_, plugins) = get(&s, "/v1/plugins", "tok-ops").await;
    for p in plugins["plugins"].as_array().unwrap() {
        let limits = &p["limits"];
        let (instances, per_project) = (
            limits["max_instances"].as_u64().unwrap(),
            limits["max_calls_per_project"].as_u64().unwrap_or(u64::MAX),
        );
        assert!(per_project < instances, "{p}");
        assert_eq!(per_project, (instances * 3).div_ceil(4).max(1), "{p}");
    }
    // The invoice agent naming its own project is fine.
    let mut own = req(
        "aws",
        "s3:GetObject",
        "arn:aws:s3:::invoice-data/raw/a.csv",
        json!({}),
    );
    own["project"] = json!("invoice-processor");
    assert_eq!(decide(&s, "tok-invoice", own).await.1["decision"], "allow");
}

#[tokio::test]
async fn an_agent_cannot_act_in_read_or_see_another_project() {
    let (s, _cfg) = setup("", ("", "")).await;
    let (_, before) = get(&s, "/v1/audit?limit=1000", "tok-ops").await;
    let count = before["records"].as_array().unwrap().len();
    // Act: a decision or a masking call naming the other project.
    let mut body = req("git", "comment", "repos/api/pull-requests/7", json!({}));
    body["project"] = json!("platform");
    let (status, answer) = decide(&s, "tok-invoice", body).await;
    assert_eq!(status, 403, "{answer}");
    assert_eq!(answer["error"]["code"], "wrong_project", "{answer}");
    assert!(!answer.to_string().contains("platform"), "{answer}");
    let mask = json!({"project": "platform", "session": "s-1", "service": "files", "text": "x"});
    let (status, answer) = call(
        &s,
        reqwest::Method::POST,
        "/v1/mask",
        "tok-invoice",
        Some(mask),
    )
    .await;
    assert_eq!(status, 403, "{answer}");
    // A project that does not exist is refused the same way.
    let mut body = req("git", "comment", "r", json!({}));
    body["project"] = json!("no-such-project");
    assert_eq!(decide(&s, "tok-invoice", body).await.0, 403);
    // Read and see: the audit trail, the status, the plugins.
    for path in ["/v1/audit?project=platform", "/v1/status", "/v1/plugins"] {
        let (status, answer) = get(&s, path, "tok-invoice").await;
        assert_eq!(status, 401, "{path}: {answer}");
    }
    // Each refusal is recorded in the agent's own project, and nothing else
    // was: no decision, no record in the other project.
    let (_, after) = get(&s, "/v1/audit?limit=1000", "tok-ops").await;
    let records = after["records"].as_array().unwrap();
    let new: Vec<&Value> = records[count..].iter().collect();
    assert_eq!(new.len(), 3, "{after}");
    for r in &new {
        assert_eq!(r["kind"], "admin", "{r}");
        assert_eq!(r["event"], "project_refused", "{r}");
        assert_eq!(r["project"], "invoice-processor", "{r}");
        assert_eq!(r["agent"], "claude-invoice-01", "{r}");
    }
    assert_eq!(new[0]["details"]["requested_project"], "platform");
    assert_eq!(new[1]["details"]["route"], "/v1/mask");
}

#[tokio::test]
async fn a_project_administrator_sees_only_their_project() {
    let (s, _cfg) = setup("", ("", "")).await;
    for (token, body) in [
        ("tok-invoice", req("aws", "iam:ListUsers", "*", json!({}))),
        ("tok-ci", req("aws", "iam:CreateUser", "*", json!({}))),
    ] {
        assert_eq!(decide(&s, token, body).await.0, 200);
    }
    let projects_of = |page: &Value| -> Vec<String> {
        let mut p: Vec<String> = page["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["project"].as_str().unwrap_or("-").to_owned())
            .collect();
        p.sort();
        p.dedup();
        p
    };
    let (status, page) = get(&s, "/v1/audit", "tok-inv-admin").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(projects_of(&page), ["invoice-processor"], "{page}");
    let (_, page) = get(&s, "/v1/audit", "tok-plat-admin").await;
    assert_eq!(projects_of(&page), ["platform"], "{page}");
    // Another project answers as one that does not exist.
    let (status, other) = get(&s, "/v1/audit?project=platform", "tok-inv-admin").await;
    let (status2, none) = get(&s, "/v1/audit?project=nope", "tok-inv-admin").await;
    assert_eq!((status, status2), (404, 404), "{other} {none}");
    assert_eq!(other["error"]["code"], none["error"]["code"]);
    assert!(!other.to_string().contains("claude"), "{other}");
    // One who administers both reads both, without naming either.
    let (_, both) = get(&s, "/v1/audit", "tok-both").await;
    assert_eq!(
        projects_of(&both),
        ["invoice-processor", "platform"],
        "{both}"
    );
    // The server administrator reads both.
    let (_, all) = get(&s, "/v1/audit", "tok-ops").await;
    let seen = projects_of(&all);
    assert!(
        seen.contains(&"invoice-processor".to_owned()) && seen.contains(&"platform".to_owned()),
        "{all}"
    );
    // Status: the project administrator's own project, nothing server-wide.
    let (status, st) = get(&s, "/v1/status", "tok-inv-admin").await;
    assert_eq!(status, 200, "{st}");
    let listed: Vec<&str> = st["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["project"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["invoice-processor"], "{st}");
    assert!(
        st.get("audit").is_none() && st.get("last_reload").is_none(),
        "{st}"
    );
    let (_, st) = get(&s, "/v1/status", "tok-ops").await;
    assert_eq!(st["projects"].as_array().unwrap().len(), 2, "{st}");
    assert_eq!(st["layout"], "projects", "{st}");
    // Server-wide actions are the server administrator's; an approver
    // administers nothing.
    for (method, path) in [
        (reqwest::Method::POST, "/v1/admin/reload"),
        (reqwest::Method::GET, "/v1/plugins"),
    ] {
        let (status, answer) = call(&s, method, path, "tok-inv-admin", None).await;
        assert_eq!(status, 403, "{path}: {answer}");
    }
    for path in ["/v1/audit", "/v1/status"] {
        assert_eq!(get(&s, path, "tok-approver").await.0, 403, "{path}");
    }
}

/// A plugin that keeps its last request in guest memory, used by both
/// projects under the same agent and session names, tells project B
/// nothing of what project A sent.
#[tokio::test]
async fn a_plugin_that_remembers_never_tells_one_project_what_another_sent() {
    // Both projects bind `evil` to the hostile plugin, and platform has an
    // agent of the same name as invoice-processor's (names are unique within
    // a project only), so only the project tells the two callers apart.
    let services = "services:\n  evil: { plugin: hostile }\n";
    let twin = format!(
        "{services}agents:\n  claude-invoice-01:\n    tokens: [\"{}\"]\n    policies: [\"evil:remember on files/*\"]\n",
        token_hash("tok-twin")
    );
    let (s, _cfg) = setup(
        "plugins:\n  hostile:\n    path: hostile.wasm\n    isolation: pooled\n",
        (services, &twin),
    )
    .await;
    let a = decide(
        &s,
        "tok-invoice",
        req(
            "evil",
            "remember",
            "files/invoice-SECRET",
            json!({"note": "invoice-attribute-SECRET"}),
        ),
    )
    .await;
    assert_eq!(a.0, 200, "{}", a.1);
    let again = decide(
        &s,
        "tok-invoice",
        req("evil", "remember", "files/2", json!({})),
    )
    .await;
    assert!(
        again.1["reason"]
            .as_str()
            .unwrap()
            .contains("invoice-SECRET"),
        "the fixture remembers within a project: {}",
        again.1
    );
    let b = decide(
        &s,
        "tok-twin",
        req("evil", "remember", "files/b", json!({})),
    )
    .await;
    assert_eq!(b.0, 200, "{}", b.1);
    assert_eq!(b.1["project"], "platform", "{}", b.1);
    assert!(
        b.1["reason"].as_str().unwrap().starts_with("remembered: "),
        "{}",
        b.1
    );
    assert!(
        !b.1.to_string().contains("SECRET"),
        "project platform saw project invoice-processor's data: {}",
        b.1
    );
}

#[tokio::test]
async fn a_broken_file_in_one_project_keeps_it_on_its_last_good_version() {
    // The watcher may reload before the admin API does: either way the
    // outcome is the same.
    let (s, cfg) = setup("", ("", "")).await;
    let root = cfg.dir.path().join("policies");
    let prod = req(
        "aws",
        "ecs:UpdateService",
        "arn:aws:ecs:us-east-1:1:service/prod-web",
        json!({}),
    );
    let raw = req(
        "aws",
        "s3:GetObject",
        "arn:aws:s3:::invoice-data/raw/a.csv",
        json!({}),
    );
    let (_, st) = get(&s, "/v1/status", "tok-ops").await;
    let platform_version = st["projects"][1]["version"].as_str().unwrap().to_owned();

    // platform's file breaks: seed 000's two-agent block pasted into it,
    // which would merge two agents' rights; invoice-processor's changes
    // (raw reads denied).
    std::fs::write(
        root.join("platform/ci-runner.yaml"),
        format!(
            "project: platform\n{CODE_REVIEWER}\n{}",
            CI_RUNNER.split("budget:").next().unwrap()
        ),
    )
    .unwrap();
    let invoice = INVOICE.replace(
        "    # Hard limits\n    deny:\n",
        "    # Hard limits\n    deny:\n      - service: aws\n        actions: [\"s3:GetObject\"]\n",
    );
    assert_ne!(invoice, INVOICE);
    std::fs::write(root.join("invoice/policy.yaml"), &invoice).unwrap();
    let (status, answer) = reload(&s).await;
    assert_eq!(status, 422, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("platform/ci-runner.yaml:8:1:"),
        "{message}"
    );
    assert!(message.contains("`policies` is given again"), "{message}");
    assert!(message.contains("agents:"), "{message}");
    assert!(
        message.contains("other projects' changes were installed"),
        "{message}"
    );
    // invoice-processor runs its new version; platform its last good one.
    assert_eq!(
        decide(&s, "tok-invoice", raw.clone()).await.1["decision"],
        "deny"
    );
    let (_, answer) = decide(&s, "tok-ci", prod.clone()).await;
    assert_eq!(answer["decision"], "approval_required", "{answer}");
    assert_eq!(answer["policy_version"], platform_version.as_str());
    let (_, st) = get(&s, "/v1/status", "tok-ops").await;
    assert_eq!(st["last_reload"]["ok"], false, "{st}");
    assert_eq!(st["last_reload"]["failed"][0]["folder"], "platform", "{st}");
    // Its administrator sees why; the other project's does not.
    let (_, st) = get(&s, "/v1/status", "tok-plat-admin").await;
    assert_eq!(st["refused"][0]["folder"], "platform", "{st}");
    let (_, st) = get(&s, "/v1/status", "tok-inv-admin").await;
    assert_eq!(st["refused"], json!([]), "{st}");
    // The refusal is in platform's own trail, readable by its administrator.
    let (_, page) = get(&s, "/v1/audit?limit=1000", "tok-plat-admin").await;
    assert!(
        page["records"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["event"] == "policy_reload_refused"),
        "{page}"
    );

    // Breaking what holds the projects together (one token for agents of
    // both) refuses the whole reload: nothing changes anywhere.
    std::fs::write(
        root.join("platform/ci-runner.yaml"),
        format!("project: platform\n{CI_RUNNER}"),
    )
    .unwrap();
    std::fs::write(
        root.join("platform/identities.yaml"),
        format!(
            "project: platform\nidentities:\n  code-reviewer: [\"{}\"]\n  ci-runner: [\"{}\"]\n",
            token_hash("tok-reviewer"),
            token_hash("tok-invoice")
        ),
    )
    .unwrap();
    std::fs::write(root.join("invoice/policy.yaml"), INVOICE).unwrap();
    let (status, answer) = reload(&s).await;
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("hold the same token hash"),
        "{answer}"
    );
    assert_eq!(
        decide(&s, "tok-invoice", raw).await.1["decision"],
        "deny",
        "invoice-processor kept its version"
    );
    assert_eq!(
        decide(&s, "tok-ci", prod).await.1["policy_version"],
        platform_version.as_str()
    );
}

fn palisade(args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(BIN).args(args).output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn check_eval_and_test_work_on_a_directory_of_projects() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("policies");
    write_projects(&root, ("", ""));
    let root_s = root.to_str().unwrap();
    let (ok, out) = palisade(&["check", root_s]);
    assert!(ok, "{out}");
    assert!(
        out.contains("project `invoice-processor`") && out.contains("project `platform`"),
        "{out}"
    );
    assert!(out.contains("(2 projects): valid"), "{out}");

    let request = dir.path().join("request.yaml");
    std::fs::write(&request, "agent: ci-runner\nservice: aws\naction: ecs:UpdateService\nresource: arn:aws:ecs:us-east-1:1:service/prod-web\n").unwrap();
    let (ok, out) = palisade(&["eval", root_s, "--request", request.to_str().unwrap()]);
    assert!(!ok && out.contains("name one with `project:`"), "{out}");
    let out = std::process::Command::new(BIN)
        .args([
            "eval",
            root_s,
            "--project",
            "platform",
            "--request",
            request.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["project"], "platform");
    assert_eq!(answer["decision"], "approval_required");

    let tests = dir.path().join("platform_test.yaml");
    std::fs::write(
        &tests,
        "policy: policies\nproject: platform\ntests:\n  - name: prod is gated\n    request: {agent: ci-runner, service: aws, action: \"ecs:UpdateService\", resource: \"arn:aws:ecs:us-east-1:1:service/prod-web\"}\n    expect: approval_required\n  - name: the invoice agent, by its project\n    request: {project: invoice-processor, agent: claude-invoice-01, service: aws, action: \"iam:ListUsers\", resource: \"*\"}\n    expect: deny\n",
    )
    .unwrap();
    let (ok, out) = palisade(&["test", tests.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert!(
        out.contains("project `platform`") && out.contains("project `invoice-processor`"),
        "{out}"
    );
    assert!(out.contains("2 passed, 0 failed"), "{out}");
}

#[test]
fn seed_000s_two_agent_block_is_refused_with_the_agents_form() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("agents.yaml");
    std::fs::write(
        &file,
        format!(
            "{CODE_REVIEWER}\n{}",
            CI_RUNNER.split("budget:").next().unwrap()
        ),
    )
    .unwrap();
    let (ok, out) = palisade(&["check", file.to_str().unwrap()]);
    assert!(!ok, "{out}");
    assert!(out.contains("agents.yaml:7:1:"), "{out}");
    assert!(out.contains("first at line 2"), "{out}");
    assert!(
        out.contains("code-reviewer:") && out.contains("ci-runner:"),
        "{out}"
    );
}

/// A project whose files are broken when the server starts is not served;
/// the other projects start and decide, and the status and the trail say
/// which file failed. A role naming the broken project stops the start,
/// with both causes named.
#[tokio::test]
async fn a_project_broken_at_start_does_not_stop_the_others() {
    let cfg = ConfigDir::new("policy: policies\n");
    let root = cfg.dir.path().join("policies");
    write_projects(&root, ("", ""));
    std::fs::write(
        root.join("platform/ci-runner.yaml"),
        "project: platform\npolicies: [\n",
    )
    .unwrap();
    // Roles naming platform would make the mix inconsistent: the start stops.
    let config = cfg.config();
    let data = cfg.data();
    let (status, stderr) = support::start_failing(&[
        "--config",
        config.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert!(!status.success());
    assert!(stderr.contains("names project `platform`"), "{stderr}");
    assert!(
        stderr.contains("refused too: project folder `platform/`: platform/ci-runner.yaml:"),
        "{stderr}"
    );

    std::fs::write(
        root.join("people.yaml"),
        format!("admins:\n  ops: [\"{}\"]\n", token_hash("tok-ops")),
    )
    .unwrap();
    let s = cfg.start().await;
    let raw = req(
        "aws",
        "s3:GetObject",
        "arn:aws:s3:::invoice-data/raw/a.csv",
        json!({}),
    );
    assert_eq!(decide(&s, "tok-invoice", raw).await.1["decision"], "allow");
    assert_eq!(
        decide(&s, "tok-ci", req("git", "read", "repos/a", json!({})))
            .await
            .0,
        401
    );
    let (_, st) = get(&s, "/v1/status", "tok-ops").await;
    assert_eq!(st["last_reload"]["trigger"], "start", "{st}");
    assert_eq!(st["last_reload"]["ok"], false, "{st}");
    assert_eq!(st["last_reload"]["failed"][0]["folder"], "platform", "{st}");
    let (_, page) = get(&s, "/v1/audit?limit=1000", "tok-ops").await;
    assert!(
        page["records"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["event"] == "policy_reload_refused" && r["details"]["folder"] == "platform"),
        "{page}"
    );
    // Mended, a reload serves it.
    std::fs::write(
        root.join("platform/ci-runner.yaml"),
        format!("project: platform\n{CI_RUNNER}"),
    )
    .unwrap();
    let (status, answer) = reload(&s).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        decide(&s, "tok-ci", req("git", "read", "repos/a", json!({})))
            .await
            .1["decision"],
        "allow"
    );
}

/// A project's change is blamed on that project: a new folder that claims
/// an existing project's name or copies another agent's token hash is
/// refused, while another project's good change installs and the projects
/// that did not change serve on. A directory of projects never silently
/// turns into one project.
#[tokio::test]
async fn a_project_that_clashes_with_others_is_refused_alone() {
    let (s, cfg) = setup("", ("", "")).await;
    let root = cfg.dir.path().join("policies");
    let raw = req(
        "aws",
        "s3:GetObject",
        "arn:aws:s3:::invoice-data/raw/a.csv",
        json!({}),
    );
    let prod = req(
        "aws",
        "ecs:UpdateService",
        "arn:aws:ecs:us-east-1:1:service/prod-web",
        json!({}),
    );
    let (_, before) = decide(&s, "tok-ci", prod.clone()).await;

    std::fs::create_dir(root.join("aaa-copycat")).unwrap();
    std::fs::write(
        root.join("aaa-copycat/p.yaml"),
        "project: platform\nagents:\n  ci-runner:\n    policies: [\"aws:* on *\"]\n",
    )
    .unwrap();
    // A project whose own plugins' limits leave no room in the engine.
    std::fs::create_dir(root.join("greedy")).unwrap();
    std::fs::write(
        root.join("greedy/p.yaml"),
        "project: greedy\nplugins:\n  g:\n    builtin: glob\n    limits: {max_instances: 100000}\n",
    )
    .unwrap();
    std::fs::create_dir(root.join("borrower")).unwrap();
    std::fs::write(
        root.join("borrower/p.yaml"),
        format!(
            "project: borrower\nagents:\n  thief:\n    tokens: [\"{}\"]\n    policies: [\"aws:* on *\"]\n",
            token_hash("tok-ci")
        ),
    )
    .unwrap();
    let invoice = INVOICE.replace(
        "    # Hard limits\n    deny:\n",
        "    # Hard limits\n    deny:\n      - service: aws\n        actions: [\"s3:GetObject\"]\n",
    );
    std::fs::write(root.join("invoice/policy.yaml"), &invoice).unwrap();
    let (status, answer) = reload(&s).await;
    assert_eq!(status, 422, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("`aaa-copycat/`")
            && message.contains("project `platform` is also defined"),
        "{message}"
    );
    assert!(
        message.contains("`borrower/`") && message.contains("hold the same token hash"),
        "{message}"
    );
    assert!(
        message.contains("`greedy/`") && message.contains("the project's own plugins"),
        "{message}"
    );
    // The good change installed; platform serves as before, to its own agent.
    assert_eq!(decide(&s, "tok-invoice", raw).await.1["decision"], "deny");
    let (_, after) = decide(&s, "tok-ci", prod).await;
    assert_eq!(after["project"], "platform");
    assert_eq!(after["decision"], before["decision"]);
    assert_eq!(after["policy_version"], before["policy_version"]);
    let (_, st) = get(&s, "/v1/status", "tok-ops").await;
    let listed: Vec<&str> = st["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["folder"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["invoice", "platform"], "{st}");

    // A rename that a role still names is blamed on the project renamed;
    // its administrator learns that it clashes, not with what.
    for file in ["code-reviewer.yaml", "ci-runner.yaml", "identities.yaml"] {
        let path = root.join("platform").join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(
            &path,
            text.replace("project: platform\n", "project: platform2\n"),
        )
        .unwrap();
    }
    std::fs::write(root.join("invoice/policy.yaml"), INVOICE).unwrap();
    let (status, answer) = reload(&s).await;
    assert_eq!(status, 422, "{answer}");
    let raw = req(
        "aws",
        "s3:GetObject",
        "arn:aws:s3:::invoice-data/raw/a.csv",
        json!({}),
    );
    assert_eq!(
        decide(&s, "tok-invoice", raw).await.1["decision"],
        "allow",
        "invoice's change went in: {answer}"
    );
    assert_eq!(
        decide(&s, "tok-ci", req("git", "read", "repos/a", json!({})))
            .await
            .1["project"],
        "platform"
    );
    let (_, st) = get(&s, "/v1/status", "tok-ops").await;
    let failed = st["last_reload"]["failed"].as_array().unwrap();
    let platform = failed
        .iter()
        .find(|f| f["folder"] == "platform")
        .unwrap_or_else(|| panic!("{st}"));
    assert!(
        platform["error"]
            .as_str()
            .unwrap()
            .contains("names project `platform`"),
        "{st}"
    );
    let (_, st) = get(&s, "/v1/status", "tok-plat-admin").await;
    let shown = st["refused"][0]["error"].as_str().unwrap();
    assert!(
        shown.contains("clashes with another project") && !shown.contains("people.yaml"),
        "{st}"
    );

    // Every project folder gone: refused, not one empty project.
    for folder in ["aaa-copycat", "borrower", "greedy", "invoice", "platform"] {
        std::fs::remove_dir_all(root.join(folder)).unwrap();
    }
    let (status, answer) = reload(&s).await;
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no longer holds project folders"),
        "{answer}"
    );
    assert_eq!(
        decide(&s, "tok-ci", req("git", "read", "repos/a", json!({})))
            .await
            .1["decision"],
        "allow"
    );
}

/// A project's own plugin is read from the project's folder and cannot
/// reach another's: platform runs the component its folder holds, while
/// invoice-processor, pointing into platform's folder, is refused (and,
/// at a start, not served) without stopping platform.
#[tokio::test]
async fn a_project_runs_only_components_its_own_folder_holds() {
    let cfg = ConfigDir::new("policy: policies\n");
    let root = cfg.dir.path().join("policies");
    write_projects(
        &root,
        (
            "plugins:\n  theirs:\n    path: ../platform/hostile.wasm\n",
            "plugins:\n  mine:\n    path: hostile.wasm\nservices:\n  evil: { plugin: mine }\n",
        ),
    );
    std::fs::copy(HOSTILE, root.join("platform/hostile.wasm")).unwrap();
    // No role may name a project that is not served.
    std::fs::write(
        root.join("people.yaml"),
        format!("admins:\n  ops: [\"{}\"]\n", token_hash("tok-ops")),
    )
    .unwrap();
    let s = cfg.start().await;
    let (status, answer) =
        decide(&s, "tok-ci", req("evil", "remember", "files/x", json!({}))).await;
    assert_eq!(status, 200, "{answer}");
    assert!(
        answer["reason"]
            .as_str()
            .unwrap()
            .starts_with("remembered: "),
        "{answer}"
    );
    let raw = req(
        "aws",
        "s3:GetObject",
        "arn:aws:s3:::invoice-data/raw/a.csv",
        json!({}),
    );
    assert_eq!(decide(&s, "tok-invoice", raw).await.0, 401);
    let (_, st) = get(&s, "/v1/status", "tok-ops").await;
    let failed = &st["last_reload"]["failed"][0];
    assert_eq!(failed["folder"], "invoice", "{st}");
    assert!(
        failed["error"].as_str().unwrap().contains("cannot leave"),
        "{st}"
    );
    let (_, plugins) = get(&s, "/v1/plugins", "tok-ops").await;
    let mine = plugins["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "mine")
        .unwrap_or_else(|| panic!("{plugins}"));
    assert_eq!(mine["project"], "platform", "{plugins}");
}

/// The export files under `dir`, with what `palisade audit verify` says of
/// them (one JSON report per file).
fn verified_exports(dir: &Path) -> Vec<Value> {
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| p.to_str().unwrap().to_owned())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "nothing exported to {}", dir.display());
    let mut args = vec!["audit", "verify"];
    args.extend(files.iter().map(String::as_str));
    let (ok, out) = palisade(&args);
    assert!(ok, "{out}");
    out.lines()
        .map(|l| serde_json::from_str(l.strip_prefix("ok: ").unwrap()).unwrap())
        .collect()
}

#[tokio::test]
async fn each_project_exports_and_keeps_its_own_trail_as_its_audit_block_says() {
    let cfg = ConfigDir::new("policy: policies\n").with_file("hostile.wasm", HOSTILE);
    let root = cfg.dir.path().join("policies");
    write_projects(&root, ("", ""));
    // Seed 000's block for `platform` (to a directory: no bucket in a
    // test), another for the invoice processor, and the server's own.
    std::fs::write(
        root.join("platform/audit.yaml"),
        "project: platform\naudit:\n  retention: 365d\n  export:\n    destination: platform-export/\n    \
         format: json\n    frequency: hourly\n",
    )
    .unwrap();
    std::fs::write(
        root.join("invoice/audit.yaml"),
        "project: invoice-processor\naudit:\n  retention: 30d\n  export:\n    destination: invoice-export/\n    \
         frequency: daily\n",
    )
    .unwrap();
    std::fs::write(
        root.join("audit.yaml"),
        "audit:\n  export:\n    destination: server-export/\n",
    )
    .unwrap();
    let s = cfg.start().await;
    let read = req(
        "aws",
        "s3:GetObject",
        "arn:aws:s3:::invoice-data/raw/1.csv",
        json!({}),
    );
    let staging = req(
        "aws",
        "ecs:UpdateService",
        "arn:aws:ecs:us-east-1:1:service/staging-api",
        json!({}),
    );
    for _ in 0..3 {
        assert_eq!(decide(&s, "tok-invoice", read.clone()).await.0, 200);
        assert_eq!(decide(&s, "tok-ci", staging.clone()).await.0, 200);
    }
    // Stopping exports everything, each trail where its block says.
    assert!(s.terminate().success());
    let data = cfg.data();
    for (dir, project, agent) in [
        (
            "invoice-export/invoice-processor",
            "invoice-processor",
            "claude-invoice-01",
        ),
        ("platform-export/platform", "platform", "ci-runner"),
    ] {
        let reports = verified_exports(&data.join(dir));
        assert!(
            reports.iter().all(|r| r["project"] == project),
            "{reports:?}"
        );
        let text: String = std::fs::read_dir(data.join(dir))
            .unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect();
        assert_eq!(text.matches(&format!("\"agent\":\"{agent}\"")).count(), 3);
        let other = if project == "platform" {
            "invoice-processor"
        } else {
            "platform"
        };
        assert!(
            !text.contains(&format!("\"project\":\"{other}\"")),
            "{text}"
        );
    }
    // The server's own trail (the whole root's load) goes to the server's
    // destination, and no project's records with it.
    let server = verified_exports(&data.join("server-export"));
    assert!(
        server.iter().all(|r| r.get("project").is_none()),
        "{server:?}"
    );
    assert!(!data.join("server-export/platform").exists());

    // Retention of one project leaves the other's trail whole.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let data_s = data.to_str().unwrap();
    // A project the store has no trail of, or no project name at all, is
    // an error that changes nothing (not "nothing to remove").
    for bad in ["invoice-procesor", ""] {
        let (ok, out) = palisade(&[
            "audit",
            "retain",
            "--data-dir",
            data_s,
            "--older-than",
            "1s",
            "--project",
            bad,
        ]);
        assert!(!ok, "{bad}: {out}");
        assert!(
            out.contains("no trail of project") || out.contains("project name"),
            "{out}"
        );
    }
    let (ok, out) = palisade(&[
        "audit",
        "retain",
        "--data-dir",
        data_s,
        "--older-than",
        "1s",
        "--project",
        "invoice-processor",
    ]);
    assert!(ok, "{out}");
    assert!(
        out.contains("project `invoice-processor`: removed"),
        "{out}"
    );
    let (ok, out) = palisade(&["audit", "verify", "--data-dir", data_s]);
    assert!(ok, "{out}");
    assert!(
        out.contains("project `invoice-processor`:")
            && out.contains("after the retention checkpoint"),
        "{out}"
    );
    let count = |agent: &str| {
        let (ok, out) = palisade(&[
            "audit",
            "replay",
            "--data-dir",
            data_s,
            "--agent",
            agent,
            "--json",
        ]);
        assert!(ok || out.contains("no records match"), "{out}");
        out.lines().filter(|l| l.starts_with('{')).count()
    };
    assert_eq!(count("claude-invoice-01"), 0);
    assert_eq!(count("ci-runner"), 3);
}
