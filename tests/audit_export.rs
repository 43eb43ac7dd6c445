//! End to end: the audit trail of a real server exported as its policy's
//! `audit:` block says — to a real S3-compatible server on loopback (`s3s-fs`
//! behind SigV4 authentication, in this process) and to a directory — with
//! the final export at SIGTERM; retention after export; and bad inputs that
//! fail clearly and mark nothing exported.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/s3.rs"]
mod s3;
mod support;

use s3::S3Server;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::{BIN, ConfigDir, Server, start_ready_with_env, token_hash};

const AGENT: &str = "pal_export_agent";

const POLICY: &str = r#"
project: billing
agents:
  bot:
    allow:
      - service: git
        actions: [pull]
        resources: ["acme/*"]
"#;

/// A configuration whose policy ends with `audit_block`.
fn config(audit_block: &str) -> ConfigDir {
    let cfg = ConfigDir::new("policy: policies\n");
    let dir = cfg.dir.path().join("policies");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("billing.yaml"), format!("{POLICY}{audit_block}")).unwrap();
    std::fs::write(
        dir.join("zz-identities.yaml"),
        format!("identities:\n  bot: [\"{}\"]\n", token_hash(AGENT)),
    )
    .unwrap();
    cfg
}

async fn start(cfg: &ConfigDir, env: &[(&str, String)]) -> Server {
    let (config, data) = (cfg.config(), cfg.data());
    start_ready_with_env(
        &[
            "--config",
            config.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
        ],
        env,
    )
    .await
}

/// Makes `n` decisions; returns their ids.
async fn decide(server: &Server, n: usize) -> Vec<String> {
    let client = reqwest::Client::new();
    let mut ids = Vec::new();
    for i in 0..n {
        let resp = client
            .post(server.url("/v1/decide"))
            .bearer_auth(AGENT)
            .json(&json!({"session": format!("s-{i}"), "service": "git", "action": "pull", "resource": "acme/api"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let answer: Value = resp.json().await.unwrap();
        ids.push(answer["decision_id"].as_str().unwrap().to_owned());
    }
    ids
}

/// Sends SIGTERM; returns the exit status and everything the server logged.
fn stop(server: Server) -> (std::process::ExitStatus, String) {
    let ok = Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    server.wait_exit()
}

/// Runs `palisade audit ARGS --data-dir DATA` with exactly the AWS
/// variables in `env`; (success, stdout and stderr).
fn cli(data: &Path, args: &[&str], env: &[(&str, String)]) -> (bool, String) {
    let mut cmd = Command::new(BIN);
    cmd.arg("audit").args(args).arg("--data-dir").arg(data);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("AWS_")) {
        cmd.env_remove(k);
    }
    let out = cmd.envs(env.iter().map(|(k, v)| (k, v))).output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// Every line of export files that is a record, parsed.
fn records_in(files: &[PathBuf]) -> Vec<Value> {
    let mut records: Vec<Value> = files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap())
                .filter(|v| v.get("seq").is_some())
                .collect::<Vec<_>>()
        })
        .collect();
    records.sort_by_key(|r| r["seq"].as_u64());
    records
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

/// `palisade audit verify FILES…` passes, and the files hold every id.
fn assert_exported(data: &Path, files: &[PathBuf], ids: &[String]) -> Vec<Value> {
    assert!(!files.is_empty());
    let mut args = vec!["verify"];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    let (ok, out) = cli(data, &args, &[]);
    assert!(ok, "verify {files:?}: {out}");
    let records = records_in(files);
    let exported: HashSet<&str> = records
        .iter()
        .filter_map(|r| r["decision_id"].as_str())
        .collect();
    let missing: Vec<_> = ids
        .iter()
        .filter(|id| !exported.contains(id.as_str()))
        .collect();
    assert!(missing.is_empty(), "not exported: {missing:?}");
    records
}

/// An export that finds nothing new: everything is marked exported.
fn assert_nothing_left(data: &Path) {
    let out = tempfile::tempdir().unwrap();
    let to = out.path().to_str().unwrap();
    let (ok, text) = cli(data, &["export", "--to", to, "--include-open-period"], &[]);
    assert!(ok && text.contains("nothing new"), "{text}");
}

#[tokio::test]
async fn s3_export_at_shutdown_holds_every_answered_decision() {
    let s3 = S3Server::start(&["audit-bucket"]);
    let cfg = config(
        "audit:\n  retention: 365d\n  export:\n    destination: s3://audit-bucket/palisade/prod/\n    format: json\n    frequency: hourly\n",
    );
    let server = start(&cfg, &s3.env()).await;
    let ids = decide(&server, 25).await;
    let (status, log) = stop(server);
    assert!(status.success(), "{log}");
    assert!(!log.contains("audit export failed"), "{log}");

    let keys = s3.list("audit-bucket", "");
    assert!(
        !keys.is_empty()
            && keys
                .iter()
                .all(|k| k.starts_with("palisade/prod/audit-") && k.ends_with(".jsonl")),
        "{keys:?}"
    );
    let downloads = tempfile::tempdir().unwrap();
    let files = s3.download("audit-bucket", "palisade/prod/", downloads.path());
    let data = cfg.data();
    let records = assert_exported(&data, &files, &ids);
    // From the first record to the record of the export itself.
    assert_eq!(records[0]["seq"], 1);
    let last = records.last().unwrap();
    assert_eq!(last["event"], "audit_export", "{last}");
    assert_eq!(last["details"]["trigger"], "shutdown");
    assert_eq!(
        last["details"]["destination"],
        "s3://audit-bucket/palisade/prod/"
    );
    assert_nothing_left(&data);
    let (ok, out) = cli(&data, &["verify"], &[]);
    assert!(ok, "{out}");
}

#[tokio::test]
async fn directory_export_across_restarts_then_retention() {
    let cfg = config("audit:\n  export: {destination: exports/, frequency: daily}\n");
    let data = cfg.data();
    let exports = data.join("exports");

    let server = start(&cfg, &[]).await;
    let mut ids = decide(&server, 10).await;
    assert!(stop(server).0.success());
    assert_exported(&data, &files_in(&exports), &ids);

    // Retention after export: the store verifies from its checkpoint.
    let (ok, out) = cli(&data, &["retain", "--older-than", "0s"], &[]);
    assert!(
        ok && out.contains("removed") && out.contains("checkpoint"),
        "{out}"
    );
    let (ok, out) = cli(&data, &["verify"], &[]);
    assert!(ok && out.contains("retention checkpoint"), "{out}");

    // The next run goes on from there; its files continue the same chain.
    let server = start(&cfg, &[]).await;
    ids.extend(decide(&server, 5).await);
    assert!(stop(server).0.success());
    let files = files_in(&exports);
    assert!(files.len() >= 3, "{files:?}");
    assert_exported(&data, &files, &ids);
    assert_nothing_left(&data);
    let (ok, out) = cli(&data, &["verify"], &[]);
    assert!(ok, "{out}");
}

#[tokio::test]
async fn bad_destinations_fail_clearly_and_mark_nothing_exported() {
    // A log with nothing exported.
    let cfg = config("");
    let data = cfg.data();
    let server = start(&cfg, &[]).await;
    let ids = decide(&server, 5).await;
    assert!(stop(server).0.success());

    let s3 = S3Server::start(&["good-bucket"]);
    let good = s3.env();
    let with = |name: &str, value: &str| -> Vec<(&'static str, String)> {
        let mut env: Vec<_> = good.iter().filter(|(k, _)| *k != name).cloned().collect();
        if !value.is_empty() {
            let key = good.iter().find(|(k, _)| *k == name).map(|(k, _)| *k);
            env.push((key.unwrap(), value.to_owned()));
        }
        env
    };
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let unreachable = format!("http://127.0.0.1:{closed_port}");
    let export = |to: &str, env: &[(&str, String)]| {
        cli(
            &data,
            &[
                "export",
                "--to",
                to,
                "--include-open-period",
                "--period",
                "hourly",
            ],
            env,
        )
    };
    for (what, to, env, expect) in [
        (
            "unknown bucket",
            "s3://no-such-bucket/x/",
            good.clone(),
            vec!["`s3://no-such-bucket/x/audit-", "HTTP 404", "NoSuchBucket"],
        ),
        (
            "wrong secret",
            "s3://good-bucket/x/",
            with("AWS_SECRET_ACCESS_KEY", "not-the-secret"),
            vec!["`s3://good-bucket/x/audit-", "HTTP 403"],
        ),
        (
            "unreachable endpoint",
            "s3://good-bucket/x/",
            with("AWS_ENDPOINT_URL", &unreachable),
            vec!["cannot reach the S3 endpoint", &unreachable],
        ),
        (
            "no credentials",
            "s3://good-bucket/x/",
            with("AWS_ACCESS_KEY_ID", ""),
            vec!["no S3 credentials", "AWS_ACCESS_KEY_ID"],
        ),
        (
            "another scheme",
            "ftp://x",
            good.clone(),
            vec!["`ftp://` is not supported", "s3://BUCKET/PREFIX/"],
        ),
    ] {
        let (ok, out) = export(to, &env);
        assert!(!ok, "{what}: succeeded:\n{out}");
        for e in expect {
            assert!(out.contains(e), "{what}: no `{e}` in:\n{out}");
        }
    }
    assert!(s3.list("good-bucket", "").is_empty());

    // Nothing was marked exported: the next export starts from record 1.
    let (ok, out) = export("s3://good-bucket/x/", &good);
    assert!(ok, "{out}");
    let first: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(first["first_seq"], 1, "{out}");
    let downloads = tempfile::tempdir().unwrap();
    let files = s3.download("good-bucket", "x/", downloads.path());
    assert_exported(&data, &files, &ids);
}

#[tokio::test]
async fn a_server_refuses_a_bad_destination_and_survives_a_failing_one() {
    let cfg = config("audit:\n  export:\n    destination: ftp://x\n");
    let (file, data) = (cfg.config(), cfg.data());
    let (status, stderr) = support::start_failing(&[
        "--config",
        file.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert!(!status.success());
    assert!(
        stderr.contains("billing.yaml:") && stderr.contains("`ftp://` is not supported"),
        "{stderr}"
    );

    // A bucket that does not exist: the server serves, logs the failure at
    // shutdown, stops cleanly, and the records stay for the next export.
    let s3 = S3Server::start(&["good-bucket"]);
    let cfg = config("audit:\n  export:\n    destination: s3://no-such-bucket/\n");
    let data = cfg.data();
    let server = start(&cfg, &s3.env()).await;
    let ids = decide(&server, 3).await;
    let (status, log) = stop(server);
    assert!(status.success(), "{log}");
    assert!(
        log.contains("audit export failed") && log.contains("no-such-bucket"),
        "{log}"
    );
    let (ok, out) = cli(
        &data,
        &[
            "export",
            "--to",
            "s3://good-bucket/",
            "--include-open-period",
        ],
        &s3.env(),
    );
    assert!(ok, "{out}");
    let downloads = tempfile::tempdir().unwrap();
    let files = s3.download("good-bucket", "", downloads.path());
    assert_exported(&data, &files, &ids);
}

#[tokio::test]
async fn retention_refuses_to_cut_unexported_records() {
    let cfg = config("");
    let data = cfg.data();
    let server = start(&cfg, &[]).await;
    decide(&server, 4).await;
    assert!(stop(server).0.success());

    let (ok, out) = cli(&data, &["retain", "--older-than", "0s"], &[]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("nothing to remove") && out.contains("not exported yet"),
        "{out}"
    );
    let (ok, out) = cli(&data, &["verify"], &[]);
    assert!(ok && !out.contains("checkpoint"), "{out}");
    let (ok, out) = cli(&data, &["retain", "--older-than", "5 weeks"], &[]);
    assert!(!ok && out.contains("unknown unit"), "{out}");

    // Once exported, the same command removes them.
    let archive = tempfile::tempdir().unwrap();
    let to = archive.path().to_str().unwrap();
    let (ok, out) = cli(&data, &["export", "--to", to, "--include-open-period"], &[]);
    assert!(ok, "{out}");
    let (ok, out) = cli(&data, &["retain", "--older-than", "0s"], &[]);
    assert!(ok && out.contains("removed"), "{out}");
    let (ok, out) = cli(&data, &["verify"], &[]);
    assert!(ok && out.contains("checkpoint"), "{out}");
}
