//! `GET /v1/audit`: the audit trail, filtered and paginated. A server
//! administrator reads every record; a project administrator reads their
//! project's only, and for any other project the answer is the one for a
//! project that does not exist (`404`).

use super::{ApiError, AppState, auth};
use crate::audit::{Record, Timestamp};
use crate::decision::Outcome;
use crate::policy::Person;
use crate::store::{Cursor, Filter};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Query parameters; every one is optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AuditQuery {
    session: Option<String>,
    agent: Option<String>,
    project: Option<String>,
    decision: Option<Outcome>,
    decision_id: Option<String>,
    /// RFC 3339; records at or after.
    from: Option<String>,
    /// RFC 3339; records strictly before.
    to: Option<String>,
    /// The `next_after` of the previous page.
    after: Option<u64>,
    /// Page size, 1 to 1000 (default 100).
    limit: Option<usize>,
}

/// One page.
#[derive(Debug, Serialize)]
pub(super) struct AuditPage {
    records: Vec<Record>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_after: Option<u64>,
}

fn time(name: &str, value: Option<&str>) -> Result<Option<Timestamp>, ApiError> {
    value
        .map(|v| {
            v.parse::<Timestamp>().map_err(|e| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_query",
                    format!("`{name}` is not an RFC 3339 time (e.g. 2026-11-23T14:00:00Z): {e}"),
                )
            })
        })
        .transpose()
}

/// The projects a person's query may read, as a filter: any (or the one
/// named) for a server administrator; for a project administrator the one
/// named if they administer it (else `404`, as for a project that does not
/// exist), or all of theirs when none is named.
fn scope(
    person: &Person,
    named: Option<String>,
) -> Result<(Option<String>, Option<Vec<String>>), ApiError> {
    if person.server_admin {
        return Ok((named, None));
    }
    match named {
        Some(p) if person.admin_of.contains(&p) => Ok((Some(p), None)),
        Some(p) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no project `{p}`"),
        )),
        None => Ok((None, Some(person.admin_of.iter().cloned().collect()))),
    }
}

pub(super) async fn query(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<AuditPage>, ApiError> {
    let snapshot = auth::ready(&state)?;
    let person = auth::administrator(&snapshot, &headers)?;
    let Query(q) = query
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", e.body_text()))?;
    let (project, projects) = scope(person, q.project)?;
    let audit = state.audit().cloned().ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "audit_disabled",
            "audit is disabled in this server's configuration",
        )
    })?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "`limit` must be between 1 and 1000",
        ));
    }
    let filter = Filter {
        session: q.session,
        agent: q.agent,
        project,
        projects,
        decision: q.decision,
        decision_id: q.decision_id,
        kind: None,
        from_ts: time("from", q.from.as_deref())?,
        to_ts: time("to", q.to.as_deref())?,
    };
    let cursor = Cursor::After(q.after.unwrap_or(0));
    let records = tokio::task::spawn_blocking(move || audit.query(&filter, cursor, limit + 1))
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                format!("audit query task failed: {e}"),
            )
        })?
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "audit_unavailable",
                format!("cannot read the audit trail: {e}"),
            )
        })?;
    let mut records = records;
    let next_after = if records.len() > limit {
        records.truncate(limit);
        records.last().map(|r| r.seq)
    } else {
        None
    };
    Ok(Json(AuditPage {
        records,
        next_after,
    }))
}
