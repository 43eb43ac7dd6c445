//! End to end, issue 18: `palisade mcp-proxy` (the real binary) between a
//! real MCP client and a real MCP server, both made here with the official
//! Rust SDK (rmcp), the calls decided by the real server under a policy
//! that allows some of the server's tools. Over stdio to the client and
//! streamable HTTP to the server, and the other way round.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/mcp_upstream.rs"]
mod mcp_upstream;
mod support;

use mcp_upstream::{CARD, Upstream};
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult, ClientConfig};
use rmcp::service::{RoleClient, RunningService};
use serde_json::{Value, json};
use support::{BIN, ConfigDir, token_hash};

const AGENT: &str = "tok-mcp-agent";
/// What a client must send to a `--listen` proxy.
const PROXY_SECRET: &str = "proxy-secret-0123456789";

/// The agent may open issues in `acme/*` and read customers; nothing
/// allows `delete_repo`, and `transfer_*` is denied everywhere.
fn policy() -> String {
    format!(
        r#"project: mcp-demo
{admins}tool_calls:
  mcp:
    github:
      resource: "{{/owner}}/{{/repo}}"
      tools:
        get_customer: "customers/{{/id}}"
agents:
  claude-mcp:
    tokens: ["{agent}"]
    allow:
      - service: github
        actions: [create_issue, "transfer_*"]
        resources: ["acme/*"]
      - service: github
        actions: [get_customer]
        resources: ["customers/*"]
    deny:
      - service: github
        actions: ["transfer_*"]
        resources: ["*"]
"#,
        admins = support::admin_policy(),
        agent = token_hash(AGENT),
    )
}

async fn serve() -> (ConfigDir, support::Server) {
    // rmcp's HTTP client has rustls without a crypto provider of its own.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cfg = ConfigDir::new("policy: policy.yaml\n");
    std::fs::write(cfg.dir.path().join("policy.yaml"), policy()).unwrap();
    let s = cfg.start().await;
    (cfg, s)
}

/// `palisade mcp-proxy ARGS` as a child process, its client connected to
/// it over stdio.
async fn proxy_over_stdio(token: &str, args: &[&str]) -> RunningService<RoleClient, ClientConfig> {
    let mut command = tokio::process::Command::new(BIN);
    command
        .arg("mcp-proxy")
        .args(args)
        .env("PALISADE_TOKEN", token);
    let transport = rmcp::transport::TokioChildProcess::new(command).unwrap();
    ClientConfig::default().serve(transport).await.unwrap()
}

fn call(tool: &str, arguments: Value) -> CallToolRequestParams {
    CallToolRequestParams::new(tool.to_owned())
        .with_arguments(arguments.as_object().unwrap().clone())
}

/// The text of a result's content.
fn text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

async fn names(client: &RunningService<RoleClient, ClientConfig>) -> Vec<String> {
    let mut names: Vec<String> = client
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    names.sort();
    names
}

/// The behaviour both transports must show, through `client`.
async fn allowed_listed_denied_hidden_results_masked(
    client: &RunningService<RoleClient, ClientConfig>,
    upstream: &Upstream,
) {
    // Only what a rule could allow is listed: not `delete_repo` (no rule),
    // not `transfer_repo` (denied on every resource).
    assert_eq!(names(client).await, ["create_issue", "get_customer"]);
    // What the server says enters the agent's context masked: its tools'
    // descriptions, and its instructions.
    let listed = serde_json::to_string(&client.list_all_tools().await.unwrap()).unwrap();
    assert!(
        !listed.contains(CARD) && listed.contains("credit_card"),
        "{listed}"
    );
    let info = client.peer().peer_info().unwrap();
    let instructions = info.instructions.clone().unwrap_or_default();
    assert!(
        instructions.starts_with("Billing server.") && !instructions.contains(CARD),
        "{instructions}"
    );

    // Listed and allowed: made, the resource from the arguments.
    let r = client
        .call_tool(call(
            "create_issue",
            json!({"owner": "acme", "repo": "billing", "title": "Bug"}),
        ))
        .await
        .unwrap();
    assert_ne!(r.is_error, Some(true), "{}", text(&r));
    assert_eq!(text(&r), "create_issue done");
    assert_eq!(upstream.saw("create_issue"), 1);

    // Listed, but not on this resource: decided with it, not made.
    let r = client
        .call_tool(call(
            "create_issue",
            json!({"owner": "evil", "repo": "x", "title": "t"}),
        ))
        .await
        .unwrap();
    assert_eq!(r.is_error, Some(true));
    assert!(text(&r).contains("Palisade denied"), "{}", text(&r));
    assert!(text(&r).contains("evil/x"), "{}", text(&r));
    assert_eq!(
        upstream.saw("create_issue"),
        1,
        "the denied call was not made"
    );

    // Not listed: not callable either, by name, by the same check.
    for tool in ["delete_repo", "transfer_repo"] {
        let r = client
            .call_tool(call(tool, json!({"owner": "acme", "repo": "billing"})))
            .await
            .unwrap();
        assert_eq!(r.is_error, Some(true), "{tool}");
        assert!(text(&r).contains("is not offered"), "{tool}: {}", text(&r));
        assert_eq!(upstream.saw(tool), 0, "{tool} never reached the server");
    }

    // Arguments that do not give the resource: refused, not guessed at.
    let r = client
        .call_tool(call("create_issue", json!({"title": "no repository"})))
        .await
        .unwrap();
    assert_eq!(r.is_error, Some(true));
    assert!(text(&r).contains("cannot be read"), "{}", text(&r));
    assert_eq!(upstream.saw("create_issue"), 1);

    // A result with a card number arrives masked.
    let r = client
        .call_tool(call("get_customer", json!({"id": "cus_42"})))
        .await
        .unwrap();
    let t = text(&r);
    assert!(!t.contains(CARD), "{t}");
    assert!(t.contains("credit_card") && t.contains("Jane Doe"), "{t}");
}

#[tokio::test(flavor = "multi_thread")]
async fn over_stdio_the_proxy_lists_calls_and_masks_only_as_the_policy_says() {
    let (_cfg, s) = serve().await;
    let upstream = Upstream::default();
    let url = upstream.serve_http().await;
    let server = s.url("");
    let client = proxy_over_stdio(
        AGENT,
        &[
            "--name",
            "github",
            "--server",
            server.trim_end_matches('/'),
            "--upstream-url",
            &url,
        ],
    )
    .await;
    allowed_listed_denied_hidden_results_masked(&client, &upstream).await;

    // Each call was decided and recorded: the allowed one, its result, the
    // denied ones.
    let (status, audit) = s
        .get_as("/v1/audit?project=mcp-demo&limit=100", support::ADMIN)
        .await;
    assert_eq!(status, 200, "{audit}");
    let trail = audit.to_string();
    for needle in [
        "create_issue",
        "delete_repo",
        "transfer_repo",
        "get_customer",
        "mcp_call_refused",
    ] {
        assert!(trail.contains(needle), "{needle} is in the trail: {trail}");
    }
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn over_streamable_http_the_proxy_fronts_a_stdio_server_the_same_way() {
    let (_cfg, s) = serve().await;
    let upstream = Upstream::default();
    let url = upstream.serve_http().await;
    let server = s.url("");
    let server = server.trim_end_matches('/');
    // The client speaks streamable HTTP to the proxy; the proxy runs its
    // MCP server as a command over stdio: another proxy in front of the
    // HTTP server (given its own token: a proxy never passes its own on).
    let token = format!("PALISADE_TOKEN={AGENT}");
    let mut proxy = tokio::process::Command::new(BIN)
        .args([
            "mcp-proxy",
            "--name",
            "github",
            "--server",
            server,
            "--listen",
            "127.0.0.1:0",
            "--",
            "env",
            &token,
            BIN,
            "mcp-proxy",
            "--name",
            "github",
            "--server",
            server,
            "--upstream-url",
            &url,
        ])
        .env("PALISADE_TOKEN", AGENT)
        .env("PALISADE_PROXY_TOKEN", PROXY_SECRET)
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let endpoint = listening(&mut proxy).await;

    // Without the proxy's token, or with another, nothing is served.
    for auth in [None, Some("Bearer not-the-proxy-token")] {
        let mut request = reqwest::Client::new()
            .post(&endpoint)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#);
        if let Some(a) = auth {
            request = request.header("authorization", a);
        }
        assert_eq!(request.send().await.unwrap().status(), 401, "{auth:?}");
    }

    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    let transport = rmcp::transport::StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(endpoint).auth_header(PROXY_SECRET),
    );
    let client = ClientConfig::default().serve(transport).await.unwrap();
    allowed_listed_denied_hidden_results_masked(&client, &upstream).await;
    client.cancel().await.unwrap();

    // A proxy that would serve beyond loopback, or without a token, does
    // not start.
    for (listen, secret) in [("0.0.0.0:0", PROXY_SECRET), ("127.0.0.1:0", "")] {
        let out = tokio::process::Command::new(BIN)
            .args(["mcp-proxy", "--name", "github", "--server", server])
            .args(["--listen", listen, "--upstream-url", &url])
            .env("PALISADE_TOKEN", AGENT)
            .env("PALISADE_PROXY_TOKEN", secret)
            .output()
            .await
            .unwrap();
        assert!(!out.status.success(), "{listen}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("loopback") || err.contains("PALISADE_PROXY_TOKEN"),
            "{err}"
        );
    }
}

/// The address a `--listen` proxy prints on stderr.
async fn listening(proxy: &mut tokio::process::Child) -> String {
    use tokio::io::AsyncBufReadExt;
    let stderr = proxy.stderr.take().unwrap();
    let mut lines = tokio::io::BufReader::new(stderr).lines();
    let found = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(url) = line.split("listening on ").nth(1) {
                return url.trim().to_owned();
            }
        }
        panic!("the proxy exited without listening");
    })
    .await
    .unwrap();
    // Keep draining its stderr, so that it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn without_its_palisade_server_the_proxy_lists_nothing_and_makes_no_call() {
    let (_cfg, s) = serve().await;
    let upstream = Upstream::default();
    let url = upstream.serve_http().await;
    let server = s.url("");
    let server = server.trim_end_matches('/').to_owned();
    let args = [
        "--name",
        "github",
        "--server",
        &server,
        "--upstream-url",
        &url,
    ];

    // A token the server does not know: nothing listed, nothing made.
    let client = proxy_over_stdio("tok-unknown", &args).await;
    let listed = client.list_all_tools().await;
    assert!(listed.is_err(), "{listed:?}");
    let r = client
        .call_tool(call(
            "create_issue",
            json!({"owner": "acme", "repo": "billing"}),
        ))
        .await
        .unwrap();
    assert_eq!(r.is_error, Some(true));
    assert!(text(&r).contains("401"), "{}", text(&r));
    client.cancel().await.unwrap();

    // Bad requests to the routes are refused, and change nothing.
    let http = reqwest::Client::new();
    for (route, body) in [
        ("/v1/mcp/call", json!({"server": "github", "session": "s"})),
        (
            "/v1/mcp/call",
            json!({"server": "github", "session": "s", "call_id": "c", "tool": ""}),
        ),
        (
            "/v1/mcp/tools",
            json!({"server": "github", "session": "s", "tools": ["create_issue"]}),
        ),
        (
            "/v1/mcp/result",
            json!({"server": "github", "session": "s", "call_id": "c", "tool": "t", "result": {}, "extra": 1}),
        ),
    ] {
        let resp = http
            .post(s.url(route))
            .bearer_auth(AGENT)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{route} {body}");
        let answer: Value = resp.json().await.unwrap();
        assert_eq!(answer["error"]["code"], "invalid_request", "{answer}");
    }

    // A tool the server names badly is not shown; the others are.
    let resp = http
        .post(s.url("/v1/mcp/tools"))
        .bearer_auth(AGENT)
        .json(&json!({"server": "github", "session": "s", "tools": [
            {"name": "create_issue", "inputSchema": {"type": "object"}},
            {"name": "create_issue\u{7}", "inputSchema": {"type": "object"}},
            {"inputSchema": {"type": "object"}},
        ]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer["offered"].as_array().unwrap().len(), 1, "{answer}");
    assert_eq!(answer["offered"][0]["name"], "create_issue", "{answer}");
    assert_eq!(answer["hidden"].as_array().unwrap().len(), 2, "{answer}");

    // The server goes away under a running proxy: its next listing and
    // call fail, and the call is not made.
    let client = proxy_over_stdio(AGENT, &args).await;
    assert_eq!(names(&client).await, ["create_issue", "get_customer"]);
    s.terminate();
    assert!(client.list_all_tools().await.is_err());
    let r = client
        .call_tool(call(
            "create_issue",
            json!({"owner": "acme", "repo": "billing"}),
        ))
        .await
        .unwrap();
    assert_eq!(r.is_error, Some(true));
    assert!(text(&r).contains("cannot be reached"), "{}", text(&r));
    assert_eq!(upstream.saw("create_issue"), 0);
    client.cancel().await.unwrap();
}
