//! `palisade mcp-proxy`: an MCP server to its client and an MCP client to
//! the server it fronts (a command over stdio, or a streamable HTTP URL).
//! Its client sees only the tools the agent may call (`POST /v1/mcp/tools`),
//! each `tools/call` is decided by the Palisade server before it is made
//! (`POST /v1/mcp/call`), and each result is recorded and masked there
//! before the client gets it (`POST /v1/mcp/result`).
//!
//! It fails closed: a Palisade server that cannot be reached, or answers
//! anything but a well-formed answer, lists no tool, makes no call and
//! gives no result. Only tools pass: resources, prompts and what the
//! server would ask of the client (sampling, elicitation) are not offered,
//! since nothing would decide them. Nothing the server says reaches the
//! client unmasked: tool descriptions and schemas, its instructions and
//! its results all go through the project's masking chain.

use super::client::Server;
use anyhow::{Context, bail};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ClientConfig, ContentBlock,
    Implementation, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig,
    Tool,
};
use rmcp::service::{Peer, RequestContext, RoleClient, RoleServer};
use rmcp::{ErrorData as McpError, ServerHandler, ServiceExt};
use serde_json::{Value, json};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// `palisade mcp-proxy`'s options.
#[derive(clap::Args)]
pub(super) struct McpProxyArgs {
    /// The MCP server's name in the policy: its tools' requests are of this
    /// service (`tool_calls.mcp.NAME` gives their resource).
    #[arg(long)]
    name: String,
    /// The Palisade server (default: `$PALISADE_URL`, else
    /// `http://127.0.0.1:8080`). `PALISADE_TOKEN` is the agent's token.
    #[arg(long)]
    server: Option<String>,
    /// The MCP server's streamable HTTP endpoint, instead of a command.
    #[arg(long, value_name = "URL")]
    upstream_url: Option<String>,
    /// A header sent to `--upstream-url`, as `Name: value` (repeatable).
    #[arg(
        long = "upstream-header",
        value_name = "HEADER",
        requires = "upstream_url"
    )]
    upstream_headers: Vec<String>,
    /// Serve the client over streamable HTTP at this loopback address (at
    /// `/mcp`) instead of standard input and output; the client must send
    /// `Authorization: Bearer $PALISADE_PROXY_TOKEN`.
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// The Palisade session the calls are decided in (default: a new one
    /// for this run).
    #[arg(long)]
    session: Option<String>,
    /// Seconds to wait for the Palisade server's answer; a call that needs
    /// approval waits for it up to the policy's `tool_calls.approval_wait`.
    #[arg(long, default_value_t = 660, value_parser = clap::value_parser!(u64).range(1..=3600))]
    timeout: u64,
    /// The MCP server's command and its arguments, after `--`.
    #[arg(last = true, value_name = "COMMAND")]
    command: Vec<String>,
}

/// Runs the proxy until its client or its server goes away.
pub(super) fn run(args: McpProxyArgs) -> anyhow::Result<ExitCode> {
    // rmcp's HTTP client (reqwest) is built with rustls and no crypto
    // provider of its own: ring, the one ureq already uses.
    let _ = rustls::crypto::ring::default_provider().install_default();
    protect_token()?;
    if args.upstream_url.is_some() != args.command.is_empty() {
        bail!("give the MCP server either as `--upstream-url URL` or as a command after `--`");
    }
    let server = Server::from_env(
        args.server.clone(),
        "the agent's",
        Duration::from_secs(args.timeout),
    )?;
    let listen = match &args.listen {
        None => None,
        Some(addr) => Some(Listen::new(addr)?),
    };
    let palisade = Palisade {
        server,
        name: args.name.clone(),
        session: args
            .session
            .clone()
            .unwrap_or_else(|| palisade::identity::new_id("mcp")),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("palisade-mcp")
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(serve(args, palisade, listen))?;
    Ok(ExitCode::SUCCESS)
}

async fn serve(
    args: McpProxyArgs,
    palisade: Palisade,
    listen: Option<Listen>,
) -> anyhow::Result<()> {
    let upstream = connect(&args).await?;
    // The server's instructions, masked; without an answer, none.
    let instructions = match upstream
        .peer()
        .peer_info()
        .and_then(|i| i.instructions.clone())
    {
        None => None,
        Some(text) => match palisade.listing(Vec::new(), Some(text)).await {
            Ok((_, masked)) => masked,
            Err(why) => {
                tracing::warn!(why, "the MCP server's instructions are not passed on");
                None
            }
        },
    };
    let proxy = Proxy(Arc::new(Inner {
        upstream: upstream.peer().clone(),
        instructions,
        palisade,
    }));
    tracing::info!(server = %proxy.0.palisade.name, session = %proxy.0.palisade.session, "mcp proxy started");
    match listen {
        None => {
            let client = proxy
                .serve((tokio::io::stdin(), tokio::io::stdout()))
                .await
                .context("the MCP client did not initialize")?;
            tokio::select! {
                _ = client.waiting() => {}
                _ = upstream.waiting() => bail!("the MCP server went away"),
            }
        }
        Some(listen) => {
            use rmcp::transport::streamable_http_server::{
                StreamableHttpServerConfig, StreamableHttpService,
                session::local::LocalSessionManager,
            };
            let listener = tokio::net::TcpListener::bind(listen.addr)
                .await
                .with_context(|| format!("cannot listen on {}", listen.addr))?;
            let local = listener.local_addr()?;
            let service = StreamableHttpService::new(
                move || Ok(proxy.clone()),
                Arc::new(LocalSessionManager::default()),
                // Loopback `Host`s only (rmcp's default), and no browser
                // page of any origin.
                StreamableHttpServerConfig::default().enforce_origin_validation(),
            );
            let secret = Arc::new(listen.secret);
            let router =
                axum::Router::new()
                    .nest_service("/mcp", service)
                    .layer(axum::middleware::from_fn(move |request, next| {
                        let secret = secret.clone();
                        async move { bearer(&secret, request, next).await }
                    }));
            eprintln!("palisade mcp-proxy: listening on http://{local}/mcp");
            tokio::select! {
                r = axum::serve(listener, router) => r.context("the HTTP server failed")?,
                _ = upstream.waiting() => bail!("the MCP server went away"),
            }
        }
    }
    Ok(())
}

/// The MCP server, connected and initialized.
async fn connect(
    args: &McpProxyArgs,
) -> anyhow::Result<rmcp::service::RunningService<RoleClient, ClientConfig>> {
    if let Some(url) = &args.upstream_url {
        use rmcp::transport::StreamableHttpClientTransport;
        use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
        let mut headers = std::collections::HashMap::new();
        for h in &args.upstream_headers {
            let (name, value) = h
                .split_once(':')
                .with_context(|| format!("`{h}` is not a `Name: value` header"))?;
            headers.insert(
                axum::http::HeaderName::try_from(name.trim())
                    .with_context(|| format!("`{name}` is not a header name"))?,
                axum::http::HeaderValue::try_from(value.trim())
                    .with_context(|| format!("the value of `{name}` is not a header value"))?,
            );
        }
        let transport = StreamableHttpClientTransport::from_config(
            StreamableHttpClientTransportConfig::with_uri(url.as_str()).custom_headers(headers),
        );
        return ClientConfig::default()
            .serve(transport)
            .await
            .with_context(|| format!("the MCP server at {url} did not initialize"));
    }
    let (program, rest) = args
        .command
        .split_first()
        .context("no MCP server command")?;
    let mut command = tokio::process::Command::new(program);
    command.args(rest);
    // The agent's token, and the one of a `--listen` proxy, are the
    // proxy's, not the server's: with either it could act as the agent.
    command.env_remove("PALISADE_TOKEN");
    command.env_remove("PALISADE_PROXY_TOKEN");
    let transport = rmcp::transport::TokioChildProcess::new(command)
        .with_context(|| format!("cannot start `{program}`"))?;
    ClientConfig::default()
        .serve(transport)
        .await
        .with_context(|| format!("the MCP server `{program}` did not initialize"))
}

/// Largest answer read from the Palisade server (a masked result).
const MAX_ANSWER: u64 = 64 * 1024 * 1024;

/// The Palisade server, as the agent, for one MCP server.
struct Palisade {
    server: Server,
    /// The MCP server's name.
    name: String,
    session: String,
}

impl Palisade {
    /// POSTs `body` to `path`; the answer, or why there is none. (ureq,
    /// the command line's client, on a blocking thread: a call may wait
    /// minutes for an approval.)
    async fn post(&self, path: &str, body: Value) -> Result<Value, String> {
        let server = self.server.clone();
        let path = path.to_owned();
        let blocking = tokio::task::spawn_blocking(move || {
            let (status, text) = server
                .post(&path, &body, MAX_ANSWER)
                .map_err(|e| format!("{e:#}"))?;
            let answer: Value = serde_json::from_str(&text)
                .map_err(|e| format!("the Palisade server's answer is not JSON: {e}"))?;
            if status != 200 {
                let why = answer["error"]["message"]
                    .as_str()
                    .unwrap_or("no reason given");
                return Err(format!("the Palisade server answered {status}: {why}"));
            }
            Ok(answer)
        });
        blocking
            .await
            .map_err(|e| format!("asking the Palisade server failed: {e}"))?
    }

    /// Which of `tools` the agent is shown, masked, and `instructions`
    /// masked.
    async fn listing(
        &self,
        tools: Vec<Tool>,
        instructions: Option<String>,
    ) -> Result<(Vec<Tool>, Option<String>), String> {
        let answer = self
            .post(
                "/v1/mcp/tools",
                json!({"server": self.name, "session": self.session, "tools": tools,
                       "instructions": instructions}),
            )
            .await?;
        let Some(list) = answer["offered"].as_array() else {
            return Err("the Palisade server's answer has no tools".into());
        };
        // A tool whose masked form is no longer a tool is not shown.
        let offered = list
            .iter()
            .filter_map(|t| {
                serde_json::from_value::<Tool>(t.clone())
                    .inspect_err(
                        |e| tracing::warn!(error = %e, "a masked tool is not a tool; not shown"),
                    )
                    .ok()
            })
            .collect();
        Ok((offered, answer["instructions"].as_str().map(str::to_owned)))
    }

    /// `Ok` if the call may be made; else why not.
    async fn decide(&self, call_id: &str, tool: &str, arguments: Value) -> Result<(), String> {
        let answer = self
            .post(
                "/v1/mcp/call",
                json!({"server": self.name, "session": self.session, "call_id": call_id,
                       "tool": tool, "arguments": arguments}),
            )
            .await?;
        match answer["decision"].as_str() {
            Some("allow") => Ok(()),
            _ => Err(answer["reason"]
                .as_str()
                .unwrap_or("no reason given")
                .to_owned()),
        }
    }

    /// `result` as the client may see it: as it is, masked, or an error
    /// in its place.
    async fn finish(&self, call_id: &str, tool: &str, result: CallToolResult) -> CallToolResult {
        let value = match serde_json::to_value(&result) {
            Ok(v) => v,
            Err(e) => return withheld(&format!("the result could not be read: {e}")),
        };
        let answer = match self
            .post(
                "/v1/mcp/result",
                json!({"server": self.name, "session": self.session, "call_id": call_id,
                       "tool": tool, "result": value}),
            )
            .await
        {
            Ok(a) => a,
            Err(why) => return withheld(&why),
        };
        let reason = answer["reason"].as_str().unwrap_or("no reason given");
        match answer["outcome"].as_str() {
            Some("clean") => result,
            Some("masked") => {
                match serde_json::from_value::<CallToolResult>(answer["result"].clone()) {
                    Ok(mut masked) if answer["reason"].is_string() => {
                        masked.is_error = Some(true);
                        masked
                            .content
                            .insert(0, ContentBlock::text(format!("Palisade: {reason}")));
                        masked
                    }
                    Ok(masked) => masked,
                    Err(e) => withheld(&format!("the masked result is not a tool result: {e}")),
                }
            }
            Some("withheld") => withheld(reason),
            _ => withheld("the Palisade server's answer has no outcome"),
        }
    }
}

/// The result in place of one that may not be given.
fn withheld(why: &str) -> CallToolResult {
    tracing::warn!(why, "a tool result was withheld");
    CallToolResult::error(vec![ContentBlock::text(format!(
        "[withheld by Palisade: {why}]"
    ))])
}

/// The proxy, as its client's MCP server.
#[derive(Clone)]
struct Proxy(Arc<Inner>);

struct Inner {
    upstream: Peer<RoleClient>,
    /// The server's instructions, masked.
    instructions: Option<String>,
    palisade: Palisade,
}

impl ServerHandler for Proxy {
    fn get_info(&self) -> ServerConfig {
        // The proxy's own name: the server's is its text, not the proxy's.
        let mut info = ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                format!("palisade-mcp-proxy/{}", self.0.palisade.name),
                env!("CARGO_PKG_VERSION"),
            ));
        if let Some(text) = &self.0.instructions {
            info = info.with_instructions(text.clone());
        }
        info
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        // The server's error is its text: logged here, not passed on.
        let tools = self.0.upstream.list_all_tools().await.map_err(|e| {
            tracing::warn!(error = %e, "the MCP server did not list its tools");
            McpError::internal_error("the MCP server did not list its tools", None)
        })?;
        let (shown, _) = self
            .0
            .palisade
            .listing(tools, None)
            .await
            .map_err(|why| McpError::internal_error(format!("Palisade: {why}"), None))?;
        Ok(ListToolsResult::with_all_items(shown))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let palisade = &self.0.palisade;
        let call_id = palisade::identity::new_id("call");
        let tool = request.name.to_string();
        let arguments = Value::Object(request.arguments.clone().unwrap_or_default());
        if let Err(why) = palisade.decide(&call_id, &tool, arguments).await {
            return Ok(CallToolResult::error(vec![ContentBlock::text(format!(
                "Palisade denied this tool call: {why}"
            ))])
            .into());
        }
        // Only what was decided is sent: the name and the arguments (not
        // the client's `_meta` or answers to input the server never asked).
        let sent = CallToolRequestParams::new(tool.clone())
            .with_arguments(request.arguments.unwrap_or_default());
        let result = match self.0.upstream.call_tool_once(sent).await {
            Ok(CallToolResponse::Complete(result)) => result,
            Ok(_) => CallToolResult::error(vec![ContentBlock::text(
                "the MCP server asked for input or made a task, which Palisade's proxy does not pass on",
            )]),
            Err(e) => CallToolResult::error(vec![ContentBlock::text(format!(
                "the MCP server failed: {e}"
            ))]),
        };
        Ok(palisade.finish(&call_id, &tool, result).await.into())
    }
}

/// The agent's token is in this process's environment: a server it runs as
/// the same user could read it from /proc/PID/environ, unless the process
/// is not dumpable (Linux; elsewhere there is no /proc to read it from).
fn protect_token() -> anyhow::Result<()> {
    #[cfg(target_os = "linux")]
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
        .context("cannot protect the agent's token from the processes this one starts")?;
    Ok(())
}

/// Where `--listen` serves, and the secret its client must send.
struct Listen {
    addr: std::net::SocketAddr,
    secret: String,
}

impl Listen {
    /// `addr` must be a loopback address, and `PALISADE_PROXY_TOKEN` set:
    /// whoever reaches the proxy calls tools as the agent.
    fn new(addr: &str) -> anyhow::Result<Self> {
        let addr: std::net::SocketAddr = addr
            .parse()
            .with_context(|| format!("`{addr}` is not an address such as 127.0.0.1:8931"))?;
        if !addr.ip().is_loopback() {
            bail!(
                "--listen takes a loopback address (127.0.0.1 or ::1): whoever reaches the proxy calls tools as the agent"
            );
        }
        let secret = std::env::var("PALISADE_PROXY_TOKEN")
            .ok()
            .filter(|t| t.len() >= 16)
            .context(
                "--listen needs PALISADE_PROXY_TOKEN (16 characters or more), the bearer token its MCP client sends",
            )?;
        Ok(Self { addr, secret })
    }
}

/// Lets a request through only with `Authorization: Bearer SECRET`.
async fn bearer(
    secret: &str,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    use subtle::ConstantTimeEq;
    let given = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if bool::from(given.as_bytes().ct_eq(secret.as_bytes())) {
        next.run(request).await
    } else {
        (
            axum::http::StatusCode::UNAUTHORIZED,
            "this proxy needs `Authorization: Bearer $PALISADE_PROXY_TOKEN`",
        )
            .into_response()
    }
}
