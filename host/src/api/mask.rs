//! `POST /v1/mask`: mask sensitive data before it enters an agent's context.

use super::{ApiError, AppState, auth};
use crate::identity;
use crate::masking::{Masker, ParseError, Reported, offload, parse_strict};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;

/// The answer: the masked content and what was masked, never the values.
#[derive(Debug, Serialize)]
pub(super) struct MaskAnswer {
    mask_id: String,
    policy_version: String,
    project: String,
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
    request: axum::extract::Request,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let snapshot = auth::ready(&state)?;
    let key = state.mask_key().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "the masking key is not loaded",
        )
    })?;
    let (project, agent_spec) = auth::agent(&snapshot, &parts.headers)?;
    let agent = agent_spec.name.clone();
    // The body (up to `masking.max_body_bytes`) is read only now, once the
    // token is known: a caller without one costs no buffered body.
    let body: Result<Bytes, BytesRejection> =
        Bytes::from_request(axum::extract::Request::from_parts(parts, body), &()).await;
    let settings = state.mask_settings();
    let bytes = body.map_err(|e| {
        super::body_error(e, settings.max_body_bytes, Some("masking.max_body_bytes"))
    })?;
    let bad = |m: String| ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", m);
    // One level for the request object itself.
    let request = offload(bytes.len(), || {
        parse_strict(&bytes, settings.max_depth + 1, settings.max_values)
    })
    .map_err(|e| match e {
        ParseError::Invalid(e) => bad(format!("invalid masking request: {e}")),
        ParseError::TooManyValues(limit) => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_values",
            format!(
                "the body holds more values (keys included) than `masking.max_values` ({limit}) \
                 allows; send the content in smaller parts"
            ),
        ),
    })?;
    let body_len = bytes.len();
    drop(bytes);
    let (named, session, service, content) = fields(request).map_err(bad)?;
    auth::same_project(
        &state,
        project,
        agent_spec,
        Some(&session),
        named.as_deref(),
        "/v1/mask",
    )
    .await?;

    let mask_id = identity::new_id("msk");
    // Plugins yield to the executor at every epoch tick, so a long text
    // does not hold this worker.
    let masked = async {
        let chain = project.masking_chain(&service)?;
        let masker = Masker {
            chain,
            policy: &project.policy.masking,
            key,
            project: &project.policy.project,
            agent: &agent,
            session: &session,
            request_id: &mask_id,
            // Tool output is long and rarely repeats: not worth keeping.
            findings: None,
            limits: settings.limits(),
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
    // Fail closed: a plugin that failed, or a limit passed, means nothing
    // is returned, masked or not. A server error's cause is logged.
    let (content, findings) = masked.map_err(|e| match e {
        crate::Error::MaskingLimit { .. } => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "masking_limit",
            e.to_string(),
        ),
        // The plugin is at its bound of calls in flight (for everyone, or
        // for this agent): busy, not broken; the same request may succeed
        // once calls finish.
        crate::Error::TooManyCalls { .. } => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_calls",
            format!("nothing is returned: {e}; retry when calls in flight have finished"),
        ),
        e => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "masking_failed",
            format!("masking failed, nothing is returned: {e} ({})", e.kind()),
        ),
    })?;
    tracing::info!(mask_id = %mask_id, agent = %agent, findings = findings.len(), "masked");
    let (text, json) = match content {
        Content::Text(t) => (Some(t), None),
        Content::Json(v) => (None, Some(v)),
    };
    let answer = MaskAnswer {
        mask_id,
        policy_version: project.policy.version.clone(),
        project: project.policy.project.clone(),
        text,
        json,
        findings,
    };
    let limit = settings.max_answer_bytes;
    // About what the answer takes: the content and its findings.
    let size = body_len + answer.findings.len() * 128;
    let body = offload(size, || written(&answer, limit)).ok_or_else(|| {
        let e = crate::Error::MaskingLimit {
            what: "the answer would be too large".into(),
            setting: "max_answer_bytes",
            limit,
        };
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "masking_limit",
            e.to_string(),
        )
    })?;
    let json = HeaderValue::from_static("application/json");
    Ok(([(header::CONTENT_TYPE, json)], body).into_response())
}

/// `answer` as JSON, or `None` if it is longer than `limit` bytes: writing
/// stops there, so an answer past the limit never takes more memory than it.
fn written(answer: &MaskAnswer, limit: usize) -> Option<Vec<u8>> {
    struct Capped {
        out: Vec<u8>,
        limit: usize,
    }
    impl std::io::Write for Capped {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.out.len() + buf.len() > self.limit {
                return Err(std::io::Error::other("answer too large"));
            }
            self.out.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut capped = Capped {
        out: Vec::new(),
        limit,
    };
    serde_json::to_writer(&mut capped, answer).ok()?;
    Some(capped.out)
}

/// The parts of a masking request: the project it names (if any), the
/// session, the service, and what to mask.
type Fields = (Option<String>, String, String, Content);

/// Takes the request apart: `project` (optional), `session`, `service`, and
/// exactly one of `text` (a string) or `json` (any JSON document).
fn fields(request: Value) -> Result<Fields, String> {
    let Value::Object(mut map) = request else {
        return Err("the body must be a JSON object".into());
    };
    let named = map.contains_key("project");
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
    let project = named.then(|| string("project")).transpose()?;
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
            "unknown field `{unknown}`; expected `project`, `session`, `service`, `text` or `json`"
        ));
    }
    Ok((project, session, service, content))
}
