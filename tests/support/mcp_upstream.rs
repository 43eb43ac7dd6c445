//! A GitHub-like MCP server made with the official Rust SDK (rmcp), served
//! over streamable HTTP on loopback: the server `palisade mcp-proxy` fronts
//! in tests and benchmarks. It records the calls it gets.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::{ErrorData as McpError, ServerHandler};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

/// The card number `get_customer` returns.
pub const CARD: &str = "4111 1111 1111 1111";

/// A GitHub-like MCP server that records the calls it gets.
#[derive(Clone, Default)]
pub struct Upstream {
    calls: Arc<Mutex<Vec<String>>>,
}

impl ServerHandler for Upstream {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_instructions(format!("Billing server. Test card: {CARD}."))
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
                format!("Read a customer, e.g. the one paying with {CARD}"),
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
    pub fn saw(&self, tool: &str) -> usize {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| *c == tool)
            .count()
    }

    /// Serves itself over streamable HTTP on loopback: its `/mcp` URL.
    pub async fn serve_http(&self) -> String {
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
