//! The approval gate on the decision path: what becomes of a decision that
//! needs a person ([`Gate::apply`]).
//!
//! * Asked without an approval: an approval is raised (or the identical
//!   request's open one is given back), its notification is queued, and the
//!   answer stays `approval_required`, now carrying the approval.
//! * Asked again with an approval id: if that approval is approved, in
//!   time, and was raised for exactly this request, the answer is `allow`,
//!   once; otherwise `deny`, saying why.
//!
//! An approval only ever turns `approval_required` into `allow`: a request
//! the policy denies (or allows) is answered as the policy says, whatever
//! approval comes with it. If the state store cannot be reached, the answer
//! is `deny` with the cause: never an allow.

use super::approvals::{Approval, Approvals, Raise, Requested, Stage};
use crate::decision::{Decision, Outcome};
use crate::notify::{Channel, Message, Outbox};
use crate::policy::Agent;
use crate::policy::model::ApprovalDefaults;
use crate::runtime::types::{DecisionRequest, Effect};
use crate::store::State;
use std::sync::Arc;

/// How long an approval waits when neither its rule nor the project says.
pub const DEFAULT_TIMEOUT_S: u64 = 3600;

/// The oversight machinery of one server: its approvals, its holds (the
/// kill switch) and the outbox that tells people.
pub struct Gate<S> {
    /// The approvals.
    pub approvals: Approvals<S>,
    /// Sessions killed, agents suspended, projects paused.
    pub containment: super::Containment<S>,
    /// Sessions: seen, counted, ended by their limits.
    pub sessions: super::Sessions<S>,
    /// Grants: temporary allow rules.
    pub grants: super::Grants<S>,
    /// Alerts: evaluated off the decision path.
    pub alerts: Arc<super::Alerts<S>>,
    /// Where their notifications go out.
    pub outbox: Arc<Outbox<S>>,
    /// Budgets and rate limits: spend, reservations, limiters, pricing.
    pub budgets: crate::budget::Budgets<S>,
    /// The state store they all keep their state in.
    pub state: Arc<S>,
}

impl<S> std::fmt::Debug for Gate<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate").finish_non_exhaustive()
    }
}

/// What the gate did, for the answer and the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gated {
    /// The decision did not need a person, and no approval came with it.
    Untouched,
    /// An approval was raised (`created`) or the open one given back.
    Raised {
        /// The approval.
        approval: Approval,
        /// Whether it is new.
        created: bool,
        /// Its notification, if one was queued.
        notification: Option<String>,
        /// The identical request's approval that expired to make way for it.
        expired: Option<Box<Approval>>,
    },
    /// The approval allowed this request, once.
    Used(Approval),
    /// The approval given could not be used; the decision is `deny`.
    Refused {
        /// The approval id given.
        id: String,
    },
}

/// The channel and timeout of the rule that asked for approval: the rule of
/// `agent` for `service` whose id ends the decision's reason (the SDK's
/// reasons end with the rule's id); what the rule does not say, the
/// project's `approvals:` defaults say, else no channel and
/// [`DEFAULT_TIMEOUT_S`].
pub fn settings_for(
    agent: &Agent,
    service: &str,
    reason: &str,
    defaults: &ApprovalDefaults,
) -> (Option<String>, u64) {
    let default_timeout = defaults.timeout.map_or(DEFAULT_TIMEOUT_S, |t| t.0.max(1));
    let rule = agent.rules.get(service).and_then(|rules| {
        rules.iter().find(|r| {
            r.effect == Effect::RequireApproval
                && !r.id.is_empty()
                && reason.ends_with(&r.id)
                && reason[..reason.len() - r.id.len()].ends_with(' ')
        })
    });
    if let Some(r) = rule {
        let settings = r.approval.as_ref();
        let channel = settings
            .and_then(|s| s.channel.clone())
            .or_else(|| defaults.channel.clone());
        let timeout = settings
            .and_then(|s| s.timeout_seconds)
            .map_or(default_timeout, u64::from);
        return (channel, timeout);
    }
    // No rule named (a custom plugin's reason): the project's channel, and
    // never longer than the shortest timeout any of the service's rules
    // asks.
    let shortest = agent
        .rules
        .get(service)
        .into_iter()
        .flatten()
        .filter_map(|r| r.approval.as_ref()?.timeout_seconds)
        .map(u64::from)
        .min();
    (
        defaults.channel.clone(),
        shortest.map_or(default_timeout, |s| s.min(default_timeout)),
    )
}

fn requested(request: &DecisionRequest) -> Requested {
    Requested {
        service: request.service.clone(),
        action: request.action.clone(),
        resource: request.resource.clone(),
        attributes: request.attributes.iter().cloned().collect(),
    }
}

fn deny(decision: &mut Decision, reason: String, code: &'static str) {
    decision.deny_with(reason, code);
}

impl<S: State + 'static> Gate<S> {
    /// Applies the gate to `decision` (made for `request` by `agent`, in a
    /// project with `defaults`), with the approval id the agent sent, if any, at `now` (Unix
    /// microseconds). Changes the decision's outcome and reason as the
    /// module says.
    pub async fn apply(
        &self,
        agent: &Agent,
        defaults: &ApprovalDefaults,
        request: &DecisionRequest,
        decision: &mut Decision,
        approval_id: Option<&str>,
        now: i64,
    ) -> Gated {
        if decision.outcome != Outcome::ApprovalRequired {
            return Gated::Untouched;
        }
        let wanted = requested(request);
        if let Some(id) = approval_id {
            let used = self
                .approvals
                .use_once(
                    &request.project,
                    id,
                    &agent.name,
                    &request.session,
                    &wanted,
                    now,
                )
                .await;
            return match used {
                Ok(Ok(approval)) => {
                    decision.outcome = Outcome::Allow;
                    decision.reason = format!(
                        "allowed once by approval {id} (approved by {}): {}",
                        approval.decided_by.as_deref().unwrap_or("an approver"),
                        decision.reason
                    );
                    Gated::Used(approval)
                }
                Ok(Err(refused)) => {
                    deny(
                        decision,
                        format!("denied: approval {id}: {refused}"),
                        refused.code(),
                    );
                    Gated::Refused { id: id.to_owned() }
                }
                Err(e) => {
                    tracing::error!(project = %request.project, approval = id, error = %e, "cannot read an approval; the decision is denied");
                    deny(
                        decision,
                        "denied: approvals are unavailable".into(),
                        "approvals_unavailable",
                    );
                    Gated::Refused { id: id.to_owned() }
                }
            };
        }
        let (channel, timeout_s) =
            settings_for(agent, &request.service, &decision.reason, defaults);
        let raise = Raise {
            project: request.project.clone(),
            agent: agent.name.clone(),
            session: request.session.clone(),
            request: wanted,
            reason: decision.reason.clone(),
            channel: channel.clone(),
            timeout_s,
        };
        let opened = match self.approvals.open(raise, now).await {
            Ok(Ok(o)) => o,
            Ok(Err(refused)) => {
                deny(
                    decision,
                    format!("denied: no approval raised: {refused}"),
                    refused.code(),
                );
                return Gated::Untouched;
            }
            Err(e) => {
                // The cause is logged, not told to the agent.
                tracing::error!(project = %request.project, agent = %agent.name, error = %e, "cannot raise an approval; the decision is denied");
                deny(
                    decision,
                    "denied: approvals are unavailable".into(),
                    "approvals_unavailable",
                );
                return Gated::Untouched;
            }
        };
        let mut notification = None;
        if opened.created
            && let Some(channel) = channel.as_deref().and_then(|c| Channel::parse(c).ok())
        {
            let message = message(&opened.approval);
            match self
                .outbox
                .enqueue(&request.project, &channel, message)
                .await
            {
                Ok(id) => {
                    let noted = self
                        .approvals
                        .note_notification(&request.project, &opened.approval.id, &id)
                        .await;
                    if let Err(e) = noted {
                        tracing::warn!(approval = %opened.approval.id, error = %e, "cannot note the approval's notification");
                    }
                    notification = Some(id);
                }
                // The approval stands; people can still find it in the API.
                Err(e) => {
                    tracing::warn!(approval = %opened.approval.id, error = %e, "approval raised but its notification could not be queued")
                }
            }
        }
        Gated::Raised {
            approval: opened.approval,
            created: opened.created,
            notification,
            expired: opened.expired.map(Box::new),
        }
    }

    /// Cancels the open approvals of `project` that `hold` stops (its
    /// session's, its agent's, or all of the project's), each closed as
    /// `cancelled` by whoever took the hold, with their reason; returns
    /// them (to record, and to tell their channels).
    pub async fn cancel_held(
        &self,
        project: &str,
        hold: &super::Hold,
        now: i64,
    ) -> crate::Result<Vec<Approval>> {
        let mut cancelled = Vec::new();
        for (a, _) in self.approvals.open_ones(project).await? {
            let stopped = match hold.scope {
                super::Scope::Session => a.session == hold.target,
                super::Scope::Agent => a.agent == hold.target,
                super::Scope::Project => true,
            };
            if !stopped {
                continue;
            }
            let reason = format!("{} ({})", hold.reason, hold.scope.code());
            // A step taken at the same moment (an approver approving) makes
            // the write lose: try again while it is open.
            for _ in 0..3 {
                match self
                    .approvals
                    .cancel(project, &a.id, &hold.by, &reason, now)
                    .await
                {
                    Ok(Some(c)) => {
                        cancelled.push(c);
                        break;
                    }
                    Ok(None) => {
                        let open = self.approvals.get(project, &a.id).await;
                        if !matches!(open, Ok(Some((x, _))) if x.open_at(now)) {
                            break;
                        }
                    }
                    Err(e) => {
                        // What was cancelled so far is still given back.
                        tracing::warn!(approval = %a.id, error = %e, "cannot cancel an approval a hold stops");
                        break;
                    }
                }
            }
        }
        Ok(cancelled)
    }

    /// Tells an approval's channel (if it has one) that it closed without
    /// being used: expired, or cancelled. Its buttons no longer do
    /// anything. Returns the notification's id, if one was queued.
    pub async fn tell_closed(&self, a: &Approval) -> Option<String> {
        let channel = Channel::parse(a.channel.as_deref()?).ok()?;
        let mut m = message(a);
        let (what, why) = match (a.stage, &a.decided_by) {
            (Stage::Cancelled, by) => (
                "cancelled",
                format!(
                    "cancelled by {}: {}",
                    by.as_deref().unwrap_or("the server"),
                    a.decided_reason.as_deref().unwrap_or("no reason given")
                ),
            ),
            (_, Some(by)) => ("expired", format!("approved by {by}, not used in time")),
            (_, None) => ("expired", "nobody decided in time".to_owned()),
        };
        m.kind = format!("approval_{what}");
        m.title = format!("{}'s approval request {what}", a.agent);
        m.fields.retain(|(name, _)| name != "expires");
        m.fields.insert(0, ("outcome".into(), why));
        m.actions = false;
        match self.outbox.enqueue(&a.project, &channel, m).await {
            Ok(id) => Some(id),
            Err(e) => {
                tracing::warn!(approval = %a.id, error = %e, "cannot queue the notice of a closed approval");
                None
            }
        }
    }
}

/// What people are told of an approval.
pub fn message(a: &Approval) -> Message {
    let expires = jiff::Timestamp::from_microsecond(a.expires_at)
        .map(|t| t.to_string())
        .unwrap_or_default();
    // Each part of the request in a field of its own (each attribute too),
    // so that no value can pass for another part.
    let mut fields = vec![
        ("agent".to_owned(), a.agent.clone()),
        ("session".to_owned(), a.session.clone()),
        ("service".to_owned(), a.request.service.clone()),
        ("action".to_owned(), a.request.action.clone()),
        ("resource".to_owned(), a.request.resource.clone()),
    ];
    fields.extend(
        a.request
            .attributes
            .iter()
            .map(|(k, v)| (format!("attribute {k}"), v.clone())),
    );
    fields.extend([
        ("rule".to_owned(), a.reason.clone()),
        ("expires".to_owned(), expires),
        ("approval".to_owned(), a.id.clone()),
    ]);
    Message {
        kind: "approval".into(),
        id: a.id.clone(),
        project: a.project.clone(),
        title: format!("{} asks for approval", a.agent),
        fields,
        actions: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::types::{ApprovalSettings, Rule};
    use crate::units::Duration;

    fn agent() -> Agent {
        let rule = |id: &str, approval: Option<ApprovalSettings>| Rule {
            id: id.into(),
            effect: Effect::RequireApproval,
            actions: vec!["push".into()],
            resources: vec!["*".into()],
            qualifiers: vec![],
            approval,
        };
        let mut a = Agent::default();
        a.rules.insert(
            "git".into(),
            vec![
                rule(
                    "ci.yaml:6",
                    Some(ApprovalSettings {
                        channel: Some("slack:#deploy".into()),
                        timeout_seconds: Some(300),
                    }),
                ),
                rule("ci.yaml:16", None),
            ],
        );
        a
    }

    #[test]
    fn the_rules_settings_then_the_projects_then_the_default() {
        let none = ApprovalDefaults::default();
        let project = ApprovalDefaults {
            channel: Some("slack:#approvals".into()),
            timeout: Some(Duration(600)),
        };
        let a = agent();
        let why = |id: &str| format!("git push on `x` requires approval by {id}");
        assert_eq!(
            settings_for(&a, "git", &why("ci.yaml:6"), &project),
            (Some("slack:#deploy".into()), 300)
        );
        assert_eq!(
            settings_for(&a, "git", &why("ci.yaml:16"), &project),
            (Some("slack:#approvals".into()), 600)
        );
        assert_eq!(
            settings_for(&a, "git", &why("ci.yaml:16"), &none),
            (None, 3600)
        );
        // `ci.yaml:6` is not `ci.yaml:16`'s suffix match: the whole id, after a space.
        assert_eq!(
            settings_for(&a, "git", "… by xci.yaml:6", &project).1,
            300,
            "no rule named: never longer than the shortest"
        );
        assert_eq!(
            settings_for(&a, "git", "custom plugin says so", &none),
            (None, 300)
        );
    }
}
