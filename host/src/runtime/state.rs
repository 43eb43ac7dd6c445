//! What a plugin's store holds: a WASI context with nothing granted, its
//! resource table, the limiter, and what the host functions answer and log.

use super::bindings::host_api::Level;
use super::host_log::{CallLog, LogBudget};
use super::limits::{Limiter, MAX_HANDLES, MAX_RANDOM_BYTES};
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
    /// A store for one instance of `plugin`: its data, its memory limiter,
    /// and its handle limits.
    pub(crate) fn store(engine: &Engine, state: State) -> Store<State> {
        let mut store = Store::new(engine, state);
        store.limiter(|s| &mut s.limiter);
        // Component-model handles count every host resource a guest holds
        // and every resource it makes itself. Twice the resource table's
        // cap: a WASI resource fills the table first, with a typed error;
        // this catches resources a component makes itself.
        store.set_max_component_handles(MAX_HANDLES * 2);
        store
    }

    pub(crate) fn new(
        plugin: Arc<str>,
        config: Arc<str>,
        memory_bytes: usize,
        log: Arc<LogBudget>,
    ) -> Self {
        // No preopened directories, no environment, no arguments, no network,
        // and stdio not inherited (reads see EOF, writes are discarded). The
        // random size is checked (with a typed error) before WASI is asked;
        // WASI's own check is set to the same bound.
        let wasi = WasiCtx::builder()
            .allow_ip_name_lookup(false)
            .max_random_size(MAX_RANDOM_BYTES)
            .build();
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_HANDLES);
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

impl wasmtime_wasi_io::IoView for State {
    fn table(&mut self) -> &mut ResourceTable {
        &mut self.table
    }
}
