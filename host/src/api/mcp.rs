//! The routes of `palisade mcp-proxy`, with an agent's token: which of an
//! MCP server's tools the agent is shown, their descriptions masked (`POST
//! /v1/mcp/tools`), whether a `tools/call` is made (`POST /v1/mcp/call`),
//! and a call's result, recorded and masked (`POST /v1/mcp/result`).
//!
//! Listing and calling are one path: a tool is shown when a rule or live
//! grant of the agent could allow it (see `policy::listing`), and a call is
//! made only when its tool passes that same check and then the decision
//! path of `POST /v1/decide` allows its request (see
//! `toolcall::claude::mcp_ask`), with its resource. A tool that is not
//! shown cannot be called, whatever a plugin of the chain would say.

use super::toolcalls::{self, Output, Verdict};
use super::{ApiError, AppState, auth};
use crate::masking::{ParseError, offload, parse_strict};
use crate::policy::listing;
use crate::runtime::types::Rule;
use crate::snapshot::Project;
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

/// What this face's results are recorded as coming through.
const VIA: &str = "mcp-proxy";
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
    /// Its tools, as `tools/list` gives them (each with its `name`).
    tools: Vec<serde_json::Map<String, Value>>,
    /// The server's instructions to its client, if any.
    #[serde(default)]
    instructions: Option<String>,
}

/// Which of them the agent is shown.
#[derive(Debug, Serialize)]
pub(super) struct ToolsAnswer {
    /// Shown, in the order given, masked (all but their names).
    offered: Vec<Value>,
    /// Not shown, each with why.
    hidden: Vec<Hidden>,
    /// The instructions, masked.
    #[serde(skip_serializing_if = "Option::is_none")]
    instructions: Option<String>,
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
    // A tool the server names badly is not shown; the others still are.
    let mut named = Vec::with_capacity(body.tools.len());
    let mut badly_named = Vec::new();
    for mut tool in body.tools {
        match tool.remove("name") {
            Some(Value::String(n)) if check_name("name", &n).is_ok() => named.push((n, tool)),
            other => badly_named.push(Hidden {
                tool: other
                    .as_ref()
                    .and_then(Value::as_str)
                    .map(|n| n.chars().filter(|c| !c.is_control()).take(64).collect())
                    .unwrap_or_default(),
                reason: format!(
                    "its name is not 1 to {MAX_NAME} bytes of text without control characters"
                ),
            }),
        }
    }
    let rules = offer(&state, project, agent, &body.server, &body.session).await;
    let mut shown = Vec::new();
    let mut hidden = badly_named;
    for (name, rest) in named {
        let verdict = match &rules {
            Ok(r) => listing::offered(r, &name),
            Err(held) => Err(held.clone()),
        };
        match verdict {
            Ok(_) => shown.push((name, rest)),
            Err(reason) => hidden.push(Hidden { tool: name, reason }),
        }
    }
    // What is shown enters the agent's context: descriptions, schemas and
    // the instructions are masked as data of the server; the names are
    // kept as they are, to be called by.
    let source = format!("mcp__{}", body.server);
    let caller = toolcalls::Caller {
        state: &state,
        project,
        agent,
        session: &body.session,
        tool: &source,
    };
    let (names, rests): (Vec<String>, Vec<Value>) = shown
        .into_iter()
        .map(|(name, rest)| (name, Value::Object(rest)))
        .unzip();
    let text = serde_json::json!({ "instructions": body.instructions, "tools": rests });
    let (mut masked, _) = caller.mask(&body.server, text).await.map_err(|why| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "masking_failed",
            format!("the tools could not be masked, so none is shown: {why}"),
        )
    })?;
    let mut masked_tools = match masked.get_mut("tools").map(Value::take) {
        Some(Value::Array(t)) if t.len() == names.len() => t,
        _ => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "masking_failed",
                "the masked tools lost their shape, so none is shown",
            ));
        }
    };
    for (name, tool) in names.into_iter().zip(masked_tools.iter_mut()) {
        if let Value::Object(fields) = tool {
            fields.insert("name".into(), Value::String(name));
        }
    }
    tracing::debug!(agent = %agent.name, server = %body.server, offered = masked_tools.len(), hidden = hidden.len(), "mcp tools listed");
    Ok(Json(ToolsAnswer {
        offered: masked_tools,
        hidden,
        instructions: masked
            .get("instructions")
            .and_then(Value::as_str)
            .map(str::to_owned),
    }))
}

/// The agent's rules for service `server` with its live grants; or, when
/// the agent, its session or its project is held (or the holds cannot be
/// read), why it may call nothing.
async fn offer(
    state: &AppState,
    project: &Project,
    agent: &crate::policy::Agent,
    server: &str,
    session: &str,
) -> Result<Vec<Rule>, String> {
    let mut rules = agent.rules.get(server).cloned().unwrap_or_default();
    let Some(gate) = state.gate() else {
        return Ok(rules);
    };
    let name = &project.policy.project;
    match gate.containment.check(name, &agent.name, session).await {
        Ok(None) => {}
        Ok(Some(hold)) => return Err(hold.denial()),
        Err(e) => {
            tracing::error!(project = %name, error = %e, "cannot read the project's holds; no tool is offered");
            return Err("the kill switch's state cannot be read".into());
        }
    }
    let now = jiff::Timestamp::now().as_microsecond();
    match gate.grants.live(name, &agent.name, server, now).await {
        Ok(live) => rules.extend(live.iter().map(crate::oversight::Grant::rule)),
        // A grant widens; without them the rules alone still hold.
        Err(e) => {
            tracing::warn!(project = %name, error = %e, "cannot read grants; none is counted")
        }
    }
    Ok(rules)
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
    let source = checked_call(&body.server, &body.session, &body.call_id, &body.tool)?;
    let deny = |reason: String| CallAnswer {
        decision: "deny",
        reason,
        decisions: Vec::new(),
    };
    // The check that lists a tool first: what is not shown is not called.
    // The agent's own rules answer it without a read of the state; only a
    // tool they do not offer needs its live grants. (Holds are the decision
    // path's first step below: no second read of them here.)
    let own = agent
        .rules
        .get(&body.server)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let offered = match listing::offered(own, &body.tool) {
        Ok(rule) => Ok(rule),
        Err(_) => offer(&state, project, agent, &body.server, &body.session)
            .await
            .and_then(|r| listing::offered(&r, &body.tool)),
    };
    if let Err(why) = offered {
        let reason = format!("`{source}` is not offered to this agent: {why}");
        refused(&state, project, agent, &body, &reason).await?;
        return Ok(Json(deny(reason)));
    }
    let ask = mcp_ask(
        &body.server,
        &body.tool,
        &body.arguments,
        &project.policy.tool_calls,
    );
    // A resource the arguments cannot fill is not guessed at.
    if ask.is_unknown() {
        let why = ask.attributes.get("why").cloned().unwrap_or_default();
        let reason = format!("`{source}`: its resource cannot be read from its arguments ({why})");
        refused(&state, project, agent, &body, &reason).await?;
        return Ok(Json(deny(reason)));
    }
    let caller = toolcalls::Caller {
        state: &state,
        project,
        agent,
        session: &body.session,
        tool: &source,
    };
    // MCP has no "ask the user": an approval is always waited for.
    let verdict = caller
        .decide(vec![ask], OnApproval::Wait, (VIA, Some(&body.call_id)))
        .await;
    Ok(Json(match verdict {
        Verdict::Allow(decisions) => CallAnswer {
            decision: "allow",
            reason: format!("allowed (decisions {})", decisions.join(", ")),
            decisions,
        },
        Verdict::Deny(reason) | Verdict::Ask(reason) => deny(reason),
    }))
}

/// Records a call refused before any decision (its tool not offered, its
/// resource unreadable): the trail keeps every call an agent tried.
async fn refused(
    state: &AppState,
    project: &Project,
    agent: &crate::policy::Agent,
    body: &CallBody,
    reason: &str,
) -> Result<(), ApiError> {
    tracing::info!(agent = %agent.name, server = %body.server, tool = %body.tool, reason, "mcp call refused");
    let Some(audit) = state.audit() else {
        return Ok(());
    };
    let details = std::collections::BTreeMap::from([
        ("server".to_owned(), Value::from(body.server.as_str())),
        ("tool".to_owned(), Value::from(body.tool.as_str())),
        ("session".to_owned(), Value::from(body.session.as_str())),
        ("call_id".to_owned(), Value::from(body.call_id.as_str())),
    ]);
    let entry = crate::audit::AdminEntry {
        event: "mcp_call_refused".into(),
        agent: Some(agent.name.clone()),
        project: Some(project.policy.project.clone()),
        policy_version: Some(project.policy.version.clone()),
        reason: Some(reason.to_owned()),
        details,
    };
    audit.append(entry).await.map(|_| ()).map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "audit_unavailable",
            format!("the refusal could not be recorded: {e}"),
        )
    })
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
    let source = checked_call(&body.server, &body.session, &body.call_id, &body.tool)?;
    let caller = toolcalls::Caller {
        state: &state,
        project,
        agent,
        session: &body.session,
        tool: &source,
    };
    // MCP's own flag for a tool that failed.
    let failed = body.result.get("isError") == Some(&Value::Bool(true));
    let output = caller
        .finish(
            (VIA, Some(&body.call_id)),
            &body.server,
            body.result,
            failed,
        )
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

/// Checks a call's names; the tool as Claude Code would name it
/// (`mcp__SERVER__TOOL`), its source in the trail.
fn checked_call(
    server: &str,
    session: &str,
    call_id: &str,
    tool: &str,
) -> Result<String, ApiError> {
    check_name("server", server)?;
    check_name("session", session)?;
    check_name("call_id", call_id)?;
    check_name("tool", tool)?;
    Ok(format!("mcp__{server}__{tool}"))
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
