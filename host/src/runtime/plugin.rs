//! A loaded plugin: its pre-instantiated component, its limits, its share
//! of the engine and its idle instances, and the two calls the host makes
//! (`evaluate`, `mask`), each run on the plugin executor.

use super::bindings::{masking, policy, types};
use super::cache::CodeSource;
use super::caller::{Caller, Export, Reach, Scope};
use super::exec::Executor;
use super::host_log::LogBudget;
use super::instance::{
    Budget, CallError, Template, Warm, arm, check_findings, classify, limit, within,
};
use super::limits::{Isolation, Limits};
use super::pool::Idle;
use super::share::{AgentSlot, Share};
use super::state::State;
use crate::error::{Error, Result};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::InstancePre;

/// How a plugin is loaded: limits, isolation, its own configuration, an
/// optional sha256 pin, and whether it is first-party.
#[derive(Debug, Clone, Default)]
pub struct PluginOptions {
    /// Sandbox limits.
    pub limits: Limits,
    /// Instance reuse across calls.
    pub isolation: Isolation,
    /// The plugin's own configuration, handed to it as JSON.
    pub config: serde_json::Value,
    /// If set, the component's sha256 must equal this (lowercase hex).
    pub sha256: Option<String>,
    /// Built into the binary (configured as `builtin:`), and reviewed to
    /// keep no request data between calls: its pooled instances may serve
    /// every agent of a project. Any other plugin's instances serve one
    /// agent's session only.
    pub first_party: bool,
}

/// What a successful call returned, and what it cost.
#[derive(Debug, Clone)]
pub struct CallOutcome<T> {
    /// The plugin's answer.
    pub value: T,
    /// Fuel consumed by the call.
    pub fuel_used: u64,
    /// Wall-clock time of the call, including instantiation if any.
    pub elapsed: Duration,
    /// True when an idle instance was reused.
    pub reused: bool,
}

/// What a plugin exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exports {
    /// Exports the `policy` interface.
    pub policy: bool,
    /// Exports the `masking` interface.
    pub masking: bool,
}

impl Exports {
    /// Interface names, e.g. `["policy", "masking"]`.
    pub fn names(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.policy {
            v.push("policy");
        }
        if self.masking {
            v.push("masking");
        }
        v
    }
}

/// A loaded plugin. Cheap to clone and share.
///
/// Every call runs on the runtime's plugin [`Executor`], never on the
/// caller's threads: the guest runs on a fiber and yields at every epoch
/// tick (1 ms) until its deadline, when the call traps; a call waiting in a
/// host call (where no tick is seen) is ended by a host timeout at the same
/// deadline. Fuel bounds the work of a call whatever the clock says.
#[derive(Clone)]
pub struct Plugin {
    inner: Arc<Inner>,
}

struct Inner {
    name: Arc<str>,
    digest: String,
    source: CodeSource,
    options: PluginOptions,
    config_json: Arc<str>,
    pre: InstancePre<State>,
    policy: Option<policy::GuestIndices>,
    masking: Option<masking::GuestIndices>,
    idle: Arc<Idle>,
    share: Arc<Share>,
    exec: Executor,
    /// The plugin's log budget, shared by all its instances.
    log: Arc<LogBudget>,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.inner.name)
            .field("digest", &self.inner.digest)
            .field("exports", &self.exports())
            .finish_non_exhaustive()
    }
}

impl Plugin {
    pub(crate) fn new(
        name: &str,
        digest: String,
        source: CodeSource,
        options: PluginOptions,
        pre: InstancePre<State>,
        share: Arc<Share>,
        exec: Executor,
    ) -> Result<Self> {
        let policy = policy::GuestIndices::new(&pre).ok();
        let masking = masking::GuestIndices::new(&pre).ok();
        if policy.is_none() && masking.is_none() {
            return Err(Error::InvalidPlugin {
                plugin: name.to_owned(),
                message: "it exports neither `palisade:plugin/policy@0.1.0` nor \
                          `palisade:plugin/masking@0.1.0`"
                    .into(),
            });
        }
        let config_json = Arc::from(options.config.to_string());
        let log = Arc::new(LogBudget::new(&options.limits));
        let idle = Arc::new(Idle::new(options.limits.max_idle));
        share.register(&idle);
        Ok(Self {
            inner: Arc::new(Inner {
                name: Arc::from(name),
                digest,
                source,
                options,
                config_json,
                pre,
                policy,
                masking,
                idle,
                share,
                exec,
                log,
            }),
        })
    }

    /// The configured name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Lowercase hex sha256 of the component bytes.
    pub fn digest(&self) -> &str {
        &self.inner.digest
    }

    /// Where the machine code came from when the plugin was loaded.
    pub fn code_source(&self) -> CodeSource {
        self.inner.source
    }

    /// The plugin's limits, with its share resolved.
    pub fn limits(&self) -> &Limits {
        &self.inner.options.limits
    }

    /// The plugin's isolation mode.
    pub fn isolation(&self) -> Isolation {
        self.inner.options.isolation
    }

    /// True for a first-party plugin (see [`PluginOptions::first_party`]).
    pub fn first_party(&self) -> bool {
        self.inner.options.first_party
    }

    /// The parts of `caller` whose calls this plugin's instances keep apart,
    /// `[project, agent, session]`, with what may be shared left empty:
    /// whatever a call's answer may depend on besides its input.
    pub fn reuse_scope<'c>(&self, caller: &'c Caller) -> [&'c str; 3] {
        Scope::parts(caller, self.inner.reach())
    }

    /// What the plugin exports.
    pub fn exports(&self) -> Exports {
        Exports {
            policy: self.inner.policy.is_some(),
            masking: self.inner.masking.is_some(),
        }
    }

    /// Number of idle instances kept for reuse.
    pub fn idle_instances(&self) -> usize {
        self.inner.idle.len()
    }

    /// Log lines dropped since the plugin was loaded (over its log budget).
    pub fn log_lines_dropped(&self) -> u64 {
        self.inner.log.dropped()
    }

    /// Instances of this plugin alive, busy or idle (with those of an
    /// earlier generation that shares its bounds).
    pub fn live_instances(&self) -> u32 {
        self.inner.share.live()
    }

    /// The executor the plugin's calls run on.
    pub fn executor(&self) -> &Executor {
        &self.inner.exec
    }

    /// Asks the plugin, for `caller`, to decide `request` given `rules`.
    pub async fn evaluate(
        &self,
        caller: &Caller,
        request: &types::DecisionRequest,
        rules: &[types::Rule],
    ) -> Result<CallOutcome<types::Verdict>> {
        let inner = &self.inner;
        if inner.policy.is_none() {
            return Err(inner.missing("policy"));
        }
        let slot = inner.share.admit(&inner.name, caller)?;
        if Executor::here() {
            return inner.evaluate(slot, caller, request, rules).await;
        }
        let (me, caller, request, rules) = (
            inner.clone(),
            caller.clone(),
            request.clone(),
            rules.to_vec(),
        );
        inner
            .exec
            .run(async move { me.evaluate(slot, &caller, &request, &rules).await })
            .await?
    }

    /// Asks the plugin, for `caller`, to find sensitive data in `text`. The
    /// findings are checked: in bounds, on character boundaries, sorted, not
    /// overlapping.
    ///
    /// The call gets the plugin's fuel and deadline plus an allowance that
    /// grows with the text ([`MASK_FUEL_PER_BYTE`], one millisecond per
    /// [`MASK_BYTES_PER_MS`]), so a limit sized for decisions does not fail
    /// a large document.
    pub async fn mask(
        &self,
        caller: &Caller,
        text: &str,
    ) -> Result<CallOutcome<Vec<types::Finding>>> {
        let inner = &self.inner;
        if inner.masking.is_none() {
            return Err(inner.missing("masking"));
        }
        let slot = inner.share.admit(&inner.name, caller)?;
        if Executor::here() {
            return inner.mask(slot, caller, text).await;
        }
        let (me, caller, text) = (inner.clone(), caller.clone(), text.to_owned());
        inner
            .exec
            .run(async move { me.mask(slot, &caller, &text).await })
            .await?
    }
}

impl Inner {
    fn reach(&self) -> Reach {
        if self.options.first_party {
            Reach::Project
        } else {
            Reach::Session
        }
    }

    fn missing(&self, interface: &'static str) -> Error {
        Error::MissingExport {
            plugin: self.name.to_string(),
            interface,
        }
    }

    async fn evaluate(
        &self,
        _slot: AgentSlot,
        caller: &Caller,
        request: &types::DecisionRequest,
        rules: &[types::Rule],
    ) -> Result<CallOutcome<types::Verdict>> {
        let limit = self.options.limits.max_output_bytes;
        let budget = Budget::of(&self.options.limits);
        self.call(Export::Policy, caller, budget, async |warm: &mut Warm| {
            let guest = warm.policy.as_ref().ok_or(CallError::Missing("policy"))?;
            let verdict = guest
                .call_evaluate(&mut warm.store, request, rules)
                .await
                .map_err(CallError::Wasm)?;
            let size = match &verdict {
                types::Verdict::Allow(r) | types::Verdict::Deny(r) | types::Verdict::Approve(r) => {
                    r.len()
                }
                types::Verdict::Abstain => 0,
            };
            bounded(size, limit)?;
            Ok(verdict)
        })
        .await
    }

    async fn mask(
        &self,
        _slot: AgentSlot,
        caller: &Caller,
        text: &str,
    ) -> Result<CallOutcome<Vec<types::Finding>>> {
        let limits = &self.options.limits;
        let len = u64::try_from(text.len()).unwrap_or(u64::MAX);
        let budget = Budget {
            fuel: limits
                .fuel
                .saturating_add(len.saturating_mul(MASK_FUEL_PER_BYTE)),
            deadline_ms: limits.deadline_ms.saturating_add(len / MASK_BYTES_PER_MS),
        };
        // At most one finding per byte, each a kind of up to 64 bytes and two
        // offsets: anything larger is malformed before it is looked at.
        let limit = limits
            .max_output_bytes
            .saturating_add(text.len().saturating_mul(16));
        self.call(Export::Masking, caller, budget, async |warm: &mut Warm| {
            let guest = warm.masking.as_ref().ok_or(CallError::Missing("masking"))?;
            let findings = guest
                .call_mask(&mut warm.store, text)
                .await
                .map_err(CallError::Wasm)?;
            let size = findings
                .iter()
                .fold(0usize, |n, f| n.saturating_add(f.kind.len() + 8));
            bounded(size, limit)?;
            check_findings(text, &findings).map_err(CallError::Malformed)?;
            Ok(findings)
        })
        .await
    }

    /// One call into the plugin, start to finish: the only place a call is
    /// made, timed, counted, and mapped to its error. With the call's one
    /// `budget` it checks an instance out for `caller`'s scope (an idle one,
    /// or a new one within the plugin's share), arms it, runs `guest` on it
    /// within the budget's deadline, then counts the fuel used and either
    /// checks the instance back in (on success, when isolation is pooled)
    /// or drops it with the failure classified.
    async fn call<T>(
        &self,
        export: Export,
        caller: &Caller,
        budget: Budget,
        guest: impl AsyncFnOnce(&mut Warm) -> Result<T, CallError>,
    ) -> Result<CallOutcome<T>> {
        let started = Instant::now();
        // One deadline for the whole call: the time a new instance takes to
        // make is not given back to the guest.
        let deadline = budget.deadline_from(started);
        let pooled = self.options.isolation == Isolation::Pooled;
        let scope = Scope::of(export, caller, self.reach());
        let (mut warm, reused) = match pooled.then(|| self.idle.take(&scope)).flatten() {
            Some(warm) => (warm, true),
            None => (self.instantiate(budget, deadline).await?, false),
        };
        arm(&mut warm.store, budget.fuel, deadline)?;
        warm.store.data_mut().begin_call(&caller.request_id);
        let result = within(deadline, guest(&mut warm)).await;
        warm.store.data_mut().end_call();
        let fuel_used = budget
            .fuel
            .saturating_sub(warm.store.get_fuel().unwrap_or(0));
        match result {
            Ok(value) => {
                let elapsed = started.elapsed();
                if pooled {
                    // Dropped here, outside the pool's lock.
                    drop(self.idle.put(scope, warm));
                }
                Ok(CallOutcome {
                    value,
                    fuel_used,
                    elapsed,
                    reused,
                })
            }
            Err(e) => Err(classify(
                &self.name,
                &self.options.limits,
                e,
                &warm.store,
                budget,
            )),
        }
    }

    /// Makes a new instance within the plugin's share, bounded by the
    /// call's `deadline`: a start function waiting in a host call is
    /// bounded too.
    async fn instantiate(&self, budget: Budget, deadline: Instant) -> Result<Warm> {
        let permit = self.share.permit(&self.name, &self.idle)?;
        let template = self.template();
        let making = template.instantiate(permit, deadline);
        match tokio::time::timeout_at(limit(deadline), making).await {
            Ok(warm) => warm,
            Err(_) => Err(Error::DeadlineExceeded {
                plugin: self.name.to_string(),
                deadline_ms: budget.deadline_ms,
            }),
        }
    }

    fn template(&self) -> Template<'_> {
        Template {
            name: &self.name,
            config_json: &self.config_json,
            limits: &self.options.limits,
            pre: &self.pre,
            policy: self.policy.as_ref(),
            masking: self.masking.as_ref(),
            log: &self.log,
        }
    }
}

/// Refuses an answer of `size` bytes over `limit`.
fn bounded(size: usize, limit: usize) -> Result<(), CallError> {
    if size > limit {
        return Err(CallError::Oversized { size, limit });
    }
    Ok(())
}

/// Fuel a masking call gets per byte of text, on top of the plugin's fuel.
pub const MASK_FUEL_PER_BYTE: u64 = 1000;
/// A masking call's deadline grows by one millisecond per this many bytes.
pub const MASK_BYTES_PER_MS: u64 = 16 * 1024;
