//! End to end, issue 18: `palisade mcp-proxy` (the real binary) between a
//! real MCP client and a real MCP server, both made here with the official
//! Rust SDK (rmcp), the calls decided by the real server under a policy
//! that allows some of the server's tools. Over stdio to the client and
//! streamable HTTP to the server, and the other way round.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ClientConfig, ContentBlock,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RoleClient, RoleServer, RunningService};
use rmcp::{ErrorData as McpError, ServerHandler, ServiceExt};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use support::{BIN, ConfigDir, token_hash};

const AGENT: &str = "tok-mcp-agent";
const CARD: &str = "4111 1111 1111 1111";

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

/// A GitHub-like MCP server that records the calls it gets.
#[derive(Clone, Default)]
struct Upstream {
    calls: Arc<Mutex<Vec<String>>>,
}

impl ServerHandler for Upstream {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let schema = |props: Value| -> Arc<serde_json::Map<String, Value>> {
            Arc::new(
                json!({"type": "object", "properties": props})
                    .as_object()
                    .unwrap()
                    .clone(),
            )
        };
        let repo = json!({"owner": {"type": "string"}, "repo": {"type": "string"}});
        Ok(ListToolsResult::with_all_items(vec![
            Tool::new("create_issue", "Open an issue", schema(repo.clone())),
            Tool::new("delete_repo", "Delete a repository", schema(repo.clone())),
            Tool::new("transfer_repo", "Transfer a repository", schema(repo)),
            Tool::new(
                "get_customer",
                "Read a customer",
                schema(json!({"id": {"type": "string"}})),
            ),
        ]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        self.calls.lock().unwrap().push(request.name.to_string());
        let text = match &*request.name {
            "get_customer" => format!("Jane Doe, card {CARD}, net 30"),
            name => format!("{name} done"),
        };
        Ok(CallToolResult::success(vec![ContentBlock::text(text)]).into())
    }
}

impl Upstream {
    fn saw(&self, tool: &str) -> usize {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| *c == tool)
            .count()
    }

    /// Serves itself over streamable HTTP on loopback: its `/mcp` URL.
    async fn serve_http(&self) -> String {
        use rmcp::transport::streamable_http_server::{
            StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
        };
        let me = self.clone();
        let service = StreamableHttpService::new(
            move || Ok(me.clone()),
            Arc::new(LocalSessionManager::default()),
            StreamableHttpServerConfig::default(),
        );
        let router = axum::Router::new().nest_service("/mcp", service);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        format!("http://{addr}/mcp")
    }
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

    // Not listed: not callable either, by name.
    for tool in ["delete_repo", "transfer_repo"] {
        let r = client
            .call_tool(call(tool, json!({"owner": "acme", "repo": "billing"})))
            .await
            .unwrap();
        assert_eq!(r.is_error, Some(true), "{tool}");
        assert!(text(&r).contains("Palisade denied"), "{tool}: {}", text(&r));
        assert_eq!(upstream.saw(tool), 0, "{tool} never reached the server");
    }

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
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let endpoint = listening(&mut proxy).await;
    let transport = rmcp::transport::StreamableHttpClientTransport::from_uri(endpoint);
    let client = ClientConfig::default().serve(transport).await.unwrap();
    allowed_listed_denied_hidden_results_masked(&client, &upstream).await;
    client.cancel().await.unwrap();
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
            json!({"server": "github", "session": "s", "tools": ["a\u{7}"]}),
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
