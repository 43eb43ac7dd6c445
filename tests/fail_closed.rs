//! The fail-closed branches: an audit trail that cannot be written, masking
//! that fails for the record, a plugin missing from the chain, a reload whose
//! plugin does not load or does not match its pin, a token a reload removed,
//! an administrator's token where an agent's is expected. Each must refuse,
//! never answer as if nothing went wrong.
//!
//! The handler tests drive the router with `oneshot` (a store that fails on
//! demand cannot be put under the binary); the rest run the real server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use palisade::api::{AppState, app};
use palisade::audit::{AuditLog, DEFAULT_COMMIT_DELAY};
use palisade::live::Live;
use palisade::masking::MaskKey;
use palisade::policy::{Root, Source, compile};
use palisade::snapshot::Snapshot;
use palisade::store::{Faults, FaultyStore};
use serde_json::{Value, json};
use std::sync::Arc;
use support::{ConfigDir, HOSTILE, Server, digest_of, token_hash};
use tower::ServiceExt;

const AGENT_TOKEN: &str = "pal_fail_closed_agent";
const ADMIN_TOKEN: &str = "pal_fail_closed_admin";

/// A policy for agent `a`, allowed everything on `files`, with admin `ops`.
fn policy_text() -> String {
    format!(
        "agents:\n  a:\n    allow:\n      - service: files\n        actions: [\"*\"]\n        \
         resources: [\"*\"]\nidentities:\n  a: [\"{}\"]\nadmins:\n  ops: [\"{}\"]\n",
        token_hash(AGENT_TOKEN),
        token_hash(ADMIN_TOKEN)
    )
}

/// A state serving that policy with **no plugins loaded**, recording into
/// an audit log in `dir` whose store fails as `faults` says.
fn state(dir: &std::path::Path, faults: &Faults) -> (Arc<AppState>, Arc<AuditLog>) {
    let faults = faults.clone();
    let log = AuditLog::open_wrapped(dir, DEFAULT_COMMIT_DELAY, move |store| {
        Box::new(FaultyStore::new(store, faults))
    })
    .unwrap();
    let log = Arc::new(log);
    let state = AppState::serving(
        Live::new(),
        palisade::config::MaskSettings::default(),
        MaskKey::from_bytes([7; 32]),
        Some(log.clone()),
    );
    let set = compile(&Root::project(vec![Source {
        name: "p.yaml".into(),
        text: policy_text(),
    }]))
    .unwrap();
    state.live().install(Snapshot::with_plugins(
        set,
        palisade::chain::Plugins::new(),
        false,
    ));
    (state, log)
}

async fn decide_oneshot(state: &Arc<AppState>, token: &str) -> (StatusCode, Value) {
    let body = json!({"session": "s", "service": "files", "action": "read", "resource": "f/1"});
    let req = Request::builder()
        .method("POST")
        .uri("/v1/decide?explain=true")
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = app(state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn an_audit_append_failure_answers_503_and_gives_no_decision() {
    let dir = tempfile::tempdir().unwrap();
    let faults = Faults::default();
    let (state, log) = state(dir.path(), &faults);

    let (status, answer) = decide_oneshot(&state, AGENT_TOKEN).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(log.stats().head_seq, 1);

    faults.fail_appends(true);
    let (status, answer) = decide_oneshot(&state, AGENT_TOKEN).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
    assert_eq!(answer["error"]["code"], "audit_unavailable", "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("could not be recorded, so it is not given"),
        "{answer}"
    );
    for given in ["decision", "decision_id", "reason", "explain"] {
        assert!(answer.get(given).is_none(), "`{given}` leaked: {answer}");
    }
    assert_eq!(faults.failed_appends(), 1);
    let stats = log.stats();
    assert_eq!((stats.failed_batches, stats.head_seq), (1, 1));

    // Once the store works again, so do decisions, on an unbroken chain.
    faults.fail_appends(false);
    let (status, answer) = decide_oneshot(&state, AGENT_TOKEN).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(log.stats().head_seq, 2);
    drop(state);
    log.close().unwrap();
    let report = palisade::audit::verify_dir(dir.path()).unwrap().unwrap();
    assert_eq!(report.records, 2);
}

#[tokio::test]
async fn a_plugin_missing_from_the_chain_denies_with_plugin_missing() {
    let dir = tempfile::tempdir().unwrap();
    let (state, log) = state(dir.path(), &Faults::default());
    let (status, answer) = decide_oneshot(&state, AGENT_TOKEN).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["decision"], "deny", "{answer}");
    let step = &answer["explain"][0];
    assert_eq!(step["plugin"], "glob", "{answer}");
    assert_eq!(step["verdict"], "error", "{answer}");
    assert_eq!(step["error"], "plugin_missing", "{answer}");
    assert_eq!(
        answer["reason"],
        "denied: plugin `glob` failed: plugin `glob` is not loaded"
    );
    drop(state);
    log.close().unwrap();
}

#[tokio::test]
async fn an_admin_token_is_refused_on_decide() {
    let dir = tempfile::tempdir().unwrap();
    let (state, log) = state(dir.path(), &Faults::default());
    let (status, answer) = decide_oneshot(&state, ADMIN_TOKEN).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    assert_eq!(answer["error"]["code"], "unauthorized", "{answer}");
    assert!(answer.get("decision").is_none(), "{answer}");
    assert_eq!(log.stats().head_seq, 0, "nothing decided, nothing recorded");
    drop(state);
    log.close().unwrap();
}

// ---- through the real server ----

/// A server whose policy directory holds `policy` and the identities of
/// agent `a` and admin `ops`, with `hostile.wasm` beside the configuration.
async fn server_with(policy: &str, extra_config: &str) -> (Server, ConfigDir) {
    let cfg = ConfigDir::new(&format!("policy: policies\n{extra_config}"))
        .with_file("hostile.wasm", HOSTILE);
    let dir = cfg.dir.path().join("policies");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("p.yaml"), policy).unwrap();
    write_identities(&cfg, AGENT_TOKEN);
    let server = cfg.start().await;
    (server, cfg)
}

fn write_identities(cfg: &ConfigDir, agent_token: &str) {
    std::fs::write(
        cfg.dir.path().join("policies/zz-identities.yaml"),
        format!(
            "identities:\n  a: [\"{}\"]\nadmins:\n  ops: [\"{}\"]\n",
            token_hash(agent_token),
            token_hash(ADMIN_TOKEN)
        ),
    )
    .unwrap();
}

async fn decide(s: &Server, token: &str, service: &str, attributes: Value) -> (u16, Value) {
    let body = json!({"session": "s-fc", "service": service, "action": "read", "resource": "f/1", "attributes": attributes});
    let resp = reqwest::Client::new()
        .post(s.url("/v1/decide"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn admin(s: &Server, method: reqwest::Method, path: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .request(method, s.url(path))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

const ALLOW_FILES: &str = "agents:\n  a:\n    allow:\n      - service: files\n        actions: [\"*\"]\n        resources: [\"*\"]\n      - service: tickets\n        actions: [\"*\"]\n        resources: [\"*\"]\n";

#[tokio::test]
async fn attributes_whose_masking_fails_are_withheld_from_the_record() {
    let policy = format!(
        "{ALLOW_FILES}plugins:\n  hostile:\n    path: hostile.wasm\n    isolation: fresh\n    \
         limits: {{fuel: 200000000, deadline_ms: 2000}}\nservices:\n  tickets:\n    \
         masking: [hostile]\n"
    );
    let (s, _cfg) = server_with(&policy, "").await;
    // The hostile masking plugin traps on the text `panic`: the attributes'
    // values glued together (the pass that finds values split across
    // strings) are exactly that.
    let (status, answer) = decide(&s, AGENT_TOKEN, "tickets", json!({"a": "pan", "b": "ic"})).await;
    assert_eq!(status, 200, "{answer}");
    let (status, page) = admin(
        &s,
        reqwest::Method::GET,
        &format!(
            "/v1/audit?decision_id={}",
            answer["decision_id"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    let record = &page["records"][0];
    // Names are withheld too: a name is as free a text as a value.
    assert_eq!(
        record["attributes"],
        json!({"withheld_1": "[WITHHELD: masking failed]", "withheld_2": "[WITHHELD: masking failed]"}),
        "{record}"
    );
    // So are the resource and the reason, which masking did not see either.
    assert_eq!(record["resource"], "[WITHHELD: masking failed]", "{record}");
    assert_eq!(record["reason"], "[WITHHELD: masking failed]", "{record}");
    // The failure is logged.
    s.wait_for_log("attribute values are withheld").await;
}

/// Reloads through the API; the change must be refused with `expect` in
/// its message, and the last good version keep serving.
async fn refused_reload_keeps_serving(s: &Server, expect: &str) {
    let (_, before) = admin(s, reqwest::Method::GET, "/v1/status").await;
    let serving = before["policy_version"].as_str().unwrap().to_owned();
    let (status, body) = admin(s, reqwest::Method::POST, "/v1/admin/reload").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "invalid_policy", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains(expect), "{message}");
    let (_, after) = admin(s, reqwest::Method::GET, "/v1/status").await;
    assert_eq!(after["policy_version"], serving.as_str(), "{after}");
    assert_eq!(after["last_reload"]["ok"], false, "{after}");
    // The plugin loaded at start still decides.
    let (status, answer) = decide(s, AGENT_TOKEN, "files", json!({})).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        (
            answer["decision"].as_str(),
            answer["policy_version"].as_str()
        ),
        (Some("allow"), Some(serving.as_str())),
        "{answer}"
    );
}

#[tokio::test]
async fn a_plugin_that_fails_to_load_at_reload_keeps_the_last_good_policy() {
    let policy =
        format!("{ALLOW_FILES}chain: [hostile]\nplugins:\n  hostile:\n    path: hostile.wasm\n");
    let (s, cfg) = server_with(&policy, "").await;
    std::fs::write(
        cfg.dir.path().join("hostile.wasm"),
        b"\0asm not a component",
    )
    .unwrap();
    refused_reload_keeps_serving(&s, "hostile").await;
}

#[tokio::test]
async fn a_pin_mismatch_at_reload_keeps_the_last_good_policy() {
    let pin = digest_of(std::path::Path::new(HOSTILE));
    let policy = format!(
        "{ALLOW_FILES}chain: [hostile]\nplugins:\n  hostile:\n    path: hostile.wasm\n    \
         sha256: {pin}\n"
    );
    let (s, cfg) = server_with(&policy, "").await;
    // Another component under the pinned name: still valid Wasm, another digest.
    let mut other = std::fs::read(HOSTILE).unwrap();
    other.extend_from_slice(&[0, 4, 3, b'x', b'y', b'z']); // a custom section `xyz`
    std::fs::write(cfg.dir.path().join("hostile.wasm"), other).unwrap();
    refused_reload_keeps_serving(&s, "but the configuration pins").await;
}

#[tokio::test]
async fn a_token_removed_by_reload_no_longer_authenticates() {
    let (s, cfg) = server_with(ALLOW_FILES, "").await;
    assert_eq!(decide(&s, AGENT_TOKEN, "files", json!({})).await.0, 200);
    const NEW_TOKEN: &str = "pal_fail_closed_rotated";
    write_identities(&cfg, NEW_TOKEN);
    let (status, body) = admin(&s, reqwest::Method::POST, "/v1/admin/reload").await;
    assert_eq!(status, 200, "{body}");
    let (status, answer) = decide(&s, AGENT_TOKEN, "files", json!({})).await;
    assert_eq!(status, 401, "{answer}");
    assert_eq!(answer["error"]["code"], "unauthorized", "{answer}");
    let (status, answer) = decide(&s, NEW_TOKEN, "files", json!({})).await;
    assert_eq!(status, 200, "{answer}");
}

/// A reload whose record cannot be written is refused, and the answer says
/// it is the server's failure (503, worth retrying), not an invalid policy.
#[tokio::test]
async fn a_reload_that_cannot_be_recorded_is_503_not_invalid_policy() {
    let dir = tempfile::tempdir().unwrap();
    let faults = Faults::default();
    let (state, _log) = state(&dir.path().join("data"), &faults);
    let file = dir.path().join("p.yaml");
    std::fs::write(&file, format!("{}# a change\n", policy_text())).unwrap();
    let loaded = palisade::config::LoadedConfig::for_policy(&file).unwrap();
    let runtime = Arc::new(
        palisade::runtime::Runtime::new(&palisade::runtime::EngineSettings::default(), None)
            .unwrap(),
    );
    state.set_reloader(palisade::reload::Reloader::new(
        runtime,
        loaded,
        state.live(),
        state.audit().cloned(),
    ));
    faults.fail_appends(true);
    let req = Request::builder()
        .method("POST")
        .uri("/v1/admin/reload")
        .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
        .body(Body::empty())
        .unwrap();
    let resp = app(state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    let answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
    assert_eq!(answer["error"]["code"], "reload_unavailable", "{answer}");
    assert_eq!(state.snapshot().unwrap().version(), {
        let (_, last) = state.live().current();
        last.unwrap().serving
    });
}
