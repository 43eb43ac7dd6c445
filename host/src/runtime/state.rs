//! What a plugin's store holds: a WASI context with nothing granted, its
//! resource table, the limiter, and what the host functions answer and log.

use super::bindings::host_api::Level;
use super::host_log::{CallLog, LogBudget};
use super::limits::Limiter;
use std::sync::Arc;
use wasmtime::component::ResourceTable;
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// Per-store state.
pub(crate) struct State {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: Limiter,
    plugin: Arc<str>,
    config: Arc<str>,
    request_id: String,
    log: CallLog,
    /// When the call in progress must have finished (checked at each epoch
    /// tick).
    pub(crate) deadline: std::time::Instant,
}

impl State {
    /// A store for one instance of a plugin: its data and its memory limiter.
    pub(crate) fn store(engine: &Engine, state: State) -> Store<State> {
        let mut store = Store::new(engine, state);
        store.limiter(|s| &mut s.limiter);
        store
    }

    pub(crate) fn new(
        plugin: Arc<str>,
        config: Arc<str>,
        memory_bytes: usize,
        log: Arc<LogBudget>,
    ) -> Self {
        // No preopened directories, no environment, no arguments, no network,
        // and stdio not inherited (reads see EOF, writes are discarded).
        let wasi = WasiCtx::builder().allow_ip_name_lookup(false).build();
        let table = ResourceTable::new();
        Self {
            wasi,
            table,
            limiter: Limiter::new(memory_bytes),
            plugin,
            config,
            request_id: String::new(),
            log: CallLog::new(log),
            deadline: std::time::Instant::now(),
        }
    }

    /// Starts a call made on behalf of `request_id`: its log budget is new.
    pub(crate) fn begin_call(&mut self, request_id: &str) {
        self.request_id.clear();
        self.request_id.push_str(request_id);
        self.log.begin();
    }

    /// Ends the call: says how many log lines it dropped, if any.
    pub(crate) fn end_call(&mut self) {
        self.log.end(&self.plugin, &self.request_id);
    }

    /// Writes a plugin's log line, within its budgets.
    pub(crate) fn log(&mut self, level: Level, message: &str) {
        self.log
            .write(&self.plugin, &self.request_id, level, message);
    }

    /// The plugin's configuration as JSON text.
    pub(crate) fn config(&self) -> Arc<str> {
        self.config.clone()
    }
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}
