//! `POST /v1/slack/interactions`: the Approve / Deny buttons of an approval's
//! Slack message, clicked in Slack, posted back by Slack.
//!
//! The request carries no Palisade token: it is trusted because Slack
//! signed it with the app's signing secret (`X-Slack-Signature` over
//! `X-Slack-Request-Timestamp` and the body, within a 5-minute replay
//! window), and the clicking Slack user acts as the one person whose
//! `slack_user` is theirs. Then it is exactly `POST
//! /v1/approvals/{id}/approve` (or `/deny`) by that person: approvers of the
//! approval's project only, never on their own request, once. A request
//! that is not signed, is stale, or comes from a Slack user no person
//! claims changes nothing.

use super::{ApiError, AppState, approvals, auth};
use crate::notify::message::{SLACK_APPROVE, SLACK_DENY};
use crate::notify::sign::verify_slack;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use std::sync::Arc;

/// Largest interaction accepted: Slack sends the whole message back with
/// the click, form-encoded.
pub(super) const MAX_INTERACTION: usize = 256 * 1024;

/// The parts of Slack's `block_actions` payload Palisade reads.
#[derive(Debug, Deserialize)]
struct Interaction {
    #[serde(rename = "type")]
    kind: String,
    user: SlackUser,
    #[serde(default)]
    actions: Vec<Action>,
}

#[derive(Debug, Deserialize)]
struct SlackUser {
    id: String,
}

#[derive(Debug, Deserialize)]
struct Action {
    action_id: String,
    #[serde(default)]
    value: Option<String>,
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_interaction", message)
}

/// `POST /v1/slack/interactions`: answers `200` with an empty body once the
/// click is applied (Slack shows nothing more), else the error, which Slack
/// shows to the person who clicked.
pub(super) async fn interactions(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let gate = super::gate(&state)?;
    let settings = gate.outbox.settings();
    let not_configured = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "slack_not_configured",
            "Slack interactivity is not configured on this server \
             (`notify.slack.signing_secret_env`)",
        )
    };
    let secret_env = settings
        .slack
        .signing_secret_env
        .as_deref()
        .ok_or_else(not_configured)?;
    let secret = settings.secret(secret_env).map_err(|e| {
        tracing::error!(error = %e, "the Slack signing secret cannot be read");
        not_configured()
    })?;
    let body = body.map_err(|e| super::body_error(e, MAX_INTERACTION, None))?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let now = jiff::Timestamp::now().as_second();
    if let Err(refusal) = verify_slack(
        secret.as_bytes(),
        header("x-slack-request-timestamp"),
        header("x-slack-signature"),
        &body,
        now,
    ) {
        tracing::warn!(%refusal, "a Slack interaction was refused");
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_signature",
            refusal.to_string(),
        ));
    }
    let payload = url::form_urlencoded::parse(&body)
        .find(|(k, _)| k == "payload")
        .map(|(_, v)| v)
        .ok_or_else(|| bad("the body has no `payload` field"))?;
    let interaction: Interaction = serde_json::from_str(&payload)
        .map_err(|e| bad(format!("the payload is not a Slack interaction: {e}")))?;
    if interaction.kind != "block_actions" {
        return Err(bad(format!(
            "interactions of type `{}` are not handled; only the buttons of an approval's \
             message (`block_actions`)",
            interaction.kind
        )));
    }
    let (approve, id) = interaction
        .actions
        .iter()
        .find_map(|a| {
            let approve = match a.action_id.as_str() {
                SLACK_APPROVE => true,
                SLACK_DENY => false,
                _ => return None,
            };
            Some((approve, a.value.as_deref()?))
        })
        .ok_or_else(|| bad("no Approve or Deny button with an approval id was clicked"))?;
    let snapshot = auth::ready(&state)?;
    let slack_user = &interaction.user.id;
    let Some(person) = snapshot.slack_person(slack_user) else {
        tracing::warn!(
            slack_user,
            "a Slack user no person claims clicked an approval"
        );
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "unknown_slack_user",
            format!(
                "Slack user `{slack_user}` is nobody's `slack_user` in the policy, so cannot \
                 decide approvals"
            ),
        ));
    };
    let verb = if approve { "approved" } else { "denied" };
    let reason = format!("{verb} in Slack by user {slack_user}");
    approvals::decide_as(&state, person, id, approve, &reason).await?;
    Ok(StatusCode::OK)
}
