//! What `palisade mcp-proxy` adds to an MCP tool call: an rmcp client calls
//! the same tool of the same rmcp server (streamable HTTP on loopback)
//! directly and through the proxy (the release binary, over stdio, in front
//! of the real server), in interleaved rounds, and the per-call latency of
//! each path is printed (p50, p90, p99). Through the proxy a call is
//! decided (`POST /v1/mcp/call`) and its result masked (`POST
//! /v1/mcp/result`); one `tools/list` (with `POST /v1/mcp/tools`) is timed
//! too.
//!
//! `cargo bench -p palisade --bench mcp` (optional: `MCP_CALLS` per round,
//! default 300; `MCP_ROUNDS`, default 3).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../tests/support/mcp_upstream.rs"]
mod mcp_upstream;
mod support;

use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, ClientConfig};
use rmcp::service::{RoleClient, RunningService};
use std::time::{Duration, Instant};

const TOKEN: &str = "pal_mcp_bench_token";

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn policy() -> String {
    format!(
        "project: mcp-bench\ntool_calls:\n  mcp:\n    github:\n      resource: \"{{/owner}}/{{/repo}}\"\n\
         agents:\n  bench:\n    tokens: [\"{}\"]\n    allow:\n      - service: github\n        \
         actions: [create_issue]\n        resources: [\"acme/*\"]\n",
        support::token_line(TOKEN)
    )
}

type Client = RunningService<RoleClient, ClientConfig>;

/// `calls` sequential calls of `create_issue`: each one's latency.
async fn calls(client: &Client, calls: usize) -> Vec<Duration> {
    let args = serde_json::json!({"owner": "acme", "repo": "billing", "title": "Bug"});
    let args = args.as_object().unwrap().clone();
    let mut out = Vec::with_capacity(calls);
    for _ in 0..calls {
        let started = Instant::now();
        let r = client
            .call_tool(CallToolRequestParams::new("create_issue").with_arguments(args.clone()))
            .await
            .unwrap();
        out.push(started.elapsed());
        assert_ne!(r.is_error, Some(true), "{r:?}");
    }
    out
}

fn summary(mut v: Vec<Duration>) -> String {
    v.sort();
    let at = |q: f64| {
        let i = ((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1;
        v[i].as_secs_f64() * 1e6
    };
    format!(
        "p50 {:>7.0} µs  p90 {:>7.0} µs  p99 {:>7.0} µs",
        at(0.5),
        at(0.9),
        at(0.99)
    )
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing:
    // run only when asked to measure.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let per_round = env_or("MCP_CALLS", 300);
    let rounds = env_or("MCP_ROUNDS", 3);
    let dir = tempfile::tempdir().unwrap();
    let (mut server, base) = support::start_server(dir.path(), &[("mcp.yaml", policy())]);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let upstream = mcp_upstream::Upstream::default();
        let url = upstream.serve_http().await;
        let direct: Client = ClientConfig::default()
            .serve(rmcp::transport::StreamableHttpClientTransport::from_uri(
                url.as_str(),
            ))
            .await
            .unwrap();
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_palisade"));
        command
            .args(["mcp-proxy", "--name", "github", "--server", &base])
            .args(["--upstream-url", &url])
            .env("PALISADE_TOKEN", TOKEN)
            .env("PALISADE_LOG", "warn");
        let proxied: Client = ClientConfig::default()
            .serve(rmcp::transport::TokioChildProcess::new(command).unwrap())
            .await
            .unwrap();
        // Warm both paths (connections, plugin instances).
        calls(&direct, 20).await;
        calls(&proxied, 20).await;
        println!("mcp: {rounds} rounds of {per_round} sequential tools/call per path, interleaved");
        for round in 1..=rounds {
            let d = calls(&direct, per_round).await;
            let p = calls(&proxied, per_round).await;
            println!("round {round}  direct   {}", summary(d));
            println!("round {round}  proxied  {}", summary(p));
        }
        let mut lists = Vec::new();
        for _ in 0..50 {
            let started = Instant::now();
            let tools = proxied.list_all_tools().await.unwrap();
            lists.push(started.elapsed());
            assert_eq!(tools.len(), 1);
        }
        println!("tools/list through the proxy  {}", summary(lists));
        let _ = proxied.cancel().await;
        let _ = direct.cancel().await;
    });
    let _ = server.kill();
    let _ = server.wait();
}
