//! The HTTP interface: a thin layer that hands off to the runtime.
//!
//! [`app`] builds the router, so tests can drive it with `oneshot` and the
//! server can serve it on a real socket.

mod admin;
mod alerts;
pub use alerts::record as record_alert;
mod approvals;
pub use approvals::record as record_approval;
mod audit;
mod auth;
mod budgets;
mod containment;
mod decide;
mod grants;
pub use grants::record as record_grant;
mod health;
mod hooks;
mod mask;
mod mcp;
mod plugins;
mod results;
mod sessions;
mod slack;
mod toolcalls;
mod usage;

use crate::audit::AuditLog;
use crate::config::MaskSettings;
use crate::live::Live;
use crate::masking::MaskKey;
use crate::reload::Reloader;
use crate::snapshot::Snapshot;
use axum::Json;
use axum::Router;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::sync::{Arc, OnceLock};
use tower_http::catch_panic::CatchPanicLayer;

/// What the handlers share.
#[derive(Default)]
pub struct AppState {
    live: Arc<Live>,
    mask_settings: MaskSettings,
    mask_key: Option<MaskKey>,
    audit: Option<Arc<AuditLog>>,
    reloader: OnceLock<Arc<Reloader>>,
    gate: OnceLock<Arc<crate::oversight::ServerGate>>,
    /// Tool calls allowed (Claude Code's, the MCP proxy's), until their result.
    tool_calls: OnceLock<toolcalls::Calls>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("ready", &self.live.is_ready())
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// A state with nothing loaded, not ready.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Like [`AppState::new`], serving for real: what `live` holds, with the
    /// masking limits of the configuration, the host's masking key, and the
    /// audit log (when audit is enabled).
    pub fn serving(
        live: Arc<Live>,
        mask_settings: MaskSettings,
        mask_key: MaskKey,
        audit: Option<Arc<AuditLog>>,
    ) -> Arc<Self> {
        Arc::new(Self {
            live,
            mask_settings,
            mask_key: Some(mask_key),
            audit,
            ..Self::default()
        })
    }

    /// The audit log, when audit is enabled.
    pub fn audit(&self) -> Option<&Arc<AuditLog>> {
        self.audit.as_ref()
    }

    /// The snapshot serving and the latest reload attempt.
    pub fn live(&self) -> &Arc<Live> {
        &self.live
    }

    /// The current snapshot, once loaded.
    pub fn snapshot(&self) -> Option<Arc<Snapshot>> {
        self.live.snapshot()
    }

    /// The masking limits.
    pub fn mask_settings(&self) -> MaskSettings {
        self.mask_settings
    }

    /// The host's masking key, when the state can mask.
    pub fn mask_key(&self) -> Option<&MaskKey> {
        self.mask_key.as_ref()
    }

    /// The approval gate, once the server's state store is open.
    pub fn gate(&self) -> Option<&Arc<crate::oversight::ServerGate>> {
        self.gate.get()
    }

    /// Gives the decision path and the approval routes their gate.
    pub fn set_gate(&self, gate: Arc<crate::oversight::ServerGate>) {
        let _ = self.gate.set(gate);
    }

    /// Tool calls allowed through the hook and MCP routes, until their result.
    fn tool_calls(&self) -> &toolcalls::Calls {
        self.tool_calls.get_or_init(toolcalls::calls)
    }

    /// Lets `POST /v1/admin/reload` reload through `reloader`.
    pub fn set_reloader(&self, reloader: Arc<Reloader>) {
        let _ = self.reloader.set(reloader);
    }
}

/// The server's oversight machinery (approvals, holds, sessions, grants,
/// alerts), or `503 state_unavailable` where there is none.
fn gate(state: &AppState) -> Result<&crate::oversight::ServerGate, ApiError> {
    state.gate().map(AsRef::as_ref).ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "state_unavailable",
            "oversight (approvals, holds, grants) is not available on this server",
        )
    })
}

/// Every route, as (method, path); `docs/openapi.yaml` must describe exactly these.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/v1/plugins"),
    ("POST", "/v1/decide"),
    ("POST", "/v1/mask"),
    ("GET", "/v1/status"),
    ("GET", "/v1/audit"),
    ("POST", "/v1/admin/reload"),
    ("GET", "/v1/approvals"),
    ("GET", "/v1/approvals/{id}"),
    ("POST", "/v1/approvals/{id}/approve"),
    ("POST", "/v1/approvals/{id}/deny"),
    ("POST", "/v1/slack/interactions"),
    ("POST", "/v1/sessions/{id}/kill"),
    ("POST", "/v1/agents/{name}/suspend"),
    ("POST", "/v1/agents/{name}/resume"),
    ("POST", "/v1/projects/{name}/pause"),
    ("POST", "/v1/projects/{name}/resume"),
    ("GET", "/v1/holds"),
    ("GET", "/v1/sessions"),
    ("POST", "/v1/grants"),
    ("GET", "/v1/grants"),
    ("DELETE", "/v1/grants/{id}"),
    ("GET", "/v1/alerts"),
    ("GET", "/v1/budgets"),
    ("POST", "/v1/usage"),
    ("POST", "/v1/decisions/{id}/result"),
    ("POST", "/v1/hooks/claude-code"),
    ("POST", "/v1/mcp/tools"),
    ("POST", "/v1/mcp/call"),
    ("POST", "/v1/mcp/result"),
];

/// Largest request body accepted, in bytes.
pub const MAX_BODY: usize = 64 * 1024;

/// The router.
pub fn app(state: Arc<AppState>) -> Router {
    let mask_limit = state.mask_settings().max_body_bytes;
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/v1/plugins", get(plugins::list))
        .route("/v1/decide", post(decide::decide))
        // Documents to mask are larger than requests to decide: the route's
        // own limit replaces the default one below.
        .route(
            "/v1/mask",
            post(mask::mask).layer(axum::extract::DefaultBodyLimit::max(mask_limit)),
        )
        // A `PostToolUse` event carries the tool's output: the handler reads
        // its body itself, up to masking's limit, so that an event over it
        // is still answered as its own event (see `hooks::read_capped`).
        .route("/v1/hooks/claude-code", post(hooks::claude_code))
        // A call's arguments and result are data: masking's limit.
        .route(
            "/v1/mcp/tools",
            post(mcp::tools).layer(axum::extract::DefaultBodyLimit::max(mask_limit)),
        )
        .route(
            "/v1/mcp/call",
            post(mcp::call).layer(axum::extract::DefaultBodyLimit::max(mask_limit)),
        )
        .route(
            "/v1/mcp/result",
            post(mcp::result).layer(axum::extract::DefaultBodyLimit::max(mask_limit)),
        )
        .route("/v1/status", get(admin::status))
        .route("/v1/audit", get(audit::query))
        .route("/v1/admin/reload", post(admin::reload))
        .route("/v1/approvals", get(approvals::list))
        .route("/v1/approvals/{id}", get(approvals::get))
        .route("/v1/approvals/{id}/approve", post(approvals::approve))
        .route("/v1/approvals/{id}/deny", post(approvals::deny))
        .route("/v1/sessions/{id}/kill", post(containment::kill_session))
        .route(
            "/v1/agents/{name}/suspend",
            post(containment::suspend_agent),
        )
        .route("/v1/agents/{name}/resume", post(containment::resume_agent))
        .route(
            "/v1/projects/{name}/pause",
            post(containment::pause_project),
        )
        .route(
            "/v1/projects/{name}/resume",
            post(containment::resume_project),
        )
        .route("/v1/holds", get(containment::list))
        .route("/v1/sessions", get(sessions::list))
        .route("/v1/grants", post(grants::give).get(grants::list))
        .route("/v1/grants/{id}", axum::routing::delete(grants::revoke))
        .route("/v1/alerts", get(alerts::list))
        .route("/v1/budgets", get(budgets::list))
        .route("/v1/usage", post(usage::report))
        .route("/v1/decisions/{id}/result", post(results::report))
        .route(
            "/v1/slack/interactions",
            post(slack::interactions)
                .layer(axum::extract::DefaultBodyLimit::max(slack::MAX_INTERACTION)),
        )
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(catch_panics())
}

/// A panic in a handler (a bug) answers `500 internal` and is logged with
/// its message, instead of dropping the connection: the caller gets a clear
/// error, never a decision, and the server keeps serving.
fn catch_panics() -> CatchPanicLayer<fn(Box<dyn std::any::Any + Send + 'static>) -> Response> {
    fn answer(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
        let message = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("(no message)");
        tracing::error!(panic = message, "a request handler panicked");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server failed while handling this request",
        )
        .into_response()
    }
    CatchPanicLayer::custom(answer)
}

/// The answer to a body that could not be read: `413 body_too_large` naming
/// the limit (and the setting that raises it, if any), else `400 invalid_body`.
pub(super) fn body_error(
    e: axum::extract::rejection::BytesRejection,
    limit: usize,
    setting: Option<&str>,
) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        let raise = setting
            .map(|s| format!(" (`{s}` in the configuration)"))
            .unwrap_or_default();
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the body is larger than the {limit}-byte limit{raise}"),
        );
    }
    ApiError::new(e.status(), "invalid_body", e.body_text())
}

/// A JSON error answer: `{"error": {"code": ..., "message": ...}}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    /// An error with this status, machine-readable code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// The message, for people.
    pub fn message(&self) -> String {
        self.message.clone()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(code = self.code, message = %self.message, "request failed");
        }
        let body = serde_json::json!({"error": {"code": self.code, "message": self.message}});
        (self.status, Json(body)).into_response()
    }
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed on {}", uri.path()),
    )
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no route for {method} {}", uri.path()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use std::collections::BTreeSet;
    use tower::ServiceExt;

    const OPENAPI: &str = include_str!("../../../docs/openapi.yaml");

    fn documented() -> BTreeSet<(String, String)> {
        let doc = crate::yaml::parse(OPENAPI).unwrap().value;
        let mut set = BTreeSet::new();
        for (path, ops) in doc["paths"].as_object().unwrap() {
            for method in ops.as_object().unwrap().keys() {
                set.insert((method.to_uppercase(), path.clone()));
            }
        }
        set
    }

    #[test]
    fn openapi_describes_exactly_the_routes() {
        let routes: BTreeSet<(String, String)> = ROUTES
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        assert_eq!(documented(), routes);
    }

    #[tokio::test]
    async fn every_documented_route_is_served() {
        for (method, path) in documented() {
            let req = Request::builder()
                .method(method.as_str())
                .uri(&path)
                .body(Body::empty())
                .unwrap();
            let resp = app(AppState::new()).oneshot(req).await.unwrap();
            // Routed to its handler: neither fallback answered (no route for
            // the path, or none for the method on it).
            for fallback in [StatusCode::NOT_FOUND, StatusCode::METHOD_NOT_ALLOWED] {
                assert_ne!(
                    resp.status(),
                    fallback,
                    "{method} {path} is documented but not routed to a handler"
                );
            }
        }
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_500_and_the_router_keeps_serving() {
        async fn boom() -> &'static str {
            panic!("a bug")
        }
        let router = Router::new()
            .route("/boom", get(boom))
            .route("/fine", get(|| async { "fine" }))
            .layer(catch_panics());
        let get = |path: &str| Request::builder().uri(path).body(Body::empty()).unwrap();
        let resp = router.clone().oneshot(get("/boom")).await.unwrap();
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"]["code"], "internal", "{body}");
        let resp = router.oneshot(get("/fine")).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn readyz_is_503_until_plugins_are_loaded() {
        let state = AppState::new();
        let req = || {
            Request::builder()
                .uri("/readyz")
                .body(Body::empty())
                .unwrap()
        };
        let resp = app(state.clone()).oneshot(req()).await.unwrap();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        state.live().install(Snapshot::default());
        let resp = app(state).oneshot(req()).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }
}
