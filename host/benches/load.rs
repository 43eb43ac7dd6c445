//! Load test of the running server: decisions/s at saturation, and latency
//! percentiles at a fixed rate.
//!
//! `cargo bench -p palisade --bench load` (optional: `LOAD_SECONDS`,
//! `LOAD_RATE`, `LOAD_CONNECTIONS`, `LOAD_IN_FLIGHT`; `BENCH_AUDIT=off`
//! runs the server without the audit trail; `BENCH_ALERTS=on` gives the
//! project one alert rule of each kind, so that every decision is also
//! queued for alerts; `BENCH_BUDGETS=on` gives the agent a budget and a
//! rate limit and the project a budget and a rate limit, none of them
//! reached, and every request an `estimated_tokens`, so that every decision
//! goes through two rate limiters and reserves against three budgets;
//! `BENCH_ROUTE=hook` sends the same four requests as Claude Code
//! `PreToolUse` events of `Bash` lines (`git pull URL`, `git push URL
//! BRANCH`…) to `POST /v1/hooks/claude-code`, with `on_approval: ask`, so
//! that the line is read and mapped before the same decision).
//!
//! First it measures the disk it will sync to (see `disk_profile`), so that
//! every figure comes with the state of the machine it was taken on. Then it
//! starts the real `palisade` binary on loopback with seed 001's policy,
//! whose requests run through two Wasm plugins: the service's plugin (`git`)
//! and a project chain plugin (`glob`). Phase 1 is closed-loop over
//! keep-alive connections (throughput). Phase 2 is open-loop at a fixed rate:
//! request *i* is due at `start + i / rate`, and its latency is measured from
//! when it was due, so a stall is charged to every request it delays; it
//! starts one second after phase 1, with phase 1's connections as its warm
//! pool; after it, the bench prints what the audit writer did meanwhile
//! (batches, and how long their commits took, from `/v1/status`). Both
//! phases are bounded in time and count, and only target 127.0.0.1.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const POLICY: &str = include_str!("../../tests/policies/invoice-processor.yaml");
const TOKEN: &str = "pal_load_test_token";
const ADMIN: &str = "pal_load_test_admin";

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn start_server(dir: &std::path::Path) -> (std::process::Child, String) {
    let mut extra = format!(
        "identities:\n  claude-invoice-01: [\"{}\"]\nadmins:\n  bench: [\"{}\"]\nplugins:\n  project-glob:\n    builtin: glob\nchain: [project-glob]\n",
        support::token_line(TOKEN),
        support::token_line(ADMIN)
    );
    if hook_route() {
        extra.push_str("tool_calls:\n  on_approval: ask\n");
    }
    if std::env::var("BENCH_ALERTS").is_ok_and(|v| v == "on") {
        extra.push_str(
            "alerts:\n  - kind: denied\n  - kind: volume\n  - kind: off_hours\n  \
             - kind: first_access\n",
        );
    }
    let mut policy = POLICY.to_owned();
    if budgets_on() {
        policy = policy.replacen(
            "  claude-invoice-01:\n",
            "  claude-invoice-01:\n    budget:\n      max_tokens_per_session: 1000000000000000\n      \
             alert_at: 80%\n    rate_limits:\n      max_requests_per_minute: 6000000\n",
            1,
        );
        extra.push_str(
            "project_budget:\n  monthly_limit: $1000000000\n  max_tokens_per_month: 1000000000000000\n  \
             alert_thresholds: [50%, 75%, 90%]\n  on_exceed: pause_and_alert\n\
             project_rate_limits:\n  max_requests_per_minute: 6000000\n",
        );
    }
    support::start_server(dir, &[("invoice.yaml", policy), ("zz-load.yaml", extra)])
}

/// Whether `BENCH_ROUTE=hook`.
fn hook_route() -> bool {
    std::env::var("BENCH_ROUTE").is_ok_and(|v| v == "hook")
}

/// Request `i` of the mix as a Claude Code `PreToolUse` event: the same
/// decision, asked as a shell line.
fn hook_body(i: u64) -> String {
    let line = match i % 4 {
        0 => "git pull https://github.com/acme/api",
        1 => "git push https://github.com/acme/billing feature/x",
        2 => "git push https://github.com/acme/billing main",
        _ => "git push https://github.com/acme/billing :old",
    };
    serde_json::json!({
        "session_id": "s",
        "transcript_path": "/tmp/t.jsonl",
        "cwd": "/work/billing",
        "permission_mode": "default",
        "hook_event_name": "PreToolUse",
        "tool_name": "Bash",
        "tool_input": {"command": line, "description": "bench"},
        "tool_use_id": format!("toolu_{i}"),
    })
    .to_string()
}

/// Whether `BENCH_BUDGETS=on`.
fn budgets_on() -> bool {
    std::env::var("BENCH_BUDGETS").is_ok_and(|v| v == "on")
}

fn body(i: u64) -> &'static str {
    // A realistic mix: reads that are allowed, pushes that need approval, denials.
    match i % 4 {
        0 => r#"{"session":"s","service":"git","action":"pull","resource":"acme/api"}"#,
        1 => {
            r#"{"session":"s","service":"git","action":"push","resource":"acme/billing","attributes":{"branch":"feature/x"}}"#
        }
        2 => {
            r#"{"session":"s","service":"git","action":"push","resource":"acme/billing","attributes":{"branch":"main"}}"#
        }
        _ => {
            r#"{"session":"s","service":"git","action":"branch-delete","resource":"acme/billing"}"#
        }
    }
}

/// The four requests of the mix, as bytes on the wire.
struct Requests([Vec<u8>; 4]);

impl Requests {
    fn new(addr: &str) -> Self {
        Self(std::array::from_fn(|i| {
            let (path, body) = if hook_route() {
                ("/v1/hooks/claude-code", hook_body(i as u64))
            } else if budgets_on() {
                (
                    "/v1/decide",
                    body(i as u64).replacen('{', r#"{"estimated_tokens":100,"#, 1),
                )
            } else {
                ("/v1/decide", body(i as u64).to_owned())
            };
            format!(
                "POST {path} HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {TOKEN}\r\n\
                 content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes()
        }))
    }
}

/// One keep-alive HTTP/1.1 connection that sends ready-made requests and
/// reads just enough of each response to know it succeeded.
///
/// The generator shares the server's 2 cores, so it is kept lean: a general
/// client (reqwest: connection pool, header maps, a body stream per
/// response) cost about 25 µs of CPU per request, a third of what the
/// server itself spends on a decision.
struct Conn {
    stream: tokio::net::TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    async fn open(addr: &str) -> std::io::Result<Conn> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: Vec::with_capacity(1024),
        })
    }

    /// The `decision` (and `code`, if any) of the last answer read.
    fn answered(&self) -> String {
        let body = String::from_utf8_lossy(&self.buf);
        let field = |name: &str| {
            let key = format!("\"{name}\":\"");
            body.split_once(&key)
                .and_then(|(_, rest)| rest.split_once('"'))
                .map(|(v, _)| v.to_owned())
        };
        match (
            field("decision").or_else(|| field("permissionDecision")),
            field("code"),
        ) {
            (Some(d), Some(c)) => format!("{d} ({c})"),
            (Some(d), None) => d,
            _ => "?".into(),
        }
    }

    /// Sends request `i` of the mix; true if it was answered 200.
    async fn decide(&mut self, requests: &Requests, i: u64) -> std::io::Result<bool> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        self.stream.write_all(&requests.0[(i % 4) as usize]).await?;
        self.buf.clear();
        let mut chunk = [0u8; 2048];
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = std::str::from_utf8(&self.buf[..end]).unwrap_or("");
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        let (name, value) = l.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                let ok = head.starts_with("HTTP/1.1 200");
                let total = end + 4 + length;
                while self.buf.len() < total {
                    let n = self.stream.read(&mut chunk).await?;
                    if n == 0 {
                        return Err(std::io::ErrorKind::UnexpectedEof.into());
                    }
                    self.buf.extend_from_slice(&chunk[..n]);
                }
                return Ok(ok);
            }
            let n = self.stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// CPU time (user + system) the process `pid` has used so far, in µs, from
/// `/proc` (0 where there is none).
fn cpu_micros(pid: u32) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    // Fields after the command name, which is in parentheses.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|v| v.parse::<u64>().ok()))
        .sum();
    // USER_HZ is 100 on Linux.
    ticks * 10_000
}

/// What one durable write costs on this machine's disk right now: 8 KiB
/// `pwrite` + `fdatasync` in a loop for `seconds`, in `dir` (the server's
/// data directory's file system), with the server idle. The audit trail
/// syncs once per batch, so its latency can be no better than this; the
/// share of wall time spent in syncs over 1.5 ms is time in which every
/// decision waits.
fn disk_profile(dir: &std::path::Path, seconds: f64) -> String {
    use std::os::unix::fs::FileExt;
    let path = dir.join("disk-probe");
    let file = std::fs::File::create(&path).unwrap();
    const SPAN: u64 = 8 << 20;
    file.write_all_at(&vec![0u8; SPAN as usize], 0).unwrap();
    file.sync_all().unwrap();
    let block = [7u8; 8192];
    let (mut lat, mut offset) = (Vec::new(), 0u64);
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    while Instant::now() < end {
        let t = Instant::now();
        file.write_all_at(&block, offset).unwrap();
        file.sync_data().unwrap();
        lat.push(t.elapsed().as_micros() as u64);
        offset = (offset + 8192) % SPAN;
    }
    drop(file);
    std::fs::remove_file(&path).ok();
    let slow: u64 = lat.iter().filter(|&&l| l > 1500).sum();
    lat.sort_unstable();
    format!(
        "disk: 8 KiB pwrite+fdatasync, {} in {seconds} s: p50 {} µs, p99 {} µs, p99.9 {} µs, max {} µs; {:.2}% of the time in syncs over 1.5 ms",
        lat.len(),
        percentile(&lat, 0.50),
        percentile(&lat, 0.99),
        percentile(&lat, 0.999),
        lat.last().copied().unwrap_or(0),
        slow as f64 / (seconds * 1e4)
    )
}

/// The audit writer's counters from `/v1/status`.
struct WriterCounters {
    batches: u64,
    records: u64,
    /// Commit-time histogram: (bucket, batches), in the server's order.
    commit_ms: Vec<(String, u64)>,
}

/// The audit writer's counters (`None` with the audit trail off).
fn writer_counters(addr: &str) -> Option<WriterCounters> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    write!(
        s,
        "GET /v1/status HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {ADMIN}\r\nconnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).ok()?;
    let (_, body) = answer.split_once("\r\n\r\n")?;
    let status: serde_json::Value = serde_json::from_str(body).ok()?;
    let audit = status.get("audit")?.as_object()?;
    let commit_ms = audit
        .get("commit_ms")?
        .as_object()?
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
        .collect();
    Some(WriterCounters {
        batches: audit.get("batches")?.as_u64()?,
        records: audit.get("records")?.as_u64()?,
        commit_ms,
    })
}

/// What the audit writer did between two [`writer_counters`] readings.
fn writer_report(before: Option<WriterCounters>, after: Option<WriterCounters>) -> String {
    let (Some(before), Some(after)) = (before, after) else {
        return if std::env::var("BENCH_AUDIT").as_deref() == Ok("off") {
            "audit writer: off".into()
        } else {
            "audit writer: counters unavailable (GET /v1/status failed)".into()
        };
    };
    let batches = after.batches - before.batches;
    let records = after.records - before.records;
    let times: Vec<String> = after
        .commit_ms
        .iter()
        .zip(&before.commit_ms)
        .map(|((k, n1), (_, n0))| format!("{} {}", k.replace('_', " "), n1 - n0))
        .collect();
    format!(
        "audit writer: {records} records in {batches} synced batches ({:.1} per batch); commit times (ms): {}",
        records as f64 / batches.max(1) as f64,
        times.join(", ")
    )
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing we need.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let seconds = env_or("LOAD_SECONDS", 10);
    let rate = env_or("LOAD_RATE", 10_000);
    let connections = env_or("LOAD_CONNECTIONS", 32);
    let dir = tempfile::tempdir().unwrap();
    let (mut child, base) = start_server(dir.path());
    let pid = child.id();
    let addr = base.trim_start_matches("http://").to_owned();
    let requests = Arc::new(Requests::new(&addr));
    println!("{}", disk_profile(dir.path(), 3.0));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // `start_server` returned once `/readyz` answered.
        let mut warm = Conn::open(&addr).await.unwrap();
        // What the mix is answered, so that a run whose requests are all
        // denied early (a misconfiguration) shows as such.
        let mut mix = Vec::new();
        for i in 0..4 {
            assert!(warm.decide(&requests, i).await.unwrap(), "warm-up request failed");
            mix.push(warm.answered());
        }
        println!("mix: {}", mix.join(", "));
        for i in 4..2000 {
            assert!(warm.decide(&requests, i).await.unwrap(), "warm-up request failed");
        }
        drop(warm);

        // Phase 1: closed loop.
        let done = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let end = Instant::now() + Duration::from_secs(seconds);
        let mut tasks = Vec::new();
        for c in 0..connections {
            let (addr, requests, done, failed) = (addr.clone(), requests.clone(), done.clone(), failed.clone());
            tasks.push(tokio::spawn(async move {
                let mut conn = Conn::open(&addr).await.unwrap();
                let mut i = c;
                while Instant::now() < end {
                    match conn.decide(&requests, i).await {
                        Ok(true) => done.fetch_add(1, Ordering::Relaxed),
                        Ok(false) => failed.fetch_add(1, Ordering::Relaxed),
                        Err(_) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                            conn = Conn::open(&addr).await.unwrap();
                            0
                        }
                    };
                    i += connections;
                }
                conn
            }));
        }
        let started = Instant::now();
        let cpu_before = cpu_micros(pid);
        let own_before = cpu_micros(std::process::id());
        let mut pool = Vec::with_capacity(tasks.len());
        for t in tasks {
            pool.push(t.await.unwrap());
        }
        let elapsed = started.elapsed().as_secs_f64();
        let cpu = cpu_micros(pid).saturating_sub(cpu_before);
        let own = cpu_micros(std::process::id()).saturating_sub(own_before);
        let n = done.load(Ordering::Relaxed);
        println!(
            "closed loop, {connections} connections, {seconds} s: {n} decisions, {:.0} decisions/s, {} failed; server CPU {:.1} µs/decision, generator CPU {:.1} µs/decision",
            n as f64 / elapsed,
            failed.load(Ordering::Relaxed),
            cpu as f64 / n.max(1) as f64,
            own as f64 / n.max(1) as f64
        );

        // Phase 2: open loop at a fixed rate.
        let total = rate * seconds;
        let latencies = Arc::new(std::sync::Mutex::new(Vec::with_capacity(total as usize)));
        let failed = Arc::new(AtomicU64::new(0));
        // The closed loop's connections are the gateway's warm pool (more
        // are opened only when more requests are in flight), and the server
        // gets a second to finish the closed loop's work (the audit store's
        // upkeep) first.
        let idle: Arc<std::sync::Mutex<Vec<Conn>>> = Arc::new(std::sync::Mutex::new(pool));
        tokio::time::sleep(Duration::from_secs(1)).await;
        // Pacing runs on its own thread: tokio's timer has 1 ms resolution,
        // which would release requests in 1 ms bursts. A std sleep of 100 µs
        // keeps each request within ~0.2 ms of when it is due.
        let counters = writer_counters(&addr);
        let start = Instant::now() + Duration::from_millis(100);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(u64, Instant)>();
        let pacer = std::thread::spawn(move || {
            let mut i = 0;
            while i < total {
                let now = Instant::now();
                while i < total {
                    let due = start + Duration::from_secs_f64(i as f64 / rate as f64);
                    if due > now {
                        break;
                    }
                    if tx.send((i, due)).is_err() {
                        return;
                    }
                    i += 1;
                }
                std::thread::sleep(Duration::from_micros(100));
            }
        });
        // At most `in_flight` requests at once, each on a keep-alive
        // connection of its own (a gateway's connection pool): a server that
        // falls behind queues requests here, and the wait counts in their
        // latency.
        let in_flight = Arc::new(tokio::sync::Semaphore::new(env_or("LOAD_IN_FLIGHT", 256) as usize));
        let mut handles = Vec::with_capacity(total as usize);
        while let Some((i, due)) = rx.recv().await {
            let (addr, requests, idle, latencies, failed) =
                (addr.clone(), requests.clone(), idle.clone(), latencies.clone(), failed.clone());
            let permit = in_flight.clone().acquire_owned().await.unwrap();
            handles.push(tokio::spawn(async move {
                let conn = idle.lock().unwrap().pop();
                let conn = match conn {
                    Some(c) => Ok(c),
                    None => Conn::open(&addr).await,
                };
                let ok = match conn {
                    Ok(mut c) => {
                        let ok = c.decide(&requests, i).await;
                        if ok.is_ok() {
                            idle.lock().unwrap().push(c);
                        }
                        matches!(ok, Ok(true))
                    }
                    Err(_) => false,
                };
                drop(permit);
                let micros = due.elapsed().as_micros() as u64;
                if ok {
                    latencies.lock().unwrap().push(micros);
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        pacer.join().unwrap();
        for h in handles {
            h.await.unwrap();
        }
        let mut l = latencies.lock().unwrap().clone();
        l.sort_unstable();
        println!(
            "open loop at {rate}/s for {seconds} s: {} decisions, {} failed, p50 {} µs, p99 {} µs, p99.9 {} µs, max {} µs",
            l.len(),
            failed.load(Ordering::Relaxed),
            percentile(&l, 0.50),
            percentile(&l, 0.99),
            percentile(&l, 0.999),
            l.last().copied().unwrap_or(0)
        );
        println!("{}", writer_report(counters, writer_counters(&addr)));
    });
    child.kill().ok();
    child.wait().ok();
}
