//! One plugin instance and one call into it: making the instance, arming
//! fuel and deadline, bounding the call, and naming how it failed.

use super::bindings::{masking, policy, types};
use super::limits::{Limits, MemoryLimitHit};
use super::state::State;
use crate::error::Error;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::OwnedSemaphorePermit;
use wasmtime::component::InstancePre;
use wasmtime::{Store, Trap, UpdateDeadline};

/// An instance ready for a call. It holds one of its plugin's instance
/// permits (see [`super::share::Share`]) for as long as it lives.
pub(crate) struct Warm {
    pub(crate) store: Store<State>,
    pub(crate) policy: Option<policy::Guest>,
    pub(crate) masking: Option<masking::Guest>,
    _permit: OwnedSemaphorePermit,
}

/// Fuel and deadline of one call.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    pub(crate) fuel: u64,
    pub(crate) deadline_ms: u64,
}

impl Budget {
    /// A plugin's own limits, for a policy call or an instantiation.
    pub(crate) fn of(limits: &Limits) -> Self {
        Self {
            fuel: limits.fuel,
            deadline_ms: limits.deadline_ms,
        }
    }
}

/// What an instance is made from.
pub(crate) struct Template<'a> {
    pub(crate) name: &'a Arc<str>,
    pub(crate) config_json: &'a Arc<str>,
    pub(crate) limits: &'a Limits,
    pub(crate) pre: &'a InstancePre<State>,
    pub(crate) policy: Option<&'a policy::GuestIndices>,
    pub(crate) masking: Option<&'a masking::GuestIndices>,
    pub(crate) log: &'a Arc<super::host_log::LogBudget>,
}

impl Template<'_> {
    /// Makes a new store and instance, holding `permit` while it lives; its
    /// start runs under `deadline`, the deadline of the call it is made for.
    pub(crate) async fn instantiate(
        &self,
        permit: OwnedSemaphorePermit,
        deadline: Instant,
    ) -> crate::Result<Warm> {
        let limits = self.limits;
        let budget = Budget::of(limits);
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
        arm(&mut store, budget.fuel, deadline)?;
        let fail = |e, store: &Store<State>| {
            classify(self.name, limits, CallError::Wasm(e), store, budget)
        };
        let instance = match self.pre.instantiate_async(&mut store).await {
            Ok(i) => i,
            Err(e) => return Err(fail(e, &store)),
        };
        let policy = match self.policy {
            Some(ix) => Some(
                ix.load(&mut store, &instance)
                    .map_err(|e| fail(e, &store))?,
            ),
            None => None,
        };
        let masking = match self.masking {
            Some(ix) => Some(
                ix.load(&mut store, &instance)
                    .map_err(|e| fail(e, &store))?,
            ),
            None => None,
        };
        Ok(Warm {
            store,
            policy,
            masking,
            _permit: permit,
        })
    }
}

/// Resets fuel for the next piece of guest work and sets its `deadline`;
/// the epoch callback (see [`Template::instantiate`]) checks the deadline at
/// every tick.
pub(crate) fn arm(store: &mut Store<State>, fuel: u64, deadline: Instant) -> crate::Result<()> {
    store
        .set_fuel(fuel)
        .map_err(|e| Error::Engine(e.to_string()))?;
    store.data_mut().deadline = deadline;
    store.set_epoch_deadline(1);
    Ok(())
}

impl Budget {
    /// The deadline of a call that started at `start`: one for the whole
    /// call, making an instance included.
    pub(crate) fn deadline_from(self, start: Instant) -> Instant {
        start + Duration::from_millis(self.deadline_ms)
    }
}

/// A call's deadline and one tick: when the host gives up on a guest that
/// the epoch callback could not stop.
pub(crate) fn limit(deadline: Instant) -> tokio::time::Instant {
    tokio::time::Instant::from_std(deadline + super::engine::TICK)
}

/// Runs a guest call, but no longer than its deadline and one tick. The
/// epoch callback traps a guest that computes past its deadline; this
/// catches one that waits in a host call (a WASI clock or `poll`), where no
/// tick is seen. The call's future is then dropped, and with it the fiber;
/// the instance is discarded, never reused.
pub(crate) async fn within<T>(
    deadline: Instant,
    call: impl Future<Output = Result<T, CallError>>,
) -> Result<T, CallError> {
    tokio::time::timeout_at(limit(deadline), call)
        .await
        .unwrap_or(Err(CallError::Deadline))
}

/// Why a call failed, before classification.
pub(crate) enum CallError {
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

/// Turns a failed call of plugin `name` into the typed error the caller
/// acts on.
pub(crate) fn classify(
    name: &str,
    limits: &Limits,
    e: CallError,
    store: &Store<State>,
    budget: Budget,
) -> Error {
    let plugin = name.to_owned();
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

/// Findings must point into `input`, on character boundaries, sorted and
/// not overlapping.
pub(crate) fn check_findings(input: &str, findings: &[types::Finding]) -> Result<(), String> {
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
