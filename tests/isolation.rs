//! End to end, with the hostile fixture: a plugin instance never serves
//! two agents (nor a decision and a masking call), and each plugin is held
//! to its share of the server, so that one plugin's load never fails
//! another's calls.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use support::{ConfigDir, HOSTILE, Server, token_hash};

/// Agents `alice`, `bob` and `carol` (tokens `tok-<name>`) may do anything
/// on `files` and `evil`; the admin `ops` has `tok-admin`.
const AGENTS: &str = r#"
project: acme
agents:
  alice:
    allow:
      - service: files
        actions: ["*"]
        resources: ["*"]
      - service: evil
        actions: ["*"]
        resources: ["*"]
  bob:
    allow:
      - service: files
        actions: ["*"]
        resources: ["*"]
      - service: evil
        actions: ["*"]
        resources: ["*"]
  carol:
    allow:
      - service: files
        actions: ["*"]
        resources: ["*"]
      - service: evil
        actions: ["*"]
        resources: ["*"]
"#;

async fn server(policy: &str, config: &str) -> (Server, ConfigDir) {
    let cfg =
        ConfigDir::new(&format!("policy: policies\n{config}")).with_file("hostile.wasm", HOSTILE);
    let dir = cfg.dir.path().join("policies");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("p.yaml"), format!("{AGENTS}{policy}")).unwrap();
    let ids: String = ["alice", "bob", "carol"]
        .iter()
        .map(|a| format!("  {a}: [\"{}\"]\n", token_hash(&format!("tok-{a}"))))
        .collect();
    std::fs::write(
        dir.join("zz-identities.yaml"),
        format!(
            "identities:\n{ids}admins:\n  ops: [\"{}\"]\n",
            token_hash("tok-admin")
        ),
    )
    .unwrap();
    let server = cfg.start().await;
    (server, cfg)
}

async fn post(server: &Server, path: &str, token: &str, body: Value) -> Value {
    let resp = reqwest::Client::new()
        .post(server.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let answer: Value = resp.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 200, "{path}: {answer}");
    answer
}

async fn decide(
    server: &Server,
    agent: &str,
    session: &str,
    action: &str,
    resource: &str,
    attributes: Value,
) -> Value {
    let body = json!({"session": session, "service": resource.split('/').next().unwrap(),
        "action": action, "resource": resource, "attributes": attributes});
    post(
        server,
        "/v1/decide?explain=true",
        &format!("tok-{agent}"),
        body,
    )
    .await
}

async fn mask(server: &Server, agent: &str, session: &str, text: &str) -> Value {
    let body = json!({"session": session, "service": "files", "text": text});
    post(server, "/v1/mask", &format!("tok-{agent}"), body).await
}

/// Fails if `what` carries anything alice sent.
fn assert_nothing_of_alice(what: &Value, context: &str) {
    let text = what.to_string();
    for marker in ["alice", "SECRET", "4111"] {
        assert!(
            !text.contains(marker),
            "{context} carries `{marker}`: {text}"
        );
    }
}

/// Issue 14, item 1: in the default configuration, a plugin that keeps its
/// last request (and last masked text) in a static tells bob nothing alice
/// sent, in his decisions, his masking answers or his audit records, even
/// under her session's name; alice herself still sees what she sent, which
/// shows the plugin does remember.
#[tokio::test]
async fn a_plugin_that_remembers_never_tells_one_agent_what_another_sent() {
    let policy = "chain: [hostile]\nservices:\n  files: { masking: [hostile] }\n";
    let (s, _cfg) = server(policy, "plugins:\n  hostile:\n    path: hostile.wasm\n").await;
    let card = "4111 1111 1111 1111";

    let a = decide(
        &s,
        "alice",
        "shared-s",
        "remember",
        "files/alice-resource-SECRET",
        json!({"card": card, "note": "remember alice-attribute-SECRET"}),
    )
    .await;
    assert_eq!(a["reason"], "remembered: []", "{a}");
    let m = mask(
        &s,
        "alice",
        "shared-s",
        &format!("remember alice-mask-SECRET {card}"),
    )
    .await;
    // Her masking call sees what her decision's audit record was masked
    // with: the same caller, the same masking instance.
    assert!(m.to_string().contains("alice-attribute-SECRET"), "{m}");
    // Alice's next decision sees her previous one: the fixture remembers.
    let a = decide(
        &s,
        "alice",
        "shared-s",
        "remember",
        "files/alice-resource-2",
        json!({"note": "remember"}),
    )
    .await;
    assert!(
        a["reason"]
            .as_str()
            .unwrap()
            .contains("alice-resource-SECRET"),
        "{a}"
    );

    // Bob, under alice's session name and with the same attributes.
    let b = decide(
        &s,
        "bob",
        "shared-s",
        "remember",
        "files/bob-resource",
        json!({"note": "remember"}),
    )
    .await;
    assert_eq!(b["decision"], "deny", "{b}");
    assert!(
        b["reason"].as_str().unwrap().starts_with("remembered: "),
        "{b}"
    );
    assert_nothing_of_alice(&b, "bob's decision");
    let m = mask(&s, "bob", "shared-s", "remember").await;
    assert_nothing_of_alice(&m, "bob's masking answer");
    let b = decide(
        &s,
        "bob",
        "bob-s",
        "remember",
        "files/bob-resource",
        json!({"note": "remember"}),
    )
    .await;
    assert_nothing_of_alice(&b, "bob's decision in his own session");

    let resp = reqwest::Client::new()
        .get(s.url("/v1/audit?agent=bob"))
        .bearer_auth("tok-admin")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let page: Value = resp.json().await.unwrap();
    let records = page["records"].as_array().unwrap();
    assert!(records.len() >= 2, "{page}");
    for r in records {
        assert_nothing_of_alice(r, "bob's audit record");
    }
}

/// Fires `n` decisions of `agent` on `action` at `evil/…` (the hostile
/// plugin); each answer is sent on the returned channel as it comes.
fn fire(
    server: &Arc<Server>,
    agent: &'static str,
    action: &'static str,
    n: usize,
) -> tokio::sync::mpsc::UnboundedReceiver<Value> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    for i in 0..n {
        let (server, tx) = (server.clone(), tx.clone());
        tokio::spawn(async move {
            let a = decide(&server, agent, "s", action, &format!("evil/{i}"), json!({})).await;
            let _ = tx.send(a);
        });
    }
    rx
}

/// Receives `n` answers (each within 30 s) and checks each was refused
/// before the plugin ran, naming the bound.
async fn refused(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Value>, n: usize, setting: &str) {
    for _ in 0..n {
        let a = tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .expect("an answer within 30 s")
            .unwrap();
        assert_eq!(a["decision"], "deny", "{a}");
        assert_eq!(a["explain"][0]["error"], "too_many_calls", "{a}");
        let reason = a["reason"].as_str().unwrap();
        assert!(reason.contains(&format!("`limits.{setting}`")), "{a}");
    }
}

/// Issue 14, item 6: a plugin spinning in more calls than the whole engine
/// has instances is held to its share: the calls over its bounds are denied
/// at once with `too_many_calls` (per agent, then per plugin), and
/// decisions that do not touch it keep succeeding. Before, the spinning
/// calls took every instance of the engine and those decisions failed.
#[tokio::test]
async fn a_plugin_at_its_bounds_is_refused_by_name_and_others_keep_deciding() {
    let config = "engine: {max_instances: 16}\nplugins:\n  hostile:\n    path: hostile.wasm\n    \
        limits: {fuel: 1000000000000, deadline_ms: 30000, max_instances: 4, max_calls_per_agent: 3}\n";
    let (s, _cfg) = server("services:\n  evil: { plugin: hostile }\n", config).await;
    let s = Arc::new(s);

    // Alice alone fires as many endless loops as the engine has instances:
    // three run (her bound), the others are refused at once.
    let mut alice = fire(&s, "alice", "loop", 16);
    refused(&mut alice, 13, "max_calls_per_agent").await;
    // Bob may have three too, but the plugin has room for one more only.
    let mut bob = fire(&s, "bob", "loop", 3);
    refused(&mut bob, 2, "max_instances").await;
    let a = decide(&s, "carol", "s", "ok", "evil/x", json!({})).await;
    assert_eq!(a["explain"][0]["error"], "too_many_calls", "{a}");

    // Four calls spin in the hostile plugin; decisions on `files` (the
    // glob plugin) go on, each allowed.
    for i in 0..20 {
        let agent = ["carol", "bob"][i % 2];
        let a = decide(&s, agent, "s", "read", &format!("files/{i}"), json!({})).await;
        assert_eq!(a["decision"], "allow", "{a}");
    }
    assert!(
        alice.try_recv().is_err() && bob.try_recv().is_err(),
        "a spinning call ended before the other decisions were made"
    );
}
