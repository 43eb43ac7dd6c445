//! The process's one Wasm engine and the epoch ticker that drives deadlines.

use super::limits::MAX_MEMORY_MIB;
use crate::error::{Error, Result};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Length of one epoch tick: how often a running guest yields and its
/// deadline is checked.
pub const TICK: Duration = Duration::from_millis(1);

/// Settings of the engine as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineSettings {
    /// Use the pooling allocator (falls back to on-demand where the system refuses it).
    pub pooling: bool,
    /// Most plugin instances alive at once, pooled or busy, across all
    /// plugins: the plugins' `limits.max_instances` are parts of it.
    pub max_instances: u32,
    /// Threads of the plugin executor, where every plugin call runs (0, the
    /// default: one per core).
    pub plugin_threads: usize,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            pooling: true,
            max_instances: 512,
            plugin_threads: 0,
        }
    }
}

fn base_config() -> Config {
    let mut config = Config::new();
    config
        // Calls are made with `call_async` (the `async` feature) on the
        // plugin executor's threads, each on a fiber of its own: a guest
        // yields back to the executor at every epoch tick (see `Plugin`), so
        // a slow plugin never holds a thread for longer than a tick.
        .wasm_component_model(true)
        // Per-call fuel budget: a deterministic cap on work.
        .consume_fuel(true)
        // Per-call wall-clock deadline, checked at loop headers and calls.
        .epoch_interruption(true)
        // A guest stack overflow is a typed trap, well before the host's stack.
        .max_wasm_stack(512 * 1024)
        .parallel_compilation(true);
    config
}

/// Builds the engine: pooling allocator when asked for and the system allows
/// it, on-demand allocation otherwise. Returns whether pooling is on.
pub(crate) fn build(settings: &EngineSettings) -> Result<(Engine, bool)> {
    if settings.pooling {
        let mut pool = PoolingAllocationConfig::default();
        let n = settings.max_instances.max(1);
        pool.total_component_instances(n)
            .total_core_instances(n.saturating_mul(4))
            .total_memories(n)
            .total_tables(n.saturating_mul(2))
            // One fiber stack per call in progress.
            .total_stacks(n)
            .max_memories_per_component(4)
            .max_memory_size(usize::try_from(MAX_MEMORY_MIB).unwrap_or(1024) << 20);
        let mut config = base_config();
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        match Engine::new(&config) {
            Ok(engine) => return Ok((engine, true)),
            Err(e) => {
                tracing::warn!(error = %e, "pooling allocator unavailable, using on-demand allocation")
            }
        }
    }
    let engine = Engine::new(&base_config()).map_err(|e| Error::Engine(e.to_string()))?;
    Ok((engine, false))
}

/// Increments the engine's epoch every [`TICK`] until dropped.
pub(crate) struct Ticker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Ticker {
    pub(crate) fn start(engine: Engine) -> Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("palisade-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    engine.increment_epoch();
                }
            })
            .map_err(|e| Error::Engine(format!("cannot start the epoch ticker: {e}")))?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
