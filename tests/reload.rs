//! End to end: hot reload of the policy on a running server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::{Value, json};
use std::time::Duration;
use support::{ConfigDir, HOSTILE, Server, token_hash};

const INVOICE: &str = include_str!("policies/invoice-processor.yaml");

async fn setup() -> (Server, ConfigDir) {
    let cfg = ConfigDir::new("policy: policies\n");
    let dir = cfg.dir.path().join("policies");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("invoice.yaml"), INVOICE).unwrap();
    let ids = format!(
        "identities:\n  claude-invoice-01: [\"{}\"]\nadmins:\n  ops: [\"{}\"]\n",
        token_hash("tok-agent"),
        token_hash("tok-admin")
    );
    std::fs::write(dir.join("zz-identities.yaml"), ids).unwrap();
    let server = cfg.start().await;
    (server, cfg)
}

async fn push_main(s: &Server) -> Value {
    let body = json!({"session": "s", "service": "git", "action": "push", "resource": "acme/billing", "attributes": {"branch": "main"}});
    let resp = reqwest::Client::new()
        .post(s.url("/v1/decide"))
        .bearer_auth("tok-agent")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

async fn status(s: &Server, token: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .get(s.url("/v1/status"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (
        resp.status().as_u16(),
        resp.json().await.unwrap_or(Value::Null),
    )
}

async fn admin_reload(s: &Server, token: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(s.url("/v1/admin/reload"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (
        resp.status().as_u16(),
        resp.json().await.unwrap_or(Value::Null),
    )
}

/// Polls `/v1/status` (bounded: 200 × 50 ms) until `done` holds.
async fn wait_status(s: &Server, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..200 {
        let (_, st) = status(s, "tok-admin").await;
        if done(&st) {
            return st;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "status never reached the expected state: {}",
        status(s, "tok-admin").await.1
    );
}

const DENY_PUSH: &str = "\nextra:\n";

#[tokio::test]
async fn a_file_change_is_swapped_in_and_a_bad_one_is_refused() {
    let (s, cfg) = setup().await;
    let file = cfg.dir.path().join("policies/invoice.yaml");
    let before = push_main(&s).await;
    assert_eq!(before["decision"], "approval_required");
    let v1 = before["policy_version"].as_str().unwrap().to_owned();

    // A good change: deny all pushes.
    let tightened = INVOICE.replace(
        "      - service: stripe\n        actions: [\"charges:create\"",
        "      - service: git\n        actions: [push]\n      - service: stripe\n        actions: [\"charges:create\"",
    );
    assert_ne!(tightened, INVOICE);
    std::fs::write(&file, &tightened).unwrap();
    let st = wait_status(&s, |st| st["policy_version"] != v1.as_str()).await;
    assert_eq!(st["last_reload"]["trigger"], "file");
    assert_eq!(st["last_reload"]["ok"], true);
    let after = push_main(&s).await;
    assert_eq!(after["decision"], "deny", "{after}");
    let v2 = after["policy_version"].as_str().unwrap().to_owned();
    assert_ne!(v1, v2);

    // A bad change: refused, v2 keeps serving, status says where and why.
    std::fs::write(&file, format!("{tightened}{DENY_PUSH}")).unwrap();
    let st = wait_status(&s, |st| st["last_reload"]["ok"] == false).await;
    let error = st["last_reload"]["error"].as_str().unwrap();
    assert!(
        error.contains("invoice.yaml:") && error.contains("unknown field `extra`"),
        "{error}"
    );
    assert_eq!(st["policy_version"], v2.as_str());
    assert_eq!(st["last_reload"]["serving"], v2.as_str());
    let still = push_main(&s).await;
    assert_eq!(
        (still["decision"].as_str(), still["policy_version"].as_str()),
        (Some("deny"), Some(v2.as_str()))
    );
    // The log says why.
    s.wait_for_log("policy change refused").await;
}

#[tokio::test]
async fn the_admin_api_reloads_and_only_admins_may() {
    let (s, cfg) = setup().await;
    let file = cfg.dir.path().join("policies/invoice.yaml");
    // Agents cannot administer, and unknown tokens cannot either.
    assert_eq!(admin_reload(&s, "tok-agent").await.0, 401);
    assert_eq!(admin_reload(&s, "nope").await.0, 401);
    assert_eq!(status(&s, "tok-agent").await.0, 401);

    let (code, body) = admin_reload(&s, "tok-admin").await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        body["policy_version"], body["previous_version"],
        "nothing changed"
    );

    // A bad policy through the API: 422 with the reason, old policy serving.
    std::fs::write(&file, "project: [unclosed\n").unwrap();
    let (code, body) = admin_reload(&s, "tok-admin").await;
    assert_eq!(code, 422, "{body}");
    assert_eq!(body["error"]["code"], "invalid_policy");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("invoice.yaml:"),
        "{body}"
    );
    assert_eq!(push_main(&s).await["decision"], "approval_required");
    // The administrator who asked is named, in the status and in the trail.
    let (_, st) = status(&s, "tok-admin").await;
    assert_eq!(st["last_reload"]["requested_by"], "ops", "{st}");
    let refused = reqwest::Client::new()
        .get(s.url("/v1/audit?limit=1000"))
        .bearer_auth("tok-admin")
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let record = refused["records"]
        .as_array()
        .unwrap()
        .iter()
        .rfind(|r| r["event"] == "policy_reload_refused")
        .cloned()
        .unwrap_or_else(|| panic!("no refused reload recorded: {refused}"));
    assert_eq!(record["details"]["requested_by"], "ops", "{record}");
    assert_eq!(record["details"]["trigger"], "api", "{record}");
}

#[tokio::test]
async fn sighup_reloads() {
    let (s, _cfg) = setup().await;
    let ok = std::process::Command::new("kill")
        .args(["-HUP", &s.pid().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let st = wait_status(&s, |st| st["last_reload"]["trigger"] == "sighup").await;
    assert_eq!(st["last_reload"]["ok"], true);
    assert_eq!(push_main(&s).await["decision"], "approval_required");
}

#[tokio::test]
async fn an_in_flight_decision_finishes_on_the_version_it_started_with() {
    let cfg = ConfigDir::new(
        "policy: policies\nplugins:\n  hostile:\n    path: hostile.wasm\n    limits: {fuel: 100000000000, deadline_ms: 5000}\n",
    )
    .with_file("hostile.wasm", HOSTILE);
    let dir = cfg.dir.path().join("policies");
    std::fs::create_dir(&dir).unwrap();
    let allow = "agents:\n  a:\n    allow:\n      - service: files\n        actions: [\"*\"]\n        resources: [\"*\"]\nchain: [hostile]\n";
    std::fs::write(dir.join("p.yaml"), allow).unwrap();
    std::fs::write(
        dir.join("zz-ids.yaml"),
        format!(
            "identities:\n  a: [\"{}\"]\nadmins:\n  ops: [\"{}\"]\n",
            token_hash("tok-a"),
            token_hash("tok-admin")
        ),
    )
    .unwrap();
    let s = cfg.start().await;
    let v1 = status(&s, "tok-admin").await.1["policy_version"]
        .as_str()
        .unwrap()
        .to_owned();

    // A decision that takes 1 s inside the hostile plugin...
    let url = s.url("/v1/decide");
    let slow = tokio::spawn(async move {
        let body = json!({"session": "s", "service": "files", "action": "slow", "resource": "f"});
        let r = reqwest::Client::new()
            .post(url)
            .bearer_auth("tok-a")
            .json(&body)
            .send()
            .await
            .unwrap();
        r.json::<Value>().await.unwrap()
    });
    // Once it runs in the plugin (its snapshot taken)...
    s.wait_for_log("hostile: slow started").await;
    // ...the policy changes to deny everything.
    std::fs::write(dir.join("p.yaml"), allow.replace("    allow:", "    deny:")).unwrap();
    let (code, body) = admin_reload(&s, "tok-admin").await;
    assert_eq!(code, 200, "{body}");
    let v2 = body["policy_version"].as_str().unwrap().to_owned();
    assert_ne!(v1, v2);

    let answer = slow.await.unwrap();
    assert_eq!(answer["decision"], "allow", "{answer}");
    assert_eq!(
        answer["policy_version"],
        v1.as_str(),
        "decided by the version it started with"
    );
    let body = json!({"session": "s", "service": "files", "action": "ok", "resource": "f"});
    let r = reqwest::Client::new()
        .post(s.url("/v1/decide"))
        .bearer_auth("tok-a")
        .json(&body)
        .send()
        .await
        .unwrap();
    let after: Value = r.json().await.unwrap();
    assert_eq!(
        (after["decision"].as_str(), after["policy_version"].as_str()),
        (Some("deny"), Some(v2.as_str()))
    );
}

/// The `policy_reload` records in the audit trail, oldest first.
async fn reload_records(s: &Server) -> Vec<Value> {
    let resp = reqwest::Client::new()
        .get(s.url("/v1/audit?limit=1000"))
        .bearer_auth("tok-admin")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let page: Value = resp.json().await.unwrap();
    page["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["event"] == "policy_reload")
        .cloned()
        .collect()
}

/// Issue 14, item 12: the watcher's own reads never start a reload, and a
/// reload that finds what is serving installs and records nothing. One
/// edit, then two admin reloads with no change, then a second edit: exactly
/// two installs, two unchanged, and two `policy_reload` records.
#[tokio::test]
async fn one_edit_is_one_reload_and_an_unchanged_reload_installs_nothing() {
    let (s, cfg) = setup().await;
    let file = cfg.dir.path().join("policies/invoice.yaml");
    let v1 = push_main(&s).await["policy_version"]
        .as_str()
        .unwrap()
        .to_owned();

    std::fs::write(&file, format!("{INVOICE}\n# first edit\n")).unwrap();
    let st = wait_status(&s, |st| st["reloads"]["installed"] == 1).await;
    let v2 = st["policy_version"].as_str().unwrap().to_owned();
    assert_ne!(v1, v2);
    assert_eq!(
        (
            st["last_reload"]["trigger"].as_str(),
            st["last_reload"]["changed"].as_bool()
        ),
        (Some("file"), Some(true))
    );

    // Known later events: two admin reloads that find nothing new. Each
    // takes longer than the settle time, and reloads run one at a time, so
    // a reload started by the server's own reads would be counted by now.
    for _ in 0..2 {
        let (code, body) = admin_reload(&s, "tok-admin").await;
        assert_eq!(code, 200, "{body}");
        assert_eq!(body["policy_version"], v2.as_str());
        assert_eq!(body["previous_version"], v2.as_str());
    }
    let (_, st) = status(&s, "tok-admin").await;
    assert_eq!(
        st["reloads"],
        json!({"installed": 1, "unchanged": 2, "refused": 0}),
        "{st}"
    );
    assert_eq!(st["last_reload"]["changed"], false, "{st}");

    // And a second edit: exactly one more install, nothing in between.
    std::fs::write(&file, format!("{INVOICE}\n# second edit\n")).unwrap();
    let st = wait_status(&s, |st| st["reloads"]["installed"] == 2).await;
    let v3 = st["policy_version"].as_str().unwrap().to_owned();
    assert_eq!(
        st["reloads"],
        json!({"installed": 2, "unchanged": 2, "refused": 0}),
        "{st}"
    );
    let records = reload_records(&s).await;
    let versions: Vec<(&str, &str)> = records
        .iter()
        .map(|r| {
            (
                r["details"]["old_version"].as_str().unwrap(),
                r["details"]["new_version"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        versions,
        [(v1.as_str(), v2.as_str()), (v2.as_str(), v3.as_str())],
        "{records:?}"
    );
}

/// Asks whether `deployer` may push to `acme/prod-infra`.
async fn push_prod_infra(s: &Server) -> Value {
    let body =
        json!({"session": "s", "service": "git", "action": "push", "resource": "acme/prod-infra"});
    let resp = reqwest::Client::new()
        .post(s.url("/v1/decide"))
        .bearer_auth("tok-d")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

/// Issue 14, item 13: a policy file rewritten in place in two steps, with a
/// pause between them shorter than the settle time, is never installed
/// half-written: the first half (which lacks the deny) never serves, and
/// only the whole file is recorded.
#[tokio::test]
async fn a_file_written_in_two_steps_is_never_installed_half_written() {
    // The settle time is long against the writer's pause, so that a loaded
    // machine cannot stretch the pause past it.
    let cfg = ConfigDir::new("policy: policies\nreload:\n  settle_ms: 2000\n");
    let dir = cfg.dir.path().join("policies");
    std::fs::create_dir(&dir).unwrap();
    let allow = "agents:\n  deployer:\n    allow:\n      - service: git\n        actions: [\"*\"]\n        resources: [\"*\"]\n";
    let deny = "    deny:\n      - service: git\n        actions: [push]\n        resources: [acme/prod-infra]\n";
    std::fs::write(dir.join("p.yaml"), format!("# v1\n{allow}{deny}")).unwrap();
    std::fs::write(
        dir.join("zz-ids.yaml"),
        format!(
            "identities:\n  deployer: [\"{}\"]\nadmins:\n  ops: [\"{}\"]\n",
            token_hash("tok-d"),
            token_hash("tok-admin")
        ),
    )
    .unwrap();
    let s = cfg.start().await;
    let v1 = push_prod_infra(&s).await["policy_version"]
        .as_str()
        .unwrap()
        .to_owned();

    // The writer: truncate and write the first half (a valid policy without
    // the deny), pause, write the rest. The pause is the scenario, not a
    // synchronisation: it is what a slow writer does.
    let path = dir.join("p.yaml");
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(format!("# v2\n{allow}").as_bytes()).unwrap();
        f.flush().unwrap();
        std::thread::sleep(Duration::from_millis(600));
        f.write_all(deny.as_bytes()).unwrap();
        f.flush().unwrap();
    });
    // Decisions while the file is half-written, and until the whole file
    // serves (polled, bounded: 600 × 50 ms): every one is a deny.
    let mut v2 = None;
    for _ in 0..600 {
        let a = push_prod_infra(&s).await;
        assert_eq!(a["decision"], "deny", "the half-written policy served: {a}");
        let v = a["policy_version"].as_str().unwrap();
        if v != v1 {
            v2 = Some(v.to_owned());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let v2 = v2.expect("the rewritten policy never served");
    writer.join().unwrap();
    let records = reload_records(&s).await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["details"]["old_version"], v1.as_str());
    assert_eq!(records[0]["details"]["new_version"], v2.as_str());
    let (_, st) = status(&s, "tok-admin").await;
    assert_eq!(st["reloads"]["installed"], 1, "{st}");
    assert_eq!(push_prod_infra(&s).await["decision"], "deny");
}
