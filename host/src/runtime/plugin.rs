//! A loaded plugin: its pre-instantiated component, its limits, its idle
//! instances, and the two calls the host makes (`evaluate`, `mask`).

use super::bindings::{masking, policy, types};
use super::cache::CodeSource;
use super::host_log::LogBudget;
use super::limits::{Isolation, Limits, MemoryLimitHit};
use super::state::State;
use crate::error::{Error, Result};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wasmtime::component::InstancePre;
use wasmtime::{Store, Trap, UpdateDeadline};

/// How a plugin is loaded: limits, isolation, its own configuration and an
/// optional sha256 pin.
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

/// An instance ready for a call.
struct Warm {
    store: Store<State>,
    policy: Option<policy::Guest>,
    masking: Option<masking::Guest>,
}

/// A loaded plugin. Cheap to share (`Arc<Plugin>`).
///
/// Calls are async and meant for the server's async workers: the guest runs
/// on a fiber and yields to the executor at every epoch tick (1 ms), until
/// its deadline, when the call traps; a call waiting in a host call (where
/// no tick is seen) is ended by a host timeout at the same deadline. Fuel
/// bounds the work of a call whatever the clock says.
pub struct Plugin {
    name: Arc<str>,
    digest: String,
    source: CodeSource,
    options: PluginOptions,
    config_json: Arc<str>,
    pre: InstancePre<State>,
    policy: Option<policy::GuestIndices>,
    masking: Option<masking::GuestIndices>,
    idle: Mutex<Vec<Warm>>,
    /// The plugin's log budget, shared by all its instances.
    log: Arc<LogBudget>,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.name)
            .field("digest", &self.digest)
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
        Ok(Self {
            name: Arc::from(name),
            digest,
            source,
            options,
            config_json,
            pre,
            policy,
            masking,
            idle: Mutex::new(Vec::new()),
            log,
        })
    }

    /// The configured name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Lowercase hex sha256 of the component bytes.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Where the machine code came from when the plugin was loaded.
    pub fn code_source(&self) -> CodeSource {
        self.source
    }

    /// The plugin's limits.
    pub fn limits(&self) -> &Limits {
        &self.options.limits
    }

    /// The plugin's isolation mode.
    pub fn isolation(&self) -> Isolation {
        self.options.isolation
    }

    /// What the plugin exports.
    pub fn exports(&self) -> Exports {
        Exports {
            policy: self.policy.is_some(),
            masking: self.masking.is_some(),
        }
    }

    /// Number of idle instances kept for reuse.
    pub fn idle_instances(&self) -> usize {
        self.idle.lock().map(|v| v.len()).unwrap_or(0)
    }

    /// Log lines dropped since the plugin was loaded (over its log budget).
    pub fn log_lines_dropped(&self) -> u64 {
        self.log.dropped()
    }

    /// Asks the plugin to decide `request` given `rules`.
    pub async fn evaluate(
        &self,
        request: &types::DecisionRequest,
        rules: &[types::Rule],
    ) -> Result<CallOutcome<types::Verdict>> {
        if self.policy.is_none() {
            return Err(self.missing("policy"));
        }
        let limit = self.options.limits.max_output_bytes;
        let budget = self.budget();
        let mut call = self.start(&request.request_id, budget).await?;
        let result = within(budget, async {
            let warm = &mut call.warm;
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
            if size > limit {
                return Err(CallError::Oversized { size, limit });
            }
            Ok(verdict)
        })
        .await;
        self.finish(call, budget, result)
    }

    /// Asks the plugin to find sensitive data in `text`. The findings are
    /// checked: in bounds, on character boundaries, sorted, not overlapping.
    ///
    /// The call gets the plugin's fuel and deadline plus an allowance that
    /// grows with the text ([`MASK_FUEL_PER_BYTE`], one millisecond per
    /// [`MASK_BYTES_PER_MS`]), so a limit sized for decisions does not fail
    /// a large document.
    pub async fn mask(
        &self,
        request_id: &str,
        text: &str,
    ) -> Result<CallOutcome<Vec<types::Finding>>> {
        if self.masking.is_none() {
            return Err(self.missing("masking"));
        }
        let len = u64::try_from(text.len()).unwrap_or(u64::MAX);
        let budget = Budget {
            fuel: self
                .options
                .limits
                .fuel
                .saturating_add(len.saturating_mul(MASK_FUEL_PER_BYTE)),
            deadline_ms: self
                .options
                .limits
                .deadline_ms
                .saturating_add(len / MASK_BYTES_PER_MS),
        };
        // At most one finding per byte, each a kind of up to 64 bytes and two
        // offsets: anything larger is malformed before it is looked at.
        let limit = self
            .options
            .limits
            .max_output_bytes
            .saturating_add(text.len().saturating_mul(16));
        let mut call = self.start(request_id, budget).await?;
        let result = within(budget, async {
            let warm = &mut call.warm;
            let guest = warm.masking.as_ref().ok_or(CallError::Missing("masking"))?;
            let findings = guest
                .call_mask(&mut warm.store, text)
                .await
                .map_err(CallError::Wasm)?;
            let size = findings
                .iter()
                .fold(0usize, |n, f| n.saturating_add(f.kind.len() + 8));
            if size > limit {
                return Err(CallError::Oversized { size, limit });
            }
            check_findings(text, &findings).map_err(CallError::Malformed)?;
            Ok(findings)
        })
        .await;
        self.finish(call, budget, result)
    }

    fn missing(&self, interface: &'static str) -> Error {
        Error::MissingExport {
            plugin: self.name.to_string(),
            interface,
        }
    }

    /// Takes an idle instance or makes one, and arms it with `budget` for
    /// a call made on behalf of `request_id`.
    async fn start(&self, request_id: &str, budget: Budget) -> Result<Call> {
        let started = Instant::now();
        let (mut warm, reused) = match self.take_idle() {
            Some(w) => (w, true),
            // A start function waiting in a host call is bounded too.
            None => match tokio::time::timeout(limit(budget), self.instantiate()).await {
                Ok(warm) => (warm?, false),
                Err(_) => {
                    return Err(Error::DeadlineExceeded {
                        plugin: self.name.to_string(),
                        deadline_ms: budget.deadline_ms,
                    });
                }
            },
        };
        arm(&mut warm.store, budget)?;
        warm.store.data_mut().begin_call(request_id);
        Ok(Call {
            warm,
            reused,
            started,
        })
    }

    /// Ends a call: its instance goes back to the idle list only if the call
    /// succeeded; a failure is classified.
    fn finish<T>(
        &self,
        mut call: Call,
        budget: Budget,
        result: Result<T, CallError>,
    ) -> Result<CallOutcome<T>> {
        call.warm.store.data_mut().end_call();
        let fuel_used = budget
            .fuel
            .saturating_sub(call.warm.store.get_fuel().unwrap_or(0));
        match result {
            Ok(value) => {
                self.put_idle(call.warm);
                Ok(CallOutcome {
                    value,
                    fuel_used,
                    elapsed: call.started.elapsed(),
                    reused: call.reused,
                })
            }
            Err(e) => Err(self.classify(e, &call.warm.store, budget)),
        }
    }

    /// The plugin's own limits, for a policy call or an instantiation.
    fn budget(&self) -> Budget {
        Budget {
            fuel: self.options.limits.fuel,
            deadline_ms: self.options.limits.deadline_ms,
        }
    }

    async fn instantiate(&self) -> Result<Warm> {
        let limits = &self.options.limits;
        let state = State::new(
            self.name.clone(),
            self.config_json.clone(),
            limits.memory_bytes(),
            self.log.clone(),
        );
        let mut store = State::store(self.pre.engine(), state);
        // At every tick: trap once the call's deadline has passed, else
        // let the executor run other tasks and come back at the next tick.
        store.epoch_deadline_callback(|store| {
            Ok(if Instant::now() >= store.data().deadline {
                UpdateDeadline::Interrupt
            } else {
                UpdateDeadline::Yield(1)
            })
        });
        arm(&mut store, self.budget())?;
        let instance = self
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| self.classify(CallError::Wasm(e), &store, self.budget()))?;
        let policy = match &self.policy {
            Some(ix) => Some(
                ix.load(&mut store, &instance)
                    .map_err(|e| self.classify(CallError::Wasm(e), &store, self.budget()))?,
            ),
            None => None,
        };
        let masking = match &self.masking {
            Some(ix) => Some(
                ix.load(&mut store, &instance)
                    .map_err(|e| self.classify(CallError::Wasm(e), &store, self.budget()))?,
            ),
            None => None,
        };
        Ok(Warm {
            store,
            policy,
            masking,
        })
    }

    fn take_idle(&self) -> Option<Warm> {
        if self.options.isolation != Isolation::Pooled {
            return None;
        }
        self.idle.lock().ok()?.pop()
    }

    fn put_idle(&self, warm: Warm) {
        if self.options.isolation != Isolation::Pooled {
            return;
        }
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < self.options.limits.max_idle
        {
            idle.push(warm);
        }
    }

    /// Turns a failed call into the typed error the caller acts on.
    fn classify(&self, e: CallError, store: &Store<State>, budget: Budget) -> Error {
        let plugin = self.name.to_string();
        let limits = &self.options.limits;
        let e = match e {
            CallError::Wasm(e) => e,
            CallError::Missing(interface) => return Error::MissingExport { plugin, interface },
            CallError::Oversized { size, limit } => {
                return Error::OversizedOutput {
                    plugin,
                    size,
                    limit,
                };
            }
            CallError::Malformed(detail) => return Error::MalformedOutput { plugin, detail },
            CallError::Deadline => {
                return Error::DeadlineExceeded {
                    plugin,
                    deadline_ms: budget.deadline_ms,
                };
            }
        };
        if store.data().limiter.memory_hit || e.downcast_ref::<MemoryLimitHit>().is_some() {
            return Error::MemoryLimit {
                plugin,
                limit_mib: limits.memory_mib,
            };
        }
        if let Some(named) = super::wasi::classify(&plugin, &e) {
            return named;
        }
        match e.downcast_ref::<Trap>() {
            Some(Trap::OutOfFuel) => Error::OutOfFuel {
                plugin,
                fuel: budget.fuel,
            },
            Some(Trap::Interrupt) => Error::DeadlineExceeded {
                plugin,
                deadline_ms: budget.deadline_ms,
            },
            Some(Trap::StackOverflow) => Error::StackOverflow { plugin },
            Some(Trap::UnreachableCodeReached) => Error::Trap {
                plugin,
                message: "unreachable code reached (a Rust plugin panicked)".into(),
            },
            Some(trap) => Error::Trap {
                plugin,
                message: trap.to_string(),
            },
            // Not a trap: the answer could not be lifted (e.g. invalid UTF-8,
            // a bad discriminant, an out-of-bounds pointer).
            None => Error::MalformedOutput {
                plugin,
                detail: format!("{e:#}"),
            },
        }
    }
}

/// Fuel a masking call gets per byte of text, on top of the plugin's fuel.
pub const MASK_FUEL_PER_BYTE: u64 = 1000;
/// A masking call's deadline grows by one millisecond per this many bytes.
pub const MASK_BYTES_PER_MS: u64 = 16 * 1024;

/// Fuel and deadline of one call.
#[derive(Debug, Clone, Copy)]
struct Budget {
    fuel: u64,
    deadline_ms: u64,
}

/// A call in progress: its instance, and what [`Plugin::finish`] reports.
struct Call {
    warm: Warm,
    reused: bool,
    started: Instant,
}

/// Resets fuel and deadline for the next piece of guest work; the epoch
/// callback (see [`Plugin::instantiate`]) checks the deadline at every tick.
fn arm(store: &mut Store<State>, budget: Budget) -> Result<()> {
    store
        .set_fuel(budget.fuel)
        .map_err(|e| Error::Engine(e.to_string()))?;
    store.data_mut().deadline = Instant::now() + Duration::from_millis(budget.deadline_ms);
    store.set_epoch_deadline(1);
    Ok(())
}

/// A call's deadline and one tick: when the host gives up on a guest that
/// the epoch callback could not stop.
fn limit(budget: Budget) -> Duration {
    Duration::from_millis(budget.deadline_ms) + super::engine::TICK
}

/// Runs a guest call, but no longer than its deadline and one tick. The
/// epoch callback traps a guest that computes past its deadline; this
/// catches one that waits in a host call (a WASI clock or `poll`), where no
/// tick is seen. The call's future is then dropped, and with it the fiber;
/// the instance is discarded, never reused.
async fn within<T>(
    budget: Budget,
    call: impl Future<Output = Result<T, CallError>>,
) -> Result<T, CallError> {
    tokio::time::timeout(limit(budget), call)
        .await
        .unwrap_or(Err(CallError::Deadline))
}

/// Why a call failed, before classification.
enum CallError {
    /// The call was still waiting in a host call at its deadline.
    Deadline,
    Wasm(wasmtime::Error),
    Missing(&'static str),
    Oversized {
        size: usize,
        limit: usize,
    },
    Malformed(String),
}

/// Findings must point into `input`, on character boundaries, sorted and
/// not overlapping.
fn check_findings(input: &str, findings: &[types::Finding]) -> Result<(), String> {
    let mut prev_end = 0usize;
    for (i, f) in findings.iter().enumerate() {
        let (start, end) = (f.start as usize, f.end as usize);
        if start >= end || end > input.len() {
            return Err(format!(
                "finding {i} has span {start}..{end}, outside the {}-byte input",
                input.len()
            ));
        }
        if !input.is_char_boundary(start) || !input.is_char_boundary(end) {
            return Err(format!("finding {i} splits a character"));
        }
        if start < prev_end {
            return Err(format!(
                "finding {i} overlaps or precedes the one before it"
            ));
        }
        if f.kind.is_empty() || f.kind.len() > 64 {
            return Err(format!("finding {i} has an empty or overlong kind"));
        }
        prev_end = end;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(start: u32, end: u32) -> types::Finding {
        types::Finding {
            kind: "k".into(),
            start,
            end,
        }
    }

    #[test]
    fn findings_are_checked() {
        assert!(check_findings("hello world", &[f(0, 5), f(6, 11)]).is_ok());
        assert!(check_findings("hello", &[f(3, 9)]).is_err());
        assert!(check_findings("hello", &[f(3, 3)]).is_err());
        assert!(check_findings("hello world", &[f(6, 11), f(0, 5)]).is_err());
        assert!(check_findings("héllo", &[f(0, 2)]).is_err());
    }
}
