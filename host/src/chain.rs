//! A decision from start to end, once identity is known: the service's
//! plugin, then the project's custom plugins, each given the rules that apply
//! to this agent and service; their verdicts combined as
//! deny > approval required > allow > deny by default. A plugin that fails
//! in any way is a deny, with its cause.
//!
//! The chain runs on the plugin [`Executor`](crate::runtime::Executor), in
//! one hand-off from the caller's thread, so that no guest code runs on the
//! server's HTTP workers; each plugin call is made for the request's
//! [`Caller`] (project, agent, session), whose scope bounds which idle
//! instances it may reuse.

use crate::decision::{Decision, Outcome, Step};
use crate::policy::{Agent, Policy};
use crate::runtime::types::{DecisionRequest, Rule, Verdict};
use crate::runtime::{Caller, Plugin};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Loaded plugins by name.
pub type Plugins = BTreeMap<String, Arc<Plugin>>;

/// Decides `request` for `agent` under `policy` with `plugins`.
pub async fn decide(
    policy: &Policy,
    plugins: &Plugins,
    agent: &Agent,
    request: &DecisionRequest,
) -> Decision {
    let rules = agent
        .rules
        .get(&request.service)
        .cloned()
        .unwrap_or_default();
    let chain: Vec<(String, Option<Arc<Plugin>>)> =
        std::iter::once(policy.plugin_for(&request.service))
            .chain(policy.chain.iter().map(String::as_str))
            .map(|name| (name.to_owned(), plugins.get(name).cloned()))
            .collect();
    let caller = Caller::new(
        &request.project,
        &request.agent,
        &request.session,
        &request.request_id,
    );
    let executor = chain
        .iter()
        .find_map(|(_, p)| p.as_ref())
        .map(|p| p.executor().clone());
    let service = request.service.clone();
    let request = request.clone();
    let steps = async move {
        let mut steps = Vec::with_capacity(chain.len());
        for (name, plugin) in &chain {
            steps.push(run(name, plugin.as_deref(), &caller, &request, &rules).await);
        }
        steps
    };
    let steps = match executor {
        Some(executor) => executor.run(steps).await.unwrap_or_else(|e| {
            tracing::error!(error = %e, "the plugin chain did not complete; denying");
            vec![Step {
                plugin: "<executor>".into(),
                verdict: "error",
                reason: e.to_string(),
                error: Some(e.kind()),
                fuel: 0,
                micros: 0,
            }]
        }),
        None => steps.await,
    };
    combine(steps, &service)
}

async fn run(
    name: &str,
    plugin: Option<&Plugin>,
    caller: &Caller,
    request: &DecisionRequest,
    rules: &[Rule],
) -> Step {
    let Some(plugin) = plugin else {
        return Step {
            plugin: name.to_owned(),
            verdict: "error",
            reason: format!("plugin `{name}` is not loaded"),
            error: Some("plugin_missing"),
            fuel: 0,
            micros: 0,
        };
    };
    match plugin.evaluate(caller, request, rules).await {
        Ok(out) => {
            let (verdict, reason) = match out.value {
                Verdict::Allow(r) => ("allow", r),
                Verdict::Deny(r) => ("deny", r),
                Verdict::Approve(r) => ("approve", r),
                Verdict::Abstain => ("abstain", String::new()),
            };
            Step {
                plugin: name.to_owned(),
                verdict,
                reason,
                error: None,
                fuel: out.fuel_used,
                micros: u64::try_from(out.elapsed.as_micros()).unwrap_or(u64::MAX),
            }
        }
        Err(e) => {
            tracing::warn!(plugin = name, request_id = %request.request_id, error = %e, "plugin failed; denying");
            Step {
                plugin: name.to_owned(),
                verdict: "error",
                reason: e.to_string(),
                error: Some(e.kind()),
                fuel: 0,
                micros: 0,
            }
        }
    }
}

/// Any deny or failure → deny; else any approve → approval required; else any
/// allow → allow; else deny (nothing allowed it).
pub fn combine(steps: Vec<Step>, service: &str) -> Decision {
    let first = |v: &str| steps.iter().find(|s| s.verdict == v);
    let (outcome, reason, code) = if let Some(s) = first("error") {
        (
            Outcome::Deny,
            format!("denied: plugin `{}` failed: {}", s.plugin, s.reason),
            Some("plugin_failed"),
        )
    } else if let Some(s) = first("deny") {
        (Outcome::Deny, s.reason.clone(), None)
    } else if let Some(s) = first("approve") {
        (Outcome::ApprovalRequired, s.reason.clone(), None)
    } else if let Some(s) = first("allow") {
        (Outcome::Allow, s.reason.clone(), None)
    } else {
        (
            Outcome::Deny,
            format!("denied by default: no rule of this agent allows this on `{service}`"),
            Some("no_matching_rule"),
        )
    };
    Decision {
        outcome,
        reason,
        steps,
        code,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(verdict: &'static str) -> Step {
        Step {
            plugin: verdict.into(),
            verdict,
            reason: format!("{verdict} reason"),
            error: None,
            fuel: 0,
            micros: 0,
        }
    }

    fn outcome(verdicts: &[&'static str]) -> Outcome {
        combine(verdicts.iter().map(|v| step(v)).collect(), "svc").outcome
    }

    #[test]
    fn combination_order() {
        assert_eq!(outcome(&[]), Outcome::Deny);
        assert_eq!(outcome(&["abstain"]), Outcome::Deny);
        assert_eq!(outcome(&["allow", "abstain"]), Outcome::Allow);
        assert_eq!(outcome(&["allow", "approve"]), Outcome::ApprovalRequired);
        assert_eq!(outcome(&["approve", "deny", "allow"]), Outcome::Deny);
        assert_eq!(outcome(&["allow", "error"]), Outcome::Deny);
    }

    #[test]
    fn a_failure_is_named_in_the_reason() {
        let mut failed = step("error");
        failed.reason = "plugin `x` ran out of fuel".into();
        let d = combine(vec![step("allow"), failed], "svc");
        assert_eq!(d.outcome, Outcome::Deny);
        assert!(d.reason.contains("ran out of fuel"), "{}", d.reason);
    }
}
