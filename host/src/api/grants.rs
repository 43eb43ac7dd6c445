//! Just-in-time elevation through the API: `POST /v1/grants`, `GET
//! /v1/grants`, `DELETE /v1/grants/{id}` (administrators and approvers of
//! the project), and [`elevate`], what the decision path does with the
//! grants of an agent whose request the policy did not allow.

use super::{ApiError, AppState, auth};
use crate::chain;
use crate::decision::{Decision, Outcome};
use crate::oversight::{Approval, Grant, GrantRefused, GrantStage};
use crate::policy::{Agent, Person};
use crate::runtime::types::DecisionRequest;
use crate::snapshot::{Project, Snapshot};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

fn now() -> i64 {
    jiff::Timestamp::now().as_microsecond()
}

use crate::units::rfc3339;

/// When the policy answered `approval_required`, or `deny` only because no
/// rule allowed the request: asks the chain again with the agent's live
/// grants for the service as its only rules. If the service's plugin
/// allows by a grant's rule and nothing in the chain objects, the decision
/// becomes `allow`, naming the grant; the grant run's steps join the
/// decision's (as `plugin (grant)`). Returns the grant used. A grant that
/// cannot be read grants nothing.
pub(super) async fn elevate(
    state: &AppState,
    project: &Project,
    agent: &Agent,
    request: &DecisionRequest,
    decision: &mut Decision,
    now: i64,
) -> Option<Grant> {
    let elevatable =
        decision.outcome == Outcome::ApprovalRequired || decision.code == Some("no_matching_rule");
    if !elevatable {
        return None;
    }
    let gate = state.gate()?;
    let mut live = gate
        .grants
        .live(&request.project, &agent.name, &request.service, now)
        .await
        .inspect_err(|e| tracing::warn!(project = %request.project, error = %e, "cannot read grants; none applies"))
        .ok()?;
    // The host's own narrowing first (exact grants, qualifiers as
    // attributes), whatever the plugin would make of them.
    live.retain(|g| g.admits(&request.action, &request.resource, &request.attributes));
    if live.is_empty() {
        return None;
    }
    let granted = Agent {
        name: agent.name.clone(),
        rules: BTreeMap::from([(
            request.service.clone(),
            live.iter().map(Grant::rule).collect(),
        )]),
        ..Agent::default()
    };
    let run = chain::decide(&project.policy, &project.plugins, &granted, request).await;
    // The service's plugin must allow by a grant's own rule: a custom
    // plugin's allow alone never turns a grant into more than it says.
    let first = run.steps.first()?;
    // Its reason ends with the rule that allowed (the SDK's form); the
    // resource quoted earlier in it is the agent's and proves nothing.
    let grant = live.iter().find(|g| {
        first.verdict == "allow"
            && first
                .reason
                .ends_with(&format!("allowed by {}", g.rule_id()))
    })?;
    if run.outcome != Outcome::Allow {
        return None;
    }
    decision.outcome = Outcome::Allow;
    decision.code = None;
    decision.reason = format!(
        "allowed by grant {} (given by {}, until {}): {}",
        grant.id,
        grant.by,
        rfc3339(grant.expires_at),
        run.reason
    );
    decision.steps.extend(run.steps.into_iter().map(|mut s| {
        s.plugin = format!("{} (grant)", s.plugin);
        s
    }));
    Some(grant.clone())
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
}

fn unavailable(e: crate::Error) -> ApiError {
    tracing::error!(error = %e, "grants cannot be read or written");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "state_unavailable",
        "grants cannot be read or written (the server's log says why)",
    )
}

fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such grant")
}

/// The projects whose grants `person` may give, see and revoke.
fn grantable(snapshot: &Snapshot, person: &Person) -> Vec<String> {
    auth::projects_in_scope(snapshot, person, None, auth::administers_or_approves)
        .unwrap_or_default()
}

/// A pattern list: 1 to 32 entries of 1 to 1024 bytes.
fn check_list(name: &str, list: &[String]) -> Result<(), ApiError> {
    if list.is_empty() || list.len() > 32 || list.iter().any(|x| x.is_empty() || x.len() > 1024) {
        return Err(bad(format!(
            "`{name}` must list 1 to 32 patterns of 1 to 1024 bytes"
        )));
    }
    Ok(())
}

/// The grant body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantBody {
    project: String,
    agent: String,
    service: String,
    actions: Vec<String>,
    resources: Vec<String>,
    #[serde(default)]
    qualifiers: BTreeMap<String, Vec<String>>,
    /// How long, e.g. `30m` (at most the configuration's `grants.max_ttl`).
    ttl: String,
    reason: String,
}

/// A grant as answered.
#[derive(Debug, Serialize)]
pub(super) struct GrantView {
    #[serde(flatten)]
    grant: Grant,
    /// The stage as of now.
    state: GrantStage,
    /// RFC 3339 of `expires_at`.
    expires: String,
}

fn view(g: Grant) -> GrantView {
    GrantView {
        state: g.stage_at(now()),
        expires: rfc3339(g.expires_at),
        grant: g,
    }
}

/// The TTL asked for, within the configured bound.
fn ttl(state: &AppState, text: &str) -> Result<u64, ApiError> {
    let gate = super::gate(state)?;
    let d = crate::units::Duration::parse(text).map_err(|e| bad(format!("`ttl`: {e}")))?;
    let max = gate.grants.max_ttl_s();
    if d.0 == 0 || d.0 > max {
        return Err(bad(format!(
            "`ttl` must be 1s to {max}s (the configuration's `grants.max_ttl`)"
        )));
    }
    Ok(d.0)
}

/// `POST /v1/grants`.
pub(super) async fn give(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<GrantView>), ApiError> {
    let snapshot = auth::ready(&state)?;
    let person = auth::person(&snapshot, &headers)?;
    let body = body.map_err(|e| super::body_error(e, super::MAX_BODY, None))?;
    let body: GrantBody = serde_json::from_slice(&body).map_err(|e| {
        bad(format!(
            "write {{\"project\", \"agent\", \"service\", \"actions\", \"resources\", \
             \"qualifiers\" (optional), \"ttl\", \"reason\"}}: {e}"
        ))
    })?;
    if !grantable(&snapshot, person).contains(&body.project) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no project `{}`", body.project),
        ));
    }
    let Some(project) = snapshot.projects.get(&body.project) else {
        return Err(not_found());
    };
    if !project.policy.agents.contains_key(&body.agent) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no agent `{}` in `{}`", body.agent, body.project),
        ));
    }
    if body.service.is_empty() || body.service.len() > 256 {
        return Err(bad("`service` must be 1 to 256 bytes"));
    }
    check_list("actions", &body.actions)?;
    check_list("resources", &body.resources)?;
    if body.qualifiers.len() > 16 {
        return Err(bad("at most 16 qualifiers"));
    }
    for (name, values) in &body.qualifiers {
        if name.is_empty() || name.len() > 256 {
            return Err(bad("qualifier names are 1 to 256 bytes"));
        }
        check_list(&format!("qualifiers.{name}"), values)?;
    }
    let reason = body.reason.trim();
    if reason.is_empty() || reason.len() > 1024 {
        return Err(bad("`reason` must be 1 to 1024 bytes"));
    }
    let ttl_s = ttl(&state, &body.ttl)?;
    let at = now();
    let grant = Grant {
        id: crate::oversight::grants::new_id(at).map_err(unavailable)?,
        project: body.project,
        agent: body.agent,
        service: body.service,
        actions: body.actions,
        resources: body.resources,
        qualifiers: body.qualifiers,
        by: person.name.clone(),
        reason: reason.to_owned(),
        approval: None,
        exact: false,
        created_at: at,
        expires_at: at.saturating_add(i64::try_from(ttl_s * 1_000_000).unwrap_or(i64::MAX)),
        stage: GrantStage::Active,
        revoked_by: None,
        ended_at: None,
    };
    let given = store_grant(&state, grant, at).await?;
    Ok((StatusCode::CREATED, Json(view(given))))
}

/// Gives `grant` and records it (`grant_given`).
async fn store_grant(state: &AppState, grant: Grant, at: i64) -> Result<Grant, ApiError> {
    let gate = super::gate(state)?;
    let recorded = |g: Grant| async move { record(state, &g, "grant_given").await };
    match gate
        .grants
        .give(grant, at, recorded)
        .await
        .map_err(unavailable)?
    {
        Ok(g) => Ok(g),
        Err(GrantRefused::NotRecorded) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "audit_unavailable",
            GrantRefused::NotRecorded.to_string(),
        )),
        Err(r) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "too_many_grants",
            r.to_string(),
        )),
    }
}

/// Checks, before anything is decided, that approval `a` can be approved
/// "for" `ttl_text`: the TTL within the bound, a request without a
/// pattern character (`*`, `?`, `[`: the grant is compared exactly, but a
/// plugin given it as a rule would read them as patterns), and room for
/// one more grant for its agent.
pub(super) async fn check_for(
    state: &AppState,
    a: &Approval,
    ttl_text: &str,
) -> Result<(), ApiError> {
    ttl(state, ttl_text)?;
    let r = &a.request;
    let literal = |s: &str| !s.contains(['*', '?', '[']);
    if !(literal(&r.action) && literal(&r.resource) && r.attributes.values().all(|v| literal(v))) {
        return Err(bad(
            "`for` cannot be used on this approval: its request holds `*`, `?` or `[`, so a \
             grant of it could cover more than was approved; approve it once instead",
        ));
    }
    let gate = super::gate(state)?;
    if !gate
        .grants
        .has_room(&a.project, &a.agent, now())
        .await
        .map_err(unavailable)?
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "too_many_grants",
            GrantRefused::TooMany.to_string(),
        ));
    }
    Ok(())
}

/// For `POST /v1/approvals/{id}/approve` with `"for": "30m"` (after
/// [`check_for`]): a grant of exactly the approved request to its agent,
/// for that long. It is exact: the host compares the request's action,
/// resource and attributes as written before the service's plugin is
/// asked, so plugin keywords and unread attributes widen nothing.
pub(super) async fn grant_for_approval(
    state: &AppState,
    a: &Approval,
    person: &Person,
    ttl_text: &str,
) -> Result<Grant, ApiError> {
    let ttl_s = ttl(state, ttl_text)?;
    let r = &a.request;
    let at = now();
    let grant = Grant {
        id: crate::oversight::grants::new_id(at).map_err(unavailable)?,
        project: a.project.clone(),
        agent: a.agent.clone(),
        service: r.service.clone(),
        actions: vec![r.action.clone()],
        resources: vec![r.resource.clone()],
        qualifiers: r
            .attributes
            .iter()
            .map(|(k, v)| (k.clone(), vec![v.clone()]))
            .collect(),
        by: person.name.clone(),
        reason: format!(
            "approval {}: {}",
            a.id,
            a.decided_reason.as_deref().unwrap_or("")
        ),
        approval: Some(a.id.clone()),
        exact: true,
        created_at: at,
        expires_at: at.saturating_add(i64::try_from(ttl_s * 1_000_000).unwrap_or(i64::MAX)),
        stage: GrantStage::Active,
        revoked_by: None,
        ended_at: None,
    };
    store_grant(state, grant, at).await
}

/// Records a grant step (`grant_given`, `grant_revoked`, `grant_expired`)
/// in its project's trail; `false` if it could not be (with audit off,
/// there is nothing to record: `true`).
pub async fn record(state: &AppState, g: &Grant, event: &str) -> bool {
    let Some(audit) = state.audit() else {
        return true;
    };
    let mut details = BTreeMap::from([
        ("grant".to_owned(), g.id.clone().into()),
        ("service".to_owned(), g.service.clone().into()),
        ("actions".to_owned(), serde_json::json!(g.actions)),
        ("resources".to_owned(), serde_json::json!(g.resources)),
        ("expires_at".to_owned(), g.expires_at.into()),
        ("by".to_owned(), g.by.clone().into()),
    ]);
    if !g.qualifiers.is_empty() {
        details.insert("qualifiers".into(), serde_json::json!(g.qualifiers));
    }
    if let Some(a) = &g.approval {
        details.insert("approval".into(), a.clone().into());
    }
    if let Some(r) = &g.revoked_by {
        details.insert("revoked_by".into(), r.clone().into());
    }
    let entry = crate::audit::AdminEntry {
        event: event.to_owned(),
        agent: Some(g.agent.clone()),
        project: Some(g.project.clone()),
        reason: Some(g.reason.clone()),
        details,
        ..crate::audit::AdminEntry::default()
    };
    match audit.append(entry).await {
        Ok(_) => true,
        Err(e) => {
            tracing::error!(grant = %g.id, event, error = %e, "cannot record a grant step");
            false
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    project: Option<String>,
    agent: Option<String>,
    state: Option<GrantStage>,
    limit: Option<usize>,
}

/// The grants listed.
#[derive(Debug, Serialize)]
pub(super) struct GrantList {
    grants: Vec<GrantView>,
}

/// `GET /v1/grants?project=&agent=&state=&limit=`.
pub(super) async fn list(
    State(state): State<Arc<AppState>>,
    query: Result<Query<ListQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Json<GrantList>, ApiError> {
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
    for p in &projects {
        let mut after: Option<String> = None;
        while out.len() < limit {
            let page = gate
                .grants
                .list(p, after.as_deref(), limit)
                .await
                .map_err(unavailable)?;
            let Some(last) = page.last() else { break };
            after = Some(last.id.clone());
            for g in page {
                let v = view(g);
                let wanted = query.state.is_none_or(|s| s == v.state)
                    && query.agent.as_ref().is_none_or(|a| *a == v.grant.agent);
                if wanted && out.len() < limit {
                    out.push(v);
                }
            }
        }
    }
    Ok(Json(GrantList { grants: out }))
}

/// `DELETE /v1/grants/{id}`: revoked at once.
pub(super) async fn revoke(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<GrantView>, ApiError> {
    let snapshot = auth::ready(&state)?;
    let person = auth::person(&snapshot, &headers)?;
    let gate = super::gate(&state)?;
    for p in grantable(&snapshot, person) {
        match gate
            .grants
            .revoke(&p, &id, &person.name, now())
            .await
            .map_err(unavailable)?
        {
            Ok(g) => {
                // No decision that read it is still to answer after this.
                gate.containment.drain(&p).await;
                record(&state, &g, "grant_revoked").await;
                return Ok(Json(view(g)));
            }
            Err(GrantRefused::NotFound) => continue,
            Err(r) => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "grant_ended",
                    r.to_string(),
                ));
            }
        }
    }
    Err(not_found())
}
