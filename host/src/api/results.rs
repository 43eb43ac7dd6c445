//! `POST /v1/decisions/{id}/result` (an agent's token, its own decisions
//! only): what came of a tool call (seed 002: "whether it was allowed or
//! denied, timestamp, and result").
//!
//! The result is an audit record (`tool_result`) carrying its decision's
//! id and session, so `GET /v1/audit?decision_id=…&session=…` replays what
//! the agent asked, what it was told and what came of it. Its optional
//! summary goes through the project's masking chain for the decision's
//! service first; if masking fails, the summary is withheld, never stored
//! raw. One result per decision; every refusal records nothing.

use super::{ApiError, AppState, auth};
use crate::audit::{Kind, ResultEntry};
use crate::masking::Masker;
use crate::store::{Cursor, Filter, State as _};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The state kind that marks a decision's result as given.
pub const KIND: &str = "result";
/// The longest summary kept, in bytes.
pub const MAX_SUMMARY: usize = 1024;

/// What came of the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum CallOutcome {
    Ok,
    Error,
}

/// The request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResultBody {
    /// The decision's session.
    session: String,
    /// `ok` or `error`.
    outcome: CallOutcome,
    /// The tool's status (an HTTP status, an exit code…).
    #[serde(default)]
    status: Option<i64>,
    /// How long the call took, in milliseconds.
    #[serde(default)]
    duration_ms: Option<u64>,
    /// The size of what it returned, in bytes.
    #[serde(default)]
    size_bytes: Option<u64>,
    /// A short summary (masked before it is stored).
    #[serde(default)]
    summary: Option<String>,
}

/// The answer.
#[derive(Debug, Serialize)]
pub(super) struct ResultAnswer {
    decision_id: String,
    /// Whether the summary was stored masked (`false`: withheld, or none).
    #[serde(skip_serializing_if = "Option::is_none")]
    summary: Option<String>,
    recorded: bool,
}

fn bad(field: &str, m: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        format!("`{field}` {m}"),
    )
}

/// `POST /v1/decisions/{id}/result`.
pub(super) async fn report(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ResultAnswer>, ApiError> {
    let snapshot = auth::ready(&state)?;
    let (project, agent) = auth::agent(&snapshot, &headers)?;
    let body = body.map_err(|e| super::body_error(e, super::MAX_BODY, None))?;
    let de = &mut serde_json::Deserializer::from_slice(&body);
    let body: ResultBody = serde_path_to_error::deserialize(de).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("invalid result: `{}`: {}", e.path(), e.inner()),
        )
    })?;
    if id.is_empty() || id.len() > 64 {
        return Err(bad("id", "(the decision's) must be 1 to 64 bytes"));
    }
    if body.session.is_empty() || body.session.len() > 4096 {
        return Err(bad("session", "must be 1 to 4096 bytes"));
    }
    if body.summary.as_ref().is_some_and(|s| s.len() > MAX_SUMMARY) {
        return Err(bad("summary", "must be at most 1024 bytes"));
    }
    let Some(audit) = state.audit().cloned() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "audit_unavailable",
            "results are audit records, and the audit trail is off on this server",
        ));
    };
    super::gate(&state)?;
    let name = project.policy.project.clone();
    let unavailable = |what: &str, e: crate::Error| unavailable(&name, what, e);
    // The decision, the agent's own, in its session.
    let filter = Filter {
        session: Some(body.session.clone()),
        agent: Some(agent.name.clone()),
        project: Some(name.clone()),
        decision_id: Some(id.clone()),
        kind: Some(Kind::Decision),
        ..Filter::default()
    };
    let reader = audit.clone();
    let found = tokio::task::spawn_blocking(move || reader.query(&filter, Cursor::OLDEST, 1))
        .await
        .map_err(|e| {
            unavailable(
                "the audit trail could not be read",
                crate::Error::Engine(e.to_string()),
            )
        })?
        .map_err(|e| unavailable("the audit trail could not be read", e))?;
    let Some(decision) = found.into_iter().next() else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_decision",
            format!(
                "agent `{}` has no decision `{id}` in session `{}`",
                agent.name, body.session
            ),
        ));
    };
    let service = decision.service.clone().unwrap_or_default();
    // The summary, masked for the decision's service, or withheld.
    let summary = match &body.summary {
        None => None,
        Some(text) => {
            let masked = match (state.mask_key(), project.masking_chain(&service)) {
                (Some(key), Ok(chain)) => {
                    let masker = Masker {
                        chain,
                        policy: &project.policy.masking,
                        key,
                        project: &name,
                        agent: &agent.name,
                        session: &body.session,
                        request_id: &id,
                        findings: Some(&project.findings),
                        limits: state.mask_settings().limits(),
                    };
                    masker.mask_text(text).await.map(|(m, _)| m).ok()
                }
                _ => None,
            };
            Some(masked.unwrap_or_else(|| super::decide::WITHHELD.to_owned()))
        }
    };
    let mut details = BTreeMap::new();
    for (k, v) in [
        (
            "outcome",
            Some(serde_json::to_value(body.outcome).unwrap_or_default()),
        ),
        ("status", body.status.map(serde_json::Value::from)),
        ("duration_ms", body.duration_ms.map(serde_json::Value::from)),
        ("size_bytes", body.size_bytes.map(serde_json::Value::from)),
        ("summary", summary.clone().map(serde_json::Value::from)),
    ] {
        if let Some(v) = v {
            details.insert(k.to_owned(), v);
        }
    }
    let outcome = decision.decision.map(|d| d.as_str()).unwrap_or_default();
    store(&state, project, agent, &body.session, &id, outcome, details).await?;
    Ok(Json(ResultAnswer {
        decision_id: id,
        summary,
        recorded: true,
    }))
}

/// `503 state_unavailable`, with the cause (`what`, `e`) logged.
fn unavailable(project: &str, what: &str, e: crate::Error) -> ApiError {
    tracing::error!(project = %project, error = %e, "{what}");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "state_unavailable",
        "the result could not be recorded (the server's log says why); retry",
    )
}

/// Records `details` as the result of decision `id` (whose answer was
/// `decision`), once: a second result of it is `409 result_exists`.
pub(super) async fn store(
    state: &AppState,
    project: &crate::snapshot::Project,
    agent: &crate::policy::Agent,
    session: &str,
    id: &str,
    decision: &str,
    mut details: BTreeMap<String, serde_json::Value>,
) -> Result<(), ApiError> {
    let Some(audit) = state.audit() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "audit_unavailable",
            "results are audit records, and the audit trail is off on this server",
        ));
    };
    let gate = super::gate(state)?;
    let name = project.policy.project.clone();
    let unavailable = |what: &str, e: crate::Error| unavailable(&name, what, e);
    let mark = crate::store::Key::new(&name, KIND, id);
    let state_of = &gate.state;
    if state_of
        .put(mark.clone(), "", crate::store::Expect::Absent)
        .await
        .map_err(|e| unavailable("a result could not be marked", e))?
        .is_err()
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "result_exists",
            format!("decision `{id}` has its result already"),
        ));
    }
    details.insert("decision".to_owned(), decision.into());
    let entry = ResultEntry {
        decision_id: id.to_owned(),
        agent: agent.name.clone(),
        session: session.to_owned(),
        project: name.clone(),
        details,
    };
    if let Err(e) = audit.append(entry).await {
        // Not recorded: give the mark back so that a retry can record it.
        let _ = state_of
            .transact(vec![crate::store::Op::Delete {
                key: mark,
                expect: crate::store::Expect::Any,
            }])
            .await;
        return Err(unavailable("a result could not be recorded", e));
    }
    Ok(())
}
