//! End to end: the audit trail of a real server exported as its policy's
//! `audit:` block says — to a real S3-compatible server on loopback (`s3s-fs`
//! behind SigV4 authentication, in this process) and to a directory — with
//! the final export at SIGTERM; retention after export; a file larger than a
//! part uploaded in parts; and bad inputs that fail clearly and mark nothing
//! exported.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/s3.rs"]
mod s3;
mod support;

use palisade::audit::{AuditLog, DecisionEntry, PluginRecord};
use palisade::decision::Outcome;
use s3::S3Server;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use support::{BIN, ConfigDir, Server, token_hash};

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
    cfg.start_with_env(env).await
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

/// `palisade audit export --config FILE` works on the store of that
/// configuration's `data_dir`, not on `./palisade-data`.
#[tokio::test]
async fn export_by_hand_takes_the_data_directory_from_its_configuration() {
    let cfg = config("");
    let data = cfg.data();
    let server = start(&cfg, &[]).await;
    let ids = decide(&server, 3).await;
    assert!(stop(server).0.success());

    let elsewhere = tempfile::tempdir().unwrap();
    let conf = elsewhere.path().join("palisade.yaml");
    std::fs::write(&conf, format!("data_dir: {}\n", data.display())).unwrap();
    let exports = elsewhere.path().join("out");
    let out = Command::new(BIN)
        .current_dir(elsewhere.path())
        .args(["audit", "export", "--include-open-period", "--to"])
        .arg(&exports)
        .arg("--config")
        .arg(&conf)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(
        !elsewhere.path().join("palisade-data").exists(),
        "looked in ./palisade-data: {text}"
    );
    assert_exported(&data, &files_in(&exports), &ids);
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

#[test]
fn a_policy_cannot_export_to_a_bucket_the_configuration_does_not_list() {
    let cfg = ConfigDir::new("policy: policies\naudit:\n  s3:\n    buckets: [audit-archive]\n");
    let dir = cfg.dir.path().join("policies");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(
        dir.join("billing.yaml"),
        format!("{POLICY}audit:\n  export:\n    destination: s3://someone-elses-bucket/\n"),
    )
    .unwrap();
    let (file, data) = (cfg.config(), cfg.data());
    let (status, stderr) = support::start_failing(&[
        "--config",
        file.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert!(!status.success());
    assert!(
        stderr.contains("billing.yaml")
            && stderr.contains("someone-elses-bucket")
            && stderr.contains("audit.s3.buckets"),
        "{stderr}"
    );
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

#[tokio::test]
async fn export_and_retain_by_hand_refuse_a_running_servers_store() {
    let cfg = config("");
    let data = cfg.data();
    let server = start(&cfg, &[]).await;
    decide(&server, 3).await;
    let archive = tempfile::tempdir().unwrap();
    let to = archive.path().to_str().unwrap();
    for args in [
        vec!["export", "--to", to, "--include-open-period"],
        vec!["retain", "--older-than", "0s"],
    ] {
        let (ok, out) = cli(&data, &args, &[]);
        assert!(!ok && out.contains("in use by a running palisade"), "{out}");
    }
    // Nothing moved: the archive is empty, and the server's own export at
    // shutdown still starts from record 1.
    assert!(files_in(archive.path()).is_empty());
    assert!(stop(server).0.success());
    let (ok, out) = cli(&data, &["export", "--to", to, "--include-open-period"], &[]);
    assert!(ok && out.contains("\"first_seq\":1,"), "{out}");
}

#[tokio::test]
async fn an_existing_file_of_the_same_name_is_never_replaced() {
    let cfg = config("");
    let data = cfg.data();
    let server = start(&cfg, &[]).await;
    decide(&server, 2).await;
    assert!(stop(server).0.success());

    // A file of the name this export would use is there already (another
    // export of the same period, made before the frequency changed).
    let archive = tempfile::tempdir().unwrap();
    let (ok, out) = cli(&data, &["verify"], &[]);
    assert!(ok, "{out}");
    // The period is the first record's day (not the test's clock, which may
    // have passed midnight since).
    let first_ts: String = rusqlite::Connection::open(data.join("audit.db"))
        .unwrap()
        .query_row("SELECT ts FROM records WHERE seq = 1", [], |r| r.get(0))
        .unwrap();
    let today = &first_ts[..10];
    let taken = archive.path().join(format!("audit-{today}.jsonl"));
    std::fs::write(&taken, "earlier export\n").unwrap();
    let to = archive.path().to_str().unwrap();
    let (ok, out) = cli(&data, &["export", "--to", to, "--include-open-period"], &[]);
    assert!(ok, "{out}");
    assert_eq!(std::fs::read_to_string(&taken).unwrap(), "earlier export\n");
    let name = format!("audit-{today}.1.jsonl");
    assert!(out.contains(&name), "{out}");
    let (ok, out) = cli(
        &data,
        &["verify", archive.path().join(&name).to_str().unwrap()],
        &[],
    );
    assert!(ok, "{out}");
}

/// Writes `n` decisions of ~4.4 KB each (a large attribute) straight into
/// the log in `data` (faster than as many requests); returns their ids.
async fn write_large_log(data: &Path, n: usize) -> Vec<String> {
    std::fs::create_dir_all(data).unwrap();
    let log = AuditLog::open(data).unwrap();
    let mut pending = Vec::new();
    let mut ids = Vec::new();
    for i in 0..n {
        let id = format!("dec_{i:032x}");
        let note: String = (0..4_000)
            .map(|j| char::from(b'a' + ((i + j) % 26) as u8))
            .collect();
        pending.push(log.append(DecisionEntry {
            decision_id: id.clone(),
            agent: "bot".into(),
            session: format!("s-{}", i % 7),
            project: "billing".into(),
            service: "git".into(),
            action: "pull".into(),
            resource: format!("acme/repo-{i}"),
            attributes: BTreeMap::from([("note".to_owned(), note)]),
            decision: Outcome::Allow,
            reason: "allowed by billing.yaml:7".into(),
            plugins: vec![PluginRecord {
                plugin: "git".into(),
                verdict: "allow".into(),
                error: None,
                fuel: 1_000,
                micros: 5,
            }],
            policy_version: "v1".into(),
            latency_us: 100,
        }));
        ids.push(id);
    }
    for p in pending {
        p.await.unwrap();
    }
    log.close().unwrap();
    ids
}

#[tokio::test]
async fn a_file_larger_than_a_part_goes_up_in_parts_and_a_failed_upload_marks_nothing() {
    // Parts of 5 MiB (S3's smallest, which `s3s-fs` enforces too); ~13 MiB
    // of records in one daily file: 3 parts.
    let cfg = ConfigDir::new("audit:\n  s3:\n    part_size_mib: 5\n");
    let data = cfg.data();
    let ids = write_large_log(&data, 3_000).await;

    // The reference: the same records exported to a directory, from a copy
    // of the data directory (an export advances the mark of the one it reads).
    let copy = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, copy.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    let reference = tempfile::tempdir().unwrap();
    let args = ["--include-open-period", "--period", "daily"];
    let to = reference.path().to_str().unwrap();
    let (ok, out) = cli(
        copy.path(),
        &[&["export", "--to", to][..], &args].concat(),
        &[],
    );
    assert!(ok, "{out}");
    let reference = files_in(reference.path());
    let [reference] = reference.as_slice() else {
        panic!("one daily file expected (did the test run across midnight UTC?): {reference:?}");
    };
    let len = std::fs::metadata(reference).unwrap().len();
    assert!(
        len > 10 << 20 && len <= 15 << 20,
        "{len} bytes: not 3 parts of 5 MiB"
    );
    let name = reference.file_name().unwrap().to_str().unwrap();

    let s3 = S3Server::start(&["audit-bucket"]);
    let config = cfg.config();
    let export = |env: &[(&str, String)]| {
        let to = [
            "export",
            "--to",
            "s3://audit-bucket/big/",
            "--config",
            config.to_str().unwrap(),
        ];
        cli(&data, &[&to[..], &args].concat(), env)
    };
    let key = format!("big/{name}");
    let object = format!("`s3://audit-bucket/{key}`");

    // Wrong credentials: the export cannot even look whether the name is
    // taken (a HEAD answer has no body, so no S3 error code).
    let mut wrong = s3.env();
    wrong.retain(|(k, _)| *k != "AWS_SECRET_ACCESS_KEY");
    wrong.push(("AWS_SECRET_ACCESS_KEY", "not-the-secret".into()));
    let (ok, out) = export(&wrong);
    assert!(!ok, "{out}");
    for e in [
        &object,
        "cannot tell whether it exists already: HEAD answered HTTP 403 Forbidden",
    ] {
        assert!(out.contains(e), "no `{e}` in:\n{out}");
    }

    // The upload cannot even start: named, and nothing to abort.
    s3.refuse_creates(true);
    let (ok, out) = export(&s3.env());
    assert!(!ok, "{out}");
    for e in [
        &object,
        "CreateMultipartUpload failed: HTTP 403 Forbidden (AccessDenied: Access Denied)",
    ] {
        assert!(out.contains(e), "no `{e}` in:\n{out}");
    }
    assert!(!out.contains("aborted"), "{out}");
    assert_eq!(s3.aborted(), 0);
    assert!(s3.list("audit-bucket", "").is_empty());
    s3.refuse_creates(false);

    // Part 2 fails: the upload is aborted, nothing is stored or left.
    s3.fail_part(2);
    let (ok, out) = export(&s3.env());
    assert!(!ok, "{out}");
    for e in [
        &object,
        "UploadPart of part 2 of 3 failed: HTTP 500 Internal Server Error (InternalError: We encountered an internal error. Please try again.)",
        "the multipart upload was aborted",
    ] {
        assert!(out.contains(e), "no `{e}` in:\n{out}");
    }
    assert_eq!(s3.aborted(), 1);
    assert_eq!(s3.upload_leftovers(), 0);
    assert!(s3.list("audit-bucket", "").is_empty());
    let spools: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".s3-upload"))
        .collect();
    assert!(spools.is_empty(), "{spools:?}");

    // Nothing was marked exported: the next export sends record 1 onwards,
    // in 3 parts, and what is stored is the reference, byte for byte.
    s3.fail_part(0);
    let (ok, out) = export(&s3.env());
    assert!(ok, "{out}");
    let first: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(first["first_seq"], 1, "{out}");
    assert_eq!(s3.list("audit-bucket", ""), [key.as_str()]);
    let (stored, etag) = s3.head("audit-bucket", &key);
    assert_eq!(stored, len);
    assert!(etag.trim_matches('"').ends_with("-3"), "ETag {etag}");
    assert_eq!(s3.aborted(), 1);
    assert_eq!(s3.upload_leftovers(), 0);
    let downloads = tempfile::tempdir().unwrap();
    let files = s3.download("audit-bucket", "big/", downloads.path());
    assert!(
        std::fs::read(&files[0]).unwrap() == std::fs::read(reference).unwrap(),
        "the stored object differs from the directory export"
    );
    assert_exported(&data, &files, &ids);
    assert_nothing_left(&data);
}
