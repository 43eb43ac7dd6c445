//! The kill switch's routes (administrators of the project):
//! `POST /v1/sessions/{id}/kill`, `POST /v1/agents/{name}/suspend` and
//! `/resume`, `POST /v1/projects/{name}/pause` and `/resume`, and
//! `GET /v1/holds`.
//!
//! A hold is in force before its answer leaves: the next decision of that
//! session, agent or project is denied, naming the action and who took it.
//! Taking one cancels the open approvals it stops (a long-poll on one
//! returns at once). Every hold and release is an audit record in its
//! project's trail.

use super::{ApiError, AppState, approvals, auth};
use crate::oversight::{Hold, Scope};
use crate::policy::Person;
use crate::snapshot::Snapshot;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The optional body of every hold and release.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HoldBody {
    /// Why (for the agent's denials and the audit trail).
    #[serde(default)]
    reason: Option<String>,
    /// The project, for a session or an agent: without it, every project
    /// the caller administers (that has the agent).
    #[serde(default)]
    project: Option<String>,
}

/// The answer to a hold or a release.
#[derive(Debug, Serialize)]
pub(super) struct HoldAnswer {
    /// `session`, `agent` or `project`.
    scope: Scope,
    /// The session's id, the agent's or the project's name.
    target: String,
    /// `killed`, `suspended`, `paused` or `resumed`.
    action: &'static str,
    /// Who.
    by: String,
    /// Why.
    reason: String,
    /// The projects it applies to.
    projects: Vec<String>,
    /// The approvals it cancelled.
    approvals_cancelled: Vec<String>,
    /// `false` if it is in force on this server but could not be saved
    /// (it will not survive a restart; the server's log says why).
    saved: bool,
}

fn not_found(what: String) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", what)
}

fn unavailable(e: crate::Error) -> ApiError {
    tracing::error!(error = %e, "holds cannot be read or written");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "state_unavailable",
        "holds cannot be read or written (the server's log says why)",
    )
}

fn body_of(body: Result<Bytes, BytesRejection>) -> Result<(String, Option<String>), ApiError> {
    let body = body.map_err(|e| super::body_error(e, super::MAX_BODY, None))?;
    let parsed: HoldBody = if body.iter().all(u8::is_ascii_whitespace) {
        HoldBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!("write {{\"reason\": \"…\", \"project\": \"…\"}} (both optional): {e}"),
            )
        })?
    };
    let reason = parsed
        .reason
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "no reason given".to_owned());
    if reason.len() > 1024 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "`reason` is at most 1024 bytes",
        ));
    }
    Ok((reason, parsed.project))
}

/// The projects a hold on a session or an agent applies to: the one named
/// (which the caller must administer, else `404`), or every one they
/// administer; for an agent, only those that have it (none: `404`).
fn scope_projects(
    snapshot: &Snapshot,
    person: &Person,
    named: Option<&str>,
    agent: Option<&str>,
) -> Result<Vec<String>, ApiError> {
    let mut projects = auth::projects_in_scope(snapshot, person, named, auth::administers)?;
    if let Some(name) = agent {
        projects.retain(|p| {
            snapshot
                .projects
                .get(p)
                .is_some_and(|s| s.policy.agents.contains_key(name))
        });
        if projects.is_empty() {
            return Err(not_found(format!("no agent `{name}`")));
        }
    }
    Ok(projects)
}

/// Takes a hold on `target` in each of `projects`, cancels the approvals it
/// stops, records both, and answers.
pub(super) async fn take(
    state: &AppState,
    by: &str,
    scope: Scope,
    target: String,
    reason: String,
    projects: Vec<String>,
) -> Result<Json<HoldAnswer>, ApiError> {
    let gate = super::gate(state)?;
    let now = jiff::Timestamp::now().as_microsecond();
    let hold = Hold {
        scope,
        target: target.clone(),
        by: by.to_owned(),
        reason: reason.clone(),
        at: now,
    };
    let mut saved = true;
    let mut cancelled_ids = Vec::new();
    for project in &projects {
        let held = gate
            .containment
            .hold(project, hold.clone())
            .await
            .map_err(unavailable)?;
        saved &= held.unsaved.is_none();
        // Cancelling is best effort: the hold already denies their use.
        let cancelled = gate
            .cancel_held(project, &hold, now)
            .await
            .inspect_err(
                |e| tracing::warn!(project, error = %e, "cannot cancel the approvals a hold stops"),
            )
            .unwrap_or_default();
        record(state, project, &hold, action_of(scope, true), &cancelled).await;
        for a in &cancelled {
            approvals::record(state, a).await;
            gate.tell_closed(a).await;
            cancelled_ids.push(a.id.clone());
        }
    }
    Ok(Json(HoldAnswer {
        scope,
        target,
        action: action_of(scope, true),
        by: by.to_owned(),
        reason,
        projects,
        approvals_cancelled: cancelled_ids,
        saved,
    }))
}

/// Lifts the hold on `target` in each of `projects` that has one (none:
/// `409 not_held`).
async fn lift(
    state: &AppState,
    person: &Person,
    scope: Scope,
    target: String,
    reason: String,
    projects: Vec<String>,
) -> Result<Json<HoldAnswer>, ApiError> {
    let gate = super::gate(state)?;
    // A resume lifts one hold: held in several of the caller's projects,
    // it must name the project (a suspension taken in another project for
    // another reason is not lifted by the way).
    if projects.len() > 1 {
        let mut holding = Vec::new();
        for p in &projects {
            let held = gate.containment.list(p).await.map_err(unavailable)?;
            if held.iter().any(|h| h.scope == scope && h.target == target) {
                holding.push(p.clone());
            }
        }
        if holding.len() > 1 {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "ambiguous",
                format!(
                    "{} `{target}` is held in {}; name the project to resume (`project`)",
                    scope.as_str(),
                    holding.join(", ")
                ),
            ));
        }
    }
    let mut lifted = Vec::new();
    for project in projects {
        let released = gate
            .containment
            .release(&project, scope, &target)
            .await
            .map_err(unavailable)?;
        if let Some(mut hold) = released {
            hold.by = person.name.clone();
            hold.reason = reason.clone();
            record(state, &project, &hold, "resumed", &[]).await;
            lifted.push(project);
        }
    }
    if lifted.is_empty() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_held",
            format!(
                "{} `{target}` is not {}",
                scope.as_str(),
                action_of(scope, true)
            ),
        ));
    }
    Ok(Json(HoldAnswer {
        scope,
        target,
        action: "resumed",
        by: person.name.clone(),
        reason,
        projects: lifted,
        approvals_cancelled: Vec::new(),
        saved: true,
    }))
}

fn action_of(scope: Scope, taken: bool) -> &'static str {
    match (scope, taken) {
        (_, false) => "resumed",
        (Scope::Session, true) => "killed",
        (Scope::Agent, true) => "suspended",
        (Scope::Project, true) => "paused",
    }
}

/// Records a hold taken or lifted: `session_killed`, `agent_suspended`,
/// `agent_resumed`, `project_paused`, `project_resumed`, by whom and why.
async fn record(
    state: &AppState,
    project: &str,
    hold: &Hold,
    action: &str,
    cancelled: &[crate::oversight::Approval],
) {
    let Some(audit) = state.audit() else { return };
    let event = format!("{}_{action}", hold.scope.as_str());
    let mut details = BTreeMap::from([("by".to_owned(), hold.by.clone().into())]);
    match hold.scope {
        Scope::Session => {
            details.insert("session".into(), hold.target.clone().into());
        }
        Scope::Agent | Scope::Project => {}
    }
    if !cancelled.is_empty() {
        let ids: Vec<serde_json::Value> = cancelled.iter().map(|a| a.id.clone().into()).collect();
        details.insert("approvals_cancelled".into(), ids.into());
    }
    let entry = crate::audit::AdminEntry {
        event: event.clone(),
        agent: (hold.scope == Scope::Agent).then(|| hold.target.clone()),
        project: Some(project.to_owned()),
        reason: Some(hold.reason.clone()),
        details,
        ..crate::audit::AdminEntry::default()
    };
    if let Err(e) = audit.append(entry).await {
        tracing::error!(project, event, error = %e, "cannot record a hold");
    }
}

/// `POST /v1/sessions/{id}/kill`.
pub(super) async fn kill_session(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<HoldAnswer>, ApiError> {
    let snapshot = auth::ready(&state)?;
    let person = auth::administrator(&snapshot, &headers)?;
    let (reason, project) = body_of(body)?;
    if id.is_empty() || id.len() > 4096 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "a session id is 1 to 4096 bytes",
        ));
    }
    let projects = scope_projects(&snapshot, person, project.as_deref(), None)?;
    take(&state, &person.name, Scope::Session, id, reason, projects).await
}

/// `POST /v1/agents/{name}/suspend`.
pub(super) async fn suspend_agent(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<HoldAnswer>, ApiError> {
    let snapshot = auth::ready(&state)?;
    let person = auth::administrator(&snapshot, &headers)?;
    let (reason, project) = body_of(body)?;
    let projects = scope_projects(&snapshot, person, project.as_deref(), Some(&name))?;
    take(&state, &person.name, Scope::Agent, name, reason, projects).await
}

/// `POST /v1/agents/{name}/resume`.
pub(super) async fn resume_agent(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<HoldAnswer>, ApiError> {
    let snapshot = auth::ready(&state)?;
    let person = auth::administrator(&snapshot, &headers)?;
    let (reason, project) = body_of(body)?;
    let projects = scope_projects(&snapshot, person, project.as_deref(), Some(&name))?;
    lift(&state, person, Scope::Agent, name, reason, projects).await
}

/// The project `name`, which `person` must administer (else `404`); a body
/// naming a project is refused here (the path names it).
fn one_project(
    snapshot: &Snapshot,
    person: &Person,
    name: &str,
    named: Option<String>,
) -> Result<Vec<String>, ApiError> {
    if named.is_some() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the path names the project; leave `project` out of the body",
        ));
    }
    scope_projects(snapshot, person, Some(name), None)
}

/// `POST /v1/projects/{name}/pause`.
pub(super) async fn pause_project(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<HoldAnswer>, ApiError> {
    let snapshot = auth::ready(&state)?;
    let person = auth::administrator(&snapshot, &headers)?;
    let (reason, named) = body_of(body)?;
    let projects = one_project(&snapshot, person, &name, named)?;
    take(&state, &person.name, Scope::Project, name, reason, projects).await
}

/// `POST /v1/projects/{name}/resume`.
pub(super) async fn resume_project(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<HoldAnswer>, ApiError> {
    let snapshot = auth::ready(&state)?;
    let person = auth::administrator(&snapshot, &headers)?;
    let (reason, named) = body_of(body)?;
    let projects = one_project(&snapshot, person, &name, named)?;
    lift(&state, person, Scope::Project, name, reason, projects).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HoldsQuery {
    project: Option<String>,
}

/// One hold as listed.
#[derive(Debug, Serialize)]
pub(super) struct HoldView {
    project: String,
    #[serde(flatten)]
    hold: Hold,
    /// RFC 3339 of `at`.
    since: String,
}

/// The holds in force.
#[derive(Debug, Serialize)]
pub(super) struct HoldList {
    holds: Vec<HoldView>,
}

/// `GET /v1/holds?project=`: the holds in force in the caller's projects.
pub(super) async fn list(
    State(state): State<Arc<AppState>>,
    query: Result<Query<HoldsQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Json<HoldList>, ApiError> {
    let Query(query) = query
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", e.body_text()))?;
    let snapshot = auth::ready(&state)?;
    let person = auth::administrator(&snapshot, &headers)?;
    let projects = scope_projects(&snapshot, person, query.project.as_deref(), None)?;
    let gate = super::gate(&state)?;
    let mut holds = Vec::new();
    for project in projects {
        for hold in gate.containment.list(&project).await.map_err(unavailable)? {
            let since = jiff::Timestamp::from_microsecond(hold.at)
                .map(|t| t.to_string())
                .unwrap_or_default();
            holds.push(HoldView {
                project: project.clone(),
                hold,
                since,
            });
        }
    }
    Ok(Json(HoldList { holds }))
}
