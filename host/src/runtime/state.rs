//! What a plugin's store holds, and the host functions a plugin may call.

use super::bindings::{host_api, types};
use super::limits::Limiter;
use std::sync::Arc;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// Per-store state: a WASI context with nothing granted, the limiter, and
/// what the host functions answer.
pub(crate) struct State {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: Limiter,
    plugin: Arc<str>,
    config: Arc<str>,
    pub(crate) request_id: String,
    /// When the call in progress must have finished (checked at each epoch
    /// tick).
    pub(crate) deadline: std::time::Instant,
}

impl State {
    pub(crate) fn new(plugin: Arc<str>, config: Arc<str>, memory_bytes: usize) -> Self {
        // No preopened directories, no environment, no arguments, no network,
        // and stdio not inherited (reads see EOF, writes are discarded).
        let wasi = WasiCtx::builder().allow_ip_name_lookup(false).build();
        Self {
            wasi,
            table: ResourceTable::new(),
            limiter: Limiter::new(memory_bytes),
            plugin,
            config,
            request_id: String::new(),
            deadline: std::time::Instant::now(),
        }
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

impl types::Host for State {}

/// Longest log line a plugin may write; longer lines are cut.
const MAX_LOG_LINE: usize = 4096;

impl host_api::Host for State {
    fn log(&mut self, level: host_api::Level, message: String) {
        let mut message = message;
        if message.len() > MAX_LOG_LINE {
            let mut cut = MAX_LOG_LINE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        let plugin = &*self.plugin;
        let request_id = self.request_id.as_str();
        match level {
            host_api::Level::Trace => tracing::trace!(plugin, request_id, "{message}"),
            host_api::Level::Debug => tracing::debug!(plugin, request_id, "{message}"),
            host_api::Level::Info => tracing::info!(plugin, request_id, "{message}"),
            host_api::Level::Warn => tracing::warn!(plugin, request_id, "{message}"),
            host_api::Level::Error => tracing::error!(plugin, request_id, "{message}"),
        }
    }

    fn now_millis(&mut self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0)
    }

    fn config(&mut self) -> String {
        self.config.to_string()
    }
}
