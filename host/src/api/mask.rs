//! `POST /v1/mask`: mask sensitive data before it enters an agent's context.

use super::decide::bearer;
use super::{ApiError, AppState};
use crate::identity;
use crate::masking::{Masker, Reported, parse_strict};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;

/// The answer: the masked content and what was masked, never the values.
#[derive(Debug, Serialize)]
pub(super) struct MaskAnswer {
    mask_id: String,
    policy_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    json: Option<Value>,
    findings: Vec<Reported>,
}

/// What to mask.
enum Content {
    Text(String),
    Json(Value),
}

/// Largest `session` or `service`, in bytes.
const MAX_FIELD: usize = 4096;

pub(super) async fn mask(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<MaskAnswer>, ApiError> {
    let snapshot = state.snapshot().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "plugins are still loading",
        )
    })?;
    let key = state.mask_key().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "the masking key is not loaded",
        )
    })?;
    let token = bearer(&headers)?;
    let agent = identity::authenticate(&snapshot.policy, token)
        .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "unknown token"))?
        .name
        .clone();
    let settings = state.mask_settings();
    let bytes = body.map_err(|e| {
        super::body_error(e, settings.max_body_bytes, Some("masking.max_body_bytes"))
    })?;
    let bad = |m: String| ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", m);
    // One level for the request object itself.
    let request = parse_strict(&bytes, settings.max_depth + 1)
        .map_err(|e| bad(format!("invalid masking request: {e}")))?;
    let (session, service, content) = fields(request).map_err(bad)?;

    let mask_id = identity::new_id("msk");
    // Plugins yield to the executor at every epoch tick, so a long text
    // does not hold this worker.
    let masked = async {
        let chain = snapshot.masking_chain(&service)?;
        let masker = Masker {
            chain,
            policy: &snapshot.policy.masking,
            key,
            project: &snapshot.policy.project,
            agent: &agent,
            session: &session,
            request_id: &mask_id,
            // Tool output is long and rarely repeats: not worth keeping.
            findings: None,
        };
        match content {
            Content::Text(t) => masker
                .mask_text(&t)
                .await
                .map(|(t, f)| (Content::Text(t), f)),
            Content::Json(v) => masker
                .mask_json(v)
                .await
                .map(|(v, f)| (Content::Json(v), f)),
        }
    }
    .await;
    // Fail closed: a plugin that failed means nothing is returned, masked
    // or not. The cause is logged (a server error is) and answered.
    let (content, findings) = masked.map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "masking_failed",
            format!("masking failed, nothing is returned: {e} ({})", e.kind()),
        )
    })?;
    tracing::info!(mask_id = %mask_id, agent = %agent, findings = findings.len(), "masked");
    let (text, json) = match content {
        Content::Text(t) => (Some(t), None),
        Content::Json(v) => (None, Some(v)),
    };
    Ok(Json(MaskAnswer {
        mask_id,
        policy_version: snapshot.policy.version.clone(),
        text,
        json,
        findings,
    }))
}

/// Takes the request apart: `session`, `service`, and exactly one of `text`
/// (a string) or `json` (any JSON document).
fn fields(request: Value) -> Result<(String, String, Content), String> {
    let Value::Object(mut map) = request else {
        return Err("the body must be a JSON object".into());
    };
    let mut string = |name: &str| -> Result<String, String> {
        match map.remove(name) {
            Some(Value::String(s)) if s.is_empty() => Err(format!("`{name}` must not be empty")),
            Some(Value::String(s)) if s.len() > MAX_FIELD => {
                Err(format!("`{name}` is longer than {MAX_FIELD} bytes"))
            }
            Some(Value::String(s)) => Ok(s),
            Some(_) => Err(format!("`{name}` must be a string")),
            None => Err(format!("missing field `{name}`")),
        }
    };
    let session = string("session")?;
    let service = string("service")?;
    let content = match (map.remove("text"), map.remove("json")) {
        (Some(Value::String(t)), None) => Content::Text(t),
        (Some(_), None) => {
            return Err("`text` must be a string; send structured data as `json`".into());
        }
        (None, Some(v)) => Content::Json(v),
        (Some(_), Some(_)) => return Err("give `text` or `json`, not both".into()),
        (None, None) => return Err("missing field `text` (a string) or `json` (any JSON)".into()),
    };
    if let Some(unknown) = map.keys().next() {
        return Err(format!(
            "unknown field `{unknown}`; expected `session`, `service`, `text` or `json`"
        ));
    }
    Ok((session, service, content))
}
