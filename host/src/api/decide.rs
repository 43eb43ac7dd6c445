//! `POST /v1/decide`: may this agent do this action on this resource?

use super::{ApiError, AppState, auth};
use crate::audit::DecisionEntry;
use crate::chain;
use crate::decision::{Decision, Outcome, Step};
use crate::identity;
use crate::masking::{MaskKey, Masker};
use crate::oversight::Gated;
use crate::runtime::types::DecisionRequest;
use crate::snapshot::Project;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DecideBody {
    /// The project the caller means; when given, it must be the token's.
    #[serde(default)]
    project: Option<String>,
    session: String,
    service: String,
    action: String,
    resource: String,
    #[serde(default, deserialize_with = "unique_attributes")]
    attributes: BTreeMap<String, String>,
    /// An approval of this exact request, to use (once).
    #[serde(default)]
    approval_id: Option<String>,
    /// Tokens the call is expected to use: reserved against the budgets
    /// until its usage is reported (or the reservation times out).
    #[serde(default)]
    estimated_tokens: Option<i64>,
    /// The model the estimate is priced at (its highest price; without it,
    /// the pricing table's highest).
    #[serde(default)]
    model: Option<String>,
}

/// Attributes as a map that refuses a repeated name: `{"branch": "main",
/// "branch": "feature/x"}` means one thing to a gateway that reads the first
/// and another to one that reads the last, so it is not decided at all.
fn unique_attributes<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    struct Unique;
    impl<'de> serde::de::Visitor<'de> for Unique {
        type Value = BTreeMap<String, String>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object of string attributes")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some((k, v)) = map.next_entry::<String, String>()? {
                if out.contains_key(&k) {
                    return Err(serde::de::Error::custom(format!(
                        "attribute `{k}` is given twice"
                    )));
                }
                out.insert(k, v);
            }
            Ok(out)
        }
    }
    d.deserialize_map(Unique)
}

#[derive(Debug, Deserialize)]
pub(super) struct DecideQuery {
    #[serde(default)]
    explain: bool,
}

#[derive(Debug, Serialize)]
pub(super) struct DecideAnswer {
    decision: Outcome,
    reason: String,
    /// For a denial the host gave (a hold, an approval that cannot be
    /// used, a plugin that failed…), its machine-readable cause.
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'static str>,
    decision_id: String,
    policy_version: String,
    project: String,
    agent: String,
    /// The approval raised for this request (or the open one), when the
    /// answer is `approval_required`.
    #[serde(skip_serializing_if = "Option::is_none")]
    approval: Option<ApprovalRef>,
    /// For `throttled`: seconds until a request would be admitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_after: Option<u64>,
    /// For `throttled`: the rate limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    rate_limit: Option<super::budgets::ThrottleView>,
    /// For `budget_exceeded`: the budget the call does not fit.
    #[serde(skip_serializing_if = "Option::is_none")]
    budget: Option<super::budgets::MeterView>,
    /// Whether `estimated_tokens` is reserved (until usage naming this
    /// decision settles it, or it times out).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    reserved: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    explain: Option<Vec<Step>>,
}

/// Where the agent finds its approval.
#[derive(Debug, Serialize)]
pub(super) struct ApprovalRef {
    id: String,
    state: crate::oversight::Stage,
    /// RFC 3339.
    expires: String,
}

/// Largest field value accepted, in bytes.
const MAX_FIELD: usize = 4096;

/// Largest token count accepted (a policy's largest limit).
const MAX_TOKENS: i64 = crate::policy::budget_plan::MAX_TOKENS as i64;

pub(super) async fn decide(
    State(state): State<Arc<AppState>>,
    query: Result<Query<DecideQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<DecideAnswer>, ApiError> {
    let Query(query) = query
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", e.body_text()))?;
    let snapshot = auth::ready(&state)?;
    let (project, agent) = auth::agent(&snapshot, &headers)?;
    let body = body.map_err(|e| super::body_error(e, super::MAX_BODY, None))?;
    let de = &mut serde_json::Deserializer::from_slice(&body);
    let body: DecideBody = serde_path_to_error::deserialize(de).map_err(|e| {
        let at = match e.path().to_string() {
            p if p == "." => String::new(),
            p => format!("`{p}`: "),
        };
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("invalid decision request: {at}{}", e.inner()),
        )
    })?;
    check_fields(&body)?;
    auth::same_project(
        &state,
        project,
        agent,
        Some(&body.session),
        body.project.as_deref(),
        "/v1/decide",
    )
    .await?;

    let approval_id = body.approval_id.clone();
    let estimate = super::budgets::Estimate {
        tokens: body.estimated_tokens.unwrap_or(0),
        model: body.model.clone(),
    };
    let decision_id = identity::new_id("dec");
    let started = std::time::Instant::now();
    let request = DecisionRequest {
        request_id: decision_id.clone(),
        agent: agent.name.clone(),
        session: body.session,
        project: project.policy.project.clone(),
        service: body.service,
        action: body.action,
        resource: body.resource,
        attributes: body.attributes.into_iter().collect(),
    };
    let (decision, gated, metered) =
        run(&state, project, request, approval_id, estimate, started).await?;
    let approval = match gated {
        Gated::Raised { approval, .. } => Some(ApprovalRef {
            id: approval.id,
            state: approval.stage,
            expires: jiff::Timestamp::from_microsecond(approval.expires_at)
                .map(|t| t.to_string())
                .unwrap_or_default(),
        }),
        _ => None,
    };
    tracing::debug!(
        decision_id = %decision_id,
        outcome = ?decision.outcome,
        policy_version = %project.policy.version,
        "decision"
    );
    Ok(Json(DecideAnswer {
        decision: decision.outcome,
        reason: decision.reason,
        code: decision.code,
        decision_id,
        policy_version: project.policy.version.clone(),
        project: project.policy.project.clone(),
        agent: agent.name.clone(),
        approval,
        retry_after: metered.throttle.as_ref().map(|t| t.retry_after),
        rate_limit: metered.throttle,
        budget: metered.over,
        reserved: metered.reserved && decision.outcome == Outcome::Allow,
        explain: query.explain.then_some(decision.steps),
    }))
}

/// Decides `request` as `POST /v1/decide` does (holds, rate limits,
/// budgets, the chain, grants, approvals) and records it. With the audit
/// trail on, the decision runs in a task of its own, so that it is decided
/// and recorded even if the client goes away before the answer (the
/// connection's future is then dropped; this task is not): every decision
/// asked for is in the trail, answered or not.
pub(super) async fn run(
    state: &Arc<AppState>,
    project: &Arc<Project>,
    request: DecisionRequest,
    approval_id: Option<String>,
    estimate: super::budgets::Estimate,
    started: std::time::Instant,
) -> Result<(Decision, Gated, super::budgets::Metered), ApiError> {
    if state.audit().is_none() {
        return decide_and_record(
            state.clone(),
            project.clone(),
            request,
            (approval_id, estimate),
            started,
        )
        .await;
    }
    let decision_id = request.request_id.clone();
    tokio::spawn(decide_and_record(
        state.clone(),
        project.clone(),
        request,
        (approval_id, estimate),
        started,
    ))
    .await
    .map_err(|e| {
        tracing::error!(decision_id = %decision_id, error = %e, "deciding failed; no answer given");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the decision failed, so it is not given",
        )
    })?
}

/// Decides `request` and, if the audit trail is on, waits until its record
/// is durable. If it cannot be written, no answer leaves: the gateway treats
/// the error as a denial. Without a masking key the attributes are withheld,
/// never stored raw.
async fn decide_and_record(
    state: Arc<AppState>,
    project: Arc<Project>,
    request: DecisionRequest,
    (approval_id, estimate): (Option<String>, super::budgets::Estimate),
    started: std::time::Instant,
) -> Result<(Decision, Gated, super::budgets::Metered), ApiError> {
    // The agent was authenticated against this project, so it is there.
    let agent = project.policy.agents.get(&request.agent).ok_or_else(|| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the authenticated agent is not in the policy",
        )
    })?;
    // Containment first: a killed session, a suspended agent or a paused
    // project is denied before any plugin runs. The guard is held until
    // the answer is recorded, so that a hold taken meanwhile waits for it
    // (see `oversight::containment`).
    let _inflight = match state.gate() {
        Some(gate) => Some(gate.containment.enter(&request.project).await),
        None => None,
    };
    // One clock reading for the whole decision: holds, session, grants,
    // approvals and alerts judge the same instant.
    let now = jiff::Timestamp::now().as_microsecond();
    let (denial, ticket, mut metered) = admit(&state, &project, agent, &request, now).await;
    // Budgets next (see `api::budgets::meter`): a request over a budget is
    // denied before any plugin runs; an estimate that fits is reserved.
    let denial = match denial {
        Some(d) => Some(d),
        None => {
            metered =
                super::budgets::meter(&state, &project, agent, &request, &estimate, now).await;
            metered.stopped.take()
        }
    };
    // The reservation goes back unless the answer is `allow` and recorded:
    // also when this decision is abandoned part-way (its future dropped).
    let mut reservation = metered.reserved.then(|| Reservation {
        state: state.clone(),
        id: request.request_id.clone(),
        keep: false,
    });
    let (mut decision, stopped) = match denial {
        Some(denial) => (denial, true),
        None => {
            // Plugins run here, on an async worker: they yield at every
            // epoch tick.
            let d = chain::decide(&project.policy, &project.plugins, agent, &request).await;
            (d, false)
        }
    };
    // Not allowed by the policy, and not denied by a rule: a live grant of
    // the agent may allow it (see `api::grants::elevate`).
    if !stopped {
        super::grants::elevate(&state, &project, agent, &request, &mut decision, now).await;
    }
    // A decision that needs a person: raise its approval, or use the one
    // the agent brings back (see `oversight::gate`). Without a state store,
    // an approval brought back cannot be checked: deny.
    let gated = match state.gate() {
        Some(_) if stopped => Gated::Untouched,
        Some(gate) => {
            let defaults = &project.policy.approvals;
            gate.apply(
                agent,
                defaults,
                &request,
                &mut decision,
                approval_id.as_deref(),
                now,
            )
            .await
        }
        None if approval_id.is_some() && decision.outcome == Outcome::ApprovalRequired => {
            decision.deny_with(
                "denied: approvals are not available on this server".into(),
                "approvals_unavailable",
            );
            Gated::Untouched
        }
        None => Gated::Untouched,
    };
    if let (Some(gate), Some(ticket)) = (state.gate(), &ticket) {
        gate.sessions.count(ticket, decision.outcome);
    }
    // Alerts are evaluated off the path: the decision is only queued, with
    // its resource as the audit record keeps it (masked, or withheld when
    // there is no record to mask it for): what alerts store, record and
    // send is never more than the trail holds.
    let alerting = state.gate().filter(|_| !project.policy.alerts.is_empty());
    let alert = |e: &DecisionEntry, resource: String| crate::oversight::Event {
        project: e.project.clone(),
        agent: e.agent.clone(),
        session: e.session.clone(),
        service: e.service.clone(),
        action: e.action.clone(),
        resource,
        outcome: decision.outcome,
        at: now,
    };
    if let Some(audit) = state.audit() {
        let limits = state.mask_settings().limits();
        let entry = audit_entry(
            &project,
            state.mask_key(),
            limits,
            request,
            &decision,
            started,
        )
        .await;
        if let Some(gate) = alerting {
            gate.alerts.observe(alert(&entry, entry.resource.clone()));
        }
        // No answer leaves if it is not recorded, so the call is not
        // made: its reservation goes back (the guard is dropped unkept).
        audit.append(entry).await.map_err(|e| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "audit_unavailable",
                format!("the decision could not be recorded, so it is not given: {e}"),
            )
        })?;
    } else if let Some(gate) = alerting {
        gate.alerts.observe(crate::oversight::Event {
            project: request.project,
            agent: request.agent,
            session: request.session,
            service: request.service,
            action: request.action,
            resource: WITHHELD.to_owned(),
            outcome: decision.outcome,
            at: now,
        });
    }
    match &gated {
        Gated::Raised {
            approval,
            created,
            expired,
            ..
        } => {
            if let Some(old) = expired {
                super::approvals::record(&state, old).await;
            }
            if *created {
                super::approvals::record(&state, approval).await;
            }
        }
        Gated::Used(approval) => super::approvals::record(&state, approval).await,
        _ => {}
    }
    if let Some(r) = &mut reservation {
        r.keep = decision.outcome == Outcome::Allow;
    }
    Ok((decision, gated, metered))
}

/// A decision's budget reservation, given back when dropped unless kept
/// (its answer is `allow` and recorded): a decision denied, abandoned
/// part-way or failed does not hold budget until the reservation's timeout.
struct Reservation {
    state: Arc<AppState>,
    id: String,
    keep: bool,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !self.keep
            && let Some(gate) = self.state.gate()
        {
            gate.budgets.ledger.release(&self.id);
        }
    }
}

/// Whether `request` may be decided at all: a hold on its project, agent
/// or session, or its session being over (idle too long, past its maximum
/// duration), gives the denial; a hold or a session that cannot be read
/// denies too (the cause is logged). Also gives the session's ticket, to
/// count the outcome.
async fn admit(
    state: &Arc<AppState>,
    project: &Project,
    agent: &crate::policy::Agent,
    request: &DecisionRequest,
    now: i64,
) -> (
    Option<Decision>,
    Option<crate::oversight::Ticket>,
    super::budgets::Metered,
) {
    let Some(gate) = state.gate() else {
        return (None, None, super::budgets::Metered::default());
    };
    let unreadable = |what: &str| {
        Decision::host_denial(
            format!("denied: the {what} cannot be read"),
            "state_unavailable",
        )
    };
    let held = match gate
        .containment
        .check(&request.project, &request.agent, &request.session)
        .await
    {
        Ok(None) => None,
        Ok(Some(hold)) => Some(Decision::host_denial(hold.denial(), hold.scope.code())),
        Err(e) => {
            tracing::error!(project = %request.project, error = %e, "cannot read the project's holds; the decision is denied");
            Some(unreadable("kill switch's state"))
        }
    };
    // Rate limits next (see `api::budgets::throttle`): a request over its
    // rate is throttled before anything else is counted for it.
    let mut throttled = match held {
        None => super::budgets::throttle(state, project, agent, request, now).await,
        Some(_) => None,
    };
    let held = held.or_else(|| throttled.as_mut().and_then(|t| t.stopped.take()));
    let metered = throttled.unwrap_or_default();
    let limits = project.policy.session_limits(agent);
    let per_day = agent.budget.as_ref().and_then(|b| b.max_sessions_per_day);
    let day_key = match per_day {
        Some(_) => match gate.budgets.calendar(&project.policy.budgets, now) {
            Ok(c) => Some(crate::budget::sessions_key(&request.agent, &c.day)),
            Err(e) => {
                tracing::error!(project = %request.project, error = %e, "no calendar day; the decision is denied");
                return (Some(unreadable("session count")), None, metered);
            }
        },
        None => None,
    };
    let daily = per_day
        .zip(day_key.as_deref())
        .map(|(limit, key)| crate::oversight::Daily { key, limit });
    // A refused request makes its session uncounted; its first request
    // that is not refused counts it (see `Sessions::observe_refused`).
    let observed = match held {
        Some(_) => {
            gate.sessions
                .observe_refused(
                    &request.project,
                    &request.agent,
                    &request.session,
                    limits,
                    daily,
                    now,
                )
                .await
        }
        None => {
            gate.sessions
                .observe(
                    &request.project,
                    &request.agent,
                    &request.session,
                    limits,
                    daily,
                    now,
                )
                .await
        }
    };
    match observed {
        Ok((ticket, ended)) => {
            let over = ended.map(|e| {
                let what = match e {
                    crate::oversight::Ended::IdleTimeout => format!(
                        "had no decision for longer than its idle timeout ({})",
                        seconds(limits.idle_timeout_s)
                    ),
                    crate::oversight::Ended::MaxDuration => format!(
                        "is older than its maximum duration ({})",
                        seconds(limits.max_duration_s)
                    ),
                    crate::oversight::Ended::DailySessions => format!(
                        "was started when agent `{}` had used up its sessions for the day \
                         (`max_sessions_per_day`: {})",
                        request.agent,
                        per_day.unwrap_or_default()
                    ),
                };
                Decision::host_denial(
                    format!(
                        "denied: session `{}` is over: it {what}; start a new session",
                        request.session
                    ),
                    e.code(),
                )
            });
            (held.or(over), Some(ticket), metered)
        }
        Err(e) => {
            tracing::error!(project = %request.project, error = %e, "cannot read the session; the decision is denied");
            (held.or_else(|| Some(unreadable("session"))), None, metered)
        }
    }
}

/// `90m`, `2h`, `45s`; `no limit any more` for none.
fn seconds(s: Option<u64>) -> String {
    match s {
        None => "no limit any more".into(),
        Some(s) if s % 3600 == 0 => format!("{}h", s / 3600),
        Some(s) if s % 60 == 0 => format!("{}m", s / 60),
        Some(s) => format!("{s}s"),
    }
}

/// The audit record of a decision. Its free text (the resource, the reason,
/// the attributes) goes through the project's masking chain for the service
/// first (a log that keeps the raw card number defeats the masking); if
/// masking fails, the values are not stored at all. The resource and the
/// reason are then cut to [`MAX_RECORDED`] bytes.
async fn audit_entry(
    snap: &Project,
    key: Option<&MaskKey>,
    limits: crate::masking::Limits,
    request: DecisionRequest,
    decision: &Decision,
    started: std::time::Instant,
) -> DecisionEntry {
    let (resource, reason, attributes) =
        mask_for_record(snap, key, limits, &request, &decision.reason).await;
    DecisionEntry {
        decision_id: request.request_id,
        agent: request.agent,
        session: request.session,
        project: request.project,
        service: request.service,
        action: request.action,
        resource: cut(resource),
        attributes,
        decision: decision.outcome,
        reason: cut(reason),
        plugins: DecisionEntry::plugins_of(decision),
        policy_version: snap.policy.version.clone(),
        latency_us: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
    }
}

/// Longest resource or reason an audit record keeps, in bytes, after
/// masking; the rest is cut, and the cut says how much was left out.
pub(crate) const MAX_RECORDED: usize = 1024;

/// What an audit record stores in place of a value that could not be masked.
pub(super) const WITHHELD: &str = "[WITHHELD: masking failed]";

/// `text` cut to at most [`MAX_RECORDED`] bytes (on a character boundary),
/// with a note of how many bytes were cut.
fn cut(mut text: String) -> String {
    if text.len() <= MAX_RECORDED {
        return text;
    }
    let mut at = MAX_RECORDED;
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let left_out = text.len() - at;
    text.truncate(at);
    text.push_str(&format!("… [cut: {left_out} more bytes]"));
    text
}

/// The resource, the reason and the attributes of a decision as its record
/// keeps them: masked by the service's masking chain (each text's findings
/// cached, see [`crate::masking::FindingsCache`]) within the configured
/// masking limits, or withheld, never raw. Withheld attributes lose their
/// names too (`withheld_1`, …): a name is as free a text as a value.
async fn mask_for_record(
    snap: &Project,
    key: Option<&MaskKey>,
    limits: crate::masking::Limits,
    request: &DecisionRequest,
    reason: &str,
) -> (String, String, BTreeMap<String, String>) {
    let withheld = || {
        let attributes = (1..=request.attributes.len())
            .map(|i| (format!("withheld_{i}"), WITHHELD.to_owned()))
            .collect();
        (WITHHELD.to_owned(), WITHHELD.to_owned(), attributes)
    };
    let (Some(key), Ok(chain)) = (key, snap.masking_chain(&request.service)) else {
        return withheld();
    };
    let masker = Masker {
        chain,
        policy: &snap.policy.masking,
        key,
        project: &request.project,
        agent: &request.agent,
        session: &request.session,
        request_id: &request.request_id,
        findings: Some(&snap.findings),
        limits,
    };
    let masked = async {
        let (resource, _) = masker.mask_text(&request.resource).await?;
        let (reason, _) = masker.mask_text(reason).await?;
        let attributes = mask_attributes(&masker, request).await?;
        Ok::<_, crate::Error>((resource, reason, attributes))
    };
    match masked.await {
        Ok(masked) => masked,
        Err(e) => {
            tracing::warn!(decision_id = %request.request_id, error = %e, "the decision could not be masked for its audit record; its resource, reason and attribute values are withheld");
            withheld()
        }
    }
}

/// The attributes of `request`, masked as one JSON object (so that a value
/// is seen beside its name, and values split over two attributes are found).
async fn mask_attributes(
    masker: &Masker<'_>,
    request: &DecisionRequest,
) -> crate::Result<BTreeMap<String, String>> {
    if request.attributes.is_empty() {
        return Ok(BTreeMap::new());
    }
    let doc = serde_json::Value::Object(
        request
            .attributes
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect(),
    );
    match masker.mask_json(doc).await? {
        (serde_json::Value::Object(map), _) => Ok(map
            .into_iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => (k, s),
                other => (k, other.to_string()),
            })
            .collect()),
        _ => Err(crate::Error::Engine(
            "masking did not return the attributes as an object".into(),
        )),
    }
}

fn check_fields(body: &DecideBody) -> Result<(), ApiError> {
    let bad = |m: String| ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", m);
    if body
        .project
        .as_ref()
        .is_some_and(|p| p.is_empty() || p.len() > MAX_FIELD)
    {
        return Err(bad(format!(
            "`project`, when given, must be 1 to {MAX_FIELD} bytes"
        )));
    }
    for (name, value) in [
        ("session", &body.session),
        ("service", &body.service),
        ("action", &body.action),
        ("resource", &body.resource),
    ] {
        if value.is_empty() {
            return Err(bad(format!("`{name}` must not be empty")));
        }
        if value.len() > MAX_FIELD {
            return Err(bad(format!("`{name}` is longer than {MAX_FIELD} bytes")));
        }
    }
    if body
        .approval_id
        .as_ref()
        .is_some_and(|a| a.is_empty() || a.len() > 64)
    {
        return Err(bad(
            "`approval_id`, when given, must be 1 to 64 bytes".into()
        ));
    }
    if body
        .estimated_tokens
        .is_some_and(|t| !(0..=MAX_TOKENS).contains(&t))
    {
        return Err(bad(format!("`estimated_tokens` must be 0 to {MAX_TOKENS}")));
    }
    if body
        .model
        .as_ref()
        .is_some_and(|m| m.is_empty() || m.len() > 256)
    {
        return Err(bad("`model`, when given, must be 1 to 256 bytes".into()));
    }
    if body.attributes.len() > 64 {
        return Err(bad("at most 64 attributes".into()));
    }
    if body
        .attributes
        .iter()
        .any(|(k, v)| k.len() > 256 || v.len() > MAX_FIELD)
    {
        return Err(bad(format!(
            "attribute names are at most 256 bytes and values at most {MAX_FIELD}"
        )));
    }
    Ok(())
}
