//! A decision as a value: its [`Outcome`], each plugin's [`Step`] and the
//! [`Decision`] that combines them. [`crate::chain`] makes decisions,
//! [`crate::api`] answers them and [`crate::audit`] records them; all three
//! take these types from here, so the trail does not depend on the code
//! that decides.

use serde::{Deserialize, Serialize};

/// The answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Go ahead.
    Allow,
    /// Do not.
    Deny,
    /// Ask a human first.
    ApprovalRequired,
    /// Too many requests: retry later (a rate limit).
    Throttled,
}

/// One plugin's part in a decision.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// Plugin name.
    pub plugin: String,
    /// `allow`, `deny`, `approve`, `abstain` or `error`.
    pub verdict: &'static str,
    /// The plugin's reason, or the failure.
    pub reason: String,
    /// For a failure, its kind (e.g. `out_of_fuel`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'static str>,
    /// Fuel used.
    pub fuel: u64,
    /// Wall-clock time, in microseconds.
    pub micros: u64,
}

/// A decision.
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    /// The answer.
    pub outcome: Outcome,
    /// Why, for a human.
    pub reason: String,
    /// Each plugin's verdict and cost, in chain order.
    pub steps: Vec<Step>,
    /// For a denial the host gave, not a rule: its machine-readable cause
    /// (`session_killed`, `agent_suspended`, `project_paused`,
    /// `approval_expired`, `plugin_failed`, `no_matching_rule`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'static str>,
}

impl Decision {
    /// A denial the host gives before or after the plugins, with its cause.
    pub fn host_denial(reason: String, code: &'static str) -> Self {
        Self {
            outcome: Outcome::Deny,
            reason,
            steps: Vec::new(),
            code: Some(code),
        }
    }

    /// Turns this decision into a denial the host gives, keeping its steps.
    pub fn deny_with(&mut self, reason: String, code: &'static str) {
        self.outcome = Outcome::Deny;
        self.reason = reason;
        self.code = Some(code);
    }
}

impl Outcome {
    /// The name as answered and stored: `allow`, `deny` or
    /// `approval_required`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
            Self::ApprovalRequired => "approval_required",
            Self::Throttled => "throttled",
        }
    }
}
