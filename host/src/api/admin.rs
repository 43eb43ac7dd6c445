//! Administration: `GET /v1/status` and `POST /v1/admin/reload`, for admin
//! tokens only (an agent's token is never an admin's).

use super::decide::bearer;
use super::{ApiError, AppState};
use crate::audit::{COMMIT_BUCKETS_US, Stats};
use crate::identity;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;

pub(super) fn require_admin(state: &AppState, headers: &HeaderMap) -> Result<String, ApiError> {
    let token = bearer(headers)?;
    let snapshot = state.snapshot().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "the policy is still loading",
        )
    })?;
    identity::authenticate_admin(&snapshot.policy, token)
        .map(str::to_owned)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "not an administrator's token",
            )
        })
}

/// `GET /v1/status`: the policy serving, the latest reload attempt and the
/// audit writer's counters.
pub(super) async fn status(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    require_admin(&state, &headers)?;
    let (snapshot, last_reload) = state.current();
    Ok(Json(json!({
        "ready": snapshot.is_some(),
        "policy_version": snapshot.as_ref().map(|s| s.policy.version.clone()),
        "project": snapshot.as_ref().map(|s| s.policy.project.clone()),
        "agents": snapshot.as_ref().map_or(0, |s| s.policy.agents.len()),
        "plugins": snapshot.as_ref().map_or(0, |s| s.plugins.len()),
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
    let admin = require_admin(&state, &headers)?;
    let reloader = state.reloader.get().cloned().ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "not_reloadable",
            "this server's policy cannot be reloaded",
        )
    })?;
    let previous = state.snapshot().map(|s| s.policy.version.clone());
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
        Ok(version) => Ok(Json(
            json!({"policy_version": version, "previous_version": previous}),
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
