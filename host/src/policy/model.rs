//! The policy file as written: the seeds' structured per-agent form
//! (`allow` / `require_approval` / `deny` lists) and compact form
//! (`service:action on resource` lines), plus the budget, rate-limit and audit
//! blocks. Unknown keys are errors.

use super::units::{Duration, Money, Percent};
use crate::runtime::PluginSpec;
use serde::{Deserialize, Deserializer, Serialize, de};
use std::collections::BTreeMap;

/// One policy file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    /// The project the agents belong to.
    #[serde(default)]
    pub project: Option<String>,
    /// For a single-agent file in the compact form: the agent's name
    /// (default: the file's name without extension).
    #[serde(default)]
    pub agent: Option<String>,
    /// Compact rules of the single agent of this file.
    #[serde(default)]
    pub policies: Vec<CompactRule>,
    /// Agents by name.
    #[serde(default)]
    pub agents: BTreeMap<String, AgentSpec>,
    /// Token hashes by agent, kept apart from the rules (e.g. in their own
    /// file) so that tokens rotate without touching policy.
    #[serde(default)]
    pub identities: BTreeMap<String, Vec<String>>,
    /// Server administrators (every project, reloads, plugins) by name:
    /// hashes of their tokens.
    #[serde(default)]
    pub admins: BTreeMap<String, Vec<String>>,
    /// Project administrators and approvers by name.
    #[serde(default)]
    pub roles: BTreeMap<String, RoleSpec>,
    /// Which plugin serves which service; services not listed use `glob`.
    #[serde(default)]
    pub services: BTreeMap<String, ServiceBinding>,
    /// Plugins by name (built in or from a file).
    #[serde(default)]
    pub plugins: BTreeMap<String, PluginSpec>,
    /// The project's custom plugins, run after the service's plugin, in order.
    #[serde(default)]
    pub chain: Vec<String>,
    /// Budget defaults for the file's agents.
    #[serde(default)]
    pub budget: Option<Budget>,
    /// The project's money budget.
    #[serde(default)]
    pub project_budget: Option<ProjectBudget>,
    /// Rate-limit defaults (per agent).
    #[serde(default)]
    pub rate_limits: Option<RateLimits>,
    /// The rate limit of the project's agents together.
    #[serde(default)]
    pub project_rate_limits: Option<RateLimits>,
    /// Audit settings.
    #[serde(default)]
    pub audit: Option<Audit>,
    /// Masking: the project's masking chain and the operator per kind.
    #[serde(default)]
    pub masking: Option<Masking>,
    /// The project's defaults for approval requests: where they go and how
    /// long they wait, for rules that do not say.
    #[serde(default)]
    pub approvals: Option<ApprovalDefaults>,
    /// The project's session limits, for agents whose `budget` does not
    /// give them.
    #[serde(default)]
    pub sessions: Option<SessionDefaults>,
    /// The project's alert rules.
    #[serde(default)]
    pub alerts: Option<Vec<AlertSpec>>,
    /// How the agents' tool calls (Claude Code hooks, shell lines, MCP
    /// tools) become requests.
    #[serde(default)]
    pub tool_calls: Option<crate::toolcall::plan::ToolCallsSpec>,
}

/// What an alert rule watches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// Permission-denied events of an agent, over a threshold in a window.
    #[default]
    Denied,
    /// An agent's request volume over a multiple of its baseline.
    Volume,
    /// Decisions outside working hours.
    OffHours,
    /// An agent's first access to a resource.
    FirstAccess,
    /// A budget's threshold crossed, or its limit reached (set by
    /// `budget.alert_at` and `project_budget.alert_thresholds`, not by a
    /// rule).
    Budget,
    /// An episode of rate limiting began (set by `rate_limits.on_exceed`,
    /// not by a rule).
    RateLimit,
}

impl AlertKind {
    /// The name as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Denied => "denied",
            Self::Volume => "volume",
            Self::OffHours => "off_hours",
            Self::FirstAccess => "first_access",
            Self::Budget => "budget",
            Self::RateLimit => "rate_limit",
        }
    }
}

/// One entry of the `alerts:` block.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSpec {
    /// What it watches.
    pub kind: AlertKind,
    /// Where alerts go, e.g. `slack:#security` (always recorded and listed).
    #[serde(default)]
    pub channel: Option<String>,
    /// No second alert of this rule for the same agent within this long
    /// (default `15m`).
    #[serde(default)]
    pub cooldown: Option<Duration>,
    /// `denied`: denials that fire it (default 5).
    #[serde(default)]
    pub threshold: Option<u32>,
    /// `denied`: within this long (default `10m`).
    #[serde(default)]
    pub window: Option<Duration>,
    /// `volume`: the multiple of the baseline (default 10).
    #[serde(default)]
    pub factor: Option<u32>,
    /// `volume`: history needed first (default `1h`).
    #[serde(default)]
    pub min_history: Option<Duration>,
    /// `volume`: requests in the minute needed (default 20).
    #[serde(default)]
    pub min_requests: Option<u32>,
    /// `off_hours`: working hours, `HH:MM-HH:MM` (default `08:00-18:00`).
    #[serde(default)]
    pub hours: Option<String>,
    /// `off_hours`: working days (default mon to fri).
    #[serde(default)]
    pub days: Option<Vec<String>>,
    /// `off_hours`: the time zone (default `UTC`).
    #[serde(default)]
    pub time_zone: Option<String>,
    /// `first_access`: how long after an agent's first decision its
    /// accesses are learnt, not alerted (default `1h`).
    #[serde(default)]
    pub learn_for: Option<Duration>,
}

/// The `sessions:` block: the project's session limits (seed 002: "an
/// agent that's been idle for 2 hours probably shouldn't still be
/// running").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionDefaults {
    /// A session with no decision for this long is over.
    #[serde(default)]
    pub idle_timeout: Option<Duration>,
    /// A session this long after its first decision is over.
    #[serde(default)]
    pub max_duration: Option<Duration>,
}

/// The `approvals:` block: the project's defaults for approval requests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalDefaults {
    /// Where an approval request goes when its rule names no channel, e.g.
    /// `slack:#approvals`.
    #[serde(default)]
    pub channel: Option<String>,
    /// How long it waits when its rule gives no `approval_timeout`.
    #[serde(default)]
    pub timeout: Option<Duration>,
}

/// The `masking:` block.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Masking {
    /// The project's masking plugins, run after the service's own (default:
    /// the built-in `pii` and `secrets`).
    #[serde(default)]
    pub chain: Option<Vec<String>>,
    /// The operator for each kind; `default` for kinds not listed (itself
    /// `redact` unless given).
    #[serde(default)]
    pub operators: BTreeMap<String, Operator>,
}

/// How a found value is replaced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operator {
    /// `[REDACTED:credit_card]`.
    #[default]
    Redact,
    /// Every letter and digit but the last four becomes `*`, separators stay:
    /// `**** **** **** 1111`. A value with fewer than eight letters and
    /// digits is masked whole, so that four characters are never most of it.
    LastFour,
    /// The kind as a label: `[CREDIT_CARD]`.
    Label,
    /// A keyed hash (HMAC-SHA-256 under the host's key), the same for the same
    /// value everywhere: `[credit_card:h:5be2a1c04f9d7e31]`.
    Hash,
    /// A token that is the same for the same value within one session and
    /// unrelated across sessions: `[credit_card:t:0c91f2aa7b03]`.
    Token,
}

impl Operator {
    /// The operator's name as written in a policy.
    pub fn name(self) -> &'static str {
        match self {
            Self::Redact => "redact",
            Self::LastFour => "last_four",
            Self::Label => "label",
            Self::Hash => "hash",
            Self::Token => "token",
        }
    }
}

/// One person's roles in projects (`roles:`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleSpec {
    /// Hashes of the person's tokens, `sha256:<hex>`.
    #[serde(default)]
    pub tokens: Vec<String>,
    /// Projects the person administers: their audit trail and status.
    #[serde(default)]
    pub admin: Vec<String>,
    /// Projects whose approval requests the person may decide.
    #[serde(default)]
    pub approver: Vec<String>,
    /// The person's Slack user id (`U…` or `W…`): their Approve / Deny
    /// clicks in Slack act as them.
    #[serde(default)]
    pub slack_user: Option<String>,
}

/// One agent.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSpec {
    /// Hashes of the agent's bearer tokens, `sha256:<hex>` (never the tokens).
    #[serde(default)]
    pub tokens: Vec<String>,
    /// Allowed actions.
    #[serde(default)]
    pub allow: Vec<StructuredRule>,
    /// Actions that need a human's approval.
    #[serde(default)]
    pub require_approval: Vec<StructuredRule>,
    /// Denied actions (always win).
    #[serde(default)]
    pub deny: Vec<StructuredRule>,
    /// Compact rules.
    #[serde(default)]
    pub policies: Vec<CompactRule>,
    /// This agent's budget (overrides the file's).
    #[serde(default)]
    pub budget: Option<Budget>,
    /// This agent's rate limits (overrides the file's).
    #[serde(default)]
    pub rate_limits: Option<RateLimits>,
}

/// A rule of the structured form.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StructuredRule {
    /// The service, e.g. `git`.
    pub service: String,
    /// Action patterns (default: every action; `check` warns).
    #[serde(default)]
    pub actions: Option<Vec<String>>,
    /// Resource patterns (default: every resource; `check` warns).
    #[serde(default)]
    pub resources: Option<Vec<String>>,
    /// Branch patterns (git).
    #[serde(default)]
    pub branches: Option<Vec<String>>,
    /// Where approval requests go.
    #[serde(default)]
    pub approval_channel: Option<String>,
    /// How long an approval request stays open.
    #[serde(default)]
    pub approval_timeout: Option<Duration>,
}

/// A rule of the compact form: a line, or a mapping with options.
#[derive(Debug, Clone)]
pub enum CompactRule {
    /// `service:action on resource`.
    Line(String),
    /// `rule: "service:action on resource"` with options.
    Detailed(DetailedRule),
}

/// A compact rule with options.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetailedRule {
    /// `service:action on resource`.
    pub rule: String,
    /// The action needs a human's approval.
    #[serde(default)]
    pub requires_approval: bool,
    /// The action is denied.
    #[serde(default)]
    pub deny: bool,
    /// Where approval requests go, e.g. `slack:#deploy-approvals`.
    #[serde(default)]
    pub approval_channel: Option<String>,
    /// How long an approval request stays open, e.g. `60m`.
    #[serde(default)]
    pub approval_timeout: Option<Duration>,
}

impl<'de> Deserialize<'de> for CompactRule {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        match v {
            serde_json::Value::String(s) => Ok(Self::Line(s)),
            v @ serde_json::Value::Object(_) => DetailedRule::deserialize(v)
                .map(Self::Detailed)
                .map_err(de::Error::custom),
            _ => Err(de::Error::custom(
                "a compact rule is a line `service:action on resource`, or a mapping \
                 `rule: \"service:action on resource\"` with options such as `requires_approval: true`",
            )),
        }
    }
}

/// Which plugin serves a service.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceBinding {
    /// The policy plugin's name (in `plugins`, or built in).
    #[serde(default)]
    pub plugin: Option<String>,
    /// Masking plugins for data that comes from this service, run before
    /// the project's masking chain.
    #[serde(default)]
    pub masking: Vec<String>,
}

/// An agent's budget (`budget:`, in a file for every agent of it, or per
/// agent): tokens per session and per day, sessions per day, the share at
/// which it alerts, and the session limits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// Tokens one session may use.
    #[serde(default)]
    pub max_tokens_per_session: Option<u64>,
    /// Tokens one agent may use per day (all its sessions).
    #[serde(default)]
    pub max_tokens_per_day: Option<u64>,
    /// Sessions one agent may start per day.
    #[serde(default)]
    pub max_sessions_per_day: Option<u32>,
    /// Alert when this share of a token limit is used (100% always alerts).
    #[serde(default)]
    pub alert_at: Option<Percent>,
    /// Where its alerts go, e.g. `slack:#budgets` (they are always
    /// recorded and listed).
    #[serde(default)]
    pub alert_channel: Option<String>,
    /// Longest a session may last.
    #[serde(default)]
    pub max_session_duration: Option<Duration>,
    /// Longest a session may be idle.
    #[serde(default)]
    pub session_idle_timeout: Option<Duration>,
}

impl Budget {
    /// This budget with each key it leaves out taken from `fallback` (an
    /// agent's `budget` over its file's).
    pub fn or_keys(self, fallback: Option<Budget>) -> Budget {
        let f = fallback.unwrap_or_default();
        Budget {
            max_tokens_per_session: self.max_tokens_per_session.or(f.max_tokens_per_session),
            max_tokens_per_day: self.max_tokens_per_day.or(f.max_tokens_per_day),
            max_sessions_per_day: self.max_sessions_per_day.or(f.max_sessions_per_day),
            alert_at: self.alert_at.or(f.alert_at),
            alert_channel: self.alert_channel.or(f.alert_channel),
            max_session_duration: self.max_session_duration.or(f.max_session_duration),
            session_idle_timeout: self.session_idle_timeout.or(f.session_idle_timeout),
        }
    }
}

/// What happens when the project budget is exceeded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnBudgetExceeded {
    /// Pause the project (the kill switch's pause) and alert.
    #[default]
    PauseAndAlert,
    /// Alert only: usage is counted and alerted, never denied.
    Alert,
    /// Deny the calls over budget, and alert.
    Deny,
}

/// The project's budget (`project_budget:`): money and tokens per day and
/// per month, for all its agents together.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectBudget {
    /// Spending limit per calendar month.
    #[serde(default)]
    pub monthly_limit: Option<Money>,
    /// Spending limit per calendar day.
    #[serde(default)]
    pub daily_limit: Option<Money>,
    /// Tokens per calendar month.
    #[serde(default)]
    pub max_tokens_per_month: Option<u64>,
    /// Tokens per calendar day.
    #[serde(default)]
    pub max_tokens_per_day: Option<u64>,
    /// Alert at these shares of each limit, in increasing order (100%
    /// always alerts).
    #[serde(default)]
    pub alert_thresholds: Vec<Percent>,
    /// What to do when a limit is reached.
    #[serde(default)]
    pub on_exceed: OnBudgetExceeded,
    /// Where its alerts go, e.g. `slack:#budgets` (they are always
    /// recorded and listed).
    #[serde(default)]
    pub alert_channel: Option<String>,
    /// The time zone its days and months are counted in (default `UTC`),
    /// e.g. `Europe/Paris`; the agents' daily limits use it too.
    #[serde(default)]
    pub time_zone: Option<String>,
}

/// What happens when a rate limit is exceeded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnRateExceeded {
    /// Answer `throttled` and alert (once per episode).
    #[default]
    ThrottleAndAlert,
    /// Answer `throttled`.
    Throttle,
}

/// Rate limits (`rate_limits:` per agent, `project_rate_limits:` for the
/// project's agents together).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimits {
    /// Requests per minute.
    pub max_requests_per_minute: u32,
    /// Requests that may come at once after a quiet spell (default: the
    /// whole minute's, 1 to `max_requests_per_minute`).
    #[serde(default)]
    pub burst: Option<u32>,
    /// What to do beyond it (default `throttle_and_alert`).
    #[serde(default)]
    pub on_exceed: Option<OnRateExceeded>,
    /// Where its alerts go (they are always recorded and listed).
    #[serde(default)]
    pub alert_channel: Option<String>,
}

impl RateLimits {
    /// This block with each key it leaves out taken from `fallback` (an
    /// agent's `rate_limits` over its file's); its rate is its own.
    pub fn or_keys(self, fallback: Option<&RateLimits>) -> RateLimits {
        let Some(f) = fallback else { return self };
        RateLimits {
            max_requests_per_minute: self.max_requests_per_minute,
            burst: self.burst.or(f.burst),
            on_exceed: self.on_exceed.or(f.on_exceed),
            alert_channel: self.alert_channel.or_else(|| f.alert_channel.clone()),
        }
    }

    /// What to do beyond it.
    pub fn on_exceed(&self) -> OnRateExceeded {
        self.on_exceed.unwrap_or_default()
    }
}

/// Audit settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Audit {
    /// How long records are kept in the store (after export).
    #[serde(default)]
    pub retention: Option<Duration>,
    /// Where records are exported.
    #[serde(default)]
    pub export: Option<AuditExport>,
}

/// Export format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportFormat {
    /// JSON lines.
    #[default]
    Json,
}

/// Audit export.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuditExport {
    /// `s3://bucket/prefix/` or a directory.
    pub destination: String,
    /// File format.
    #[serde(default)]
    pub format: ExportFormat,
    /// One file per period: `hourly` (default) or `daily`.
    #[serde(default)]
    pub frequency: crate::audit::Period,
}
