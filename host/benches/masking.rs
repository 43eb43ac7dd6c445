//! Masking throughput, in MB/s on one core: through each masking plugin
//! (the Wasm call alone) and through `POST /v1/mask` on the real server.
//!
//! `cargo bench -p palisade --bench masking` (optional: `MASK_SECONDS`, the
//! time spent per measurement, default 2).
//!
//! The text is mixed (prose, log lines, config and JSON fragments) with a
//! sensitive value about every 500 bytes, and for the plugins also dense (a
//! value about every 110 bytes, digit-heavy log lines); documents of 1 KB,
//! 64 KB and 1 MB.
//! Plugin figures are single-threaded calls on pooled instances, so they are
//! per core. Then the adversarial inputs of the plugins' own tests (about
//! 1 MB each, built to provoke quadratic scans), the slowest of each plugin:
//! those tests check that the plugins handle them, and the time they take is
//! measured here, not asserted there. The HTTP figures are one client after another (the server's
//! parsing, masking and answer on one request at a time) and two clients at
//! once (both cores; the generator shares them).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use palisade::masking::{MaskKey, Masker};
use palisade::policy::MaskingPolicy;
use palisade::runtime::{Caller, EngineSettings, Plugin, PluginOptions, Runtime};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOKEN: &str = "pal_mask_bench_token";
const SIZES: &[(&str, usize)] = &[("1 KB", 1024), ("64 KB", 64 * 1024), ("1 MB", 1024 * 1024)];

fn seconds() -> Duration {
    let s = std::env::var("MASK_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2.0);
    Duration::from_secs_f64(s)
}

/// Runs `f` (which masks `bytes` bytes) repeatedly for `time`; MB/s.
fn throughput(bytes: usize, time: Duration, mut f: impl FnMut()) -> f64 {
    for _ in 0..3 {
        f();
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < time {
        f();
        n += 1;
    }
    (bytes as f64 * n as f64) / start.elapsed().as_secs_f64() / 1e6
}

fn plugins() -> (Runtime, Vec<Arc<Plugin>>) {
    let rt = Runtime::new(
        &EngineSettings {
            pooling: true,
            max_instances: 16,
            ..EngineSettings::default()
        },
        None,
    )
    .unwrap();
    let chain = ["pii", "secrets"]
        .iter()
        .map(|name| {
            let bytes = palisade::builtin::plugin(name).unwrap();
            Arc::new(rt.load(name, bytes, PluginOptions::default()).unwrap())
        })
        .collect();
    (rt, chain)
}

fn bench_plugins(time: Duration) {
    let (_rt, chain) = plugins();
    let policy = MaskingPolicy::default();
    let key = MaskKey::from_bytes([7; 32]);
    let exec = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let caller = Caller::new("bench", "bench", "bench", "bench");
    println!("\nin the plugin (one core, pooled instance), MB/s");
    println!(
        "{:>8} {:>6} {:>10} {:>10} {:>22}",
        "size", "text", "pii", "secrets", "pii+secrets+operators"
    );
    for ((label, size), dense) in SIZES.iter().flat_map(|s| [(s, false), (s, true)]) {
        let text = support::mixed_text(*size, dense);
        let mut row = Vec::new();
        for p in &chain {
            row.push(throughput(text.len(), time, || {
                let found = exec.block_on(p.mask(&caller, &text)).unwrap();
                std::hint::black_box(found.value.len());
            }));
        }
        let masker = Masker {
            chain: chain.clone(),
            policy: &policy,
            key: &key,
            project: "bench",
            agent: "bot",
            session: "s",
            request_id: "bench",
            findings: None,
            limits: Default::default(),
        };
        row.push(throughput(text.len(), time, || {
            let (masked, _) = exec.block_on(masker.mask_text(&text)).unwrap();
            std::hint::black_box(masked.len());
        }));
        let kind = if dense { "dense" } else { "mixed" };
        println!(
            "{label:>8} {kind:>6} {:>10.1} {:>10.1} {:>22.1}",
            row[0], row[1], row[2]
        );
    }
}

/// The adversarial inputs of `adversarial_megabytes_finish` in
/// `plugins/pii/src/tests.rs`: each unit repeated to about 1 MB.
const PII_UNITS: &[&str] = &[
    "1",
    "4",
    "1 ",
    "4 ",
    "4-",
    "a@",
    "a",
    ":",
    "1.1.",
    "+",
    "+1 ",
    "(1",
    "0 ",
    "00 ",
    "ab12 ",
    "DE89 ",
    "1:",
    "a:",
    "a.",
    "a.a@",
    "٤",
    "\u{200B}4",
];

/// The adversarial inputs of `adversarial_inputs_finish` in
/// `plugins/secrets/src/tests.rs`: (prefix, unit repeated to about 1 MB).
const SECRETS_UNITS: &[(&str, &str)] = &[
    ("", "AKIA"),
    ("", "AKIA "),
    ("", "password="),
    ("", "password: "),
    ("", "pwd=/a="),
    ("", "eyJ."),
    ("", "eyJ-"),
    ("", "eyJaaaaaaaaaa."),
    ("", "eyJaaaaaaaaaa.eyJa."),
    ("", "-----BEGIN "),
    ("", "-----BEGIN PRIVATE KEY-----"),
    ("", "-----END PRIVATE KEY-----"),
    ("", "://:@"),
    ("", "a://b:c@"),
    ("", "Bearer "),
    ("", "Bearer Bearer abcdefghijklmnopq "),
    ("", "github_pat_"),
    ("", "xoxb-"),
    ("", "token=\""),
    ("", "token: {"),
    ("", "\"secret\": \""),
    ("", "--token --token "),
    ("", "aws_secret "),
    ("", "SecretAccessKey"),
    ("", "="),
    ("", ":"),
    ("", "-"),
    ("", "${"),
    ("", "password=<"),
    ("aws_secret_access_key=", "aB3/"),
];

fn bench_adversarial() {
    const MB: usize = 1 << 20;
    let (_rt, chain) = plugins();
    let exec = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let caller = Caller::new("bench", "bench", "bench", "bench");
    let pii: Vec<String> = PII_UNITS.iter().map(|u| u.repeat(MB / u.len())).collect();
    let secrets: Vec<String> = SECRETS_UNITS
        .iter()
        .map(|(prefix, u)| format!("{prefix}{}", u.repeat(MB / u.len())))
        .collect();
    println!(
        "
adversarial inputs of ~1 MB (one call each), slowest per plugin, MB/s"
    );
    for (plugin, inputs) in chain.iter().zip([pii, secrets]) {
        let mut rates: Vec<(f64, String)> = inputs
            .iter()
            .map(|text| {
                let start = Instant::now();
                // A plugin may refuse an input (a limit): that is its answer.
                let _ = std::hint::black_box(exec.block_on(plugin.mask(&caller, text)));
                let rate = text.len() as f64 / start.elapsed().as_secs_f64() / 1e6;
                let head: String = text.chars().take(12).collect();
                (rate, format!("{head:?}…"))
            })
            .collect();
        rates.sort_by(|a, b| a.0.total_cmp(&b.0));
        let slowest: Vec<String> = rates
            .iter()
            .take(3)
            .map(|(rate, input)| format!("{input} {rate:.1}"))
            .collect();
        println!("{:>8}: {}", plugin.name(), slowest.join(", "));
    }
}

fn bench_http(time: Duration) {
    let dir = tempfile::tempdir().unwrap();
    let policy = format!(
        "project: bench\nagents:\n  bot:\n    tokens: [\"{}\"]\n",
        support::token_line(TOKEN)
    );
    let (mut child, base) = support::start_server(dir.path(), &[("bench.yaml", policy)]);
    let url = format!("{base}/v1/mask");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    println!("\nthrough POST /v1/mask (text; pii + secrets; redact), MB/s of text");
    println!("{:>8} {:>12} {:>12}", "size", "1 client", "2 clients");
    for (label, size) in SIZES {
        let text = support::mixed_text(*size, false);
        let body = serde_json::to_vec(&serde_json::json!({
            "session": "s", "service": "docs", "text": text
        }))
        .unwrap();
        let mut row = Vec::new();
        for clients in [1usize, 2] {
            let body = body.clone();
            let url = url.clone();
            let mbps = rt.block_on(async move {
                let client = reqwest::Client::new();
                let send = |client: reqwest::Client, url: String, body: Vec<u8>| async move {
                    let r = client
                        .post(&url)
                        .bearer_auth(TOKEN)
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await
                        .unwrap();
                    assert!(r.status().is_success(), "{}", r.status());
                    r.bytes().await.unwrap();
                };
                for _ in 0..3 {
                    send(client.clone(), url.clone(), body.clone()).await;
                }
                let start = Instant::now();
                let mut tasks = Vec::new();
                for _ in 0..clients {
                    let (client, url, body) = (client.clone(), url.clone(), body.clone());
                    tasks.push(tokio::spawn(async move {
                        let mut n = 0u64;
                        while start.elapsed() < time {
                            send(client.clone(), url.clone(), body.clone()).await;
                            n += 1;
                        }
                        n
                    }));
                }
                let mut total = 0;
                for t in tasks {
                    total += t.await.unwrap();
                }
                (*size as f64 * total as f64) / start.elapsed().as_secs_f64() / 1e6
            });
            row.push(mbps);
        }
        println!("{label:>8} {:>12.1} {:>12.1}", row[0], row[1]);
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let time = seconds();
    bench_plugins(time);
    bench_adversarial();
    bench_http(time);
}
