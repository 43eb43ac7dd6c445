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

use super::toolcalls::{self, Output, Verdict};
use super::{AppState, auth};
use crate::masking::{ParseError, offload, parse_strict};
use crate::snapshot::Project;
use crate::toolcall as tc;
use crate::toolcall::claude::{self, HookEvent};
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use std::sync::Arc;

/// What this face's results are recorded as coming through.
const VIA: &str = "claude-code";
/// Text Claude Code is given instead of output that could not be masked.
pub const WITHHELD_OUTPUT: &str = "[withheld by Palisade: the output could not be masked]";

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
            // The start of the body only, to tell the event by.
            let head = read_capped(body, SNIFF_BYTES)
                .await
                .unwrap_or_else(|(head, _)| head);
            return Json(refusal(&head, &e.message()));
        }
    };
    let settings = state.mask_settings();
    // Read here up to masking's limit, not by an extractor: an event
    // over it is still answered for its own event (a `PostToolUse` too
    // large to mask has its output withheld, not a `PreToolUse` deny
    // Claude Code would ignore).
    let bytes = match read_capped(body, settings.max_body_bytes).await {
        Ok(b) => b,
        Err((head, why)) => return Json(refusal(&head, &why)),
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
        let head = json!({"hook_event_name": event.hook_event_name, "tool_name": event.tool_name});
        return Json(refusal(
            head.to_string().as_bytes(),
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
            "PostToolUse" => post_tool_use(&state, &project, &agent, event, false).await,
            "PostToolUseFailure" => post_tool_use(&state, &project, &agent, event, true).await,
            // Nothing to decide: no change.
            _ => json!({}),
        }
    })
    .await;
    Json(answer.unwrap_or_else(|e| {
        tracing::error!(error = %e, "a hook event failed");
        let head = json!({"hook_event_name": name, "tool_name": tool}).to_string();
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
    // The event's own name: its first `"hook_event_name"` key (Claude Code
    // writes it before the tool's input, and a string inside that input has
    // its quotes escaped). Not a search of the whole text: a `PreToolUse`
    // whose command says "PostToolUse" must still be denied.
    let event = string_field(&text, "hook_event_name").unwrap_or_default();
    // A failed call's event has no output to withhold.
    if event == "PostToolUseFailure" {
        return json!({});
    }
    if event == "PostToolUse" {
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

/// `body` whole, up to `cap` bytes; past that, or if it cannot be read,
/// its first [`SNIFF_BYTES`] (to tell its event by) and why.
async fn read_capped(body: axum::body::Body, cap: usize) -> Result<Vec<u8>, (Vec<u8>, String)> {
    use http_body::Body as _;
    let mut body = std::pin::pin!(body);
    let mut out = Vec::new();
    let head = |mut out: Vec<u8>, more: &[u8]| {
        let room = SNIFF_BYTES.saturating_sub(out.len());
        out.extend_from_slice(&more[..more.len().min(room)]);
        out.truncate(SNIFF_BYTES);
        out
    };
    loop {
        match std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
            None => return Ok(out),
            Some(Ok(frame)) => {
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                if out.len() + data.len() > cap {
                    let why =
                        format!("the event is larger than `masking.max_body_bytes` ({cap} bytes)");
                    return Err((head(out, &data), why));
                }
                out.extend_from_slice(&data);
            }
            Some(Err(e)) => {
                return Err((head(out, &[]), format!("the body could not be read: {e}")));
            }
        }
    }
}

/// Decides a tool call: every request it makes, in order, until one is
/// denied (see [`toolcalls::Caller::decide`]).
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
    let caller = toolcalls::Caller {
        state,
        project,
        agent,
        session: &event.session_id,
        tool,
    };
    match caller
        .decide(asks, plan.on_approval, (VIA, event.tool_use_id.as_deref()))
        .await
    {
        Verdict::Allow(decided) => claude::permission(
            "allow",
            &format!(
                "Palisade allowed this tool call (decisions {})",
                decided.join(", ")
            ),
        ),
        Verdict::Ask(text) => claude::permission("ask", &text),
        Verdict::Deny(why) => deny(why),
    }
}

/// Records a call's result and masks its output; for a call that failed
/// (`PostToolUseFailure`), records its result as an error: Claude Code
/// gives the error to Claude as it is, a hook cannot replace it.
async fn post_tool_use(
    state: &Arc<AppState>,
    project: &Arc<Project>,
    agent: &crate::policy::Agent,
    mut event: HookEvent,
    failed: bool,
) -> Value {
    let tool = event.tool_name.clone().unwrap_or_default();
    let output = match failed {
        true => event.error.take(),
        false => event.tool_response.take(),
    }
    .unwrap_or(Value::Null);
    let caller = toolcalls::Caller {
        state,
        project,
        agent,
        session: &event.session_id,
        tool: &tool,
    };
    let call = (VIA, event.tool_use_id.as_deref());
    if failed {
        let size = serde_json::to_vec(&output).map_or(0, |b| b.len());
        caller.record(call, size, true).await;
        return json!({});
    }
    // The output, masked as data of the tool's service: what the tool
    // returned, whatever the requests of its call were (a shell line's
    // output is the shell's, not its first command's).
    let service = service_of(&tool);
    match caller.finish(call, &service, output, false).await {
        Output::Clean => json!({}),
        Output::Masked { value, block, .. } => {
            claude::replace_output(&tool, value, block.as_deref())
        }
        Output::Withheld(why) => claude::replace_output(
            &tool,
            Value::String(WITHHELD_OUTPUT.into()),
            Some(&format!("Palisade withheld this tool's output: {why}")),
        ),
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

#[cfg(test)]
mod tests {
    use super::refusal;
    use serde_json::json;

    #[test]
    fn a_refusal_answers_the_events_own_name_not_a_word_in_its_input() {
        // A refused `PreToolUse` whose command mentions the other events is
        // still denied: an answer for another event would let it run.
        let pre = json!({
            "session_id": "s", "hook_event_name": "PreToolUse", "tool_name": "Bash",
            "tool_input": {"command": "echo '\"hook_event_name\": \"PostToolUse\"' PostToolUseFailure"},
        });
        let a = refusal(pre.to_string().as_bytes(), "unknown token");
        assert_eq!(a["hookSpecificOutput"]["permissionDecision"], "deny", "{a}");

        let post =
            json!({"session_id": "s", "hook_event_name": "PostToolUse", "tool_name": "Read"});
        let a = refusal(post.to_string().as_bytes(), "unknown token");
        assert_eq!(a["decision"], "block", "{a}");
        assert_eq!(a["hookSpecificOutput"]["hookEventName"], "PostToolUse");

        let failed = json!({"session_id": "s", "hook_event_name": "PostToolUseFailure"});
        assert_eq!(refusal(failed.to_string().as_bytes(), "x"), json!({}));
        // Nothing to tell by: denied.
        let a = refusal(b"", "the body could not be read");
        assert_eq!(a["hookSpecificOutput"]["permissionDecision"], "deny", "{a}");
    }
}
