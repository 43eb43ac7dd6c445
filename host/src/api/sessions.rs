//! `GET /v1/sessions` (administrators of the project): each session with
//! its agent, first and last decision, decision counts and state
//! (`active`, `idle`, `expired`, `killed`).

use super::{ApiError, AppState, auth};
use crate::oversight::{Scope, Session, sessions::Counts};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::Arc;

/// A session with no decision for this long (and not over) is `idle`.
pub const IDLE_AFTER_S: i64 = 300;

/// A session's state as listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum SessionState {
    /// A decision in the last five minutes.
    Active,
    /// No decision for five minutes, and not over.
    Idle,
    /// Over: idle past its timeout, or past its maximum duration.
    Expired,
    /// Killed by an administrator.
    Killed,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    project: Option<String>,
    agent: Option<String>,
    state: Option<SessionState>,
    /// At most this many (1 to 200, default 100).
    limit: Option<usize>,
}

/// One session as listed.
#[derive(Debug, Serialize)]
pub(super) struct SessionView {
    id: String,
    project: String,
    agent: String,
    /// RFC 3339.
    first_seen: String,
    /// RFC 3339.
    last_seen: String,
    decisions: Counts,
    state: SessionState,
    /// Why it is over (`session_idle_timeout`, `session_max_duration`).
    #[serde(skip_serializing_if = "Option::is_none")]
    ended: Option<&'static str>,
}

/// The sessions listed.
#[derive(Debug, Serialize)]
pub(super) struct SessionList {
    sessions: Vec<SessionView>,
}

use crate::units::rfc3339;

fn unavailable(e: crate::Error) -> ApiError {
    tracing::error!(error = %e, "sessions cannot be read");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "state_unavailable",
        "sessions cannot be read (the server's log says why)",
    )
}

/// `GET /v1/sessions?project=&agent=&state=&limit=`: the sessions of the
/// caller's projects, by id within a project.
pub(super) async fn list(
    State(state): State<Arc<AppState>>,
    query: Result<Query<ListQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Json<SessionList>, ApiError> {
    let Query(query) = query
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", e.body_text()))?;
    let limit = auth::page_limit(query.limit)?;
    let snapshot = auth::ready(&state)?;
    let person = auth::administrator(&snapshot, &headers)?;
    let projects = auth::projects_in_scope(
        &snapshot,
        person,
        query.project.as_deref(),
        auth::administers,
    )?;
    let gate = super::gate(&state)?;
    // What the decisions changed in the last second, first.
    gate.sessions.flush().await.map_err(unavailable)?;
    let now = jiff::Timestamp::now().as_microsecond();
    let mut out = Vec::new();
    for p in &projects {
        let Some(project) = snapshot.projects.get(p) else {
            continue;
        };
        let killed: HashSet<String> = gate
            .containment
            .list(p)
            .await
            .map_err(unavailable)?
            .into_iter()
            .filter(|h| h.scope == Scope::Session)
            .map(|h| h.target)
            .collect();
        let mut after: Option<String> = None;
        while out.len() < limit {
            let page = gate
                .sessions
                .list(p, after.as_deref(), limit)
                .await
                .map_err(unavailable)?;
            let Some(last) = page.last() else { break };
            after = Some(crate::oversight::sessions::store_key(&last.agent, &last.id));
            for s in page {
                if query.agent.as_ref().is_some_and(|a| *a != s.agent) {
                    continue;
                }
                let v = view(s, &killed, project, now);
                if query.state.is_none_or(|want| want == v.state) && out.len() < limit {
                    out.push(v);
                }
            }
        }
    }
    Ok(Json(SessionList { sessions: out }))
}

/// `s` as listed at `now`: its state judged by its agent's limits in the
/// policy serving.
fn view(
    s: Session,
    killed: &HashSet<String>,
    project: &crate::snapshot::Project,
    now: i64,
) -> SessionView {
    let limits = project
        .policy
        .agents
        .get(&s.agent)
        .map(|a| project.policy.session_limits(a))
        .unwrap_or_default();
    let past = |limit: Option<u64>, since: i64| {
        limit.is_some_and(|t| {
            now.saturating_sub(since)
                > i64::try_from(t.saturating_mul(1_000_000)).unwrap_or(i64::MAX)
        })
    };
    let ended = s.ended.map(|e| e.code()).or_else(|| {
        if past(limits.idle_timeout_s, s.last_seen) {
            Some("session_idle_timeout")
        } else if past(limits.max_duration_s, s.first_seen) {
            Some("session_max_duration")
        } else {
            None
        }
    });
    let state = if killed.contains(&s.id) {
        SessionState::Killed
    } else if ended.is_some() {
        SessionState::Expired
    } else if now.saturating_sub(s.last_seen) > IDLE_AFTER_S * 1_000_000 {
        SessionState::Idle
    } else {
        SessionState::Active
    };
    SessionView {
        first_seen: rfc3339(s.first_seen),
        last_seen: rfc3339(s.last_seen),
        id: s.id,
        project: s.project,
        agent: s.agent,
        decisions: s.decisions,
        state,
        ended,
    }
}
