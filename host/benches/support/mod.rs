//! Shared by the benchmarks that drive the real server.
// Each benchmark uses part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// The sha256 line of `token`, as a policy's `identities` lists it.
pub fn token_line(token: &str) -> String {
    use sha2::Digest;
    format!(
        "sha256:{}",
        hex::encode(sha2::Sha256::digest(token.as_bytes()))
    )
}

/// Writes `files` into `dir/policies`, starts the release binary on a free
/// loopback port with `PALISADE_LOG=warn`, and returns it with its base URL.
pub fn start_server(dir: &std::path::Path, files: &[(&str, String)]) -> (Child, String) {
    std::fs::create_dir_all(dir.join("policies")).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join("policies").join(name), text).unwrap();
    }
    // `BENCH_AUDIT=off` measures the decision path without the audit trail.
    let audit = if std::env::var("BENCH_AUDIT").as_deref() == Ok("off") {
        "audit:\n  enabled: false\n"
    } else {
        ""
    };
    // `BENCH_BUDGETS=on` sets money budgets: they need a pricing table
    // (without one every decision they apply to is denied).
    let pricing = if std::env::var("BENCH_BUDGETS").as_deref() == Ok("on") {
        let mut p =
            "pricing:\n  models:\n    claude-sonnet-4: {input: $3, output: $15, cached: $0.30}\n"
                .to_owned();
        // `BENCH_RESERVATION_TIMEOUT=1s`: reservations of allowed calls
        // (whose usage the bench never reports) go back after that long.
        if let Ok(t) = std::env::var("BENCH_RESERVATION_TIMEOUT") {
            p.push_str(&format!("budgets:\n  reservation_timeout: {t}\n"));
        }
        p
    } else {
        String::new()
    };
    std::fs::write(
        dir.join("palisade.yaml"),
        format!("policy: policies\nmasking:\n  max_body_bytes: 16777216\n{audit}{pricing}"),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(dir.join("palisade.yaml"))
        .arg("--data-dir")
        .arg(dir.join("data"))
        .env("PALISADE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .trim_start_matches("palisade listening on ")
        .to_owned();
    wait_ready(&base);
    (child, base)
}

/// Polls `GET /readyz` until it answers 200 (bounded: 60 s).
fn wait_ready(base: &str) {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    for _ in 0..1200 {
        if let Ok(mut s) = std::net::TcpStream::connect(addr) {
            let _ = write!(
                s,
                "GET /readyz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
            );
            let mut answer = String::new();
            let _ = s.read_to_string(&mut answer);
            if answer.starts_with("HTTP/1.1 200") {
                return;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("the server at {base} did not become ready");
}

/// Deterministic mixed text of about `len` bytes: prose, log lines, config
/// and JSON fragments. `dense`: a sensitive value about every 110 bytes and
/// digit-heavy log lines; otherwise prose between them, one value about every
/// 500 bytes.
pub fn mixed_text(len: usize, dense: bool) -> String {
    const PROSE: &[&str] = &[
        "We reviewed the request with the team this morning and agreed to move the \
         rollout to next week, after the migration of the remaining accounts is done. ",
        "If the problem persists after clearing the cache, please send us a screenshot of \
         the error and the steps that led to it, so that we can reproduce it on our side. ",
        "The quarterly report shows steady growth in the enterprise segment, while the \
         self-serve plans stayed flat; churn went down slightly compared to last quarter. ",
    ];
    const PIECES: &[&str] = &[
        "Thanks for reaching out about your invoice. We looked into the charge from last week and \
         it seems the payment was processed twice because the first attempt timed out on our side. ",
        "2026-11-23T14:30:12.481Z INFO request_id=7f3c2a9e-41d4-4a71-b6e2-5d8c0e9f1a23 method=GET \
         path=/api/v2/orders/118844 status=200 duration_ms=42 version=v2.14.1\n",
        "The customer paid with card 4111 1111 1111 1111 and asked for a refund to the same card. ",
        "[server]\nlisten = 0.0.0.0:8443\nworkers = 8\nlog_level = info\ntimeout = 30s\n",
        "{\"order\": 2026118844, \"status\": \"shipped\", \"items\": 3, \"total\": \"129.90\"} ",
        "Please contact jane.doe@example.com or call +1 415 555 0100 if anything is unclear. ",
        "Build 4f1c9a2e8b7d6c5a4f3e2d1c0b9a8f7e6d5c4b3a finished in 12m 4s on runner ci-07. ",
        "export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\n",
        "Our records show the account was opened in March and upgraded to the team plan in June; \
         the next renewal is due on the first of December. ",
        "curl -H \"Authorization: Bearer Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA\" https://api.example.com/v1/items\n",
        "Traffic from 10.20.30.40 was blocked by the firewall rule at 14:31:07 after 5 attempts. ",
        "Transfer to IBAN DE89 3704 0044 0532 0130 00 scheduled for Friday. ",
    ];
    let mut out = String::with_capacity(len + 512);
    let mut i = 0usize;
    while out.len() < len {
        out.push_str(PIECES[i % PIECES.len()]);
        if !dense {
            for k in 0..3 {
                out.push_str(PROSE[(i + k) % PROSE.len()]);
            }
        }
        i += 1;
    }
    out.truncate(out.floor_char_boundary(len));
    out
}
