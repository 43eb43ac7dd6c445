//! `GET /v1/plugins`: what is loaded, with digests, exports and limits, for
//! administrators only: the chain and its limits tell an attacker what to
//! aim at, and no agent needs them.

use super::admin::require_admin;
use super::{ApiError, AppState};
use crate::runtime::{CodeSource, Isolation, Limits};
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::Serialize;
use std::sync::Arc;

#[derive(Serialize)]
pub(super) struct PluginList {
    pooling_allocator: bool,
    plugins: Vec<PluginInfo>,
}

#[derive(Serialize)]
struct PluginInfo {
    name: String,
    digest: String,
    exports: Vec<&'static str>,
    isolation: Isolation,
    limits: Limits,
    code_source: CodeSource,
    idle_instances: usize,
    log_lines_dropped: u64,
}

pub(super) async fn list(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<PluginList>, ApiError> {
    require_admin(&state, &headers)?;
    let snapshot = state.snapshot();
    let plugins = snapshot
        .iter()
        .flat_map(|s| s.plugins.values())
        .map(|p| PluginInfo {
            name: p.name().to_owned(),
            digest: p.digest().to_owned(),
            exports: p.exports().names(),
            isolation: p.isolation(),
            limits: *p.limits(),
            code_source: p.code_source(),
            idle_instances: p.idle_instances(),
            log_lines_dropped: p.log_lines_dropped(),
        })
        .collect();
    Ok(Json(PluginList {
        pooling_allocator: snapshot.is_some_and(|s| s.pooling),
        plugins,
    }))
}
