//! Idiomatic Rust types for requests, rules, verdicts, masking results and
//! log levels, and their conversions from and to the generated WIT types.

use crate::bindings::wit;

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Very verbose.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal operation.
    Info,
    /// Something unexpected.
    Warn,
    /// Something failed.
    Error,
}

/// One decision request: may `agent` do `action` on `resource` of `service`?
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// Unique id of this decision.
    pub request_id: String,
    /// The agent's configured identity.
    pub agent: String,
    /// The agent's session.
    pub session: String,
    /// The agent's project.
    pub project: String,
    /// The service the tool call targets.
    pub service: String,
    /// The action, in the service's vocabulary.
    pub action: String,
    /// The resource the action is on.
    pub resource: String,
    /// Request attributes such as `branch`.
    pub attributes: Vec<(String, String)>,
}

impl Request {
    /// A request for `action` on `resource` of `service`, other fields empty.
    pub fn new(
        service: impl Into<String>,
        action: impl Into<String>,
        resource: impl Into<String>,
    ) -> Self {
        Self {
            service: service.into(),
            action: action.into(),
            resource: resource.into(),
            ..Self::default()
        }
    }

    /// Sets the agent (builder style).
    pub fn agent(mut self, agent: impl Into<String>) -> Self {
        self.agent = agent.into();
        self
    }

    /// Adds an attribute (builder style).
    pub fn attr(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.attributes.push((name.into(), value.into()));
        self
    }

    /// The value of the first attribute called `name`.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What a rule asks for when it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Effect {
    /// Allow the request.
    Allow,
    /// Deny the request.
    Deny,
    /// Ask a human first.
    RequireApproval,
}

/// Approval settings of a [`Effect::RequireApproval`] rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Approval {
    /// Where the approval request goes.
    pub channel: Option<String>,
    /// How long it stays open, in seconds.
    pub timeout_seconds: Option<u32>,
}

/// A policy rule handed to the plugin by the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Where the rule came from, e.g. `policy.yaml:12`.
    pub id: String,
    /// What the rule asks for when it matches.
    pub effect: Effect,
    /// Action patterns.
    pub actions: Vec<String>,
    /// Resource patterns.
    pub resources: Vec<String>,
    /// Service-specific qualifiers, e.g. `("branches", ["main"])`.
    pub qualifiers: Vec<(String, Vec<String>)>,
    /// Approval settings.
    pub approval: Option<Approval>,
}

impl Rule {
    /// A rule with `effect` over `actions` and `resources`.
    pub fn new<A, R>(effect: Effect, actions: A, resources: R) -> Self
    where
        A: IntoIterator,
        A::Item: Into<String>,
        R: IntoIterator,
        R::Item: Into<String>,
    {
        Self {
            id: String::new(),
            effect,
            actions: actions.into_iter().map(Into::into).collect(),
            resources: resources.into_iter().map(Into::into).collect(),
            qualifiers: Vec::new(),
            approval: None,
        }
    }

    /// An allow rule.
    pub fn allow<A, R>(actions: A, resources: R) -> Self
    where
        A: IntoIterator,
        A::Item: Into<String>,
        R: IntoIterator,
        R::Item: Into<String>,
    {
        Self::new(Effect::Allow, actions, resources)
    }

    /// A deny rule.
    pub fn deny<A, R>(actions: A, resources: R) -> Self
    where
        A: IntoIterator,
        A::Item: Into<String>,
        R: IntoIterator,
        R::Item: Into<String>,
    {
        Self::new(Effect::Deny, actions, resources)
    }

    /// A require-approval rule.
    pub fn require_approval<A, R>(actions: A, resources: R) -> Self
    where
        A: IntoIterator,
        A::Item: Into<String>,
        R: IntoIterator,
        R::Item: Into<String>,
    {
        Self::new(Effect::RequireApproval, actions, resources)
    }

    /// Sets the rule id (builder style).
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    /// Adds a qualifier (builder style).
    pub fn qualifier<V>(mut self, name: impl Into<String>, values: V) -> Self
    where
        V: IntoIterator,
        V::Item: Into<String>,
    {
        self.qualifiers
            .push((name.into(), values.into_iter().map(Into::into).collect()));
        self
    }

    /// The values of the qualifier called `name`, if the rule has it.
    pub fn qualifier_values(&self, name: &str) -> Option<&[String]> {
        self.qualifiers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_slice())
    }

    /// A human-readable label: the id, or `rule` when it has none.
    pub fn label(&self) -> &str {
        if self.id.is_empty() { "rule" } else { &self.id }
    }
}

/// A plugin's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Allowed, with the reason.
    Allow(String),
    /// Denied, with the reason.
    Deny(String),
    /// Needs approval, with the reason.
    Approve(String),
    /// No opinion.
    Abstain,
}

impl Verdict {
    /// An allow verdict.
    pub fn allow(reason: impl Into<String>) -> Self {
        Self::Allow(reason.into())
    }
    /// A deny verdict.
    pub fn deny(reason: impl Into<String>) -> Self {
        Self::Deny(reason.into())
    }
    /// An approval-required verdict.
    pub fn approve(reason: impl Into<String>) -> Self {
        Self::Approve(reason.into())
    }
    /// The verdict a matching rule asks for.
    pub fn for_rule(rule: &Rule, reason: impl Into<String>) -> Self {
        match rule.effect {
            Effect::Allow => Self::Allow(reason.into()),
            Effect::Deny => Self::Deny(reason.into()),
            Effect::RequireApproval => Self::Approve(reason.into()),
        }
    }
    /// True for [`Verdict::Allow`].
    pub fn is_allow(&self) -> bool {
        matches!(self, Self::Allow(_))
    }
    /// True for [`Verdict::Deny`].
    pub fn is_deny(&self) -> bool {
        matches!(self, Self::Deny(_))
    }
    /// True for [`Verdict::Approve`].
    pub fn is_approve(&self) -> bool {
        matches!(self, Self::Approve(_))
    }
}

/// One piece of sensitive data found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Kind of data, e.g. `credit_card`.
    pub kind: String,
    /// Byte offset of the value's start in the input.
    pub start: usize,
    /// Byte offset of the value's end (exclusive) in the input.
    pub end: usize,
}

impl Finding {
    /// A finding of `kind` over the input bytes `start..end`.
    pub fn new(kind: impl Into<String>, start: usize, end: usize) -> Self {
        Self {
            kind: kind.into(),
            start,
            end,
        }
    }
}

/// Puts findings in the shape the host requires, never leaving a found byte
/// uncovered: spans are clamped to the input, widened to character
/// boundaries, sorted, and findings that overlap are merged into one (keeping
/// the kind of the one that starts first, or of the longer one when both start
/// at the same byte). Empty findings are dropped.
pub fn tidy_findings(input: &str, mut findings: Vec<Finding>) -> Vec<Finding> {
    for f in &mut findings {
        f.end = f.end.min(input.len());
        while !input.is_char_boundary(f.end) {
            f.end += 1;
        }
        f.start = f.start.min(f.end);
        while !input.is_char_boundary(f.start) {
            f.start -= 1;
        }
    }
    findings.retain(|f| f.start < f.end);
    findings.sort_by_key(|f| (f.start, std::cmp::Reverse(f.end)));
    let mut merged: Vec<Finding> = Vec::with_capacity(findings.len());
    for f in findings {
        match merged.last_mut() {
            Some(last) if f.start < last.end => last.end = last.end.max(f.end),
            _ => merged.push(f),
        }
    }
    merged
}

impl From<wit::DecisionRequest> for Request {
    fn from(r: wit::DecisionRequest) -> Self {
        Self {
            request_id: r.request_id,
            agent: r.agent,
            session: r.session,
            project: r.project,
            service: r.service,
            action: r.action,
            resource: r.resource,
            attributes: r.attributes,
        }
    }
}

impl From<wit::Effect> for Effect {
    fn from(e: wit::Effect) -> Self {
        match e {
            wit::Effect::Allow => Self::Allow,
            wit::Effect::Deny => Self::Deny,
            wit::Effect::RequireApproval => Self::RequireApproval,
        }
    }
}

impl From<wit::Rule> for Rule {
    fn from(r: wit::Rule) -> Self {
        Self {
            id: r.id,
            effect: r.effect.into(),
            actions: r.actions,
            resources: r.resources,
            qualifiers: r
                .qualifiers
                .into_iter()
                .map(|q| (q.name, q.values))
                .collect(),
            approval: r.approval.map(|a| Approval {
                channel: a.channel,
                timeout_seconds: a.timeout_seconds,
            }),
        }
    }
}

impl From<Verdict> for wit::Verdict {
    fn from(v: Verdict) -> Self {
        match v {
            Verdict::Allow(r) => Self::Allow(r),
            Verdict::Deny(r) => Self::Deny(r),
            Verdict::Approve(r) => Self::Approve(r),
            Verdict::Abstain => Self::Abstain,
        }
    }
}

impl From<Finding> for wit::Finding {
    fn from(f: Finding) -> Self {
        Self {
            kind: f.kind,
            start: u32::try_from(f.start).unwrap_or(u32::MAX),
            end: u32::try_from(f.end).unwrap_or(u32::MAX),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tidy_sorts_and_merges_overlaps() {
        let input = "card 4111 and 4222";
        let found = vec![
            Finding {
                kind: "card".into(),
                start: 14,
                end: 18,
            },
            Finding {
                kind: "card".into(),
                start: 5,
                end: 9,
            },
            Finding {
                kind: "x".into(),
                start: 6,
                end: 8,
            },
        ];
        let m = tidy_findings(input, found);
        assert_eq!(
            m,
            [Finding::new("card", 5, 9), Finding::new("card", 14, 18)]
        );
    }

    #[test]
    fn tidy_never_leaves_part_of_a_finding_uncovered() {
        let input = "key AKIA1234567890 end é";
        let found = vec![
            Finding {
                kind: "aws".into(),
                start: 4,
                end: 10,
            },
            Finding {
                kind: "aws".into(),
                start: 8,
                end: 18,
            },
            Finding {
                kind: "x".into(),
                start: 24,
                end: 25,
            },
            Finding {
                kind: "x".into(),
                start: 30,
                end: 40,
            },
        ];
        let m = tidy_findings(input, found);
        assert_eq!(
            m,
            [Finding::new("aws", 4, 18), Finding::new("x", 23, 25)],
            "merged, widened to the `é`, and the out-of-range finding dropped"
        );
    }

    #[test]
    fn request_attribute_lookup() {
        let r = Request::new("git", "push", "acme/api").attr("branch", "main");
        assert_eq!(r.attribute("branch"), Some("main"));
        assert_eq!(r.attribute("tag"), None);
    }
}
