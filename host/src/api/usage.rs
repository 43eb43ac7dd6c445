//! `POST /v1/usage` (an agent's token): the tokens a call used, counted
//! against the agent's and the project's budgets, once per `usage_id`.
//!
//! A report is priced by the server's pricing table (never below it, even
//! if the agent reports a lower cost; a model the table does not know at
//! its default, else at its highest price), settles the reservation of the
//! decision it names, may cross budget thresholds (each alerts once per
//! period), and is recorded (`usage_reported`). A retried report with the
//! same id and the same numbers counts once; the same id with other
//! numbers is `409 usage_id_reused`. Every refusal counts nothing.

use super::{ApiError, AppState, auth};
use crate::budget::{self, Charged, Tokens, Which};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The most tokens of one kind a single report may carry.
pub const MAX_REPORT_TOKENS: i64 = 1_000_000_000_000;

/// The request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UsageBody {
    /// The client's id of this report: a retry carries the same.
    usage_id: String,
    /// The session the tokens were used in.
    session: String,
    /// The model, as the pricing table names it.
    model: String,
    #[serde(default)]
    input_tokens: i64,
    #[serde(default)]
    output_tokens: i64,
    /// Cached input tokens.
    #[serde(default)]
    cache_tokens: i64,
    /// What the agent's provider charged, in dollars (`"$0.0123"` or
    /// `0.0123`): counted if above the table's price.
    #[serde(default)]
    cost: Option<serde_json::Value>,
    /// The decision whose reservation this settles.
    #[serde(default)]
    decision_id: Option<String>,
    /// The project the caller means; when given, it must be the token's.
    #[serde(default)]
    project: Option<String>,
}

/// What is stored for a report, to tell a retry from a reuse of its id.
#[derive(Debug, Serialize)]
struct Stored<'a> {
    session: &'a str,
    model: &'a str,
    input_tokens: i64,
    output_tokens: i64,
    cache_tokens: i64,
    cost_reported: Option<i64>,
    decision_id: Option<&'a str>,
}

/// The answer.
#[derive(Debug, Serialize)]
pub(super) struct UsageAnswer {
    usage_id: String,
    /// `false` for a retry of a report counted before.
    counted: bool,
    /// All its tokens.
    tokens: i64,
    /// What it was counted at.
    cost: String,
    /// Whether it settled its decision's reservation.
    settled: bool,
    /// How it was priced: `model`, `default`, `highest` (a model the
    /// table does not know) or `unpriced` (no table).
    priced: &'static str,
}

fn bad(field: &str, m: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        format!("`{field}` {m}"),
    )
}

/// Dollars as micro-dollars: `"$0.0123"`, `"0.0123"` or `0.0123`.
fn parse_cost(v: &serde_json::Value) -> Result<i64, ApiError> {
    let text = match v {
        serde_json::Value::String(s) => s.trim().trim_start_matches('$').to_owned(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => return Err(bad("cost", "must be dollars, e.g. \"$0.0123\" or 0.0123")),
    };
    budget::Price::parse(&format!("${text}"))
        .map(|p| p.0)
        .map_err(|_| {
            bad(
                "cost",
                "must be dollars from 0 to 1,000,000 with at most six decimals, e.g. \"$0.0123\"",
            )
        })
}

fn check(body: &UsageBody) -> Result<(), ApiError> {
    let id_ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 128
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b))
    };
    if !id_ok(&body.usage_id) {
        return Err(bad(
            "usage_id",
            "must be 1 to 128 letters, digits, `.`, `_`, `:` or `-`",
        ));
    }
    if body.session.is_empty() || body.session.len() > 4096 {
        return Err(bad("session", "must be 1 to 4096 bytes"));
    }
    if body.model.is_empty() || body.model.len() > 256 {
        return Err(bad("model", "must be 1 to 256 bytes"));
    }
    for (name, n) in [
        ("input_tokens", body.input_tokens),
        ("output_tokens", body.output_tokens),
        ("cache_tokens", body.cache_tokens),
    ] {
        if !(0..=MAX_REPORT_TOKENS).contains(&n) {
            return Err(bad(name, format!("must be 0 to {MAX_REPORT_TOKENS}")));
        }
    }
    if body.input_tokens == 0 && body.output_tokens == 0 && body.cache_tokens == 0 {
        return Err(bad(
            "input_tokens",
            "and `output_tokens` and `cache_tokens` are all 0: a report of no tokens counts nothing",
        ));
    }
    if body
        .decision_id
        .as_ref()
        .is_some_and(|d| d.is_empty() || d.len() > 64)
    {
        return Err(bad("decision_id", "when given, must be 1 to 64 bytes"));
    }
    Ok(())
}

/// `POST /v1/usage`.
pub(super) async fn report(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<UsageAnswer>, ApiError> {
    let snapshot = auth::ready(&state)?;
    let (project, agent) = auth::agent(&snapshot, &headers)?;
    let body = body.map_err(|e| super::body_error(e, super::MAX_BODY, None))?;
    let de = &mut serde_json::Deserializer::from_slice(&body);
    let body: UsageBody = serde_path_to_error::deserialize(de).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("invalid usage report: `{}`: {}", e.path(), e.inner()),
        )
    })?;
    check(&body)?;
    let reported = body.cost.as_ref().map(parse_cost).transpose()?;
    auth::same_project(
        &state,
        project,
        agent,
        Some(&body.session),
        body.project.as_deref(),
        "/v1/usage",
    )
    .await?;
    let gate = super::gate(&state)?;
    let name = &project.policy.project;
    let unavailable = |e: crate::Error| {
        tracing::error!(project = %name, error = %e, "a usage report could not be counted");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "state_unavailable",
            "the usage could not be counted (the server's log says why); retry with the same `usage_id`",
        )
    };
    let known = gate
        .sessions
        .known(name, &agent.name, &body.session)
        .await
        .map_err(unavailable)?;
    if !known {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_session",
            format!(
                "`session`: agent `{}` has no session `{}` (a session starts with its first decision)",
                agent.name, body.session
            ),
        ));
    }
    if let Some(d) = &body.decision_id
        && gate
            .budgets
            .ledger
            .owner(d)
            .is_some_and(|(p, a)| &p != name || a != agent.name)
    {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_decision",
            format!(
                "`decision_id`: agent `{}` has no decision `{d}`",
                agent.name
            ),
        ));
    }
    let tokens = Tokens {
        input: body.input_tokens.unsigned_abs(),
        output: body.output_tokens.unsigned_abs(),
        cached: body.cache_tokens.unsigned_abs(),
    };
    // Never cheaper than the table: an unknown model is priced at the
    // default, else at the table's highest price; with no table at all,
    // the tokens still count (and money budgets deny every call).
    let (priced, how) = gate
        .budgets
        .pricing
        .charge(&body.model, tokens)
        .unwrap_or((0, budget::Priced::Unpriced));
    let cost = priced.max(reported.unwrap_or(0));
    let total = i64::try_from(tokens.total()).unwrap_or(i64::MAX);
    let stored = serde_json::to_string(&Stored {
        session: &body.session,
        model: &body.model,
        input_tokens: body.input_tokens,
        output_tokens: body.output_tokens,
        cache_tokens: body.cache_tokens,
        cost_reported: reported,
        decision_id: body.decision_id.as_deref(),
    })
    .map_err(|e| unavailable(crate::Error::Engine(format!("cannot encode a report: {e}"))))?;
    let now = jiff::Timestamp::now().as_microsecond();
    let plan = &project.policy.budgets;
    let calendar = gate.budgets.calendar(plan, now).map_err(unavailable)?;
    let meters = budget::meters(
        plan,
        agent.budget.as_ref(),
        name,
        &agent.name,
        &body.session,
        &calendar,
        Which::All,
    );
    let usage_key = format!("{}\u{1f}{}", agent.name, body.usage_id);
    let charged = gate
        .budgets
        .ledger
        .charge(
            name,
            &agent.name,
            &usage_key,
            stored.clone(),
            &meters,
            total,
            cost,
            body.decision_id.as_deref(),
            now,
        )
        .await
        .map_err(unavailable)?;
    let settled = match charged {
        Charged::Duplicate(before) if before == stored => {
            return Ok(Json(UsageAnswer {
                usage_id: body.usage_id,
                counted: false,
                tokens: total,
                cost: budget::pricing::dollars(cost),
                settled: false,
                priced: how.as_str(),
            }));
        }
        Charged::Duplicate(_) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "usage_id_reused",
                format!(
                    "`usage_id`: `{}` was reported before with other numbers; a new report \
                     needs a new id (nothing was counted)",
                    body.usage_id
                ),
            ));
        }
        Charged::Counted { crossings, settled } => {
            for c in crossings {
                let state = state.clone();
                let (project, agent) = (name.clone(), agent.name.clone());
                tokio::spawn(async move {
                    super::budgets::crossed(&state, &project, &agent, &c, now).await;
                });
            }
            settled
        }
    };
    if let Some(audit) = state.audit() {
        let details = std::collections::BTreeMap::from([
            ("usage_id".to_owned(), body.usage_id.clone().into()),
            ("session".to_owned(), body.session.clone().into()),
            ("model".to_owned(), body.model.clone().into()),
            ("input_tokens".to_owned(), body.input_tokens.into()),
            ("output_tokens".to_owned(), body.output_tokens.into()),
            ("cache_tokens".to_owned(), body.cache_tokens.into()),
            ("cost".to_owned(), budget::pricing::dollars(cost).into()),
            ("priced".to_owned(), how.as_str().into()),
            ("decision_id".to_owned(), body.decision_id.clone().into()),
            ("settled".to_owned(), settled.into()),
        ]);
        let entry = crate::audit::AdminEntry {
            event: "usage_reported".into(),
            agent: Some(agent.name.clone()),
            project: Some(name.clone()),
            policy_version: Some(project.policy.version.clone()),
            reason: None,
            details,
        };
        if let Err(e) = audit.append(entry).await {
            // Counted already: the report stands; the trail misses it.
            tracing::error!(project = %name, error = %e, "cannot record a usage report");
        }
    }
    Ok(Json(UsageAnswer {
        usage_id: body.usage_id,
        counted: true,
        tokens: total,
        cost: budget::pricing::dollars(cost),
        settled,
        priced: how.as_str(),
    }))
}
