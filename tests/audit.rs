//! End to end: the audit trail of a real server — every decision recorded
//! with masked attributes, queried, replayed, verified; tampering found; and
//! a `kill -9` under load loses no answered decision.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
use support::{BIN, ConfigDir, Server, token_hash};

const AGENT: &str = "pal_audit_agent";
const ADMIN: &str = "pal_audit_admin";

const POLICY: &str = r#"
project: billing
agents:
  bot:
    allow:
      - service: git
        actions: [pull, push]
        resources: ["acme/*"]
    deny:
      - service: git
        actions: [delete]
"#;

fn config() -> ConfigDir {
    let cfg = ConfigDir::new("policy: policies\n");
    let dir = cfg.dir.path().join("policies");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("billing.yaml"), POLICY).unwrap();
    std::fs::write(
        dir.join("zz-identities.yaml"),
        format!(
            "identities:\n  bot: [\"{}\"]\nadmins:\n  ops: [\"{}\"]\n",
            token_hash(AGENT),
            token_hash(ADMIN)
        ),
    )
    .unwrap();
    cfg
}

async fn start(cfg: &ConfigDir) -> Server {
    cfg.start().await
}

async fn decide(client: &reqwest::Client, server: &Server, body: Value) -> Value {
    let resp = client
        .post(server.url("/v1/decide"))
        .bearer_auth(AGENT)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

async fn audit_page(server: &Server, token: &str, query: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .get(server.url(&format!("/v1/audit{query}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Runs `palisade audit ARGS --data-dir DATA`; (success, stdout).
fn cli(data: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(BIN)
        .arg("audit")
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// The findings of a record's attributes are kept for the texts that repeat
/// (see `FindingsCache`); what they are replaced with still depends on the
/// session, as with the first one.
#[tokio::test]
async fn repeated_attributes_are_masked_per_session_every_time() {
    let cfg = config();
    std::fs::write(
        cfg.dir.path().join("policies/zz-masking.yaml"),
        "masking:\n  operators:\n    email: token\n",
    )
    .unwrap();
    let server = start(&cfg).await;
    let client = reqwest::Client::new();
    let attrs = json!({"branch": "main", "reviewer": "ann@example.com"});
    let mut ids = Vec::new();
    for session in ["s-a", "s-b", "s-a", "s-b"] {
        let a = decide(
            &client,
            &server,
            json!({"session": session, "service": "git", "action": "push", "resource": "acme/api", "attributes": attrs}),
        )
        .await;
        ids.push(a["decision_id"].as_str().unwrap().to_owned());
    }
    let (status, page) = audit_page(&server, ADMIN, "?agent=bot").await;
    assert_eq!(status, 200, "{page}");
    assert!(
        !page.to_string().contains("ann@example.com"),
        "the raw address is stored: {page}"
    );
    let reviewer = |id: &str| {
        let r = page["records"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["decision_id"] == id)
            .unwrap();
        assert_eq!(r["attributes"]["branch"], "main", "{}", page["records"]);
        r["attributes"]["reviewer"].as_str().unwrap().to_owned()
    };
    let got: Vec<String> = ids.iter().map(|id| reviewer(id)).collect();
    assert!(got[0].starts_with("[email:t:"), "{got:?}");
    assert_eq!(got[0], got[2], "same session, same token");
    assert_eq!(got[1], got[3], "same session, same token");
    assert_ne!(got[0], got[1], "another session, another token");
}

/// `/v1/status` shows the audit writer: what it committed, in how many
/// synced batches, and how long those took.
#[tokio::test]
async fn status_shows_the_audit_writers_counters() {
    let cfg = config();
    let server = start(&cfg).await;
    let client = reqwest::Client::new();
    for i in 0..5 {
        decide(
            &client,
            &server,
            json!({"session": format!("st-{i}"), "service": "git", "action": "pull", "resource": "acme/api"}),
        )
        .await;
    }
    let status = |token: &'static str| {
        let client = client.clone();
        let url = server.url("/v1/status");
        async move {
            let resp = client.get(url).bearer_auth(token).send().await.unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        }
    };
    assert_eq!(
        status(AGENT).await.0,
        401,
        "an agent could read the writer's counters"
    );
    let (code, body) = status(ADMIN).await;
    assert_eq!(code, 200, "{body}");
    let audit = &body["audit"];
    // At least the five decisions (administrative events are records too).
    let records = audit["records"].as_u64().unwrap();
    assert!(records >= 5, "{audit}");
    assert_eq!(audit["head_seq"].as_u64().unwrap(), records, "{audit}");
    assert_eq!(audit["failed_batches"], 0, "{audit}");
    let batches = audit["batches"].as_u64().unwrap();
    assert!((1..=records).contains(&batches), "{audit}");
    let timed: u64 = audit["commit_ms"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(timed, batches, "every batch is timed once: {audit}");
    for key in [
        "le_0.25", "le_0.5", "le_1", "le_2", "le_5", "le_10", "over_10",
    ] {
        assert!(audit["commit_ms"][key].is_u64(), "{key} missing: {audit}");
    }
}

#[tokio::test]
async fn decisions_are_recorded_masked_queryable_and_replayable() {
    let cfg = config();
    let server = start(&cfg).await;
    let client = reqwest::Client::new();
    let mut ids = Vec::new();
    for (session, action, attrs) in [
        ("s-1", "pull", json!({})),
        (
            "s-1",
            "push",
            json!({"branch": "main", "note": "card 4111 1111 1111 1111"}),
        ),
        ("s-2", "delete", json!({})),
        ("s-1", "pull", json!({})),
    ] {
        let a = decide(
            &client,
            &server,
            json!({"session": session, "service": "git", "action": action, "resource": "acme/api", "attributes": attrs}),
        )
        .await;
        ids.push(a["decision_id"].as_str().unwrap().to_owned());
    }

    // Only an administrator reads the trail.
    assert_eq!(audit_page(&server, AGENT, "").await.0, 401);
    let (status, page) = audit_page(&server, ADMIN, "?session=s-1").await;
    assert_eq!(status, 200, "{page}");
    let records = page["records"].as_array().unwrap();
    let got: Vec<_> = records
        .iter()
        .map(|r| r["decision_id"].as_str().unwrap())
        .collect();
    assert_eq!(got, [ids[0].as_str(), ids[1].as_str(), ids[3].as_str()]);
    let push = &records[1];
    assert_eq!(push["agent"], "bot");
    assert_eq!(push["decision"], "allow");
    assert_eq!(push["attributes"]["branch"], "main");
    assert_eq!(push["attributes"]["note"], "card [REDACTED:credit_card]");
    assert!(
        !page.to_string().contains("4111 1111"),
        "the raw card is stored: {page}"
    );
    assert_eq!(push["plugins"][0]["plugin"], "git");
    assert!(push["hash"].as_str().unwrap().len() == 64);

    let (_, denied) = audit_page(&server, ADMIN, "?decision=deny").await;
    assert_eq!(denied["records"][0]["decision_id"], ids[2].as_str());
    // Pagination.
    let (_, first) = audit_page(&server, ADMIN, "?agent=bot&limit=2").await;
    assert_eq!(first["records"].as_array().unwrap().len(), 2);
    let after = first["next_after"].as_u64().unwrap();
    let (_, second) =
        audit_page(&server, ADMIN, &format!("?agent=bot&limit=2&after={after}")).await;
    assert_eq!(second["records"].as_array().unwrap().len(), 2);
    assert!(second.get("next_after").is_none());
    // A time window that ends before anything happened is empty.
    let (_, none) = audit_page(&server, ADMIN, "?to=2000-01-01T00:00:00Z").await;
    assert_eq!(none["records"].as_array().unwrap().len(), 0);
    let (status, bad) = audit_page(&server, ADMIN, "?from=yesterday").await;
    assert_eq!(status, 400, "{bad}");

    server.terminate();
    let data = cfg.data();
    let (ok, out) = cli(&data, &["replay", "--session", "s-1"]);
    assert!(ok, "{out}");
    let lines: Vec<_> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines[1].contains("git:push on acme/api") && lines[1].contains("allow"),
        "{out}"
    );
    let (ok, out) = cli(
        &data,
        &[
            "replay",
            "--agent",
            "bot",
            "--from",
            "2000-01-01T00:00:00Z",
            "--to",
            "2999-01-01T00:00:00Z",
        ],
    );
    assert!(ok && out.lines().count() == 4, "{out}");
    let (ok, out) = cli(&data, &["verify"]);
    assert!(ok, "{out}");
    assert!(out.contains("chain intact"), "{out}");
}

/// Writes 30 decisions through a real server and stops it.
async fn a_stopped_log() -> ConfigDir {
    let cfg = config();
    let server = start(&cfg).await;
    let client = reqwest::Client::new();
    for i in 0..30 {
        decide(
            &client,
            &server,
            json!({"session": format!("s-{i}"), "service": "git", "action": "pull", "resource": "acme/api"}),
        )
        .await;
    }
    server.terminate();
    cfg
}

fn sql(data: &Path, statement: &str) {
    let db = rusqlite::Connection::open(data.join("audit.db")).unwrap();
    db.execute_batch(statement).unwrap();
}

/// The last record of an intact log, from `audit verify`'s answer.
fn last_seq(data: &Path) -> u64 {
    let (ok, out) = cli(data, &["verify"]);
    assert!(ok, "intact before: {out}");
    out.split("chain intact through record ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no last record in: {out}"))
}

#[tokio::test]
async fn each_kind_of_tampering_is_found() {
    for (what, statement, expect) in [
        (
            "edited",
            "UPDATE records SET body = replace(body, '\"decision\":\"allow\"', '\"decision\":\"deny\"') WHERE seq = 10;",
            "record 10 was edited: the body does not match its hash",
        ),
        (
            "deleted",
            "DELETE FROM records WHERE seq = 12;",
            "1 record(s) deleted after record 11",
        ),
        (
            "reordered",
            "UPDATE records SET seq = -1 WHERE seq = 15; UPDATE records SET seq = 15 WHERE seq = 16; UPDATE records SET seq = 16 WHERE seq = -1;",
            "record 15 is out of order: another record sits in its place",
        ),
        (
            "truncated",
            "DELETE FROM records WHERE seq > 25;",
            "truncated: the log ends at record 25, but record {last} was written",
        ),
    ] {
        let cfg = a_stopped_log().await;
        let data = cfg.data();
        let last = last_seq(&data);
        assert!(last > 25, "{what}: too few records ({last})");
        sql(&data, statement);
        let (ok, out) = cli(&data, &["verify"]);
        assert!(!ok, "{what}: not found:\n{out}");
        let expect = expect.replace("{last}", &last.to_string());
        assert_eq!(out.trim_end(), format!("BROKEN: {expect}"), "{what}");
    }
}

/// Item 17: deleting the first records and writing the checkpoint that the
/// rest continues from (no export or retention ever ran) does not pass.
#[tokio::test]
async fn a_checkpoint_written_over_a_cut_start_is_found() {
    let cfg = a_stopped_log().await;
    let data = cfg.data();
    last_seq(&data);
    let db = rusqlite::Connection::open(data.join("audit.db")).unwrap();
    let (hash, project): (String, String) = db
        .query_row(
            "SELECT hash, coalesce(project, '') FROM records WHERE seq = 5",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    drop(db);
    // The checkpoint of record 5's trail, counting what was removed.
    let checkpoint = json!({"seq": 5, "hash": hash, "removed": 5}).to_string();
    sql(
        &data,
        &format!(
            "DELETE FROM records WHERE seq <= 5; \
             INSERT INTO meta (key, value) VALUES ('checkpoint/{project}', '{checkpoint}');"
        ),
    );
    let (ok, out) = cli(&data, &["verify"]);
    assert!(!ok, "a forged checkpoint passes:\n{out}");
    assert_eq!(
        out.trim_end(),
        "BROKEN: the checkpoint at record 5 was not made by retention (nothing was ever \
         exported, and retention removes only exported records): records up to 5 were \
         removed by other means"
    );
}

#[tokio::test]
async fn kill_9_under_load_loses_no_answered_decision() {
    let cfg = config();
    let server = start(&cfg).await;
    let url = server.url("/v1/decide");
    let answered = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Woken when the load reaches its target, or when a client stops early.
    let progress = std::sync::Arc::new(tokio::sync::Notify::new());
    let clients = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(16));
    const TARGET: usize = 2000;
    let mut tasks = Vec::new();
    for t in 0..16 {
        let (url, answered, stop) = (url.clone(), answered.clone(), stop.clone());
        let (progress, clients) = (progress.clone(), clients.clone());
        tasks.push(tokio::spawn(async move {
            // Whichever way this client stops, the waiter hears of it.
            struct Wake(
                std::sync::Arc<tokio::sync::Notify>,
                std::sync::Arc<std::sync::atomic::AtomicUsize>,
            );
            impl Drop for Wake {
                fn drop(&mut self) {
                    self.1.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                    self.0.notify_one();
                }
            }
            let _wake = Wake(progress.clone(), clients);
            let client = reqwest::Client::new();
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                i += 1;
                let body = json!({"session": format!("t{t}"), "service": "git", "action": "pull", "resource": format!("acme/r{i}")});
                let Ok(resp) = client.post(&url).bearer_auth(AGENT).json(&body).send().await else {
                    break;
                };
                let Ok(answer) = resp.json::<Value>().await else {
                    break;
                };
                if let Some(id) = answer["decision_id"].as_str() {
                    let mut answered = answered.lock().unwrap();
                    answered.push(id.to_owned());
                    if answered.len() == TARGET {
                        progress.notify_one();
                    }
                }
            }
        }));
    }
    // Let the load reach its target (bounded: 300 s, and no longer than the
    // clients keep going), then kill the server without warning.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(300);
    loop {
        let n = answered.lock().unwrap().len();
        if n >= TARGET {
            break;
        }
        assert!(
            clients.load(std::sync::atomic::Ordering::SeqCst) > 0,
            "every client stopped after {n} answers:\n{}",
            server.stderr()
        );
        if tokio::time::timeout_at(deadline, progress.notified())
            .await
            .is_err()
        {
            panic!("only {n} of {TARGET} decisions answered within 300 s");
        }
    }
    let status = Command::new("kill")
        .args(["-9", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    drop(server);
    let answered = answered.lock().unwrap().clone();
    assert!(answered.len() >= TARGET);

    let data = cfg.data();
    let (ok, out) = cli(&data, &["verify"]);
    assert!(ok, "verify after kill -9: {out}");
    // Every decision a client got an answer for is in the log.
    let db = rusqlite::Connection::open(data.join("audit.db")).unwrap();
    let mut stored = std::collections::HashSet::new();
    let mut stmt = db.prepare("SELECT body FROM records").unwrap();
    let rows = stmt.query_map([], |r| r.get::<_, String>(0)).unwrap();
    for body in rows {
        let v: Value = serde_json::from_str(&body.unwrap()).unwrap();
        if let Some(id) = v["decision_id"].as_str() {
            stored.insert(id.to_owned());
        }
    }
    let missing: Vec<_> = answered.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(
        missing.is_empty(),
        "{} answered decisions missing, e.g. {:?}",
        missing.len(),
        missing.first()
    );

    // And the server starts again on the same log and goes on chaining.
    let server = start(&cfg).await;
    let client = reqwest::Client::new();
    decide(
        &client,
        &server,
        json!({"session": "after", "service": "git", "action": "pull", "resource": "acme/api"}),
    )
    .await;
    server.terminate();
    let (ok, out) = cli(&data, &["verify"]);
    assert!(ok, "verify after restart: {out}");
}

/// Every free-text field of a record goes through the masking chain: the
/// plugin's reason (here the git plugin echoes a `ref` attribute holding a
/// card number) and the resource, not only the attributes; long values are
/// cut. The data directory and the store's files are private.
#[tokio::test]
async fn records_mask_the_resource_and_the_reason_and_the_store_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let cfg = config();
    let server = start(&cfg).await;
    let client = reqwest::Client::new();
    let echoed = decide(
        &client,
        &server,
        json!({"session": "s-mask", "service": "git", "action": "push", "resource": "acme/api",
               "attributes": {"branch": "main", "ref": "4111 1111 1111 1111"}}),
    )
    .await;
    // The agent is told what it sent, the trail keeps no card.
    assert_eq!(echoed["decision"], "deny", "{echoed}");
    assert!(
        echoed["reason"]
            .as_str()
            .unwrap()
            .contains("4111 1111 1111 1111"),
        "the reason no longer echoes the ref, so this test shows nothing: {echoed}"
    );
    let resource = "customers/jane.doe@example.com/ssn/123-45-6789";
    decide(
        &client,
        &server,
        json!({"session": "s-mask", "service": "git", "action": "pull", "resource": resource}),
    )
    .await;
    let long = format!("acme/{}", "x".repeat(4000));
    decide(
        &client,
        &server,
        json!({"session": "s-mask", "service": "git", "action": "delete", "resource": long}),
    )
    .await;
    let (status, page) = audit_page(&server, ADMIN, "?session=s-mask").await;
    assert_eq!(status, 200, "{page}");
    let text = page.to_string();
    for raw in ["4111 1111", "jane.doe@example.com", "123-45-6789"] {
        assert!(!text.contains(raw), "`{raw}` is stored in clear: {page}");
    }
    let records = page["records"].as_array().unwrap();
    assert!(
        records[0]["reason"]
            .as_str()
            .unwrap()
            .contains("[REDACTED:credit_card]"),
        "{}",
        records[0]
    );
    assert!(
        records[1]["resource"]
            .as_str()
            .unwrap()
            .starts_with("customers/")
    );
    let cut = records[2]["resource"].as_str().unwrap();
    assert!(cut.len() < 1100 && cut.ends_with("more bytes]"), "{cut}");
    assert!(records[2]["reason"].as_str().unwrap().len() < 1100);

    let data = cfg.data();
    let mode = |name: &str| {
        std::fs::metadata(data.join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(""), 0o700, "the data directory");
    for file in ["audit.db", "audit.db-wal", "mask.key", "cache.key"] {
        assert_eq!(mode(file), 0o600, "{file}");
    }
    server.terminate();
    assert_eq!(mode("audit.head"), 0o600, "audit.head");
}

/// `audit replay` prints what agents and plugins wrote with control and
/// bidi characters escaped: a resource cannot clear the auditor's screen or
/// print a forged line of its own.
#[tokio::test]
async fn replay_escapes_what_agents_and_plugins_wrote() {
    let cfg = config();
    let server = start(&cfg).await;
    let client = reqwest::Client::new();
    let forged =
        "acme/api\x1b[2J\x1b[31m\n2026-01-01T00:00:00Z  #999  admin  policy_reload  \u{202E}";
    decide(
        &client,
        &server,
        json!({"session": "s-esc", "service": "git", "action": "pull", "resource": forged,
               "attributes": {"branch": "main", "ref": "x\ny"}}),
    )
    .await;
    server.terminate();
    let out = Command::new(BIN)
        .args(["audit", "replay", "--session", "s-esc", "--data-dir"])
        .arg(cfg.data())
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(
        !stdout.contains('\x1b') && !stdout.contains('\u{202E}'),
        "{stdout:?}"
    );
    assert!(stdout.contains("\\u{001b}[2J"), "{stdout}");
    assert!(stdout.contains("\\n2026-01-01T00:00:00Z  #999"), "{stdout}");
}
