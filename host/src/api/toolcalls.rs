//! One tool call of an agent's loop, from its requests to its result: each
//! request (see `toolcall`) through the decision path of `POST /v1/decide`
//! until one is denied, an approval waited for (or named), and then the
//! result recorded beside the decisions that allowed the call and its
//! output masked by the project's masking chain. The Claude Code hook
//! route and the MCP proxy's routes are two faces of it.

use super::{AppState, decide};
use crate::decision::Outcome;
use crate::identity;
use crate::masking::Masker;
use crate::oversight::{Gated, Stage};
use crate::policy::Agent;
use crate::runtime::types::DecisionRequest;
use crate::snapshot::Project;
use crate::toolcall::Ask;
use crate::toolcall::plan::OnApproval;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// Most requests one tool call may make; more is denied.
pub const MAX_ASKS: usize = 64;
/// How long a call's decisions are kept for its result.
const CALL_TTL: Duration = Duration::from_secs(3600);
/// Calls kept for their result, per server.
const MAX_CALLS: u64 = 100_000;
/// Longest call id kept.
const MAX_CALL_ID: usize = 256;

/// The decisions that allowed one tool call (their ids), kept until its
/// result.
#[derive(Debug, Clone)]
pub(super) struct Call {
    decisions: Vec<String>,
    /// The tool as the loop named it: a result for another tool under the
    /// same id is not this call's.
    tool: String,
}

/// Key: project, agent, session, `VIA:CALL_ID` (each face its own ids).
pub(super) type Calls = moka::sync::Cache<(String, String, String, String), Call>;

/// The cache of calls awaiting their result.
pub(super) fn calls() -> Calls {
    moka::sync::Cache::builder()
        .max_capacity(MAX_CALLS)
        .time_to_live(CALL_TTL)
        .build()
}

/// Whose call it is: the agent's, in one session of its project.
pub(super) struct Caller<'a> {
    pub(super) state: &'a Arc<AppState>,
    pub(super) project: &'a Arc<Project>,
    pub(super) agent: &'a Agent,
    pub(super) session: &'a str,
    /// The tool as the agent's loop names it (`Bash`, `mcp__github__x`).
    pub(super) tool: &'a str,
}

/// What became of a call's requests.
#[derive(Debug)]
pub(super) enum Verdict {
    /// Every request allowed, by these decisions.
    Allow(Vec<String>),
    /// Why the call is not made.
    Deny(String),
    /// Requests that need approvals the user at the keyboard may give
    /// (`on_approval: ask`): the text to show.
    Ask(String),
}

impl Caller<'_> {
    fn key(&self, via: &str, call_id: &str) -> (String, String, String, String) {
        (
            self.project.policy.project.clone(),
            self.agent.name.clone(),
            self.session.to_owned(),
            format!("{via}:{call_id}"),
        )
    }

    /// Decides the call: every request in `asks`, in order, until one is
    /// denied; with `on_approval: wait`, waits for the approvals raised
    /// and decides their requests again using them. An allowed call is
    /// kept under `via` and `call_id`, for its result.
    pub(super) async fn decide(
        &self,
        asks: Vec<Ask>,
        on_approval: OnApproval,
        (via, call_id): (&str, Option<&str>),
    ) -> Verdict {
        if asks.len() > MAX_ASKS {
            return Verdict::Deny(format!("the call makes more than {MAX_ASKS} requests"));
        }
        let (state, project) = (self.state, self.project);
        let mut decided: Vec<String> = Vec::new();
        let mut pending: Vec<(Ask, DecisionRequest, String)> = Vec::new();
        for ask in asks {
            let request = self.request_of(&ask);
            if let Some(field) = oversize(&request) {
                return Verdict::Deny(format!(
                    "`{field}` of `{}` is longer than 4096 bytes",
                    ask.source
                ));
            }
            let again = request.clone();
            let (decision, gated, _) = match decide::run(
                state,
                project,
                request,
                None,
                super::budgets::Estimate::default(),
                std::time::Instant::now(),
            )
            .await
            {
                Ok(d) => d,
                Err(e) => {
                    return Verdict::Deny(format!(
                        "`{}` could not be decided: {}",
                        ask.source,
                        e.message()
                    ));
                }
            };
            let id = again.request_id.clone();
            match decision.outcome {
                Outcome::Allow => decided.push(id),
                Outcome::ApprovalRequired => match gated {
                    Gated::Raised { approval, .. } => pending.push((ask, again, approval.id)),
                    _ => {
                        return Verdict::Deny(format!(
                            "{} needs approval, which this server cannot raise ({})",
                            describe(&ask),
                            decision.reason
                        ));
                    }
                },
                Outcome::Deny | Outcome::Throttled => {
                    return Verdict::Deny(format!(
                        "{}: {} (decision {id})",
                        describe(&ask),
                        decision.reason
                    ));
                }
            }
        }
        if !pending.is_empty() {
            match on_approval {
                OnApproval::Ask => {
                    let list: Vec<String> = pending
                        .iter()
                        .map(|(ask, _, id)| format!("{} needs approval {id}", describe(ask)))
                        .collect();
                    return Verdict::Ask(format!(
                        "Palisade: {}. An approver can decide it with POST /v1/approvals/{{id}}/approve; \
                         answering here decides it for this call only",
                        list.join("; ")
                    ));
                }
                OnApproval::Wait => {
                    let wait_s = project.policy.tool_calls.approval_wait_s;
                    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait_s);
                    for (ask, request, approval_id) in pending {
                        match self
                            .approved(ask, request, approval_id, deadline, wait_s)
                            .await
                        {
                            Ok(id) => decided.push(id),
                            Err(why) => return Verdict::Deny(why),
                        }
                    }
                }
            }
        }
        if let Some(call_id) = call_id.filter(|u| !u.is_empty() && u.len() <= MAX_CALL_ID) {
            state.tool_calls().insert(
                self.key(via, call_id),
                Call {
                    decisions: decided.clone(),
                    tool: self.tool.to_owned(),
                },
            );
        }
        Verdict::Allow(decided)
    }

    /// Waits for approval `approval_id` of `ask`; once approved, decides
    /// `request` again using it: the id of the decision that allows, or
    /// why there is none.
    async fn approved(
        &self,
        ask: Ask,
        mut request: DecisionRequest,
        approval_id: String,
        deadline: tokio::time::Instant,
        wait_s: u64,
    ) -> Result<String, String> {
        match wait_for(self.state, self.project, &approval_id, deadline).await {
            Stage::Approved => {}
            Stage::Pending => {
                return Err(format!(
                    "{} needs approval {approval_id}, still pending after {wait_s}s; ask again once it is approved",
                    describe(&ask),
                ));
            }
            other => {
                return Err(format!(
                    "{} needs approval {approval_id}, which is {}",
                    describe(&ask),
                    other.as_str()
                ));
            }
        }
        request.request_id = identity::new_id("dec");
        let id = request.request_id.clone();
        match decide::run(
            self.state,
            self.project,
            request,
            Some(approval_id),
            super::budgets::Estimate::default(),
            std::time::Instant::now(),
        )
        .await
        {
            Ok((d, _, _)) if d.outcome == Outcome::Allow => Ok(id),
            Ok((d, _, _)) => Err(format!("{}: {} (decision {id})", describe(&ask), d.reason)),
            Err(e) => Err(format!(
                "`{}` could not be decided: {}",
                ask.source,
                e.message()
            )),
        }
    }

    /// The decision request of `ask`, in this session.
    fn request_of(&self, ask: &Ask) -> DecisionRequest {
        let mut attributes: Vec<(String, String)> = ask.attributes.clone().into_iter().collect();
        attributes.push(("tool".into(), self.tool.to_owned()));
        DecisionRequest {
            request_id: identity::new_id("dec"),
            agent: self.agent.name.clone(),
            session: self.session.to_owned(),
            project: self.project.policy.project.clone(),
            service: ask.service.clone(),
            action: ask.action.clone(),
            resource: ask.resource.clone(),
            attributes,
        }
    }

    /// A call's result: recorded beside each decision that allowed the
    /// call kept under `via` and `call_id` (`failed`: the tool said it
    /// failed), and `output` masked as data of `service`.
    pub(super) async fn finish(
        &self,
        call: (&str, Option<&str>),
        service: &str,
        output: Value,
        failed: bool,
    ) -> Output {
        let size = serde_json::to_vec(&output).map_or(0, |b| b.len());
        self.record(call, size, failed).await;
        let project = self.project;
        match self.mask(service, output).await {
            Ok((_, 0)) => Output::Clean,
            Ok((masked, findings)) => {
                let block = project.policy.tool_calls.block_on_findings.then(|| {
                    format!(
                        "Palisade found {findings} sensitive value(s) in this tool's output and masked them"
                    )
                });
                Output::Masked {
                    value: masked,
                    findings,
                    block,
                }
            }
            Err(why) => Output::Withheld(why),
        }
    }

    /// Records a result of `size` bytes beside each decision that allowed
    /// the call kept under `via` and `call_id` (`failed`: the tool said it
    /// failed); a call not kept, or kept for another tool, is not recorded.
    pub(super) async fn record(
        &self,
        (via, call_id): (&str, Option<&str>),
        size: usize,
        failed: bool,
    ) {
        let (state, project, agent) = (self.state, self.project, self.agent);
        let call = call_id
            .and_then(|u| state.tool_calls().remove(&self.key(via, u)))
            .filter(|c| {
                let same = c.tool == self.tool;
                if !same {
                    tracing::warn!(agent = %agent.name, tool = self.tool, "a result names another tool than its call's; not recorded");
                }
                same
            });
        // Results are audit records: without the trail there is nowhere
        // to keep them (the call's ids are dropped all the same).
        let (Some(call), Some(_)) = (call, state.audit()) else {
            return;
        };
        let outcome = if failed { "error" } else { "ok" };
        for id in &call.decisions {
            let details = std::collections::BTreeMap::from([
                ("outcome".to_owned(), Value::from(outcome)),
                ("size_bytes".to_owned(), Value::from(size)),
                ("via".to_owned(), Value::from(via)),
            ]);
            if let Err(e) =
                super::results::store(state, project, agent, self.session, id, "allow", details)
                    .await
            {
                tracing::warn!(decision_id = %id, error = %e.message(), "a tool call's result was not recorded");
            }
        }
    }

    /// `value` masked by the project's masking chain for `service`, with
    /// how many values were masked; or why it could not be.
    pub(super) async fn mask(&self, service: &str, value: Value) -> Result<(Value, usize), String> {
        let (state, project, agent) = (self.state, self.project, self.agent);
        let Some(key) = state.mask_key() else {
            return Err("masking is not available on this server".into());
        };
        let chain = project.masking_chain(service).map_err(|e| e.to_string())?;
        let mask_id = identity::new_id("msk");
        let masker = Masker {
            chain,
            policy: &project.policy.masking,
            key,
            project: &project.policy.project,
            agent: &agent.name,
            session: self.session,
            request_id: &mask_id,
            findings: None,
            limits: state.mask_settings().limits(),
        };
        match masker.mask_json(value).await {
            Ok((masked, findings)) => {
                if !findings.is_empty() {
                    tracing::info!(mask_id = %mask_id, agent = %agent.name, tool = self.tool, findings = findings.len(), "tool data masked");
                }
                Ok((masked, findings.len()))
            }
            Err(e) => Err(format!("masking failed ({})", e.kind())),
        }
    }
}

/// What a call's output became.
#[derive(Debug)]
pub(super) enum Output {
    /// Nothing sensitive found: the output as it was.
    Clean,
    /// The output with what was found masked; `block` says why the call
    /// is also blocked (`tool_calls.block_on_findings`).
    Masked {
        /// The masked output.
        value: Value,
        /// How many values were masked.
        findings: usize,
        /// Why the output also blocks, if it does.
        block: Option<String>,
    },
    /// The output must not be given: why.
    Withheld(String),
}

/// `service action on resource` of a request, for people.
pub(super) fn describe(ask: &Ask) -> String {
    if ask.is_unknown() {
        let why = ask
            .attributes
            .get("why")
            .map(String::as_str)
            .unwrap_or("cannot be mapped");
        return format!(
            "`{}` is not understood ({why}) and is decided as {} `unknown`",
            ask.source, ask.service
        );
    }
    format!("{} `{}` on `{}`", ask.service, ask.action, ask.resource)
}

/// The first field over `POST /v1/decide`'s limit, if any.
fn oversize(r: &DecisionRequest) -> Option<&'static str> {
    const MAX: usize = 4096;
    if r.service.len() > MAX {
        Some("service")
    } else if r.action.len() > MAX {
        Some("action")
    } else if r.resource.len() > MAX {
        Some("resource")
    } else if r
        .attributes
        .iter()
        .any(|(k, v)| k.len() > MAX || v.len() > MAX)
    {
        Some("attributes")
    } else {
        None
    }
}

/// Waits until approval `id` is decided, expires or `deadline` passes; its
/// stage then (`Pending` at the deadline; `Expired` if it cannot be read).
async fn wait_for(
    state: &AppState,
    project: &Project,
    id: &str,
    deadline: tokio::time::Instant,
) -> Stage {
    let Some(gate) = state.gate() else {
        return Stage::Expired;
    };
    let mut changes = gate.approvals.changes();
    loop {
        changes.borrow_and_update();
        let now = jiff::Timestamp::now().as_microsecond();
        let stage = match gate.approvals.get(&project.policy.project, id).await {
            Ok(Some((a, _))) => a.stage_at(now),
            _ => return Stage::Expired,
        };
        if stage != Stage::Pending || tokio::time::Instant::now() >= deadline {
            return stage;
        }
        // A step here wakes the wait; another replica's is seen by reading.
        let until = deadline.min(tokio::time::Instant::now() + Duration::from_secs(1));
        tokio::select! {
            Ok(()) = changes.changed() => {}
            () = tokio::time::sleep_until(until) => {}
        }
    }
}
