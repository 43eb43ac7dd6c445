//! Per-plugin sandbox limits and isolation mode, and the store's resource limiter.

use serde::{Deserialize, Serialize};

/// How plugin instances are used across calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Isolation {
    /// Idle instances are kept and reused by later calls (~2 µs a call instead of
    /// ~30 µs). Memory and globals persist between calls of the same plugin, so
    /// use it for plugins that keep no request data. An instance whose call
    /// failed in any way is discarded, never reused.
    #[default]
    Pooled,
    /// Every call gets a new store and instance: nothing survives a call.
    Fresh,
}

/// Sandbox limits of one plugin. Every field has a safe default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Fuel per call (roughly, Wasm instructions).
    pub fuel: u64,
    /// Wall-clock deadline per call, in milliseconds.
    pub deadline_ms: u64,
    /// Linear memory cap, in MiB.
    pub memory_mib: u32,
    /// Largest answer a policy call may return (reason text), in bytes.
    pub max_output_bytes: usize,
    /// Idle instances kept for reuse in `pooled` isolation.
    pub max_idle: usize,
    /// Log lines one call may write; more are dropped and counted.
    pub log_lines_per_call: u32,
    /// Log bytes one call may write; more are dropped and counted.
    pub log_bytes_per_call: u32,
    /// Log lines the plugin may write per second across all its calls (a
    /// token bucket holding one second's worth); more are dropped and counted.
    pub log_lines_per_sec: u32,
    /// Log bytes the plugin may write per second across all its calls (a
    /// token bucket holding one second's worth); more are dropped and counted.
    pub log_bytes_per_sec: u32,
    /// The plugin's share of the engine: most instances alive at once, busy
    /// or idle, which also bounds its calls in flight (beyond it a call is
    /// refused: `too_many_calls`). Unset: an equal part of what
    /// `engine.max_instances` leaves after the plugins that set it.
    pub max_instances: Option<u32>,
    /// Most calls one agent may have in flight to this plugin (beyond it a
    /// call is refused: `too_many_calls`). Unset: half of `max_instances`.
    pub max_calls_per_agent: Option<u32>,
    /// Most calls one project's agents together may have in flight to this
    /// plugin, so that one project cannot hold all of a plugin every project
    /// shares. Unset: none for a plugin of one project; three quarters of
    /// `max_instances` for a shared plugin of a server with several projects.
    pub max_calls_per_project: Option<u32>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            fuel: 100_000_000,
            deadline_ms: 100,
            memory_mib: 32,
            max_output_bytes: 64 * 1024,
            max_idle: 16,
            log_lines_per_call: 32,
            log_bytes_per_call: 16 * 1024,
            log_lines_per_sec: 100,
            log_bytes_per_sec: 64 * 1024,
            max_instances: None,
            max_calls_per_agent: None,
            max_calls_per_project: None,
        }
    }
}

/// Upper bound of `memory_mib`; also the pooling allocator's slot size.
pub const MAX_MEMORY_MIB: u32 = 1024;

/// Most bytes one `wasi:random` call may ask for: hash-map keys, nonces and
/// ids need a few dozen.
pub const MAX_RANDOM_BYTES: u64 = 4096;

/// Most host resources (WASI streams, pollables, …) one store may hold at
/// once. A Rust `std` plugin holds a handful.
pub const MAX_HANDLES: usize = 256;

impl Limits {
    /// Checks the limits are within range; the message says what to write.
    pub fn validate(&self) -> Result<(), String> {
        if self.fuel == 0 {
            return Err("`limits.fuel` must be at least 1".into());
        }
        if !(1..=60_000).contains(&self.deadline_ms) {
            return Err("`limits.deadline_ms` must be between 1 and 60000".into());
        }
        if !(2..=MAX_MEMORY_MIB).contains(&self.memory_mib) {
            return Err(format!(
                "`limits.memory_mib` must be between 2 and {MAX_MEMORY_MIB}"
            ));
        }
        if !(64..=16 * 1024 * 1024).contains(&self.max_output_bytes) {
            return Err("`limits.max_output_bytes` must be between 64 and 16777216".into());
        }
        if self.max_idle > 1024 {
            return Err("`limits.max_idle` must be at most 1024".into());
        }
        if self.log_lines_per_call > 100_000 || self.log_lines_per_sec > 100_000 {
            return Err(
                "`limits.log_lines_per_call` and `limits.log_lines_per_sec` must be at most 100000"
                    .into(),
            );
        }
        if self.log_bytes_per_call > 16 << 20 || self.log_bytes_per_sec > 16 << 20 {
            return Err(
                "`limits.log_bytes_per_call` and `limits.log_bytes_per_sec` must be at most 16777216"
                    .into(),
            );
        }
        if self
            .max_instances
            .is_some_and(|n| !(1..=100_000).contains(&n))
        {
            return Err("`limits.max_instances` must be between 1 and 100000".into());
        }
        if let Some(n) = self.max_calls_per_agent
            && (n == 0 || self.max_instances.is_some_and(|m| n > m))
        {
            return Err(
                "`limits.max_calls_per_agent` must be at least 1 and at most `limits.max_instances`"
                    .into(),
            );
        }
        if let Some(n) = self.max_calls_per_project
            && (n == 0 || self.max_instances.is_some_and(|m| n > m))
        {
            return Err(
                "`limits.max_calls_per_project` must be at least 1 and at most `limits.max_instances`"
                    .into(),
            );
        }
        Ok(())
    }

    /// Most calls one project may have in flight when `max_instances` is
    /// `instances` and one agent may have `per_agent`: as set (never below
    /// `per_agent`), else no bound.
    pub fn calls_per_project(&self, instances: u32, per_agent: u32) -> u32 {
        self.max_calls_per_project
            .map_or(u32::MAX, |n| n.clamp(per_agent, instances.max(per_agent)))
    }

    /// Most calls one agent may have in flight when `max_instances` is
    /// `instances`: as set, else half of it (at least 1).
    pub fn calls_per_agent(&self, instances: u32) -> u32 {
        self.max_calls_per_agent
            .unwrap_or_else(|| instances.div_ceil(2))
            .clamp(1, instances.max(1))
    }

    /// The memory cap in bytes.
    pub fn memory_bytes(&self) -> usize {
        usize::try_from(self.memory_mib).unwrap_or(usize::MAX) << 20
    }
}

/// The store's resource limiter: caps linear memory and tables, and records
/// that the cap was hit so the failure is reported as a memory limit rather
/// than as whatever trap the guest ran into next.
pub(crate) struct Limiter {
    memory_bytes: usize,
    pub(crate) memory_hit: bool,
}

/// Returned (as a trap) when a plugin asks for more memory than its cap.
#[derive(Debug, thiserror::Error)]
#[error("memory limit exceeded")]
pub(crate) struct MemoryLimitHit;

impl Limiter {
    pub(crate) fn new(memory_bytes: usize) -> Self {
        Self {
            memory_bytes,
            memory_hit: false,
        }
    }
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            self.memory_hit = true;
            return Err(MemoryLimitHit.into());
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }

    fn instances(&self) -> usize {
        64
    }

    fn tables(&self) -> usize {
        64
    }

    fn memories(&self) -> usize {
        16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(Limits::default().validate(), Ok(()));
    }

    #[test]
    fn out_of_range_limits_are_refused() {
        let bad = Limits {
            memory_mib: 4096,
            ..Limits::default()
        };
        assert!(bad.validate().is_err_and(|m| m.contains("memory_mib")));
        let bad = Limits {
            deadline_ms: 0,
            ..Limits::default()
        };
        assert!(bad.validate().is_err_and(|m| m.contains("deadline_ms")));
        let bad = Limits {
            log_lines_per_sec: 1_000_000,
            ..Limits::default()
        };
        assert!(
            bad.validate()
                .is_err_and(|m| m.contains("log_lines_per_sec"))
        );
        let bad = Limits {
            log_bytes_per_call: u32::MAX,
            ..Limits::default()
        };
        assert!(
            bad.validate()
                .is_err_and(|m| m.contains("log_bytes_per_call"))
        );
        // Zero is valid: the plugin's logging is off.
        let off = Limits {
            log_lines_per_sec: 0,
            ..Limits::default()
        };
        assert_eq!(off.validate(), Ok(()));
    }
}
