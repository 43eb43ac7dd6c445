//! `GET /v1/alerts` (administrators of the project) and the audit record
//! of each alert raised ([`record`]).

use super::{ApiError, AppState, auth};
use crate::oversight::Alert;
use crate::policy::model::AlertKind;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    project: Option<String>,
    agent: Option<String>,
    kind: Option<AlertKind>,
    /// RFC 3339: alerts at or after.
    since: Option<String>,
    /// RFC 3339: alerts before.
    until: Option<String>,
    limit: Option<usize>,
}

/// An alert as listed.
#[derive(Debug, Serialize)]
pub(super) struct AlertView {
    #[serde(flatten)]
    alert: Alert,
    /// RFC 3339 of `at`.
    time: String,
}

/// The alerts listed.
#[derive(Debug, Serialize)]
pub(super) struct AlertList {
    alerts: Vec<AlertView>,
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", message)
}

fn instant(name: &str, text: Option<&str>) -> Result<Option<i64>, ApiError> {
    text.map(|t| {
        t.parse::<jiff::Timestamp>()
            .map(|ts| ts.as_microsecond())
            .map_err(|e| bad(format!("`{name}` is not an RFC 3339 time: {e}")))
    })
    .transpose()
}

/// `GET /v1/alerts?project=&agent=&kind=&since=&until=&limit=`: the
/// alerts of the caller's projects, oldest first within a project.
pub(super) async fn list(
    State(state): State<Arc<AppState>>,
    query: Result<Query<ListQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Json<AlertList>, ApiError> {
    let Query(query) = query.map_err(|e| bad(e.body_text()))?;
    let limit = auth::page_limit(query.limit)?;
    let since = instant("since", query.since.as_deref())?;
    let until = instant("until", query.until.as_deref())?;
    let snapshot = auth::ready(&state)?;
    let person = auth::administrator(&snapshot, &headers)?;
    let projects = auth::projects_in_scope(
        &snapshot,
        person,
        query.project.as_deref(),
        auth::administers,
    )?;
    let gate = super::gate(&state)?;
    let mut out = Vec::new();
    for p in &projects {
        // Ids sort by time: start at `since`.
        let mut after = since.map(|t| format!("alr_{:016x}", (t - 1).max(0)));
        'pages: while out.len() < limit {
            let page = gate
                .alerts
                .list(p, after.as_deref(), limit)
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "alerts cannot be read");
                    ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "state_unavailable",
                        "alerts cannot be read (the server's log says why)",
                    )
                })?;
            let Some(last) = page.last() else { break };
            after = Some(last.id.clone());
            for a in page {
                if until.is_some_and(|u| a.at >= u) {
                    break 'pages;
                }
                let wanted = since.is_none_or(|s| a.at >= s)
                    && query.agent.as_ref().is_none_or(|ag| *ag == a.agent)
                    && query.kind.is_none_or(|k| k == a.kind);
                if wanted && out.len() < limit {
                    let time = jiff::Timestamp::from_microsecond(a.at)
                        .map(|t| t.to_string())
                        .unwrap_or_default();
                    out.push(AlertView { alert: a, time });
                }
            }
        }
    }
    Ok(Json(AlertList { alerts: out }))
}

/// Records an alert raised (`alert_raised`) in its project's trail: the
/// agent, the kind, the rule, its figures, the channel and notification.
pub async fn record(state: &AppState, a: &Alert) {
    let Some(audit) = state.audit() else { return };
    let mut details = std::collections::BTreeMap::from([
        ("alert".to_owned(), a.id.clone().into()),
        ("kind".to_owned(), a.kind.as_str().into()),
        ("rule".to_owned(), a.rule.into()),
        ("figures".to_owned(), serde_json::json!(a.details)),
    ]);
    if let Some(c) = &a.channel {
        details.insert("channel".into(), c.clone().into());
    }
    if let Some(n) = &a.notification {
        details.insert("notification".into(), n.clone().into());
    }
    let entry = crate::audit::AdminEntry {
        event: "alert_raised".into(),
        agent: Some(a.agent.clone()),
        project: Some(a.project.clone()),
        reason: Some(a.title.clone()),
        details,
        ..crate::audit::AdminEntry::default()
    };
    if let Err(e) = audit.append(entry).await {
        tracing::error!(alert = %a.id, error = %e, "cannot record an alert");
    }
}
