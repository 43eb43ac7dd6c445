//! `GET /v1/plugins`: what is loaded, with digests, exports and limits, for
//! administrators only: the chain and its limits tell an attacker what to
//! aim at, and no agent needs them.

use super::{ApiError, AppState, auth};
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
    /// The project that declares it; absent for the shared ones (declared in
    /// the configuration, or built in), which every project can use.
    #[serde(skip_serializing_if = "Option::is_none")]
    project: Option<String>,
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
    let snapshot = auth::ready(&state)?;
    auth::server_admin(&snapshot, &headers)?;
    let info = |p: &crate::runtime::Plugin, project: Option<&str>| PluginInfo {
        name: p.name().to_owned(),
        project: project.map(str::to_owned),
        digest: p.digest().to_owned(),
        exports: p.exports().names(),
        isolation: p.isolation(),
        limits: *p.limits(),
        code_source: p.code_source(),
        idle_instances: p.idle_instances(),
        log_lines_dropped: p.log_lines_dropped(),
    };
    let shared = snapshot.shared.values().map(|p| info(p, None));
    let own = snapshot.projects.values().flat_map(|project| {
        project
            .policy
            .plugins
            .keys()
            .filter_map(|name| project.plugins.get(name))
            .map(|p| info(p, Some(&project.policy.project)))
    });
    let plugins = shared.chain(own).collect();
    Ok(Json(PluginList {
        pooling_allocator: snapshot.pooling,
        plugins,
    }))
}
