//! Administration: `GET /v1/status` (server administrators see every
//! project, project administrators their own) and `POST /v1/admin/reload`
//! (server administrators). An agent's token is never an administrator's.

use super::{ApiError, AppState, auth};
use crate::audit::{COMMIT_BUCKETS_US, Stats};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;

/// `GET /v1/status`: the policy serving, the latest reload attempt and the
/// audit writer's counters.
pub(super) async fn status(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    // One read of what serves and the latest attempt, for both who asks
    // and what they see.
    let (current, last_reload) = state.live().current();
    let snapshot = current.ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "the policy and its plugins are still loading",
        )
    })?;
    let person = auth::administrator(&snapshot, &headers)?;
    let projects: Vec<Value> = snapshot
        .projects
        .values()
        .filter(|p| person.administers(&p.policy.project))
        .map(|p| {
            json!({
                "project": p.policy.project,
                "version": p.policy.version,
                "folder": p.policy.folder,
                "agents": p.policy.agents.len(),
                "plugins": p.plugins.len(),
            })
        })
        .collect();
    if !person.server_admin {
        // A project administrator sees their projects, nothing server-wide,
        // and why the latest attempt refused their project's files.
        let folders: Vec<&str> = snapshot
            .projects
            .values()
            .filter(|p| person.administers(&p.policy.project))
            .map(|p| p.policy.folder.as_str())
            .collect();
        // Their own files' errors in full; a clash with other projects
        // without naming them.
        let refused: Vec<Value> = last_reload
            .iter()
            .flat_map(|a| &a.failed)
            .filter(|f| folders.contains(&f.folder.as_str()))
            .map(|f| json!({"folder": f.folder, "error": f.for_project()}))
            .collect();
        return Ok(Json(
            json!({"ready": true, "projects": projects, "refused": refused}),
        ));
    }
    Ok(Json(json!({
        "ready": true,
        "policy_version": snapshot.version(),
        "layout": snapshot.server.layout,
        "projects": projects,
        "last_reload": last_reload,
        "reloads": state.reloader.get().map(|r| r.counts()),
        "audit": state.audit().map(|log| audit_status(log.stats())),
    })))
}

/// The audit writer's counters, with its commit times as a histogram in ms
/// (`le_0.25` … `le_10`, `over_10`).
fn audit_status(stats: Stats) -> Value {
    let ms = |us: u64| (us as f64 / 1000.0).to_string();
    let mut commit_ms = serde_json::Map::new();
    for (i, n) in stats.commit_times.iter().enumerate() {
        let key = match COMMIT_BUCKETS_US.get(i) {
            Some(&bound) => format!("le_{}", ms(bound)),
            None => format!(
                "over_{}",
                ms(COMMIT_BUCKETS_US[COMMIT_BUCKETS_US.len() - 1])
            ),
        };
        commit_ms.insert(key, json!(n));
    }
    json!({
        "head_seq": stats.head_seq,
        "records": stats.records,
        "batches": stats.batches,
        "last_batch": stats.last_batch,
        "failed_batches": stats.failed_batches,
        "commit_ms": commit_ms,
    })
}

/// `POST /v1/admin/reload`: reload the policy now.
pub(super) async fn reload(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let snapshot = auth::ready(&state)?;
    let admin = auth::server_admin(&snapshot, &headers)?.name.clone();
    let reloader = state.reloader.get().cloned().ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "not_reloadable",
            "this server's policy cannot be reloaded",
        )
    })?;
    let previous = snapshot.version().to_owned();
    tracing::info!(admin = %admin, "reload requested");
    let result = tokio::task::spawn_blocking(move || reloader.reload_as("api", Some(&admin)))
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                format!("reload task failed: {e}"),
            )
        })?;
    match result {
        Ok(done) if done.failed.is_empty() => Ok(Json(
            json!({"policy_version": done.version, "previous_version": previous}),
        )),
        // Some projects' files were refused: they keep their last good
        // version; the others' changes were installed.
        Ok(done) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_policy",
            format!(
                "{}; the other projects' changes were installed (version {})",
                done.failed
                    .iter()
                    .map(|f| format!(
                        "project folder `{}/` was refused and keeps its last good version: {}",
                        f.folder, f.error
                    ))
                    .collect::<Vec<_>>()
                    .join("; "),
                done.version
            ),
        )),
        // The server could not record or finish the reload: not the
        // policy's fault, and worth retrying.
        Err(
            e @ (crate::Error::Audit { .. }
            | crate::Error::AuditClosed
            | crate::Error::AuditBroken(_)
            | crate::Error::Engine(_)),
        ) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "reload_unavailable",
            format!(
                "the reload could not be completed and the last good policy keeps serving: {e}"
            ),
        )),
        Err(e) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_policy",
            format!("the change was refused and the last good policy keeps serving: {e}"),
        )),
    }
}
