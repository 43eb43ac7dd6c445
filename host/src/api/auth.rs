//! Who is asking: the bearer token, the agent (and so the project) or the
//! person it identifies, and what their role lets them reach. An agent acts
//! only in its own project; a request naming another project is refused and
//! recorded.

use super::{ApiError, AppState};
use crate::policy::{Agent, Person};
use crate::snapshot::{Identity, Project, Snapshot};
use axum::http::{HeaderMap, StatusCode, header};
use std::sync::Arc;

/// The bearer token of a request.
pub(super) fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let unauthorized = |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", m);
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| unauthorized("missing `Authorization: Bearer <token>` header"))?
        .to_str()
        .map_err(|_| unauthorized("the Authorization header is not text"))?;
    value
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| unauthorized("the Authorization header must be `Bearer <token>`"))
}

/// The snapshot serving, or `503 not_ready` while the policy loads.
pub(super) fn ready(state: &AppState) -> Result<Arc<Snapshot>, ApiError> {
    state.snapshot().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "the policy and its plugins are still loading",
        )
    })
}

/// The agent whose token `headers` carry, and its project; `401` for any
/// other token.
pub(super) fn agent<'s>(
    snapshot: &'s Snapshot,
    headers: &HeaderMap,
) -> Result<(&'s Arc<Project>, &'s Agent), ApiError> {
    let token = bearer(headers)?;
    match snapshot.authenticate(token) {
        Some(Identity::Agent(project, agent)) => Ok((project, agent)),
        _ => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "unknown token",
        )),
    }
}

/// The person (administrator or approver) whose token `headers` carry;
/// `401` for an agent's token or an unknown one.
pub(super) fn person<'s>(
    snapshot: &'s Snapshot,
    headers: &HeaderMap,
) -> Result<&'s Person, ApiError> {
    let token = bearer(headers)?;
    snapshot.person(token).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "not an administrator's token",
        )
    })
}

/// A server or project administrator; `403` for an approver only.
pub(super) fn administrator<'s>(
    snapshot: &'s Snapshot,
    headers: &HeaderMap,
) -> Result<&'s Person, ApiError> {
    let person = person(snapshot, headers)?;
    if !person.server_admin && person.admin_of.is_empty() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "only an administrator may do this",
        ));
    }
    Ok(person)
}

/// A server administrator; `403` for a project administrator or approver.
pub(super) fn server_admin<'s>(
    snapshot: &'s Snapshot,
    headers: &HeaderMap,
) -> Result<&'s Person, ApiError> {
    let person = person(snapshot, headers)?;
    if !person.server_admin {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "only a server administrator may do this",
        ));
    }
    Ok(person)
}

/// Refuses a request whose body names a project other than its agent's
/// (`403 wrong_project`), and records the refusal in the agent's project's
/// trail. A request that names no project is the agent's own.
pub(super) async fn same_project(
    state: &AppState,
    project: &Project,
    agent: &Agent,
    session: Option<&str>,
    named: Option<&str>,
    route: &str,
) -> Result<(), ApiError> {
    let Some(named) = named.filter(|n| *n != project.policy.project) else {
        return Ok(());
    };
    tracing::warn!(agent = %agent.name, project = %project.policy.project, route, "an agent named another project; refused");
    if let Some(audit) = state.audit() {
        let mut details = std::collections::BTreeMap::new();
        details.insert("route".into(), route.into());
        details.insert("requested_project".into(), named.into());
        if let Some(session) = session {
            details.insert("session".into(), session.into());
        }
        let entry = crate::audit::AdminEntry {
            event: "project_refused".into(),
            agent: Some(agent.name.clone()),
            project: Some(project.policy.project.clone()),
            policy_version: Some(project.policy.version.clone()),
            reason: Some("the request named a project other than its token's".into()),
            details,
        };
        audit.append(entry).await.map_err(|e| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "audit_unavailable",
                format!("the refusal could not be recorded: {e}"),
            )
        })?;
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "wrong_project",
        "this token's agent belongs to another project than the one the request names",
    ))
}

/// The projects serving that `person` may reach by `reach` (administers,
/// approves…), narrowed to the one `named` if any: one they may not reach
/// answers `404 not_found`, exactly as one that does not exist.
pub(super) fn projects_in_scope(
    snapshot: &Snapshot,
    person: &Person,
    named: Option<&str>,
    reach: impl Fn(&Person, &str) -> bool,
) -> Result<Vec<String>, ApiError> {
    let projects: Vec<String> = snapshot
        .projects
        .keys()
        .filter(|p| reach(person, p))
        .cloned()
        .collect();
    match named {
        None => Ok(projects),
        Some(p) if projects.iter().any(|q| q == p) => Ok(vec![p.to_owned()]),
        Some(p) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no project `{p}`"),
        )),
    }
}

/// Whether `person` administers `project`.
pub(super) fn administers(person: &Person, project: &str) -> bool {
    person.administers(project)
}

/// Whether `person` administers or approves for `project`.
pub(super) fn administers_or_approves(person: &Person, project: &str) -> bool {
    person.administers(project) || person.approver_of.contains(project)
}

/// Largest page of a listing.
pub(super) const MAX_PAGE: usize = 200;

/// A listing's `limit`: 1 to [`MAX_PAGE`], 100 when not given.
pub(super) fn page_limit(limit: Option<usize>) -> Result<usize, ApiError> {
    let limit = limit.unwrap_or(100);
    if (1..=MAX_PAGE).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            format!("`limit` must be 1 to {MAX_PAGE}"),
        ))
    }
}
