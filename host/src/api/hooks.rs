//! `POST /v1/hooks/claude-code`: Claude Code's hook events, with an agent's
//! token. `PreToolUse` is decided: the tool call's requests (see
//! `toolcall`) each go through the decision path of `POST /v1/decide`, and
//! the answer is Claude Code's `allow`, `deny` or `ask`. `PostToolUse` is
//! recorded as the call's result and its output masked by the project's
//! masking chain.
//!
//! Claude Code treats an HTTP hook's error status or timeout as a
//! non-blocking error, and runs the tool. So this route answers every
//! failure, a bad token or body included, with `200` and a `deny` (or, for
//! a result, the output withheld): never an error the client would read
//! as "go ahead".

use super::{AppState, auth, decide};
use crate::decision::Outcome;
use crate::identity;
use crate::masking::Masker;
use crate::masking::{ParseError, offload, parse_strict};
use crate::oversight::{Gated, Stage};
use crate::runtime::types::DecisionRequest;
use crate::snapshot::Project;
use crate::toolcall::claude::{self, HookEvent};
use crate::toolcall::plan::OnApproval;
use crate::toolcall::{self as tc, Ask};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, State};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// Most requests one tool call may make; more is denied.
pub const MAX_ASKS: usize = 64;
/// How long a call's decisions are kept for its `PostToolUse`.
const CALL_TTL: Duration = Duration::from_secs(3600);
/// Calls kept for their `PostToolUse`, per server.
const MAX_CALLS: u64 = 100_000;
/// Text Claude Code is given instead of output that could not be masked.
pub const WITHHELD_OUTPUT: &str = "[withheld by Palisade: the output could not be masked]";

/// The decisions that allowed one tool call (their ids), kept until its
/// `PostToolUse`.
#[derive(Debug, Clone)]
pub(super) struct Call {
    decisions: Vec<String>,
}

/// Key: project, agent, session, tool-use id.
pub(super) type Calls = moka::sync::Cache<(String, String, String, String), Call>;

/// The cache of calls awaiting their result.
pub(super) fn calls() -> Calls {
    moka::sync::Cache::builder()
        .max_capacity(MAX_CALLS)
        .time_to_live(CALL_TTL)
        .build()
}

/// `POST /v1/hooks/claude-code`.
pub(super) async fn claude_code(
    State(state): State<Arc<AppState>>,
    request: axum::extract::Request,
) -> Json<Value> {
    let (parts, body) = request.into_parts();
    // The token first: a caller without one costs no buffered body, only
    // the few KiB that say which event to answer (and for which tool).
    let authed = auth::ready(&state).and_then(|s| {
        let (project, agent) = auth::agent(&s, &parts.headers)?;
        Ok((project.clone(), agent.clone()))
    });
    let (project, agent) = match authed {
        Ok(pa) => pa,
        Err(e) => {
            let head = prefix(body, SNIFF_BYTES).await;
            return Json(refusal(&head, &e.message()));
        }
    };
    let settings = state.mask_settings();
    let bytes =
        match Bytes::from_request(axum::extract::Request::from_parts(parts, body), &()).await {
            Ok(b) => b,
            Err(e) => {
                return Json(refusal(
                    b"",
                    &format!("the body could not be read: {}", e.body_text()),
                ));
            }
        };
    // Parsed as `POST /v1/mask` parses: bounded in depth and values.
    let parsed = offload(bytes.len(), || {
        parse_strict(&bytes, settings.max_depth + 1, settings.max_values)
    });
    let event = match parsed {
        Ok(v) => serde_json::from_value::<HookEvent>(v)
            .map_err(|e| format!("not a Claude Code hook event: {e}")),
        Err(ParseError::Invalid(e)) => Err(format!("not a Claude Code hook event: {e}")),
        Err(ParseError::TooManyValues(n)) => Err(format!(
            "the event holds more than `masking.max_values` ({n}) values"
        )),
    };
    let event = match event {
        Ok(e) => e,
        Err(why) => {
            let head = &bytes[..bytes.len().min(SNIFF_BYTES)];
            return Json(refusal(head, &why));
        }
    };
    drop(bytes);
    if event.session_id.is_empty() || event.session_id.len() > 4096 {
        return Json(refusal(
            event.hook_event_name.as_bytes(),
            "`session_id` must be 1 to 4096 bytes",
        ));
    }
    // In a task of its own: a bug that panics while deciding or masking
    // ends in a deny (or the output withheld), never in the `500` that
    // Claude Code would read as "go ahead".
    let name = event.hook_event_name.clone();
    let tool = event.tool_name.clone().unwrap_or_default();
    let answer = tokio::spawn(async move {
        match event.hook_event_name.as_str() {
            "PreToolUse" => pre_tool_use(&state, &project, &agent, &event).await,
            "PostToolUse" => post_tool_use(&state, &project, &agent, event).await,
            // Nothing to decide: no change.
            _ => json!({}),
        }
    })
    .await;
    Json(answer.unwrap_or_else(|e| {
        tracing::error!(error = %e, "a hook event failed");
        let head = format!("{name} \"tool_name\": \"{tool}\"");
        refusal(
            head.as_bytes(),
            "the server failed while handling this event",
        )
    }))
}

/// How much of a refused body is read to tell its event and tool.
const SNIFF_BYTES: usize = 16 * 1024;

/// The answer to an event that is refused before it is read whole: for a
/// `PostToolUse` (as far as `head`, the body's start, says), the output
/// withheld and blocked; else a `deny`.
fn refusal(head: &[u8], why: &str) -> Value {
    tracing::warn!(why, "hook refused");
    let text = String::from_utf8_lossy(head);
    if text.contains("PostToolUse") {
        let tool = string_field(&text, "tool_name").unwrap_or_default();
        return claude::replace_output(
            &tool,
            Value::String(WITHHELD_OUTPUT.into()),
            Some(&format!("Palisade: {why}")),
        );
    }
    claude::permission("deny", &format!("Palisade denied this tool call: {why}"))
}

/// The value of `"key": "value"` in JSON text, where it is a plain string.
fn string_field(text: &str, key: &str) -> Option<String> {
    let at = text.find(&format!("\"{key}\""))?;
    let rest = text[at + key.len() + 2..].trim_start().strip_prefix(':')?;
    let rest = rest.trim_start().strip_prefix('"')?;
    let end = rest.find(['"', '\\'])?;
    Some(rest[..end].to_owned())
}

/// Up to about `cap` bytes of the start of `body`.
async fn prefix(body: axum::body::Body, cap: usize) -> Vec<u8> {
    use http_body::Body as _;
    let mut body = std::pin::pin!(body);
    let mut out = Vec::new();
    while out.len() < cap {
        match std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    let take = data.len().min(cap - out.len());
                    out.extend_from_slice(&data[..take]);
                }
            }
            _ => break,
        }
    }
    out
}

/// Decides a tool call: every request it makes, in order, until one is
/// denied.
async fn pre_tool_use(
    state: &Arc<AppState>,
    project: &Arc<Project>,
    agent: &crate::policy::Agent,
    event: &HookEvent,
) -> Value {
    let deny =
        |why: String| claude::permission("deny", &format!("Palisade denied this tool call: {why}"));
    let Some(tool) = event
        .tool_name
        .as_deref()
        .filter(|t| !t.is_empty() && t.len() <= 256)
    else {
        return deny("the event names no tool".into());
    };
    let input = event.tool_input.as_ref().unwrap_or(&Value::Null);
    let workspace = event.palisade.as_ref().and_then(|p| p.workspace.as_ref());
    let plan = &project.policy.tool_calls;
    // A long command line is read off the async workers (a 60 KB line
    // parses in tens of milliseconds).
    let line = input
        .get("command")
        .and_then(Value::as_str)
        .map_or(0, str::len);
    let asks = offload(line * 64, || {
        claude::asks(tool, input, event.cwd.as_deref(), workspace, plan)
    });
    if asks.len() > MAX_ASKS {
        return deny(format!("the call makes more than {MAX_ASKS} requests"));
    }
    // The ids of the decisions that allowed it.
    let mut decided: Vec<String> = Vec::new();
    let mut pending: Vec<(Ask, DecisionRequest, String)> = Vec::new();
    for ask in asks {
        let request = request_of(project, agent, event, tool, &ask);
        if let Some(field) = oversize(&request) {
            return deny(format!(
                "`{field}` of `{}` is longer than 4096 bytes",
                ask.source
            ));
        }
        let again = request.clone();
        let (decision, gated, _) = match decide::run(
            state,
            project,
            request,
            None,
            super::budgets::Estimate::default(),
            std::time::Instant::now(),
        )
        .await
        {
            Ok(d) => d,
            Err(e) => {
                return deny(format!(
                    "`{}` could not be decided: {}",
                    ask.source,
                    e.message()
                ));
            }
        };
        let id = again.request_id.clone();
        match decision.outcome {
            Outcome::Allow => decided.push(id),
            Outcome::ApprovalRequired => match gated {
                Gated::Raised { approval, .. } => pending.push((ask, again, approval.id)),
                _ => {
                    return deny(format!(
                        "{} needs approval, which this server cannot raise ({})",
                        describe(&ask),
                        decision.reason
                    ));
                }
            },
            Outcome::Deny | Outcome::Throttled => {
                return deny(format!(
                    "{}: {} (decision {id})",
                    describe(&ask),
                    decision.reason
                ));
            }
        }
    }
    if !pending.is_empty() {
        match plan.on_approval {
            OnApproval::Ask => {
                let list: Vec<String> = pending
                    .iter()
                    .map(|(ask, _, id)| format!("{} needs approval {id}", describe(ask)))
                    .collect();
                return claude::permission(
                    "ask",
                    &format!(
                        "Palisade: {}. An approver can decide it with POST /v1/approvals/{{id}}/approve; \
                         answering here decides it for this call only",
                        list.join("; ")
                    ),
                );
            }
            OnApproval::Wait => {
                let deadline =
                    tokio::time::Instant::now() + Duration::from_secs(plan.approval_wait_s);
                for (ask, request, approval_id) in pending {
                    match wait_for(state, project, &approval_id, deadline).await {
                        Stage::Approved => {}
                        Stage::Pending => {
                            return deny(format!(
                                "{} needs approval {approval_id}, still pending after {}s; ask again once it is approved",
                                describe(&ask),
                                plan.approval_wait_s
                            ));
                        }
                        other => {
                            return deny(format!(
                                "{} needs approval {approval_id}, which is {}",
                                describe(&ask),
                                other.as_str()
                            ));
                        }
                    }
                    // Approved: the same request again, using the approval.
                    let mut request = request;
                    request.request_id = identity::new_id("dec");
                    let id = request.request_id.clone();
                    match decide::run(
                        state,
                        project,
                        request,
                        Some(approval_id.clone()),
                        super::budgets::Estimate::default(),
                        std::time::Instant::now(),
                    )
                    .await
                    {
                        Ok((d, _, _)) if d.outcome == Outcome::Allow => decided.push(id),
                        Ok((d, _, _)) => {
                            return deny(format!(
                                "{}: {} (decision {id})",
                                describe(&ask),
                                d.reason
                            ));
                        }
                        Err(e) => {
                            return deny(format!(
                                "`{}` could not be decided: {}",
                                ask.source,
                                e.message()
                            ));
                        }
                    }
                }
            }
        }
    }
    if let Some(use_id) = event
        .tool_use_id
        .as_deref()
        .filter(|u| !u.is_empty() && u.len() <= 256)
    {
        state.hook_calls().insert(
            call_key(project, agent, &event.session_id, use_id),
            Call {
                decisions: decided.clone(),
            },
        );
    }
    claude::permission(
        "allow",
        &format!(
            "Palisade allowed this tool call (decisions {})",
            decided.join(", ")
        ),
    )
}

fn call_key(
    project: &Project,
    agent: &crate::policy::Agent,
    session: &str,
    use_id: &str,
) -> (String, String, String, String) {
    (
        project.policy.project.clone(),
        agent.name.clone(),
        session.to_owned(),
        use_id.to_owned(),
    )
}

/// `service action on resource` of a request, for people.
fn describe(ask: &Ask) -> String {
    if ask.is_unknown() {
        let why = ask
            .attributes
            .get("why")
            .map(String::as_str)
            .unwrap_or("cannot be mapped");
        return format!(
            "`{}` is not understood ({why}) and is decided as {} `unknown`",
            ask.source, ask.service
        );
    }
    format!("{} `{}` on `{}`", ask.service, ask.action, ask.resource)
}

/// The decision request of `ask`, in the event's session.
fn request_of(
    project: &Project,
    agent: &crate::policy::Agent,
    event: &HookEvent,
    tool: &str,
    ask: &Ask,
) -> DecisionRequest {
    let mut attributes: Vec<(String, String)> = ask.attributes.clone().into_iter().collect();
    attributes.push(("tool".into(), tool.to_owned()));
    DecisionRequest {
        request_id: identity::new_id("dec"),
        agent: agent.name.clone(),
        session: event.session_id.clone(),
        project: project.policy.project.clone(),
        service: ask.service.clone(),
        action: ask.action.clone(),
        resource: ask.resource.clone(),
        attributes,
    }
}

/// The first field over `POST /v1/decide`'s limit, if any.
fn oversize(r: &DecisionRequest) -> Option<&'static str> {
    const MAX: usize = 4096;
    if r.service.len() > MAX {
        Some("service")
    } else if r.action.len() > MAX {
        Some("action")
    } else if r.resource.len() > MAX {
        Some("resource")
    } else if r
        .attributes
        .iter()
        .any(|(k, v)| k.len() > MAX || v.len() > MAX)
    {
        Some("attributes")
    } else {
        None
    }
}

/// Waits until approval `id` is decided, expires or `deadline` passes; its
/// stage then (`Pending` at the deadline; `Expired` if it cannot be read).
async fn wait_for(
    state: &AppState,
    project: &Project,
    id: &str,
    deadline: tokio::time::Instant,
) -> Stage {
    let Some(gate) = state.gate() else {
        return Stage::Expired;
    };
    let mut changes = gate.approvals.changes();
    loop {
        changes.borrow_and_update();
        let now = jiff::Timestamp::now().as_microsecond();
        let stage = match gate.approvals.get(&project.policy.project, id).await {
            Ok(Some((a, _))) => a.stage_at(now),
            _ => return Stage::Expired,
        };
        if stage != Stage::Pending || tokio::time::Instant::now() >= deadline {
            return stage;
        }
        // A step here wakes the wait; another replica's is seen by reading.
        let until = deadline.min(tokio::time::Instant::now() + Duration::from_secs(1));
        tokio::select! {
            Ok(()) = changes.changed() => {}
            () = tokio::time::sleep_until(until) => {}
        }
    }
}

/// Records a call's result and masks its output.
async fn post_tool_use(
    state: &Arc<AppState>,
    project: &Arc<Project>,
    agent: &crate::policy::Agent,
    mut event: HookEvent,
) -> Value {
    let tool = event.tool_name.clone().unwrap_or_default();
    let withheld = |why: String| {
        claude::replace_output(
            &tool,
            Value::String(WITHHELD_OUTPUT.into()),
            Some(&format!("Palisade withheld this tool's output: {why}")),
        )
    };
    let call = event.tool_use_id.as_deref().and_then(|u| {
        state
            .hook_calls()
            .remove(&call_key(project, agent, &event.session_id, u))
    });
    let output = event.tool_response.take().unwrap_or(Value::Null);
    // The result, beside each decision that allowed the call.
    if let Some(call) = &call {
        let size = serde_json::to_vec(&output).map_or(0, |b| b.len());
        for id in &call.decisions {
            let details = std::collections::BTreeMap::from([
                ("outcome".to_owned(), Value::from("ok")),
                ("size_bytes".to_owned(), Value::from(size)),
                ("via".to_owned(), Value::from("claude-code")),
            ]);
            if let Err(e) = super::results::store(
                state,
                project,
                agent,
                &event.session_id,
                id,
                "allow",
                details,
            )
            .await
            {
                tracing::warn!(decision_id = %id, error = %e.message(), "a hook's result was not recorded");
            }
        }
    }
    // The output, masked as data of the tool's service: what the tool
    // returned, whatever the requests of its call were (a shell line's
    // output is the shell's, not its first command's).
    let service = service_of(&tool);
    let Some(key) = state.mask_key() else {
        return withheld("masking is not available on this server".into());
    };
    let chain = match project.masking_chain(&service) {
        Ok(c) => c,
        Err(e) => return withheld(e.to_string()),
    };
    let mask_id = identity::new_id("msk");
    let masker = Masker {
        chain,
        policy: &project.policy.masking,
        key,
        project: &project.policy.project,
        agent: &agent.name,
        session: &event.session_id,
        request_id: &mask_id,
        findings: None,
        limits: state.mask_settings().limits(),
    };
    match masker.mask_json(output).await {
        Ok((_, findings)) if findings.is_empty() => json!({}),
        Ok((masked, findings)) => {
            tracing::info!(mask_id = %mask_id, agent = %agent.name, findings = findings.len(), "tool output masked");
            let block = project.policy.tool_calls.block_on_findings.then(|| {
                format!(
                    "Palisade found {} sensitive value(s) in this tool's output and masked them",
                    findings.len()
                )
            });
            claude::replace_output(&tool, masked, block.as_deref())
        }
        Err(e) => withheld(format!("masking failed ({})", e.kind())),
    }
}

/// The service a tool's data belongs to, when its call was not seen.
fn service_of(tool: &str) -> String {
    if let Some((server, _)) = tool.strip_prefix("mcp__").and_then(|r| r.split_once("__")) {
        return server.to_owned();
    }
    match tool {
        "Read" | "Glob" | "Grep" | "Write" | "Edit" | "MultiEdit" | "NotebookEdit" => claude::FILES,
        "WebFetch" | "WebSearch" => claude::WEB,
        "Bash" => tc::SHELL,
        _ => claude::CLAUDE_CODE,
    }
    .to_owned()
}
