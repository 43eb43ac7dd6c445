//! What the host offers a plugin: logging, a clock and the plugin's own
//! configuration.
//!
//! Inside a Wasm component these call the host (see `wasm_host`). In a
//! native `cargo test` they use the per-thread
//! [`TestHost`](crate::testing::TestHost) instead, so a plugin can be
//! unit-tested without building Wasm. This module only chooses between the
//! two; neither knows the other.

use crate::types::Level;

#[cfg(not(target_arch = "wasm32"))]
use crate::testing::backend;
#[cfg(target_arch = "wasm32")]
use crate::wasm_host as backend;

/// Writes a log line; the host tags it with the plugin's name and the request id.
pub fn log(level: Level, message: &str) {
    backend::log(level, message);
}

/// Logs at [`Level::Debug`].
pub fn debug(message: &str) {
    log(Level::Debug, message);
}

/// Logs at [`Level::Info`].
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// Logs at [`Level::Warn`].
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

/// Wall-clock time in milliseconds since the Unix epoch.
pub fn now_millis() -> u64 {
    backend::now_millis()
}

/// The plugin's configuration from the policy file, as JSON text (`{}` if none).
pub fn config() -> String {
    backend::config()
}
