//! The approval routes: `GET /v1/approvals` (approvers and administrators
//! of a project), `GET /v1/approvals/{id}` (also the agent that raised it,
//! with `?wait=30s` to wait for a decision), and `POST
//! /v1/approvals/{id}/approve` or `/deny` (approvers of its project only).
//!
//! An approval of a project the caller may not see answers `404`, the same
//! as one that does not exist. An agent's token never decides (`403`).

use super::{ApiError, AppState, auth};
use crate::oversight::{Approval, Refused, Stage};
use crate::policy::Person;
use crate::snapshot::{Identity, Snapshot};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// Longest `?wait=`.
const MAX_WAIT: Duration = Duration::from_secs(60);

/// How often a long-poll reads its approval again when nothing here woke
/// it (another process may have decided it).
const RECHECK: Duration = Duration::from_secs(1);

fn now() -> i64 {
    jiff::Timestamp::now().as_microsecond()
}

fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such approval")
}

fn unavailable(e: crate::Error) -> ApiError {
    tracing::error!(error = %e, "approvals cannot be read or written");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "state_unavailable",
        "approvals cannot be read or written (the server's log says why)",
    )
}

/// An approval as answered.
#[derive(Debug, Serialize)]
pub(super) struct ApprovalView {
    #[serde(flatten)]
    approval: Approval,
    /// The stage as of now (an open approval past its deadline is expired).
    state: Stage,
    /// RFC 3339 of `expires_at`.
    expires: String,
    /// How its notification fared (`GET /v1/approvals/{id}` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    delivery: Option<DeliveryView>,
    /// The grant an approval "for" a duration gave.
    #[serde(skip_serializing_if = "Option::is_none")]
    grant: Option<String>,
}

/// An approval's notification: where it went, where it is, every try.
#[derive(Debug, Serialize)]
pub(super) struct DeliveryView {
    notification: String,
    channel: String,
    stage: crate::notify::Stage,
    attempts: Vec<crate::notify::Attempt>,
}

fn view(a: Approval) -> ApprovalView {
    let state = a.stage_at(now());
    let expires = jiff::Timestamp::from_microsecond(a.expires_at)
        .map(|t| t.to_string())
        .unwrap_or_default();
    ApprovalView {
        approval: a,
        state,
        expires,
        delivery: None,
        grant: None,
    }
}

/// [`view`] with how its notification fared, read from the outbox (left
/// out, and logged, if it cannot be read).
async fn view_with_delivery(state: &AppState, a: Approval) -> ApprovalView {
    let found = match (&a.notification, state.gate()) {
        (Some(id), Some(gate)) => gate
            .outbox
            .get(&a.project, id)
            .await
            .inspect_err(|e| tracing::warn!(approval = %a.id, error = %e, "cannot read an approval's notification"))
            .ok()
            .flatten(),
        _ => None,
    };
    let mut v = view(a);
    v.delivery = found.map(|n| DeliveryView {
        notification: n.id,
        channel: n.channel,
        stage: n.stage,
        attempts: n.attempts,
    });
    v
}

/// The projects whose approvals `person` may see.
fn visible(snapshot: &Snapshot, person: &Person) -> Vec<String> {
    auth::projects_in_scope(snapshot, person, None, auth::administers_or_approves)
        .unwrap_or_default()
}

/// The approval `id` among `projects`.
async fn find(
    state: &AppState,
    projects: &[String],
    id: &str,
) -> Result<Option<Approval>, ApiError> {
    let gate = super::gate(state)?;
    for p in projects {
        if let Some((a, _)) = gate.approvals.get(p, id).await.map_err(unavailable)? {
            return Ok(Some(a));
        }
    }
    Ok(None)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct GetQuery {
    /// Wait up to this long (e.g. `30s`, at most `60s`) while it is pending.
    wait: Option<String>,
}

/// `GET /v1/approvals/{id}`.
pub(super) async fn get(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    query: Result<Query<GetQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Json<ApprovalView>, ApiError> {
    let Query(query) = query
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", e.body_text()))?;
    let wait = match query.wait.as_deref() {
        None => Duration::ZERO,
        Some(w) => crate::units::Duration::parse(w)
            .map(|d| Duration::from_secs(d.0).min(MAX_WAIT))
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", e))?,
    };
    let snapshot = auth::ready(&state)?;
    let token = auth::bearer(&headers)?;
    // Who may see it: the agent that raised it, or people of its project.
    let (projects, agent) = match snapshot.authenticate(token) {
        Some(Identity::Agent(project, agent)) => (
            vec![project.policy.project.clone()],
            Some(agent.name.clone()),
        ),
        Some(Identity::Person(person)) => (visible(&snapshot, person), None),
        None => {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "unknown token",
            ));
        }
    };
    let deadline = tokio::time::Instant::now() + wait;
    let mut changes = super::gate(&state)?.approvals.changes();
    loop {
        // Seen before reading, so that a step taken after the read wakes
        // the wait below.
        changes.borrow_and_update();
        let a = find(&state, &projects, &id).await?.ok_or_else(not_found)?;
        if agent.as_ref().is_some_and(|name| *name != a.agent) {
            return Err(not_found());
        }
        let at = now();
        if a.stage_at(at) != Stage::Pending || tokio::time::Instant::now() >= deadline {
            // How delivery fared is for people: a receiver's answer is not
            // the agent's to read.
            return Ok(Json(match agent {
                Some(_) => view(a),
                None => view_with_delivery(&state, a).await,
            }));
        }
        // Woken by a step here, at its deadline, or after a second (a step
        // another replica took is only seen by reading).
        let to_expiry = Duration::from_micros(u64::try_from(a.expires_at - at).unwrap_or(0));
        let until = deadline
            .min(tokio::time::Instant::now() + to_expiry)
            .min(tokio::time::Instant::now() + RECHECK);
        tokio::select! {
            Ok(()) = changes.changed() => {}
            () = tokio::time::sleep_until(until) => {}
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    project: Option<String>,
    state: Option<Stage>,
    agent: Option<String>,
    /// At most this many (1 to 200, default 100): each approval carries its
    /// request, up to a request body's size.
    limit: Option<usize>,
}

/// A page of approvals.
#[derive(Debug, Serialize)]
pub(super) struct ApprovalList {
    approvals: Vec<ApprovalView>,
}

/// `GET /v1/approvals`: the caller's projects' approvals, filtered, at most
/// `limit` (oldest first within a project: ids sort by creation).
pub(super) async fn list(
    State(state): State<Arc<AppState>>,
    query: Result<Query<ListQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Json<ApprovalList>, ApiError> {
    let Query(query) = query
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", e.body_text()))?;
    let limit = auth::page_limit(query.limit)?;
    let snapshot = auth::ready(&state)?;
    let person = auth::person(&snapshot, &headers)?;
    let projects = auth::projects_in_scope(
        &snapshot,
        person,
        query.project.as_deref(),
        auth::administers_or_approves,
    )?;
    let gate = super::gate(&state)?;
    let mut out = Vec::new();
    // Pages of `limit`, so that no more than a page's approvals are held
    // beside what is answered.
    for p in &projects {
        let mut after: Option<String> = None;
        while out.len() < limit {
            let page = gate
                .approvals
                .list(p, after.as_deref(), limit)
                .await
                .map_err(unavailable)?;
            let Some(last) = page.last() else { break };
            after = Some(last.id.clone());
            for a in page {
                let v = view(a);
                let wanted = query.state.is_none_or(|s| s == v.state)
                    && query
                        .agent
                        .as_ref()
                        .is_none_or(|ag| *ag == v.approval.agent);
                if wanted && out.len() < limit {
                    out.push(v);
                }
            }
        }
    }
    Ok(Json(ApprovalList { approvals: out }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DecideBody {
    /// Why, for the audit trail.
    reason: String,
    /// Approve "for 30 minutes": also grant the agent exactly this request
    /// for that long (see `api::grants::grant_for_approval`).
    #[serde(default, rename = "for")]
    for_: Option<String>,
}

/// `POST /v1/approvals/{id}/approve`.
pub(super) async fn approve(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ApprovalView>, ApiError> {
    decide(state, id, headers, body, true).await
}

/// `POST /v1/approvals/{id}/deny`.
pub(super) async fn deny(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ApprovalView>, ApiError> {
    decide(state, id, headers, body, false).await
}

/// Approves or denies.
async fn decide(
    state: Arc<AppState>,
    id: String,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
    approve: bool,
) -> Result<Json<ApprovalView>, ApiError> {
    let snapshot = auth::ready(&state)?;
    let token = auth::bearer(&headers)?;
    let person = match snapshot.authenticate(token) {
        Some(Identity::Person(p)) => p,
        Some(Identity::Agent(..)) => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "an agent never approves or denies",
            ));
        }
        None => {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "unknown token",
            ));
        }
    };
    let body = body.map_err(|e| super::body_error(e, super::MAX_BODY, None))?;
    let body: DecideBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("write {{\"reason\": \"…\"}}: {e}"),
        )
    })?;
    if body.reason.trim().is_empty() || body.reason.len() > 1024 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "`reason` must be 1 to 1024 bytes",
        ));
    }
    if body.for_.is_some() && !approve {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "`for` goes with an approval, not a denial",
        ));
    }
    // A `for` that cannot be given is refused before anything is decided.
    if let Some(f) = &body.for_ {
        let projects: Vec<String> = person.approver_of.iter().cloned().collect();
        let a = find(&state, &projects, &id).await?.ok_or_else(not_found)?;
        super::grants::check_for(&state, &a, f).await?;
    }
    let mut decided = decide_as(&state, person, &id, approve, &body.reason).await?;
    if let Some(f) = &body.for_ {
        let grant = super::grants::grant_for_approval(&state, &decided.approval, person, f).await?;
        decided.grant = Some(grant.id);
    }
    Ok(Json(decided))
}

/// `person` approves (or denies) approval `id` for `reason`: only approvers
/// of its project decide; anyone else is told it does not exist (an
/// administrator who is not an approver may see it, not decide). The step
/// is recorded in the project's trail.
pub(super) async fn decide_as(
    state: &AppState,
    person: &Person,
    id: &str,
    approve: bool,
    reason: &str,
) -> Result<ApprovalView, ApiError> {
    let projects: Vec<String> = person.approver_of.iter().cloned().collect();
    let a = find(state, &projects, id).await?.ok_or_else(not_found)?;
    let gate = super::gate(state)?;
    let decided = gate
        .approvals
        .decide(&a.project, id, &person.name, approve, reason, now())
        .await
        .map_err(unavailable)?;
    match decided {
        Ok(a) => {
            record(state, &a).await;
            Ok(view(a))
        }
        Err(Refused::NotFound) => Err(not_found()),
        Err(r @ Refused::OwnRequest) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "own_request",
            r.to_string(),
        )),
        Err(r) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "approval_closed",
            r.to_string(),
        )),
    }
}

/// Records an approval step (`approval_raised`, `approval_approved`,
/// `approval_denied`, `approval_used`) in its project's trail: the
/// approval's id, where it is, who and why. The request itself is in the
/// decision's own record, masked.
pub async fn record(state: &AppState, a: &Approval) {
    let Some(audit) = state.audit() else { return };
    let event = match a.stage {
        Stage::Pending => "approval_raised".to_owned(),
        s => format!("approval_{}", s.as_str()),
    };
    let mut details = std::collections::BTreeMap::from([
        ("approval".to_owned(), a.id.clone().into()),
        ("session".to_owned(), a.session.clone().into()),
        ("expires_at".to_owned(), a.expires_at.into()),
    ]);
    if let Some(by) = &a.decided_by {
        details.insert("by".into(), by.clone().into());
    }
    if let Some(c) = &a.channel {
        details.insert("channel".into(), c.clone().into());
    }
    let entry = crate::audit::AdminEntry {
        event: event.clone(),
        agent: Some(a.agent.clone()),
        project: Some(a.project.clone()),
        reason: a.decided_reason.clone(),
        details,
        ..crate::audit::AdminEntry::default()
    };
    if let Err(e) = audit.append(entry).await {
        tracing::error!(approval = %a.id, event, error = %e, "cannot record an approval step");
    }
}
