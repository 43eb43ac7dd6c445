//! The routes of `palisade mcp-proxy`, with an agent's token: which of an
//! MCP server's tools the agent is shown (`POST /v1/mcp/tools`), whether a
//! `tools/call` is made (`POST /v1/mcp/call`, the decision path of
//! `POST /v1/decide` on the request `toolcall::claude::mcp_ask` makes of
//! it), and a call's result, recorded and masked (`POST /v1/mcp/result`).
//!
//! Listing and calling read the same rules: a tool is shown only if a rule
//! or live grant of the agent could allow it (see `policy::listing`), and
//! a call can be allowed only by such a rule, so a tool that is not shown
//! cannot be called either; a tool that is shown is decided in full, with
//! its resource, on every call.

use super::toolcalls::{self, Output, Verdict};
use super::{ApiError, AppState, auth};
use crate::masking::{ParseError, offload, parse_strict};
use crate::policy::listing;
use crate::toolcall::claude::mcp_ask;
use crate::toolcall::plan::OnApproval;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;

/// Most tools one listing may name.
pub const MAX_TOOLS: usize = 1024;
/// Longest server name, tool name, session or call id, in bytes.
const MAX_NAME: usize = 256;

/// `POST /v1/mcp/tools`: the tools a server offers.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ToolsBody {
    /// The MCP server's name: the service its tools' requests are of.
    server: String,
    session: String,
    /// The names of its tools.
    tools: Vec<String>,
}

/// Which of them the agent is shown.
#[derive(Debug, Serialize)]
pub(super) struct ToolsAnswer {
    /// Shown, in the order given.
    offered: Vec<String>,
    /// Not shown, each with why.
    hidden: Vec<Hidden>,
}

/// A tool the agent is not shown.
#[derive(Debug, Serialize)]
struct Hidden {
    tool: String,
    reason: String,
}

/// `POST /v1/mcp/call`: a `tools/call` about to be made.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CallBody {
    server: String,
    session: String,
    /// The proxy's id of this call, to give its result under.
    call_id: String,
    tool: String,
    /// The call's arguments, as the client sent them.
    #[serde(default)]
    arguments: Value,
}

/// Whether the call is made.
#[derive(Debug, Serialize)]
pub(super) struct CallAnswer {
    /// `allow` or `deny`.
    decision: &'static str,
    reason: String,
    /// The decisions that allowed it.
    decisions: Vec<String>,
}

/// `POST /v1/mcp/result`: what an allowed call returned.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResultBody {
    server: String,
    session: String,
    call_id: String,
    tool: String,
    /// The `tools/call` result, as the server sent it.
    result: Value,
}

/// What the client may be given.
#[derive(Debug, Serialize)]
pub(super) struct ResultAnswer {
    /// `clean` (give the result as it is), `masked` (give `result`) or
    /// `withheld` (give nothing of it).
    outcome: &'static str,
    /// The result, masked (`masked` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<Value>,
    /// How many values were masked.
    findings: usize,
    /// Why the result is withheld, or why a masked one also blocks the
    /// call (`tool_calls.block_on_findings`).
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

/// `POST /v1/mcp/tools`.
pub(super) async fn tools(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ToolsAnswer>, ApiError> {
    let snapshot = auth::ready(&state)?;
    let (project, agent) = auth::agent(&snapshot, &headers)?;
    let body: ToolsBody = read(&state, body)?;
    check_name("server", &body.server)?;
    check_name("session", &body.session)?;
    if body.tools.len() > MAX_TOOLS {
        return Err(invalid(format!("more than {MAX_TOOLS} tools")));
    }
    for tool in &body.tools {
        check_name("tools[]", tool)?;
    }
    // A held agent, session or project may call nothing, so sees nothing;
    // nor does one whose holds cannot be read.
    let now = jiff::Timestamp::now().as_microsecond();
    let mut rules = agent.rules.get(&body.server).cloned().unwrap_or_default();
    let held = match state.gate() {
        None => None,
        Some(gate) => {
            let project_name = &project.policy.project;
            match gate
                .containment
                .check(project_name, &agent.name, &body.session)
                .await
            {
                Ok(None) => {
                    match gate
                        .grants
                        .live(project_name, &agent.name, &body.server, now)
                        .await
                    {
                        Ok(live) => {
                            rules.extend(live.iter().map(crate::oversight::Grant::rule));
                            None
                        }
                        Err(e) => {
                            tracing::warn!(project = %project_name, error = %e, "cannot read grants; none is counted");
                            None
                        }
                    }
                }
                Ok(Some(hold)) => Some(hold.denial()),
                Err(e) => {
                    tracing::error!(project = %project_name, error = %e, "cannot read the project's holds; no tool is shown");
                    Some("the kill switch's state cannot be read".to_owned())
                }
            }
        }
    };
    let mut answer = ToolsAnswer {
        offered: Vec::new(),
        hidden: Vec::new(),
    };
    for tool in body.tools {
        let verdict = match &held {
            Some(why) => Err(why.clone()),
            None => listing::offered(&rules, &tool),
        };
        match verdict {
            Ok(_) => answer.offered.push(tool),
            Err(reason) => answer.hidden.push(Hidden { tool, reason }),
        }
    }
    tracing::debug!(agent = %agent.name, server = %body.server, offered = answer.offered.len(), hidden = answer.hidden.len(), "mcp tools listed");
    Ok(Json(answer))
}

/// `POST /v1/mcp/call`.
pub(super) async fn call(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<CallAnswer>, ApiError> {
    let snapshot = auth::ready(&state)?;
    let (project, agent) = auth::agent(&snapshot, &headers)?;
    let body: CallBody = read(&state, body)?;
    check_name("server", &body.server)?;
    check_name("session", &body.session)?;
    check_name("call_id", &body.call_id)?;
    check_name("tool", &body.tool)?;
    let source = format!("mcp__{}__{}", body.server, body.tool);
    let ask = mcp_ask(
        &body.server,
        &body.tool,
        &body.arguments,
        &project.policy.tool_calls,
    );
    let caller = toolcalls::Caller {
        state: &state,
        project,
        agent,
        session: &body.session,
        tool: &source,
    };
    // MCP has no "ask the user": an approval is always waited for.
    let verdict = caller
        .decide(vec![ask], OnApproval::Wait, Some(&body.call_id))
        .await;
    Ok(Json(match verdict {
        Verdict::Allow(decisions) => CallAnswer {
            decision: "allow",
            reason: format!("allowed (decisions {})", decisions.join(", ")),
            decisions,
        },
        Verdict::Deny(reason) | Verdict::Ask(reason) => CallAnswer {
            decision: "deny",
            reason,
            decisions: Vec::new(),
        },
    }))
}

/// `POST /v1/mcp/result`.
pub(super) async fn result(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ResultAnswer>, ApiError> {
    let snapshot = auth::ready(&state)?;
    let (project, agent) = auth::agent(&snapshot, &headers)?;
    let body: ResultBody = read(&state, body)?;
    check_name("server", &body.server)?;
    check_name("session", &body.session)?;
    check_name("call_id", &body.call_id)?;
    check_name("tool", &body.tool)?;
    let source = format!("mcp__{}__{}", body.server, body.tool);
    let caller = toolcalls::Caller {
        state: &state,
        project,
        agent,
        session: &body.session,
        tool: &source,
    };
    let output = caller
        .finish(Some(&body.call_id), "mcp-proxy", &body.server, body.result)
        .await;
    Ok(Json(match output {
        Output::Clean => ResultAnswer {
            outcome: "clean",
            result: None,
            findings: 0,
            reason: None,
        },
        Output::Masked {
            value,
            findings,
            block,
        } => ResultAnswer {
            outcome: "masked",
            result: Some(value),
            findings,
            reason: block,
        },
        Output::Withheld(why) => ResultAnswer {
            outcome: "withheld",
            result: None,
            findings: 0,
            reason: Some(why),
        },
    }))
}

/// The body as `T`, parsed within masking's depth and value limits (a
/// call's arguments and result are data, as a document to mask is).
fn read<T: DeserializeOwned>(
    state: &AppState,
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let settings = state.mask_settings();
    let body = body.map_err(|e| {
        super::body_error(e, settings.max_body_bytes, Some("masking.max_body_bytes"))
    })?;
    let parsed = offload(body.len(), || {
        parse_strict(&body, settings.max_depth + 1, settings.max_values)
    });
    let value = match parsed {
        Ok(v) => v,
        Err(ParseError::Invalid(e)) => return Err(invalid(format!("not JSON: {e}"))),
        Err(ParseError::TooManyValues(n)) => {
            return Err(invalid(format!(
                "the body holds more than `masking.max_values` ({n}) values"
            )));
        }
    };
    serde_path_to_error::deserialize(value).map_err(|e| {
        let at = match e.path().to_string() {
            p if p == "." => String::new(),
            p => format!("`{p}`: "),
        };
        invalid(format!("{at}{}", e.inner()))
    })
}

fn invalid(message: String) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
}

/// A name of 1 to 256 bytes with no control character.
fn check_name(field: &str, value: &str) -> Result<(), ApiError> {
    if value.is_empty() || value.len() > MAX_NAME || value.chars().any(char::is_control) {
        return Err(invalid(format!(
            "`{field}` must be 1 to {MAX_NAME} bytes with no control character"
        )));
    }
    Ok(())
}
